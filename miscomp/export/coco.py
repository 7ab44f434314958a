"""COCO detection JSON (the format pycocotools, Detectron2, MMDetection and FiftyOne read), with the
labels' attributes kept in each annotation's ``attributes`` object, and its reader.

Two COCO categories: ``miscompression`` and ``artefact`` (a visible change a person reads the same
way: the hard negatives). The taxonomy category (amplitude / geometry / shape), the symbol flag, the
codec and bpp are attributes, so a detector can be trained on "changed meaning" and evaluated per
category. ``attributes.box_in_image`` is the box in the full image's pixels (``bbox`` is in the
picture's, which differ for crops); :func:`read_coco` rebuilds the labels from it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from miscomp.export.layout import Example
from miscomp.export.records import KINDS, Dataset, DatasetError, RegionLabel
from miscomp.export.sources import licence_for, licences

CATEGORY_IDS = {kind: i for i, kind in enumerate(KINDS, 1)}


def coco_json(dataset: Dataset, examples: list[Example], groups: dict[str, str]) -> dict[str, Any]:
    lic_ids = {lic["key"]: lic["id"] for lic in licences()}
    images, annotations = [], []
    for n, ex in enumerate(examples, 1):
        p = ex.pair
        images.append({
            "id": n, "file_name": ex.file_name, "width": ex.width, "height": ex.height,
            "license": lic_ids[licence_for(p.source)["key"]],
            "original_file_name": ex.original_file_name, "source_image_id": p.image_id,
            "codec": p.codec, "codec_tag": p.codec_tag, "bpp": p.bpp, "source": p.source, "split": p.split,
            "reconstruction_sha256": p.reconstruction_sha256,
        })  # fmt: skip
        for lab, (x, y, w, h) in ex.labels:
            annotations.append({
                "id": len(annotations) + 1, "image_id": n, "category_id": CATEGORY_IDS[lab.kind],
                "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0,
                "attributes": {
                    "label_id": lab.label_id, "category": lab.category, "symbol": lab.symbol,
                    "codec": p.codec, "codec_tag": p.codec_tag, "bpp": p.bpp, "note": lab.note,
                    "split": lab.split, "group_id": groups[lab.label_id], "annotators": lab.annotators,
                    "adjudication": lab.adjudication, "box_in_image": [lab.x, lab.y, lab.w, lab.h],
                },
            })  # fmt: skip
    return {
        "info": {
            "description": f"{dataset.name}: regions where a lossy image codec changed what an image means",
            "version": dataset.version,
            "contributor": "miscomp",
            "date_created": datetime.now(UTC).isoformat(timespec="seconds"),
        },
        "licenses": [{k: v for k, v in lic.items() if k != "key"} for lic in licences()],
        "images": images,
        "annotations": annotations,
        "categories": [
            {"id": i, "name": kind, "supercategory": "change"} for kind, i in CATEGORY_IDS.items()
        ],
    }


def read_coco(path: Path) -> list[RegionLabel]:
    """The labels of a COCO file written by :func:`coco_json` (full-image boxes, from the attributes)."""
    try:
        coco = json.loads(path.read_text(encoding="utf-8"))
        kinds = {c["id"]: c["name"] for c in coco["categories"]}
        images = {im["id"]: im for im in coco["images"]}
        out = []
        for a in coco["annotations"]:
            attr, im = a["attributes"], images[a["image_id"]]
            x, y, w, h = (int(v) for v in attr["box_in_image"])
            out.append(RegionLabel(
                attr["label_id"], im["source_image_id"], im["codec_tag"], x, y, w, h, kinds[a["category_id"]],
                attr["category"], bool(attr["symbol"]), attr["note"], attr["split"], attr["annotators"],
                attr["adjudication"],
            ))  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DatasetError(f"{path}: not a miscomp COCO export ({type(err).__name__}: {err})") from None
    return out
