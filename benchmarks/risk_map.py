"""Risk map at encoding time and the factors of miscompression, on the real-codec test bed.

    python -m benchmarks.risk_map [--train-run RUN_DIR] [--upper-run RUN_DIR] [--ship]

Cells are 32 px squares of the ORIGINAL; a cell of a reviewed pair (image × codec setting) is
positive when a human-labelled miscompression covers it (overlap >= 30 % of the smaller of cell and
label). The model is fitted on the `tune` split, either on those human labels (default) or on a
scan's shown findings (`--train-run`: the detectors take the human out of the loop), and checked on
`heldout` against human labels only. Baselines in the same table: edge density, "text present",
and the upper bound of running the codec plus the detectors (`--upper-run`, a scan of the held-out
pairs: a cell's score is the best shown finding over it).

Writes benchmarks/results/risk_map.json (+ .csv, .png) and, with --ship, miscomp/data/risk-model.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.harness import pyplot, set_threads, shared_dir, write_results
from benchmarks.realbed_build import DEFAULT_WORK, load_original, read_manifest
from benchmarks.realbed_score import load_labels, load_reviewed
from miscomp.study.features import FEATURES, FeatureConfig, cell_features
from miscomp.study.risk import MAP_FEATURES, RiskModel, default_model_path, fit, top_cells

COVER = 0.3  # a label covers a cell when they overlap by >= 30 % of the smaller of the two
TOP_SHARE = 0.05  # "the riskiest 5 % of the image area" (issue 30)
C_GRID = (0.003, 0.01, 0.03, 0.1, 1.0)


def overlap_matrix(cells: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """cells × boxes: True where they overlap by >= COVER of the smaller area."""
    if len(boxes) == 0:
        return np.zeros((len(cells), 0), bool)
    cx0, cy0 = cells[:, 0:1], cells[:, 1:2]
    cx1, cy1 = cx0 + cells[:, 2:3], cy0 + cells[:, 3:4]
    bx0, by0 = boxes[:, 0][None], boxes[:, 1][None]
    bx1, by1 = bx0 + boxes[:, 2][None], by0 + boxes[:, 3][None]
    iw = np.clip(np.minimum(cx1, bx1) - np.maximum(cx0, bx0), 0, None)
    ih = np.clip(np.minimum(cy1, by1) - np.maximum(cy0, by0), 0, None)
    smaller = np.minimum(cells[:, 2:3] * cells[:, 3:4], (boxes[:, 2] * boxes[:, 3])[None])
    return iw * ih >= COVER * np.maximum(smaller, 1)


def grids(manifest: dict, work: Path) -> dict[str, object]:
    """Cell features of every original (cached: the original's sha256 names the file)."""
    from miscomp.detect.ocr.engines import RapidOCREngine
    from miscomp.study.features import CellGrid

    engine = RapidOCREngine(threads=1)
    cache = work / "risk-features"
    cache.mkdir(parents=True, exist_ok=True)
    out = {}
    for spec in manifest["images"]:
        path = cache / f"{spec['image_id']}-{spec['sha256'][:12]}-{len(FEATURES)}-{FeatureConfig().cell}.npz"
        if path.exists():
            z = np.load(path)
            out[spec["image_id"]] = CellGrid(int(z["w"]), int(z["h"]), int(z["cell"]), z["values"])
            continue
        rgb, _ = load_original(spec)
        grid = cell_features(rgb, FeatureConfig(), engine=engine)
        np.savez(path, w=grid.width, h=grid.height, cell=grid.cell, values=grid.values)
        out[spec["image_id"]] = grid
    return out


def map_cost(manifest: dict, n: int = 6) -> float:
    """Median CPU seconds per megapixel of what `miscomp risk` computes (features without OCR, the
    model), on the first ``n`` originals of the bed."""
    model = RiskModel.load(default_model_path())
    cost = []
    for spec in manifest["images"][:n]:
        rgb, _ = load_original(spec)
        t = time.process_time()
        grid = cell_features(rgb, MAP_FEATURES)
        model.predict(grid.flat(), "taef2", 0.3)
        cost.append((time.process_time() - t) / (rgb.shape[0] * rgb.shape[1] / 1e6))
    return float(np.median(cost))


def samples(manifest, grids_, labels, reviewed, split, findings=None):
    """One sample per reviewed pair of ``split``: features, codec, bpp, human targets, label boxes."""
    specs = {v: k for k, v in manifest["codecs"].items()}
    out = []
    for spec in manifest["images"]:
        if spec["split"] != split:
            continue
        grid = grids_[spec["image_id"]]
        cells = grid.cell_boxes()
        for tag, rec in spec["reconstructions"].items():
            if (spec["image_id"], tag) not in reviewed:
                continue
            lab = labels[(labels.image_id == spec["image_id"]) & (labels.codec_tag == tag)]
            mis = lab[lab.kind == "miscompression"]
            boxes = mis[["x", "y", "w", "h"]].to_numpy()
            cover = overlap_matrix(cells, boxes)
            s = {
                "image_id": spec["image_id"],
                "codec_tag": tag,
                "codec": specs[tag].split(":")[0],
                "spec": specs[tag],
                "bpp": rec["bpp"],
                "grid": grid,
                "cover": cover,
                "symbol": mis["symbol"].to_numpy(bool),
                "target": cover.any(axis=1),
            }
            if findings is not None:
                f = findings[(findings.image_id == spec["image_id"]) & (findings.codec_tag == tag)]
                fcover = overlap_matrix(cells, f[["x", "y", "w", "h"]].to_numpy())
                score = np.where(fcover, f["score"].to_numpy()[None], 0.0)
                s["found"] = score.max(axis=1) if score.size else np.zeros(len(cells))
            out.append(s)
    return out


def evaluate(samples_, score_fn) -> dict:
    """Region-level ROC-AUC (all / text / non-text labels) and the share of labels the riskiest 5 %
    of each image's area covers."""
    from sklearn.metrics import roc_auc_score

    scores, targets, text_t, nontext_t = [], [], [], []
    covered = {"all": [0, 0], "text": [0, 0], "nontext": [0, 0]}
    for s in samples_:
        r = score_fn(s)
        scores.append(r)
        targets.append(s["target"])
        text_t.append(s["cover"][:, s["symbol"]].any(axis=1) if s["cover"].size else s["target"] * False)
        nontext_t.append(s["cover"][:, ~s["symbol"]].any(axis=1) if s["cover"].size else s["target"] * False)
        chosen = top_cells(s["grid"], r + 1e-9 * np.random.default_rng(0).random(len(r)), TOP_SHARE)
        hit = (s["cover"] & chosen[:, None]).any(axis=0) if s["cover"].size else np.zeros(0, bool)
        for key, mask in (("all", np.ones(len(hit), bool)), ("text", s["symbol"]), ("nontext", ~s["symbol"])):
            covered[key][0] += int(hit[mask].sum())
            covered[key][1] += int(mask.sum())
    sc, tg = np.concatenate(scores), np.concatenate(targets)
    res = {}
    for key, t in (("all", tg), ("text", np.concatenate(text_t)), ("nontext", np.concatenate(nontext_t))):
        # text AUC: text-label cells against cells with no label at all (other-kind cells left out)
        keep = t | ~tg
        res[f"auc_{key}"] = (
            round(float(roc_auc_score(t[keep], sc[keep])), 4) if 0 < t[keep].sum() < keep.sum() else None
        )
        res[f"top5_{key}"] = round(covered[key][0] / covered[key][1], 4) if covered[key][1] else None
        res[f"labels_{key}"] = covered[key][1]
    res["cells"] = int(len(tg))
    res["positive_cells"] = int(tg.sum())
    return res


def model_scorer(model: RiskModel):
    return lambda s: model.logit(s["grid"].flat(), s["codec"], s["bpp"])


def feature_scorer(name: str):
    i = FEATURES.index(name)
    return lambda s: s["grid"].flat()[:, i].astype(float)


def train(samples_, C: float, target: str = "target", trained_on: str = "") -> RiskModel:
    return fit(
        [s["grid"].flat() for s in samples_],
        [s["codec"] for s in samples_],
        [s["bpp"] for s in samples_],
        [s[target] for s in samples_],
        settings=[s["spec"] for s in samples_],
        C=C,
        trained_on=trained_on,
    )


def pick_C(samples_, target: str) -> tuple[float, list[dict]]:
    """C by 3-fold cross-validation over images on the tune split: the mean of region AUC and the
    riskiest-5 % coverage (the two numbers the map is judged by), against the training target."""
    images = sorted({s["image_id"] for s in samples_})
    folds = [set(images[i::3]) for i in range(3)]
    rows = []
    for C in C_GRID:
        got = []
        for fold in folds:
            tr = [s for s in samples_ if s["image_id"] not in fold]
            te = [dict(s, target=s[target]) for s in samples_ if s["image_id"] in fold]
            res = evaluate(te, model_scorer(train(tr, C, target)))
            got.append(((res["auc_all"] or 0) + (res["top5_all"] or 0)) / 2)
        rows.append({"C": C, "cv_auc_top5": round(float(np.mean(got)), 4)})
    best = max(rows, key=lambda r: r["cv_auc_top5"])
    return best["C"], rows


def scan_findings(run_dir: Path, manifest: dict) -> pd.DataFrame:
    from benchmarks.realbed_score import canonical_ids
    from benchmarks.realbed_score import load_run as load_scored

    pairs, findings = load_scored(run_dir)
    known = {s["image_id"] for s in manifest["images"]}
    pairs = canonical_ids(pairs, known)
    findings = findings.drop(columns=["image_id", "codec_tag"]).merge(
        pairs[["pair_id", "image_id", "codec_tag"]], on="pair_id", how="left"
    )
    return findings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--train-run", type=Path, default=None, help="train on this scan's findings (tune)")
    parser.add_argument("--upper-run", type=Path, default=None, help="scan of held-out pairs: upper bound")
    parser.add_argument("--ship", action="store_true", help="write the model to miscomp/data/risk-model.json")
    parser.add_argument("--name", default="risk_map", help="results file name (risk_map_from_scans …)")
    args = parser.parse_args(argv)
    set_threads(1)
    shared_dir("data/kodak")
    manifest = read_manifest()
    labels = load_labels()
    reviewed = load_reviewed()
    grids_ = grids(manifest, args.work)
    train_findings = scan_findings(args.train_run, manifest) if args.train_run else None
    upper_findings = scan_findings(args.upper_run, manifest) if args.upper_run else None
    tune = samples(manifest, grids_, labels, reviewed, "tune", train_findings)
    held = samples(manifest, grids_, labels, reviewed, "heldout", upper_findings)
    target = "found_target" if train_findings is not None else "target"
    if train_findings is not None:
        for s in tune:
            s["found_target"] = s["found"] > 0
    C, cv_rows = pick_C(tune, target)
    source = f"shown findings of {args.train_run.name}" if args.train_run else "human labels"
    trained_on = f"realbed tune split, {source}, {len(tune)} pairs, C={C}"
    model = train(tune, C, target, trained_on)
    rows = []
    methods = [("risk model", model_scorer(model)), ("edge density", feature_scorer("edges"))]
    methods.append(("text present", feature_scorer("text")))
    if upper_findings is not None:
        methods.append(("codec + detectors (upper bound)", lambda s: s["found"]))
    for name, fn in methods:
        for split, ss in (("tune", tune), ("heldout", held)):
            if name.startswith("codec") and split == "tune":
                continue
            rows.append({"method": name, "split": split, "pairs": len(ss), **evaluate(ss, fn)})
    heldrow = next(r for r in rows if r["method"] == "risk model" and r["split"] == "heldout")
    summary = {
        "trained_on": trained_on,
        "heldout_auc_all": heldrow["auc_all"],
        "heldout_auc_text": heldrow["auc_text"],
        "heldout_auc_nontext": heldrow["auc_nontext"],
        "heldout_top5_all": heldrow["top5_all"],
        "heldout_top5_text": heldrow["top5_text"],
        "heldout_top5_nontext": heldrow["top5_nontext"],
        "C_search": cv_rows,
    }
    from benchmarks.factors import CellTable, factor_table

    factors = factor_table(CellTable.stack(tune), CellTable.stack(held))
    summary["factors"] = factors
    if args.ship:  # before the cost is measured: it times the shipped model
        default_model_path().write_text(model.to_json())
    summary["map_cost_s_per_mp"] = round(map_cost(manifest), 3)
    write_results(args.name, summary, rows)
    plot(rows, Path(__file__).parent / "results" / f"{args.name}.png")
    print(pd.DataFrame(rows).to_string(index=False))
    print(pd.DataFrame(factors).to_string(index=False))
    return 0


def plot(rows: list[dict], path: Path) -> None:
    plt = pyplot()
    df = pd.DataFrame(rows)
    df = df[df.split == "heldout"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, metric, title in (
        (axes[0], "auc", "region ROC-AUC"),
        (axes[1], "top5", "labels in riskiest 5 %"),
    ):
        x = np.arange(len(df))
        for i, kind in enumerate(("all", "text", "nontext")):
            ax.bar(x + (i - 1) * 0.27, df[f"{metric}_{kind}"].fillna(0), width=0.27, label=kind)
        ax.set_xticks(x, df["method"], rotation=15, fontsize=8)
        ax.set_title(f"held out: {title}")
        ax.set_ylim(0, 1)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
