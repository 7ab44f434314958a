"""Miscompression-aware loss terms for fine-tuning the in-house codec (issue 31).

The codec is trained on ``rate + λ·255²·MSE``; the aware objective adds ``λ·255²·a·term``, where the
term punishes changes in the places whose meaning a codec must keep (text, numbers, plates), given as
a mask of the *original* (1 inside a text box, 0 elsewhere). rapidocr cannot be back-propagated
through, so the terms are proxies a gradient can follow:

- ``masked``: the MSE inside the mask (normalised by the mask's area, so a small caption weighs as
  much as a large sign): the bits go where the text is;
- ``edge``: the L1 distance of the luma's Sobel gradients inside the mask: strokes and their edges,
  the thing MSE blur dissolves first (the bed's q1 miscompressions are all ``[illegible]`` blur);
- ``masked+edge``: their sum;
- ``edge-rel``: the edge term divided by the original's own gradient energy inside the mask: the
  *share* of stroke structure lost, so low-contrast small text (what the codec drops) weighs as much
  as a bold sign.

All terms are zero when the reconstruction equals the original, and exactly zero on a batch whose
masks are empty (a photo crop), so photo crops are trained by the plain rate-distortion loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

AWARE_TERMS = ("none", "masked", "edge", "masked+edge", "edge-rel")


@dataclass(frozen=True)
class AwareConfig:
    """The aware term and its weight ``lmbda`` (``a`` above; in units of the MSE term's weight).

    ``text_share``: the probability that a batch item is a text crop (with its mask) rather than a
    crop of the ordinary training set (mask empty); defined, not tuned: half, so that fidelity on
    photos keeps half of the batch."""

    term: str = "none"
    lmbda: float = 0.0
    text_share: float = 0.5

    def __post_init__(self) -> None:
        if self.term not in AWARE_TERMS:
            raise ValueError(f"aware term must be one of {', '.join(AWARE_TERMS)}, got {self.term!r}")
        if self.lmbda < 0:
            raise ValueError(f"aware lambda must be >= 0, got {self.lmbda}")

    @property
    def active(self) -> bool:
        return self.term != "none" and self.lmbda > 0


def _luma(x):
    """ITU-R BT.601 luma of an N×3×H×W batch, N×1×H×W."""
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return 0.299 * r + 0.587 * g + 0.114 * b


def sobel(x):
    """Sobel gradients (gx, gy) of the luma, N×2×H×W, replicate-padded so the border has no edge."""
    import torch
    import torch.nn.functional as F

    k = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=x.dtype, device=x.device)
    kernels = torch.stack([k, k.t()])[:, None] / 8.0  # /8: a unit step gives a gradient of 0.5
    y = F.pad(_luma(x), (1, 1, 1, 1), mode="replicate")
    return F.conv2d(y, kernels)


def _area(mask):
    """Per-item mask area, at least one pixel (an empty mask then gives a zero term, not a NaN)."""
    return mask.flatten(1).sum(1).clamp_min(1.0)


def masked_mse(rec, orig, mask):
    """Mean over the batch of the per-item MSE inside ``mask`` (N×1×H×W in [0, 1])."""
    err = ((rec - orig) ** 2).mean(1, keepdim=True) * mask
    return (err.flatten(1).sum(1) / _area(mask)).mean()


def edge_l1(rec, orig, mask):
    """Mean over the batch of the per-item L1 distance of Sobel gradients inside ``mask``."""
    err = (sobel(rec) - sobel(orig)).abs().sum(1, keepdim=True) * mask
    return (err.flatten(1).sum(1) / _area(mask)).mean()


def edge_rel(rec, orig, mask, eps: float = 1e-3):
    """Per item, the Sobel-gradient L1 error inside ``mask`` over the original's gradient L1 there.

    ``mask`` may be *weighted* (e.g. small text > 1, large text < 1, see ``TextCropConfig.size_ref_px``):
    inside an item the weights shift the ratio towards the heavier boxes, and the item's ratio is scaled
    by the mask's mean weight, so a crop of small text counts more than one of a large sign. A binary
    mask gives the plain ratio (mean weight 1)."""
    g = sobel(orig)
    err = ((sobel(rec) - g).abs().sum(1, keepdim=True) * mask).flatten(1).sum(1)
    energy = (g.abs().sum(1, keepdim=True) * mask).flatten(1).sum(1)
    mean_weight = mask.flatten(1).sum(1) / (mask > 0).flatten(1).sum(1).clamp_min(1)
    return (err / (energy + eps * _area(mask)) * mean_weight).mean()


def aware_term(term: str, rec, orig, mask):
    """The named term (see the module docstring); ``none`` gives zero."""
    if term == "masked":
        return masked_mse(rec, orig, mask)
    if term == "edge":
        return edge_l1(rec, orig, mask)
    if term == "masked+edge":
        return masked_mse(rec, orig, mask) + edge_l1(rec, orig, mask)
    if term == "edge-rel":
        return edge_rel(rec, orig, mask)
    if term == "none":
        return rec.sum() * 0.0
    raise ValueError(f"unknown aware term {term!r}")


def aware_loss(rd: dict[str, Any], out: dict[str, Any], x, mask, lmbda_mse: float, cfg: AwareConfig):
    """CompressAI's rate-distortion dict plus the aware term: adds ``aware`` and updates ``loss``."""
    term = aware_term(cfg.term, out["x_hat"], x, mask)
    rd = dict(rd)
    rd["aware"] = term
    rd["loss"] = rd["loss"] + lmbda_mse * 255**2 * cfg.lmbda * term
    return rd
