"""The speed-ups of miscomp/detect/diff/maps.py compute the same values as the plain formulas they replace."""

from __future__ import annotations

import cv2
import numpy as np

from miscomp.detect.diff.maps import (
    _QS,
    _bin_quantiles,
    _lab,
    _local_stats,
    _ssim_loss,
    activity_bins,
    noise_curves,
)
from miscomp.synth.shapes import scene


def test_lab_by_table_equals_the_float_conversion():
    img = scene()
    plain = cv2.cvtColor(img.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    assert np.array_equal(_lab(img), plain)


def test_bin_quantiles_equal_numpy_quantile_per_row():
    rng = np.random.default_rng(3)
    counts = rng.integers(20, 900, 7)
    rows = [(rng.standard_normal(c) * rng.uniform(0.01, 40)).astype(np.float32) for c in counts]
    table = np.full((len(rows), counts.max()), np.inf, np.float32)
    for row, values in zip(table, rows, strict=True):
        row[: values.size] = values
    got = _bin_quantiles(table, counts.astype(np.intp), _QS)
    want = np.array([np.quantile(v, [0.5, 0.9]) for v in rows])
    assert got.dtype == want.dtype and np.array_equal(got, want)


def test_in_place_ssim_equals_the_formula():
    rng = np.random.default_rng(4)
    lo = rng.uniform(0, 100, (64, 80)).astype(np.float32)
    lr = np.clip(lo + rng.normal(0, 5, lo.shape), 0, 100).astype(np.float32)
    c1, c2 = 1.0, 9.0

    def blur(a):
        return cv2.GaussianBlur(a, (0, 0), 1.5)

    mu_o, mu_r = blur(lo), blur(lr)
    var_o, var_r = blur(lo * lo) - mu_o**2, blur(lr * lr) - mu_r**2
    cov = blur(lo * lr) - mu_o * mu_r
    want = 1.0 - (2 * mu_o * mu_r + c1) * (2 * cov + c2) / ((mu_o**2 + mu_r**2 + c1) * (var_o + var_r + c2))
    assert np.array_equal(_ssim_loss(lo, _local_stats(lo), lr, _local_stats(lr)), want)


def test_shared_activity_bins_give_the_same_noise_curves():
    rng = np.random.default_rng(5)
    activity = cv2.GaussianBlur(rng.uniform(0, 20, (120, 160)).astype(np.float32), (0, 0), 3)
    value = (rng.gamma(2.0, 1.0, activity.shape) * (1 + activity / 10)).astype(np.float32)
    alone = noise_curves(value, activity, 0.5)
    shared = noise_curves(value, activity, 0.5, bins=activity_bins(activity))
    assert alone is not None and shared is not None
    assert all(np.array_equal(a, b) for a, b in zip(alone, shared, strict=True))
