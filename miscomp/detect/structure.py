"""Structure channel: was the original's salient structure replaced, blurred, or is it texture?

At low rate a generative decoder replaces what it cannot afford with plausible texture, and the
pixel-statistics channel explains that away as an artefact. This channel asks of every window of
the original that holds structure (ticks, numerals, hands, pictogram strokes, edges of small objects)
whether the reconstruction keeps *those* edges, and compares with the classical codec at the same
rate (the diff detector's null model, JPEG at the pair's bpp), which is what an ordinary artefact
does there. Three outcomes are told apart (issue 26):

- **replaced**: the orientation of the original's structure is no longer there (structure-tensor
  orientation agreement, weighted by the original's gradient energy, drops by ``orientation_drop``
  below the null model's) while the gradient energy stays (other edges at similar energy). A
  miscompression: changed contours (the taxonomy decides the category as for any region).
- **blurred**: the same drop with the energy gone as well: dissolved contours. Since the null model
  keeps that structure at this rate, the meaning went; what JPEG also blurs never gets here.
- **texture**: the original's window is unstructured (dense edges, or scattered orientation: grass,
  foliage, water, rock). A resynthesised texture there is no miscompression; never a finding.

Measured before choosing (docs/decisions/structure.md): edge correspondence with a 2 px tolerance
did not separate (Canny edges of redrawn numerals stay within 2 px; wood grain that TAEF2 moves by a
pixel loses them), orientation agreement against the null model did.

The measures are computed once per pair on the whole image (Canny edges, their distance transforms,
gradient energy, structure-tensor orientation) and summed per 32 px cell; a window is 2×2 cells
(64 px, stride 32). Measured options and the chosen numbers: ``STRUCTURE_CONFIG`` and
``docs/decisions/structure.md`` (benchmarks/structure.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np

from miscomp.config import defined, tuned
from miscomp.detect.base import DETECTORS, Detector, PairImages
from miscomp.findings import Category, Finding
from miscomp.geometry import Box


@dataclass(frozen=True)
class StructureConfig:
    """The structure channel's numbers. Tune split: rendered scenes seeds 1-2 (benchmarks/structure_scenes)
    and Kodak 02, 03, 05, 07; held out: scene seed 3 and Kodak 13, 16, 19, 21, 22, 23, 24
    (docs/decisions/structure.md)."""

    tolerance: int = defined(2, "edges within 2 px correspond: ringing and half-pixel shifts stay inside")
    min_edge_px: int = defined(48, "a window holds structure when >= 48 of its 4096 px are original edges")
    max_edge_density: float = defined(
        0.22, "denser edges are texture (grass, foliage, gravel); a clock face or a sign stays below 0.12"
    )
    min_coherence: float = defined(
        0.45, "structure-tensor coherence below 0.45 (energy-weighted) is scattered orientation: texture"
    )
    orientation_drop: float = tuned(
        0.22,
        "tune split: orientation agreement of the original's structure, JPEG at the rate minus the codec",
        "max over salient windows: Kodak TAEF2 bits 4-6, JPEG q10, WebP q5 <= 0.18; scenes bmshj q1 "
        "gauges 0.54-0.59, clocks 0.26-0.28; TAEF2 bits 2 0.21-0.27",
    )
    replaced_energy: float = defined(
        0.75,
        "replaced keeps >= 75 % of the null model's gradient energy (other edges); less is blurred",
    )
    max_findings: int = defined(6, "at most this many window groups per pair (the strongest)")
    cell: int = defined(
        32, "grid step of the 64 px windows (2 × 2 cells): a clock numeral or a tick fits one"
    )
    side_cache_bytes: int = defined(
        1 << 30,
        "temporary disk for the original's per-pixel maps between its codecs (OriginalSides): a 24 MP "
        "photo's 12 tiles take 580 MB; 0 keeps nothing",
    )


STRUCTURE_CONFIG = StructureConfig()
CELL = STRUCTURE_CONFIG.cell


def _gray(rgb: np.ndarray) -> np.ndarray:
    # OpenCV reads a tile (a view with a longer row stride) in place; copying it first was 0.22 s of
    # a 12 MP WebP pair's 3.8 (docs/decisions/diff-cost.md, s37). The null model's image is a BGR
    # decode seen as RGB: its buffer is converted as BGR (the same weights per channel, the same bits).
    if rgb.strides[-1] < 0:
        return cv2.cvtColor(rgb[..., ::-1], cv2.COLOR_BGR2GRAY)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def _edges(gray: np.ndarray) -> np.ndarray:
    """Canny edges with thresholds from the image's own gradient scale (so a blurred image keeps
    the edges it still has)."""
    return cv2.Canny(cv2.GaussianBlur(gray, (0, 0), 1.0), 40, 100) > 0


def _grad(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # Sobel of the uint8 image straight to float32: small integers, the same values as of its float
    # copy, without the copy.
    return cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)


def _tensor(gx: np.ndarray, gy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Structure tensor (σ 2 px): doubled-angle orientation (cos, sin) and coherence.

    In place, term for term as ``a, b = jxx − jyy, 2 jxy``; ``mag = √(a² + b²)``;
    ``coh = mag / (jxx + jyy + 1e-3)``; ``a / (mag + 1e-6), b / (mag + 1e-6)`` (the same values: each
    2048² temporary cost about as much as the arithmetic on it)."""
    jxx = cv2.GaussianBlur(gx * gx, (0, 0), 2.0)
    jyy = cv2.GaussianBlur(gy * gy, (0, 0), 2.0)
    b = cv2.GaussianBlur(gx * gy, (0, 0), 2.0)
    b *= 2  # doubling is exact
    a = jxx - jyy
    mag = a * a
    mag += b * b
    np.sqrt(mag, out=mag)
    jxx += jyy
    jxx += 1e-3
    coh = np.divide(mag, jxx, out=jxx)
    mag += 1e-6
    a /= mag
    b /= mag
    return a, b, coh


def _near(edges: np.ndarray, tolerance: int) -> np.ndarray:
    """Pixels within ``tolerance`` px of an edge by OpenCV's 3×3 chamfer distance (``distanceTransform``,
    DIST_L2, mask 3), as a dilation by the chamfer disc of that radius: the same pixels (a chamfer
    distance is a shortest 8-neighbour path, which never leaves the box of its two ends, so the
    nearest edge's distance is the disc's), a tenth of the time (2 vs 25 ms on a 2048² tile)."""
    r = 2 * int(tolerance) + 1
    dot = np.ones((2 * r + 1, 2 * r + 1), np.uint8)
    dot[r, r] = 0
    disc = (cv2.distanceTransform(dot, cv2.DIST_L2, 3) <= tolerance).astype(np.uint8)
    return cv2.dilate(edges.astype(np.uint8), disc) > 0


def _cells(x: np.ndarray, cell: int = CELL) -> np.ndarray:
    """Sum over ``cell``×``cell`` blocks (the image cropped to whole cells)."""
    h, w = x.shape[0] // cell, x.shape[1] // cell
    x = x[: h * cell, : w * cell]
    if x.dtype == bool:
        # Counts: integers, summed exactly in int32 (the same values as a float sum), 2.5× faster.
        return x.view(np.uint8).reshape(h, cell, w, cell).sum(axis=(1, 3), dtype=np.int32).astype(np.float64)
    return x.reshape(h, cell, w, cell).sum(axis=(1, 3), dtype=np.float64)


def _windows(c: np.ndarray) -> np.ndarray:
    """2×2-cell window sums (stride one cell)."""
    return c[:-1, :-1] + c[1:, :-1] + c[:-1, 1:] + c[1:, 1:]


@dataclass(frozen=True)
class WindowStats:
    """Per-window measures (arrays of the window grid's shape)."""

    edge_px: np.ndarray  # original edge pixels
    density: np.ndarray  # original edge pixels / window area
    coherence: np.ndarray  # energy-weighted structure-tensor coherence of the original
    recall_rec: np.ndarray  # share of original edges with a reconstruction edge within tolerance
    recall_null: np.ndarray  # ... with a null-model edge within tolerance
    precision_rec: np.ndarray  # share of reconstruction edges near an original edge
    energy_rec: np.ndarray  # gradient energy, reconstruction / original
    energy_null: np.ndarray
    orient_rec: np.ndarray  # energy-weighted orientation agreement cos 2Δθ, original vs reconstruction
    orient_null: np.ndarray


@dataclass(frozen=True)
class OriginalSide:
    """What :func:`window_stats` needs of the original, whatever it is compared with: its edges and the
    pixels near them, its gradient magnitude and structure-tensor orientation (per pixel), and their
    window sums."""

    edges: np.ndarray  # bool
    near: np.ndarray  # bool: within the tolerance of an edge
    mag: np.ndarray  # float32 gradient magnitude
    cos: np.ndarray  # float32 doubled-angle orientation (cos, sin)
    sin: np.ndarray
    edge_px: np.ndarray  # window sums: edge pixels, gradient energy, energy × coherence
    energy: np.ndarray
    coherent: np.ndarray


def original_side(original: np.ndarray, tolerance: int = 2) -> OriginalSide:
    go = _gray(original)
    eo = _edges(go)
    gxo, gyo = _grad(go)
    co, so, coh = _tensor(gxo, gyo)
    mag_o = np.hypot(gxo, gyo)
    return OriginalSide(eo, _near(eo, tolerance), mag_o, co, so, _w(eo), _w(mag_o), _w(mag_o * coh))


def _w(x: np.ndarray) -> np.ndarray:
    """Window sums of a per-pixel map."""
    return _windows(_cells(x if x.dtype == bool else np.asarray(x, np.float32)))


def window_stats(
    original: np.ndarray, reconstruction: np.ndarray, null: np.ndarray | None, tolerance: int = 2,
    side: OriginalSide | None = None,
) -> WindowStats:  # fmt: skip
    """``side``: :func:`original_side` of ``original`` with this tolerance, when the caller has it."""
    o = original_side(original, tolerance) if side is None else side
    eo, near_o, mag_o, co, so, n_o, w_mag_o = o.edges, o.near, o.mag, o.cos, o.sin, o.edge_px, o.energy
    gr = _gray(reconstruction)
    er = _edges(gr)
    out = {}
    out["edge_px"] = n_o
    out["density"] = n_o / (4 * CELL * CELL)
    e_o = w_mag_o + 1e-3
    out["coherence"] = o.coherent / e_o
    for tag, g, e in (("rec", gr, er), ("null", None, None)):
        if tag == "null" and null is None:
            # The original is its own reference: its measures from above, not made again (the same
            # values; a third of this function's time on a 2048-px tile of a WebP pair).
            # Its window sums too: every original edge is near itself (eo & near_o is eo), and its
            # gradient energy is summed above.
            c, s, w_near, w_mag = co, so, n_o, w_mag_o
        else:
            if tag == "null":
                g = _gray(null)
                e = _edges(g)
            gx, gy = _grad(g)
            c, s, _ = _tensor(gx, gy)
            w_near, w_mag = _w(eo & _near(e, tolerance)), _w(np.hypot(gx, gy))
        out[f"recall_{tag}"] = w_near / np.maximum(n_o, 1)
        out[f"energy_{tag}"] = w_mag / e_o
        out[f"orient_{tag}"] = _w(mag_o * (co * c + so * s)) / e_o
        if tag == "rec":
            out["precision_rec"] = _w(e & near_o) / np.maximum(_w(e), 1)
    return WindowStats(**out)


class OriginalSides:
    """:func:`original_side` of the current original's tiles, kept for its next codec.

    A tile's side costs ~0.15 s of a 2048² tile's ~0.8 s (gray, Canny, gradients, structure tensor),
    the same for every codec of one original; its per-pixel maps are 48 MB a 2048² tile (12 MP: 6
    tiles, 290 MB; 24 MP: 580 MB), more than a 24 MP scan's memory allows (issue 28: ≤ 1.5 GB). So the
    float maps go to a temporary file (:class:`miscomp.spill.Spill`) and are read back for the next
    codec (the same values); the edge masks (bit-packed, 1 MB a tile) and window sums stay in memory.
    Only the current original is kept, up to ``max_bytes`` on disk."""

    def __init__(self, max_bytes: int) -> None:
        from miscomp.spill import Spill

        self._spill = Spill(max_bytes, "miscomp-structure-")
        self._small: dict[tuple, tuple] = {}  # bit-packed edge masks and window sums, in memory

    def get(self, original: np.ndarray, key: str, tolerance: int) -> OriginalSide:
        """The side of ``original`` (content hash ``key``, ``<sha256>@x,y,w,h`` for a tile; empty:
        nothing kept)."""
        if not key or self._spill.max_bytes <= 0:
            return original_side(original, tolerance)
        if self._spill.owner(key):  # another original: what was kept in memory goes with the files
            self._small = {}
        k = (key, original.shape, tolerance)
        if k in self._spill and k in self._small:
            mag, cos, sin = self._spill.get(k)
            edges, near, edge_px, energy, coherent = self._small[k]
            n = mag.size
            unpack = lambda b: np.unpackbits(b, count=n).reshape(mag.shape).view(bool)  # noqa: E731
            return OriginalSide(unpack(edges), unpack(near), mag, cos, sin, edge_px, energy, coherent)
        side = original_side(original, tolerance)
        if self._spill.put(k, (side.mag, side.cos, side.sin)):
            packed = np.packbits(side.edges), np.packbits(side.near)
            self._small[k] = (*packed, side.edge_px, side.energy, side.coherent)
        return side


def candidate_windows(side: OriginalSide, cfg: StructureConfig = STRUCTURE_CONFIG) -> np.ndarray:
    """The windows :func:`classify_windows` can call replaced or blurred, from the original alone: those
    that hold structure and are not texture (the same expressions as :func:`window_stats` and
    :func:`classify_windows`, so the same windows)."""
    structure = side.edge_px >= cfg.min_edge_px
    density = side.edge_px / (4 * CELL * CELL)
    coherence = side.coherent / (side.energy + 1e-3)
    return structure & ~((density > cfg.max_edge_density) | (coherence < cfg.min_coherence))


def classify_windows(st: WindowStats, cfg: StructureConfig = STRUCTURE_CONFIG) -> np.ndarray:
    """Per window: 0 no structure or kept, 1 replaced, 2 blurred (both beyond the null model), 3 texture.

    Without a null model (rate unknown) the original itself is the reference (agreement 1.0)."""
    structure = st.edge_px >= cfg.min_edge_px
    texture = structure & ((st.density > cfg.max_edge_density) | (st.coherence < cfg.min_coherence))
    changed = structure & ~texture & (st.orient_null - st.orient_rec >= cfg.orientation_drop)
    similar = st.energy_rec >= cfg.replaced_energy * st.energy_null
    out = np.zeros(st.edge_px.shape, np.int8)
    out[texture] = 3
    out[changed & ~similar] = 2
    out[changed & similar] = 1
    return out


@DETECTORS.register("structure", cost="cheap", needs_model=False, default=True)
class StructureDetector(Detector):
    """Salient structure (ticks, hands, pictograms, small objects) replaced or dissolved beyond JPEG."""

    name: ClassVar[str] = "structure"

    def __init__(self, cache_dir: Path | None = None, null: bool = True) -> None:
        self.cfg = STRUCTURE_CONFIG
        self.null = bool(null)
        from miscomp.detect.diff.artefacts import NullLadders

        self._ladders = NullLadders()  # the null model's rates of the current original, per tile
        self._sides = OriginalSides(self.cfg.side_cache_bytes)  # its window statistics' original side
        self._timing = {"pairs": 0, "skipped": 0, "seconds": 0.0}

    def info(self) -> dict:
        from miscomp.config import to_dict

        t = self._timing
        per_pair = round(t["seconds"] / t["pairs"], 4) if t["pairs"] else None
        return {"config": to_dict(self.cfg), "null_model": "jpeg" if self.null else "off",
                "timing": {**t, "seconds": round(t["seconds"], 3), "seconds_per_pair": per_pair}}  # fmt: skip

    def detect(self, images: PairImages) -> list[Finding]:
        t0 = time.process_time()
        orig, rec = images.original, images.reconstruction
        if orig.shape != rec.shape or min(orig.shape[:2]) < 2 * CELL:
            return []
        side = self._sides.get(orig, images.original_sha256, self.cfg.tolerance)
        if candidate_windows(side, self.cfg).any():
            null = None
            if self.null:
                from miscomp.detect.diff.artefacts import null_reconstruction

                null = null_reconstruction(
                    orig, images.codec, images.bpp, self._ladders, images.original_sha256
                )
            st = window_stats(orig, rec, null, self.cfg.tolerance, side)
            findings = self._findings(images, st, classify_windows(st, self.cfg))
        else:
            # No window of the original holds structure that is not texture: nothing can be found,
            # whatever the reconstruction, so its maps and the null model are not made.
            findings = []
            self._timing["skipped"] += 1
        self._timing["pairs"] += 1
        self._timing["seconds"] += time.process_time() - t0
        return findings

    def _findings(self, images: PairImages, st: WindowStats, kind: np.ndarray) -> list[Finding]:
        """One finding per connected group of replaced/blurred windows (the strongest first)."""
        hit = (kind == 1) | (kind == 2)
        if not hit.any():
            return []
        n, labels = cv2.connectedComponents(hit.astype(np.uint8), connectivity=8)
        groups = []
        for k in range(1, n):
            ys, xs = np.nonzero(labels == k)
            lost = st.orient_null[ys, xs] - st.orient_rec[ys, xs]
            i = int(np.argmax(lost))
            groups.append((float(lost[i]), ys, xs, i))
        groups.sort(key=lambda g: -g[0])
        out = []
        for lost, ys, xs, i in groups[: self.cfg.max_findings]:
            y, x = int(ys[i]), int(xs[i])
            what = "replaced" if kind[y, x] == 1 else "blurred"
            box = Box(int(xs.min()) * CELL, int(ys.min()) * CELL, int(xs.max() - xs.min() + 2) * CELL,
                      int(ys.max() - ys.min() + 2) * CELL)  # fmt: skip
            at = lambda a, y=y, x=x: round(float(a[y, x]), 3)  # noqa: E731
            details = {
                "kind": what, "windows": len(ys), "edge_px": int(st.edge_px[y, x]),
                "edges_kept": at(st.recall_rec), "edges_kept_null": at(st.recall_null),
                "energy": at(st.energy_rec), "energy_null": at(st.energy_null),
                "orientation_agreement": at(st.orient_rec), "orientation_agreement_null": at(st.orient_null),
            }  # fmt: skip
            evidence = (
                f"structure {what}: orientation agreement {details['orientation_agreement']:.2f} "
                f"(JPEG at this rate {details['orientation_agreement_null']:.2f}), gradient energy "
                f"{details['energy']:.0%} (JPEG {details['energy_null']:.0%}), edges kept within "
                f"{self.cfg.tolerance} px {details['edges_kept']:.0%} (JPEG {details['edges_kept_null']:.0%})"
            )
            category, text = _classify(images, box)
            score = min(0.9, 0.3 + lost)  # 0.5 at an orientation drop of 0.2 (just under the threshold)
            out.append(Finding(
                pair_id=images.pair_id, detector=self.name, x=box.x, y=box.y, w=box.w, h=box.h,
                category=category, symbol=False, score=round(score, 4), evidence=evidence + text,
                details=details,
            ))  # fmt: skip
        return out


def _classify(images: PairImages, box: Box) -> tuple[str, str]:
    from miscomp.taxonomy import classify

    x, y, w, h = box
    ih, iw = images.original.shape[:2]
    x1, y1 = min(iw, x + w), min(ih, y + h)
    mask = np.ones((y1 - y, x1 - x), bool)
    try:
        category, _conf, text = classify(images.original[y:y1, x:x1], images.reconstruction[y:y1, x:x1], mask,
                                         mask.size / (ih * iw))  # fmt: skip
    except ValueError:
        return Category.SHAPE.value, ""
    return category.value, f"; {text}"
