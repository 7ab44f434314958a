"""Size and load time of the HTML report as the number of findings grows, images linked vs embedded.

Writes a synthetic but real run (Kodak photos through real JPEG/WebP, findings on the most changed
tiles, crops written by miscomp.crops as in a scan), renders reports for 50..500 findings in both
image modes, and loads each in headless Chromium (Debian chromium + playwright), timing navigation
start → load event (median of 3 fresh loads, network blocked).

    .venv/bin/python -m benchmarks.report_size [--kodak DIR] [--work DIR] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from benchmarks.harness import RESULTS, shared_dir, write_results
from miscomp.report import EMBED_LIMIT_BYTES, choose_embed, load_run_dir, render_report  # noqa: E402
from testing.runs import write_run  # the run writer the report tests use
from testing.screenshot import load_time

REPO = Path(__file__).resolve().parents[1]


CODECS = ("jpeg:quality=5", "jpeg:quality=15", "jpeg:quality=40", "webp:quality=5", "webp:quality=30")
SIZES = (50, 100, 250, 500)
LABELS = {"link": "images linked", "embed": "images embedded"}


def build(kodak: Path, run_dir: Path) -> None:
    originals = sorted(kodak.glob("kodim*.png"))[:10]
    write_run(run_dir, originals, codecs=CODECS, findings_per_pair=10, external=False, error=False,
              drop_one_crop=False)  # fmt: skip


def main() -> None:
    shared = shared_dir()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kodak", type=Path, default=shared / "data" / "kodak")
    ap.add_argument("--work", type=Path, default=Path("/tmp/miscomp_report_size"))
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    run_dir = args.work / "run"
    if not (run_dir / "findings.parquet").exists():
        t0 = time.perf_counter()
        build(args.kodak, run_dir)
        print(f"built run in {time.perf_counter() - t0:.1f} s")
    full = pd.read_parquet(run_dir / "findings.parquet")
    full.to_parquet(args.work / "findings_all.parquet")
    crop_bytes = sum(p.stat().st_size for p in (run_dir / "crops").rglob("*") if p.is_file())
    rows = []
    try:
        for n in SIZES:
            full.head(n).to_parquet(run_dir / "findings.parquet", index=False)
            auto = "embed" if choose_embed(load_run_dir(run_dir), "auto") else "link"
            for mode in ("link", "embed"):
                t0 = time.perf_counter()
                html = render_report(run_dir, args.work / f"report_{mode}_{n}.html", images=mode)
                render_s = time.perf_counter() - t0
                timing = load_time(html)
                row = {"findings": n, "mode": mode, "auto_picks": auto, "html_bytes": html.stat().st_size,
                       "render_s": round(render_s, 3), **timing}  # fmt: skip
                print(row)
                rows.append(row)
    finally:
        full.to_parquet(run_dir / "findings.parquet", index=False)
    summary = {
        "what": "report.html size and Chromium load time (navigation start to load event, median of 3)",
        "run": {
            "images": 10,
            "codec_settings": len(CODECS),
            "findings": len(full),
            "crop_files_bytes": crop_bytes,
            "embed_limit_bytes": EMBED_LIMIT_BYTES,
        },
    }
    write_results("report_size", summary, rows, results_dir=args.out)
    plot(pd.DataFrame(rows), args.out / "report_size.png")
    print(f"wrote {args.out / 'report_size.json'} and report_size.png")


def plot(df: pd.DataFrame, path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.6), layout="constrained")
    ax_s, ax_t = fig.subplots(1, 2)
    for mode, g in df.groupby("mode"):
        ax_s.plot(g["findings"], g["html_bytes"] / 1e6, "o-", label=LABELS[mode])
        ax_t.plot(g["findings"], g["load_s"], "o-", label=LABELS[mode])
    ax_s.set(xlabel="findings", ylabel="report.html (MB)", title="File size")
    ax_t.set(xlabel="findings", ylabel="seconds", title="Chromium: navigation → load event")
    for ax in (ax_s, ax_t):
        ax.grid(True, alpha=0.3)
        ax.legend()
        ax.set_ylim(bottom=0)
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
