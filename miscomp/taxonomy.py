"""Assign a miscompression category (Hofer & Böhme, WIFS 2024) to one changed region.

The question asked of a region is *which simple model explains the change*:

- **amplitude**: a per-channel gain + offset (brightness, colour, saturation) explains the
  reconstruction, or the high-frequency energy changed while its pattern stayed put (texture
  strengthened or washed out);
- **geometry**: a single affine motion (translation, rotation, scale, shear), measured by dense optical
  flow on the patch, explains the reconstruction;
- **shape**: neither does — contours changed in a way no global transform or gain accounts for
  (local warps, eroded or grown shapes, swapped characters).

Every feature is interpretable. :func:`rules` encodes the three questions directly; on generated
ground truth they confuse geometry with shape and texture changes (accuracy 0.59), so :func:`decide`
applies them only where they are unambiguous and otherwise asks a small random forest over the same
features (``miscomp/data/taxonomy-forest.json``, model card ``models/taxonomy-classifier.md``),
falling back to the rules when that file is absent. The
evidence text reports the measured features either way. :func:`classify` works on any patch pair, so other
detectors (OCR, captions) can reuse it for the regions they find.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from miscomp.findings import Category
from miscomp.settings import Settings

# Rule thresholds, set from feature medians per injected kind on the generated training split
# (miscomp/synth/truth.py, seed 7); the benchmark uses seed 2024.
GAIN_EXPLAINS = 0.55  # residual/raw error below which a gain + offset explains the change
AFFINE_EXPLAINS = 0.6  # residual/raw error below which an affine motion explains the change
CLEAR_GAIN = 0.35  # below this (and edges in place), amplitude without asking the forest
MIN_MOTION_PX = 0.6  # smaller mean displacements are codec jitter, not a moved patch
ENERGY_RATIO = 1.45  # high-frequency energy ratio (either way) that counts as an amplitude change
HF_CORRELATION = 0.35  # the high-frequency pattern must stay this correlated to be "the same texture"
_MIN_SIDE = 48  # patches are padded to this size before optical flow
_SEARCH_PX = 7  # translation search radius: local shifts of a few pixels are what codecs produce


@dataclass(frozen=True)
class RegionFeatures:
    """Features of one region; ratios are residual error / raw error inside the mask."""

    raw_error: float  # RMS Lab difference inside the mask
    mean_dl: float  # mean L* change (reconstruction − original)
    mean_dab: float  # magnitude of the mean a*b* change
    delta_e00: float  # mean CIEDE2000 inside the mask
    gain_ratio: float  # residual after a per-channel gain + offset fit
    affine_ratio: float  # residual after warping by the best affine motion
    flow_ratio: float  # residual after warping by the full dense flow
    motion_px: float  # mean displacement of the affine motion inside the mask
    shift: tuple[float, float]  # affine translation at the mask centre (x, y) in px
    rotation_deg: float
    scale: float
    shear: float
    energy_ratio: float  # high-frequency energy, reconstruction / original
    hf_correlation: float  # correlation of the high-frequency bands
    edge_change: float  # fraction of edge pixels not matched within 1 px in the other image
    ring_ratio: float  # error just outside the region / error inside: the codec's noise floor
    nonrigid: float  # mean deviation of the dense flow from the affine motion / mean flow

    def as_vector(self) -> list[float]:
        """The values named by :data:`FEATURE_NAMES`, for the learned fallback."""
        per_error = 1 / max(self.raw_error, 1e-6)
        return [
            self.gain_ratio, self.affine_ratio, self.flow_ratio, self.motion_px, abs(self.rotation_deg),
            abs(self.scale - 1), abs(self.shear), float(np.log(self.energy_ratio)), self.hf_correlation,
            self.edge_change, self.ring_ratio, self.delta_e00 * per_error, abs(self.mean_dl) * per_error,
            self.mean_dab * per_error, self.nonrigid, self._beyond_noise(self.affine_ratio),
            self._beyond_noise(self.gain_ratio), self._beyond_noise(self.flow_ratio),
        ]  # fmt: skip

    def _beyond_noise(self, ratio: float) -> float:
        """Share of the error above the codec's noise floor that a model explains (1 = all of it)."""
        return float(np.clip((1 - ratio) / max(1 - self.ring_ratio, 0.05), -1, 2))


FEATURE_NAMES = (
    "gain_ratio", "affine_ratio", "flow_ratio", "motion_px", "abs_rotation_deg", "abs_scale_change",
    "abs_shear", "log_energy_ratio", "hf_correlation", "edge_change", "ring_ratio", "de00_per_error",
    "mean_dl_per_error", "mean_dab_per_error", "nonrigid", "affine_beyond_noise", "gain_beyond_noise",
    "flow_beyond_noise",
)  # fmt: skip


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def _gain_residual(lab_o: np.ndarray, lab_r: np.ndarray, mask: np.ndarray) -> float:
    """RMS residual after fitting rec = g·orig + b per Lab channel inside the mask."""
    res = []
    for c in range(3):
        x, y = lab_o[..., c][mask], lab_r[..., c][mask]
        a = np.stack([x, np.ones_like(x)], axis=1)
        coef, *_ = np.linalg.lstsq(a, y, rcond=None)
        res.append(y - a @ coef)
    return float(np.sqrt(np.mean(np.sum(np.stack(res) ** 2, axis=0))))


def _mean_abs(diff: np.ndarray, mask: np.ndarray) -> float:
    """Mean Lab distance inside the mask: L1 over pixels, so a thin seam cannot dominate."""
    return float(np.sqrt((diff**2).sum(axis=-1))[mask].mean()) if mask.any() else 0.0


def _register(g_o: np.ndarray, g_r: np.ndarray, core: np.ndarray, search: int = _SEARCH_PX) -> np.ndarray:
    """Affine W (2×3) with original(x) ≈ reconstruction(W·x) on the core.

    Exhaustive integer translation search first (robust to codec noise and large shifts), then ECC
    refines to a full affine; if ECC does not converge the translation stands.
    """
    go = cv2.GaussianBlur(g_o.astype(np.float32), (0, 0), 1.0)
    gr = cv2.GaussianBlur(g_r.astype(np.float32), (0, 0), 1.0)
    ys, xs = np.nonzero(core)
    grp = np.pad(gr, search, mode="reflect")
    ref = go[ys, xs]
    best, best_d = np.inf, (0, 0)
    for dy in range(-search, search + 1):
        for dx in range(-search, search + 1):
            e = float(np.abs(ref - grp[ys + search + dy, xs + search + dx]).mean())
            if e < best:
                best, best_d = e, (dx, dy)
    warp = np.array([[1, 0, best_d[0]], [0, 1, best_d[1]]], np.float32)
    try:
        criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 60, 1e-4)
        _, refined = cv2.findTransformECC(
            go, gr, warp.copy(), cv2.MOTION_AFFINE, criteria, core.astype(np.uint8), 3
        )
        # ECC may wander off on flat or ambiguous patches: keep it only if it fits better.
        if _core_error(go, gr, refined, core) < _core_error(go, gr, warp, core):
            warp = refined
    except cv2.error:
        pass
    return warp


def _unwarp(img: np.ndarray, warp: np.ndarray) -> np.ndarray:
    """The reconstruction moved back by the affine ``warp`` (original → reconstruction)."""
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    return cv2.warpAffine(img, warp, (img.shape[1], img.shape[0]), flags=flags, borderMode=cv2.BORDER_REFLECT)


def _core_error(go: np.ndarray, gr: np.ndarray, warp: np.ndarray, core: np.ndarray) -> float:
    return float(np.abs(_unwarp(gr, warp) - go)[core].mean())


def _edges(gray: np.ndarray) -> np.ndarray:
    return cv2.Canny(gray, 40, 100) > 0


def region_features(original: np.ndarray, reconstruction: np.ndarray, mask: np.ndarray) -> RegionFeatures:
    """Features of the change inside ``mask`` (bool H×W) between two H×W×3 uint8 RGB patches."""
    from skimage.color import deltaE_ciede2000

    mask = mask.astype(bool)
    if not mask.any():
        raise ValueError("region mask is empty")
    # DIS optical flow crashes (segfault) on images smaller than its patch pyramid: pad small patches.
    ph, pw = max(0, _MIN_SIDE - mask.shape[0]), max(0, _MIN_SIDE - mask.shape[1])
    if ph or pw:
        pads = ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2))
        original = np.pad(original, (*pads, (0, 0)), mode="reflect")
        reconstruction = np.pad(reconstruction, (*pads, (0, 0)), mode="reflect")
        mask = np.pad(mask, pads)
    lab_o, lab_r = _lab(original), _lab(reconstruction)
    # The core: where the change is strong. Components include a halo of weakly changed pixels that
    # no model has to explain, so the explanation ratios are measured on the core only.
    err = cv2.GaussianBlur(np.sqrt(((lab_r - lab_o) ** 2).sum(-1)), (0, 0), 1.5)
    core = mask & (err >= 0.4 * np.percentile(err[mask], 95))
    if core.sum() < 12:
        core = mask
    raw = max(_mean_abs(lab_r - lab_o, core), 1e-6)
    dmean = (lab_r - lab_o)[core].mean(axis=0)
    de00 = float(deltaE_ciede2000(lab_o[core], lab_r[core]).mean())
    gain = _gain_residual(lab_o, lab_r, core) / raw

    g_o = cv2.cvtColor(original, cv2.COLOR_RGB2GRAY)
    g_r = cv2.cvtColor(reconstruction, cv2.COLOR_RGB2GRAY)
    affine = _register(g_o, g_r, core)
    moved = _unwarp(reconstruction, affine)
    aff_err = _mean_abs(_lab(moved) - lab_o, core) / raw
    # Dense flow can follow non-rigid motion (a bulge) that no single affine explains.
    flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(g_o, g_r, None)
    h, w = mask.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    flowed = cv2.remap(
        reconstruction, xx + flow[..., 0], yy + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )
    flow_err = _mean_abs(_lab(flowed) - lab_o, core) / raw
    m = affine[:, :2].astype(np.float64)
    pts = np.stack([xx[core], yy[core]], axis=1)
    aff_flow = pts @ m.T + affine[:, 2] - pts
    disp = np.hypot(*aff_flow.T)
    # How far the dense flow departs from the affine: small for a moved patch, large for a bulge.
    dev = np.hypot(*(flow[core] - aff_flow).T)
    nonrigid = float(dev.mean() / (np.hypot(*flow[core].T).mean() + 0.5))
    cy, cx = (float(np.mean(a)) for a in np.nonzero(core))
    det = float(np.linalg.det(m))
    scale = float(np.sqrt(abs(det)))
    rotation = float(np.degrees(np.arctan2(m[1, 0] - m[0, 1], m[0, 0] + m[1, 1])))
    shear = float((m[0, 0] * m[0, 1] + m[1, 0] * m[1, 1]) / max(det, 1e-6))
    shift = tuple(float(v) for v in m @ [cx, cy] + affine[:, 2] - [cx, cy])
    # Codec noise level next to the region: what an explained change still leaves behind.
    ring = cv2.dilate(mask.astype(np.uint8), np.ones((9, 9), np.uint8)) == 0
    ring_ratio = _mean_abs(lab_r - lab_o, ring) / raw if ring.sum() >= 12 else 0.0
    mask = core

    # High-frequency band of L*: energy ratio and pattern correlation.
    hp_o = lab_o[..., 0] - cv2.GaussianBlur(lab_o[..., 0], (0, 0), 1.5)
    hp_r = lab_r[..., 0] - cv2.GaussianBlur(lab_r[..., 0], (0, 0), 1.5)
    e_o, e_r = float((hp_o[mask] ** 2).mean()), float((hp_r[mask] ** 2).mean())
    energy = (e_r + 0.05) / (e_o + 0.05)
    corr = float(np.corrcoef(hp_o[mask], hp_r[mask])[0, 1]) if min(e_o, e_r) > 1e-4 else 0.0

    ed_o, ed_r = _edges(g_o), _edges(g_r)
    kernel = np.ones((3, 3), np.uint8)
    near_r = cv2.dilate(ed_r.astype(np.uint8), kernel) > 0
    near_o = cv2.dilate(ed_o.astype(np.uint8), kernel) > 0
    n_edges = (ed_o & mask).sum() + (ed_r & mask).sum()
    unmatched = (ed_o & ~near_r & mask).sum() + (ed_r & ~near_o & mask).sum()
    edge_change = float(unmatched / n_edges) if n_edges else 0.0

    return RegionFeatures(
        raw_error=raw,
        mean_dl=float(dmean[0]),
        mean_dab=float(np.hypot(dmean[1], dmean[2])),
        delta_e00=de00,
        gain_ratio=gain,
        affine_ratio=aff_err,
        flow_ratio=flow_err,
        motion_px=float(disp.mean()),
        shift=shift,
        rotation_deg=rotation,
        scale=scale,
        shear=shear,
        energy_ratio=energy,
        hf_correlation=corr if np.isfinite(corr) else 0.0,
        edge_change=edge_change,
        ring_ratio=ring_ratio,
        nonrigid=nonrigid,
    )


def _evidence(category: Category, f: RegionFeatures, where: str) -> str:
    if category is Category.GEOMETRY:
        parts = [f"local shift ({f.shift[0]:.1f}, {f.shift[1]:.1f}) px"]
        if abs(f.rotation_deg) >= 1.0:
            parts.append(f"rotation {f.rotation_deg:.1f}°")
        if abs(f.scale - 1) >= 0.02:
            parts.append(f"scale {f.scale:.2f}")
        if abs(f.shear) >= 0.03:
            parts.append(f"shear {f.shear:.2f}")
        return (
            ", ".join(parts)
            + f"{where}; motion explains {100 * (1 - min(f.affine_ratio, f.flow_ratio)):.0f}%"
        )
    if category is Category.AMPLITUDE:
        if f.gain_ratio < GAIN_EXPLAINS or max(f.energy_ratio, 1 / f.energy_ratio) < ENERGY_RATIO:
            return (
                f"ΔE00 {f.delta_e00:.1f}{where}, ΔL {f.mean_dl:+.1f}, Δab {f.mean_dab:.1f}; "
                f"gain+offset explains {100 * (1 - f.gain_ratio):.0f}%, structure preserved"
            )
        word = "stronger" if f.energy_ratio > 1 else "weaker"
        return (
            f"high-frequency energy ×{f.energy_ratio:.2f} ({word} texture){where}, "
            f"pattern correlation {f.hf_correlation:.2f}, edges preserved"
        )
    return (
        f"contours changed{where}: {100 * f.edge_change:.0f}% of edges moved; affine motion explains "
        f"{100 * (1 - f.affine_ratio):.0f}%, dense flow {100 * (1 - f.flow_ratio):.0f}%, "
        f"gain {100 * (1 - f.gain_ratio):.0f}%"
    )


def rules(f: RegionFeatures) -> tuple[Category, float]:
    """The interpretable rules alone: which simple model explains the change (fallback, and baseline)."""
    moved = f.motion_px >= MIN_MOTION_PX and f.affine_ratio < AFFINE_EXPLAINS
    if f.gain_ratio < GAIN_EXPLAINS and not (moved and f.affine_ratio < f.gain_ratio):
        return Category.AMPLITUDE, float(np.clip(1 - f.gain_ratio, 0.5, 0.99))
    if moved:
        return Category.GEOMETRY, float(np.clip(1 - f.affine_ratio, 0.5, 0.99))
    if max(f.energy_ratio, 1 / f.energy_ratio) >= ENERGY_RATIO and f.hf_correlation >= HF_CORRELATION:
        return Category.AMPLITUDE, float(np.clip(f.hf_correlation, 0.5, 0.95))
    return Category.SHAPE, 0.5


@functools.cache
def _forest() -> dict | None:
    default = Path(__file__).parent / "data" / "taxonomy-forest.json"
    path = Settings.from_env().taxonomy_model or default
    if not path.is_file():
        return None
    model = json.loads(path.read_text())
    if tuple(model["features"]) != FEATURE_NAMES:
        raise ValueError(f"{path}: trained on other features than {FEATURE_NAMES}; retrain (models/)")
    return model


def forest_predict(f: RegionFeatures) -> tuple[Category, float] | None:
    """The learned fallback (models/taxonomy-classifier.md): 30 depth-6 trees over the same features,
    trained on generated ground truth where the rules confuse geometry, shape and texture."""
    model = _forest()
    if model is None:
        return None
    x = f.as_vector()
    proba = np.zeros(len(model["classes"]))
    for tree in model["trees"]:
        node = 0
        while tree["left"][node] != -1:
            go_left = x[tree["feature"][node]] <= tree["threshold"][node]
            node = tree["left"][node] if go_left else tree["right"][node]
        proba += tree["proba"][node]
    k = int(np.argmax(proba))
    return Category(model["classes"][k]), float(proba[k] / len(model["trees"]))


def decide(f: RegionFeatures, area_fraction: float | None = None) -> tuple[Category, float, str]:
    """Category and confidence from the forest (rules when the model file is absent), with evidence."""
    where = f" over {100 * area_fraction:.2g}% of image" if area_fraction is not None else ""
    # Rules first where they are unambiguous: a colour/brightness change that leaves the edges in place.
    if f.gain_ratio < CLEAR_GAIN and f.edge_change < 0.5:
        category, confidence = Category.AMPLITUDE, float(np.clip(1 - f.gain_ratio, 0.5, 0.99))
    else:
        category, confidence = forest_predict(f) or rules(f)
    return category, confidence, _evidence(category, f, where)


def classify(
    original_patch: np.ndarray, recon_patch: np.ndarray, mask: np.ndarray, area_fraction: float | None = None
) -> tuple[Category, float, str]:
    """Category, confidence in [0.5, 1) and a one-line evidence text for the change inside ``mask``.

    ``original_patch`` and ``recon_patch`` are H×W×3 uint8 RGB crops around the region (include a
    margin: motion is measured against the surroundings); ``mask`` marks the changed pixels.
    """
    if original_patch.shape != recon_patch.shape or original_patch.shape[:2] != mask.shape:
        raise ValueError(
            f"patch shapes differ: original {original_patch.shape}, reconstruction {recon_patch.shape}, "
            f"mask {mask.shape}"
        )
    return decide(region_features(original_patch, recon_patch, mask), area_fraction)
