"""The miscompression-aware loss terms on tiny tensors, the text-crop data and one aware training step."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from miscomp.training.aware import (  # noqa: E402
    AWARE_TERMS,
    AwareConfig,
    aware_loss,
    aware_term,
    edge_l1,
    edge_rel,
    masked_mse,
)
from miscomp.training.data import (  # noqa: E402
    AwareTrainingSet,
    TextCropConfig,
    TrainingSet,
    box_mask,
    text_scene_crops,
)

torch.set_num_threads(1)
TERMS = [t for t in AWARE_TERMS if t != "none"]


def _glyph() -> tuple[torch.Tensor, torch.Tensor]:
    """A 1×3×16×16 light image with a dark vertical stroke (an 'I') and a mask over its box."""
    x = torch.full((1, 3, 16, 16), 0.9)
    x[:, :, 3:13, 7:9] = 0.1
    mask = torch.zeros(1, 1, 16, 16)
    mask[:, :, 2:14, 5:11] = 1.0
    return x, mask


@pytest.mark.parametrize("term", TERMS)
def test_zero_when_reconstruction_equals_original(term):
    x, mask = _glyph()
    assert float(aware_term(term, x.clone(), x, mask)) == 0.0


@pytest.mark.parametrize("term", TERMS)
def test_grows_with_a_stroke_change(term):
    x, mask = _glyph()
    half = x.clone()
    half[:, :, 3:13, 7:9] = 0.5  # the stroke fades halfway (MSE blur)
    gone = x.clone()
    gone[:, :, 3:13, 7:9] = 0.9  # the stroke is gone ('I' -> nothing)
    a, b = float(aware_term(term, half, x, mask)), float(aware_term(term, gone, x, mask))
    assert 0.0 < a < b


def test_edge_term_sees_a_blurred_stroke_that_keeps_its_mean():
    """A blur keeps the local mean but flattens the edges: the edge term grows more than in proportion."""
    x, mask = _glyph()
    blurred = torch.nn.functional.avg_pool2d(x, 5, stride=1, padding=2, count_include_pad=False)
    assert float(edge_l1(blurred, x, mask)) > 0.05
    assert float(edge_l1(x + 0.05, x, mask)) == pytest.approx(0.0, abs=1e-6)  # a uniform shift has no edge
    assert float(masked_mse(x + 0.05, x, mask)) == pytest.approx(0.0025, rel=1e-4)


@pytest.mark.parametrize("term", TERMS)
def test_mask_weighting_ignores_changes_outside_the_mask(term):
    x, mask = _glyph()
    outside = x.clone()
    outside[:, :, 0:2, 0:4] = 0.0  # a change in the corner, outside the text box
    assert float(aware_term(term, outside, x, mask)) == 0.0
    assert float(aware_term(term, outside, x, torch.ones_like(mask))) > 0.0
    # an empty mask (a photo crop) gives exactly zero, not a NaN
    assert float(aware_term(term, outside, x, torch.zeros_like(mask))) == 0.0


def test_mask_normalisation_small_text_weighs_like_large_text():
    x, mask = _glyph()
    rec = x.clone()
    rec[:, :, 3:13, 7:9] = 0.5
    one = float(masked_mse(rec, x, mask))
    two = float(masked_mse(torch.cat([rec, x]), torch.cat([x, x]), torch.cat([mask, torch.zeros_like(mask)])))
    assert two == pytest.approx(one / 2)  # the per-item mean: an item without text contributes zero


@pytest.mark.parametrize("term", TERMS)
def test_gradients_flow_to_the_reconstruction(term):
    x, mask = _glyph()
    rec = (x * 0.5 + 0.2).requires_grad_(True)
    aware_term(term, rec, x, mask).backward()
    g = rec.grad
    assert g is not None and float(g.abs().sum()) > 0
    assert float(g[..., 0, 0].abs().sum()) == 0.0  # nothing outside the (padded) mask's reach


def test_aware_loss_adds_the_weighted_term():
    x, mask = _glyph()
    rec = x * 0.8
    rd = {"loss": torch.tensor(1.0), "bpp_loss": torch.tensor(0.5), "mse_loss": torch.tensor(0.0)}
    out = aware_loss(rd, {"x_hat": rec}, x, mask, 0.0018, AwareConfig("masked", 2.0))
    term = float(masked_mse(rec, x, mask))
    assert float(out["aware"]) == pytest.approx(term)
    assert float(out["loss"]) == pytest.approx(1.0 + 0.0018 * 255**2 * 2.0 * term, rel=1e-5)
    assert float(rd["loss"]) == 1.0  # the input dict is not changed


def test_config_rejects_unknown_terms_and_negative_weights():
    with pytest.raises(ValueError, match="aware term"):
        AwareConfig("ocr", 1.0)
    with pytest.raises(ValueError, match="lambda"):
        AwareConfig("edge", -1.0)
    assert not AwareConfig("edge", 0.0).active and AwareConfig("edge", 0.5).active


def test_text_crops_hold_text_and_their_masks():
    cfg = TextCropConfig()
    crops = text_scene_crops(range(cfg.train_seed0, cfg.train_seed0 + 1), cfg, kinds=("table", "plates"))
    assert len(crops.images) == 2 and all(
        m.shape == i.shape[:2] for i, m in zip(crops.images, crops.masks, strict=True)
    )
    x, m = crops.sample(np.random.default_rng(0), 4, 64)
    assert x.shape == (4, 3, 64, 64) and m.shape == (4, 1, 64, 64)
    assert (m.reshape(4, -1).max(1) == 1.0).all()  # every crop is centred near a text box
    x2, m2 = crops.sample(np.random.default_rng(0), 4, 64)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(m, m2)


def test_box_mask_pads_and_clips():
    m = box_mask((10, 10), [(0, 0, 2, 2), (8, 8, 5, 5)], pad=1)
    assert m[0, 0] == 1 and m[2, 2] == 1 and m[3, 3] == 0 and m[9, 9] == 1 and m.sum() == 9 + 9


def test_weighted_mask_scales_edge_rel_and_binary_mask_is_unchanged():
    x, mask = _glyph()
    rec = x.clone()
    rec[:, :, 3:13, 7:9] = 0.5  # the stroke faded
    plain = float(edge_rel(rec, x, mask))
    assert plain > 0
    assert float(edge_rel(rec, x, mask * 2.5)) == pytest.approx(2.5 * plain, rel=1e-5)
    # within one crop, the heavier box dominates: a faded light-weight stroke next to an intact heavy one
    two = torch.cat([x, x], dim=3)  # 16×32: the same stroke twice
    rec2 = two.clone()
    rec2[:, :, 3:13, 7:9] = 0.5  # only the left one fades
    left_heavy = torch.cat([mask * 4, mask * 0.25], dim=3)
    right_heavy = torch.cat([mask * 0.25, mask * 4], dim=3)
    assert float(edge_rel(rec2, two, left_heavy)) > 10 * float(edge_rel(rec2, two, right_heavy))


def test_small_text_weighs_more_in_masks_and_in_sampling():
    cfg = TextCropConfig(size_ref_px=16)
    assert cfg.box_weight(8) == pytest.approx(4.0) and cfg.box_weight(16) == 1.0
    assert cfg.box_weight(64) == pytest.approx(0.25) and cfg.box_weight(4) == pytest.approx(4.0)  # clipped
    assert TextCropConfig().box_weight(8) == 1.0  # off by default
    crops = text_scene_crops(range(cfg.train_seed0, cfg.train_seed0 + 2), cfg, kinds=("signs", "stickers"))
    assert crops.weights is not None and {int(v) for m in crops.masks for v in np.unique(m)} > {0, 32}
    x, m = crops.sample(np.random.default_rng(0), 64, 64)
    assert m.max() > 1.0 and m.min() == 0.0  # weights, not a 0/1 mask
    # crops are centred on small boxes more often than an unweighted draw would
    flat_w = np.array([w for ws in crops.weights for w in ws])
    assert crops._p.max() > 1.5 / len(flat_w) and crops._p.sum() == pytest.approx(1.0)


def test_plate_crops_are_windows_around_the_plate(tmp_path):
    from PIL import Image

    cfg = TextCropConfig()
    (tmp_path / "eu").mkdir()
    img = np.full((900, 1200, 3), 90, np.uint8)
    img[500:540, 700:840] = 230
    Image.fromarray(img).save(tmp_path / "eu" / "car.jpg")
    (tmp_path / "eu" / "car.txt").write_text("car.jpg\t700\t500\t140\t40\tAB123\n")
    from miscomp.training.data import plate_text_crops

    crops = plate_text_crops(tmp_path, lambda ref: True, cfg)
    side = max(cfg.plate_window, 140 + 2 * 128)  # the window holds the plate and a patch on each side
    assert len(crops.images) == 1 and crops.images[0].shape[:2] == (side, side)
    x, y, w, h = crops.boxes[0][0]
    assert (w, h) == (140, 40) and crops.masks[0][y + 5, x + 5] == 1
    assert crops.images[0][y + 20, x + 70, 0] > 200  # the box still points at the plate
    assert crops.images[0].shape[0] * crops.images[0].shape[1] < img.shape[0] * img.shape[1] / 5
    assert len(plate_text_crops(tmp_path, lambda ref: False, cfg).images) == 0


def test_aware_set_mixes_text_and_plain_crops():
    cfg = TextCropConfig()
    base = TrainingSet(groups={"flat": [np.full((80, 80, 3), 128, np.uint8)]}, weights={"flat": 1.0})
    text = text_scene_crops(range(cfg.train_seed0, cfg.train_seed0 + 1), cfg, kinds=("signs",))
    data = AwareTrainingSet(base, [text], text_share=0.5)
    x, m = data.sample_masked(np.random.default_rng(1), 64, 32)
    has_text = m.reshape(64, -1).max(1) > 0
    assert 16 < has_text.sum() < 48  # about half
    flat = np.abs(x - 128 / 255).reshape(64, -1).max(1) < 1e-6
    assert (flat == ~has_text).all()  # the plain crops are exactly the ones with empty masks


def _flat_and_sign_crops():
    """The training loops' tiny data: one flat grey photo group, and an aware set adding one seed of
    rendered sign crops with their text masks."""
    cfg = TextCropConfig()
    base = TrainingSet(groups={"flat": [np.full((80, 80, 3), 128, np.uint8)]}, weights={"flat": 1.0})
    return base, AwareTrainingSet(
        base, [text_scene_crops(range(cfg.train_seed0, cfg.train_seed0 + 1), cfg, ("signs",))]
    )


def test_one_aware_training_step_runs_and_logs_the_term(tmp_path):
    pytest.importorskip("compressai")
    import json

    from miscomp.training.loop import TrainConfig, train

    base, data = _flat_and_sign_crops()
    tc = TrainConfig(
        batch_size=2, patch=64, minutes=0, max_steps=2, warmup_steps=1, checkpoint_every_s=1e9, log_every=1,
        aware_term="masked+edge", aware_lambda=1.0,
    )  # fmt: skip
    state = train(tc, data, tmp_path, log=lambda s: None)
    assert state["step"] == 2 and state["config"]["aware_term"] == "masked+edge"
    records = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert all(r["aware"] >= 0 for r in records if "loss" in r) and any("aware" in r for r in records)
    with pytest.raises(ValueError, match="text masks"):
        train(tc, base, tmp_path / "plain", log=lambda s: None)


def test_rate_controller_raises_mu_above_target_lowers_it_below_and_stays_bounded():
    from miscomp.training.loop import RateControl, RateController

    c = RateControl(eta=1.0, ema=0.0, mu_min=0.5, mu_max=3.0)
    up, down, held = RateController(c, 100.0), RateController(c, 100.0), RateController(c, 100.0)
    assert up.update(110.0) == pytest.approx(math.exp(0.1)) and up.mu > 1.0
    assert down.update(90.0) == pytest.approx(math.exp(-0.1)) and down.mu < 1.0
    assert held.update(100.0) == pytest.approx(1.0)
    for _ in range(100):
        up.update(200.0)
        down.update(10.0)
    assert up.mu == 3.0 and down.mu == 0.5
    # EMA: a single spike moves μ by only (1 - ema) of what it would without smoothing
    smooth = RateController(RateControl(eta=1.0, ema=0.5), 100.0, ratio_ema=1.0)
    assert smooth.update(120.0) == pytest.approx(math.exp(0.1))
    again = RateController.from_state(smooth.state_dict())
    assert (again.mu, again.ratio_ema, again.target) == (smooth.mu, smooth.ratio_ema, smooth.target)
    with pytest.raises(ValueError, match="positive"):
        RateController(c, 0.0)


def test_rate_control_config_carries_provenance_and_target_is_checked():
    from miscomp.config import check_provenance
    from miscomp.training.loop import RateControl, TrainConfig

    assert check_provenance(RateControl) == []
    with pytest.raises(ValueError, match="rate target"):
        TrainConfig(rate_target="kodak")


def test_rate_target_base_measures_the_initial_probe_and_adapts_mu(tmp_path):
    pytest.importorskip("compressai")
    import json

    from miscomp.training.loop import TrainConfig, train

    base, data = _flat_and_sign_crops()
    tc = TrainConfig(
        batch_size=2, patch=32, minutes=0, max_steps=20, warmup_steps=1, checkpoint_every_s=1e9, log_every=10,
        aware_term="edge-rel", aware_lambda=1.0, rate_target="base",
    )  # fmt: skip
    state = train(tc, data, tmp_path, log=lambda s: None)
    records = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    target = [r for r in records if r.get("event") == "rate_target"]
    rate = [r for r in records if r.get("event") == "rate"]
    assert len(target) == 1 and target[0]["mu"] == 1.0 and target[0]["target_bits"] > 0
    assert [r["step"] for r in rate] == [20] and rate[0]["mu"] != 1.0  # one dual step moved μ
    assert state["rate_controller"]["mu"] == pytest.approx(rate[0]["mu"], abs=1e-5)
    with pytest.raises(ValueError, match="text crops"):
        train(
            TrainConfig(rate_target="base", max_steps=1, minutes=0),
            base,
            tmp_path / "plain",
            log=lambda s: None,
        )


def test_rate_target_tune_holds_the_callers_signal_and_needs_one(tmp_path):
    pytest.importorskip("compressai")
    import json

    from miscomp.training.loop import RateControl, TrainConfig, train

    base, data = _flat_and_sign_crops()
    every = RateControl().tune_every
    tc = TrainConfig(
        batch_size=2, patch=32, minutes=0, max_steps=every, warmup_steps=1, checkpoint_every_s=1e9,
        log_every=every, aware_term="edge-rel", aware_lambda=1.0, rate_target="tune",
    )  # fmt: skip
    calls = []

    def signal(model):  # a rate 20 % above the start once training runs: μ must rise
        calls.append(model.training)
        return 1.0 if len(calls) == 1 else 1.2

    state = train(tc, data, tmp_path, log=lambda s: None, rate_signal=signal)
    records = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    rate = [r for r in records if r.get("event") == "rate"]
    assert calls == [False, False]  # measured at the start and after `every` steps, in eval mode
    assert [r["step"] for r in rate] == [every] and rate[0]["mu"] == pytest.approx(
        math.exp(RateControl().tune_eta * 0.2), abs=1e-4
    )
    assert state["rate_controller"]["mode"] == "tune"
    with pytest.raises(ValueError, match="rate signal"):
        train(tc, data, tmp_path / "none", log=lambda s: None)
