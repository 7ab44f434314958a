"""The codec contract. A codec turns an 8-bit RGB image into a real bitstream and back, so that bpp
is measured from bytes. (Reconstructions made elsewhere are a source of pairs, not a codec:
:mod:`miscomp.pairs.sources`.)"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from miscomp.registry import Registry


@dataclass(frozen=True)
class CodecOutput:
    reconstruction: np.ndarray  # H×W×3 uint8, same size as the original
    bitstream: bytes | None  # None when the codec did not run here (existing outputs)
    n_bytes: int | None
    encode_seconds: float | None = None
    decode_seconds: float | None = None
    info: dict[str, Any] = field(default_factory=dict)  # e.g. which weights were used


class Codec(ABC):
    """Subclasses implement :meth:`compress` and :meth:`decompress` on uint8 RGB arrays."""

    name: ClassVar[str]
    bitstream_suffix: ClassVar[str] = ".bin"

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """The parameters that define this codec's output (recorded in pairs.parquet)."""

    @abstractmethod
    def compress(self, rgb: np.ndarray) -> bytes: ...

    @abstractmethod
    def decompress(self, data: bytes) -> np.ndarray: ...

    def info(self) -> dict[str, Any]:
        """Extra facts for run.json (weights file, library versions)."""
        return {}

    @property
    def tag(self) -> str:
        """A filesystem-safe identifier of codec + parameters, used in pair ids and folder names."""
        parts = [self.name] + [f"{k}{v}" for k, v in sorted(self.params().items()) if v is not None]
        return "-".join(safe_tag(str(p)) for p in parts)

    def apply(self, rgb: np.ndarray) -> CodecOutput:
        t0 = time.perf_counter()
        data = self.compress(rgb)
        t1 = time.perf_counter()
        rec = self.decompress(data)
        t2 = time.perf_counter()
        if rec.shape != rgb.shape:
            raise ValueError(f"{self.name} decoded shape {rec.shape} != input shape {rgb.shape}")
        return CodecOutput(rec, data, len(data), t1 - t0, t2 - t1, self.info())


def safe_tag(text: str) -> str:
    """``text`` with every character but letters, digits and ``._-`` replaced by ``_``."""
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in text)


CODECS: Registry[Codec] = Registry("codec")
