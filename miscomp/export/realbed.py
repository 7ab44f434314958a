"""The project's real-codec test bed (``datasets/realbed``: labels.csv + manifest.json + README.md) as
a :class:`~miscomp.export.records.Dataset`.

Whatever labels.csv says is taken as it is (the bed is re-labelled from time to time); only its
columns and values are checked, each problem one line naming the file and row. The pixels are not in
the repository: ``python -m benchmarks.real_codecs build`` writes them to a work folder
(``originals/<image_id>.png``, ``reconstructions/<codec_tag>/<image_id>.png``), which is read when given.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from miscomp.export.records import CATEGORIES, KINDS, Dataset, DatasetError, PairImage, RegionLabel

COLUMNS = (
    "label_id",
    "image_id",
    "codec_tag",
    "x",
    "y",
    "w",
    "h",
    "kind",
    "category",
    "symbol",
    "note",
    "split",
)


def read_labels(path: Path) -> list[RegionLabel]:
    """labels.csv as records; raises :class:`DatasetError` naming the first bad row."""
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as err:
        raise DatasetError(f"{path}: cannot read ({err.strerror})") from None
    if rows and (missing := [c for c in COLUMNS if c not in rows[0]]):
        raise DatasetError(f"{path}: missing columns {missing}")
    out = []
    for n, r in enumerate(rows, 2):  # line 1 is the header
        try:
            x, y, w, h = (int(r[k]) for k in "xywh")
        except ValueError:
            raise DatasetError(f"{path}: line {n}: x, y, w, h must be integers") from None
        if r["kind"] not in KINDS or r["category"] not in CATEGORIES:
            raise DatasetError(f"{path}: line {n}: kind {r['kind']!r} / category {r['category']!r} unknown")
        if r["symbol"].strip().lower() not in ("true", "false"):
            raise DatasetError(f"{path}: line {n}: symbol must be True or False, got {r['symbol']!r}")
        out.append(RegionLabel(
            r["label_id"], r["image_id"], r["codec_tag"], x, y, w, h, r["kind"], r["category"],
            r["symbol"].strip().lower() == "true", r["note"], r["split"], annotators="expert",
        ))  # fmt: skip
    return out


def labelling_rules(readme: Path) -> str:
    """The "Labelling rules" section of the bed's README (the card quotes it), "" if there is none."""
    text = readme.read_text(encoding="utf-8") if readme.is_file() else ""
    found = re.search(r"^## Labelling rules\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    return found.group(1).strip() if found else ""


def from_realbed(folder: Path, work: Path | None = None, codec_info: bool = True) -> Dataset:
    """The bed in ``folder`` (labels.csv, manifest.json, README.md); full images from ``work`` when
    it holds them. Only pairs that carry labels are taken. ``codec_info``: record each codec's library
    versions and weights sha256 in the provenance (builds every codec: ~20 s for the learned ones)."""
    manifest_path = folder / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise DatasetError(f"{manifest_path}: not a readable manifest ({err})") from None
    labels = read_labels(folder / "labels.csv")
    tag_to_spec = {tag: spec for spec, tag in manifest.get("codecs", {}).items()}
    specs = {s["image_id"]: s for s in manifest.get("images", [])}
    images = []
    for image_id, tag in sorted({lab.key for lab in labels}):
        spec = specs.get(image_id)
        rec = (spec or {}).get("reconstructions", {}).get(tag)
        if spec is None or rec is None:
            raise DatasetError(f"{folder / 'labels.csv'}: {image_id} at {tag} is not in {manifest_path}")
        orig = work / "originals" / f"{image_id}.png" if work else None
        recon = work / "reconstructions" / tag / f"{image_id}.png" if work else None
        images.append(PairImage(
            image_id, tag, tag_to_spec.get(tag, tag), rec.get("bpp"), int(spec["width"]), int(spec["height"]),
            spec.get("source", "other"), spec.get("split", ""),
            orig if orig and orig.is_file() else None, recon if recon and recon.is_file() else None,
            rec.get("sha256", ""),
        ))  # fmt: skip
    from miscomp import __version__

    return Dataset(
        name=f"miscomp-realbed-{manifest.get('version', '0')}",
        version=str(manifest.get("version", "0")),
        images=images,
        labels=labels,
        annotations_creators=["expert-generated"],
        rules=labelling_rules(folder / "README.md"),
        provenance={
            "miscomp": __version__,
            "test_bed_version": manifest.get("version"),
            "codecs": codec_provenance(list(manifest.get("codecs", {})))
            if codec_info
            else {spec: {"tag": tag} for spec, tag in manifest.get("codecs", {}).items()},
        },
    )


def codec_provenance(specs: list[str]) -> dict[str, dict]:
    """Per codec spec: its tag, library versions and weights sha256 (paths left out: they are local);
    a codec that cannot be built here is recorded as such, not guessed."""
    from miscomp.codecs import create_codec

    out = {}
    for spec in specs:
        try:
            codec = create_codec(spec)
        except Exception as err:  # noqa: BLE001 - any missing extra or weights: recorded, not fatal
            out[spec] = {"unavailable": f"{type(err).__name__}: {str(err)[:120]}"}
            continue
        import PIL

        out[spec] = {"tag": codec.tag, "pillow": PIL.__version__, **_strip_paths(codec.info())}
    return out


def _strip_paths(info: dict) -> dict:
    return {k: _strip_paths(v) if isinstance(v, dict) else v for k, v in info.items() if k != "path"}
