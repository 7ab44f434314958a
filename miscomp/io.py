"""Files in and out: the one safe image reader (every image miscomp looks at comes through
:func:`read_image`), PNG writing, atomic text writes and file hashes.

Lossless conversions (palette, grayscale, EXIF orientation, alpha over a white background) are done
and recorded in ``LoadedImage.notes``. Conversions that lose information (16-bit → 8-bit, CMYK → RGB)
are refused unless ``convert=True``, because comparing a silently converted original would blame the
codec for our own conversion.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from miscomp.errors import ImageError

DEFAULT_MAX_PIXELS = 64_000_000
# The scan refuses smaller originals with an error row: a 1×1 image has no structure to compare, and
# its bpp (header bytes over one pixel: 5048 for JPEG) would dominate every mean in the report.
MIN_SIDE = 16

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".ppm", ".pgm", ".jp2", ".avif"}


@dataclass(frozen=True)
class LoadedImage:
    path: Path
    rgb: np.ndarray  # H×W×3 uint8
    sha256: str  # of the file's bytes: cache key for per-original work (OCR)
    mode: str  # PIL mode as stored in the file
    metadata: dict = field(default_factory=dict)  # EXIF / XMP / ICC presence, kept in the record
    notes: tuple[str, ...] = ()  # conversions applied

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    def metadata_json(self) -> str:
        return json.dumps(self.metadata, sort_keys=True, default=str)


def read_image(
    path: Path | str, *, max_pixels: int = DEFAULT_MAX_PIXELS, convert: bool = False, min_side: int = 1
) -> LoadedImage:
    """Read an image as 8-bit RGB, or raise :class:`ImageError` naming the file and the problem.
    ``min_side``: refuse images narrower or lower than this (the scan passes :data:`MIN_SIDE`)."""
    with warnings.catch_warnings():
        # Pillow's UserWarnings on damaged files (corrupt EXIF, tags past the end) printed two lines
        # each; the file's one line (its error, or nothing when it reads) says what matters.
        warnings.simplefilter("ignore", UserWarning)
        return _read_image(Path(path), max_pixels, convert, min_side)


def _read_image(path: Path, max_pixels: int, convert: bool, min_side: int) -> LoadedImage:
    if path.is_symlink() and not path.exists():
        raise ImageError(path, f"broken symbolic link (its target {os.readlink(path)} does not exist)")
    if not path.exists():
        raise ImageError(path, "file does not exist")
    if path.is_dir():
        raise ImageError(path, "is a directory, not an image")
    data = path.read_bytes()
    if not data:
        raise ImageError(path, "empty file (0 bytes)")
    digest = sha256_bytes(data)
    del data  # the file is decoded from disk below; its bytes need not stay beside the pixels
    try:
        with warnings.catch_warnings():
            # Pillow warns above 89 MP; --max-pixels (checked below, from the header) is the limit, so
            # a 100 MP photo the user allows is read. Beyond 179 MP Pillow refuses (the error below).
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
            im.size  # noqa: B018 - header parsed here
    except UnidentifiedImageError:
        raise ImageError(path, "not a recognised image format (corrupt or unsupported)") from None
    except Image.DecompressionBombError as err:
        raise ImageError(path, f"refused: {err}") from None
    except OSError as err:
        raise ImageError(path, f"cannot open: {err}") from None
    with im:
        w, h = im.size
        if w < min_side or h < min_side:
            raise ImageError(path, f"{w}×{h} is smaller than the minimum of {min_side}×{min_side} pixels")
        if w * h > max_pixels:
            raise ImageError(
                path, f"{w}×{h} = {w * h} pixels exceeds the limit of {max_pixels} (--max-pixels)"
            )
        deep = _stored_16bit(im)  # must be read before load(), which drops the tile list
        try:
            with _quiet_libtiff(im.format):
                im.load()
        except (OSError, SyntaxError, ValueError) as err:
            raise ImageError(path, f"truncated or corrupt image data: {err}") from None
        metadata = _metadata(im)
        mode = im.mode
        notes: list[str] = []
        try:
            # exif_transpose copies an image it leaves as it is (a full-size copy: 400 MB at 100 MP)
            turned = _exif_orientation(im) in range(2, 9)  # the orientations exif_transpose turns
            transposed = ImageOps.exif_transpose(im) if turned else im
        except Exception:  # noqa: BLE001 - broken EXIF must not lose the image
            transposed = im
            notes.append("EXIF orientation unreadable; used stored orientation")
        if transposed is not im and metadata.get("orientation") not in (None, 1):
            notes.append(f"applied EXIF orientation {metadata.get('orientation')}")
        rgb = _to_rgb8(path, transposed, convert, notes, deep)
    return LoadedImage(path=path, rgb=rgb, sha256=digest, mode=mode, metadata=metadata, notes=tuple(notes))


def _exif_orientation(im: Image.Image) -> int | None:
    """The EXIF orientation tag as ``ImageOps.exif_transpose`` reads it (None: none)."""
    from PIL import ExifTags

    return im.getexif().get(ExifTags.Base.Orientation)


def _metadata(im: Image.Image) -> dict:
    meta: dict = {"format": im.format, "mode": im.mode, "size": list(im.size)}
    try:
        exif = im.getexif()
    except Exception:  # noqa: BLE001
        exif = {}
    if exif:
        from PIL import ExifTags

        tags = {}
        for key, value in exif.items():
            name = ExifTags.TAGS.get(key, str(key))
            if isinstance(value, bytes):
                value = f"<{len(value)} bytes>"
            tags[name] = value if isinstance(value, (int, float, str)) else str(value)
        meta["exif"] = tags
        meta["orientation"] = tags.get("Orientation")
    xmp = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp")
    if xmp:
        meta["xmp"] = xmp.decode("utf-8", "replace") if isinstance(xmp, bytes) else str(xmp)
    if im.info.get("icc_profile"):
        meta["icc_profile_bytes"] = len(im.info["icc_profile"])
    return meta


@contextlib.contextmanager
def _quiet_libtiff(fmt: str | None) -> Iterator[None]:
    """libtiff prints its own decoder errors ("ZIPDecode: Decoding error at scanline 0") straight to
    file descriptor 2; Pillow raises them as well, and that becomes the file's one error line. So while
    a TIFF decodes, fd 2 goes to /dev/null."""
    if fmt != "TIFF":
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def pixels_of(im: Image.Image) -> np.ndarray:
    """``np.asarray(im)`` of an 8-bit RGB image, converted in bands of rows: ``np.asarray`` goes through
    ``tobytes()``, which joins its chunks into one more full-size copy (+286 MB transient at 100 MP)."""
    im.load()
    w, h = im.size
    out = np.empty((h, w, 3), np.uint8)
    rows = max(1, (1 << 24) // (3 * w))  # ~16 MB a band
    for y in range(0, h, rows):
        out[y : y + rows] = np.asarray(im.crop((0, y, w, min(h, y + rows))))
    return out


def _to_rgb8(path: Path, im: Image.Image, convert: bool, notes: list[str], deep: bool) -> np.ndarray:
    mode = im.mode
    if mode == "RGB" and deep:
        # Pillow decodes 48-bit RGB to 8 bits itself; the reduction is still ours to allow.
        if not convert:
            raise ImageError(
                path, "16-bit RGB image; miscomp compares 8-bit RGB. Pass --convert to reduce it to 8 bits"
            )
        notes.append("reduced 16-bit RGB to 8 bits")
        return np.asarray(im)
    if mode in {"I;16", "I;16B", "I;16L", "I;16N", "I"}:
        if not convert:
            raise ImageError(
                path,
                f"16-bit image (mode {mode}); miscomp compares 8-bit RGB. "
                "Pass --convert to reduce it to 8 bits",
            )
        arr = np.asarray(im, dtype=np.uint32)
        arr = (arr >> 8).clip(0, 255).astype(np.uint8) if arr.max() > 255 else arr.astype(np.uint8)
        notes.append(f"reduced {mode} to 8 bits")
        return np.ascontiguousarray(np.stack([arr] * 3, axis=-1))
    if mode == "CMYK":
        if not convert:
            raise ImageError(
                path, "CMYK image; miscomp compares RGB. Pass --convert to convert it (not colour-managed)"
            )
        notes.append("converted CMYK to RGB")
        return np.asarray(im.convert("RGB"))
    if mode in {"RGBA", "LA", "PA"} or (mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        alpha = np.asarray(rgba)[..., 3]
        if alpha.min() < 255:
            notes.append("composited alpha over white")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"))
    if mode == "F":
        raise ImageError(path, "floating-point image; miscomp compares 8-bit RGB")
    if mode != "RGB":
        notes.append(f"converted {mode} to RGB")
        im = im.convert("RGB")
    return pixels_of(im)


def _stored_16bit(im: Image.Image) -> bool:
    """True for 48/64-bit RGB(A) files, which Pillow opens as 8-bit RGB without a word."""
    if im.mode not in {"RGB", "RGBA"}:
        return False
    if any(";16" in str(tile.args) for tile in getattr(im, "tile", None) or []):
        return True
    bits = im.tag_v2.get(258) if hasattr(im, "tag_v2") else None
    return bool(bits) and max(bits if isinstance(bits, tuple) else (bits,)) > 8


def write_png(path: Path, rgb: np.ndarray) -> None:
    """Write atomically so a killed run never leaves half a file that looks complete."""
    with atomic_path(path) as tmp:
        Image.fromarray(rgb).save(tmp, format="PNG", compress_level=1)


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


@contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """A temporary path beside ``path`` for the caller to write; when the block ends without an error
    the file is flushed to disk (fsync) and renamed onto ``path``, so readers see the old file or the
    whole new one, never a part, even after a power cut. On an error the temporary is removed.

    The one naming scheme, ``.NAME.PID.tmp``: hidden, and the pid keeps two processes writing the
    same file from clobbering each other's temporary (``ResultStore.remove_stale_temporaries`` and
    the downloaders clear what a killed process left)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: Path | str, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_path`)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def file_sha256(path: Path | str) -> str:
    """The full hex SHA-256 of a file's bytes (cached per path, size and mtime): the one file hash
    (originals, weights, downloads)."""
    stat = Path(path).stat()
    return _sha256_cached(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


def sha256_bytes(data: bytes) -> str:
    """The hex SHA-256 of bytes in memory (an image read once, a C2PA claim)."""
    return hashlib.sha256(data).hexdigest()


@lru_cache(maxsize=64)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    # size and mtime are part of the key so a replaced file is hashed again
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
