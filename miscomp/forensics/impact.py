"""Machine-perception impact: what a machine reader loses per codec and rate.

Two sources of numbers:

- :func:`read_impact` compares OCR reads of originals and reconstructions (character error rate of the
  reconstruction's read against the original's read, exact-read rate): ``benchmarks/impact.py`` on
  number plates.
- :func:`impact_curves` turns a scan's own tables into curves for the report: per codec family and
  rate, the share of pairs with symbol findings, the findings per pair and, where the ``ocr``
  detector ran, the character error rate and exact-read rate of the reconstruction's reads against
  the original's (the pair table's ``ocr_*`` counts), against bpp.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

from miscomp.detect.textdiff import normalise_text
from miscomp.pairs.records import READ_COUNT_FIELDS


def normalise_read(text: str) -> str:
    """The scan's normaliser with its default rules (letters and digits, upper case, accents folded),
    so the impact curves' CER and the pairs' OCR counts are one definition."""
    return normalise_text(text, alnum_only=True)


def char_error_rate(reference: str, hypothesis: str) -> float:
    """Levenshtein distance / reference length (1.0 when the reference is empty but the read is not)."""
    from rapidfuzz.distance import Levenshtein

    if not reference:
        return 0.0 if not hypothesis else 1.0
    return Levenshtein.distance(reference, hypothesis) / len(reference)


@dataclass(frozen=True)
class ReadPair:
    """One original/reconstruction pair read by the same OCR engine."""

    image_id: str
    codec: str
    codec_tag: str
    bpp: float
    original_read: str
    reconstruction_read: str
    truth: str = ""  # ground truth text, when known
    symbol_findings: int = 0

    @property
    def cer(self) -> float:
        return char_error_rate(normalise_read(self.original_read), normalise_read(self.reconstruction_read))

    @property
    def exact(self) -> bool:
        return normalise_read(self.original_read) == normalise_read(self.reconstruction_read)


def read_impact(pairs: list[ReadPair]) -> pd.DataFrame:
    """Per codec tag: mean bpp, mean CER vs the original's read, exact-read rate, ground-truth CER of
    the reconstruction (when truth is given) and the share of pairs with symbol findings."""
    rows = []
    for p in pairs:
        d = asdict(p)
        d.update(cer=p.cer, exact=p.exact)
        if p.truth:
            truth = normalise_read(p.truth)
            d["cer_truth_original"] = char_error_rate(truth, normalise_read(p.original_read))
            d["cer_truth_reconstruction"] = char_error_rate(truth, normalise_read(p.reconstruction_read))
        rows.append(d)
    df = pd.DataFrame(rows)
    agg = {
        "bpp": ("bpp", "mean"),
        "pairs": ("image_id", "size"),
        "cer": ("cer", "mean"),
        "exact_read_rate": ("exact", "mean"),
        "symbol_share": ("symbol_findings", lambda s: float((s > 0).mean())),
    }
    if "cer_truth_reconstruction" in df:
        agg["cer_truth_original"] = ("cer_truth_original", "mean")
        agg["cer_truth_reconstruction"] = ("cer_truth_reconstruction", "mean")
    out = df.groupby(["codec", "codec_tag"], as_index=False).agg(**agg)
    return out.sort_values(["codec", "bpp"]).reset_index(drop=True)


def impact_curves(pairs: pd.DataFrame, findings: pd.DataFrame) -> list[dict]:
    """Figure data for the report: one curve per codec (the RD plot's curves: settings other than the
    rate make another curve), one point per codec setting, sorted by bpp. Only measured pairs with a
    bpp count."""
    from miscomp.curves import setting_curve

    measured = pairs[pairs["status"].isin(["ok", "partial"]) & pairs["bpp"].notna()]
    if measured.empty:
        return []
    sym = (
        findings[findings["symbol"].astype(bool)].groupby("pair_id").size() if len(findings) else pd.Series()
    )
    allf = findings.groupby("pair_id").size() if len(findings) else pd.Series()
    m = measured.assign(
        n_symbol=measured["pair_id"].map(sym).fillna(0).to_numpy(),
        n_all=measured["pair_id"].map(allf).fillna(0).to_numpy(),
    )
    curves: dict[str, list[dict]] = {}
    for tag, t in m.groupby("codec_tag"):
        key = setting_curve(t, str(tag))
        curves.setdefault(key, []).append({
            "codec_tag": str(tag), "bpp": round(float(t["bpp"].mean()), 4), "pairs": len(t),
            "symbol_share": round(float((t["n_symbol"] > 0).mean()), 4),
            "findings_per_pair": round(float(t["n_all"].mean()), 3), **_read_rates(t),
        })  # fmt: skip
    return [{"curve": k, "points": sorted(v, key=lambda p: p["bpp"])} for k, v in sorted(curves.items())]


def _read_rates(t: pd.DataFrame) -> dict:
    """Pooled over the setting's pairs: every legible line and character weighs the same, so one
    text-heavy image does not count as much as a page of small ones. None where nothing was read."""
    line_fields = READ_COUNT_FIELDS[:4]  # lines, exact lines, characters, character errors
    if any(c not in t for c in line_fields):
        return {"ocr_lines": 0, "cer": None, "exact_read_rate": None}
    lines, exact, chars, errors = (
        int(pd.to_numeric(t[c], errors="coerce").fillna(0).sum()) for c in line_fields
    )
    return {
        "ocr_lines": lines,
        "cer": round(errors / chars, 4) if chars else None,
        "exact_read_rate": round(exact / lines, 4) if lines else None,
    }


def log_bpp_axis(ax) -> None:  # noqa: ANN001
    """A log bpp axis with plain tick labels (0.2, 0.5, 1, 2) instead of matplotlib's 2×10⁻¹."""
    from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator([0.05, 0.1, 0.2, 0.5, 1, 2, 4, 8, 16]))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())


def impact_figure_png(curves: list[dict]) -> str | None:
    """Share of pairs with symbol findings and findings per pair against bpp, plus the reader's
    character error rate and exact-read rate when the scan read text, one line per curve, as a data:
    URI; None when no curve has two rates (a single-rate scan has no curve to draw; the table says it
    all)."""
    if not any(len(c["points"]) >= 2 for c in curves):
        return None
    import base64
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        ("symbol_share", "share of pairs with symbol findings"),
        ("findings_per_pair", "findings per pair"),
    ]
    if any(p.get("cer") is not None for c in curves for p in c["points"]):
        panels += [
            ("cer", "OCR character error rate vs original's read"),
            ("exact_read_rate", "lines read exactly"),
        ]
    rows = (len(panels) + 1) // 2
    fig, axes = plt.subplots(rows, 2, figsize=(10, 3.4 * rows), squeeze=False)
    for ax, (key, label) in zip(axes.flat, panels, strict=True):
        for c in curves:
            pts = [p for p in c["points"] if p.get(key) is not None]
            ax.plot([p["bpp"] for p in pts], [p[key] for p in pts], marker="o", label=c["curve"])
        ax.set_ylabel(label, fontsize=9)
        ax.set_xlabel("bpp")
        log_bpp_axis(ax)
        ax.grid(alpha=0.3)
        if key != "findings_per_pair":
            ax.set_ylim(-0.03, 1.03)  # shares and rates (a CER above 1 is clipped, the table has it)
    axes.flat[1].legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
