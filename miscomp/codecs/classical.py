"""Classical codecs through Pillow: JPEG (libjpeg-turbo), WebP (libwebp), JPEG 2000 (OpenJPEG) and
AVIF (libavif, Pillow ≥ 11.3's native plugin). OpenCV has no AVIF encoder, so Pillow serves all four.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np
from PIL import Image, features

from miscomp.codecs.base import CODECS, Codec
from miscomp.errors import CodecError
from miscomp.io import pixels_of


class PillowCodec(Codec):
    """A codec Pillow encodes and decodes: subclasses give the format and its save options; the
    parameters are the dataclass fields."""

    pillow_format: ClassVar[str]

    def save_options(self) -> dict[str, Any]:
        return self.params()

    def params(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]

    def compress(self, rgb: np.ndarray) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format=self.pillow_format, **self.save_options())
        return buf.getvalue()

    def decompress(self, data: bytes) -> np.ndarray:
        with Image.open(io.BytesIO(data)) as im:
            # convert() copies even an RGB image (a full-size copy: 400 MB at 100 MP); the pixels are
            # the same without it
            return pixels_of(im if im.mode == "RGB" else im.convert("RGB"))


def _check_quality(name: str, quality: int, low: int = 0, high: int = 100) -> None:
    if not low <= quality <= high:
        raise CodecError(f"{name}: quality must be in [{low}, {high}], got {quality}")


@CODECS.register("jpeg", family="classical", needs_weights=False)
@dataclass
class JPEG(PillowCodec):
    """JPEG via Pillow/libjpeg-turbo (4:2:0 chroma subsampling unless subsampling=0 for 4:4:4)."""

    quality: int = 75
    subsampling: int = 2  # Pillow's numbering: 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0

    name: ClassVar[str] = "jpeg"
    pillow_format: ClassVar[str] = "JPEG"
    bitstream_suffix: ClassVar[str] = ".jpg"

    def __post_init__(self) -> None:
        _check_quality(self.name, self.quality, 1, 100)


@CODECS.register("webp", family="classical", needs_weights=False)
@dataclass
class WebP(PillowCodec):
    """Lossy WebP via Pillow/libwebp."""

    quality: int = 75
    method: int = 4

    name: ClassVar[str] = "webp"
    pillow_format: ClassVar[str] = "WEBP"
    bitstream_suffix: ClassVar[str] = ".webp"

    def __post_init__(self) -> None:
        _check_quality(self.name, self.quality)

    def save_options(self) -> dict[str, Any]:
        return self.params() | {"lossless": False}


@CODECS.register("jpeg2000", family="classical", needs_weights=False)
@dataclass
class JPEG2000(PillowCodec):
    """JPEG 2000 via Pillow/OpenJPEG; ``ratio`` is the compression ratio (24 bpp / ratio ≈ bpp)."""

    ratio: float = 40.0

    name: ClassVar[str] = "jpeg2000"
    pillow_format: ClassVar[str] = "JPEG2000"
    bitstream_suffix: ClassVar[str] = ".j2k"

    def __post_init__(self) -> None:
        if self.ratio < 1:
            raise CodecError(f"jpeg2000: ratio must be ≥ 1, got {self.ratio}")

    def save_options(self) -> dict[str, Any]:
        return {"quality_mode": "rates", "quality_layers": [self.ratio], "irreversible": True, "no_jp2": True}


@CODECS.register("avif", family="classical", needs_weights=False)
@dataclass
class AVIF(PillowCodec):
    """AVIF (AV1 intra) via Pillow's native libavif plugin; speed 0 (slow) … 10 (fast)."""

    quality: int = 60
    speed: int = 8

    name: ClassVar[str] = "avif"
    pillow_format: ClassVar[str] = "AVIF"
    bitstream_suffix: ClassVar[str] = ".avif"

    def __post_init__(self) -> None:
        _check_quality(self.name, self.quality)
        if not features.check("avif"):
            raise CodecError("avif: this Pillow has no AVIF support (needs Pillow ≥ 11.3 built with libavif)")
