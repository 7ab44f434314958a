"""The codec's own artefacts, modelled per pair: what an ordinary codec would have done to the original.

A change is not a miscompression when the codec's ordinary artefacts explain it. The model here is a
*predicted reconstruction* ``P`` built from the original by the artefacts this pair shows, fitted to
the pair as a whole (so a local miscompression cannot fit it, it is a handful of pixels out of 400 k):

- **blur** of luminance (a Gaussian whose σ is fitted to the pair): smoothed texture, softened edges;
- **chroma bleeding and desaturation**: chroma blurred far more than luminance (4:2:0 subsampling,
  coarse chroma quantisers), with a fitted gain, so colour smeared across an edge is explained;
- **blocking**: the codec family's block grid (8/16 px for JPEG, 4/16 for WebP, none for wavelet or
  learned codecs), found from the pair's error at grid lines when the family is unknown. Error
  steps on grid lines are what blocking is, so the edge map ignores gradient changes across them.

Ringing is the residue of blur at strong edges and is measured against the noise model of
:mod:`miscomp.detect.diff.maps`, which bins the error by the original's local activity.

The family comes from the pair's codec tag (``jpeg-quality10-subsampling2``, ``webp:quality=5``,
``taef2-bits2`` …); for an external codec with an unhelpful name it is estimated from the error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import cv2
import numpy as np

from miscomp.detect.diff.config import ARTEFACTS

_FAMILIES = (
    ("jpeg2000", ("jpeg2000", "jp2", "j2k", "openjpeg")),
    ("jpeg", ("jpeg", "jpg", "mozjpeg", "libjpeg")),
    ("webp", ("webp",)),
    ("avif", ("avif", "av1", "aom")),
    ("learned", ("taef", "bmshj", "mbt", "cheng", "hific", "elic", "learned", "neural", "gan", "vae")),
)
# Transform block sizes whose edges can show as steps (luma block, chroma/macroblock).
_GRIDS = {"jpeg": (8, 16), "webp": (4, 16), "avif": (4, 8), "jpeg2000": (), "learned": ()}


def codec_family(codec: str) -> str:
    """The artefact family of a codec tag or spec: a codec miscomp runs is looked up in the codec
    registry (a classical codec is its own format, a CompressAI or latent codec is "learned"); only
    the label of outputs miscomp did not make (``--reconstructions``) is read for a known name.
    ``""`` when neither says."""
    from miscomp.codecs import CODECS

    name = (codec or "").lower()
    for entry in sorted(CODECS, key=lambda e: -len(e.name)):  # jpeg2000 before jpeg
        if name == entry.name or name.startswith((f"{entry.name}-", f"{entry.name}:")):
            return entry.name if entry.meta.get("family") == "classical" else "learned"
    for family, keys in _FAMILIES:
        if any(k in name for k in keys):
            return family
    return ""


@dataclass(frozen=True)
class ArtefactModel:
    """What this pair's codec does everywhere; fitted by :func:`fit_artefacts`."""

    family: str  # from the codec tag, or "estimated-block" / "estimated-smooth"
    sigma_l: float  # luminance blur (px)
    sigma_c: float  # chroma blur (px)
    chroma_gain: float  # a*b* of the reconstruction ≈ gain × blurred a*b* of the original
    grid: int  # block size whose lines show steps (0: none)
    grid_ratio: float  # error on grid lines / error between them

    def info(self) -> dict:
        return {
            "family": self.family, "sigma_l": self.sigma_l, "sigma_c": self.sigma_c,
            "chroma_gain": round(self.chroma_gain, 3), "grid": self.grid,
            "grid_ratio": round(self.grid_ratio, 2),
        }  # fmt: skip


def _blur(a: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(a, (0, 0), sigma) if sigma > 0 else a


def _grid_ratio(steps: tuple[np.ndarray, np.ndarray], size: int) -> float:
    """Mean error-gradient across grid lines of ``size`` px over the mean elsewhere; ``steps`` are
    |Δ error| along x and y (``gx[:, i]`` is the step between column i and i+1)."""
    gx, gy = steps
    on_x = (np.arange(gx.shape[1]) % size) == size - 1
    on_y = (np.arange(gy.shape[0]) % size) == size - 1
    on = gx[:, on_x].mean() + gy[on_y].mean()
    off = gx[:, ~on_x].mean() + gy[~on_y].mean()
    return float(on / max(off, 1e-6))


def fit_artefacts(lab_o: np.ndarray, lab_r: np.ndarray, codec: str = "") -> ArtefactModel:
    """Fit blur, chroma bleeding and the block grid to the pair (Lab float32 images, same size)."""
    # Fitting on every second pixel costs a quarter and gives the same σ on Kodak.
    # (Contiguous copies: OpenCV would copy the strided views again for every σ tried.)
    lo, lr = np.ascontiguousarray(lab_o[::2, ::2, 0]), np.ascontiguousarray(lab_r[::2, ::2, 0])
    sigma_l = min(ARTEFACTS.sigmas_l, key=lambda s: float(np.mean((lr - _blur(lo, s / 2)) ** 2)))
    best = (np.inf, 0.0, 1.0)
    # Chroma blurs are wide (σ 1–6.5 px): every fourth pixel is enough to tell them apart.
    ab_o, ab_r = np.ascontiguousarray(lab_o[::4, ::4, 1:]), np.ascontiguousarray(lab_r[::4, ::4, 1:])
    for s in ARTEFACTS.sigmas_c:
        pred = _blur(ab_o, s / 4)
        gain = float(np.sum(pred * ab_r) / max(np.sum(pred * pred), 1e-6))
        gain = float(np.clip(gain, 0.5, 1.2))
        e = float(np.mean((ab_r - gain * pred) ** 2))
        if e < best[0]:
            best = (e, s, gain)
    family = codec_family(codec)
    err = lab_r[..., 0] - lab_o[..., 0]
    sizes = _GRIDS.get(family, (8, 16, 4))
    steps = (np.abs(np.diff(err, axis=1)), np.abs(np.diff(err, axis=0)))  # once for every grid size
    ratios = {s: _grid_ratio(steps, s) for s in sizes}
    grid, ratio = max(ratios.items(), key=lambda kv: kv[1]) if ratios else (0, 1.0)
    if ratio < ARTEFACTS.grid_ratio:
        grid = 0
    if not family:
        family = "estimated-block" if grid else "estimated-smooth"
    return ArtefactModel(family, float(sigma_l), float(best[1]), best[2], int(grid), ratio)


def predicted(lab_o: np.ndarray, model: ArtefactModel, lum: np.ndarray | None = None) -> np.ndarray:
    """The original as this codec's ordinary artefacts would leave it (Lab float32). ``lum``: the
    original's L* plane as a contiguous array, when the caller has it (OpenCV copies a strided one)."""
    out = np.empty_like(lab_o)
    out[..., 0] = _blur(np.ascontiguousarray(lab_o[..., 0]) if lum is None else lum, model.sigma_l)
    # One contiguous plane at a time: copying the two-channel view lab_o[..., 1:] for OpenCV cost
    # 3.5 ms, and blurring it 9 ms against 5.5 ms for the two planes (same values).
    for c in (1, 2):
        out[..., c] = model.chroma_gain * _blur(np.ascontiguousarray(lab_o[..., c]), model.sigma_c)
    return out


def grid_mask(shape: tuple[int, int], grid: int, width: int = 1) -> np.ndarray:
    """True on the ``width`` px either side of every block boundary of a ``grid`` px grid."""
    h, w = shape
    if not grid:
        return np.zeros((h, w), bool)
    near = lambda n: np.minimum(np.arange(n) % grid, grid - 1 - np.arange(n) % grid) < width  # noqa: E731
    return near(w)[None, :] | near(h)[:, None]


_QUALITY = re.compile(r"quality\D{0,2}(\d{1,3})")


def _jpeg(rgb: np.ndarray, quality: int) -> tuple[np.ndarray, int]:
    buf = _jpeg_bytes(rgb[..., ::-1], quality)
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1], int(buf.size)


def _jpeg_bytes(bgr: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf


def null_reconstruction(
    original: np.ndarray, codec: str = "", bpp: float | None = None, ladder: NullLadders | None = None,
    key: str = "",
) -> np.ndarray | None:  # fmt: skip
    """The null model of Tsereh et al.: the original through JPEG at this pair's rate.

    For a JPEG pair whose tag names the quality that quality is used (the pair's own encoder may
    differ slightly); otherwise the JPEG quality whose bpp is nearest to ``bpp`` from a coarse
    ladder (9 encodes of a quarter-size copy, then one full encode). None when the rate is unknown.
    What JPEG at the same rate would also do to a region is an ordinary artefact. ``ladder`` (with
    the original's content ``key``): where the ladder's rates are kept for the original's next codec."""
    match = _QUALITY.search((codec or "").lower())
    if codec_family(codec) == "jpeg" and match:
        return _jpeg(original, min(max(int(match.group(1)), 1), 100))[0]
    if bpp is None or not np.isfinite(bpp) or bpp <= 0:
        return None
    rates = ladder.rates(original, key) if ladder is not None else jpeg_ladder(original)
    q = min(
        zip(ARTEFACTS.jpeg_qualities, rates, strict=True), key=lambda qr: abs(np.log(qr[1] / (1.15 * bpp)))
    )[0]
    return _jpeg(original, q)[0]


def jpeg_ladder(original: np.ndarray) -> tuple[float, ...]:
    """bpp of a half-size copy of ``original`` at each of ``ARTEFACTS.jpeg_qualities``."""
    h, w = original.shape[:2]
    small = cv2.resize(original, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    # A half-size image costs 1.0–1.3× the bits per pixel of the full one at the same quality
    # (measured on kodim02/09/13 at q 2–70), so the ladder is matched against bpp × 1.15.
    # Only the sizes are read: encoded from one BGR copy, never decoded (the same bytes as _jpeg's).
    bgr = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)
    h, w = small.shape[:2]
    return tuple(_jpeg_bytes(bgr, q).size * 8 / h / w for q in ARTEFACTS.jpeg_qualities)


class NullLadders:
    """The null model's rate ladder of the current original and its tiles, for its next codec.

    The ladder (9 JPEG encodes and decodes of a half-size copy) depends on the pixels alone, so every
    codec of one original finds the same rates: 20 % of the structure detector's time on a 12 MP
    photo's second codec went to making it again per tile (docs/decisions/diff-cost.md, session 36).
    Only the current original is kept (a new content hash clears it): 9 floats a tile."""

    def __init__(self) -> None:
        self._original = ""
        self._rates: dict[tuple, tuple[float, ...]] = {}

    def rates(self, original: np.ndarray, key: str) -> tuple[float, ...]:
        """The ladder of ``original``, whose content hash is ``key`` (``<sha256>@x,y,w,h`` for a tile;
        empty: not kept)."""
        if not key:
            return jpeg_ladder(original)
        owner = key.partition("@")[0]
        if owner != self._original:
            self._original, self._rates = owner, {}
        k = (key, original.shape)
        if k not in self._rates:
            self._rates[k] = jpeg_ladder(original)
        return self._rates[k]
