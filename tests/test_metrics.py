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
