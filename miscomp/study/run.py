"""`miscomp study`: prevalence, text fidelity and Bjøntegaard deltas of one scan, written beside it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from miscomp.errors import MiscompError
from miscomp.study.bjontegaard import BDRow, TextFidelity, bd_table, text_fidelity
from miscomp.study.prevalence import PrevalenceRow, ReviewEvidence, frame, prevalence


@dataclass(frozen=True)
class StudyResult:
    out: Path
    min_score: float
    prevalence: list[PrevalenceRow]
    fidelity: list[TextFidelity]
    bd: list[BDRow]
    corrected: bool


def study_run(
    run_dir: Path,
    out: Path | None = None,
    evidence: dict[str, ReviewEvidence] | None = None,
    reference: str = "jpeg",
    min_score: float | None = None,
    n_boot: int = 2000,
) -> StudyResult:
    """Read a scan, count what it shows per codec setting, and write ``study/`` into ``out``."""
    from miscomp.findings import run_min_score
    from miscomp.io import atomic_write_text
    from miscomp.store import load_run

    run = load_run(run_dir)
    threshold = run_min_score(run.meta, min_score)
    rows = prevalence(run.pairs, run.findings, threshold, evidence, n_boot=n_boot)
    fidelity = text_fidelity(run.pairs)
    bd = bd_table(fidelity, reference)
    out = Path(out) if out is not None else Path(run_dir) / "study"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise MiscompError(f"{out}: cannot write the study ({err.strerror})") from None
    table = frame(rows)
    atomic_write_text(out / "prevalence.csv", table.to_csv(index=False))
    atomic_write_text(
        out / "text_fidelity.csv", pd.DataFrame([asdict(f) for f in fidelity]).to_csv(index=False)
    )
    atomic_write_text(out / "bd.csv", pd.DataFrame([asdict(b) for b in bd]).to_csv(index=False))
    summary = {
        "run_dir": str(run_dir),
        "min_score": threshold,
        "reference": reference,
        "bootstrap": n_boot,
        "corrected": bool(evidence),
        "evidence": {k: asdict(v) for k, v in (evidence or {}).items()},
    }
    atomic_write_text(out / "study.json", json.dumps(summary, indent=1) + "\n")
    plot_prevalence(table, out / "prevalence.png")
    return StudyResult(out, threshold, rows, fidelity, bd, bool(evidence))


def prevalence_figure(table: pd.DataFrame, group: str = "all"):
    """Prevalence (shown miscompressions per megapixel) against bpp, one line per curve (a codec
    family with its parameters other than the rate, :mod:`miscomp.curves`) with its 95 % band;
    corrected figures dashed where review evidence exists. None when no codec has a rate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = table.dropna(subset=["bpp"])
    if table.empty:
        return None
    # The report's other figures are 10 in wide at 100 dpi: the same size keeps the same type size.
    fig, ax = plt.subplots(figsize=(10, 3.6))
    for basis, style in (("raw", "-"), ("corrected", "--")):
        sub = table[(table["group"] == group) & (table["basis"] == basis)]
        # tables written before prevalence rows carried their curve fall back to the family
        by = "curve" if "curve" in sub else "codec"
        for curve, grp in sub.groupby(by, sort=True):
            grp = grp.sort_values("bpp")
            label = curve if basis == "raw" else f"{curve} (corrected)"
            # error bars show each setting's interval (a band alone is invisible for a single rate)
            err = [grp["per_mp"] - grp["per_mp_lo"], grp["per_mp_hi"] - grp["per_mp"]]
            bars = ax.errorbar(grp["bpp"], grp["per_mp"], yerr=err, fmt="o" + style, capsize=3, label=label)
            if len(grp) > 1:
                ax.fill_between(
                    grp["bpp"],
                    grp["per_mp_lo"],
                    grp["per_mp_hi"],
                    color=bars.lines[0].get_color(),
                    alpha=0.12,
                )
    ax.set_xscale("log")
    ax.set_xlabel("bits per pixel")
    ax.set_ylabel("miscompressions shown per megapixel")
    ax.set_title("prevalence (95 % bootstrap over images)")
    ax.margins(x=0.08, y=0.1)
    # outside the axes: a legend inside covered points (the report's RD plot had that problem)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return fig


def plot_prevalence(table: pd.DataFrame, path: Path, group: str = "all") -> None:
    import matplotlib.pyplot as plt

    fig = prevalence_figure(table, group)
    if fig is not None:
        fig.savefig(path, dpi=110)
        plt.close(fig)


def prevalence_png_uri(table: pd.DataFrame) -> str | None:
    """The prevalence figure as a data: URI for the self-contained report."""
    import base64
    import io

    import matplotlib.pyplot as plt

    fig = prevalence_figure(table)
    if fig is None:
        return None
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
