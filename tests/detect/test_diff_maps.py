"""miscomp/detect/diff/maps.py: the speed-ups compute the same values as the plain formulas they replace;
the explained z and the colour-only gate behave as documented."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from miscomp.codecs import create_codec
from miscomp.detect import PairImages
from miscomp.detect.diff import DiffDetector
from miscomp.detect.diff.artefacts import null_reconstruction
from miscomp.detect.diff.maps import (
    _QS,
    FLOORS,
    _bin_quantiles,
    _components,
    _lab,
    _local_stats,
    _ssim_loss,
    activity_bins,
    noise_curves,
    pair_maps,
    z_maps,
)
from testing.shapes import scene


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


def _blob_maps(shape, name: str, z: float, side: int) -> dict[str, np.ndarray]:
    zs = {k: np.zeros(shape, np.float32) for k in ("lightness", "chroma", "structure", "edges")}
    zs[name][100 : 100 + side, 100 : 100 + side] = z
    return zs


def test_colour_only_regions_need_the_stricter_colour_threshold_and_area():
    # 512×512: min area 0.0002 → 52 px, the colour-only minimum 0.0003 → 79 px.
    shape, gate = (512, 512), (3.0, 0.0003)

    def found(name, z, side):
        return _components(_blob_maps(shape, name, z, side), shape, 2.5, 1.2, 0.0002, 20, gate)

    assert found("structure", 2.8, 12)  # above the region threshold 2.5
    assert not found("chroma", 2.8, 12)  # colour-only: below the colour threshold 3.0
    assert found("chroma", 4.0, 12)  # 144 px ≥ 79
    assert found("structure", 4.0, 8)  # 64 px ≥ 52
    assert not found("lightness", 4.0, 8)  # colour-only: 64 px < 79
    # Without a gate, colour maps are held to the same limits as the others.
    assert _components(_blob_maps(shape, "chroma", 2.8, 12), shape, 2.5, 1.2, 0.0002, 20)


def test_explaining_never_raises_a_z_and_keeps_the_residual_above_its_own_median():
    img = scene()
    rec = create_codec("jpeg:quality=50").apply(img).reconstruction
    null = null_reconstruction(img, "jpeg:quality=50")
    pm = pair_maps(img, rec, "jpeg:quality=50", null_reference=null)
    explained, raw = z_maps(pm)
    bins = activity_bins(pm.activity)
    lifted = 0
    for name, value in pm.maps.items():
        assert np.all(explained[name] <= raw[name] + 1e-6)
        m, s = noise_curves(pm.raw[name], pm.activity, FLOORS[name], bins=bins)
        # Measured against the raw map's median, the explained residual would lose the codec's
        # typical error twice (a near-exact null model leaves only the change): never below that.
        old = (value - m) / s
        assert np.all(explained[name] >= old - 1e-6)
        lifted += int((explained[name] > old + 0.1).sum())
    assert lifted > 0  # ... and here, where the null model is this very codec, above it


@pytest.mark.parametrize(("codec", "bpp", "expected"), [("jpeg:quality=75", None, 2.7), ("", None, 3.0)])
def test_pairs_with_the_null_model_use_the_null_threshold(monkeypatch, codec, bpp, expected):
    seen = []
    det = DiffDetector()
    real = det._regions

    def spy(images, pm, cands=None, zs=None, threshold=None):
        seen.append(threshold)
        return real(images, pm, cands, zs, threshold)

    monkeypatch.setattr(det, "_regions", spy)
    img = scene()
    rec = create_codec("jpeg:quality=75").apply(img).reconstruction
    det.detect(PairImages("t", img, rec, codec=codec, bpp=bpp))
    assert seen == [expected]


def test_the_original_maps_are_made_once_per_original_and_change_nothing(monkeypatch):
    import miscomp.detect.diff.cache as cache_module

    img = scene()
    recs = {q: create_codec(f"jpeg:quality={q}").apply(img).reconstruction for q in (10, 30, 60)}
    fresh = [
        DiffDetector().detect(PairImages(f"q{q}", img, r, codec=f"jpeg-quality{q}")) for q, r in recs.items()
    ]

    made = []
    real = cache_module.original_maps
    monkeypatch.setattr(cache_module, "original_maps", lambda rgb, digest=None: made.append(1) or real(rgb))
    det = DiffDetector()
    cached = [det.detect(PairImages(f"q{q}", img, r, "sha-a", f"jpeg-quality{q}")) for q, r in recs.items()]
    assert cached == fresh  # the same findings, to the last digit of every score
    assert len(made) == 1  # three codecs of one original: its maps were made once
    det.detect(PairImages("other", recs[10], img, "sha-b", "jpeg-quality10"))
    assert len(made) == 2  # another original replaces it
    det.clear_cache()
    det.detect(PairImages("again", recs[10], img, "sha-b", "jpeg-quality10"))
    assert len(made) == 3
    det.detect(PairImages("unnamed", img, recs[10]))  # no content hash: nothing is kept
    det.detect(PairImages("unnamed", img, recs[10]))
    assert len(made) == 5
