"""The codec contract. A codec turns an 8-bit RGB image into a real bitstream and back, so that bpp
is measured from bytes. (Reconstructions made elsewhere are a source of pairs, not a codec:
:mod:`miscomp.pairs.sources`.)"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from miscomp.errors import CodecError
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

# Learned codecs compute in float64 by default. In float32 their pixels depend on the CPU's kernels:
# the real-codec test bed's 251 learned reconstructions differed between an AMD EPYC and an Intel Xeon
# (both AVX-512), and oneDNN/ATen ISA limits changed them here too (benchmarks/realbed_repro.py,
# docs/reproducibility.md). In float64 the kernels' differences (~1e-13 of a pixel step) are far below
# the distance of any rounded value from its rounding boundary, so symbols and pixels are the same on
# every CPU setting measured. "float32" stays as a faster opt-in and is named in the codec's tag.
PRECISIONS = ("float64", "float32")
DEFAULT_PRECISION = "float64"


def check_precision(name: str, precision: str) -> None:
    if precision not in PRECISIONS:
        raise CodecError(f"{name}: precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")


def precision_params(precision: str) -> dict[str, Any]:
    """The tag part of ``precision``: none for the default, so default tags stay as they were."""
    return {} if precision == DEFAULT_PRECISION else {"precision": precision}


def to_pixels(x: Any) -> np.ndarray:
    """A decoder's C×H×W torch output (nominally in [0, 1]) as H×W×3 uint8 pixels; the one place
    learned codecs round (half to even), so benchmarks/realbed_repro.py can measure its margins."""
    import torch

    return x.clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).contiguous().cpu().numpy()
