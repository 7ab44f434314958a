"""Arrays a detector keeps on disk for the same original's next codec (issue 28: the marginal cost).

A scan's unit of work is one original with all its codecs. What a detector computes from the original
alone (the structure detector's edges and orientation, the diff detector's Lab, local statistics,
gradients and activity) is the same for every codec, but for a tiled photo it is too large to hold in
memory: ~32-48 MB a tile, 0.3-0.8 GB for a 12 MP photo, against a 24 MP scan that must stay below
1.5 GB. So it goes to files in a temporary folder and is read back, the same bytes, for the next codec
(reading 40 MB back costs ~10 ms; making it again 40-150 ms). Only the current original is kept (a new
one clears the files), up to a byte budget; the folder goes with the object, or when the process (a
scan's worker included) exits; a process killed by a signal leaves it in the temporary folder.
Files are read with plain reads into new arrays, not memory-mapped: the resident set holds what the
detector uses, as when it computes the arrays.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Hashable, Sequence
from pathlib import Path

import numpy as np


class Spill:
    """Arrays by key, for the current original only, in files of a temporary folder."""

    def __init__(self, max_bytes: int, prefix: str = "miscomp-spill-") -> None:
        self.max_bytes = int(max_bytes)
        self.prefix = prefix
        self._folder: Path | None = None
        self._owner = ""
        self._entries: dict[Hashable, tuple[Path, list[tuple[tuple[int, ...], np.dtype]]]] = {}
        self.nbytes = 0

    def owner(self, sha256: str) -> bool:
        """Say which original the next keys belong to (a content hash; ``@x,y,w,h`` tile suffixes are
        ignored): another one than before drops everything kept, and True says so."""
        owner = sha256.partition("@")[0]
        if owner == self._owner:
            return False
        self.clear()
        self._owner = owner
        return True

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def put(self, key: Hashable, arrays: Sequence[np.ndarray]) -> bool:
        """Keep ``arrays`` under ``key`` while the budget lasts; False where they were not kept."""
        nbytes = sum(a.nbytes for a in arrays)
        if key in self._entries or self.nbytes + nbytes > self.max_bytes:
            return False
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix=self.prefix))
            # multiprocessing's finalizer, not weakref.finalize: a worker started by fork or
            # forkserver ends through os._exit, which skips atexit (and weakref.finalize with it);
            # multiprocessing runs its own at every process's exit, the main one included.
            from multiprocessing.util import Finalize

            Finalize(self, shutil.rmtree, (self._folder,), {"ignore_errors": True}, exitpriority=0)
        path = self._folder / f"{len(self._entries)}-{self.nbytes}.bin"
        with open(path, "wb") as f:
            for a in arrays:
                np.ascontiguousarray(a).tofile(f)
        self._entries[key] = (path, [(a.shape, a.dtype) for a in arrays])
        self.nbytes += nbytes
        return True

    def get(self, key: Hashable) -> list[np.ndarray] | None:
        """The arrays kept under ``key`` (new arrays, equal to those put), or None."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        path, layout = entry
        with open(path, "rb") as f:
            return [np.fromfile(f, dtype, int(np.prod(shape))).reshape(shape) for shape, dtype in layout]

    def clear(self) -> None:
        for path, _ in self._entries.values():
            path.unlink(missing_ok=True)
        self._entries, self.nbytes, self._owner = {}, 0, ""

    @property
    def folder(self) -> Path | None:
        return self._folder
