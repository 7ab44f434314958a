"""What the diff detector keeps of the original it is working on, for that original's next codec.

A scan's unit of work is one original with all its codecs, so only the current original is kept; a
new content hash replaces it. Two kinds of entry:

- an original seen **whole** and at most ``DiffConfig.cache_max_pixels``: its whole
  :class:`~miscomp.detect.diff.maps.OriginalMaps` (Lab, statistics, gradients, activity, ...), one
  entry (~40 MB per megapixel);
- a **tile** of a larger original (``tiles.detect_tiled`` gives each tile the key
  ``<sha256>@x,y,w,h``), or a whole original above that size: only its
  :class:`~miscomp.detect.diff.maps.OriginalDigest` (the noise model's activity bins and the salient
  structure's points, ~3 MB per 1024² tile), for every tile, up to ``DiffConfig.digest_max_bytes`` in
  all. Holding whole maps for every tile would cost ~1 GB on a 12 MP photo; a tile's next codec
  recomputes the cheap part (Lab, statistics, gradients: ~25 ms of a 1024² tile) and reuses the rest.
- and, up to ``DiffConfig.spill_max_bytes``, a tile's per-pixel maps (Lab, local mean and variance,
  gradients, activity: 32 MB a 1024² tile) in a temporary file (:class:`miscomp.spill.Spill`), read
  back for the next codec: the same values for ~10 ms instead of ~45 ms of a tile's ~320 ms (session
  36, docs/decisions/diff-cost.md).
"""

from __future__ import annotations

import numpy as np

from miscomp.detect.diff.maps import OriginalDigest, OriginalMaps, original_maps
from miscomp.spill import Spill


class OriginalCache:
    """The current original's maps (whole images) and digests (tiles); see the module docstring."""

    def __init__(self, max_pixels: int, max_bytes: int, spill_bytes: int = 0) -> None:
        self.max_pixels = int(max_pixels)
        self.max_bytes = int(max_bytes)
        self._spill = Spill(spill_bytes, "miscomp-diff-")
        self.clear()

    def clear(self) -> None:
        self._original = ""  # the content hash of the original the entries belong to
        self._whole: tuple[tuple, OriginalMaps] | None = None
        self._digests: dict[tuple, OriginalDigest] = {}
        self._bytes = 0
        self._spill.clear()

    @property
    def nbytes(self) -> int:
        """Bytes held by the digests (the whole maps of a small original not counted)."""
        return self._bytes

    def maps(self, original: np.ndarray, sha256: str) -> OriginalMaps:
        """The original's maps, with what an earlier codec left of them. ``sha256``: the original's
        content hash, with ``@x,y,w,h`` for a tile (empty: nothing is kept)."""
        if not sha256:
            return original_maps(original)
        owner, _, tile = sha256.partition("@")
        if owner != self._original:
            self.clear()
            self._original = owner
        key = (sha256, original.shape)
        if not tile and original.shape[0] * original.shape[1] <= self.max_pixels:
            if self._whole is None or self._whole[0] != key:
                self._whole = (key, original_maps(original))
            return self._whole[1]
        spilled = self._spill.get(key)
        if spilled is not None:
            return _from_spill(spilled, self._digests.get(key))
        return original_maps(original, self._digests.get(key))

    def keep(self, om: OriginalMaps, original: np.ndarray, sha256: str) -> None:
        """After a codec: keep the digest of a tile's (or a large original's) maps, while the budget
        lasts. The whole maps of a small original are already kept by :meth:`maps`."""
        key = (sha256, original.shape)
        if not sha256 or key in self._digests or (self._whole is not None and self._whole[0] == key):
            return
        digest = om.digested()
        if self._bytes + digest.nbytes <= self.max_bytes:
            self._digests[key] = digest
            self._bytes += digest.nbytes
        if "activity" in om.__dict__:  # made for the noise model (always, in a detection)
            self._spill.owner(sha256)
            self._spill.put(key, (om.lab, om.stats[0], om.stats[1], *om.grad, om.activity))


def _from_spill(arrays: list[np.ndarray], digest: OriginalDigest | None) -> OriginalMaps:
    """The maps :func:`original_maps` made, from what :meth:`OriginalCache.keep` spilled: the L* plane
    is a contiguous copy of Lab's first channel and the squared local mean the mean squared, as
    there (the same values)."""
    lab, mu, var, gx, gy, activity = arrays
    om = OriginalMaps(lab, np.ascontiguousarray(lab[..., 0]), (mu, var, np.square(mu)), (gx, gy), digest)
    om.__dict__["activity"] = activity  # the cached property, as made before
    return om
