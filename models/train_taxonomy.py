"""Train the taxonomy classifier, a small random forest (model card: models/taxonomy-classifier.md).

    PYTHONPATH=. python models/train_taxonomy_tree.py [--pairs 500] [--seed 7]

Generates pairs (miscomp/synth/truth.py), runs the diff detector's candidate search, keeps the
candidate matching each truth box, computes its features and fits 30 depth-6 trees on the truth
categories. Writes miscomp/data/taxonomy-forest.json (plain arrays, no pickle).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def features_table(n_pairs: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from benchmarks.detection_quality import matches
    from miscomp.detect.diff import _patch, find_candidates
    from miscomp.findings import Finding, Region
    from miscomp.synth.truth import generate
    from miscomp.taxonomy import region_features

    xs, ys = [], []
    for pair in generate(n_pairs, seed):
        if not pair.truths:
            continue
        t = pair.truths[0]
        for c in find_candidates(pair.original, pair.reconstruction):
            reg = c.region
            if not matches(
                Finding("p", "d", reg.x, reg.y, reg.w, reg.h, "shape", False, 0.5, ""),
                Region(t.x, t.y, t.w, t.h),
            ):
                continue
            pad = max(8, int(0.25 * max(reg.w, reg.h)))
            po, (x0, y0) = _patch(pair.original, reg, pad)
            pr, _ = _patch(pair.reconstruction, reg, pad)
            mask = np.zeros(po.shape[:2], bool)
            mask[reg.y - y0 : reg.y - y0 + reg.h, reg.x - x0 : reg.x - x0 + reg.w] = c.mask
            xs.append(region_features(po, pr, mask).as_vector())
            ys.append(t.category)
            break
    return np.asarray(xs), np.asarray(ys)


def export(forest, cv: float, args) -> dict:
    """Plain JSON arrays per tree; class counts normalised to probabilities at each node."""
    from miscomp.taxonomy import FEATURE_NAMES

    trees = []
    for est in forest.estimators_:
        t = est.tree_
        value = t.value[:, 0, :]
        trees.append({
            "left": t.children_left.tolist(), "right": t.children_right.tolist(),
            "feature": t.feature.tolist(),
            "threshold": [round(float(v), 6) for v in t.threshold],
            "proba": [[round(float(v), 4) for v in row / max(row.sum(), 1e-12)] for row in value],
        })  # fmt: skip
    return {
        "kind": "sklearn RandomForestClassifier exported to arrays", "params": PARAMS,
        "features": list(FEATURE_NAMES), "classes": [str(c) for c in forest.classes_], "trees": trees,
        "trained_on": {"generator": "miscomp/synth/truth.py", "seed": args.seed, "pairs": args.pairs},
        "cv5_accuracy": round(cv, 3),
    }  # fmt: skip


PARAMS = {"n_estimators": 30, "max_depth": 6, "min_samples_leaf": 2, "random_state": 0}


def main() -> None:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import confusion_matrix
    from sklearn.model_selection import cross_val_predict

    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--table", type=Path, help="cache the feature table here (.npz) and reuse it")
    args = parser.parse_args()
    if args.table and args.table.exists():
        x, y = (np.load(args.table)[k] for k in ("x", "y"))
    else:
        x, y = features_table(args.pairs, args.seed)
        if args.table:
            np.savez(args.table, x=x, y=y)
    pred = cross_val_predict(RandomForestClassifier(**PARAMS), x, y, cv=5)
    cv = float((pred == y).mean())
    forest = RandomForestClassifier(**PARAMS).fit(x, y)
    print(f"{len(y)} regions, 5-fold CV accuracy {cv:.3f}; confusion (rows truth, {forest.classes_}):")
    print(confusion_matrix(y, pred, labels=forest.classes_))
    model = export(forest, cv, args)
    model["trained_on"]["regions"] = len(y)
    out = Path(__file__).resolve().parents[1] / "miscomp" / "data" / "taxonomy-forest.json"
    out.write_text(json.dumps(model, separators=(",", ":")))
    print("wrote", out)


if __name__ == "__main__":
    main()
