"""Check-only kinds of change for ``benchmarks/taxonomy_loko.py``: strong, soft-edged changes.

Issue 32 found them misread on an independent set (Kodak, one detail changed, JPEG q50-90): strong
brightness, hue and saturation changes blended in with a soft elliptical mask read as shape (a
clipped or flattened contrast, the blend's ramp), and soft-edged shifts (the blend leaves a ghost of
the old position) as shape. These kinds imitate that set's description, not its code: strong changes
in RGB with clipping, and a shift blended in with the same soft mask. The benchmark never tunes on
them: every fold's thresholds, and the thresholds tuned on all kinds, come from the 23 kinds of
:mod:`miscomp.synth.changes` alone.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import cv2
import numpy as np

from miscomp.synth.changes import DEFAULT_CODECS, ChangedPair

KINDS: dict[str, str] = {
    "strong_brightness": "amplitude",
    "strong_hue": "amplitude",
    "strong_saturation": "amplitude",
    "soft_shift": "geometry",
}


def _soft_ellipse(shape, cx, cy, r, rng) -> np.ndarray:
    """An elliptical mask with a soft edge (feather 0.25-0.5 of the short radius)."""
    mask = np.zeros(shape, np.float32)
    asp = rng.uniform(0.6, 1.0)
    axes = (max(3, int(r)), max(3, int(r * asp)))
    cv2.ellipse(mask, (int(cx), int(cy)), axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
    return cv2.GaussianBlur(mask, (0, 0), max(1.0, rng.uniform(0.25, 0.5) * r * asp))


def _point(img, rng, margin: int) -> tuple[int, int]:
    """A random point on structure, as the tuning kinds pick theirs."""
    from miscomp.synth.changes import _structured_point

    return _structured_point(img, rng, margin)


def _hsv(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(img.astype(np.float32) / 255, cv2.COLOR_RGB2HSV)


def _rgb(hsv: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB) * 255


def apply_change(img: np.ndarray, kind: str, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    r = int(rng.integers(14, 37))
    cx, cy = _point(img, rng, r + 8)
    alpha = _soft_ellipse(img.shape[:2], cx, cy, r, rng)[..., None]
    base = img.astype(np.float32)
    if kind == "strong_brightness":
        d = float(rng.choice([-1, 1]) * rng.uniform(35, 55))
        changed, what = base + d, f"RGB {d:+.0f} levels"
    elif kind == "strong_hue":
        deg = float(rng.choice([-1, 1]) * rng.uniform(40, 120))
        hsv = _hsv(img)
        hsv[..., 0] = (hsv[..., 0] + deg) % 360
        changed, what = _rgb(hsv), f"hue {deg:+.0f}°"
    elif kind == "strong_saturation":
        g = float(rng.choice([0.15, 2.2]))
        grey = base.mean(-1, keepdims=True)
        changed, what = grey + g * (base - grey), f"saturation ×{g:.2f}"
    elif kind == "soft_shift":
        d, ang = rng.uniform(3.0, 9.0), rng.uniform(0, 2 * np.pi)
        m = np.float32([[1, 0, d * np.cos(ang)], [0, 1, d * np.sin(ang)]])
        size = (img.shape[1], img.shape[0])
        changed = cv2.warpAffine(img, m, size, flags=cv2.INTER_LANCZOS4, borderMode=cv2.BORDER_REFLECT)
        changed, what = changed.astype(np.float32), f"soft-edged shift ({m[0, 2]:.1f}, {m[1, 2]:.1f}) px"
    else:
        raise ValueError(f"unknown change kind {kind!r}; known: {', '.join(KINDS)}")
    out = base * (1 - alpha) + np.clip(changed, 0, 255) * alpha  # clipped: the change saturates
    return np.clip(out + 0.5, 0, 255).astype(np.uint8), what


def generate(
    sources: Sequence[tuple[str, np.ndarray]], per_kind: int = 20, seed: int = 0, codecs=DEFAULT_CODECS
) -> Iterator[ChangedPair]:
    """As :func:`miscomp.synth.changes.generate`, for :data:`KINDS` (its own random stream: seed + 1000)."""
    from miscomp.synth import changes

    return changes.generate(
        sources, per_kind, seed, codecs=codecs, catalogue=KINDS, apply=apply_change, stream=1000
    )
