"""Leave-one-codec-out accuracy of the learned-codec trace detector (miscomp trace).

    MISCOMP_SHARED=../shared MISCOMP_TAEF2_DIR=../shared/models/taef2 OMP_NUM_THREADS=1 \
        .venv/bin/python -m benchmarks.trace_loco [--cache .work/trace-corpus]

Corpus: models/trace_corpus.py (256×256 tiles; originals, JPEG/WebP/AVIF/JPEG 2000 at several
rates, in-house bmshj2018-factorized q1/q2, TAEF2 bits 2..6). Protocol, for each codec family F:
the photos are split into two folds by source (a tile's codecs never straddle train and test); the
model is trained on fold A *without any sample of F* and tested on F's samples of fold B, and vice
versa. ``heldout_acc`` is the share of F's tiles classified correctly at p = 0.5 (for a learned family
that is its detection rate, for the others the share correctly called "not learned"). ``seen_acc`` is
the same family's accuracy when F *is* in training (source-held-out only): the gap is what an unseen
codec costs. Two models: ``lr`` (the shipped logistic regression) and ``rf`` (a random forest, for
comparison only). Writes benchmarks/results/trace_loco.{json,csv,png}.
"""

from __future__ import annotations

import argparse
import hashlib
import os
from pathlib import Path

import numpy as np

from benchmarks.harness import pyplot, shared_dir, write_results
from miscomp.forensics.features import FEATURES
from miscomp.forensics.trace import TraceModel
from models.trace_corpus import EXTRA_GRID, fit, load_table, sample_weights

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("OMP_NUM_THREADS", "1")  # before any library starts its threads


OUT = REPO / "benchmarks" / "results"
FAMILIES = ("original", "jpeg", "webp", "avif", "jpeg2000", "bmshj2018", "taef2")


def _fold(source: str) -> int:
    return int(hashlib.sha1(source.encode()).hexdigest(), 16) % 2


def _predict(kind: str, train, test) -> np.ndarray:  # noqa: ANN001
    if kind == "lr":
        model = TraceModel.from_dict(fit(train))
        return (model.logits(test[list(FEATURES)].to_numpy(dtype=np.float64)) > 0).astype(int)
    from sklearn.ensemble import RandomForestClassifier

    rf = RandomForestClassifier(n_estimators=100, max_depth=6, min_samples_leaf=2, random_state=0, n_jobs=1)
    rf.fit(train[list(FEATURES)].to_numpy(), train["label"].to_numpy(), sample_weight=sample_weights(train))
    return rf.predict(test[list(FEATURES)].to_numpy())


def evaluate(table, families: tuple[str, ...] = FAMILIES) -> tuple[list[dict], list[dict]]:  # noqa: ANN001
    table = table.assign(fold=table["source"].map(_fold))
    fam_rows, codec_rows = [], []
    for kind in ("lr", "rf"):
        # seen: every family in training, only the photos are held out
        seen = {}
        for k in (0, 1):
            train, test = table[table["fold"] != k], table[table["fold"] == k]
            seen[k] = test.assign(pred=_predict(kind, train, test))
        seen_all = __import__("pandas").concat(seen.values())
        for fam in families:
            parts = []
            for k in (0, 1):
                train = table[(table["fold"] != k) & (table["family"] != fam)]
                test = table[(table["fold"] == k) & (table["family"] == fam)]
                if len(test) and train["label"].nunique() == 2:
                    parts.append(test.assign(pred=_predict(kind, train, test)))
            if not parts:
                continue
            held = __import__("pandas").concat(parts)
            s = seen_all[seen_all["family"] == fam]
            fam_rows.append(
                {
                    "model": kind,
                    "family": fam,
                    "learned": int(held["label"].iloc[0]),
                    "tiles": len(held),
                    "heldout_acc": round(float((held["pred"] == held["label"]).mean()), 4),
                    "seen_acc": round(float((s["pred"] == s["label"]).mean()), 4),
                }
            )
            for codec, g in held.groupby("codec"):
                sg = s[s["codec"] == codec]
                codec_rows.append(
                    {
                        "model": kind,
                        "family": fam,
                        "codec": codec,
                        "tiles": len(g),
                        "median_bpp": round(float(g["bpp"].median()), 3),
                        "heldout_acc": round(float((g["pred"] == g["label"]).mean()), 4),
                        "seen_acc": round(float((sg["pred"] == sg["label"]).mean()), 4),
                    }
                )
    return fam_rows, codec_rows


def shipped_on(table, extra: tuple[str, ...]) -> dict:  # noqa: ANN001
    """The shipped model (miscomp/data/trace-model.json, trained without the ``extra`` families) on
    those families' tiles: its detection rate at p = 0.5 per family and codec. Its training corpus holds
    the same photos, so this holds out the codec, not the photos."""
    from miscomp.forensics.trace import load_model

    model = load_model()
    out = {"model_version": model.version}
    for fam in (f for e in extra for f, _, _ in EXTRA_GRID[e]):
        sub = table[table["family"] == fam]
        pred = model.logits(sub[list(FEATURES)].to_numpy(dtype=np.float64)) > 0
        out[fam] = {"tiles": len(sub), "detected": int(pred.sum()), "rate": round(float(pred.mean()), 4)}
    return out


def plot(rows: list[dict], path: Path) -> None:
    plt = pyplot()

    lr = [r for r in rows if r["model"] == "lr"]
    x = np.arange(len(lr))
    fig, ax = plt.subplots(figsize=(8, 3.6))
    ax.bar(x - 0.2, [r["seen_acc"] for r in lr], 0.4, label="family seen in training", color="#9bb")
    ax.bar(x + 0.2, [r["heldout_acc"] for r in lr], 0.4, label="family held out (LOCO)", color="#c55")
    ax.set_xticks(
        x, [f"{r['family']}\n({'learned' if r['learned'] else 'not learned'})" for r in lr], fontsize=8
    )
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("tiles classified correctly")
    ax.set_title("miscomp trace: leave-one-codec-out accuracy (logistic regression, p=0.5)")
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", type=Path, default=REPO / ".work" / "trace-corpus")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument(
        "--with", dest="extra", nargs="*", default=[], choices=sorted(EXTRA_GRID),
        help="add these families to the corpus (writes trace_loco_<names>.*; the default is untouched)",
    )  # fmt: skip
    ap.add_argument(
        "--built-only", action="store_true",
        help="use only the tiles the corpus already holds with every codec (no encoding of the base grid)",
    )  # fmt: skip
    ap.add_argument("--name", default="", help="results name (default: trace_loco[_<with>])")
    args = ap.parse_args()
    extra = tuple(args.extra)
    table = load_table(shared_dir(), args.cache, extra=extra, built_only=args.built_only)
    fam_rows, codec_rows = evaluate(table, FAMILIES + tuple(f for e in extra for f, _, _ in EXTRA_GRID[e]))
    meta = {
        "tiles": int(table[["source", "tile"]].drop_duplicates().shape[0]),
        "rows": len(table),
        "sources": int(table["source"].nunique()),
        "groups": table.groupby("group")["source"].nunique().to_dict(),
    }
    summary = {"corpus": meta, "codecs": codec_rows}
    if extra:
        summary["shipped_model"] = shipped_on(table, extra)
    meta["built_only"] = args.built_only
    name = args.name or "_".join(("trace_loco", *extra))
    write_results(name, summary, fam_rows, results_dir=args.out)
    plot(fam_rows, args.out / f"{name}.png")
    print("| family | learned | tiles | LR held out | LR seen | RF held out | RF seen |")
    print("|---|---|---|---|---|---|---|")
    for r in [r for r in fam_rows if r["model"] == "lr"]:
        rf = next(x for x in fam_rows if x["model"] == "rf" and x["family"] == r["family"])
        print(
            f"| {r['family']} | {'yes' if r['learned'] else 'no'} | {r['tiles']} | {r['heldout_acc']:.2f} | "
            f"{r['seen_acc']:.2f} | {rf['heldout_acc']:.2f} | {rf['seen_acc']:.2f} |"
        )


if __name__ == "__main__":
    main()
