"""Pair (one original and one source's reconstruction of it), PairRecord (its row in pairs.parquet)
and how originals are found."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from miscomp.errors import MiscompError
from miscomp.io import IMAGE_SUFFIXES

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Pair:
    pair_id: str
    image_id: str
    original: Path
    codec: str
    codec_tag: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PairRecord:
    """One row of pairs.parquet. Its fields are the table's columns, in order (the store derives the
    Arrow schema from them); ``None`` in a number means "not measured" (an error row)."""

    pair_id: str
    image_id: str
    original: str  # absolute path of the original as read
    reconstruction: str  # relative to the run dir ("" when none was made)
    bitstream: str  # relative to the run dir ("" when the codec did not run here)
    codec: str
    codec_tag: str
    params: str  # JSON of the codec parameters, sorted keys
    width: int | None
    height: int | None
    bytes: int | None
    bpp: float | None
    psnr: float | None
    ms_ssim: float | None
    encode_s: float | None
    decode_s: float | None
    detect_s: float | None
    n_findings: int
    status: str  # "ok" | "partial" (a detector failed) | "error"
    error: str
    original_sha256: str
    original_metadata: str  # JSON: EXIF / XMP / ICC presence
    notes: str

    @classmethod
    def failed(cls, pair: Pair, message: str) -> PairRecord:
        """The row of a pair that could not be made or measured; ``message`` names file and problem."""
        return cls(
            pair_id=pair.pair_id, image_id=pair.image_id, original=str(Path(pair.original).resolve()),
            reconstruction="", bitstream="", codec=pair.codec, codec_tag=pair.codec_tag,
            params=params_json(pair.params), width=None, height=None, bytes=None, bpp=None, psnr=None,
            ms_ssim=None, encode_s=None, decode_s=None, detect_s=None, n_findings=0, status="error",
            error=message, original_sha256="", original_metadata="", notes="",
        )  # fmt: skip


def params_json(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, default=str)


def safe_id(text: str) -> str:
    return _UNSAFE.sub("_", text).strip("_") or "image"


def make_pair_id(image_id: str, codec_tag: str) -> str:
    return f"{image_id}__{codec_tag}"


def find_originals(folder: Path) -> list[tuple[str, Path]]:
    """The images in ``folder`` (not recursive) with a unique image id each, sorted by name.

    The id is the file stem; when two files share a stem (``a.png``, ``a.jpg``) the suffix is kept
    to tell them apart. Non-image files are ignored; a folder with no image is an error.
    """
    if not folder.is_dir():
        raise MiscompError(f"{folder}: originals folder does not exist")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise MiscompError(f"{folder}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    stems: dict[str, int] = {}
    for p in files:
        stems[p.stem] = stems.get(p.stem, 0) + 1
    return [(safe_id(p.stem if stems[p.stem] == 1 else p.name), p) for p in files]
