"""Hand the C heap's freed memory back to the system between the stages of a pair.

The detectors' large arrays and onnxruntime's tensors are allocated with ``malloc``. glibc keeps what
they free for later allocations instead of returning it, and a later stage that allocates in other
sizes (or by ``mmap``) does not reuse it: it stays in the resident set. On a 24 MP scan the floor rose
by ~250 MB across the OCR detector's text detection (windows of many sizes) and the next detector's
peak came on top of it (issue 28, docs/decisions/small-text.md). One 1536² text detection: +570 MB
while it runs, +220 MB still resident after it, +10 MB after :func:`trim_heap`.
"""

from __future__ import annotations

import ctypes
import functools
import sys
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    # Looked up once per process: the scan calls trim_heap after every detector and OCR window, and
    # the C library cannot change under a running process.
    if sys.platform != "linux":
        return None
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def trim_heap() -> bool:
    """Return the heap's free memory to the system (glibc's ``malloc_trim(0)``: ~1 ms to tens of ms).
    False where the C library has no such call (not Linux, musl): nothing happens there. What is in
    use is never touched, so no result depends on it."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


__all__ = ["trim_heap"]
