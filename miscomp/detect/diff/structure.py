"""Salient structure compared as structure: does each long, coherent edge of the original survive?

Generative decoders hallucinate texture everywhere, so the texture difference is large everywhere and
a dissolved clock hand drowns in the noise model. A clock hand, a pole, a window frame or an
object's outline is a different kind of thing: a *long, coherent* edge. For every such edge pixel of
the original we ask how much of its contrast the reconstruction keeps **across the edge, with the
same polarity, within ±1 px** — random hallucinated texture has no consistent sign along a line and
keeps ≈ 0; a blurred edge keeps what the codec's blur keeps everywhere. So the measure is relative
to the artefact model's prediction (:func:`miscomp.detect.diff.artefacts.predicted`) and to the
pair's own median over all structures: a line is *dissolved* (or moved by more than a pixel) when
it keeps far less than the codec's ordinary blur would leave and far less than the pair's other
lines keep.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from miscomp.detect.diff.config import STRUCTURE

if TYPE_CHECKING:  # maps imports this module (lazily) for salient_structure
    from miscomp.detect.diff.maps import PairMaps


@dataclass(frozen=True)
class StructureChange:
    """A dissolved (or moved) piece of salient structure."""

    box: tuple[int, int, int, int]
    length_px: int  # dissolved edge pixels
    kept: float  # mean share of the expected contrast the reconstruction keeps there
    kept_pair: float  # median share over all structures of the pair
    contrast: float  # mean edge contrast of the original there (L*/px)

    def info(self) -> dict:
        return {"length_px": self.length_px, "kept": round(self.kept, 3),
                "kept_pair": round(self.kept_pair, 3), "contrast": round(self.contrast, 2)}  # fmt: skip

    def evidence(self) -> str:
        return (
            f"a coherent edge/line of {self.length_px} px dissolved or moved: the reconstruction keeps "
            f"{100 * max(self.kept, 0):.0f}% of its contrast where the codec's blur predicts it, the pair's "
            f"other structures keep {100 * self.kept_pair:.0f}%"
        )


def _gradients(lum: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lum = cv2.GaussianBlur(lum, (0, 0), 1.0)
    return cv2.Sobel(lum, cv2.CV_32F, 1, 0, ksize=3) / 8, cv2.Sobel(lum, cv2.CV_32F, 0, 1, ksize=3) / 8


def _across(gx: np.ndarray, gy: np.ndarray, ys, xs, nx, ny, reach: int = 1) -> np.ndarray:
    """Largest gradient along the normal (nx, ny), same polarity, within ±``reach`` px of each point."""
    h, w = gx.shape
    best = np.full(ys.shape, -np.inf, np.float32)
    for k in range(-reach, reach + 1):
        yy = np.clip(np.rint(ys + k * ny).astype(np.intp), 0, h - 1)
        xx = np.clip(np.rint(xs + k * nx).astype(np.intp), 0, w - 1)
        best = np.maximum(best, gx[yy, xx] * nx + gy[yy, xx] * ny)
    return best


def salient_structure(lum: np.ndarray, grad: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Mask of the salient edge pixels of the original's L*: long, coherent, contrasted edges."""
    gx, gy = grad if grad is not None else _gradients(lum)
    # cv2.magnitude: 15× faster than np.hypot on float32; they differ in the last bit, which only a
    # contrast of exactly STRUCTURE.min_contrast could notice (same findings on the 60 check pairs).
    mag = cv2.magnitude(gx, gy)
    j11 = cv2.GaussianBlur(gx * gx, (0, 0), STRUCTURE.coh_sigma)
    j22 = cv2.GaussianBlur(gy * gy, (0, 0), STRUCTURE.coh_sigma)
    j12 = cv2.GaussianBlur(gx * gy, (0, 0), STRUCTURE.coh_sigma)
    coherence = np.sqrt((j11 - j22) ** 2 + 4 * j12**2) / (j11 + j22 + 1e-3)
    edges = cv2.Canny(np.clip(lum * 2.55, 0, 255).astype(np.uint8), 30, 80) > 0
    cand = edges & (coherence >= STRUCTURE.min_coherence) & (mag >= STRUCTURE.min_contrast)
    # Canny breaks thin anti-aliased diagonals (a clock hand) into 1–4 px pieces: link pieces a pixel
    # apart before measuring length, then keep only the edge pixels themselves.
    linked = cv2.dilate(cand.astype(np.uint8), np.ones((3, 3), np.uint8))
    n, labels = cv2.connectedComponents(linked, connectivity=8)
    length = np.bincount(labels[cand], minlength=n)
    long = length >= STRUCTURE.min_length
    long[0] = False
    return cand & long[labels]


@dataclass(frozen=True)
class SalientPoints:
    """The original's salient edge pixels (:func:`salient_structure`) with what
    :func:`dissolved_structures` needs of the original there: the same for every codec, so kept
    between codecs (a few hundred kB where the mask and maps they come from take MBs)."""

    ys: np.ndarray  # int32 row, column of each salient pixel (row-major order, as np.nonzero)
    xs: np.ndarray
    mag: np.ndarray  # float32 gradient magnitude of the original's L* there (L*/px)
    nx: np.ndarray  # float32 unit normal of the edge (the gradient's direction)
    ny: np.ndarray
    density: np.ndarray  # float32 the salient mask blurred along the structure (σ along_sigma), ≥ 1e-6

    def arrays(self) -> tuple[np.ndarray, ...]:
        return self.ys, self.xs, self.mag, self.nx, self.ny, self.density


def salient_points(lum: np.ndarray, grad: tuple[np.ndarray, np.ndarray] | None = None) -> SalientPoints:
    """:func:`salient_structure` of the original's L* as points (see :class:`SalientPoints`)."""
    gx, gy = grad if grad is not None else _gradients(lum)
    mask = salient_structure(lum, (gx, gy))
    ys, xs = np.nonzero(mask)
    mag = np.hypot(gx[ys, xs], gy[ys, xs])
    density = np.empty(0, np.float32)  # too few points: dissolved_structures stops before it
    if ys.size >= STRUCTURE.min_dissolved:
        # Blurred over the whole mask, read at the points: the same values as dividing whole images.
        den = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), STRUCTURE.along_sigma)
        density = np.maximum(den, 1e-6)[ys, xs]
    # int32 rows and columns: ys + k·ny is float64 from int32 as from intp (numpy's promotion).
    ys, xs = ys.astype(np.int32), xs.astype(np.int32)
    return SalientPoints(ys, xs, mag, gx[ys, xs] / mag, gy[ys, xs] / mag, density)


def dissolved_structures(pm: PairMaps) -> list[StructureChange]:
    """Pieces of the original's salient structure the reconstruction lost beyond the codec's blur."""
    lum_o = pm.lab_o[..., 0]
    pts = pm.orig.points
    ys, xs, mag, nx, ny = pts.ys, pts.xs, pts.mag, pts.nx, pts.ny
    if ys.size < STRUCTURE.min_dissolved:
        return []
    got = _across(*pm.grads["r"], ys, xs, nx, ny)
    expected = _across(*pm.grads["p"], ys, xs, nx, ny)
    # Share kept relative to what the ordinary artefacts keep (blur lowers both alike).
    ratio = np.zeros(lum_o.shape, np.float32)
    ratio[ys, xs] = np.clip(got / np.maximum(expected, 0.25 * mag), -1, 2)
    # Averaged along the structure: one noisy pixel is not a dissolved line.
    local = cv2.GaussianBlur(ratio, (0, 0), STRUCTURE.along_sigma)[ys, xs] / pts.density
    kept_pair = float(np.median(local))
    # The pair's median speaks for "what this codec does to structure" only when there is enough
    # other structure; a picture with one line that dissolves has a median of that line alone.
    limit = (
        STRUCTURE.keep_below
        if ys.size < STRUCTURE.pair_structure_px
        else min(STRUCTURE.keep_below, STRUCTURE.relative_to_pair * kept_pair)
    )
    bad = local < limit
    if bad.sum() < STRUCTURE.min_dissolved:
        return []
    gone = np.zeros(lum_o.shape, np.uint8)
    gone[ys[bad], xs[bad]] = 1
    joined = cv2.dilate(gone, np.ones((7, 7), np.uint8))
    n, labels = cv2.connectedComponents(joined, connectivity=8)
    which = labels[ys[bad], xs[bad]]
    h, w = lum_o.shape
    out = []
    for i in range(1, n):
        sel = which == i
        if sel.sum() < STRUCTURE.min_dissolved:
            continue
        by, bx = ys[bad][sel], xs[bad][sel]
        x0, y0 = max(0, int(bx.min()) - 3), max(0, int(by.min()) - 3)
        x1, y1 = min(w, int(bx.max()) + 4), min(h, int(by.max()) + 4)
        out.append(
            StructureChange(
                box=(x0, y0, x1 - x0, y1 - y0),
                length_px=int(sel.sum()),
                kept=float(local[bad][sel].mean()),
                kept_pair=kept_pair,
                contrast=float(mag[bad][sel].mean()),
            )  # fmt: skip
        )
    return sorted(out, key=lambda s: -s.length_px)
