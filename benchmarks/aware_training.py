"""The miscompression-aware codec (issue 31): which loss term to train with, and base vs aware.

    python -m benchmarks.aware_training terms                 which term predicts the bed's labels (tune)
    python -m benchmarks.aware_training eval --aware PATH     base vs aware: held-out text, Kodak

``terms`` (the small measurement that picks the term): on the real-codec test bed's *tune* split, every
known text item (rendered-scene truths, plate boxes) of the base q1 reconstruction gets the value of
each candidate term inside its box; the labelled q1 symbol miscompressions are the positives. A term
that ranks the labelled items above the items that still read (ROC AUC) is one whose minimisation
targets what a reader calls a miscompression. Plain MSE over the box is the baseline term.

``eval``: both codecs compress the same held-out images (the bed's held-out rendered scenes and plate
crops, plus fresh rendered scenes with seeds no training used) and the default detectors scan both;
reported: bpp, symbol findings, OCR character error rate, and on Kodak bpp/PSNR per image.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.realbed_build import LABELS, load_original, read_manifest

RESULTS = Path(__file__).resolve().parent / "results"
BASE_SPEC = "bmshj2018-factorized:q=1,precision=float32"
BED_Q1_TAG = "bmshj2018-factorized-metricmse-q1-weightsmiscomp"
FRESH_SEEDS = range(2000, 2004)  # TextCropConfig.eval_seed0 on: no training or tuning used them


def _t(rgb: np.ndarray):
    import torch

    return torch.from_numpy(rgb.astype(np.float32).transpose(2, 0, 1)[None] / 255.0)


def _auc(pos: np.ndarray, neg: np.ndarray) -> float:
    if not len(pos) or not len(neg):
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).mean()
    ties = (pos[:, None] == neg[None, :]).mean()
    return float(greater + 0.5 * ties)


def terms(split: str = "tune", spec: str = BASE_SPEC) -> pd.DataFrame:
    """Per text item of the bed's ``split``: each term's value in its box and whether q1 miscompressed it."""
    from miscomp.codecs import create_codec
    from miscomp.training.aware import edge_l1, edge_rel, masked_mse
    from miscomp.training.data import box_mask

    manifest = read_manifest()
    labels = pd.read_csv(LABELS)
    mis = labels[
        (labels["codec_tag"] == BED_Q1_TAG) & (labels["kind"] == "miscompression") & labels["symbol"]
    ]
    codec = create_codec(spec)
    rows = []
    for s in manifest["images"]:
        if s["split"] != split or s["source"] not in ("scene", "plates"):
            continue
        rgb, truths = load_original(s)
        rec = codec.decompress(codec.compress(rgb))
        x, r = _t(rgb), _t(rec)
        lab = mis[mis["image_id"] == s["image_id"]]
        for t in truths:
            if t.kind == "hand":
                continue
            m = _t(box_mask(rgb.shape[:2], [(t.x, t.y, t.w, t.h)], 2)[..., None].repeat(3, 2) * 255)[:, :1]
            cx, cy = t.x + t.w / 2, t.y + t.h / 2
            hit = any(
                (lx <= cx <= lx + lw) and (ly <= cy <= ly + lh)
                for lx, ly, lw, lh in lab[["x", "y", "w", "h"]].itertuples(index=False)
            )
            rows.append(
                {
                    "image_id": s["image_id"],
                    "text": t.text,
                    "char_px": t.char_px,
                    "miscompressed": hit,
                    "masked": float(masked_mse(r, x, m)),
                    "edge": float(edge_l1(r, x, m)),
                    "edge-rel": float(edge_rel(r, x, m)),
                }
            )
    df = pd.DataFrame(rows)
    df["-char_px"] = -df["char_px"]  # not a loss term: how much text size alone predicts
    df["masked+edge"] = df["masked"] / df["masked"].median() + df["edge"] / df["edge"].median()
    return df


def terms_summary(df: pd.DataFrame) -> dict:
    pos, neg = df[df["miscompressed"]], df[~df["miscompressed"]]
    out = {"items": len(df), "miscompressed": len(pos)}
    for col in ("masked", "edge", "masked+edge", "edge-rel", "-char_px"):
        out[f"auc_{col}"] = round(_auc(pos[col].to_numpy(), neg[col].to_numpy()), 3)
    return out


def heldout_originals(folder: Path) -> list[dict]:
    """Write the held-out text images (bed held-out scenes and plate crops, fresh scenes) as PNGs."""
    from PIL import Image

    from miscomp.synth.text_scenes import SCENE_KINDS, render_scene

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for s in read_manifest()["images"]:
        if s["split"] == "heldout" and s["source"] in ("scene", "plates"):
            rgb, _ = load_original(s)
            out.append({"stem": s["image_id"], "set": "bed-" + s["source"]})
            Image.fromarray(rgb).save(folder / f"{s['image_id']}.png")
    for kind in SCENE_KINDS:
        for seed in FRESH_SEEDS:
            stem = f"fresh_{kind}{seed}"
            Image.fromarray(render_scene(kind, seed).image).save(folder / f"{stem}.png")
            out.append({"stem": stem, "set": "fresh-scene"})
    return out


def scan_text(work: Path, spec: str, name: str) -> pd.DataFrame:
    """Compress the held-out text images with ``spec`` and scan them with the default detectors (run dir
    ``work/run-<name>``); per pair: stem, set, bpp, shown symbol findings and the OCR read counts."""
    from miscomp.run import ScanConfig, run_scan
    from miscomp.store import load_run

    images = pd.DataFrame(heldout_originals(work / "originals"))
    run_dir = work / f"run-{name}"
    cfg = ScanConfig(out=run_dir, originals=work / "originals", codecs=(spec,), quiet=True, report=False)
    run_scan(cfg)
    run = load_run(run_dir)
    pairs, findings = run.pairs.copy(), run.findings
    pairs["stem"] = pairs["original"].map(lambda p: Path(str(p)).stem)
    pairs = pairs.merge(images, on="stem", how="inner")
    shown = (
        findings[(findings["score"] >= 0.5) & findings["symbol"].astype(bool)] if len(findings) else findings
    )
    per_pair = shown.groupby("pair_id").size() if len(shown) else pd.Series(dtype=int)
    pairs["symbol_findings"] = pairs["pair_id"].map(per_pair).fillna(0).astype(int)
    pairs["model"] = name
    return pairs


def kodak(specs: list[str]) -> pd.DataFrame:
    """bpp (bytes of the whole bitstream) and PSNR on the decoded 8-bit RGB, every Kodak image."""
    from PIL import Image

    from benchmarks.realbed_build import shared_dir
    from miscomp.codecs import create_codec

    rows = []
    codecs = {s: create_codec(s) for s in specs}
    for path in sorted((shared_dir() / "data" / "kodak").glob("kodim*.png")):
        rgb = np.asarray(Image.open(path).convert("RGB"))
        for spec, codec in codecs.items():
            data = codec.compress(rgb)
            rec = codec.decompress(data)
            mse = float(np.mean((rec.astype(np.float64) - rgb) ** 2))
            bpp = len(data) * 8 / (rgb.shape[0] * rgb.shape[1])
            rows.append({"image": path.stem, "codec": spec, "bpp": bpp, "psnr": 10 * np.log10(255**2 / mse)})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("terms")
    t.add_argument("--split", default="tune", choices=("tune",))
    t.add_argument("--csv", type=Path, default=None)
    e = sub.add_parser("eval")
    e.add_argument("--aware", type=Path, nargs="*", default=[], help="exported aware weights (.pth)")
    e.add_argument("--work", type=Path, default=Path(".work") / "aware-eval")
    e.add_argument("--part", choices=("text", "kodak", "all"), default="all")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    if args.cmd == "terms":
        t0 = time.perf_counter()
        df = terms(args.split)
        if args.csv:
            df.to_csv(args.csv, index=False)
        print(json.dumps({**terms_summary(df), "seconds": round(time.perf_counter() - t0, 1)}))
    elif args.cmd == "eval":
        specs = {"base": BASE_SPEC}
        specs.update({p.stem: f"{BASE_SPEC},weights={p.resolve()}" for p in args.aware})
        args.work.mkdir(parents=True, exist_ok=True)
        if args.part in ("text", "all"):
            for name, spec in specs.items():
                t0 = time.perf_counter()
                pairs = scan_text(args.work, spec, name)
                pairs.to_csv(args.work / f"text-{name}.csv", index=False)
                n_sym = int(pairs["symbol_findings"].sum())
                print(
                    f"{name}: {len(pairs)} pairs, {n_sym} symbol findings, {time.perf_counter() - t0:.0f} s"
                )
        if args.part in ("kodak", "all"):
            df = kodak(list(specs.values()))
            df["model"] = df["codec"].map({v: k for k, v in specs.items()})
            df.to_csv(args.work / "kodak.csv", index=False)
            print(df.groupby("model")[["bpp", "psnr"]].mean(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
