"""The one place that sets how many threads this process computes with.

``Settings.threads`` (``MISCOMP_THREADS``, else ``OMP_NUM_THREADS``, else 1) is resolved once by the
scan's plan and applied here: the OpenMP/MKL/OpenBLAS variables (for libraries not loaded yet),
OpenCV, and torch, once something has imported it. Code that imports torch later (a codec or a
captioner loading its model) calls :func:`apply_threads` again without a count, which re-applies the
count in force instead of its own: three sites used to set torch to 1 thread and overrode the
setting. One thread is the default because on shared 2-core machines torch's default threads made
recognition and codecs several times slower (notes/measured.md).
"""

from __future__ import annotations

import os
import sys

_applied: int | None = None


def apply_threads(n: int | None = None) -> int:
    """Apply ``n`` threads (default: the count applied before, else the environment's setting) and
    return it."""
    global _applied
    if n is None:
        if _applied is None:
            from miscomp.settings import Settings

            _applied = Settings.from_env().threads
        n = _applied
    if n < 1:
        raise ValueError(f"threads must be at least 1, got {n}")
    _applied = n
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(n)
    if "cv2" in sys.modules:
        sys.modules["cv2"].setNumThreads(n)
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        if torch.get_num_threads() != n:
            torch.set_num_threads(n)
    return n


def applied_threads() -> int | None:
    """The count :func:`apply_threads` set in this process (None: not yet)."""
    return _applied


__all__ = ["applied_threads", "apply_threads"]
