"""Pair (one original and one source's reconstruction of it), PairRecord (its row in pairs.parquet)
and how originals are found."""

from __future__ import annotations

import hashlib
import json
import os
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
    original_name: str = ""  # path relative to the originals folder, as the user named it


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
    # The original's path relative to its folder, as the user named it (the id is derived from it).
    original_name: str = ""
    # The detector settings that ran on this pair (JSON); with original_sha256 and the codec tag in
    # the pair id it is the resume key: a pair whose key changed is done again.
    detectors: str = ""
    # What a machine reader loses (the OCR detector's counts; None where it did not run): the
    # original's legible text lines, how many of them the reconstruction reads identically, their
    # characters, and the character edits between the two reads (CER = errors / chars).
    ocr_lines: int | None = None
    ocr_exact_lines: int | None = None
    ocr_chars: int | None = None
    ocr_char_errors: int | None = None
    # The same at word level (whitespace-separated tokens, each normalised as the characters are):
    # the word edits between the two reads, for WER and BD-WER.
    ocr_words: int | None = None
    ocr_word_errors: int | None = None

    @classmethod
    def failed(cls, pair: Pair, message: str) -> PairRecord:
        """The row of a pair that could not be made or measured; ``message`` names file and problem."""
        return cls(
            pair_id=pair.pair_id, image_id=pair.image_id, original=str(Path(pair.original).resolve()),
            reconstruction="", bitstream="", codec=pair.codec, codec_tag=pair.codec_tag,
            params=params_json(pair.params), width=None, height=None, bytes=None, bpp=None, psnr=None,
            ms_ssim=None, encode_s=None, decode_s=None, detect_s=None, n_findings=0, status="error",
            error=message, original_sha256="", original_metadata="", notes="",
            original_name=pair.original_name,
        )  # fmt: skip


# The PairRecord columns a detector may fill from its per-pair counts (``Detector.detect_counted``).
READ_COUNT_FIELDS = (
    "ocr_lines",
    "ocr_exact_lines",
    "ocr_chars",
    "ocr_char_errors",
    "ocr_words",
    "ocr_word_errors",
)


def params_json(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, default=str)


ID_SLUG_CHARS = 40  # readable part of an image id; the hash makes it unique
ID_HASH_CHARS = 8


def safe_id(text: str) -> str:
    return _UNSAFE.sub("_", text).strip("_") or "image"


def image_id_for(relative: str) -> str:
    """A unique, stable image id for an original: a readable slug of its stem plus a short hash of
    its path relative to the originals folder (``a b.png`` → ``a_b-1f0c…``, ``数字.png`` →
    ``image-83be…``). The hash keeps apart names that slug alike; the id depends on nothing but the
    file's own relative path, so adding files to the folder never changes another file's id."""
    rel = Path(relative).as_posix()
    slug = safe_id(Path(rel).stem)[:ID_SLUG_CHARS].strip("_.-") or "image"
    digest = hashlib.sha1(rel.encode("utf-8", "surrogateescape")).hexdigest()[:ID_HASH_CHARS]
    return f"{slug}-{digest}"


def make_pair_id(image_id: str, codec_tag: str) -> str:
    return f"{image_id}__{codec_tag}"


# What a pair id looks like: an image id and a codec tag, both of filename-safe characters.
PAIR_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,200}__[A-Za-z0-9._-]{1,200}")


@dataclass(frozen=True)
class Originals:
    """The originals of a scan: (image id, path, name relative to the folder) and the entries that
    were not taken, one line each (subfolders without --recursive, links to nothing, other files)."""

    images: list[tuple[str, Path, str]]
    skipped: list[str]


def find_originals(folder: Path, recursive: bool = False) -> Originals:
    """The images in ``folder`` (with ``recursive``, in its subfolders too), sorted by relative path,
    each with a unique id (:func:`image_id_for`). Links to nothing with an image suffix are kept: they
    become error rows naming the missing target. Subfolders (when not recursive) and files without an
    image suffix are listed in ``skipped``. A folder with no image is an error."""
    if folder.is_file():
        raise MiscompError(
            f"{folder}: is a file; --originals takes a folder of images (put the file in a folder of its own)"
        )
    if not folder.is_dir():
        raise MiscompError(f"{folder}: originals folder does not exist")
    images: list[tuple[str, Path, str]] = []
    subfolders: list[str] = []
    other: list[str] = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        base = Path(dirpath)
        dirnames.sort()
        for d in list(dirnames):
            rel = (base / d).relative_to(folder).as_posix()
            if not recursive:
                subfolders.append(rel)
            elif (base / d).is_symlink():
                other.append(f"{rel} (link to a folder, not followed)")
        if not recursive:
            dirnames.clear()
        else:
            dirnames[:] = [d for d in dirnames if not (base / d).is_symlink()]
        for name in sorted(filenames):
            path = base / name
            rel = path.relative_to(folder).as_posix()
            if path.suffix.lower() in IMAGE_SUFFIXES and (path.is_file() or path.is_symlink()):
                images.append((image_id_for(rel), path, rel))
            else:
                other.append(rel)
    images.sort(key=lambda t: t[2])
    skipped = []
    if subfolders:
        skipped.append(
            f"{folder}: {len(subfolders)} subfolder(s) not scanned ({_some(subfolders)}); "
            "use --recursive to scan them"
        )
    if other:
        skipped.append(f"{folder}: {len(other)} file(s) without an image suffix ignored ({_some(other)})")
    if not images:
        raise MiscompError(f"{folder}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    ids = [i for i, _, _ in images]
    if len(set(ids)) != len(ids):  # 8 hex of one slug: practically never; never silently merged
        dup = next(i for i in ids if ids.count(i) > 1)
        names = [r for i, _, r in images if i == dup]
        raise MiscompError(f"{folder}: {names[0]} and {names[1]} get the same image id {dup}; rename one")
    return Originals(images, skipped)


def _some(names: list[str], n: int = 5) -> str:
    return ", ".join(names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")
