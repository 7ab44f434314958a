"""The influencing factors of miscompression as odds ratios people can quote.

Each factor is a yes/no property of a cell of the ORIGINAL (plus the codec and its rate), e.g. "text
under 10 px below 0.2 bpp". Its odds ratio compares the odds that a cell is miscompressed with the
factor and without it, over every cell of every labelled pair; the 95 % interval comes from a
bootstrap over images (cells of one image are not independent). Thresholds that depend on the data
(a quartile of edge density) are taken from the split the table is fitted on and reused unchanged
on the held-out split.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from miscomp.study.features import FEATURES

LEARNED = ("taef2", "bmshj2018-factorized")


@dataclass(frozen=True)
class CellTable:
    """Cells of many (image, codec setting) pairs stacked: features, codec, bpp, target, image."""

    x: np.ndarray  # cells × FEATURES
    codec: np.ndarray
    bpp: np.ndarray
    target: np.ndarray
    image: np.ndarray

    @classmethod
    def stack(cls, samples: list[dict]) -> CellTable:
        n = [len(s["target"]) for s in samples]
        return cls(
            x=np.vstack([s["grid"].flat() for s in samples]),
            codec=np.concatenate([[s["codec"]] * k for s, k in zip(samples, n, strict=True)]),
            bpp=np.concatenate([[s["bpp"]] * k for s, k in zip(samples, n, strict=True)]).astype(float),
            target=np.concatenate([s["target"] for s in samples]).astype(bool),
            image=np.concatenate([[s["image_id"]] * k for s, k in zip(samples, n, strict=True)]),
        )

    def col(self, name: str) -> np.ndarray:
        return self.x[:, FEATURES.index(name)]


Factor = Callable[[CellTable, dict], np.ndarray]


def _quartile(name: str, top: bool) -> tuple[Factor, dict]:
    """A cell in the top (or bottom) quartile of ``name``, the quartile taken on the fitting split."""
    key = f"{name}_q{75 if top else 25}"
    fitted = {key: lambda t: float(np.quantile(t.col(name), 0.75 if top else 0.25))}
    if top:
        return (lambda t, th: t.col(name) > th[key]), fitted
    return (lambda t, th: t.col(name) < th[key]), fitted


# name -> (predicate over a table and the fitted thresholds, thresholds to fit on the training split)
FACTORS: dict[str, tuple[Factor, dict]] = {
    "text present": (lambda t, th: t.col("text") > 0.3, {}),
    "text under 10 px": (lambda t, th: t.col("small_text") > 0, {}),
    "text under 10 px, below 0.2 bpp": (lambda t, th: (t.col("small_text") > 0) & (t.bpp < 0.2), {}),
    "text under 10 px, learned codec": (
        lambda t, th: (t.col("small_text") > 0) & np.isin(t.codec, LEARNED),
        {},
    ),
    "below 0.2 bpp": (lambda t, th: t.bpp < 0.2, {}),
    "learned codec": (lambda t, th: np.isin(t.codec, LEARNED), {}),
    "edge density in top quartile": _quartile("edges", top=True),
    "thin strokes in top quartile": _quartile("strokes", top=True),
    "contrast in bottom quartile": _quartile("contrast", top=False),
    "saturation in top quartile": _quartile("saturation", top=True),
    "entropy in top quartile": _quartile("entropy", top=True),
    "face present": (lambda t, th: t.col("face") > 0.3, {}),
    "lower third of the image": (lambda t, th: t.col("y") > 2 / 3, {}),
}


def odds_ratio(has: np.ndarray, target: np.ndarray) -> float:
    """(a/b)/(c/d) with 0.5 added to every cell of the 2×2 table (Haldane), so empty cells stay finite."""
    a = np.sum(has & target) + 0.5
    b = np.sum(has & ~target) + 0.5
    c = np.sum(~has & target) + 0.5
    d = np.sum(~has & ~target) + 0.5
    return float((a / b) / (c / d))


def _boot(has: np.ndarray, table: CellTable, n_boot: int, rng) -> tuple[float, float]:
    images, inv = np.unique(table.image, return_inverse=True)
    members = [np.nonzero(inv == i)[0] for i in range(len(images))]
    ors = []
    for _ in range(n_boot):
        pick = rng.integers(0, len(images), len(images))
        idx = np.concatenate([members[i] for i in pick])
        ors.append(odds_ratio(has[idx], table.target[idx]))
    lo, hi = np.percentile(np.log(ors), [2.5, 97.5])
    return float(np.exp(lo)), float(np.exp(hi))


def factor_table(fit_on: CellTable, check_on: CellTable | None = None, n_boot: int = 500, seed: int = 0):
    """One row per factor: share of cells with it, odds ratio and 95 % interval on ``fit_on``, and
    the same on ``check_on`` with the thresholds fitted on ``fit_on``."""
    rng = np.random.default_rng(seed)
    rows = []
    for name, (pred, fitters) in FACTORS.items():
        th = {k: f(fit_on) for k, f in fitters.items()}
        row = {"factor": name, "thresholds": {k: round(v, 4) for k, v in th.items()}}
        for split, table in (("fit", fit_on), ("check", check_on)):
            if table is None:
                continue
            has = pred(table, th)
            if not has.any() or has.all():  # a factor that never (or always) holds has no odds ratio
                row |= {f"{split}_share": round(float(has.mean()), 4), f"{split}_odds_ratio": None}
                continue
            lo, hi = _boot(has, table, n_boot, rng)
            row |= {
                f"{split}_share": round(float(has.mean()), 4),
                f"{split}_rate_with": round(float(table.target[has].mean()), 4) if has.any() else None,
                f"{split}_rate_without": round(float(table.target[~has].mean()), 4) if (~has).any() else None,
                f"{split}_odds_ratio": round(odds_ratio(has, table.target), 2),
                f"{split}_lo": round(lo, 2),
                f"{split}_hi": round(hi, 2),
            }
        rows.append(row)
    return rows
