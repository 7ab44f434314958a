"""Train the learned-codec trace detector and write miscomp/data/trace-model.json.

    MISCOMP_SHARED=../shared MISCOMP_TAEF2_DIR=../shared/models/taef2 OMP_NUM_THREADS=1 \
        .venv/bin/python -m models.train_trace [--cache .work/trace-corpus]

The corpus (256×256 tiles of Kodak, scikit-image photos and plate photos through JPEG/WebP/AVIF/
JPEG 2000 at many rates, the in-house bmshj2018-factorized q1/q2 and TAEF2 bits 2..6) is built once
and cached; see models/trace_corpus.py. Model card: models/trace-detector.md.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from models.trace_corpus import fit, load_table

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", type=Path, default=REPO / ".work" / "trace-corpus")
    ap.add_argument("--c", type=float, default=1.0)
    ap.add_argument("--out", type=Path, default=REPO / "miscomp" / "data" / "trace-model.json")
    args = ap.parse_args()
    shared = Path(os.environ.get("MISCOMP_SHARED", REPO.parent / "shared"))
    table = load_table(shared, args.cache)
    model = fit(table, args.c)
    args.out.write_text(json.dumps(model, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}: {model['trained_on']}")


if __name__ == "__main__":
    main()
