"""OCR engines compared under the same conditions: plates quality and OCR time per original.

1. Plates (../shared/data/plates, the held-out odd indices unless ``--subset``): the plates benchmark's
   own cases (benchmarks/ocr_plates.py: read accuracy, swapped-glyph recall, false symbol findings on
   unchanged plates at JPEG q50/75/90), for each engine, on the same plates, crops and swaps, with the
   same allowlist and detection scales (``--plate-scales``, default 1: the crops are upscaled already).
2. Time per original: reading an original (text detection at the engine's scales + two reads of every
   line) is the OCR work a scan does once per image. Today's path (EasyOCR, one scale) against each
   engine's default, on the same photos, in one run: a ratio, not an absolute (the machine is shared).

Run:
    .venv/bin/python -m benchmarks.ocr_engines [--limit 100] [--time-images 4] [--engines rapidocr,easyocr]
Writes benchmarks/results/ocr_engines.{json,csv,png}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.harness import pyplot, read_results, write_results
from benchmarks.ocr_plates import OUT, PLATE_CHARS, SHARED, UNCHANGED_QUALITIES, plate_quality
from miscomp.detect import DETECTORS, PairImages

os.environ.setdefault("OMP_NUM_THREADS", "1")

TIME_IMAGES = ["kodim08.png", "kodim10.png", "kodim14.png", "kodim23.png", "kodim03.png", "kodim19.png"]


def time_per_original(engines: list[str], n: int) -> dict:
    """Seconds to read each original, per configuration, all in this one run."""
    configs = {"easyocr (today: 1 scale)": ("easyocr", "1"), "rapidocr (1 scale)": ("rapidocr", "1")}
    for e in engines:
        configs[f"{e} (default scales)"] = (e, "")
    dets: dict = {}
    for label, (engine, scales) in configs.items():
        if engine in engines:
            det = DETECTORS.create("ocr", engine=engine, scales=scales)
            if not any(d.engine.name == engine and d.scales == det.scales for d in dets.values()):
                dets[label] = det
    rows = []
    for name in TIME_IMAGES[:n]:
        rgb = np.asarray(Image.open(SHARED / "data" / "kodak" / name).convert("RGB"))
        for label, det in dets.items():
            t = time.perf_counter()
            lines = det.read_original(PairImages(name, rgb, rgb))
            dt = time.perf_counter() - t
            legible = sum(
                ln.text == ln.recheck_text and min(ln.conf, ln.recheck_conf) >= det.rules.legible_conf
                for ln in lines
            )
            rows.append({"image": name, "config": label, "seconds": round(dt, 2), "lines": len(lines),
                         "legible_lines": legible, "scales": list(det.scales)})  # fmt: skip
            print(f"time {name} {label}: {dt:.1f}s, {len(lines)} lines ({legible} legible)", flush=True)
    totals = {label: round(sum(r["seconds"] for r in rows if r["config"] == label), 2) for label in dets}
    base = totals.get("easyocr (today: 1 scale)")
    return {
        "images": TIME_IMAGES[:n], "rows": rows, "total_seconds": totals,
        "speedup_vs_today": {k: round(base / v, 2) for k, v in totals.items()} if base else {},
    }  # fmt: skip


def plot(summary: dict, path: Path) -> None:
    plt = pyplot()

    engines = list(summary["plates"])
    fig, (a1, a2, a3) = plt.subplots(1, 3, figsize=(14, 4))
    keys = ["read_exact", "read_char_accuracy", "swap_recall"]
    xs = np.arange(len(keys))
    for i, e in enumerate(engines):
        q = summary["plates"][e]
        a1.bar(xs + 0.4 * i - 0.2, [q[k] for k in keys], 0.4, label=e)
    a1.axhline(0.9, color="k", ls="--", lw=0.8)
    a1.set_xticks(xs, keys, fontsize=8)
    a1.set_ylim(0, 1)
    a1.set_title(f"plates ({summary['subset']}, n={summary['plates'][engines[0]]['plates']})")
    a1.legend(fontsize=8)
    qs = np.arange(len(UNCHANGED_QUALITIES))
    for i, e in enumerate(engines):
        q = summary["plates"][e]
        a2.bar(
            qs + 0.4 * i - 0.2, [q[f"false_symbol_per_plate_q{x}"] for x in UNCHANGED_QUALITIES], 0.4, label=e
        )
    a2.axhline(0.05, color="k", ls="--", lw=0.8)
    a2.set_xticks(qs, [f"JPEG q{x}" for x in UNCHANGED_QUALITIES])
    a2.set_title("false symbol findings per unchanged plate")
    a2.legend(fontsize=8)
    if "time" in summary:
        t = summary["time"]["total_seconds"]
        a3.barh(list(t), list(t.values()), color="tab:green")
        a3.set_title(f"OCR seconds for {len(summary['time']['images'])} Kodak originals (one run)")
        a3.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _previous_run(summary_path: Path) -> tuple[dict, list[dict]]:
    """The last run's summary and rows."""
    done = read_results(summary_path)
    return done["summary"], done["rows"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engines", default="rapidocr,easyocr")
    ap.add_argument(
        "--limit", type=int, default=100,
        help="plates (fixed seed); 0 = all of the subset; -1 = time only, plates kept from the last run",
    )  # fmt: skip
    ap.add_argument("--subset", choices=("heldout", "tune", "all"), default="heldout")
    ap.add_argument("--plate-scales", default="1")
    ap.add_argument("--time-images", type=int, default=4)
    args = ap.parse_args()
    if not (SHARED / "data" / "plates").is_dir():
        sys.exit(f"plates not found under {SHARED}/data/plates (set MISCOMP_SHARED)")
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    summary: dict = {"subset": args.subset, "plate_scales": args.plate_scales, "plates": {}, "detectors": {}}
    rows_all = []
    previous = OUT / "ocr_engines.json"
    if args.limit < 0:  # time only: the plates part is kept from the previous run
        old, rows_all = _previous_run(previous)
        summary |= {k: old[k] for k in ("subset", "plate_scales", "plates", "detectors")}
        engines = [e for e in engines if e in summary["plates"]]
    elif previous.is_file():
        # Engines not named this time keep their last plates results (and say so), so re-measuring one
        # engine does not drop the others' rows: EasyOCR's plates part takes ~15 min here.
        old, old_rows = _previous_run(previous)
        if (old.get("subset"), old.get("plate_scales")) == (args.subset, args.plate_scales):
            kept = [e for e in old.get("plates", {}) if e not in engines]
            for e in kept:
                summary["plates"][e] = old["plates"][e] | {"from_an_earlier_run": True}
                summary["detectors"][e] = old.get("detectors", {}).get(e, {})
            rows_all = [r for r in old_rows if r.get("engine") in kept]
            if not args.time_images and "time" in old:
                summary["time"] = old["time"] | {"from_an_earlier_run": True}
    for engine in engines if args.limit >= 0 else []:
        det = DETECTORS.create("ocr", engine=engine, allowlist=PLATE_CHARS, scales=args.plate_scales)
        ns = argparse.Namespace(subset=args.subset, limit=args.limit, examples=False)
        rows, quality = plate_quality(ns, det)
        summary["plates"][engine] = quality
        summary["detectors"][engine] = det.info()
        private = {"truth", "read", "swap", "swap_evidence"}  # AGPL plate text stays out of the repo
        rows_all += [{"engine": engine} | {k: v for k, v in r.items() if k not in private} for r in rows]
    if args.time_images:
        summary["time"] = time_per_original(engines, args.time_images)
    write_results("ocr_engines", summary, rows_all, results_dir=OUT)
    plot(summary, OUT / "ocr_engines.png")
    print(json.dumps({k: v for k, v in summary.items() if k != "detectors"}, indent=2))


if __name__ == "__main__":
    main()
