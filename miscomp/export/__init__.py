"""Publish a labelled miscompression dataset: COCO detection JSON and a Hugging Face imagefolder with
a generated dataset card, from a Label Studio pull or from the project's real-codec test bed.

    from miscomp.export import export
    from miscomp.export.realbed import from_realbed
    export(from_realbed(Path("datasets/realbed"), work=Path(".work/realbed")), Path("out"), images="crops")
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from miscomp.export.records import Dataset, DatasetError, group_ids

FORMATS = ("coco", "hf")


def export(
    dataset: Dataset,
    out: Path,
    images: str = "full",
    formats: tuple[str, ...] = FORMATS,
    exclude_sources: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Write ``dataset`` into ``out`` (which must be empty or absent); returns a summary.

    ``images``: ``full`` (each reconstruction with all its labels), ``crops`` (a crop around each
    label) or ``none`` (COCO annotations only)."""
    from miscomp.export.coco import coco_json
    from miscomp.export.hf import dataset_card, metadata_rows, write_metadata
    from miscomp.export.layout import plan, write_pictures

    unknown = set(formats) - set(FORMATS)
    if unknown or not formats:
        raise DatasetError(f"--format must be among {', '.join(FORMATS)}, got {', '.join(formats)}")
    if "hf" in formats and images == "none":
        raise DatasetError(
            "the Hugging Face layout needs pictures: use --images full or crops, or --format coco"
        )
    if out.exists() and any(out.iterdir()):
        raise DatasetError(f"{out}: not empty; export into a new folder")
    if exclude_sources:
        kept = [p for p in dataset.images if p.source not in exclude_sources]
        keys = {p.key for p in kept}
        dataset = replace(dataset, images=kept, labels=[lab for lab in dataset.labels if lab.key in keys])
    if not dataset.labels:
        raise DatasetError(f"{dataset.name}: no labels to export")
    examples = plan(dataset, images)
    groups = group_ids(dataset.labels)
    tmp = out.with_name(f".{out.name}.partial")  # a failed export leaves no half-written folder
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        write_pictures(examples, tmp, images)
        written = []
        if "coco" in formats:
            (tmp / "annotations").mkdir()
            coco = coco_json(dataset, examples, groups)
            (tmp / "annotations" / "coco.json").write_text(json.dumps(coco, indent=1, ensure_ascii=False))
            written.append("annotations/coco.json")
        rows = metadata_rows(examples, groups)
        if "hf" in formats:
            write_metadata(tmp, rows)
            written += [f"data/{s}/metadata.jsonl" for s in rows]
        (tmp / "README.md").write_text(
            dataset_card(dataset, examples, images, sorted(rows)), encoding="utf-8"
        )
        written.append("README.md")
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {
        "out": str(out),
        "pictures": 0 if images == "none" else len(examples),
        "labels": len(dataset.labels),
        "groups": len(set(groups.values())),
        "splits": sorted(rows),
        "files": written,
    }


def load_source(folder: Path, work: Path | None = None, name: str | None = None) -> Dataset:
    """A dataset folder as records: an ``annotate pull`` folder (labels.parquet) or a test bed
    (labels.csv + manifest.json, pictures from ``work``)."""
    from miscomp.export.realbed import from_realbed
    from miscomp.export.records import from_pull

    if (folder / "labels.parquet").is_file():
        return from_pull(folder, name)
    if (folder / "manifest.json").is_file() and (folder / "labels.csv").is_file():
        return from_realbed(folder, work)
    raise DatasetError(
        f"{folder}: neither an `annotate pull` folder (labels.parquet) nor a test bed "
        "(labels.csv + manifest.json)"
    )
