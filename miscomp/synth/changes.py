"""A wide generator of local changes, each kind labelled with the category the taxonomy gives it.

Hofer & Böhme (WIFS 2024) sort a miscompression by *what changed*:

- **amplitude**: intensity or colour changed while every contour stayed where it was;
- **geometry**: a detail moved, turned, scaled or sheared *as a whole* (one low-freedom motion), or
  its contours dissolved (see ``dissolve`` below);
- **shape**: the contours themselves changed: bent, bulged, swirled, eroded, grown, or a stroke
  appeared or vanished.

:data:`KINDS` maps every kind to its category. Two choices the definitions leave open, stated here:

- ``local_scale`` (a small detail, 8–14 px radius, scaled about its centre) is **geometry**: the detail
  is scaled as a whole, one similarity explains it, however small the detail. A scaling whose factor
  varies across the detail (largest at its centre: ``bulge``/``pinch``) is **shape**.
- ``dissolve`` (each pixel of the detail takes the value of a random neighbour up to ~3 px away: the
  contours break up and scatter, nothing new is drawn, nothing is removed) is **geometry**: only pixel
  positions changed, not the colours present, which is how this project reads the taxonomy's
  "dissolved contours". A contour that vanishes (in-painted away) or appears is **shape**.

Changes are applied to the codec's reconstruction (so the changed detail carries codec artefacts like
everything around it), at a random position on structure, with random size and strength.
:func:`generate` yields :class:`ChangedPair` records on crops of real photos after a real codec.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from miscomp.findings import Category

A, G, S = Category.AMPLITUDE.value, Category.GEOMETRY.value, Category.SHAPE.value
KINDS: dict[str, str] = {
    "brightness": A,
    "contrast": A,
    "colour_cast": A,
    "hue": A,
    "saturation": A,
    "texture_strength": A,
    "shift": G,
    "rotate": G,
    "scale": G,
    "local_scale": G,
    "aniso_scale": G,
    "shear": G,
    "part_moved": G,
    "dissolve": G,
    "bulge": S,
    "pinch": S,
    "swirl": S,
    "thin_plate": S,
    "elastic": S,
    "erode": S,
    "dilate": S,
    "stroke_added": S,
    "stroke_removed": S,
}
# JPEG q50–90 and WebP: the quality range the project's targets are set for.
DEFAULT_CODECS = ("jpeg:quality=50", "jpeg:quality=70", "jpeg:quality=90", "webp:quality=75")
CROP = 256  # side of the photo crop each change is made in
_VISIBLE = 8  # sum over RGB of |change| that counts as a changed pixel


@dataclass(frozen=True)
class ChangedPair:
    """A crop of a photo, its codec reconstruction with one change, and where/what the change is."""

    pair_id: str
    kind: str
    category: str
    params: str  # human-readable strength of the change
    codec: str
    source: str
    original: np.ndarray = field(repr=False)
    reconstruction: np.ndarray = field(repr=False)
    changed: np.ndarray = field(repr=False)  # bool H×W: pixels the change moved by > _VISIBLE


# --- helpers -------------------------------------------------------------------------------------


def _blend(base: np.ndarray, changed: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha[..., None]
    out = base.astype(np.float32) * (1 - a) + changed.astype(np.float32) * a
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _ellipse_alpha(shape, cx, cy, r, rng, feather: float = 0.15, aspect: tuple = (0.6, 1.0)) -> np.ndarray:
    mask = np.zeros(shape, np.float32)
    asp = rng.uniform(*aspect)
    axes = (max(2, int(r)), max(2, int(r * asp)))
    cv2.ellipse(mask, (int(cx), int(cy)), axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
    return cv2.GaussianBlur(mask, (0, 0), max(0.7, feather * r * asp))


def _remap(img: np.ndarray, map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
    # Lanczos: a codec that moves content draws it sharp; bilinear would also blur it (a giveaway).
    return cv2.remap(
        img, map_x.astype(np.float32), map_y.astype(np.float32), cv2.INTER_LANCZOS4,
        borderMode=cv2.BORDER_REFLECT,
    )  # fmt: skip


def _grid(shape) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    return xx, yy


def _lab(rgb):
    return cv2.cvtColor(rgb.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)


def _rgb(lab):
    return np.clip(cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_Lab2RGB) * 255, 0, 255)


def _sign(rng) -> float:
    return float(rng.choice([-1.0, 1.0]))


def _either(rng, low: tuple[float, float], high: tuple[float, float]) -> float:
    return float(rng.uniform(*low) if rng.integers(2) else rng.uniform(*high))


# --- amplitude: colours change, positions hold -----------------------------------------------------


def _amplitude(img, kind, rng, cx, cy, r):
    alpha = _ellipse_alpha(img.shape[:2], cx, cy, r, rng, feather=0.25)
    lab = _lab(img)
    if kind == "brightness":
        d = _sign(rng) * rng.uniform(7, 16)
        lab[..., 0] = np.clip(lab[..., 0] + d, 0, 100)
        what = f"ΔL {d:+.1f}"
    elif kind == "contrast":
        g = _either(rng, (0.45, 0.7), (1.4, 1.9))
        mean = cv2.GaussianBlur(lab[..., 0], (0, 0), r)
        lab[..., 0] = np.clip(mean + g * (lab[..., 0] - mean), 0, 100)
        what = f"L contrast ×{g:.2f}"
    elif kind == "colour_cast":
        ang, d = rng.uniform(0, 2 * np.pi), rng.uniform(8, 18)
        lab[..., 1] += d * np.cos(ang)
        lab[..., 2] += d * np.sin(ang)
        what = f"Δab {d:.1f} at {np.degrees(ang):.0f}°"
    elif kind == "hue":
        deg = _sign(rng) * rng.uniform(30, 90)
        c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
        a, b = lab[..., 1].copy(), lab[..., 2].copy()
        lab[..., 1], lab[..., 2] = c * a - s * b, s * a + c * b
        what = f"hue {deg:+.0f}°"
    elif kind == "saturation":
        g = _either(rng, (0.0, 0.4), (1.8, 2.8))
        lab[..., 1:] *= g
        what = f"chroma ×{g:.2f}"
    else:  # texture_strength: the high-frequency band weakened (still there) or strengthened, in place
        sigma = rng.uniform(1.2, 2.5)
        low = cv2.GaussianBlur(lab, (0, 0), sigma)
        g = _either(rng, (0.2, 0.5), (1.8, 3.0))
        lab = low + g * (lab - low)
        what = f"high-pass ×{g:.2f} (σ {sigma:.1f})"
    return _blend(img, _rgb(lab), alpha), what


# --- geometry: the detail moves as a whole ---------------------------------------------------------


def _affine_about(cx, cy, m2: np.ndarray, t=(0.0, 0.0)) -> np.ndarray:
    """Backward map sampling the source at M⁻¹·(p − c − t) + c, i.e. the detail moves by M about c."""
    inv = np.linalg.inv(m2)
    return np.hstack([inv, (np.array([cx, cy]) - inv @ (np.array([cx, cy]) + np.array(t)))[:, None]])


def _geometry(img, kind, rng, cx, cy, r):
    h, w = img.shape[:2]
    xx, yy = _grid((h, w))
    if kind == "dissolve":
        # Every pixel takes a random neighbour's value: a displacement with no spatial coherence.
        rad = rng.uniform(1.5, 3.0)
        dx = rng.uniform(-rad, rad, (h, w)).astype(np.float32)
        dy = rng.uniform(-rad, rad, (h, w)).astype(np.float32)
        moved = cv2.remap(img, xx + dx, yy + dy, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT)
        return _blend(img, moved, _ellipse_alpha((h, w), cx, cy, r, rng, 0.1)), f"scatter ≤{rad:.1f} px"
    if kind == "part_moved":
        return _part_moved(img, rng, cx, cy, r)
    theta = rng.uniform(0, np.pi)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    t = (0.0, 0.0)
    if kind == "shift":
        d, ang = rng.uniform(2.0, 6.0), rng.uniform(0, 2 * np.pi)
        m2, t = np.eye(2), (d * np.cos(ang), d * np.sin(ang))
        what = f"shift ({t[0]:.1f}, {t[1]:.1f}) px"
    elif kind == "rotate":
        deg = _sign(rng) * rng.uniform(6, 20)
        c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
        m2, what = np.array([[c, -s], [s, c]]), f"rotation {deg:+.1f}°"
    elif kind in ("scale", "local_scale"):
        s = (
            _either(rng, (0.78, 0.9), (1.12, 1.3))
            if kind == "scale"
            else _either(rng, (0.7, 0.85), (1.2, 1.45))
        )
        m2, what = s * np.eye(2), f"scale {s:.2f}"
    elif kind == "aniso_scale":
        s = _either(rng, (0.75, 0.88), (1.15, 1.35))
        m2 = rot @ np.diag([s, 1.0]) @ rot.T
        what = f"scale {s:.2f} along {np.degrees(theta):.0f}°"
    else:  # shear
        k = _sign(rng) * rng.uniform(0.12, 0.3)
        m2 = rot @ np.array([[1.0, k], [0.0, 1.0]]) @ rot.T
        what = f"shear {k:+.2f} along {np.degrees(theta):.0f}°"
    back = _affine_about(cx, cy, m2, t)
    map_x = back[0, 0] * xx + back[0, 1] * yy + back[0, 2]
    map_y = back[1, 0] * xx + back[1, 1] * yy + back[1, 2]
    alpha = _ellipse_alpha((h, w), cx, cy, r, rng, feather=0.06)
    return _blend(img, _remap(img, map_x, map_y), alpha), what


def _otsu_part(img, cx, cy, r) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    h, w = img.shape[:2]
    y0, y1, x0, x1 = max(0, cy - r), min(h, cy + r), max(0, cx - r), min(w, cx + r)
    gray = cv2.cvtColor(img[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY)
    _, fg = cv2.threshold(gray, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return fg.astype(bool), (y0, y1, x0, x1)


def _part_moved(img, rng, cx, cy, r):
    """One side of the local structure (the brighter or darker part, by Otsu) moves; the space it
    leaves is filled with the other side's nearest pixels, so no new colours appear."""
    from scipy import ndimage

    fg, (y0, y1, x0, x1) = _otsu_part(img, cx, cy, r)
    if rng.integers(2):
        fg = ~fg
    d, ang = rng.uniform(2.5, 6.0), rng.uniform(0, 2 * np.pi)
    tx, ty = d * np.cos(ang), d * np.sin(ang)
    patch = img[y0:y1, x0:x1]
    _, idx = ndimage.distance_transform_edt(fg, return_indices=True)
    background = patch[idx[0], idx[1]]
    m = np.float32([[1, 0, tx], [0, 1, ty]])
    size = (patch.shape[1], patch.shape[0])
    moved = cv2.warpAffine(patch, m, size, flags=cv2.INTER_LANCZOS4, borderMode=cv2.BORDER_REFLECT)
    moved_fg = cv2.warpAffine(fg.astype(np.float32), m, size, flags=cv2.INTER_LINEAR)
    out_patch = _blend(background, moved, moved_fg)
    out = img.copy()
    out[y0:y1, x0:x1] = out_patch
    # Only the neighbourhood of the part: a soft disc keeps the crop's border untouched.
    alpha = np.zeros(img.shape[:2], np.float32)
    cv2.circle(alpha, (int(cx), int(cy)), int(0.85 * r), 1.0, -1)
    alpha = cv2.GaussianBlur(alpha, (0, 0), 0.1 * r)
    return _blend(img, out, alpha), f"part shift ({tx:.1f}, {ty:.1f}) px"


# --- shape: the contours themselves change ---------------------------------------------------------


def _radial(xx, yy, cx, cy, r):
    dx, dy = xx - cx, yy - cy
    d = np.sqrt(dx * dx + dy * dy)
    return dx, dy, d, np.clip(1 - (d / r) ** 2, 0, None)


def _window(xx, yy, cx, cy, r):
    return np.clip(1 - ((xx - cx) ** 2 + (yy - cy) ** 2) / r**2, 0, None) ** 2


def _shape(img, kind, rng, cx, cy, r):
    h, w = img.shape[:2]
    xx, yy = _grid((h, w))
    if kind in ("bulge", "pinch"):
        # Magnification that is largest at the centre and fades to none at radius r: not one scale.
        k = rng.uniform(0.3, 0.55) * (1 if kind == "bulge" else -1)
        dx, dy, _, fall = _radial(xx, yy, cx, cy, r)
        f = 1 - k * fall**2
        return _remap(img, cx + dx * f, cy + dy * f), f"{kind} {abs(k):.2f}"
    if kind == "swirl":
        deg = _sign(rng) * rng.uniform(25, 60)
        dx, dy, _, fall = _radial(xx, yy, cx, cy, r)
        ang = np.radians(deg) * fall**2
        c, s = np.cos(ang), np.sin(ang)
        return _remap(img, cx + c * dx - s * dy, cy + s * dx + c * dy), f"swirl {deg:+.0f}°"
    if kind == "thin_plate":
        from scipy.interpolate import RBFInterpolator

        ring = np.linspace(0, 2 * np.pi, 12, endpoint=False)
        fixed = np.stack([cx + r * np.cos(ring), cy + r * np.sin(ring)], 1)
        n = int(rng.integers(3, 6))
        inner = np.stack([cx + rng.uniform(-0.5, 0.5, n) * r, cy + rng.uniform(-0.5, 0.5, n) * r], 1)
        amp = rng.uniform(0.12, 0.22) * r
        shift = rng.normal(0, 1, (n, 2))
        shift *= amp / np.abs(shift).max()
        pts = np.vstack([fixed, inner])
        disp = np.vstack([np.zeros_like(fixed), shift])
        y0, y1, x0, x1 = max(0, cy - r), min(h, cy + r + 1), max(0, cx - r), min(w, cx + r + 1)
        q = np.stack([xx[y0:y1, x0:x1].ravel(), yy[y0:y1, x0:x1].ravel()], 1)
        field_ = RBFInterpolator(pts, disp, kernel="thin_plate_spline")(q).reshape(y1 - y0, x1 - x0, 2)
        win = _window(xx, yy, cx, cy, r)[y0:y1, x0:x1, None]
        mx, my = xx.copy(), yy.copy()
        mx[y0:y1, x0:x1] += field_[..., 0] * win[..., 0]
        my[y0:y1, x0:x1] += field_[..., 1] * win[..., 0]
        return _remap(img, mx, my), f"thin-plate {n} points, ≤{amp:.1f} px"
    if kind == "elastic":
        amp = rng.uniform(0.1, 0.2) * r
        sigma = rng.uniform(0.12, 0.2) * r  # short correlation: not a local shift
        noise = cv2.GaussianBlur(rng.normal(0, 1, (h, w, 2)).astype(np.float32), (0, 0), sigma)
        noise *= amp / max(float(np.abs(noise).max()), 1e-6)
        win = _window(xx, yy, cx, cy, r)
        return _remap(img, xx + noise[..., 0] * win, yy + noise[..., 1] * win), f"elastic ≤{amp:.1f} px"
    if kind in ("erode", "dilate"):
        return _erode_dilate(img, kind, rng, cx, cy, r)
    if kind == "stroke_added":
        return _stroke_added(img, rng, cx, cy, r)
    return _stroke_removed(img, rng, cx, cy, r)


def _erode_dilate(img, kind, rng, cx, cy, r):
    """The bright part (Otsu) shrinks or grows; flipped pixels take the nearest pixel of the side they
    now belong to, so the contour moves while the textures stay real."""
    from scipy import ndimage

    fg, (y0, y1, x0, x1) = _otsu_part(img, cx, cy, r)
    k = int(rng.integers(2, 5))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))
    grow = kind == "dilate"
    new_fg = (cv2.dilate if grow else cv2.erode)(fg.astype(np.uint8), kernel).astype(bool)
    patch = img[y0:y1, x0:x1]
    _, idx = ndimage.distance_transform_edt(~fg if grow else fg, return_indices=True)
    changed = np.where((new_fg != fg)[..., None], patch[idx[0], idx[1]], patch)
    out = img.copy()
    out[y0:y1, x0:x1] = changed
    alpha = np.zeros(img.shape[:2], np.float32)
    cv2.circle(alpha, (int(cx), int(cy)), int(0.85 * r), 1.0, -1)
    return _blend(img, out, cv2.GaussianBlur(alpha, (0, 0), 0.08 * r)), f"{kind} {k} px"


def _stroke_added(img, rng, cx, cy, r):
    """A curved stroke in a colour that contrasts with its surroundings."""
    h, w = img.shape[:2]
    t = np.linspace(0, 1, 24)[:, None]
    p0, p2 = (np.array([cx, cy]) + rng.uniform(-0.8, 0.8, (2, 2)) * r).astype(np.float32)
    p1 = np.array([cx, cy]) + rng.uniform(-0.5, 0.5, 2) * r
    pts = ((1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2).round().astype(np.int32)
    mean = img[max(0, cy - r) : cy + r, max(0, cx - r) : cx + r].reshape(-1, 3).mean(0)
    colour = np.where(mean > 128, mean * rng.uniform(0.2, 0.5), 255 - (255 - mean) * rng.uniform(0.2, 0.5))
    thick = int(rng.integers(2, 5))
    layer = np.zeros((h, w), np.float32)
    cv2.polylines(layer, [pts], False, 1.0, thick, cv2.LINE_AA)
    layer = cv2.GaussianBlur(layer, (0, 0), 0.6)
    painted = np.broadcast_to(colour.astype(np.float32), img.shape)
    return _blend(img, painted, layer), f"stroke {thick} px added"


def _stroke_removed(img, rng, cx, cy, r):
    """The contours near the centre are in-painted away (OpenCV Telea): a stroke vanishes."""
    gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    edges = cv2.Canny(gray, 60, 150)
    disc = np.zeros_like(edges)
    cv2.circle(disc, (int(cx), int(cy)), int(0.7 * r), 1, -1)
    hole = cv2.dilate(edges * disc, np.ones((3, 3), np.uint8), iterations=int(rng.integers(1, 3)))
    out = cv2.inpaint(img, (hole > 0).astype(np.uint8), 5, cv2.INPAINT_TELEA)
    return out, f"stroke in-painted ({int((hole > 0).sum())} px)"


# --- driving ---------------------------------------------------------------------------------------

_APPLY: dict[str, Callable] = {A: _amplitude, G: _geometry, S: _shape}
_RADIUS = {"local_scale": (8, 14), "dissolve": (10, 24), "part_moved": (14, 30)}


def _structured_point(img, rng, margin: int) -> tuple[int, int]:
    """A random point on structure (strong gradients): a change on a flat patch is invisible."""
    gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)
    grad = cv2.magnitude(cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1))
    grad = cv2.GaussianBlur(grad, (0, 0), 3)
    inner = grad[margin:-margin, margin:-margin]
    ys, xs = np.nonzero(inner > np.percentile(inner, 60))
    i = int(rng.integers(len(xs)))
    return int(xs[i]) + margin, int(ys[i]) + margin


def apply_change(img: np.ndarray, kind: str, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """``img`` with one change of ``kind`` at a random structured point; returns (changed, params)."""
    if kind not in KINDS:
        raise ValueError(f"unknown change kind {kind!r}; known: {', '.join(KINDS)}")
    lo, hi = _RADIUS.get(kind, (14, 36))
    r = int(rng.integers(lo, hi + 1))
    cx, cy = _structured_point(img, rng, r + 8)
    return _APPLY[KINDS[kind]](img, kind, rng, cx, cy, r)


def changed_pixels(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    return np.abs(before.astype(np.int16) - after.astype(np.int16)).sum(-1) > _VISIBLE


def generate(
    sources: Sequence[tuple[str, np.ndarray]],
    per_kind: int = 20,
    seed: int = 0,
    kinds: Sequence[str] | None = None,
    codecs: Sequence[str] = DEFAULT_CODECS,
    catalogue: Mapping[str, str] | None = None,
    apply: Callable[[np.ndarray, str, np.random.Generator], tuple[np.ndarray, str]] | None = None,
    stream: int = 0,
) -> Iterator[ChangedPair]:
    """``per_kind`` pairs per kind: a random CROP×CROP crop of a random source, a random codec, one
    change of random strength, size and position; deterministic in ``seed``. ``catalogue`` (kind ->
    category) and ``apply`` swap in another set of kinds (the taxonomy benchmark's check-only ones),
    ``stream`` gives them a random stream of their own (seed + stream; the ids keep ``seed``)."""
    from miscomp.codecs import create_codec

    rng = np.random.default_rng(seed + stream)
    coders = {spec: create_codec(spec) for spec in codecs}
    catalogue = KINDS if catalogue is None else catalogue
    apply = apply_change if apply is None else apply
    for kind in kinds or catalogue:
        for n in range(per_kind):
            name, photo = sources[int(rng.integers(len(sources)))]
            y = int(rng.integers(0, photo.shape[0] - CROP + 1))
            x = int(rng.integers(0, photo.shape[1] - CROP + 1))
            crop = np.ascontiguousarray(photo[y : y + CROP, x : x + CROP])
            spec = str(codecs[int(rng.integers(len(codecs)))])
            rec = coders[spec].apply(crop).reconstruction
            for _ in range(10):  # re-draw until the change is visible (a shift of a flat patch is not)
                changed, params = apply(rec, kind, rng)
                mask = changed_pixels(rec, changed)
                if mask.sum() >= 60:
                    break
            yield ChangedPair(
                f"{kind}-{seed}-{n:03d}", kind, catalogue[kind], params, spec, f"{name}@{x},{y}", crop,
                changed, mask,
            )  # fmt: skip
