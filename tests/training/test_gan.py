"""GAN-lite loss terms and training on tiny tensors (miscomp/training/gan.py)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("compressai")

from miscomp.training import gan  # noqa: E402


def _img(seed: int = 0, n: int = 2, size: int = 32):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g)


def _blur(x):
    return gan._blur3(gan._blur3(x))


def test_hf_stats_is_zero_on_identity_and_prefers_misplaced_detail_to_blur():
    x = _img()
    assert float(gan.hf_stats_loss(x, x)) == pytest.approx(0.0, abs=1e-6)
    b = _blur(x)
    shifted = b + torch.roll(x - b, shifts=(3, 3), dims=(2, 3))  # all the detail, in the wrong place
    assert float(gan.hf_stats_loss(b, x)) > 2 * float(gan.hf_stats_loss(shifted, x))
    # MSE ranks them the other way round: that is why the term exists
    assert float(((b - x) ** 2).mean()) < float(((shifted - x) ** 2).mean())


def test_hf_stats_gradient_adds_detail_to_a_blurred_image():
    x = _img(1)
    rec = _blur(x).requires_grad_(True)
    gan.hf_stats_loss(rec, x).backward()
    with torch.no_grad():
        stepped = rec - 0.5 * rec.grad / rec.grad.abs().max()
    assert gan.hf_energy_ratio(stepped[0].permute(1, 2, 0).numpy(), x[0].permute(1, 2, 0).numpy()) > (
        gan.hf_energy_ratio(rec[0].detach().permute(1, 2, 0).numpy(), x[0].permute(1, 2, 0).numpy())
    )


def test_hf_energy_ratio():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (24, 24, 3)).astype(np.uint8)
    assert gan.hf_energy_ratio(img, img) == pytest.approx(1.0)
    flat = np.full_like(img, 128)
    assert gan.hf_energy_ratio(flat, img) == pytest.approx(0.0)
    blurred = _blur(torch.from_numpy(img).permute(2, 0, 1)[None].double())[0].permute(1, 2, 0).numpy()
    assert 0 < gan.hf_energy_ratio(blurred, img) < 0.5
    assert np.isnan(gan.hf_energy_ratio(img, flat))  # no detail in the original: undefined


def test_hinge_losses():
    hi, lo = torch.full((2, 1, 3, 3), 2.0), torch.full((2, 1, 3, 3), -2.0)
    assert float(gan.d_hinge(hi, lo)) == 0.0  # confident and right: nothing to learn
    assert float(gan.d_hinge(lo, hi)) == pytest.approx(6.0)  # 3 + 3
    assert float(gan.g_hinge(lo)) == pytest.approx(2.0)


def test_discriminator_gives_patch_logits_and_learns():
    torch.manual_seed(0)
    d = gan.build_discriminator(8)
    real, fake = _img(2, 4, 64), _blur(_img(3, 4, 64)) * 0.2
    assert d(real).shape[:2] == (4, 1) and d(real).shape[2] > 1  # one logit per patch
    opt = torch.optim.Adam(d.parameters(), lr=2e-3)
    first = gan.d_hinge(d(real), d(fake)).item()
    for _ in range(30):
        opt.zero_grad()
        loss = gan.d_hinge(d(real), d(fake))
        loss.backward()
        opt.step()
    assert loss.item() < first


def test_config_validates():
    with pytest.raises(ValueError, match="perceptual"):
        gan.GanConfig(perceptual="lpips")
    with pytest.raises(ValueError, match="w_adv"):
        gan.GanConfig(w_adv=-1)
    assert gan.GanConfig(quality=1).lambda_ == 0.0018


def test_generator_loss_parts():
    cfg = gan.GanConfig(w_mse=1.0, w_perc=0.5, w_adv=0.1)
    x = _img(4, 2, 64)
    out = gan.generator_loss(cfg, x.clone(), x, gan.hf_stats_loss)
    assert (
        float(out["mse"]) == 0 and float(out["perc"]) == pytest.approx(0, abs=1e-6) and float(out["adv"]) == 0
    )
    d = gan.build_discriminator(8)
    rec = _blur(x)
    out = gan.generator_loss(cfg, rec, x, gan.hf_stats_loss, d)
    scale = cfg.lambda_ * 255**2
    expect = scale * (float(out["mse"]) + 0.5 * float(out["perc"]) + 0.1 * float(out["adv"]))
    assert float(out["loss"]) == pytest.approx(expect, rel=1e-5)


class _Crops:
    def sample(self, rng, batch, patch):
        return rng.random((batch, 3, patch, patch)).astype(np.float32)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """Two steps from the shipped q1 weights on random 64² crops, then the export."""
    from miscomp.weights import inhouse_path

    base = inhouse_path("bmshj2018-factorized", 1)
    work = tmp_path_factory.mktemp("ganlite")
    cfg = gan.GanConfig(max_steps=2, minutes=0, batch_size=2, patch=64, adv_start=1, log_every=1)
    gan.train_ganlite(cfg, _Crops(), work, base, log=lambda s: None)
    out = work / "bmshj2018-factorized-q1-ganlite.pth"
    meta = gan.export_ganlite(work / "checkpoint.pt", base, out)
    return base, out, meta


def test_training_changes_only_the_decoder(tiny_run):
    base, out, meta = tiny_run
    a = torch.load(base, weights_only=True)
    b = torch.load(out, weights_only=True)
    assert a.keys() == b.keys()
    changed = {k for k in a if not torch.equal(a[k], b[k])}
    assert changed and all(k.startswith("g_s.") for k in changed)
    assert all(b[k].dtype == a[k].dtype for k in a)  # fp16 transforms, exact entropy model, as the base
    assert meta["steps"] == 2 and meta["base_sha256"] and meta["sha256"]


def test_exported_variant_codes_the_same_bitstream(tiny_run, tmp_path, monkeypatch):
    from miscomp.codecs import create_codec

    _, out, _ = tiny_run
    monkeypatch.setenv("MISCOMP_MODELS_DIR", str(out.parent))
    # the base file must sit beside it for weights=miscomp under the same models dir
    import shutil

    from miscomp.weights import file_sha256

    shutil.copy(tiny_run[0], out.parent / tiny_run[0].name)
    rgb = np.random.default_rng(0).integers(0, 256, (40, 56, 3)).astype(np.uint8)
    base = create_codec("bmshj2018-factorized:q=1")
    var = create_codec("bmshj2018-factorized:q=1,weights=ganlite")
    assert var.params()["weights"] == "ganlite"
    assert file_sha256(var.info()["weights"]["path"]) == file_sha256(out)
    data = base.compress(rgb)
    assert var.compress(rgb) == data
    assert var.decompress(data).shape == rgb.shape
    assert not np.array_equal(var.decompress(data), base.decompress(data))


def test_resume_continues_the_step_count(tmp_path):
    from miscomp.weights import inhouse_path

    base = inhouse_path("bmshj2018-factorized", 1)
    cfg = gan.GanConfig(max_steps=1, minutes=0, batch_size=1, patch=64, w_adv=0.0)
    gan.train_ganlite(cfg, _Crops(), tmp_path, base, log=lambda s: None)
    cfg2 = gan.GanConfig(max_steps=2, minutes=0, batch_size=1, patch=64, w_adv=0.0)
    st = gan.train_ganlite(cfg2, _Crops(), tmp_path, base, log=lambda s: None)
    assert st["step"] == 2
