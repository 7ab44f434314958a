"""The training loop in miniature: a few steps on tiny crops, checkpoint and resume, and an export
whose entropy tables travel in the file and decode through the codec registry."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("compressai")

from miscomp.synth.scenes import rendered_scenes  # noqa: E402
from miscomp.training.data import TrainingSet  # noqa: E402
from miscomp.training.loop import LAMBDA_MSE, TrainConfig, export_weights, learning_rate, train  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny_set() -> TrainingSet:
    return TrainingSet(groups={"rendered": rendered_scenes(2, size=(96, 80))}, weights={"rendered": 1.0})


def _cfg(max_steps: int) -> TrainConfig:
    return TrainConfig(
        quality=1,
        batch_size=2,
        patch=64,
        minutes=0,
        max_steps=max_steps,
        warmup_steps=2,
        checkpoint_every_s=1e9,
        log_every=1,
    )


def test_sample_shape_range_and_determinism(tiny_set):
    a = tiny_set.sample(np.random.default_rng(0), 3, 32)
    b = tiny_set.sample(np.random.default_rng(0), 3, 32)
    assert a.shape == (3, 3, 32, 32) and a.dtype == np.float32
    assert a.min() >= 0.0 and a.max() <= 1.0
    np.testing.assert_array_equal(a, b)


def test_rendered_scenes_are_deterministic_and_varied():
    s1, s2 = rendered_scenes(3, seed=7, size=(64, 48)), rendered_scenes(3, seed=7, size=(64, 48))
    assert all(np.array_equal(x, y) for x, y in zip(s1, s2, strict=True))
    assert s1[0].shape == (48, 64, 3) and not np.array_equal(s1[0], s1[1])


def test_learning_rate_warms_up_then_decays():
    cfg = TrainConfig(lr=1e-3, lr_min=1e-5, warmup_steps=10, minutes=10)
    assert learning_rate(cfg, 0, 0) == pytest.approx(1e-4)
    assert learning_rate(cfg, 10, 0) == pytest.approx(1e-3)
    assert learning_rate(cfg, 100, 300) == pytest.approx((1e-3 + 1e-5) / 2)
    assert learning_rate(cfg, 1000, 600) == pytest.approx(1e-5)
    assert TrainConfig(quality=2).lambda_ == LAMBDA_MSE[2] == 0.0035


@pytest.mark.slow
def test_train_checkpoint_resume_and_export(tmp_path, tiny_set):
    work = tmp_path / "run"
    state = train(_cfg(2), tiny_set, work, log=lambda s: None)
    assert state["step"] == 2 and state["final"]
    first = torch.load(work / "checkpoint.pt", weights_only=False)
    log = [json.loads(line) for line in (work / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "loss" in r] == [1, 2]

    # resume: continues from step 2 (not from 0) and the weights keep changing
    messages: list[str] = []
    state = train(_cfg(3), tiny_set, work, log=messages.append)
    assert state["step"] == 3 and any("resumed at step 2" in m for m in messages)
    key = "g_a.0.weight"
    assert not torch.equal(first["model"][key], state["model"][key])

    out = tmp_path / "models" / "bmshj2018-factorized-q1-miscomp.pth"
    meta = export_weights(work / "checkpoint.pt", out, settle_steps=50)
    assert meta["steps"] == 3 and meta["lambda"] == LAMBDA_MSE[1]
    assert meta["aux_loss_after_settle"] < meta["aux_loss_before_settle"]
    sd = torch.load(out, weights_only=True)
    assert sd["entropy_bottleneck._quantized_cdf"].numel() > 0  # update(force=True) ran
    assert sd["entropy_bottleneck._quantized_cdf"].dtype == torch.int32
    assert sd[key].dtype == torch.float16 and sd["entropy_bottleneck.quantiles"].dtype == torch.float32

    # the keys are exactly those of CompressAI's model, and the file decodes through our registry
    from compressai.zoo import bmshj2018_factorized

    assert set(sd) == set(bmshj2018_factorized(quality=1).state_dict())
    from miscomp.codecs import create_codec

    codec = create_codec(f"bmshj2018-factorized:q=1,weights={out}")
    img = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
    data = codec.compress(img)
    assert codec.decompress(data).shape == img.shape
    assert codec.info()["entropy_tables"] == "checkpoint"


@pytest.mark.slow
def test_init_from_starts_a_new_run_from_other_weights(tmp_path, tiny_set):
    train(_cfg(1), tiny_set, tmp_path / "a", log=lambda s: None)
    src = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=False)["model"]
    messages: list[str] = []
    state = train(
        TrainConfig(
            quality=2,
            batch_size=2,
            patch=64,
            minutes=0,
            max_steps=0 + 1,
            lr=1e-12,
            warmup_steps=1,
            checkpoint_every_s=1e9,
        ),
        tiny_set,
        tmp_path / "b",
        log=messages.append,
        init_from=tmp_path / "a" / "checkpoint.pt",
    )
    assert any("initialised from" in m for m in messages) and state["step"] == 1
    # with a vanishing learning rate the transforms are still (almost) the source's
    torch.testing.assert_close(state["model"]["g_s.0.weight"], src["g_s.0.weight"], atol=1e-6, rtol=0)


def test_entropy_model_learns_faster_and_quantiles_have_their_own_optimiser():
    from miscomp.training.loop import _optimisers, build_model

    model = build_model("bmshj2018-factorized", 1)
    opt, aux = _optimisers(model, TrainConfig(entropy_lr_scale=10.0))
    names = {id(p): n for n, p in model.named_parameters()}
    transforms, density = ({names[id(p)] for p in g["params"]} for g in opt.param_groups)
    assert [g["lr_scale"] for g in opt.param_groups] == [1.0, 10.0]
    assert density and all(n.startswith("entropy_bottleneck.") for n in density)
    assert not any(n.startswith("entropy_bottleneck.") for n in transforms)
    assert [names[id(p)] for p in aux.param_groups[0]["params"]] == ["entropy_bottleneck.quantiles"]
    assert len(transforms) + len(density) + 1 == len(names)


@pytest.mark.slow
def test_hyperprior_trains_exports_and_decodes(tmp_path, tiny_set):
    """The loop is not factorized-only: the hyperprior's two entropy models train and export too."""
    from dataclasses import replace

    work = tmp_path / "hp"
    state = train(replace(_cfg(2), arch="bmshj2018-hyperprior"), tiny_set, work, log=lambda s: None)
    assert state["step"] == 2
    out = tmp_path / "models" / "bmshj2018-hyperprior-q1-miscomp.pth"
    export_weights(work / "checkpoint.pt", out, settle_steps=20)
    sd = torch.load(out, weights_only=True)
    assert sd["gaussian_conditional._quantized_cdf"].numel() > 0
    from miscomp.codecs import create_codec

    codec = create_codec(f"bmshj2018-hyperprior:q=1,weights={out}")
    img = (np.random.default_rng(1).random((64, 64, 3)) * 255).astype(np.uint8)
    assert codec.decompress(codec.compress(img)).shape == img.shape


class _RunsCodeWhenUnpickled:
    """A pickled object that creates a file when loaded: what a hostile checkpoint could do."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_checkpoints_load_weights_only_and_refuse_pickled_objects(tmp_path, tiny_set):
    from miscomp.errors import MiscompError
    from miscomp.training.loop import load_checkpoint

    # What train() writes is plain data and loads with weights_only=True.
    state = train(_cfg(1), tiny_set, tmp_path / "ok", log=lambda *_: None)
    loaded = load_checkpoint(tmp_path / "ok" / "checkpoint.pt")
    assert loaded["step"] == state["step"] == 1 and loaded["config"]["quality"] == 1

    marker = tmp_path / "code-ran"
    bad = tmp_path / "hostile.pt"
    torch.save({"model": {}, "config": {}, "x": _RunsCodeWhenUnpickled(marker)}, bad)
    with pytest.raises(MiscompError, match=r"hostile\.pt: refused to load.*older miscomp"):
        export_weights(bad, tmp_path / "out.pth")
    assert not marker.exists()  # nothing in the file was executed
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    with pytest.raises(MiscompError, match=r"junk\.pt: (refused to load|not a readable checkpoint)"):
        load_checkpoint(tmp_path / "junk.pt")
