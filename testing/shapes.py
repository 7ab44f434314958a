"""Small synthetic scenes with one known change each, shared by the diff and taxonomy tests."""

from __future__ import annotations

import cv2
import numpy as np

SIZE = 128


def scene(seed: int = 3) -> np.ndarray:
    """128×128 RGB: smooth background, fine texture, a disc, a bar and a stripe field."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    img = np.stack([90 + 60 * xx / SIZE, 110 + 40 * yy / SIZE, 140 - 30 * xx / SIZE], axis=-1)
    img += cv2.GaussianBlur(rng.normal(0, 14, (SIZE, SIZE, 1)).astype(np.float32), (0, 0), 1.2)[..., None]
    cv2.circle(img, (40, 40), 10, (170, 60, 50), -1)
    cv2.rectangle(img, (80, 20), (110, 34), (30, 40, 160), -1)
    stripes = (np.sin(xx[70:110, 20:60] / 2.2 + yy[70:110, 20:60] / 3.0) > 0) * 80
    img[70:110, 20:60] = np.clip(img[70:110, 20:60] + stripes[..., None] - 40, 0, 255)
    return np.clip(img, 0, 255).astype(np.uint8)


def ramp(height: int, width: int, seed: int) -> np.ndarray:
    """height×width RGB: red rising left to right, green top to bottom, blue 120, plus noise σ 4."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    img = np.stack([xx * 255 / width, yy * 255 / height, np.full_like(xx, 120.0)], axis=-1)
    return np.clip(img + rng.normal(0, 4, (height, width, 3)), 0, 255).astype(np.uint8)


def brighten(img: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The disc (an object) gets 35 levels brighter, its outline stays: amplitude."""
    out = img.astype(np.int16)
    mask = np.zeros(img.shape[:2], np.uint8)
    cv2.circle(mask, (40, 40), 10, 1, -1)
    out[mask.astype(bool)] += 35
    return np.clip(out, 0, 255).astype(np.uint8), (30, 30, 21, 21)


def shift_patch(img: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A soft-edged piece of the stripe field moves 3 px right and 2 px down: geometry."""
    moved = np.roll(img, (2, 3), axis=(0, 1)).astype(np.float32)
    alpha = np.zeros(img.shape[:2], np.float32)
    cv2.circle(alpha, (42, 90), 11, 1.0, -1)
    alpha = cv2.GaussianBlur(alpha, (0, 0), 1.5)[..., None]
    out = img.astype(np.float32) * (1 - alpha) + moved * alpha
    return np.clip(out + 0.5, 0, 255).astype(np.uint8), (30, 78, 25, 25)


def bulge(img: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The bar's lower edge bulges: a changed contour (shape)."""
    out = img.copy()
    cv2.ellipse(out, (95, 35), (9, 6), 0, 0, 180, (30, 40, 160), -1)
    return out, (84, 30, 24, 14)
