"""The measurements the rules decide on: texture strength and pattern, coherent motion, one motion, two
layers."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from miscomp.taxonomy.features import _bend, _contours_kept, _forward, _lab, _texture, region_features


def _stripes(angle_deg: float = 30.0, size: int = 64, period: float = 7.0, seed: int = 0) -> np.ndarray:
    """A striped texture with a little noise, as uint8 RGB."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    a = np.radians(angle_deg)
    g = 128 + 50 * np.sin(2 * np.pi * (xx * np.cos(a) + yy * np.sin(a)) / period)
    g += np.random.default_rng(seed).normal(0, 3, g.shape)
    return np.repeat(np.clip(g, 0, 255).astype(np.uint8)[..., None], 3, -1)


def _core(size: int = 64) -> np.ndarray:
    core = np.zeros((size, size), bool)
    core[12:-12, 12:-12] = True
    return core


def test_texture_made_stronger_in_place_keeps_its_pattern():
    img = _stripes()
    lab = _lab(img)
    low = cv2.GaussianBlur(lab, (0, 0), 2.0)
    stronger = np.clip(cv2.cvtColor(low + 2.0 * (lab - low), cv2.COLOR_Lab2RGB) * 255, 0, 255).astype(
        np.uint8
    )
    ratio, kept = _texture(lab, _lab(stronger), _core())
    assert 1.6 < ratio < 2.4
    assert kept > 0.95


def test_turned_texture_is_a_new_pattern_with_the_same_energy():
    ratio, kept = _texture(_lab(_stripes(30)), _lab(_stripes(120, seed=1)), _core())
    assert 0.8 < ratio < 1.25
    assert abs(kept) < 0.3


def _patch(seed: int) -> tuple[np.random.Generator, np.ndarray, np.ndarray]:
    """A blurred random 80×80 texture and the mask of its central 40×40 square."""
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.integers(0, 255, (80, 80, 3)).astype(np.uint8), (0, 0), 1.5)
    mask = np.zeros((80, 80), bool)
    mask[20:60, 20:60] = True
    return rng, img, mask


def test_flow_px_sees_a_coherent_shift_and_not_a_scatter():
    rng, img, mask = _patch(3)
    shifted = img.copy()
    shifted[20:60, 20:60] = np.roll(img, (2, 3), axis=(0, 1))[20:60, 20:60]
    yy, xx = np.mgrid[0:80, 0:80].astype(np.float32)
    dx, dy = (rng.uniform(-2.5, 2.5, (2, 80, 80))).astype(np.float32)
    scattered = img.copy()
    scattered[20:60, 20:60] = cv2.remap(img, xx + dx, yy + dy, cv2.INTER_NEAREST)[20:60, 20:60]
    coherent = region_features(img, shifted, mask).flow_px
    independent = region_features(img, scattered, mask).flow_px
    assert coherent == pytest.approx(np.hypot(2, 3), abs=1.0)
    assert independent < 0.5


def _field(kind: str, size: int = 64, r: float = 24.0) -> np.ndarray:
    """A flow field on a size×size grid: a disc turned 15° as a whole, or swirled (angle fading out)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    dx, dy = xx - size / 2, yy - size / 2
    d = np.hypot(dx, dy)
    if kind == "rotate":
        ang = np.where(d < r, np.radians(15.0), 0.0)
    else:
        ang = np.radians(45.0) * np.clip(1 - (d / r) ** 2, 0, None) ** 2
    c, s = np.cos(ang), np.sin(ang)
    return np.stack([c * dx - s * dy - dx, s * dx + c * dy - dy], -1).astype(np.float32)


def test_bend_is_small_for_one_motion_and_large_for_a_swirl():
    core = np.zeros((64, 64), bool)
    core[10:54, 10:54] = True
    weight = np.ones((64, 64), np.float32)
    turned, swirled = _bend(_field("rotate"), core, weight), _bend(_field("swirl"), core, weight)
    assert turned < 0.1  # the inner half's rotation carries on outward
    assert swirled > 0.5  # the swirl angle fades with the radius: the inner half overshoots outside


def test_bend_is_measured_only_where_colours_stayed_and_something_moved():
    _, img, mask = _patch(5)
    brighter = img.copy()
    brighter[mask] = np.clip(brighter[mask].astype(int) + 40, 0, 255)
    shifted = img.copy()
    shifted[20:60, 20:60] = np.roll(img, (2, 3), axis=(0, 1))[20:60, 20:60]
    assert region_features(img, brighter, mask).bend is None
    assert region_features(img, shifted, mask).bend is not None


def _text(text: str = "KX74") -> np.ndarray:
    """Small dark text on a light ground, 96×64 RGB."""
    from PIL import Image, ImageDraw

    from miscomp.synth.scenes import font

    im = Image.new("RGB", (96, 64), (230, 228, 220))
    ImageDraw.Draw(im).text((10, 22), text, fill=(30, 30, 40), font=font(18))
    return np.asarray(im)


def test_blur_explains_text_smoothed_away_and_not_text_redrawn():
    orig = _text()
    mask = np.zeros((64, 96), bool)
    mask[18:46, 6:80] = True
    f = region_features(orig, cv2.GaussianBlur(orig, (0, 0), 2.0), mask)
    assert f.blur > 0.9 and 1.2 <= f.blur_sigma <= 2.7
    assert f.texture_ratio < 0.6 and f.pattern_kept < 0.7
    assert region_features(orig, _text("HZ31"), mask).blur < 0.5  # other glyphs drawn: no blur


def test_forward_reads_the_motion_off_an_affine_field():
    yy, xx = np.mgrid[0:40, 0:50].astype(np.float32)
    m = np.array([[1.1, 0.2, -3.0], [-0.1, 0.9, 2.5]], np.float32)
    fx = (m[0, 0] - 1) * xx + m[0, 1] * yy + m[0, 2]
    fy = m[1, 0] * xx + (m[1, 1] - 1) * yy + m[1, 2]
    np.testing.assert_allclose(_forward(fx, fy), m, atol=1e-4)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[300:428, 180:308])


def test_two_layers_explain_a_detail_scaled_over_kept_surroundings(astronaut):
    from miscomp.synth.changes import apply_change, changed_pixels

    gains, motions = [], []
    for seed in range(6):
        rec, _ = apply_change(astronaut, "scale", np.random.default_rng(seed))
        mask = cv2.dilate(changed_pixels(astronaut, rec).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        f = region_features(astronaut, rec, mask)
        gains.append(f.layered[1] - f.low_freedom[1])
        motions.append(f.layered_px)
    # One motion of the whole region leaves the kept surroundings and the seam; two layers do not
    # (measured gains +0.09 +0.19 +0.09 +0.10 -0.04 +0.07).
    assert sum(g > 0 for g in gains) >= 4 and np.mean(gains) > 0.04, gains
    assert min(motions) >= 1.0, motions  # scaled by 12-30 % over 10+ px: pixels moved


def test_a_glyph_swapped_is_not_two_layers_the_other_way_round():
    orig = _text("KX74")
    mask = np.zeros((64, 96), bool)
    mask[18:46, 6:80] = True
    moved = region_features(orig, np.roll(orig, 3, axis=1), mask)  # the whole line moved 3 px
    assert moved.layered[1] > 0.9 and moved.layered_back > 0.9
    assert moved.layered_px == pytest.approx(3.0, abs=0.5)
    # 4 -> 1: forward, the 1 looks like the 4's stem moved over the kept ground; back, the 4's other
    # strokes have nothing to come from.
    swapped = region_features(orig, _text("KX71"), mask)
    assert swapped.layered_back < 0.3 < swapped.layered[1]


def _soft_shift(img: np.ndarray, dx: int, dy: int) -> tuple[np.ndarray, np.ndarray]:
    """``img`` with a disc in its centre shifted by (dx, dy) px and blended in with a soft mask (the
    ghost of the old position stays in the ramp), and the mask of the changed region."""
    h, w = img.shape[:2]
    alpha = np.zeros((h, w), np.float32)
    cv2.circle(alpha, (w // 2, h // 2), 22, 1.0, -1)
    alpha = cv2.GaussianBlur(alpha, (0, 0), 7.0)[..., None]
    moved = cv2.warpAffine(img, np.float32([[1, 0, dx], [0, 1, dy]]), (w, h), borderMode=cv2.BORDER_REFLECT)
    out = np.clip(img * (1 - alpha) + moved * alpha + 0.5, 0, 255).astype(np.uint8)
    return out, alpha[..., 0] > 0.05


def test_the_ghost_model_explains_a_blended_shift_and_finds_it():
    # Fine texture shifted by 6 px and blended in: the ghost model (a soft blend of the original moved
    # and in place, the translation searched photometrically) explains it, both ways round.
    _, img, _ = _patch(5)
    rec, mask = _soft_shift(img, 6, -2)
    f = region_features(img, rec, mask)
    assert f.ghost > 0.8 and f.ghost_back > 0.5, (f.ghost, f.ghost_back)
    assert f.ghost_px == pytest.approx(np.hypot(6, 2), abs=0.5)


def test_the_ghost_model_does_not_explain_a_brightness_change_or_a_new_stroke():
    _, img, _ = _patch(5)
    alpha = np.zeros((80, 80), np.float32)
    cv2.circle(alpha, (40, 40), 22, 1.0, -1)
    mask = alpha > 0
    brighter = np.clip(img + 45.0 * cv2.GaussianBlur(alpha, (0, 0), 7.0)[..., None], 0, 255).astype(np.uint8)
    stroke = img.copy()
    cv2.line(stroke, (22, 30), (58, 50), (250, 250, 250), 3)
    for rec in (brighter, stroke):
        assert region_features(img, rec, mask).ghost < 0.5


def _ramp_square(dst=(40, 40, 200), grow: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A red 70×50 square on a noisy colour ramp (red rising to the right; bluish where it is low), and
    the reconstruction: the square turned ``dst`` (its contrast to the bluish ramp on its left falls
    by half) and grown by ``grow`` px on every side (negative: eroded). The mask: the square's box with
    a 6 px margin."""
    from testing.shapes import ramp

    img = ramp(120, 180, seed=5)
    rec = img.copy()
    img[30:80, 20:90] = (200, 40, 40)
    rec[30 - grow : 80 + grow, 20 - grow : 90 + grow] = dst
    mask = np.zeros(img.shape[:2], bool)
    mask[24:86, 14:96] = True
    return img, rec, mask


def test_a_contour_kept_at_a_contrast_that_varies_along_it_is_kept():
    # Issue 32's follow-up: a red square turned blue next to a bluish background keeps its contour at
    # half the contrast on one side and more on the other. Read against one level for the whole
    # region, the edge's flanks (wider the stronger the edge) counted as lost: 0.74 on the report's
    # 140×100 square. Each side's own contour strength nearby keeps it.
    lab = [_lab(x) for x in _ramp_square()[:2]]
    assert _contours_kept(*lab, _ramp_square()[2]) > 0.95


@pytest.mark.parametrize("grow", [-4, -2, 3])
def test_a_contour_moved_by_a_few_pixels_is_not_kept(grow):
    img, rec, mask = _ramp_square(dst=(200, 40, 40), grow=grow)
    assert _contours_kept(_lab(img), _lab(rec), mask) < 0.6


def test_sum3_is_numpys_sum_bit_for_bit():
    from miscomp.taxonomy.features import _sum3

    x = np.random.default_rng(3).normal(0, 50, (37, 41, 3)).astype(np.float32)
    for a in (x, x.astype(np.float64), x.reshape(-1, 3)):
        assert np.array_equal(_sum3(a), a.sum(-1))


def test_ghost_blend_on_the_core_equals_the_whole_patch():
    """_blend_residual converts the blend to Lab on the core only: the same residual as converting the
    whole patch and reading the core (as it was first written)."""
    from miscomp.taxonomy.features import _GHOST_SIGMA, _blend_residual, _mean_dist

    rng = np.random.default_rng(5)
    o = _stripes(20.0, 72, seed=1).astype(np.float32) / 255
    r = np.clip(o + rng.normal(0, 0.05, o.shape).astype(np.float32), 0, 1)
    moved = np.roll(o, (3, -2), axis=(0, 1))
    core = _core(72) & (rng.random((72, 72)) < 0.7)
    lab_r = cv2.cvtColor(r, cv2.COLOR_RGB2Lab)

    dm, db = moved - o, r - o
    num = cv2.GaussianBlur((db * dm).sum(-1), (0, 0), _GHOST_SIGMA)
    den = cv2.GaussianBlur((dm * dm).sum(-1), (0, 0), _GHOST_SIGMA)
    alpha = np.clip(num / (den + 1e-4), 0.0, 1.0)[..., None]
    pred = cv2.cvtColor(np.clip(o + alpha * dm, 0.0, 1.0), cv2.COLOR_RGB2Lab)
    want = _mean_dist(pred - lab_r, core)
    assert _blend_residual(o, db, moved, np.flatnonzero(core), o[core], lab_r[core]) == want
