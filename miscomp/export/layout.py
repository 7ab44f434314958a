"""Where an exported dataset's pictures go, and what is in each: full images or crops around labels.

One :class:`Example` per picture the export writes: a full reconstruction with every label of it
(``full``), or a crop around one label (``crops``), always with the matching original beside it. The
COCO and Hugging Face writers both list these examples, so the two formats describe the same files::

    OUT/data/<split>/<name>.png            the reconstruction (or its crop)
    OUT/data/<split>/originals/<name>.png  the original (or its crop)
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from miscomp.export.records import Dataset, DatasetError, PairImage, RegionLabel

MODES = ("full", "crops", "none")  # none: annotations only (COCO), no pictures
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}")


@dataclass(frozen=True)
class Example:
    file_name: str  # relative to OUT
    original_file_name: str
    width: int
    height: int
    pair: PairImage
    labels: tuple[tuple[RegionLabel, tuple[int, int, int, int]], ...]  # (label, bbox in this picture)
    offset: tuple[int, int, float] = (0, 0, 1.0)  # crop x0, y0 and enlargement: picture = (image − x0) · k


def _name(*parts: str) -> str:
    name = "__".join(parts)
    if not SAFE_NAME.fullmatch(name):
        raise DatasetError(f"{name[:60]!r}: not a safe file name (letters, digits, . _ -); rename the id")
    return name


def plan(dataset: Dataset, mode: str) -> list[Example]:
    """The examples an export in ``mode`` writes (nothing is written here)."""
    if mode not in MODES:
        raise DatasetError(f"--images must be one of {', '.join(MODES)}, got {mode!r}")
    by_pair: dict[tuple[str, str], list[RegionLabel]] = {}
    for lab in dataset.labels:
        by_pair.setdefault(lab.key, []).append(lab)
    pairs = {p.key: p for p in dataset.images}
    out = []
    for key, labs in sorted(by_pair.items()):
        pair = pairs.get(key)
        if pair is None:
            raise DatasetError(f"label {labs[0].label_id}: no image record for {key[0]} at {key[1]}")
        split = pair.split or labs[0].split
        if mode in ("full", "none"):
            name = _name(*key) + ".png"
            boxes = tuple((lab, (lab.x, lab.y, lab.w, lab.h)) for lab in labs)
            out.append(Example(f"data/{split}/{name}", f"data/{split}/originals/{name}", pair.width,
                               pair.height, pair, boxes))  # fmt: skip
            continue
        for lab in labs:
            name = _name(lab.label_id) + ".png"
            if lab.crop_window is not None and lab.crop_reconstruction is not None:  # a pull's crops
                x0, y0, cw, ch = lab.crop_window
                k = _png_size(lab.crop_reconstruction)[0] / cw
            else:
                x0, y0, cw, ch = lab.box.crop_window(pair.width, pair.height)
                k = 1.0
            bbox = (round((lab.x - x0) * k), round((lab.y - y0) * k), round(lab.w * k), round(lab.h * k))
            out.append(Example(f"data/{split}/{name}", f"data/{split}/originals/{name}", round(cw * k),
                               round(ch * k), pair, ((lab, bbox),), (x0, y0, k)))  # fmt: skip
    return out


def _png_size(path: Path) -> tuple[int, int]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, UnidentifiedImageError):
        raise DatasetError(f"{path}: crop missing or not an image; pull again") from None


def write_pictures(examples: list[Example], out: Path, mode: str) -> None:
    """Write every example's reconstruction and original under ``out`` (``none``: nothing)."""
    if mode == "none":
        return
    from miscomp.io import read_image, write_png

    read = lru_cache(maxsize=4)(lambda path: read_image(path).rgb)  # examples come sorted by pair

    def full(path: Path | None, what: str, pair: PairImage):
        if path is None:
            raise DatasetError(
                f"{pair.image_id} at {pair.codec_tag}: no {what} image here; a pull holds only crops "
                "(--images crops); for the test bed build the pictures first (python -m "
                "benchmarks.real_codecs build --work DIR, then --work DIR); or --images none"
            )
        return read(path)

    for ex in examples:
        dst_rec, dst_orig = out / ex.file_name, out / ex.original_file_name
        dst_orig.parent.mkdir(parents=True, exist_ok=True)
        lab = ex.labels[0][0]
        if mode == "crops" and lab.crop_reconstruction is not None and lab.crop_original is not None:
            shutil.copyfile(lab.crop_reconstruction, dst_rec)
            shutil.copyfile(lab.crop_original, dst_orig)
            continue
        x0, y0, _ = ex.offset
        for src, dst, what in ((ex.pair.reconstruction, dst_rec, "reconstruction"),
                               (ex.pair.original, dst_orig, "original")):  # fmt: skip
            rgb = full(src, what, ex.pair)
            write_png(dst, rgb[y0 : y0 + ex.height, x0 : x0 + ex.width] if mode == "crops" else rgb)
