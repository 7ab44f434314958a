"""Prevalence of miscompressions per codec setting on scans of Kodak and of the test bed's scenes,
and text fidelity as BD-CER / BD-WER against JPEG.

    miscomp scan --originals KODAK -c jpeg:quality=10 -c bmshj2018-factorized:q=1 -c taef2:bits=2 --out RK
    miscomp scan --originals SCENES -c jpeg:quality=5 -c jpeg:quality=10 -c jpeg:quality=20 \\
        -c bmshj2018-factorized:q=1 -c bmshj2018-factorized:q=2 -c taef2:bits=2 -c taef2:bits=3 --out RS
    python -m benchmarks.prevalence --run kodak=RK --run scenes=RS [--review EVIDENCE.json]

SCENES are the test bed's 20 rendered scenes (`python -m benchmarks.real_codecs build` writes them). The
review evidence (precision and recall of the tool's shown findings per group) comes from the test bed:
`python -m benchmarks.prevalence --evidence-from RUN_OF_REVIEWED_PAIRS` writes it from a scored scan.
Writes benchmarks/results/prevalence.json (+ .csv, .png).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from benchmarks.harness import RESULTS, set_threads, write_results
from miscomp.study.prevalence import ReviewEvidence, load_evidence, save_evidence
from miscomp.study.run import study_run

GROUPS = ("all", "amplitude", "geometry", "shape", "symbol")


def evidence_from_scored_run(run_dir: Path) -> dict[str, ReviewEvidence]:
    """Precision and recall per group of a scan of the test bed's reviewed pairs (its labels say which
    shown findings are real and which miscompressions exist)."""
    from benchmarks.realbed_score import load_reviewed, score

    res = score(run_dir, reviewed=load_reviewed())
    findings, labels = res["findings"], res["labels"]
    labels = labels[labels["kind"] == "miscompression"]
    out = {}
    for group in GROUPS:
        if group == "all":
            f, lab = findings, labels
        elif group == "symbol":
            f, lab = findings[findings["symbol"]], labels[labels["symbol"]]
        else:
            f, lab = findings[findings["category"] == group], labels[labels["category"] == group]
        out[group] = ReviewEvidence(
            group,
            flagged=len(f),
            confirmed=int(f["hit_miscompression"].sum()),
            labelled=len(lab),
            found=int(lab["found"].sum()),
            source=f"realbed {run_dir.name}",
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="append", default=[], help="NAME=RUN_DIR (repeatable)")
    parser.add_argument("--review", type=Path, default=None, help="review evidence JSON")
    parser.add_argument("--evidence-from", type=Path, default=None, help="write evidence from a bed scan")
    parser.add_argument("--evidence-out", type=Path, default=RESULTS.parent / "candidates" / "evidence.json")
    parser.add_argument("--note", default="", help="what the scans were made with (recorded in the summary)")
    args = parser.parse_args(argv)
    set_threads(1)
    if args.evidence_from:
        save_evidence(evidence_from_scored_run(args.evidence_from), args.evidence_out)
        print(f"wrote {args.evidence_out}")
        if not args.run:
            return 0
    evidence = load_evidence(args.review) if args.review else None
    rows, bd_rows, summary = [], [], {}
    for item in args.run:
        name, _, run_dir = item.partition("=")
        res = study_run(Path(run_dir), Path(run_dir) / "study", evidence)
        for r in res.prevalence:
            rows.append({"dataset": name, **asdict(r)})
        for b in res.bd:
            bd_rows.append({"dataset": name, **asdict(b)})
        summary[f"{name}_images"] = max((r.images for r in res.prevalence), default=0)
        summary[f"{name}_min_score"] = res.min_score
    summary["corrected"] = bool(evidence)
    summary["scans_note"] = args.note
    summary["bd"] = bd_rows
    write_results("prevalence", summary, rows)
    plot(pd.DataFrame(rows), RESULTS / "prevalence.png")
    table = pd.DataFrame(rows)
    print(table[table.group.isin(["all", "symbol"])].to_string(index=False))
    print(pd.DataFrame(bd_rows).to_string(index=False))
    return 0


def plot(table: pd.DataFrame, path: Path) -> None:
    from benchmarks.harness import pyplot

    plt = pyplot()
    names = list(dict.fromkeys(table["dataset"]))
    fig, axes = plt.subplots(1, len(names), figsize=(5.5 * len(names), 3.8), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        sub = table[(table.dataset == name) & (table.group == "all") & (table.basis == "raw")]
        for curve, grp in sub.groupby("curve" if "curve" in sub else "codec", sort=True):
            grp = grp.sort_values("bpp")
            (line,) = ax.plot(grp["bpp"], grp["per_mp"], marker="o", label=curve)
            ax.fill_between(
                grp["bpp"], grp["per_mp_lo"], grp["per_mp_hi"], color=line.get_color(), alpha=0.15
            )
        ax.set_xscale("log")
        ax.set_xlabel("bits per pixel")
        ax.set_ylabel("miscompressions shown per MP")
        ax.set_title(name)
        ax.margins(x=0.1, y=0.1)
        ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
