"""Pair: one original and one codec's reconstruction of it, and how originals are found."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from miscomp.errors import MiscompError
from miscomp.imageio import IMAGE_SUFFIXES

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Pair:
    pair_id: str
    image_id: str
    original: Path
    codec: str
    codec_tag: str
    params: dict[str, Any] = field(default_factory=dict)


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
