"""The Hugging Face layout: an ``imagefolder`` with one ``metadata.jsonl`` per split and a dataset card
(README.md) whose YAML header lists the splits, so ``datasets.load_dataset(OUT)`` reads it offline.

Each row is one picture: ``image`` (the reconstruction), ``original``, the pair's codec, bpp and source,
and ``objects`` (COCO-style ``bbox`` [x, y, w, h] in the picture's pixels, with kind, category, symbol,
label and group ids, notes), the layout the Hub's object-detection datasets use.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from miscomp.export.layout import Example
from miscomp.export.records import Dataset
from miscomp.export.sources import licence_for


def metadata_rows(examples: list[Example], groups: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """split → metadata.jsonl rows (file names relative to ``data/<split>/``)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for ex in examples:
        split = ex.file_name.split("/")[1]
        p = ex.pair
        x0, y0, k = ex.offset
        labs = [lab for lab, _ in ex.labels]
        out.setdefault(split, []).append({
            "file_name": ex.file_name.split("/", 2)[2],
            "original_file_name": ex.original_file_name.split("/", 2)[2],
            "image_id": p.image_id, "codec": p.codec, "codec_tag": p.codec_tag, "bpp": p.bpp,
            "source": p.source, "licence": licence_for(p.source)["name"],
            # where the picture lies in the full image (pixels) and how much it was enlarged
            "window": [x0, y0, round(ex.width / k), round(ex.height / k)], "scale": k,
            "objects": {
                "bbox": [list(b) for _, b in ex.labels],
                "kind": [lab.kind for lab in labs], "category": [lab.category for lab in labs],
                "symbol": [lab.symbol for lab in labs], "label_id": [lab.label_id for lab in labs],
                "group_id": [groups[lab.label_id] for lab in labs], "note": [lab.note for lab in labs],
                "annotators": [lab.annotators for lab in labs],
            },
        })  # fmt: skip
    return out


def write_metadata(out: Path, rows: dict[str, list[dict[str, Any]]]) -> None:
    for split, items in rows.items():
        path = out / "data" / split / "metadata.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in items), encoding="utf-8")


_MODE_TEXT = {
    "full": "each row is a full reconstruction with all its labels, the original beside it",
    "crops": "each row is a crop around one label, the original's crop beside it",
    "none": "annotations only: the pictures are rebuilt from the sources listed below",
}


def _size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if n < limit:
            return name
    return "100K<n<1M"


def dataset_card(dataset: Dataset, examples: list[Example], mode: str, splits: list[str]) -> str:
    """README.md: YAML header (licence, creators, splits) and the card: sources and their licences,
    provenance, labelling rules, fields, counts."""
    from miscomp import __version__

    labels = [lab for ex in examples for lab, _ in ex.labels]
    pairs = {ex.pair.key: ex.pair for ex in examples}
    header = [
        "---",
        f"pretty_name: {json.dumps(dataset.name)}",
        "license: other",
        "license_name: mixed",
        "annotations_creators:", *[f"- {c}" for c in dataset.annotations_creators],
        "task_categories:", "- object-detection",
        "tags:", "- image-compression", "- miscompression", "- learned-image-compression",
        "size_categories:", f"- {_size_category(len(examples))}",
        "configs:", "- config_name: default", "  data_files:",
        *[line for s in splits for line in (f"  - split: {s}", f"    path: data/{s}/**")],
        "---",
    ]  # fmt: skip
    kinds = Counter((lab.kind, lab.category, lab.symbol) for lab in labels)
    by_source = Counter(p.source for p in pairs.values())
    body = [
        f"# {dataset.name}",
        "",
        "Regions where a lossy image codec changed what an image means (a *miscompression*), and regions "
        "where it left a visible artefact that a person still reads the same way, labelled on pairs of "
        "original and codec reconstruction. Made with miscomp "
        f"{__version__}; categories follow Hofer & Böhme (WIFS 2024): amplitude, geometry, shape, and a "
        "symbol flag for changed letters, digits or signs.",
        "",
        f"Pictures: **{mode}** ({_MODE_TEXT[mode]}). {len(labels)} labels on {len(pairs)} "
        f"original/reconstruction pairs, splits: {', '.join(splits)}.",
        "",
        "## Sources and licences",
        "",
        "A reconstruction is a derivative of its original and carries its licence.",
        "",
        "| source | pairs | licence |",
        "|---|---:|---|",
        *[f"| {s} | {n} | {licence_for(s)['name']} |" for s, n in sorted(by_source.items())],
        "",
    ]
    if "plates" in by_source:
        body += ["**The plate photos are AGPL-3.0**: publishing this dataset means publishing under the "
                 "AGPL's terms. Export with `--exclude-source plates` to leave them out.", ""]  # fmt: skip
    body += [
        "## Annotations",
        "",
        f"annotations_creators: {', '.join(dataset.annotations_creators)}.",
        "",
        "| kind | category | symbol | labels |",
        "|---|---|---|---:|",
        *[f"| {k} | {c or '—'} | {s} | {n} |" for (k, c, s), n in sorted(kinds.items())],
        "",
        "`group_id` joins labels of one image whose boxes overlap (IoU ≥ 0.3) across codecs and qualities: "
        "near-duplicate crops of the same change. Keep a group inside one split.",
        "",
        "### Labelling rules",
        "",
        dataset.rules or "(not recorded)",
        "",
        "## Provenance",
        "",
        "```json",
        json.dumps(dataset.provenance, indent=1, ensure_ascii=False, default=str),
        "```",
        "",
        "| codec tag | codec | pairs | bpp min | bpp max |",
        "|---|---|---:|---:|---:|",
    ]
    per_codec: dict[tuple[str, str], list[float]] = {}
    for p in pairs.values():
        per_codec.setdefault((p.codec_tag, p.codec), []).append(p.bpp if p.bpp is not None else float("nan"))
    for (tag, codec), bpps in sorted(per_codec.items()):
        body.append(f"| {tag} | {codec} | {len(bpps)} | {min(bpps):.3f} | {max(bpps):.3f} |")
    body += [
        "",
        "## Fields",
        "",
        "`image` (the reconstruction), `original`, `image_id`, `codec`, `codec_tag`, `bpp`, `source`, "
        "`licence`, `window` (where the picture lies in the full image, pixels) and `scale` (enlargement), "
        "`objects`: `bbox` [x, y, w, h] in the picture's pixels, `kind` (miscompression | artefact), "
        "`category`, `symbol`, `label_id`, `group_id`, `note`, `annotators`.",
        "",
        "The same labels are in `annotations/coco.json` (COCO detection; categories miscompression and "
        "artefact, the rest as `attributes`).",
        "",
        "```python",
        "from datasets import load_dataset",
        'ds = load_dataset("path/to/this/folder")',
        "```",
    ]
    return "\n".join(header + [""] + body) + "\n"
