"""Ground truth for the region detector: real photos, a real codec, then known local changes.

Each pair is (original, reconstruction) where the reconstruction is the codec's output with at most
one injected change of a known category, size (0.1–2% of the image) and strength. Changes are made
*after* the codec, on the reconstruction itself, so the changed region carries the codec's artefacts
like the rest of the image. Text (symbol) pairs are the exception that proves the rule: the text is
drawn into the original, both the true and the character-swapped version are compressed, and the
swapped character's box is spliced in — so both versions of the glyph carry codec artefacts.

The truth box is the bounding box of the pixels the injection changed by more than ``_VISIBLE``
levels, so it matches what a person would see, not the (feathered) mask we drew.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from miscomp.codecs import create_codec
from miscomp.findings import Category
from miscomp.synth.scenes import render_text_box

KINDS: dict[str, tuple[str, ...]] = {
    "amplitude": ("brightness", "colour", "texture"),
    "geometry": ("translate", "rotate", "scale"),
    "shape": ("warp", "erode_dilate"),
    "symbol": ("char_swap",),
}
CATEGORIES = ("clean", "amplitude", "geometry", "shape", "symbol")
# (spec, weight): JPEG at quality ≥ 50 carries the targets, so it gets the most pairs.
DEFAULT_CODECS: tuple[tuple[str, float], ...] = (
    ("jpeg:quality=30", 1.0),
    ("jpeg:quality=50", 1.5),
    ("jpeg:quality=75", 1.5),
    ("jpeg:quality=90", 1.5),
    ("webp:quality=40", 1.0),
    ("webp:quality=75", 1.0),
    ("jpeg2000:ratio=30", 1.0),
    ("jpeg2000:ratio=80", 1.0),
)
_VISIBLE = 8  # sum over RGB channels of |change| that counts as a changed pixel
_CONFUSABLE = {
    "0": "8",
    "8": "3",
    "3": "8",
    "1": "7",
    "7": "1",
    "5": "6",
    "6": "5",
    "B": "8",
    "E": "F",
    "F": "E",
    "O": "D",
    "D": "O",
    "P": "R",
    "R": "P",
    "C": "G",
    "G": "C",
    "2": "Z",
    "4": "A",
}


@dataclass(frozen=True)
class TruthBox:
    x: int
    y: int
    w: int
    h: int
    category: str  # a Category value; character swaps are shape changes with symbol=True
    symbol: bool
    kind: str
    strength: str  # human-readable parameters of the injection


@dataclass(frozen=True)
class GeneratedPair:
    pair_id: str
    image_id: str
    codec: str
    bpp: float
    original: np.ndarray = field(repr=False)
    reconstruction: np.ndarray = field(repr=False)
    truths: tuple[TruthBox, ...] = ()
    truth_category: str = "clean"  # the generator's category slot: clean/amplitude/geometry/shape/symbol


def shared_dir() -> Path:
    return Path(os.environ.get("MISCOMP_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))


def load_sources(
    shared: Path | None = None, n_plates: int = 8, seed: int = 0
) -> list[tuple[str, np.ndarray]]:
    """Kodak (if present), scikit-image's photos and a few plate photos (≤ 768 px on the long side)."""
    from skimage import data

    from miscomp.io import read_image

    shared = shared or shared_dir()
    out = [(f"skimage-{n}", getattr(data, n)()) for n in ("astronaut", "coffee", "chelsea")]
    out += [(p.stem, read_image(p).rgb) for p in sorted((shared / "data" / "kodak").glob("kodim*.png"))]
    plates = sorted((shared / "data" / "plates").glob("*/*.jpg"))
    rng = np.random.default_rng(seed)
    for p in rng.permutation(np.array(plates, dtype=object))[:n_plates] if plates else []:
        rgb = read_image(p).rgb
        s = 768 / max(rgb.shape[:2])
        if s < 1:
            rgb = cv2.resize(
                rgb, (round(rgb.shape[1] * s), round(rgb.shape[0] * s)), interpolation=cv2.INTER_AREA
            )
        out.append((f"plate-{p.stem}", rgb))
    return out


def _feathered_ellipse(shape: tuple[int, int], cx: float, cy: float, area: float, rng) -> np.ndarray:
    aspect = rng.uniform(0.55, 1.0)
    ra = np.sqrt(area / (np.pi * aspect))
    mask = np.zeros(shape, np.float32)
    cv2.ellipse(
        mask,
        (int(cx), int(cy)),
        (max(3, int(ra)), max(3, int(ra * aspect))),
        rng.uniform(0, 180),
        0,
        360,
        1.0,
        -1,
    )
    return cv2.GaussianBlur(mask, (0, 0), max(1.0, 0.12 * ra * aspect))


def _textured_point(img: np.ndarray, rng, margin: int, edges_only: bool = False) -> tuple[int, int]:
    gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    if edges_only:
        cand = cv2.Canny(gray, 60, 150) > 0
    else:
        grad = cv2.GaussianBlur(
            cv2.magnitude(cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1)), (0, 0), 4
        )
        cand = grad > np.percentile(grad, 70)
    cand[:margin], cand[-margin:], cand[:, :margin], cand[:, -margin:] = False, False, False, False
    ys, xs = np.nonzero(cand)
    if not len(xs):
        h, w = gray.shape
        return w // 2, h // 2
    i = rng.integers(len(xs))
    return int(xs[i]), int(ys[i])


def _blend(base: np.ndarray, changed: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha[..., None]
    return np.clip(base.astype(np.float32) * (1 - a) + changed.astype(np.float32) * a + 0.5, 0, 255).astype(
        np.uint8
    )


def _amplitude(rec: np.ndarray, kind: str, rng, area: float) -> tuple[np.ndarray, str]:
    h, w = rec.shape[:2]
    margin = int(np.sqrt(area)) + 4
    if kind == "texture":
        cx, cy = _textured_point(rec, rng, margin)
    else:
        cx, cy = rng.integers(margin, w - margin), rng.integers(margin, h - margin)
    alpha = _feathered_ellipse((h, w), cx, cy, area, rng)
    lab = cv2.cvtColor(rec.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)
    if kind == "brightness":
        d = rng.choice([-1, 1]) * rng.uniform(6, 14)
        lab[..., 0] = np.clip(lab[..., 0] + d, 0, 100)
        what = f"ΔL {d:+.1f}"
    elif kind == "colour":
        ang = rng.uniform(0, 2 * np.pi)
        d = rng.uniform(8, 18)
        lab[..., 1] += d * np.cos(ang)
        lab[..., 2] += d * np.sin(ang)
        what = f"Δab {d:.1f} at {np.degrees(ang):.0f}°"
    else:
        sigma = rng.uniform(1.2, 2.5)
        blurred = cv2.GaussianBlur(lab, (0, 0), sigma)
        gain = rng.choice([0.0, rng.uniform(2.0, 3.0)])  # 0: washed out texture, >1: sharpened
        lab = blurred + gain * (lab - blurred)
        what = f"high-pass ×{gain:.1f} (σ {sigma:.1f})"
    changed = np.clip(cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_Lab2RGB) * 255, 0, 255)
    return _blend(rec, changed, alpha), what


def _geometry(rec: np.ndarray, kind: str, rng, area: float) -> tuple[np.ndarray, str]:
    h, w = rec.shape[:2]
    cx, cy = _textured_point(rec, rng, int(np.sqrt(area)) + 8)
    alpha = _feathered_ellipse((h, w), cx, cy, area, rng)
    if kind == "translate":
        d, ang = rng.uniform(2.0, 5.0), rng.uniform(0, 2 * np.pi)
        m = np.float32([[1, 0, d * np.cos(ang)], [0, 1, d * np.sin(ang)]])
        what = f"shift ({d * np.cos(ang):.1f}, {d * np.sin(ang):.1f}) px"
    elif kind == "rotate":
        deg = rng.choice([-1, 1]) * rng.uniform(5, 15)
        m = cv2.getRotationMatrix2D((float(cx), float(cy)), float(deg), 1.0)
        what = f"rotation {deg:.1f}°"
    else:
        s = rng.choice([rng.uniform(0.8, 0.9), rng.uniform(1.1, 1.25)])
        m = cv2.getRotationMatrix2D((float(cx), float(cy)), 0.0, float(s))
        what = f"scale {s:.2f}"
    # Lanczos: a codec that moves content draws it sharp; bilinear would also blur it (a giveaway).
    moved = cv2.warpAffine(rec, m, (w, h), flags=cv2.INTER_LANCZOS4, borderMode=cv2.BORDER_REFLECT)
    return _blend(rec, moved, alpha), what


def _shape(rec: np.ndarray, kind: str, rng, area: float) -> tuple[np.ndarray, str]:
    h, w = rec.shape[:2]
    r = int(np.sqrt(area / np.pi))
    cx, cy = _textured_point(rec, rng, r + 10, edges_only=True)
    alpha = _feathered_ellipse((h, w), cx, cy, area, rng)
    if kind == "warp":
        # A bulge: displacement along one direction that peaks at the centre and fades out.
        amp, ang = rng.uniform(3.0, 6.0), rng.uniform(0, 2 * np.pi)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        bump = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * (0.45 * r) ** 2))
        map_x = xx - amp * np.cos(ang) * bump
        map_y = yy - amp * np.sin(ang) * bump
        changed = cv2.remap(
            rec,
            map_x.astype(np.float32),
            map_y.astype(np.float32),
            cv2.INTER_LANCZOS4,
            borderMode=cv2.BORDER_REFLECT,
        )
        return _blend(rec, changed, alpha), f"bulge {amp:.1f} px"
    # Erode or dilate the bright part of the patch (Otsu), filling flipped pixels from the nearest
    # pixel of the side they now belong to: the contour moves, the textures stay real.
    from scipy import ndimage

    y0, y1, x0, x1 = max(0, cy - 2 * r), min(h, cy + 2 * r), max(0, cx - 2 * r), min(w, cx + 2 * r)
    patch = rec[y0:y1, x0:x1]
    gray = cv2.cvtColor(patch, cv2.COLOR_RGB2GRAY)
    _, fg = cv2.threshold(gray, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    k = int(rng.integers(3, 6))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))
    grow = bool(rng.integers(2))
    new_fg = cv2.dilate(fg, kernel) if grow else cv2.erode(fg, kernel)
    src = fg.astype(bool)
    # For each pixel, the nearest pixel that is foreground (for grown) or background (for eroded).
    _, idx = ndimage.distance_transform_edt(~src if grow else src, return_indices=True)
    filled = patch[idx[0], idx[1]]
    changed_patch = np.where((new_fg.astype(bool) != src)[..., None], filled, patch)
    changed = rec.copy()
    changed[y0:y1, x0:x1] = changed_patch
    return _blend(rec, changed, alpha), f"{'dilate' if grow else 'erode'} {k} px"


def _symbol(original: np.ndarray, codec_spec: str, rng) -> tuple[np.ndarray, np.ndarray, str, int, tuple]:
    """(original with text, reconstruction with one char swapped, description, n_bytes, truth box)."""
    h, w = original.shape[:2]
    chars = "0123456789BEFODPRCG"
    text = "".join(rng.choice(list(chars), size=int(rng.integers(5, 8))))
    size = int(rng.integers(14, 30)) * max(h, w) // 768
    x, y = int(rng.integers(10, max(11, w - size * len(text)))), int(rng.integers(10, max(11, h - 2 * size)))
    i = int(rng.integers(len(text)))
    swapped = text[:i] + _CONFUSABLE.get(text[i], "8") + text[i + 1 :]
    orig_t = render_text_box(original, text, x, y, size)
    swap_t = render_text_box(original, swapped, x, y, size)
    codec = create_codec(codec_spec)
    out = codec.apply(orig_t)
    rec_swap = codec.apply(swap_t).reconstruction
    diff = np.abs(orig_t.astype(int) - swap_t.astype(int)).sum(-1) > 0
    ys, xs = np.nonzero(diff)
    box = (xs.min() - 2, ys.min() - 2, xs.max() + 3, ys.max() + 3)
    rec = out.reconstruction.copy()
    rec[box[1] : box[3], box[0] : box[2]] = rec_swap[box[1] : box[3], box[0] : box[2]]
    truth = (int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1))
    return orig_t, rec, f"'{text}'→'{swapped}' (size {size})", out.n_bytes or 0, truth


def _truth_box(before: np.ndarray, after: np.ndarray) -> tuple[int, int, int, int, int] | None:
    changed = np.abs(before.astype(np.int16) - after.astype(np.int16)).sum(-1) > _VISIBLE
    if not changed.any():
        return None
    ys, xs = np.nonzero(changed)
    return (
        int(xs.min()),
        int(ys.min()),
        int(xs.max() - xs.min() + 1),
        int(ys.max() - ys.min() + 1),
        int(changed.sum()),
    )


_INJECT = {"amplitude": _amplitude, "geometry": _geometry, "shape": _shape}


def generate(
    n_pairs: int = 250,
    seed: int = 2024,
    sources: list[tuple[str, np.ndarray]] | None = None,
    codecs: tuple[tuple[str, float], ...] = DEFAULT_CODECS,
) -> Iterator[GeneratedPair]:
    """Yield ``n_pairs`` pairs, cycling clean/amplitude/geometry/shape/symbol; deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    sources = sources if sources is not None else load_sources()
    specs, weights = zip(*codecs, strict=True)
    p = np.array(weights) / sum(weights)
    cache: dict[tuple[str, str], tuple[np.ndarray, int]] = {}
    for n in range(n_pairs):
        slot = CATEGORIES[n % len(CATEGORIES)]
        image_id, original = sources[int(rng.integers(len(sources)))]
        spec = str(specs[rng.choice(len(specs), p=p)])
        h, w = original.shape[:2]
        truths: tuple[TruthBox, ...] = ()
        if slot == "symbol":
            original, rec, what, n_bytes, box = _symbol(original, spec, rng)
            truths = (TruthBox(*box, Category.SHAPE.value, True, "char_swap", what),)
        else:
            key = (image_id, spec)
            if key not in cache:
                out = create_codec(spec).apply(original)
                cache[key] = (out.reconstruction, out.n_bytes or 0)
            before, n_bytes = cache[key]
            rec = before
        if slot not in ("clean", "symbol"):
            kinds = KINDS[slot]
            kind = kinds[(n // len(CATEGORIES)) % len(kinds)]
            for _ in range(8):  # re-draw until the change is visible (a shift of a flat patch is not)
                area = float(np.exp(rng.uniform(np.log(0.001), np.log(0.02)))) * h * w
                rec, what = _INJECT[slot](before, kind, rng, area)
                box = _truth_box(before, rec)
                if box and box[4] >= 0.0005 * h * w:
                    truths = (TruthBox(*box[:4], slot, False, kind, what),)
                    break
        yield GeneratedPair(
            pair_id=f"gt{seed}-{n:04d}-{slot}",
            image_id=image_id,
            codec=spec,
            bpp=8 * n_bytes / (h * w),
            original=original,
            reconstruction=rec,
            truths=truths,
            truth_category=slot,
        )
