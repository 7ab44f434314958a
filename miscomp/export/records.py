"""One record type for a labelled miscompression dataset, whatever made it: a Label Studio pull
(``miscomp annotate pull``) or the project's real-codec test bed (``datasets/realbed``).

A :class:`Dataset` is a list of :class:`PairImage` (one original and one codec reconstruction of it)
and a list of :class:`RegionLabel` (one labelled region of a reconstruction, in original-image pixels),
with the provenance a published dataset card needs. The writers (:mod:`miscomp.export.coco`,
:mod:`miscomp.export.hf`) take only this, so both sources publish the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.sparse.csgraph import connected_components

from miscomp.errors import MiscompError
from miscomp.geometry import Box

KINDS = ("miscompression", "artefact")  # artefact: a visible change a person reads the same way
CATEGORIES = ("amplitude", "geometry", "shape")
# Two labels of one image at different codecs / qualities with boxes overlapping this much show the
# same change (a near-duplicate crop): they get one group id, so a split never separates them.
GROUP_IOU = 0.3  # definition: a loose overlap; text-line boxes of one item drift by a few px per codec


class DatasetError(MiscompError):
    pass


@dataclass(frozen=True)
class PairImage:
    image_id: str
    codec_tag: str
    codec: str  # codec spec or family ("jpeg:quality=10", "taef2:bits=2", "jpeg")
    bpp: float | None
    width: int
    height: int
    source: str  # kodak | plates | skimage | scene | other: decides the licence
    split: str
    original: Path | None = None  # the full images, when present
    reconstruction: Path | None = None
    reconstruction_sha256: str = ""  # of the decoded pixels, as the test bed's manifest records it

    @property
    def key(self) -> tuple[str, str]:
        return (self.image_id, self.codec_tag)


@dataclass(frozen=True)
class RegionLabel:
    """One labelled region. ``category`` is a taxonomy category for a miscompression, "" for an
    artefact; ``symbol`` says text or a sign changed meaning."""

    label_id: str
    image_id: str
    codec_tag: str
    x: int
    y: int
    w: int
    h: int
    kind: str
    category: str
    symbol: bool
    note: str
    split: str
    annotators: str = ""  # who labelled it ("expert" for the test bed; account names from a pull)
    adjudication: str = ""  # single / unanimous / majority (a pull), "" for the test bed
    # A pull keeps the crops the reviewers saw: paths and the window they were cut from (pixels).
    crop_original: Path | None = field(default=None, compare=False)
    crop_reconstruction: Path | None = field(default=None, compare=False)
    crop_window: tuple[int, int, int, int] | None = field(default=None, compare=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.image_id, self.codec_tag)

    @property
    def box(self) -> Box:
        return Box(self.x, self.y, self.w, self.h)


@dataclass
class Dataset:
    name: str
    version: str
    images: list[PairImage]
    labels: list[RegionLabel]
    annotations_creators: list[str]  # Hugging Face vocabulary: expert-generated, crowdsourced ...
    rules: str  # the labelling rules, as the card shows them
    provenance: dict[str, Any] = field(default_factory=dict)  # codecs, versions, weights sha256 ...

    def image(self, key: tuple[str, str]) -> PairImage:
        return self._by_key()[key]

    def _by_key(self) -> dict[tuple[str, str], PairImage]:
        return {i.key: i for i in self.images}


def group_ids(labels: list[RegionLabel], iou: float = GROUP_IOU) -> dict[str, str]:
    """label_id → group id: labels of the same image (any codec / quality) whose boxes overlap by at
    least ``iou`` are one group (connected components), named ``<image_id>/g<n>``."""
    out: dict[str, str] = {}
    by_image: dict[str, list[RegionLabel]] = {}
    for lab in labels:
        by_image.setdefault(lab.image_id, []).append(lab)
    for image_id, labs in sorted(by_image.items()):
        labs = sorted(labs, key=lambda lab: lab.label_id)
        near = np.array([[a.box.iou(b.box) >= iou for b in labs] for a in labs])
        _, component = connected_components(near, directed=False)
        names: dict[int, str] = {}
        for lab, c in zip(labs, component, strict=True):
            out[lab.label_id] = names.setdefault(int(c), f"{image_id}/g{len(names)}")
    return out


# ---- from a pull ------------------------------------------------------------------------------------
PULL_RULES = (
    "Each finding of miscomp's detectors was shown to reviewers in Label Studio as original | "
    "reconstruction crops with the tool's box. A reviewer chose one of: amplitude, geometry, shape "
    "(Hofer & Böhme's taxonomy), symbol (letters, digits or signs changed), or not a miscompression, and "
    "could redraw the box. With several reviewers per finding the final label is their majority; ties "
    "are left out until a third reviewer decides. Findings judged 'not a miscompression' are artefacts. "
    "A 'symbol' label keeps the tool's category (the review form asks only whether text changed)."
)


PULL_SPLIT = "train"  # a pull has no split of its own ("all" is reserved by Hugging Face datasets)


def from_pull(folder: Path, name: str | None = None) -> Dataset:
    """The labels of an ``annotate pull`` folder (labels.parquet and crops/) as a dataset. Full
    images are not in a pull: export it as crops."""
    path = folder / "labels.parquet"
    if not path.is_file():
        raise DatasetError(f"{path}: not found; is {folder} a folder written by `miscomp annotate pull`?")
    table = pd.read_parquet(path)
    need = {"finding_id", "image_id", "codec_tag", "human_category", "box_x", "crop_window"}
    missing = sorted(need - set(table.columns))
    if missing:
        raise DatasetError(f"{path}: missing columns {missing}; pull again with this miscomp version")
    table = table[table["human_category"].isin([*CATEGORIES, "symbol", "none"])]
    images: dict[tuple[str, str], PairImage] = {}
    labels = []
    for r in table.to_dict("records"):
        win = json.loads(r["crop_window"])
        size = json.loads(r["image_size"]) if r.get("image_size") else [None, None]
        hb = [r.get(f"human_box_{k}") for k in "xywh"]
        x, y, w, h = (int(v) for v in hb) if all(pd.notna(v) for v in hb) else (
            int(r["box_x"]), int(r["box_y"]), int(r["box_w"]), int(r["box_h"]))  # fmt: skip
        human = r["human_category"]
        key = (str(r["image_id"]), str(r["codec_tag"]))
        images.setdefault(key, PairImage(
            *key, str(r["codec"]), None if pd.isna(r["bpp"]) else float(r["bpp"]), size[0] or 0,
            size[1] or 0, "other", PULL_SPLIT))  # fmt: skip
        labels.append(RegionLabel(
            label_id=str(r["finding_id"]), image_id=key[0], codec_tag=key[1], x=x, y=y, w=w, h=h,
            kind="artefact" if human == "none" else "miscompression",
            category="" if human == "none" else (r["tool_category"] if human == "symbol" else human),
            symbol=human == "symbol", note=str(r.get("notes") or ""), split=PULL_SPLIT,
            annotators=str(r.get("annotator") or ""), adjudication=str(r.get("adjudication") or "single"),
            crop_original=folder / r["crop_original"], crop_reconstruction=folder / r["crop_reconstruction"],
            crop_window=tuple(int(v) for v in win),
        ))  # fmt: skip
    from miscomp import __version__

    return Dataset(
        name=name or folder.name, version="1", images=list(images.values()), labels=labels,
        annotations_creators=["crowdsourced"], rules=PULL_RULES,
        provenance={"miscomp": __version__, "pulled": _read_json(folder / "dataset.json")},
    )  # fmt: skip


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
