"""Interpretable traces of lossy codecs, measured on one image tile (no reference needed).

Each feature answers a question an examiner can check by eye:

- ``spec_pN``: does the high-pass spectrum have a peak at period N (2/4/8/16 px)? Learned decoders
  upsample by transposed convolutions or pixel shuffles of stride 2, four times over, which leaves
  periodic residue at exactly these periods; JPEG's 8×8 grid shows at 8 (and its harmonics 4, 2).
- ``block8`` / ``block16``: are the pixel steps across one phase of an 8/16 grid larger than across
  the others? Block transforms (JPEG, and WebP/AVIF at low rates) leave such steps; decoders do not.
- ``rgb_corr`` / ``chroma_hf`` / ``chroma_luma_corr``: how the colour channels' fine detail relates.
  A learned decoder draws all three channels from one latent, so their high-pass residues move
  together; classical codecs code chroma separately and coarser.
- ``flat_noise`` / ``flat_zero`` / ``flat_kurt`` / ``noise``: what homogeneous areas look like.
  Camera noise survives in originals and at high rates; block codecs flatten 8×8 blocks exactly;
  learned codecs replace noise with smooth, faintly patterned texture.
"""

from __future__ import annotations

import numpy as np

FEATURES: tuple[str, ...] = (
    "spec_p2",
    "spec_p4",
    "spec_p8",
    "spec_p16",
    "grid_p2",
    "grid_p4",
    "grid_p8",
    "hf_band",
    "block8",
    "block16",
    "rgb_corr",
    "chroma_hf",
    "chroma_luma_corr",
    "flat_noise",
    "flat_zero",
    "flat_kurt",
    "noise",
)

DESCRIPTIONS: dict[str, str] = {
    "spec_p2": "spectral peak at period 2 px (decoder upsampling)",
    "spec_p4": "spectral peak at period 4 px (decoder upsampling)",
    "spec_p8": "spectral peak at period 8 px (upsampling or 8×8 blocks)",
    "spec_p16": "spectral peak at period 16 px (decoder upsampling)",
    "grid_p2": "2-D spectral peaks on the period-2 lattice (checkerboard)",
    "grid_p4": "2-D spectral peaks on the period-4 lattice",
    "grid_p8": "2-D spectral peaks on the period-8 lattice",
    "hf_band": "finest-scale detail relative to mid-scale detail (log)",
    "block8": "steps across an 8-px grid (block transform)",
    "block16": "steps across a 16-px grid (macroblocks)",
    "rgb_corr": "correlation of the R/G/B fine detail",
    "chroma_hf": "fine detail in chroma relative to luma (log)",
    "chroma_luma_corr": "luma structure leaking into chroma",
    "flat_noise": "noise level in the flattest areas (log)",
    "flat_zero": "share of exactly flat 8×8 blocks",
    "flat_kurt": "peakedness of the residual in flat areas",
    "noise": "overall high-pass residual level (log)",
}

TILE = 256
FEATURE_VERSION = "2"


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(img, (0, 0), sigma)


def _peak(spectrum: np.ndarray, b: int) -> float:
    """log ratio of the bin to the median of its neighbourhood (±2..±7 bins, the peak's own
    immediate neighbours excluded because a Hann window spreads a line over ±1 bin)."""
    n = len(spectrum)
    idx = [i for d in range(2, 8) for i in (b - d, b + d) if 0 < i < n]
    ref = float(np.median(spectrum[idx]))
    top = float(spectrum[max(b - 1, 0) : min(b + 2, n)].max())
    return float(np.log((top + 1e-12) / (ref + 1e-12)))


def _spectral(gray: np.ndarray) -> dict[str, float]:
    r = gray - _blur(gray, 1.0)
    out: dict[str, list[float]] = {f"spec_p{p}": [] for p in (2, 4, 8, 16)}
    for axis in (0, 1):
        x = r if axis == 1 else r.T
        n = x.shape[1]
        win = np.hanning(n).astype(np.float32)
        s = (np.abs(np.fft.rfft(x * win, axis=1)) ** 2).mean(axis=0)
        for p in (2, 4, 8, 16):
            # odd harmonics only: the even ones belong to the shorter periods
            ks = [k for k in range(1, p // 2 + 1) if k % 2 == 1] if p > 2 else [1]
            vals = [_peak(s, round(n * k / p)) for k in ks]
            out[f"spec_p{p}"].append(max(vals))
    return {k: float(np.mean(v)) for k, v in out.items()}


def _lattice(gray: np.ndarray) -> dict[str, float]:
    """2-D peaks: a stride-2 decoder layer leaves energy on the lattice (k·n/P, l·n/P) of the 2-D
    spectrum, diagonals included (the 1-D spectra above only see it smeared). Mean, not max, of the
    log peak ratios over the lattice points new at period P: a max over many points picks up noise."""
    r = gray - _blur(gray, 1.0)
    n = min(r.shape)
    r = r[:n, :n]
    win = np.outer(np.hanning(n), np.hanning(n)).astype(np.float32)
    spec = np.log(np.fft.fftshift(np.abs(np.fft.fft2(r * win)) ** 2) + 1e-9)
    c = n // 2
    out = {}
    for p in (2, 4, 8):
        vals = []
        for ky in range(-p // 2, p // 2 + 1):
            for kx in range(-p // 2, p // 2 + 1):
                if (ky, kx) == (0, 0) or (p > 2 and ky % 2 == 0 and kx % 2 == 0):
                    continue  # the origin, and points that belong to the shorter period
                y, x = c + ky * n // p, c + kx * n // p
                if not (0 <= y < n and 0 <= x < n):
                    continue
                ring = np.median(spec[max(y - 5, 0) : y + 6, max(x - 5, 0) : x + 6])
                vals.append(spec[max(y - 1, 0) : y + 2, max(x - 1, 0) : x + 2].max() - ring)
        out[f"grid_p{p}"] = float(np.mean(vals))
    radius = np.hypot(*np.meshgrid(np.arange(n) - c, np.arange(n) - c, indexing="ij")) / n
    power = np.exp(spec)
    out["hf_band"] = float(
        np.log(
            power[(radius > 0.35) & (radius < 0.5)].mean()
            / (power[(radius > 0.12) & (radius < 0.25)].mean() + 1e-9)
            + 1e-9
        )
    )
    return out


def _blockiness(gray: np.ndarray, period: int) -> float:
    vals = []
    for axis in (0, 1):
        d = np.abs(np.diff(gray, axis=axis)).mean(axis=1 - axis)
        d = d[: len(d) // period * period].reshape(-1, period).mean(axis=0)
        vals.append(np.log((d.max() + 1e-3) / (np.median(d) + 1e-3)))
    return float(np.mean(vals))


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else 0.0


def tile_features(rgb: np.ndarray) -> np.ndarray:
    """The feature vector (order of :data:`FEATURES`) of one RGB uint8 tile (best: 256×256)."""
    f = rgb.astype(np.float32)
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = -0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 0.5 * r - 0.418688 * g - 0.081312 * b
    feats: dict[str, float] = _spectral(y) | _lattice(y)
    feats["block8"] = _blockiness(y, 8)
    feats["block16"] = _blockiness(y, 16)
    res = {k: v - _blur(v, 1.0) for k, v in {"r": r, "g": g, "b": b, "y": y, "cb": cb, "cr": cr}.items()}
    feats["rgb_corr"] = float(
        np.mean([_corr(res["r"], res["g"]), _corr(res["r"], res["b"]), _corr(res["g"], res["b"])])
    )
    vy = float(res["y"].var())
    feats["chroma_hf"] = float(np.log((res["cb"].var() + res["cr"].var() + 1e-3) / (vy + 1e-3)))
    feats["chroma_luma_corr"] = float((abs(_corr(res["y"], res["cb"])) + abs(_corr(res["y"], res["cr"]))) / 2)
    # homogeneous areas: 8×8 blocks ranked by the structure of the blurred image
    h8, w8 = y.shape[0] // 8 * 8, y.shape[1] // 8 * 8
    blocks = y[:h8, :w8].reshape(h8 // 8, 8, w8 // 8, 8).transpose(0, 2, 1, 3).reshape(-1, 64)
    rblocks = res["y"][:h8, :w8].reshape(h8 // 8, 8, w8 // 8, 8).transpose(0, 2, 1, 3).reshape(-1, 64)
    structure = blocks.std(axis=1)
    flat = structure <= np.quantile(structure, 0.2)
    feats["flat_noise"] = float(np.log(np.median(rblocks[flat].std(axis=1)) + 0.01))
    feats["flat_zero"] = float((structure < 0.5).mean())
    fr = rblocks[flat].ravel()
    sd = fr.std()
    feats["flat_kurt"] = (
        float(np.clip(((fr - fr.mean()) ** 4).mean() / sd**4 - 3, -3, 30)) if sd > 1e-6 else 0.0
    )
    feats["noise"] = float(np.log(np.median(np.abs(res["y"])) + 0.01))
    return np.array([feats[k] for k in FEATURES], dtype=np.float64)


def tiles(rgb: np.ndarray, size: int = TILE, max_tiles: int = 6) -> list[np.ndarray]:
    """Up to ``max_tiles`` non-overlapping tiles on the image's own grid (origin 0, so a codec's block
    grid stays aligned), spread evenly; an image smaller than a tile is one tile."""
    h, w = rgb.shape[:2]
    if h < size or w < size:
        return [rgb]
    spots = [(y, x) for y in range(0, h - size + 1, size) for x in range(0, w - size + 1, size)]
    pick = np.linspace(0, len(spots) - 1, min(max_tiles, len(spots))).round().astype(int)
    return [rgb[y : y + size, x : x + size] for y, x in (spots[i] for i in sorted(set(pick)))]
