"""Which model explains the change in a region: motion models of increasing freedom, a colour model.

Everything is measured on the region's *core* (the pixels that changed strongly; the detector's mask
also holds a halo of weakly changed pixels that no model has to explain) and expressed as the share of
the change, above the codec's own noise floor, that a model explains:

    explained(m) = (E0 − E_m) / (E0 − N)

with E0 the mean Lab distance between original and reconstruction on the core, E_m the distance left
after undoing model m, and N the distance just outside the region (what the codec leaves everywhere).

Motion models are fitted by robust weighted least squares to the dense optical flow (OpenCV DIS) on the
core, in increasing freedom: translation (2 parameters), similarity (4), affine (6), and a smooth
non-rigid field (a cubic polynomial per axis, 20 parameters; also the dense flow itself). Each is judged
by the *photometric* error left after warping the reconstruction back with it, which the aperture
problem cannot fool. A detail that moved over surroundings that stayed is two layers, which no single
field over the whole region follows (the seam, and the kept surroundings inside the core, are
residual to any one motion): the *layered* models let each part of the reconstruction take the better
of the moved original and the original in place. The colour model is a per-pixel affine colour map
with a smooth offset and a high-frequency gain: brightness, contrast, colour casts, hue, saturation
and texture strength. A blur model (the best Gaussian smoothing of the original) tells strokes
smoothed away from strokes redrawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

_MIN_SIDE = 48  # DIS optical flow crashes (segfault) on images smaller than its patch pyramid
_CORE = 0.4  # core: blurred error ≥ this × the region's 95th percentile error
_MIN_CORE = 12
SCATTER_PX = 3  # a dissolved contour's pixels land within a few px of where they were
_EDGE_MIN = 2.0  # Lab units per px: weaker gradients are texture or codec noise, not contours
_CONTOUR_PX = 2  # px: an edge's own strength is its gradient's peak within this reach (a 5×5 window)
_FLOW_PRESETS = (cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, cv2.DISOPTICAL_FLOW_PRESET_FAST)
_BACK_INTERP = cv2.INTER_CUBIC  # undoing a motion: bilinear would blur and leave error of its own
_BLUR_SIGMAS = (0.8, 1.2, 1.8, 2.7, 4.0)  # px: the scales at which a codec's smoothing removes strokes
_LAYER_SIGMA = 2.0  # px: the neighbourhood over which a pixel chooses its layer (see _layered)
_CLIP = (5, 250)  # uint8 levels at the gamut's edge: a pixel there was clipped (JPEG rings a little)
# The ghost model (:func:`_ghost`): translations searched photometrically within ±_GHOST_REACH px (the
# issue's soft-edged shifts reach 9 px; the square's corners go further only so that a best fit beyond
# the reach, which the rules' `ghost_reach` refuses, is seen as one), on a grid of _GHOST_STEP px
# then refined to 1 px, and the neighbourhood (σ, px) over which the blend weight is one number: a
# soft mask's ramp is wider.
_GHOST_REACH = 10
_GHOST_STEP = 2
_GHOST_SIGMA = 4.0


@dataclass(frozen=True)
class RegionFeatures:
    """What each model explains of one region's change, and the fitted motion's parameters."""

    raw_error: float  # E0: mean Lab distance on the core
    noise_floor: float  # N: mean Lab distance just outside the region
    colour: float  # explained by the colour model (no motion)
    translation: float  # explained by one shift
    similarity: float  # shift + rotation + isotropic scale
    affine: float  # + anisotropic scale and shear
    nonrigid: float  # a smooth non-rigid field (cubic polynomial or the dense flow, the better)
    nonaffine_energy: float  # share of the smooth field's energy that no affine motion carries
    motion_px: float  # mean displacement of the affine motion on the core
    shift: tuple[float, float]  # affine displacement at the core's centre (x, y), px
    rotation_deg: float
    scale: float
    shear: float
    distribution_kept: float  # 1 − (distance between the core's colour distributions) / E0
    scatter: float  # explained by "every pixel came from somewhere within SCATTER_PX", no coherence
    coherence: float  # how much those per-pixel displacements agree between neighbours
    contours_kept: float  # edge profile kept in place, both ways (1: every contour still there)
    mean_dl: float  # mean L* change on the core (reconstruction − original)
    mean_dab: float  # magnitude of the mean a*b* change
    # Median displacement of the smoothed dense flow on the core, px: coherent motion. A dissolve's
    # pixels scatter independently, so its smoothed flow stays near 0 (median 0.16 px, 90th pct 0.30
    # on the generated dissolves); a swirl the fits cannot follow still moves coherently (10th pct 0.78).
    flow_px: float = 0.0
    # Band-pass (L*, σ 2 px) RMS of the reconstruction / the original on the core: texture strength.
    texture_ratio: float = 1.0
    # Correlation of the band-pass L* pattern between both sides on the core: 1 when the same texture
    # and contours are there, only stronger or weaker.
    pattern_kept: float = 1.0
    # Share of its motion by which the inner half's affine motion mispredicts the detail's outer half
    # (:func:`_bend`); None where the colours did not stay or nothing moved coherently (not measured:
    # only the rules' no-fit step reads it).
    bend: float | None = None
    # Explained by a smoothing of the original (the best Gaussian blur, σ in _BLUR_SIGMAS, plus a mean
    # colour offset), and that σ: contours an MSE codec blurred away.
    blur: float = 0.0
    blur_sigma: float = 0.0
    # Two layers: the detail moved by one low-freedom motion, its surroundings kept (:func:`_layered`);
    # explained by each motion model. 0.0 (nothing explained) for features made without them.
    layered_translation: float = 0.0
    layered_similarity: float = 0.0
    layered_affine: float = 0.0
    # Median displacement, px, of the moved layer of the model :attr:`layered` picks, on the core
    # pixels that layer takes: a sub-pixel "motion" is a redrawn edge, not a detail that moved.
    layered_px: float = 0.0
    # The same two layers the other way round, for the model :attr:`layered` picks: the reconstruction
    # moved back over the original in place explains this share of the change. A detail that moved can
    # be moved back; a glyph swapped for another can look like a part of the old one moved (4 → 1: 46%
    # forward) but the strokes that vanished have nothing to come back from (25% back).
    layered_back: float = 0.0
    # Explained by a *pointwise* colour mapping (:func:`_mapping`): each pixel's new colour a function of
    # its old colour alone, the function varying smoothly over the region (a soft-edged change), with
    # the pixels the reconstruction clipped at the gamut's edge left out. No neighbour enters, so no
    # contour can move, appear or vanish under it, except where it flattens everything: hence
    # ``mapping_gain``, the fitted L* gain at the core's centre (a monotone mapping keeps it well
    # above 0; an in-painted stroke or an eroded shape maps dark and bright to one level).
    mapping: float = 0.0
    mapping_gain: float = 0.0
    # The ghost model (:func:`_ghost`): the reconstruction as a soft blend of the original moved by one
    # translation (found by a photometric search, not the flow) and the original in place, the blend
    # weight varying smoothly. A shift blended in with a soft mask leaves a ghost of the old position
    # that neither one motion nor the hard two layers explain, and on fine texture (grass, water,
    # branches) the flow does not follow the shift at all. Explained share, the translation in px, and
    # the same model the other way round (the original as a blend of the reconstruction moved back and
    # the reconstruction in place).
    ghost: float = 0.0
    ghost_px: float = 0.0
    ghost_back: float = 0.0

    @property
    def low_freedom(self) -> tuple[str, float]:
        """The simplest rigid-enough model that explains nearly as much as the best of the three."""
        return _simplest({n: getattr(self, n) for n in ("translation", "similarity", "affine")})

    @property
    def layered(self) -> tuple[str, float]:
        """:attr:`low_freedom` for the two-layer models: the simplest motion of the moved layer."""
        return _simplest({n: getattr(self, f"layered_{n}") for n in ("translation", "similarity", "affine")})


def _simplest(explained: dict[str, float]) -> tuple[str, float]:
    """The first (least free) model that explains nearly as much as the best: 3 points of explanation
    buy no extra freedom."""
    best = max(explained.values())
    name = next(n for n, e in explained.items() if e >= best - 0.03)
    return name, explained[name]


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def _sum3(x: np.ndarray) -> np.ndarray:
    """``x.sum(-1)`` of a 3-channel array, bit for bit (NumPy adds a 3-long axis left to right too),
    7-15× faster on the taxonomy's patches: NumPy's reduction over a short last axis runs its inner loop
    3 elements at a time, and it was a fifth of the taxonomy's time."""
    return x[..., 0] + x[..., 1] + x[..., 2]


def _mean_dist(diff: np.ndarray, mask: np.ndarray) -> float:
    """Mean Lab distance: L1 over pixels, so a thin seam cannot dominate."""
    return _mean_norm(diff[mask]) if mask.any() else 0.0


def _mean_norm(d: np.ndarray) -> float:
    """Mean Euclidean norm of the rows of an N×3 array."""
    return float(np.sqrt(_sum3(d**2)).mean())


def _irls(design: np.ndarray, target: np.ndarray, weight: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Weighted least squares for a stacked (fx, fy) flow with Cauchy re-weighting per point (scale in
    px): flow at occlusions and at the seams of a pasted detail is an outlier, not a motion.

    ``design``: the stacked 2n×k design (:func:`_motion_designs`), or a :class:`_Axes` design, the n×k
    design of one axis that fx and fy share (a block-diagonal model: translation, affine, poly). The
    latter is the same least-squares problem (both axes share each point's weight) solved as one
    n×k fit with two right-hand sides: ~8× less LAPACK work than the 2n×2k block, the coefficients
    equal to rounding (≤ 1e-12 relative on the taxonomy's regions, docs/decisions/diff-cost.md)."""
    n = len(weight)
    if isinstance(design, _Axes):
        x, t, w = design.x, target.reshape(2, n).T, weight
        for _ in range(4):
            sw = np.sqrt(w)[:, None]
            c = np.linalg.lstsq(x * sw, t * sw, rcond=None)[0]
            r = np.hypot(*(x @ c - t).T)
            w = weight / (1 + (r / scale) ** 2)
        return np.concatenate([c[:, 0], c[:, 1]])
    w = np.tile(weight, 2)
    coef = np.zeros(design.shape[1])
    for _ in range(4):
        sw = np.sqrt(w)
        coef, *_ = np.linalg.lstsq(design * sw[:, None], target * sw, rcond=None)
        r = np.hypot(*(design @ coef - target).reshape(2, n))
        w = np.tile(weight / (1 + (r / scale) ** 2), 2)
    return coef


class _Axes:
    """A block-diagonal motion design, diag(x, x) for the stacked (fx, fy): kept as its one-axis
    block ``x`` (n×k). ``design @ coef`` is ``apply``: (x·coef[:k], x·coef[k:]) stacked."""

    def __init__(self, x: np.ndarray) -> None:
        self.x = x

    def apply(self, coef: np.ndarray) -> np.ndarray:
        k = self.x.shape[1]
        return np.concatenate([self.x @ coef[:k], self.x @ coef[k:]])


def _motion_designs(u: np.ndarray, v: np.ndarray) -> dict[str, np.ndarray | _Axes]:
    """Design matrices for the stacked unknown flow (fx then fy) in normalised coordinates u, v; the
    block-diagonal ones as :class:`_Axes`."""
    one, zero = np.ones_like(u), np.zeros_like(u)
    poly = np.stack([one, u, v, u * u, u * v, v * v, u**3, u * u * v, u * v * v, v**3], 1)
    return {
        "translation": _Axes(poly[:, :1]),
        "similarity": np.vstack([np.stack([one, zero, u, -v], 1), np.stack([zero, one, v, u], 1)]),
        "affine": _Axes(poly[:, :3]),
        "poly": _Axes(poly),
    }


def _apply(design: np.ndarray | _Axes, coef: np.ndarray) -> np.ndarray:
    """``design @ coef`` for either kind of design."""
    return design.apply(coef) if isinstance(design, _Axes) else design @ coef


def _colour_explained(lab_o, lab_r, core, u, v) -> float:
    """Residual of rec ≈ M·orig + B·lowpass(orig) + C·lowpass₂(orig) + smooth offset, per Lab channel."""
    # Two low-pass bands: texture strength changes at any scale a codec works at (σ 1–3 px).
    low, lower = cv2.GaussianBlur(lab_o, (0, 0), 1.2), cv2.GaussianBlur(lab_o, (0, 0), 2.5)
    x = np.hstack([lab_o[core], low[core], lower[core], np.stack([np.ones_like(u), u, v], 1)])
    # A tiny ridge keeps small cores (a few dozen pixels, 9 unknowns) from fitting noise exactly.
    reg = 1e-3 * np.trace(x.T @ x) / x.shape[1] * np.eye(x.shape[1])
    coef = np.linalg.solve(x.T @ x + reg, x.T @ lab_r[core])
    return _mean_dist((x @ coef - lab_r[core])[None], np.ones((1, len(x)), bool))


def _mapping(
    original: np.ndarray, reconstruction: np.ndarray, lab_o: np.ndarray, lab_r: np.ndarray, core, noise: float
) -> tuple[float, float]:
    """(explained, L* gain) of rec ≈ (M₀ + M_u·u + M_v·v)·orig + cubic offset(u, v), per Lab channel.

    A colour mapping whose strength varies smoothly (a soft-edged brightness, hue or saturation change
    blends in with a ramp): the colour model's one global map plus plane explains such changes less
    well, and its low-pass terms explain an in-painted stroke as well as a brightened one. Pixels
    that the reconstruction clipped (a channel at ≤ 5 or ≥ 250 where the original had none) are left
    out: a monotone mapping that runs into the gamut's edge erases the texture there, and that is
    still the mapping, not a new contour."""
    clipped = ((reconstruction <= _CLIP[0]) | (reconstruction >= _CLIP[1])).any(-1)
    clipped &= ~((original <= _CLIP[0]) | (original >= _CLIP[1])).any(-1)
    use = core & ~clipped
    if use.sum() < _MIN_CORE:
        return 0.0, 0.0
    e0 = _mean_dist(lab_r - lab_o, use)
    if e0 <= noise:
        return 0.0, 0.0
    ys, xs = np.nonzero(use)
    s = max(float(np.sqrt(core.sum())), 4.0)
    u, v = (xs - xs.mean()) / s, (ys - ys.mean()) / s
    o = lab_o[use]
    poly = np.stack([np.ones_like(u), u, v, u * u, u * v, v * v, u**3, u * u * v, u * v * v, v**3], 1)
    x = np.hstack([o, o * u[:, None], o * v[:, None], poly])
    reg = 1e-3 * np.trace(x.T @ x) / x.shape[1] * np.eye(x.shape[1])  # as _colour_explained
    coef = np.linalg.solve(x.T @ x + reg, x.T @ lab_r[use])
    res = _mean_dist((x @ coef - lab_r[use])[None], np.ones((1, len(x)), bool))
    return float(np.clip((e0 - res) / (e0 - noise), -1.0, 1.0)), float(coef[0, 0])


def _blur_explained(lab_o: np.ndarray, lab_r: np.ndarray, core: np.ndarray) -> tuple[float, float]:
    """(residual, σ) of rec ≈ blur_σ(orig) + a mean Lab offset on the core, for the best σ."""
    best = (np.inf, 0.0)
    for sigma in _BLUR_SIGMAS:
        d = lab_r[core] - cv2.GaussianBlur(lab_o, (0, 0), sigma)[core]
        res = _mean_dist((d - d.mean(axis=0))[None], np.ones((1, len(d)), bool))
        best = min(best, (res, sigma))
    return best


def _refine_affine(g_o, g_r, core, cx, cy, s, fields, residuals, residual, grid_designs, shape) -> None:
    """ECC (photometric) refinement of the flow-fitted affine motion, kept where it explains more.

    Flow fitted on a small core is imprecise, and an imprecise rigid fit would hand rigid motions to
    the non-rigid model; ECC minimises the image error directly, as the non-rigid dense flow does."""
    a = fields["affine"][2]
    warp = np.array(
        [[1 + a[1] / s, a[2] / s, a[0] - a[1] * cx / s - a[2] * cy / s],
         [a[4] / s, 1 + a[5] / s, a[3] - a[4] * cx / s - a[5] * cy / s]], np.float32,
    )  # fmt: skip
    go = cv2.GaussianBlur(g_o.astype(np.float32), (0, 0), 1.0)
    gr = cv2.GaussianBlur(g_r.astype(np.float32), (0, 0), 1.0)
    try:
        criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 40, 1e-4)
        _, warp = cv2.findTransformECC(go, gr, warp, cv2.MOTION_AFFINE, criteria, core.astype(np.uint8), 1)
    except cv2.error:  # no convergence on flat or ambiguous cores: the flow fit stands
        return
    m, t = warp[:, :2].astype(np.float64), warp[:, 2].astype(np.float64)
    # Back to coefficients on (x − c)/s: f(p) = (M − I)·p + t.
    coef = np.array([
        (m[0, 0] - 1) * cx + m[0, 1] * cy + t[0], (m[0, 0] - 1) * s, m[0, 1] * s,
        m[1, 0] * cx + (m[1, 1] - 1) * cy + t[1], m[1, 0] * s, (m[1, 1] - 1) * s,
    ])  # fmt: skip
    fxy = _apply(grid_designs["affine"], coef).astype(np.float32)
    h, w = shape
    fx, fy = fxy[: h * w].reshape(h, w), fxy[h * w :].reshape(h, w)
    res = residual(fx, fy)
    if res < residuals["affine"]:
        fields["affine"], residuals["affine"] = (fx, fy, coef), res


def _scatter(lab_o: np.ndarray, lab_r: np.ndarray, core: np.ndarray) -> tuple[float, float]:
    """The freest motion of all, one displacement per pixel within ±SCATTER_PX: (mean residual on the
    core, coherence). Coherence is the share of neighbouring core pixels whose best displacements agree
    within 1 px: high for any smooth motion, low when pixels scattered independently (dissolved)."""
    r = SCATTER_PX
    pad = np.pad(lab_o, ((r, r), (r, r), (0, 0)), mode="reflect")
    ys, xs = np.nonzero(core)
    target = lab_r[ys, xs]
    best = np.full(len(ys), np.inf, np.float32)
    arg = np.zeros((len(ys), 2), np.int16)
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            d = np.sqrt(_sum3((pad[ys + r + dy, xs + r + dx] - target) ** 2))
            better = d < best - 1e-3  # ties keep the smaller displacement found first (from −r)
            best[better], arg[better] = d[better], (dx, dy)
    disp = np.full((*core.shape, 2), 99, np.int16)
    disp[ys, xs] = arg
    agree, pairs = 0, 0
    for a, b in ((disp[:, :-1], disp[:, 1:]), (disp[:-1], disp[1:])):
        both = (a[..., 0] != 99) & (b[..., 0] != 99)
        agree += int((np.abs(a - b).max(-1)[both] <= 1).sum())
        pairs += int(both.sum())
    return float(best.mean()), agree / pairs if pairs else 1.0


def _contours_kept(lab_o: np.ndarray, lab_r: np.ndarray, mask: np.ndarray) -> float:
    """How much of the edge profile stays where it was: on the original's strong edges, the
    reconstruction's gradient as a share of its own local contour strength, against the original's
    (capped at 1), and the same the other way round (new contours); the smaller median. A brightened
    or recoloured object keeps its contour; an in-painted stroke or a moved contour leaves none at
    the old place.

    Each side's gradient is read against its own contour strength nearby (the peak within
    _CONTOUR_PX), so a contour whose contrast changed, by a factor that varies along it, still counts
    as kept; a moved contour puts its peak elsewhere, and a vanished one leaves nothing above what
    codec noise draws. One level for the whole region did not do this: a red square turned blue next
    to a bluish background kept its contour at half the contrast on one side, and its edge's flanks
    (above the noise floor over a width that grows with the contrast) read as lost (0.74 where this
    reads 0.99; issue 32's follow-up)."""

    def grad(lab):
        # All three Lab channels: a brightened object can end up isoluminant with its surroundings,
        # its contour then lives in a*b* only.
        lab = cv2.GaussianBlur(lab, (0, 0), 1.0)
        gx, gy = cv2.Sobel(lab, cv2.CV_32F, 1, 0), cv2.Sobel(lab, cv2.CV_32F, 0, 1)
        return np.sqrt(_sum3(gx**2 + gy**2)) / 8

    def profile(g):
        # The gradient as a share of the contour strength nearby; none where that is codec noise.
        peak = cv2.dilate(g, np.ones((2 * _CONTOUR_PX + 1,) * 2, np.uint8))
        return np.where(peak >= _EDGE_MIN, g / np.maximum(peak, 1e-6), 0.0)

    g_o, g_r = grad(lab_o), grad(lab_r)
    p_o, p_r = profile(g_o), profile(g_r)
    # Strong edges: top third of the mask's gradients, and above what codec noise draws (L*/px).
    out = []
    for a, p_a, p_b in ((g_o, p_o, p_r), (g_r, p_r, p_o)):
        strong = mask & (a >= max(np.percentile(a[mask], 67), _EDGE_MIN))
        if strong.sum() < 6:
            out.append(1.0)
            continue
        out.append(float(np.median(np.minimum(p_b[strong] / p_a[strong], 1.0))))
    return min(out)


def _texture(lab_o: np.ndarray, lab_r: np.ndarray, core: np.ndarray) -> tuple[float, float]:
    """(band-pass RMS ratio, band-pass correlation) of L* on the core (band: σ < 2 px).

    A texture made stronger or weaker in place scales its band-pass pattern: the RMS changes (×1.8–3
    on the generated texture changes: measured ratio 1.76–2.77) and the pattern stays (correlation
    0.81–0.96). Anything else that changes the band-pass energy moves or replaces the pattern: an
    in-painted stroke (ratio median 0.29, correlation 0.18), erode/dilate and dissolve (0.26–0.37)."""
    lo, lr = lab_o[..., 0], lab_r[..., 0]
    bo = (lo - cv2.GaussianBlur(lo, (0, 0), 2.0))[core]
    br = (lr - cv2.GaussianBlur(lr, (0, 0), 2.0))[core]
    eo, er = float((bo**2).sum()), float((br**2).sum())
    ratio = float(np.sqrt((er / len(br) + 1e-3) / (eo / len(bo) + 1e-3)))
    return ratio, float((bo * br).sum() / np.sqrt(eo * er + 1e-9))


def _fine_flow(g_o: np.ndarray, g_r: np.ndarray) -> np.ndarray:
    """DIS down to full resolution with small patches. The presets stop at ½ (MEDIUM) or ¼ (FAST)
    resolution: on 40 photo crops of the detector's size with a known warp their median end-point
    error was 1.9 / 2.5 px for a rotated disc (6–20°) and 1.8 / 2.2 px for a swirl (25–60°); this
    one's is 0.29 and 0.66 px, at about 4× MEDIUM's cost. The photometric fits keep the presets:
    with this flow the dense field also follows a moved detail's seam, and the rigid-versus-non-rigid
    gain told geometry from shape worse (held-out geometry 0.71 instead of 0.79 on 16 pairs a kind)."""
    d = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    d.setFinestScale(0)
    d.setPatchSize(6)
    d.setPatchStride(2)
    d.setVariationalRefinementIterations(10)
    return d.calc(g_o, g_r, None)


def _wmedian(x: np.ndarray, w: np.ndarray) -> float:
    order = np.argsort(x)
    c = np.cumsum(w[order])
    return float(x[order][np.searchsorted(c, c[-1] / 2)])


def _bend(flow: np.ndarray, core: np.ndarray, weight: np.ndarray) -> float:
    """Does one motion move the whole detail? The affine motion fitted (robustly) to the fine flow of
    the inner half of the moving part predicts the outer half: the median miss as a share of the outer
    half's median motion. A detail moved, turned, scaled or sheared as a whole carries the inner part's
    motion outward (medians 0.02 shift – 0.38 local scale on the generated geometry kinds: only the seam
    to the unmoved surroundings misses); a bulge, pinch or swirl changes its scale or angle with the
    radius, a thin-plate or elastic warp from place to place (medians 0.52 pinch – 1.23 bulge)."""
    smooth = cv2.GaussianBlur(flow, (0, 0), 2.0)
    moving = core & (np.hypot(smooth[..., 0], smooth[..., 1]) >= 0.5)  # half a pixel: it moved
    if moving.sum() < 20:
        return 0.0
    ys, xs = np.nonzero(moving)
    w = weight[moving].astype(np.float64)
    cx, cy = np.average(xs, weights=w), np.average(ys, weights=w)
    d = np.hypot(xs - cx, ys - cy)
    r = max(float(np.percentile(d, 90)), 4.0)
    inner, outer = d < 0.5 * r, d >= 0.5 * r
    if inner.sum() < 8 or outer.sum() < 8:
        return 0.0
    fx, fy = flow[moving][:, 0].astype(np.float64), flow[moving][:, 1].astype(np.float64)
    u, v = (xs - cx) / r, (ys - cy) / r
    design = _motion_designs(u[inner], v[inner])["affine"]
    coef = _irls(design, np.concatenate([fx[inner], fy[inner]]), w[inner])
    pred = _apply(_motion_designs(u[outer], v[outer])["affine"], coef).reshape(2, -1)
    miss = np.hypot(pred[0] - fx[outer], pred[1] - fy[outer])
    return _wmedian(miss, w[outer]) / max(_wmedian(np.hypot(fx[outer], fy[outer]), w[outer]), 0.5)


def _forward(fx: np.ndarray, fy: np.ndarray) -> np.ndarray:
    """The 2×3 matrix p ↦ p + f(p) of an affine field (translation, similarity and affine fields all
    are): read off at three far-apart grid points, which an affine field fits exactly."""
    h, w = fx.shape
    pts = np.array([[0, 0], [w - 1, 0], [0, h - 1]], np.float32)
    moved = pts + np.array([[f[int(y), int(x)] for f in (fx, fy)] for x, y in pts], np.float32)
    return cv2.getAffineTransform(pts, moved)


def _layered(
    original, reconstruction, lab_o, lab_r, core, fields, xx, yy
) -> dict[str, tuple[float, float, float]]:
    """(residual on the core, median motion of the moved layer in px, residual the other way round) of
    "the detail moved by the model's motion, the surroundings stayed", per low-freedom model.

    Measured in the reconstruction's frame, where each pixel belongs to one layer: the original moved
    forward by the motion, or the original in place; the area a moved detail uncovered has no source
    in the original's frame (measured there, leave-one-kind-out geometry was 0.81 instead of 0.88 on
    the generated kinds). Each pixel takes the layer that fits better over its neighbourhood (both
    errors blurred, σ 2 px): a layer is a region, and a per-pixel choice would explain codec noise
    too. σ 1 / 2 / 3 px gave geometry 0.84 / 0.88 / 0.88 and shape 0.83 / 0.86 / 0.85 held out."""
    h, w = core.shape

    def blurred_error(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(np.sqrt(_sum3((a - b) ** 2)), (0, 0), _LAYER_SIGMA)

    kept = blurred_error(lab_r, lab_o)
    out = {}
    for name in ("translation", "similarity", "affine"):
        fx, fy, _ = fields[name]
        moved = cv2.warpAffine(
            original, _forward(fx, fy), (w, h), flags=_BACK_INTERP, borderMode=cv2.BORDER_REFLECT
        )
        err = blurred_error(_lab(moved), lab_r)
        takes = core & (err < kept)
        motion = float(np.median(np.hypot(fx, fy)[takes])) if takes.any() else 0.0
        # The other way round, in the original's frame: the reconstruction moved back.
        back = cv2.remap(reconstruction, xx + fx, yy + fy, _BACK_INTERP, borderMode=cv2.BORDER_REFLECT)
        err_back = blurred_error(_lab(back), lab_o)
        out[name] = (
            float(np.minimum(err, kept)[core].mean()),
            motion,
            float(np.minimum(err_back, kept)[core].mean()),
        )
    return out


def _blend_residual(
    a: np.ndarray,
    db: np.ndarray,
    moved: np.ndarray,
    core: np.ndarray,
    a_core: np.ndarray,
    lab_b_core: np.ndarray,
) -> float:
    """Residual on the core of b ≈ a + α·(moved − a), all float RGB in [0, 1], with α ∈ [0, 1] the
    least-squares blend weight over each pixel's neighbourhood (σ _GHOST_SIGMA px): a smooth mask.
    ``core`` holds the core's flat pixel indices (``np.flatnonzero``: the order a boolean mask reads
    them in, gathered 5-15× faster); ``db`` is b − a, ``a_core`` a on the core and ``lab_b_core`` b's Lab
    there (the same for every ``moved``): the blend is made and converted to Lab on the core only (per
    pixel, the same values as on the whole patch)."""
    dm = moved - a
    num = cv2.GaussianBlur(_sum3(db * dm), (0, 0), _GHOST_SIGMA).reshape(-1).take(core)
    den = cv2.GaussianBlur(_sum3(dm * dm), (0, 0), _GHOST_SIGMA).reshape(-1).take(core)
    alpha = np.clip(num / (den + 1e-4), 0.0, 1.0)[:, None]
    blend = np.clip(a_core + alpha * (moved.reshape(-1, 3).take(core, axis=0) - a_core), 0.0, 1.0)
    pred = cv2.cvtColor(blend[None], cv2.COLOR_RGB2Lab)[0]
    return _mean_norm(pred - lab_b_core)


def _ghost(original, reconstruction, lab_o, lab_r, core) -> tuple[float, float, float]:
    """(residual, shift in px, residual the other way round) of the best translation under the blend
    model rec ≈ (1 − α)·orig + α·orig moved, α smooth in [0, 1] (:func:`_blend_residual`).

    The translation is searched photometrically (every ``_GHOST_STEP`` px within ±``_GHOST_REACH``, then
    the 1 px neighbours of the best), not read off the flow: the flow does not follow a shifted fine
    texture (grass, water, branches: it says 0.1-0.4 px for shifts of 3-9 px) nor a blend of two
    positions. A hard layer choice per pixel leaves the blend's ramp unexplained; α is the soft layer."""
    h, w = core.shape
    o, r = original.astype(np.float32) / 255, reconstruction.astype(np.float32) / 255
    # An integer shift with OpenCV's BORDER_REFLECT (what warpAffine with INTER_NEAREST made) is a
    # window of the image padded symmetrically: the same pixels, without a warp per shift.
    reach = _GHOST_REACH + 1  # the grid's corners plus the 1 px refinement
    o_pad, r_pad = (np.pad(x, ((reach, reach), (reach, reach), (0, 0)), mode="symmetric") for x in (o, r))

    def shifted(padded: np.ndarray, dx: int, dy: int) -> np.ndarray:
        return padded[reach - dy : reach - dy + h, reach - dx : reach - dx + w]

    tried: dict[tuple[int, int], float] = {}
    at = np.flatnonzero(core)
    d_ro, o_core, lab_r_core = r - o, o[core], lab_r[core]

    def res(d: tuple[int, int]) -> float:
        if d not in tried:
            moved = shifted(o_pad, *d)
            tried[d] = _blend_residual(o, d_ro, moved, at, o_core, lab_r_core) if d != (0, 0) else np.inf
        return tried[d]

    grid = range(-_GHOST_REACH, _GHOST_REACH + 1, _GHOST_STEP)
    best = min(((dx, dy) for dy in grid for dx in grid), key=res)
    near = [(best[0] + i, best[1] + j) for j in (-1, 0, 1) for i in (-1, 0, 1)]
    dx, dy = min(near, key=res)
    back = _blend_residual(r, o - r, shifted(r_pad, -dx, -dy), at, r[core], lab_o[core])
    return res((dx, dy)), float(np.hypot(dx, dy)), back


def _pad(original, reconstruction, mask):
    ph, pw = max(0, _MIN_SIDE - mask.shape[0]), max(0, _MIN_SIDE - mask.shape[1])
    if not (ph or pw):
        return original, reconstruction, mask
    pads = ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2))
    return (
        np.pad(original, (*pads, (0, 0)), mode="reflect"),
        np.pad(reconstruction, (*pads, (0, 0)), mode="reflect"),
        np.pad(mask, pads),
    )


def region_features(original: np.ndarray, reconstruction: np.ndarray, mask: np.ndarray) -> RegionFeatures:
    """Features of the change inside ``mask`` (bool H×W) between two H×W×3 uint8 RGB patches."""
    mask = mask.astype(bool)
    if not mask.any():
        raise ValueError("region mask is empty")
    original, reconstruction, mask = _pad(original, reconstruction, mask)
    h, w = mask.shape
    lab_o, lab_r = _lab(original), _lab(reconstruction)
    err = cv2.GaussianBlur(np.sqrt(_sum3((lab_r - lab_o) ** 2)), (0, 0), 1.5)
    core = mask & (err >= _CORE * np.percentile(err[mask], 95))
    if core.sum() < _MIN_CORE:
        core = mask
    e0 = max(_mean_dist(lab_r - lab_o, core), 1e-6)
    ring = (cv2.dilate(mask.astype(np.uint8), np.ones((9, 9), np.uint8)) == 0) & (
        cv2.dilate(mask.astype(np.uint8), np.ones((25, 25), np.uint8)) > 0
    )
    noise = min(_mean_dist(lab_r - lab_o, ring), 0.9 * e0) if ring.sum() >= 12 else 0.0

    def explained(residual: float) -> float:
        return float(np.clip((e0 - residual) / (e0 - noise), -1.0, 1.0))

    ys, xs = np.nonzero(core)
    cx, cy = float(xs.mean()), float(ys.mean())
    s = max(float(np.sqrt(core.sum())), 4.0)  # normalised coordinates keep the fits well conditioned
    u, v = (xs - cx) / s, (ys - cy) / s

    g_o = cv2.cvtColor(original, cv2.COLOR_RGB2GRAY)
    g_r = cv2.cvtColor(reconstruction, cv2.COLOR_RGB2GRAY)
    # original(p) ≈ reconstruction(p + flow(p)): the flow says where each original pixel went.
    # Flow is measured where there is structure; weight by gradient so flat pixels do not vote.
    g32 = g_o.astype(np.float32)
    grad = cv2.magnitude(cv2.Sobel(g32, cv2.CV_32F, 1, 0), cv2.Sobel(g32, cv2.CV_32F, 0, 1))
    weight = 0.1 + np.minimum(grad / 40.0, 1.0)
    wt = weight[core].astype(np.float64)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    gu, gv = ((xx - cx) / s).ravel(), ((yy - cy) / s).ravel()
    grid_designs = _motion_designs(gu.astype(np.float64), gv.astype(np.float64))
    core_designs = _motion_designs(u, v)

    # The core's pixels only, in a 1×N map (remap and the Lab conversion are per pixel: the same values
    # as on the whole patch, read in the order the core mask reads them).
    at = np.flatnonzero(core)
    xx_core, yy_core, lab_o_core = xx.reshape(-1)[at], yy.reshape(-1)[at], lab_o.reshape(-1, 3)[at]

    def residual(fx: np.ndarray, fy: np.ndarray) -> float:
        mx, my = xx_core + fx.reshape(-1).take(at), yy_core + fy.reshape(-1).take(at)
        back = cv2.remap(reconstruction, mx[None], my[None], _BACK_INTERP, borderMode=cv2.BORDER_REFLECT)
        return _mean_norm(_lab(back)[0] - lab_o_core)

    # Two DIS settings: on small crops neither is reliably better (measured: FAST follows thin-plate
    # warps that MEDIUM smooths away, MEDIUM holds rotations better), and every model is judged by the
    # photometric error it leaves, so taking the better fit of each model is fair to all of them.
    fields: dict[str, tuple] = {}
    residuals: dict[str, float] = {}
    flow_px = 0.0
    for preset in _FLOW_PRESETS:
        # original(p) ≈ reconstruction(p + flow(p)): the flow says where each original pixel went.
        flow = cv2.DISOpticalFlow_create(preset).calc(g_o, g_r, None)
        if preset == cv2.DISOPTICAL_FLOW_PRESET_MEDIUM:
            # σ 2 px averages independent per-pixel jumps away and keeps any coherent motion.
            smooth = cv2.GaussianBlur(flow, (0, 0), 2.0)
            flow_px = float(np.median(np.hypot(smooth[..., 0], smooth[..., 1])[core]))
        target = np.concatenate([flow[core][:, 0], flow[core][:, 1]]).astype(np.float64)
        for name, design in core_designs.items():
            coef = _irls(design, target, wt)
            fxy = _apply(grid_designs[name], coef).astype(np.float32)
            fx, fy = fxy[: h * w].reshape(h, w), fxy[h * w :].reshape(h, w)
            res = residual(fx, fy)
            if res < residuals.get(name, np.inf):
                fields[name], residuals[name] = (fx, fy, coef), res
        residuals["dense"] = min(residuals.get("dense", np.inf), residual(flow[..., 0], flow[..., 1]))

    flow_affine = fields["affine"]
    _refine_affine(g_o, g_r, core, cx, cy, s, fields, residuals, residual, grid_designs, (h, w))

    # Non-affine energy: how much of the smooth field's motion on the core no affine motion carries
    # (both fitted to the same flow, so that the flow's own errors cancel).
    fx_a, fy_a, _ = flow_affine
    ax, ay, a_coef = fields["affine"]
    px, py, _ = fields["poly"]
    dev = np.hypot(px[core] - fx_a[core], py[core] - fy_a[core])
    mag = np.hypot(px[core], py[core])
    nonaffine = float((wt * dev**2).sum() / max((wt * mag**2).sum(), 1e-9 + 0.25 * wt.sum()))

    # Affine parameters in pixel units: the coefficients act on (x − c)/s.
    m = np.array([[1 + a_coef[1] / s, a_coef[2] / s], [a_coef[4] / s, 1 + a_coef[5] / s]])
    det = float(np.linalg.det(m))
    rotation = float(np.degrees(np.arctan2(m[1, 0] - m[0, 1], m[0, 0] + m[1, 1])))
    shear = float((m[0, 0] * m[0, 1] + m[1, 0] * m[1, 1]) / max(abs(det), 1e-6))

    # Colour distributions: a scatter (dissolve) keeps the colours present and only moves them.
    so, sr = np.sort(lab_o[core], axis=0), np.sort(lab_r[core], axis=0)
    wasser = _mean_norm(so - sr)
    dmean = (lab_r - lab_o)[core].mean(axis=0)
    kept = _contours_kept(lab_o, lab_r, mask)
    scatter_res, coherence = _scatter(lab_o, lab_r, core)
    texture_ratio, pattern_kept = _texture(lab_o, lab_r, core)
    blur_res, blur_sigma = _blur_explained(lab_o, lab_r, core)
    distribution_kept = float(np.clip(1 - max(wasser - noise, 0) / (e0 - noise), -1, 1))
    # The fine flow costs about 4× MEDIUM; only a region whose colours stayed and that moved
    # coherently can reach the rules' no-fit step that reads it, so only such a region pays.
    bend = None
    if distribution_kept >= 0.5 and flow_px >= 0.25:
        bend = _bend(_fine_flow(g_o, g_r), core, weight)
    layered = _layered(original, reconstruction, lab_o, lab_r, core, fields, xx, yy)
    layered_explained = {name: explained(res[0]) for name, res in layered.items()}
    layer_name, _ = _simplest(layered_explained)
    mapping, mapping_gain = _mapping(original, reconstruction, lab_o, lab_r, core, noise)
    ghost_res, ghost_px, ghost_back = _ghost(original, reconstruction, lab_o, lab_r, core)
    return RegionFeatures(
        raw_error=e0,
        noise_floor=noise,
        colour=explained(_colour_explained(lab_o, lab_r, core, u, v)),
        translation=explained(residuals["translation"]),
        similarity=explained(residuals["similarity"]),
        affine=explained(residuals["affine"]),
        # Every affine motion is also a smooth field: the non-rigid model explains at least as much.
        nonrigid=explained(min(residuals["poly"], residuals["dense"], residuals["affine"])),
        nonaffine_energy=min(nonaffine, 1.0),
        motion_px=float(np.hypot(ax[core], ay[core]).mean()),
        shift=(float(a_coef[0]), float(a_coef[3])),
        rotation_deg=rotation,
        scale=float(np.sqrt(abs(det))),
        shear=shear,
        distribution_kept=distribution_kept,
        scatter=explained(scatter_res),
        coherence=coherence,
        contours_kept=kept,
        mean_dl=float(dmean[0]),
        mean_dab=float(np.hypot(dmean[1], dmean[2])),
        flow_px=flow_px,
        texture_ratio=texture_ratio,
        pattern_kept=pattern_kept,
        bend=bend,
        blur=explained(blur_res),
        blur_sigma=blur_sigma,
        layered_translation=layered_explained["translation"],
        layered_similarity=layered_explained["similarity"],
        layered_affine=layered_explained["affine"],
        layered_px=layered[layer_name][1],
        layered_back=explained(layered[layer_name][2]),
        mapping=mapping,
        mapping_gain=mapping_gain,
        ghost=explained(ghost_res),
        ghost_px=ghost_px,
        ghost_back=explained(ghost_back),
    )
