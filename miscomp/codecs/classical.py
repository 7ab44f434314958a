"""Classical codecs through Pillow: JPEG (libjpeg-turbo), WebP (libwebp), JPEG 2000 (OpenJPEG) and
AVIF (libavif, Pillow ≥ 11.3's native plugin). OpenCV has no AVIF encoder, so Pillow serves all four.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from PIL import Image, features

from miscomp.codecs.base import CODECS, Codec
from miscomp.errors import CodecError


def _decode(data: bytes, name: str) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def _check_quality(name: str, quality: int, low: int = 0, high: int = 100) -> None:
    if not low <= quality <= high:
        raise CodecError(f"{name}: quality must be in [{low}, {high}], got {quality}")


@CODECS.register("jpeg", family="classical", needs_weights=False)
@dataclass
class JPEG(Codec):
    """JPEG via Pillow/libjpeg-turbo (4:2:0 chroma subsampling unless subsampling=0 for 4:4:4)."""

    quality: int = 75
    subsampling: int = 2  # Pillow's numbering: 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0

    name: ClassVar[str] = "jpeg"
    bitstream_suffix: ClassVar[str] = ".jpg"

    def __post_init__(self) -> None:
        _check_quality(self.name, self.quality, 1, 100)

    def params(self) -> dict[str, Any]:
        return {"quality": self.quality, "subsampling": self.subsampling}

    def compress(self, rgb: np.ndarray) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format="JPEG", quality=self.quality, subsampling=self.subsampling)
        return buf.getvalue()

    def decompress(self, data: bytes) -> np.ndarray:
        return _decode(data, self.name)


@CODECS.register("webp", family="classical", needs_weights=False)
@dataclass
class WebP(Codec):
    """Lossy WebP via Pillow/libwebp."""

    quality: int = 75
    method: int = 4

    name: ClassVar[str] = "webp"
    bitstream_suffix: ClassVar[str] = ".webp"

    def __post_init__(self) -> None:
        _check_quality(self.name, self.quality)

    def params(self) -> dict[str, Any]:
        return {"quality": self.quality, "method": self.method}

    def compress(self, rgb: np.ndarray) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(rgb).save(
            buf, format="WEBP", quality=self.quality, method=self.method, lossless=False
        )
        return buf.getvalue()

    def decompress(self, data: bytes) -> np.ndarray:
        return _decode(data, self.name)


@CODECS.register("jpeg2000", family="classical", needs_weights=False)
@dataclass
class JPEG2000(Codec):
    """JPEG 2000 via Pillow/OpenJPEG; ``ratio`` is the compression ratio (24 bpp / ratio ≈ bpp)."""

    ratio: float = 40.0

    name: ClassVar[str] = "jpeg2000"
    bitstream_suffix: ClassVar[str] = ".j2k"

    def __post_init__(self) -> None:
        if self.ratio < 1:
            raise CodecError(f"jpeg2000: ratio must be ≥ 1, got {self.ratio}")

    def params(self) -> dict[str, Any]:
        return {"ratio": self.ratio}

    def compress(self, rgb: np.ndarray) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(rgb).save(
            buf,
            format="JPEG2000",
            quality_mode="rates",
            quality_layers=[self.ratio],
            irreversible=True,
            no_jp2=True,
        )
        return buf.getvalue()

    def decompress(self, data: bytes) -> np.ndarray:
        return _decode(data, self.name)


@CODECS.register("avif", family="classical", needs_weights=False)
@dataclass
class AVIF(Codec):
    """AVIF (AV1 intra) via Pillow's native libavif plugin; speed 0 (slow) … 10 (fast)."""

    quality: int = 60
    speed: int = 8

    name: ClassVar[str] = "avif"
    bitstream_suffix: ClassVar[str] = ".avif"

    def __post_init__(self) -> None:
        _check_quality(self.name, self.quality)
        if not features.check("avif"):
            raise CodecError("avif: this Pillow has no AVIF support (needs Pillow ≥ 11.3 built with libavif)")

    def params(self) -> dict[str, Any]:
        return {"quality": self.quality, "speed": self.speed}

    def compress(self, rgb: np.ndarray) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format="AVIF", quality=self.quality, speed=self.speed)
        return buf.getvalue()

    def decompress(self, data: bytes) -> np.ndarray:
        return _decode(data, self.name)
