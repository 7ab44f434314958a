"""Text fidelity over rate: CER and WER per codec setting from a scan's OCR read counts, and their
Bjøntegaard deltas against a reference codec (the metric of Lai et al. 2024: BD-CER, BD-WER).

The delta is the mean vertical distance between two curves of error rate over log(bpp), over the
rate range both cover. The curves are interpolated piecewise-cubically and monotone (PCHIP), as the
current Bjøntegaard implementations do, so two or three points per codec already give a delta
(a cubic fit through four points, the 2001 original, overshoots between sparse points).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from miscomp.curves import setting_curve
from miscomp.pairs.records import READ_COUNT_FIELDS


@dataclass(frozen=True)
class TextFidelity:
    """One codec setting: pooled over its pairs, every legible character (word) weighs the same."""

    codec: str
    codec_tag: str
    curve: str  # the setting's curve (miscomp.curves): BD deltas are per curve, not per family
    bpp: float
    pairs: int
    chars: int
    words: int
    cer: float | None
    wer: float | None


def text_fidelity(pairs: pd.DataFrame) -> list[TextFidelity]:
    """CER and WER per codec setting from pairs.parquet's ``ocr_*`` counts (None where no text was read)."""
    ok = pairs[pairs["status"].isin(["ok", "partial"])]
    rows = []
    for tag, grp in ok.groupby("codec_tag", sort=True):
        sums = {
            c: int(pd.to_numeric(grp[c], errors="coerce").fillna(0).sum()) if c in grp else 0
            for c in READ_COUNT_FIELDS
        }
        chars, words = sums["ocr_chars"], sums["ocr_words"]
        rows.append(
            TextFidelity(
                codec=str(grp["codec"].iloc[0]),
                codec_tag=str(tag),
                curve=setting_curve(grp, str(tag)),
                bpp=float(pd.to_numeric(grp["bpp"], errors="coerce").mean()),
                pairs=len(grp),
                chars=chars,
                words=words,
                cer=round(sums["ocr_char_errors"] / chars, 5) if chars else None,
                wer=round(sums["ocr_word_errors"] / words, 5) if words else None,
            )
        )
    return rows


def _points(rate, metric) -> pd.DataFrame | None:
    """One curve's points as log rate ``r`` and metric ``m``, sorted by rate (settings at one rate
    averaged, missing values dropped); None when fewer than two rates remain."""
    df = pd.DataFrame({"r": np.log(np.asarray(rate, float)), "m": np.asarray(metric, float)})
    df = df.dropna().groupby("r", as_index=False)["m"].mean().sort_values("r")
    return df if len(df) >= 2 else None


def bd_delta(rate_ref, metric_ref, rate_test, metric_test) -> float:
    """Mean of (test - reference) over the shared log-rate range; NaN when the curves do not overlap
    or either has fewer than two distinct rates."""
    from scipy.interpolate import PchipInterpolator

    curves = [_points(rate_ref, metric_ref), _points(rate_test, metric_test)]
    if any(c is None for c in curves):
        return float("nan")
    lo = max(c["r"].iloc[0] for c in curves)
    hi = min(c["r"].iloc[-1] for c in curves)
    if hi <= lo:
        return float("nan")
    areas = [PchipInterpolator(c["r"], c["m"]).integrate(lo, hi) for c in curves]
    return float((areas[1] - areas[0]) / (hi - lo))


def bd_rate(rate_ref, metric_ref, rate_test, metric_test) -> float:
    """Bjøntegaard delta *rate*: the mean relative bit-rate difference of test against reference at
    equal metric (-0.3 = 30 % fewer bits for the same error rate), over the metric range both cover.
    This is the figure Lai et al. 2024 report as "BD-rate of -32.64 % for CER"; :func:`bd_delta`
    instead gives the error-rate difference at equal bpp. log(bpp) is interpolated (PCHIP) as a
    function of the metric, so each curve's metric must change monotonically with its rate; NaN when
    it does not, when the ranges do not overlap, or when a curve has fewer than two points."""
    from scipy.interpolate import PchipInterpolator

    curves = []
    for points in (_points(rate_ref, metric_ref), _points(rate_test, metric_test)):
        if points is None:
            return float("nan")
        steps = np.diff(points["m"].to_numpy())
        if not (np.all(steps > 0) or np.all(steps < 0)):
            return float("nan")
        curves.append(points.sort_values("m"))
    lo = max(c["m"].iloc[0] for c in curves)
    hi = min(c["m"].iloc[-1] for c in curves)
    if hi <= lo:
        return float("nan")
    areas = [PchipInterpolator(c["m"], c["r"]).integrate(lo, hi) for c in curves]
    return float(np.expm1((areas[1] - areas[0]) / (hi - lo)))


@dataclass(frozen=True)
class BDRow:
    codec: str
    curve: str
    reference: str
    metric: str  # "cer" | "wer"
    delta: float | None  # mean difference in error rate (test - reference); negative = fewer errors
    settings: int
    # bits at equal error rate (test / reference - 1; bd_rate): Lai et al.'s "BD-rate for CER"
    rate_delta: float | None = None


def bd_table(fidelity: list[TextFidelity], reference: str = "jpeg") -> list[BDRow]:
    """BD-CER and BD-WER of every other curve against ``reference`` (a curve, or a codec name: its
    settings), from the settings' points. Settings are grouped by curve (:mod:`miscomp.curves`): two
    models of one family at the same rate (base q1 and ``weights=ganlite``) are two curves, not one
    curve with two points at one rate."""
    df = pd.DataFrame([f.__dict__ for f in fidelity])
    if df.empty:
        return []
    is_ref = df["curve"] == reference if reference in set(df["curve"]) else df["codec"] == reference
    if not is_ref.any():
        return []
    ref = df[is_ref]
    rows = []
    for curve, grp in df[~is_ref].groupby("curve", sort=True):
        for metric in ("cer", "wer"):
            r = ref.dropna(subset=[metric])
            g = grp.dropna(subset=[metric])
            delta = bd_delta(r["bpp"], r[metric], g["bpp"], g[metric])
            saving = bd_rate(r["bpp"], r[metric], g["bpp"], g[metric])
            rows.append(
                BDRow(
                    codec=str(grp["codec"].iloc[0]),
                    curve=str(curve),
                    reference=reference,
                    metric=metric,
                    delta=None if np.isnan(delta) else round(delta, 5),
                    settings=len(g),
                    rate_delta=None if np.isnan(saving) else round(saving, 5),
                )
            )
    return rows
