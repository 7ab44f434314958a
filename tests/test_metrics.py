import numpy as np
import pytest

from miscomp.metrics import ms_ssim, psnr


def test_psnr_known_values():
    a = np.zeros((8, 8, 3), np.uint8)
    b = a.copy()
    b[...] = 10
    assert psnr(a, b) == pytest.approx(10 * np.log10(255**2 / 100))
    assert psnr(a, a) == np.inf


@pytest.mark.parametrize("size", [(256, 256), (200, 300)])
def test_ms_ssim_matches_pytorch_msssim(size, rng):
    torch = pytest.importorskip("torch")
    from pytorch_msssim import ms_ssim as ref

    a = rng.integers(0, 256, (*size, 3)).astype(np.uint8)
    a = (a.astype(float) * 0.3 + np.linspace(0, 170, size[1])[None, :, None]).astype(np.uint8)
    b = np.clip(a + rng.normal(0, 12, a.shape), 0, 255).astype(np.uint8)
    t = lambda x: torch.from_numpy(x).permute(2, 0, 1)[None].double()  # noqa: E731
    expected = float(ref(t(a), t(b), data_range=255, size_average=True))
    assert ms_ssim(a, b) == pytest.approx(expected, abs=1e-5)


def test_ms_ssim_identity_small_and_mismatch(rng):
    a = rng.integers(0, 256, (64, 64, 3)).astype(np.uint8)
    assert ms_ssim(a, a) == pytest.approx(1.0)
    assert np.isnan(ms_ssim(a[:5, :5], a[:5, :5]))
    with pytest.raises(ValueError):
        ms_ssim(a, a[:32])


def test_downsampling_in_float32_equals_float64s_mean_at_every_scale():
    from miscomp.metrics import _downsample

    rng = np.random.default_rng(5)
    for shape in [(64, 96), (63, 95), (2, 3)]:
        img = rng.integers(0, 256, shape, dtype=np.uint8)
        for _ in range(4):  # the four downsamplings of a 5-scale MS-SSIM
            h, w = img.shape
            padded = np.pad(img, ((h % 2, h % 2), (w % 2, w % 2))).astype(np.float64)
            h2, w2 = padded.shape[0] // 2, padded.shape[1] // 2
            ref = padded[: h2 * 2, : w2 * 2].reshape(h2, 2, w2, 2).mean(axis=(1, 3))
            img = _downsample(img)
            np.testing.assert_array_equal(img, ref)  # exact, not close
            if min(img.shape) < 2:
                break
