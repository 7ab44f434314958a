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
pairs (tiny noise, tiny p90) from amplifying nothing into findings. The explained maps use their own
median with the raw map's spread, capped at the raw z (:func:`z_maps`).

Regions are hysteresis-thresholded connected components of the fused z map (max over maps), closed to
merge fragments, filtered by size, scored by ``peak / (peak + threshold)`` (0.5 at threshold) and
classified by :mod:`miscomp.taxonomy`. Regions that only the colour maps see are held to a stricter
threshold and size (``colour_gate``): at WebP q5 small colour-only blobs are what is left of chroma
bleeding.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import cv2
import numpy as np

from miscomp.detect.diff.artefacts import ArtefactModel, fit_artefacts, grid_mask, predicted
from miscomp.detect.diff.config import DIFF, MAPS
from miscomp.findings import Region

if TYPE_CHECKING:  # structure imports this module for PairMaps
    from miscomp.detect.diff.structure import SalientPoints

# Smallest deviation worth a finding, per map, whatever the noise level (MapsConfig).
FLOORS = MAPS.floors()
COLOUR_MAPS = frozenset({"chroma", "lightness"})


@dataclass(frozen=True)
class Candidate:
    """A changed region before classification: box, its pixel mask inside the box, and z statistics."""

    region: Region
    mask: np.ndarray  # bool, shape (h, w) of the box
    peak_z: float
    maps: tuple[str, ...]  # which maps exceed the threshold inside the region


_C1, _C2 = (0.01 * 100) ** 2, (0.03 * 100) ** 2  # SSIM constants for L* in 0..100
# uint8 → float32 in 0..1 by table: the same values as ``rgb.astype(np.float32) / 255`` at a third of
# the cost (0.8 vs 2.1 ms per 768×512 image; three images per pair).
_TO_UNIT = (np.arange(256, dtype=np.float32) / 255.0).reshape(1, 256)


def _lab(rgb: np.ndarray) -> np.ndarray:
    """CIE Lab (float32, L* 0..100) of a uint8 RGB image."""
    return cv2.cvtColor(cv2.LUT(np.ascontiguousarray(rgb, dtype=np.uint8), _TO_UNIT), cv2.COLOR_RGB2Lab)


def _local_stats(lum: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local mean, variance and squared mean of L* (σ 1.5 window), shared by every SSIM this lum
    enters."""
    mu = cv2.GaussianBlur(lum, (0, 0), 1.5)
    sq = np.square(mu)
    var = cv2.GaussianBlur(lum * lum, (0, 0), 1.5)
    var -= sq
    return mu, var, sq


def _ssim_loss(lo, stats_o, lr, stats_r) -> np.ndarray:
    """1 − local SSIM on L*.

    In place, term for term as ``1 − (2 μo μr + C1)(2 cov + C2) / ((μo² + μr² + C1)(σo² + σr² + C2))``
    (the same values): each 768×512 temporary costs about as much as the arithmetic on it."""
    (mu_o, var_o, sq_o), (mu_r, var_r, sq_r) = stats_o, stats_r
    num = mu_o * mu_r
    cov = cv2.GaussianBlur(lo * lr, (0, 0), 1.5)
    cov -= num
    num *= 2  # (2 μo) μr and 2 (μo μr) round alike: doubling is exact
    num += _C1
    cov *= 2
    cov += _C2
    num *= cov
    den = sq_o + sq_r
    den += _C1
    var = var_o + var_r
    var += _C2
    den *= var
    num /= den
    return np.subtract(1.0, num, out=num)


def _grad(lum: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lum = cv2.GaussianBlur(lum, (0, 0), 1.0)
    # scale=1/8 inside Sobel: the same values as dividing afterwards (a power of two), no temporary.
    return (
        cv2.Sobel(lum, cv2.CV_32F, 1, 0, ksize=3, scale=0.125),
        cv2.Sobel(lum, cv2.CV_32F, 0, 1, ksize=3, scale=0.125),
    )


@dataclass(frozen=True)
class PairMaps:
    """The difference maps of a pair, the original's activity, and the artefact model behind them.

    The Lab images and L* gradients (σ 1 px, L*/px) of original, reconstruction and prediction are
    kept for :mod:`.structure`, which compares edges with the same gradients."""

    maps: dict[str, np.ndarray]
    model: ArtefactModel
    lab_o: np.ndarray
    lab_r: np.ndarray
    lab_p: np.ndarray  # the original with the codec's ordinary artefacts (artefacts.predicted)
    grads: dict[str, tuple[np.ndarray, np.ndarray]]  # "o", "r", "p" → (gx, gy)
    raw: dict[str, np.ndarray]  # the maps against the original alone: the noise model is fitted on them
    orig: OriginalMaps  # what came from the original alone (kept between codecs)

    @property
    def activity(self) -> np.ndarray:
        """The original's local activity (what the noise model bins pixels by)."""
        return self.orig.activity


@dataclass(frozen=True)
class OriginalDigest:
    """The small part of :class:`OriginalMaps` that is worth keeping for every tile of an original
    between its codecs: the noise model's activity bins (without the per-pixel LUT cells) and the
    salient structure's points. On a 1024² tile of kodim14 upscaled to 12 MP they took ~0.5 MB and
    ~40 ms a codec to make (salient structure 31, its density 6, the bins' quantiles ~5 ms), where
    the tile's whole maps take ~40 MB."""

    bins: ActivityBins | None
    points: SalientPoints | None

    @property
    def nbytes(self) -> int:
        parts = [*(self.bins.arrays() if self.bins else ()), *(self.points.arrays() if self.points else ())]
        return sum(a.nbytes for a in parts)


@dataclass(frozen=True)
class OriginalMaps:
    """What :func:`pair_maps` computes from the original alone (Lab, L* plane, local statistics, L*
    gradients; activity, its noise-model bins and the salient structure when first asked for): the
    same for every codec of an original, so a scan computes it once per original (~17 % of the diff
    detector's time on a Kodak pair). ``digest``: bins and salient points kept from an earlier codec
    (a tile of a large original, whose whole maps are not kept)."""

    lab: np.ndarray
    lum: np.ndarray
    stats: tuple[np.ndarray, np.ndarray, np.ndarray]
    grad: tuple[np.ndarray, np.ndarray]
    digest: OriginalDigest | None = None

    @functools.cached_property
    def activity(self) -> np.ndarray:
        """Local activity: luminance and chroma gradients, so isoluminant colour edges (where 4:2:0
        chroma subsampling bleeds) count as busy too."""
        lab_o, (gx_o, gy_o) = self.lab, self.grad
        chroma = np.abs(cv2.Sobel(np.ascontiguousarray(lab_o[..., 1]), cv2.CV_32F, 1, 0)) + np.abs(
            cv2.Sobel(np.ascontiguousarray(lab_o[..., 2]), cv2.CV_32F, 0, 1)
        )
        return cv2.GaussianBlur(
            np.sqrt(gx_o**2 + gy_o**2) + chroma / 8 + np.sqrt(np.maximum(self.stats[1], 0)), (0, 0), 3.0
        )

    @functools.cached_property
    def bins(self) -> ActivityBins:
        """The activity bins of the noise model (:func:`activity_bins`), shared by every map."""
        if self.digest is not None and self.digest.bins is not None:
            return self.digest.bins.expanded(self.activity)
        return activity_bins(self.activity)

    @functools.cached_property
    def points(self) -> SalientPoints:
        """The original's salient structure (:func:`.structure.salient_points`, ~22 ms on Kodak)."""
        if self.digest is not None and self.digest.points is not None:
            return self.digest.points
        from miscomp.detect.diff.structure import salient_points

        return salient_points(self.lum, self.grad)

    def digested(self) -> OriginalDigest:
        """The bins and points made so far (what was never asked for stays None), compact."""
        made = self.__dict__
        return OriginalDigest(made["bins"].compact() if "bins" in made else None, made.get("points"))


def original_maps(original: np.ndarray, digest: OriginalDigest | None = None) -> OriginalMaps:
    lab_o = _lab(original)
    # L* planes as contiguous arrays: OpenCV copies a strided view (lab[..., 0]) on every call.
    lum = np.ascontiguousarray(lab_o[..., 0])
    return OriginalMaps(lab_o, lum, _local_stats(lum), _grad(lum), digest)


def pair_maps(
    original: np.ndarray,
    reconstruction: np.ndarray,
    codec: str = "",
    explain: bool = True,
    null_reference: np.ndarray | None = None,
    orig: OriginalMaps | None = None,
) -> PairMaps:
    """The four smoothed difference maps, each the smaller of (reconstruction vs original) and
    (reconstruction vs the original with this codec's ordinary artefacts): what the artefact model
    explains is not a change. ``explain=False`` gives the raw maps (for comparison).
    ``null_reference`` (RGB, e.g. the original through JPEG at the pair's rate) is a third reference:
    what it also gets wrong is not held against the reconstruction. ``orig``: the original's maps
    from :func:`original_maps`, when the caller already has them."""
    om = orig if orig is not None else original_maps(original)
    lab_o, lab_r = om.lab, _lab(reconstruction)
    model = fit_artefacts(lab_o, lab_r, codec)
    lab_p = predicted(lab_o, model, om.lum) if explain else lab_o
    refs = {"o": lab_o, "p": lab_p} if explain else {"o": lab_o}
    if explain and null_reference is not None:
        refs["j"] = _lab(null_reference)
    on_grid = grid_mask(lab_o.shape[:2], model.grid) if explain else None

    # L* planes as contiguous arrays: OpenCV copies a strided view (lab[..., 0]) on every call.
    lum = {k: np.ascontiguousarray(v[..., 0]) for k, v in (("r", lab_r), *refs.items()) if k != "o"}
    lum["o"] = om.lum
    lr = lum["r"]
    grads = {"r": _grad(lr)}
    gx_r, gy_r = grads["r"]
    stats_r = _local_stats(lr)
    stats: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {"o": om.stats}
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
        if key != "o":
            stats[key] = _local_stats(lum[key])
        structure.append(_ssim_loss(lum[key], stats[key], lr, stats_r))
        grads[key] = gx, gy = om.grad if key == "o" else _grad(lum[key])
        gd = np.square(gx - gx_r)
        gd += np.square(gy - gy_r)
        np.sqrt(gd, out=gd)
        if on_grid is not None and model.grid:
            # Steps on block boundaries are blocking; a real contour change also shows between them.
            np.multiply(gd, 0.3, out=gd, where=on_grid)
        edges.append(gd)
    grads.setdefault("p", grads["o"])
    pick = lambda ms: functools.reduce(np.minimum, ms)  # noqa: E731  (no stacked copy as minimum.reduce)
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
    return PairMaps(maps, model, lab_o, lab_r, lab_p, grads, raw, om)


def difference_maps(
    original: np.ndarray, reconstruction: np.ndarray, codec: str = ""
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The smoothed difference maps and the original's local activity (all float32 H×W)."""
    pm = pair_maps(original, reconstruction, codec)
    return pm.maps, pm.activity


@dataclass(frozen=True)
class ActivityBins:
    """The activity side of the noise model, the same for every map of a pair: computed once.

    (Per map it cost 2 quantiles, 12 medians and a LUT index over the image: with four maps, a third
    of the detector's time on Kodak before it was shared.)"""

    step: int
    members: np.ndarray  # (bins with ≥ 20 pixels) × (largest bin): indices into the subsampled image,
    counts: np.ndarray  # ... the first counts[i] of row i; the rest point one past the end
    centres: np.ndarray  # median activity of those bins
    lut_index: np.ndarray  # per pixel: its activity's cell on the fine LUT grid
    grid: np.ndarray  # the LUT grid of activities, 0 .. top
    top: float  # the activity's maximum (1 when it is 0)

    def arrays(self) -> tuple[np.ndarray, ...]:
        return self.members, self.counts, self.centres, self.lut_index, self.grid

    def compact(self) -> ActivityBins:
        """The bins to keep between codecs: the per-pixel LUT cells left out (2 MB of ~2.5 MB on a
        1024² tile; :meth:`expanded` makes them again from the activity, ~20 ms) and the members'
        indices in the smallest integer type that holds them."""
        small = self.members.astype(np.min_scalar_type(self.members.max(initial=0)), copy=False)
        return replace(self, members=small, lut_index=np.empty(0, np.intp))

    def expanded(self, activity: np.ndarray) -> ActivityBins:
        """Kept bins made whole again for the same ``activity`` (as :func:`activity_bins` made them)."""
        return replace(self, members=self.members.astype(np.intp), lut_index=lut_cells(activity, self.top))


def lut_cells(activity: np.ndarray, top: float) -> np.ndarray:
    """Each pixel's cell on the LUT grid 0 .. ``top`` (``MAPS.lut`` cells)."""
    return (activity * ((MAPS.lut - 1) / top)).astype(np.intp)


def activity_bins(activity: np.ndarray, step: int = 4) -> ActivityBins:
    """Bins of equal pixel count over the original's activity (subsampled every ``step`` px)."""
    sub_a = activity[::step, ::step].ravel()
    edges = np.quantile(sub_a, np.linspace(0, 1, MAPS.bins + 1))
    which = np.clip(np.searchsorted(edges, sub_a, side="right") - 1, 0, MAPS.bins - 1)
    members, centres = [], []
    for b in range(MAPS.bins):
        idx = np.flatnonzero(which == b)
        if idx.size < 20:
            continue
        members.append(idx)
        centres.append(float(np.median(sub_a[idx])))
    counts = np.array([m.size for m in members], np.intp)
    table = np.full((len(members), counts.max(initial=0)), sub_a.size, np.intp)
    for row, m in zip(table, members, strict=True):
        row[: m.size] = m
    # Interpolate the curves on a fine activity grid and look pixels up: np.interp per pixel cost
    # more than everything else here together.
    top = float(activity.max()) or 1.0
    grid = np.linspace(0.0, top, MAPS.lut)
    return ActivityBins(step, table, counts, np.array(centres), lut_cells(activity, top), grid, top)


_QS = np.array([0.5, MAPS.spread_q])


def _bin_quantiles(values: np.ndarray, counts: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Quantiles ``q`` of every row's first ``counts`` values (the rest are +inf), exactly as
    ``np.quantile(row[:count], q)`` (method "linear") computes them, for all rows at once: one
    quantile call per activity bin and map cost ~4 % of the detector."""
    srt = np.sort(values, axis=1)
    vi = (counts - 1)[:, None] * q[None, :]
    prev = np.floor(vi)
    gamma = vi - prev
    rows = np.arange(len(counts))[:, None]
    a = srt[rows, prev.astype(np.intp)]
    b = srt[rows, np.minimum(prev.astype(np.intp) + 1, (counts - 1)[:, None])]
    # numpy's _lerp, term for term (the same rounding): a + (b − a)·γ, or b − (b − a)·(1 − γ) from γ ≥ 0.5.
    diff = np.subtract(b, a)
    out = np.asanyarray(np.add(a, diff * gamma))
    np.subtract(b, diff * (1 - gamma), out=out, where=gamma >= 0.5, casting="unsafe", dtype=out.dtype.type)
    return out


def noise_curves(
    fit: np.ndarray,
    activity: np.ndarray | None,
    floor: float,
    step: int = 4,
    bins: ActivityBins | None = None,
    median_only: bool = False,
    robust: bool = False,
) -> tuple[np.ndarray, np.ndarray | None] | None:
    """Per-pixel (median, scale) of the noise model fitted on ``fit``; None when it cannot be fitted.
    ``bins`` (from :func:`activity_bins` on ``activity``) reuses the binning of another map (then
    ``activity`` may be None); ``median_only`` leaves the scale out (None)."""
    if bins is None or bins.step != step:
        if activity is None:
            raise ValueError("noise_curves needs the activity or its bins at this step")
        bins = activity_bins(activity, step)
    if not bins.counts.size:
        return None
    sub_v = fit[::step, ::step].ravel()
    qs = _bin_quantiles(np.append(sub_v, np.inf)[bins.members], bins.counts, _QS)
    med, p90 = qs[:, 0], qs[:, 1]
    # Noise only grows with activity: a monotone envelope stops one lucky bin from hiding a change.
    # A large change can fill most of one activity bin (a flat object, a striped field) and inflate
    # that bin's spread; capping the spread at a multiple of the whole image's keeps it visible.
    # ``robust``: the whole image's spread is also bounded from its upper quartile, which a change
    # covering a tenth of the image does not reach (MapsConfig.global_q, global_ratio).
    glob_med, glob_q, glob_u = np.quantile(sub_v, [0.5, MAPS.spread_q, MAPS.global_q])
    spread = glob_q - glob_med
    if robust:
        spread = min(spread, MAPS.global_ratio * (glob_u - glob_med))
    cap = max(MAPS.spread_cap * spread, floor)
    med_curve = np.maximum.accumulate(np.minimum(med, glob_med + cap))
    spread = np.minimum(np.maximum.accumulate(p90) - med_curve, cap)
    scale = np.maximum(spread, floor)
    m = np.interp(bins.grid, bins.centres, med_curve).astype(np.float32)[bins.lut_index]
    if median_only:
        return m, None
    s = np.interp(bins.grid, bins.centres, scale).astype(np.float32)[bins.lut_index]
    return m, s


def find_candidates(
    original: np.ndarray,
    reconstruction: np.ndarray,
    threshold: float = DIFF.threshold,
    low: float = DIFF.low,
    min_area_fraction: float = DIFF.min_area_fraction,
    max_regions: int = DIFF.max_regions,
    codec: str = "",
    pm: PairMaps | None = None,
    raw: bool = False,
    zs: dict[str, np.ndarray] | None = None,
    colour_gate: tuple[float, float] | None = None,
) -> list[Candidate]:
    """Changed regions ranked by peak z (highest first); ``pm`` reuses maps already computed.

    ``raw=True`` finds them in the maps against the original alone (before the artefact model
    explains anything): what is found there and not in the explained maps is an ordinary artefact."""
    h, w = original.shape[:2]
    if zs is None:
        pm = pm or pair_maps(original, reconstruction, codec)
        zs = z_maps(pm)[1 if raw else 0]
    return _components(zs, (h, w), threshold, low, min_area_fraction, max_regions, colour_gate)


def z_maps(pm: PairMaps) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(explained, raw) z maps: raw z = (raw − median)/spread of the raw map's noise model; explained
    z = (explained − its own median)/the same spread, capped at the raw z (explaining never raises
    a z; the spread is never taken from the explained map, whose collapse made blur misfits stand
    out)."""
    explained, raw = {}, {}
    bins = pm.orig.bins
    for name, value in pm.maps.items():
        robust = name in MAPS.robust_maps
        # The bins, not the activity: an original's tile kept from an earlier codec has only them.
        curves = noise_curves(pm.raw[name], None, FLOORS[name], bins=bins, robust=robust)
        if curves is None:
            explained[name] = raw[name] = np.zeros_like(value)
            continue
        m, s = curves
        if pm.raw[name] is value:
            explained[name] = raw[name] = np.divide(value - m, s, out=m)
            continue
        # The explained map is measured against its OWN median (per activity bin) with the raw
        # spread, and never above the raw z. Against the raw median it lost the codec's typical
        # error twice: where the null model is this very codec (JPEG at the tag's quality) the
        # explained map holds the change alone, and subtracting the raw median from it pushed
        # texture ×2.1–2.6 and ΔL +6 changes below the threshold. detection_quality, JPEG q ≥ 50,
        # tuning seeds 7 / 11, recall amplitude and geometry: 0.88/0.79 and 0.90/0.85 before;
        # 0.88/0.84 and 0.95/0.95 with this; with the region limits of DiffDetector too 0.94/0.90
        # and 0.95/1.00 (those limits alone, at threshold 2.5: 0.88/0.79 and 1.00/1.00). No false
        # finding on the 39 clean pairs in any of these.
        own = noise_curves(value, None, FLOORS[name], bins=bins, median_only=True, robust=robust)
        m_e = own[0] if own is not None else m.copy()
        raw[name] = np.divide(pm.raw[name] - m, s, out=m)
        explained[name] = np.minimum(np.divide(value - m_e, s, out=m_e), raw[name])
    return explained, raw


def _components(
    zs: dict[str, np.ndarray],
    shape: tuple[int, int],
    threshold: float,
    low: float,
    min_area_fraction: float,
    max_regions: int,
    colour_gate: tuple[float, float] | None = None,
) -> list[Candidate]:
    """``colour_gate`` (threshold, min area fraction): stricter limits for regions that only the
    colour maps see (see :class:`miscomp.detect.diff.DiffDetector`)."""
    h, w = shape
    fused = functools.reduce(np.maximum, zs.values())
    weak = (fused > low).astype(np.uint8)
    close = max(3, int(round(0.01 * min(h, w))) | 1)
    weak = cv2.morphologyEx(
        weak, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (close, close))
    )
    n, labels, stats, _ = cv2.connectedComponentsWithStats(weak, connectivity=8)
    min_area = max(24, min_area_fraction * h * w)
    out: list[Candidate] = []
    # Hysteresis: the component needs a core above the high threshold of a meaningful size (which
    # also puts its peak above the threshold). Counted for all components at once: a raw map at
    # low bpp has ~8000 specks, and looping over them in Python cost ~4 ms a pair.
    strong = np.bincount(labels[fused > threshold], minlength=n)
    keep = (stats[:, cv2.CC_STAT_AREA] >= min_area) & (strong >= min_area / 4)
    keep[0] = False
    for i in np.flatnonzero(keep):
        x, y, bw, bh, area = (int(v) for v in stats[i])
        comp = labels[y : y + bh, x : x + bw] == i
        peak = float(fused[y : y + bh, x : x + bw][comp].max())
        names = tuple(k for k, z in zs.items() if (z[y : y + bh, x : x + bw][comp] > threshold).any())
        if colour_gate is not None and set(names) <= COLOUR_MAPS:
            c_thr, c_area = colour_gate
            c_min = max(24, c_area * h * w)
            if (
                peak <= c_thr
                or area < c_min
                or ((fused[y : y + bh, x : x + bw] > c_thr) & comp).sum() < c_min / 4
            ):
                continue
        out.append(Candidate(Region(x, y, bw, bh, peak / (peak + threshold)), comp, peak, names))
    out.sort(key=lambda c: -c.peak_z)
    return out[:max_regions]


def _patch(img: np.ndarray, region: Region, pad: int) -> tuple[np.ndarray, tuple[int, int]]:
    y0, x0 = max(0, region.y - pad), max(0, region.x - pad)
    y1, x1 = min(img.shape[0], region.y + region.h + pad), min(img.shape[1], region.x + region.w + pad)
    return img[y0:y1, x0:x1], (x0, y0)
