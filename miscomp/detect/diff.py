"""The "diff" detector: local changes that stand out against the pair's own codec noise.

Three cheap difference maps, each smoothed over a few pixels:

- **colour**: ΔE (CIE76) between *locally averaged* Lab colours — codec noise is roughly zero-mean
  and averages away, a brightness or colour change of an object does not;
- **structure**: 1 − local SSIM on L* — moved, warped or re-drawn detail;
- **edges**: magnitude of the gradient-vector difference — contours that moved or appeared.

Codec error is not uniform: it grows with local texture (blocking and ringing live on edges and
foliage). So each map is normalised by a noise model fitted to *this* pair: pixels are binned by the
original's local activity, and in each bin the map's median and 99th percentile give
``z = (m − median) / (p90 − median)``. A uniformly noisy low-bpp image then has z ≈ 0…1 everywhere,
while a local change at the same bpp stands far above its bin. Per-map floors keep near-identical
pairs (tiny noise, tiny p90) from amplifying nothing into findings.

Regions are hysteresis-thresholded connected components of the fused z map (max over maps), closed to
merge fragments, filtered by size, scored by ``peak / (peak + threshold)`` (0.5 at threshold) and
classified by :mod:`miscomp.taxonomy`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from miscomp.detect.base import DETECTORS, Detector, PairImages
from miscomp.findings import Finding, Region

# Smallest deviation worth a finding, per map, whatever the noise level: ΔE units, 1−SSIM, L*/px.
FLOORS = {"lightness": 2.0, "chroma": 2.0, "structure": 0.08, "edges": 2.5}
_BINS = 12
# The spread quantile: low enough that a change filling a quarter of one activity bin cannot inflate it.
_SPREAD_Q = 0.9
_SPREAD_CAP = 4.0
_LUT = 1024


@dataclass(frozen=True)
class Candidate:
    """A changed region before classification: box, its pixel mask inside the box, and z statistics."""

    region: Region
    mask: np.ndarray  # bool, shape (h, w) of the box
    peak_z: float
    maps: tuple[str, ...]  # which maps exceed the threshold inside the region


def difference_maps(
    original: np.ndarray, reconstruction: np.ndarray
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The three smoothed difference maps and the original's local activity (all float32 H×W)."""
    lab_o = cv2.cvtColor(original.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    lab_r = cv2.cvtColor(reconstruction.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)

    mean_diff = cv2.GaussianBlur(lab_r - lab_o, (0, 0), 2.5)
    lightness = np.abs(mean_diff[..., 0])
    chroma_diff = np.sqrt(mean_diff[..., 1] ** 2 + mean_diff[..., 2] ** 2)

    lo, lr = lab_o[..., 0], lab_r[..., 0]
    blur = lambda a: cv2.GaussianBlur(a, (0, 0), 1.5)  # noqa: E731
    mu_o, mu_r = blur(lo), blur(lr)
    var_o = blur(lo * lo) - mu_o**2
    var_r = blur(lr * lr) - mu_r**2
    cov = blur(lo * lr) - mu_o * mu_r
    c1, c2 = (0.01 * 100) ** 2, (0.03 * 100) ** 2  # SSIM constants for a 0..100 range
    ssim = ((2 * mu_o * mu_r + c1) * (2 * cov + c2)) / ((mu_o**2 + mu_r**2 + c1) * (var_o + var_r + c2))
    structure = cv2.GaussianBlur(1.0 - ssim, (0, 0), 2.0)

    def grad(lab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lum = cv2.GaussianBlur(lab[..., 0], (0, 0), 1.0)
        return cv2.Sobel(lum, cv2.CV_32F, 1, 0, ksize=3) / 8, cv2.Sobel(lum, cv2.CV_32F, 0, 1, ksize=3) / 8

    gx_o, gy_o = grad(lab_o)
    gx_r, gy_r = grad(lab_r)
    edges = cv2.GaussianBlur(np.sqrt((gx_o - gx_r) ** 2 + (gy_o - gy_r) ** 2), (0, 0), 2.0)

    # Activity: luminance and chroma gradients, so isoluminant colour edges (where 4:2:0 chroma
    # subsampling bleeds) count as busy too.
    chroma = np.abs(cv2.Sobel(lab_o[..., 1], cv2.CV_32F, 1, 0)) + np.abs(
        cv2.Sobel(lab_o[..., 2], cv2.CV_32F, 0, 1)
    )
    activity = cv2.GaussianBlur(
        np.sqrt(gx_o**2 + gy_o**2) + chroma / 8 + np.sqrt(np.maximum(var_o, 0)), (0, 0), 3.0
    )
    maps = {"lightness": lightness, "chroma": chroma_diff, "structure": structure, "edges": edges}
    return maps, activity


def noise_normalise(value: np.ndarray, activity: np.ndarray, floor: float, step: int = 4) -> np.ndarray:
    """z = (m − median) / max(p90 − median, floor), median and p90 taken per activity bin."""
    sub_a, sub_v = activity[::step, ::step].ravel(), value[::step, ::step].ravel()
    edges = np.quantile(sub_a, np.linspace(0, 1, _BINS + 1))
    which = np.clip(np.searchsorted(edges, sub_a, side="right") - 1, 0, _BINS - 1)
    centres, med, p90 = [], [], []
    for b in range(_BINS):
        v = sub_v[which == b]
        if v.size < 20:
            continue
        centres.append(float(np.median(sub_a[which == b])))
        q = np.quantile(v, [0.5, _SPREAD_Q])
        med.append(q[0])
        p90.append(q[1])
    if not centres:
        return np.zeros_like(value)
    # Noise only grows with activity: a monotone envelope stops one lucky bin from hiding a change.
    # A large change can fill most of one activity bin (a flat object, a striped field) and inflate
    # that bin's spread; capping the spread at a multiple of the whole image's keeps it visible.
    glob_med, glob_q = np.quantile(sub_v, [0.5, _SPREAD_Q])
    cap = max(_SPREAD_CAP * (glob_q - glob_med), floor)
    med_curve = np.maximum.accumulate(np.minimum(np.array(med), glob_med + cap))
    spread = np.minimum(np.maximum.accumulate(np.array(p90)) - med_curve, cap)
    scale = np.maximum(spread, floor)
    # Interpolate the curves on a fine activity grid and look pixels up: np.interp per pixel cost
    # more than everything else here together.
    top = float(activity.max()) or 1.0
    grid = np.linspace(0.0, top, _LUT)
    idx = (activity * ((_LUT - 1) / top)).astype(np.intp)
    m = np.interp(grid, centres, med_curve).astype(np.float32)[idx]
    s = np.interp(grid, centres, scale).astype(np.float32)[idx]
    return (value - m) / s


def find_candidates(
    original: np.ndarray,
    reconstruction: np.ndarray,
    threshold: float = 3.0,
    low: float = 1.5,
    min_area_fraction: float = 0.0003,
    max_regions: int = 20,
) -> list[Candidate]:
    """Changed regions ranked by peak z (highest first)."""
    h, w = original.shape[:2]
    maps, activity = difference_maps(original, reconstruction)
    zs = {name: noise_normalise(m, activity, FLOORS[name]) for name, m in maps.items()}
    fused = np.maximum.reduce(list(zs.values()))
    weak = (fused > low).astype(np.uint8)
    close = max(3, int(round(0.01 * min(h, w))) | 1)
    weak = cv2.morphologyEx(
        weak, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (close, close))
    )
    n, labels, stats, _ = cv2.connectedComponentsWithStats(weak, connectivity=8)
    min_area = max(24, min_area_fraction * h * w)
    out: list[Candidate] = []
    for i in range(1, n):
        x, y, bw, bh, area = (int(v) for v in stats[i])
        if area < min_area:
            continue
        comp = labels[y : y + bh, x : x + bw] == i
        peak = float(fused[y : y + bh, x : x + bw][comp].max())
        # Hysteresis: the component needs a core above the high threshold of a meaningful size.
        strong = (fused[y : y + bh, x : x + bw] > threshold) & comp
        if peak <= threshold or strong.sum() < min_area / 4:
            continue
        names = tuple(k for k, z in zs.items() if (z[y : y + bh, x : x + bw][comp] > threshold).any())
        out.append(Candidate(Region(x, y, bw, bh, peak / (peak + threshold)), comp, peak, names))
    out.sort(key=lambda c: -c.peak_z)
    return out[:max_regions]


def _patch(img: np.ndarray, region: Region, pad: int) -> tuple[np.ndarray, tuple[int, int]]:
    y0, x0 = max(0, region.y - pad), max(0, region.x - pad)
    y1, x1 = min(img.shape[0], region.y + region.h + pad), min(img.shape[1], region.x + region.w + pad)
    return img[y0:y1, x0:x1], (x0, y0)


@DETECTORS.register("diff", cost="cheap", needs_model=False, default=True)
class DiffDetector(Detector):
    """Local colour/structure/edge changes beyond the pair's own codec noise, classified by taxonomy."""

    name = "diff"

    def __init__(
        self,
        cache_dir: Path | None = None,
        threshold: float = 3.0,
        low: float = 1.5,
        min_area_fraction: float = 0.0003,
        max_regions: int = 20,
    ) -> None:
        from miscomp.taxonomy import create_classifier

        # Resolved once, here: a taxonomy file that was asked for and is missing stops the run.
        self.classifier = create_classifier()
        self.threshold = float(threshold)
        self.low = float(low)
        self.min_area_fraction = float(min_area_fraction)
        self.max_regions = int(max_regions)

    def info(self) -> dict:
        return {
            "threshold": self.threshold,
            "low": self.low,
            "min_area_fraction": self.min_area_fraction,
            "max_regions": self.max_regions,
            "floors": FLOORS,
            "taxonomy": self.classifier.info(),
        }

    def detect(self, images: PairImages) -> list[Finding]:
        orig, rec = images.original, images.reconstruction
        if orig.shape != rec.shape:
            raise ValueError(
                f"{images.pair_id}: original {orig.shape} and reconstruction {rec.shape} differ in size"
            )
        total = orig.shape[0] * orig.shape[1]
        findings: list[Finding] = []
        for cand in find_candidates(
            orig, rec, self.threshold, self.low, self.min_area_fraction, self.max_regions
        ):
            reg = cand.region
            pad = max(8, int(0.25 * max(reg.w, reg.h)))
            po, (x0, y0) = _patch(orig, reg, pad)
            pr, _ = _patch(rec, reg, pad)
            mask = np.zeros(po.shape[:2], bool)
            mask[reg.y - y0 : reg.y - y0 + reg.h, reg.x - x0 : reg.x - x0 + reg.w] = cand.mask
            category, confidence, evidence = self.classifier.classify(po, pr, mask, cand.mask.sum() / total)
            details = {
                "peak_z": round(cand.peak_z, 2),
                "maps": list(cand.maps),
                "confidence": round(confidence, 3),
            }
            findings.append(
                Finding(
                    pair_id=images.pair_id,
                    detector=self.name,
                    x=reg.x,
                    y=reg.y,
                    w=reg.w,
                    h=reg.h,
                    category=category.value,
                    symbol=False,
                    score=round(reg.score, 4),
                    evidence=evidence,
                    details=details,
                )
            )
        return findings
