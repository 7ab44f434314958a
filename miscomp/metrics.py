"""Full-reference quality of a reconstruction: PSNR and MS-SSIM on 8-bit RGB.

MS-SSIM follows Wang et al. (2003) as implemented by pytorch_msssim (11-tap Gaussian, σ = 1.5,
valid filtering, 5 scales, per-channel then averaged), so our numbers are comparable with CompressAI's
published ``ms-ssim-rgb``; tests/test_metrics.py checks it against pytorch_msssim. It is written with
OpenCV here so that the core does not need torch.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

_MS_WEIGHTS = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])
_WIN, _SIGMA = 11, 1.5


# Rows per band in the banded loops below: whole-image float64 copies of a 24 MP photo cost 0.6 GB
# each (MS-SSIM held ~10 of them); bands keep the working set to a few MB whatever the image size.
_BAND = 256


def psnr(original: np.ndarray, reconstruction: np.ndarray, data_range: float = 255.0) -> float:
    if original.shape != reconstruction.shape:
        raise ValueError(f"shape mismatch {original.shape} vs {reconstruction.shape}")
    total = 0  # exact: squared 8-bit differences summed as integers, band by band
    for r in range(0, original.shape[0], _BAND):
        d = original[r : r + _BAND].astype(np.int32) - reconstruction[r : r + _BAND].astype(np.int32)
        total += int(np.square(d, dtype=np.int64).sum())
    mse = total / original.size if original.size else 0.0
    return math.inf if mse == 0 else 10 * math.log10(data_range**2 / mse)


def _filter_valid(img: np.ndarray) -> np.ndarray:
    g = cv2.getGaussianKernel(_WIN, _SIGMA)
    out = cv2.sepFilter2D(img, cv2.CV_64F, g, g, borderType=cv2.BORDER_CONSTANT)
    r = _WIN // 2
    return out[r:-r, r:-r]


def _ssim_cs(x: np.ndarray, y: np.ndarray, data_range: float) -> tuple[float, float]:
    """Means of the SSIM and contrast-structure maps, computed in row bands: valid filtering makes
    output row i depend on input rows i..i+10 only, so bands with a 10-row halo give the same maps."""
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    out_rows = x.shape[0] - (_WIN - 1)
    ssim_sum = cs_sum = 0.0
    count = 0
    for r in range(0, out_rows, _BAND):
        xb = np.asarray(x[r : r + _BAND + _WIN - 1], dtype=np.float64)
        yb = np.asarray(y[r : r + _BAND + _WIN - 1], dtype=np.float64)
        mu_x, mu_y = _filter_valid(xb), _filter_valid(yb)
        sxx = _filter_valid(xb * xb) - mu_x**2
        syy = _filter_valid(yb * yb) - mu_y**2
        sxy = _filter_valid(xb * yb) - mu_x * mu_y
        cs_map = (2 * sxy + c2) / (sxx + syy + c2)
        ssim_map = ((2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)) * cs_map
        ssim_sum += float(ssim_map.sum())
        cs_sum += float(cs_map.sum())
        count += cs_map.size
    return ssim_sum / count, cs_sum / count


def _downsample(img: np.ndarray) -> np.ndarray:
    # avg_pool2d(kernel 2, stride 2, padding = size % 2, count_include_pad) as in pytorch_msssim.
    # Summed in float32, which is exact here: scale k holds multiples of 4^-k in [0, 255] (8 + 2k bits,
    # k <= 4 of float32's 24), so the values equal float64's mean, without its float64 copy and
    # temporaries (~0.6 GB at 100 MP); _ssim_cs reads them into float64 band by band.
    h, w = img.shape
    if h % 2 or w % 2:  # (np.pad copies even with nothing to pad)
        img = np.pad(img, ((h % 2, h % 2), (w % 2, w % 2)))
    h2, w2 = img.shape[0] // 2, img.shape[1] // 2
    img = img[: h2 * 2, : w2 * 2]
    out = img[0::2, 0::2].astype(np.float32)
    out += img[1::2, 0::2]
    out += img[0::2, 1::2]
    out += img[1::2, 1::2]
    out *= 0.25
    return out


def ms_ssim(original: np.ndarray, reconstruction: np.ndarray, data_range: float = 255.0) -> float:
    """MS-SSIM of two H×W×3 (or H×W) images. Images smaller than 161 px use fewer scales
    (weights renormalised) instead of failing, and the result is then not comparable with
    published 5-scale figures."""
    # 8-bit channels are converted to float64 one band at a time (in _ssim_cs), not all at once.
    x, y = np.atleast_3d(original), np.atleast_3d(reconstruction)
    if x.shape != y.shape:
        raise ValueError(f"shape mismatch {x.shape} vs {y.shape}")
    min_side = min(x.shape[:2])
    if min_side < _WIN:
        return float("nan")
    levels = 5
    while levels > 1 and min_side <= (_WIN - 1) * 2 ** (levels - 1):
        levels -= 1
    weights = _MS_WEIGHTS[:levels] / _MS_WEIGHTS[:levels].sum()
    values = []
    for c in range(x.shape[2]):
        # views, not copies (2 × 100 MB at 100 MP): the bands and the downsampling read them as they are
        xc, yc = x[..., c], y[..., c]
        mcs = []
        for level in range(levels):
            ssim_v, cs_v = _ssim_cs(xc, yc, data_range)
            if level < levels - 1:
                mcs.append(max(cs_v, 0.0))
                xc, yc = _downsample(xc), _downsample(yc)
        stack = np.array(mcs + [max(ssim_v, 0.0)])
        values.append(float(np.prod(stack**weights)))
    return float(np.mean(values))
