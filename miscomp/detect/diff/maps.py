"""Difference maps and the pair's noise model: local changes that stand out against the codec's noise.

Four cheap difference maps, each smoothed over a few pixels:

- **colour**: ΔE (CIE76) between *locally averaged* Lab colours — codec noise is roughly zero-mean
  and averages away, a brightness or colour change of an object does not;
- **structure**: 1 − local SSIM on L* — moved, warped or re-drawn detail;
- **edges**: magnitude of the gradient-vector difference — contours that moved or appeared.

Each map is the smaller of two: the reconstruction against the original, and against the original
with this codec's ordinary artefacts (blur, chroma bleeding, blocking; :mod:`.artefacts`).

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

import cv2
import numpy as np

from miscomp.detect.diff.artefacts import ArtefactModel, fit_artefacts, grid_mask, predicted
from miscomp.findings import Region

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


_C1, _C2 = (0.01 * 100) ** 2, (0.03 * 100) ** 2  # SSIM constants for L* in 0..100


def _local_stats(lum: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local mean and variance of L* (σ 1.5 window), shared by every SSIM this lum enters."""
    mu = cv2.GaussianBlur(lum, (0, 0), 1.5)
    return mu, cv2.GaussianBlur(lum * lum, (0, 0), 1.5) - mu**2


def _ssim_loss(lo, stats_o, lr, stats_r) -> np.ndarray:
    """1 − local SSIM on L*."""
    (mu_o, var_o), (mu_r, var_r) = stats_o, stats_r
    cov = cv2.GaussianBlur(lo * lr, (0, 0), 1.5) - mu_o * mu_r
    num = (2 * mu_o * mu_r + _C1) * (2 * cov + _C2)
    return 1.0 - num / ((mu_o**2 + mu_r**2 + _C1) * (var_o + var_r + _C2))


def _grad(lum: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lum = cv2.GaussianBlur(lum, (0, 0), 1.0)
    return cv2.Sobel(lum, cv2.CV_32F, 1, 0, ksize=3) / 8, cv2.Sobel(lum, cv2.CV_32F, 0, 1, ksize=3) / 8


@dataclass(frozen=True)
class PairMaps:
    """The difference maps of a pair, the original's activity, and the artefact model behind them.

    The Lab images and L* gradients (σ 1 px, L*/px) of original, reconstruction and prediction are
    kept for :mod:`.structure`, which compares edges with the same gradients."""

    maps: dict[str, np.ndarray]
    activity: np.ndarray
    model: ArtefactModel
    lab_o: np.ndarray
    lab_r: np.ndarray
    lab_p: np.ndarray  # the original with the codec's ordinary artefacts (artefacts.predicted)
    grads: dict[str, tuple[np.ndarray, np.ndarray]]  # "o", "r", "p" → (gx, gy)
    raw: dict[str, np.ndarray]  # the maps against the original alone: the noise model is fitted on them


def pair_maps(
    original: np.ndarray,
    reconstruction: np.ndarray,
    codec: str = "",
    explain: bool = True,
    null_reference: np.ndarray | None = None,
) -> PairMaps:
    """The four smoothed difference maps, each the smaller of (reconstruction vs original) and
    (reconstruction vs the original with this codec's ordinary artefacts): what the artefact model
    explains is not a change. ``explain=False`` gives the raw maps (for comparison).
    ``null_reference`` (RGB, e.g. the original through JPEG at the pair's rate) is a third reference:
    what it also gets wrong is not held against the reconstruction."""
    lab_o = cv2.cvtColor(original.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    lab_r = cv2.cvtColor(reconstruction.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    model = fit_artefacts(lab_o, lab_r, codec)
    lab_p = predicted(lab_o, model) if explain else lab_o
    refs = {"o": lab_o, "p": lab_p} if explain else {"o": lab_o}
    if explain and null_reference is not None:
        refs["j"] = cv2.cvtColor(null_reference.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    on_grid = grid_mask(lab_o.shape[:2], model.grid) if explain else None

    lr = lab_r[..., 0]
    grads = {"r": _grad(lr)}
    gx_r, gy_r = grads["r"]
    stats_r = _local_stats(lr)
    stats: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    lightness, chroma_diff, structure, edges = [], [], [], []
    h, w = lr.shape
    same_l = explain and model.sigma_l == 0
    for key, ref in refs.items():
        # The locally averaged difference (σ 2.5 px) is smooth: computed at half resolution and
        # enlarged it differs by < 0.05 ΔE and costs a quarter.
        small = cv2.GaussianBlur(cv2.resize(lab_r - ref, (w // 2, h // 2), interpolation=cv2.INTER_AREA),
                                 (0, 0), 1.25)  # fmt: skip
        mean_diff = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        lightness.append(np.abs(mean_diff[..., 0]))
        chroma_diff.append(np.sqrt(mean_diff[..., 1] ** 2 + mean_diff[..., 2] ** 2))
        if key == "p" and same_l:  # no luminance blur in the model: L* of the prediction is the original's
            grads["p"] = grads["o"]
            continue
        stats[key] = _local_stats(ref[..., 0])
        structure.append(_ssim_loss(ref[..., 0], stats[key], lr, stats_r))
        grads[key] = gx, gy = _grad(ref[..., 0])
        gd = np.sqrt((gx - gx_r) ** 2 + (gy - gy_r) ** 2)
        if on_grid is not None and model.grid:
            # Steps on block boundaries are blocking; a real contour change also shows between them.
            gd = np.where(on_grid, 0.3 * gd, gd)
        edges.append(gd)
    grads.setdefault("p", grads["o"])
    pick = lambda ms: np.minimum.reduce(ms) if len(ms) > 1 else ms[0]  # noqa: E731
    maps = {
        "lightness": pick(lightness),
        "chroma": pick(chroma_diff),
        "structure": cv2.GaussianBlur(pick(structure), (0, 0), 2.0),
        "edges": cv2.GaussianBlur(pick(edges), (0, 0), 2.0),
    }
    raw = maps
    if explain:
        raw = {"lightness": lightness[0], "chroma": chroma_diff[0],
               "structure": cv2.GaussianBlur(structure[0], (0, 0), 2.0),
               "edges": cv2.GaussianBlur(edges[0], (0, 0), 2.0)}  # fmt: skip
    # Activity: luminance and chroma gradients, so isoluminant colour edges (where 4:2:0 chroma
    # subsampling bleeds) count as busy too.
    gx_o, gy_o = grads["o"]
    var_o = stats["o"][1]
    chroma = np.abs(cv2.Sobel(lab_o[..., 1], cv2.CV_32F, 1, 0)) + np.abs(
        cv2.Sobel(lab_o[..., 2], cv2.CV_32F, 0, 1)
    )
    activity = cv2.GaussianBlur(
        np.sqrt(gx_o**2 + gy_o**2) + chroma / 8 + np.sqrt(np.maximum(var_o, 0)), (0, 0), 3.0
    )
    return PairMaps(maps, activity, model, lab_o, lab_r, lab_p, grads, raw)


def difference_maps(
    original: np.ndarray, reconstruction: np.ndarray, codec: str = ""
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The smoothed difference maps and the original's local activity (all float32 H×W)."""
    pm = pair_maps(original, reconstruction, codec)
    return pm.maps, pm.activity


def noise_normalise(
    value: np.ndarray, activity: np.ndarray, floor: float, step: int = 4, fit: np.ndarray | None = None
) -> np.ndarray:
    """z = (m − median) / max(p90 − median, floor), median and p90 taken per activity bin of ``fit``
    (default ``value`` itself).

    The curves are fitted on the raw map (against the original) and applied to the explained map:
    explaining artefacts can only lower a z, never raise it. Fitted on the explained map itself, the
    spread collapses once blur is explained and the model's small misfits at edges stand out
    (a plain σ 1.6 blur then gave two "shape" findings at 0.51-0.54 on a 256 px test scene)."""
    curves = noise_curves(value if fit is None else fit, activity, floor, step)
    if curves is None:
        return np.zeros_like(value)
    m, s = curves
    return (value - m) / s


def noise_curves(
    fit: np.ndarray, activity: np.ndarray, floor: float, step: int = 4
) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-pixel (median, scale) of the noise model fitted on ``fit``; None when it cannot be fitted."""
    sub_a, sub_v = activity[::step, ::step].ravel(), fit[::step, ::step].ravel()
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
        return None
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
    return m, s


def find_candidates(
    original: np.ndarray,
    reconstruction: np.ndarray,
    threshold: float = 3.0,
    low: float = 1.5,
    min_area_fraction: float = 0.0003,
    max_regions: int = 20,
    codec: str = "",
    pm: PairMaps | None = None,
    raw: bool = False,
    zs: dict[str, np.ndarray] | None = None,
) -> list[Candidate]:
    """Changed regions ranked by peak z (highest first); ``pm`` reuses maps already computed.

    ``raw=True`` finds them in the maps against the original alone (before the artefact model
    explains anything): what is found there and not in the explained maps is an ordinary artefact."""
    h, w = original.shape[:2]
    if zs is None:
        pm = pm or pair_maps(original, reconstruction, codec)
        zs = z_maps(pm)[1 if raw else 0]
    return _components(zs, (h, w), threshold, low, min_area_fraction, max_regions)


def z_maps(pm: PairMaps) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(explained, raw) z maps: one noise model per map, fitted on the raw map, applied to both."""
    explained, raw = {}, {}
    for name, value in pm.maps.items():
        curves = noise_curves(pm.raw[name], pm.activity, FLOORS[name])
        if curves is None:
            explained[name] = raw[name] = np.zeros_like(value)
            continue
        m, s = curves
        explained[name] = (value - m) / s
        raw[name] = explained[name] if pm.raw[name] is value else (pm.raw[name] - m) / s
    return explained, raw


def _components(
    zs: dict[str, np.ndarray],
    shape: tuple[int, int],
    threshold: float,
    low: float,
    min_area_fraction: float,
    max_regions: int,
) -> list[Candidate]:
    h, w = shape
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
