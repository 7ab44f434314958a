"""Tune the OCR detector's glyph-check thresholds on the *tuning* plates (even indices) only.

OCR is the slow part and does not depend on the thresholds, so step 1 (``dump``) runs recognition
once per plate and case and pickles the crops and reads outside the repository (the plates are AGPL
test data: never commit them); step 2 (``grid``) replays the cheap comparison stage over a grid of
thresholds and prints swap recall and false symbol findings for each. The chosen defaults live in
``miscomp/detect/glyphs.py``; ``benchmarks/ocr_plates.py --subset heldout`` then reports on the odd
indices, which tuning never saw. Run:
    .venv/bin/python benchmarks/ocr_glyph_tune.py dump --limit 40 --dir /tmp/ocr_tune
    .venv/bin/python benchmarks/ocr_glyph_tune.py grid --dir /tmp/ocr_tune
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import pickle
from pathlib import Path

import numpy as np

from benchmarks.harness import write_results
from benchmarks.ocr_plates import (
    PLATE_CHARS,
    SEED,
    UNCHANGED_QUALITIES,
    intersects,
    load_plates,
    plate_cases,
    select,
)
from miscomp.detect import DETECTORS, PairImages

REPO = Path(__file__).resolve().parents[1]


def dump(args: argparse.Namespace) -> None:
    det = DETECTORS.create("ocr", allowlist=PLATE_CHARS)
    out = Path(args.dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    plates = load_plates()
    for k, idx in enumerate(select(plates, "tune", args.limit, rng)):
        case = plate_cases(plates[idx], rng)
        path = out / f"{k:03d}_{idx}.pkl"
        if path.is_file():
            continue
        orig = case["orig"]
        lines = det.read_original(PairImages(case["pid"], orig, orig))
        recs = {f"q{q}": case["unchanged"][q] for q in UNCHANGED_QUALITIES} | {"swap": case["swapped"]}
        reads = {name: det.read_reconstruction(rec, lines) for name, rec in recs.items()}
        path.write_bytes(pickle.dumps({"case": case, "lines": lines, "recs": recs, "reads": reads}))
        print(f"{k + 1} {case['pid']}", flush=True)


def grid(args: argparse.Namespace) -> None:
    det = DETECTORS.create("ocr", allowlist=PLATE_CHARS)
    data = [pickle.loads(p.read_bytes()) for p in sorted(Path(args.dir).glob("*.pkl"))]
    print(f"{len(data)} tuning plates")
    results = []
    for ratio, floor, confirm in itertools.product(
        [float(v) for v in args.ratios.split(",")],
        [float(v) for v in args.floors.split(",")],
        [float(v) for v in args.confirms.split(",")],
    ):
        det.rules = dataclasses.replace(
            det.rules, glyph_ratio=ratio, glyph_floor=floor, confirm_ratio=confirm
        )
        hits, fp = 0, {q: 0 for q in UNCHANGED_QUALITIES}
        for d in data:
            case, lines = d["case"], d["lines"]
            for name, rec in d["recs"].items():
                fs = det.compare_reads(PairImages(case["pid"], case["orig"], rec), lines, d["reads"][name])
                sym = [f for f in fs if f.symbol]
                if name == "swap":
                    hits += any(intersects((f.x, f.y, f.w, f.h), case["swap_box"]) for f in sym)
                else:
                    fp[int(name[1:])] += len(sym)
        n = len(data)
        row = (ratio, floor, confirm, hits / n, *(fp[q] / n for q in UNCHANGED_QUALITIES))
        results.append(
            {"glyph_ratio": ratio, "glyph_floor": floor, "confirm_ratio": confirm, "swap_recall": hits / n}
            | {f"false_symbol_per_plate_q{q}": fp[q] / n for q in UNCHANGED_QUALITIES}
        )
        fmt = "ratio {:.2f} floor {:.2f} confirm {:.2f}  recall {:.3f}  fp q50 {:.3f} q75 {:.3f} q90 {:.3f}"
        print(fmt.format(*row))
    write_results("ocr_glyph_tune", {"plates": len(data), "subset": "tune (even plate indices)"}, results)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("step", choices=("dump", "grid"))
    ap.add_argument("--dir", default="/tmp/ocr_tune", help="where the pickled crops and reads go")
    ap.add_argument("--limit", type=int, default=40)
    ap.add_argument("--ratios", default="2,2.5,3,3.5,4")
    ap.add_argument("--floors", default="0.2,0.3,0.4,0.5")
    ap.add_argument("--confirms", default="1.5")
    args = ap.parse_args()
    dump(args) if args.step == "dump" else grid(args)


if __name__ == "__main__":
    main()
