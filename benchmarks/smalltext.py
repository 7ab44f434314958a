"""Small text: is a garbled line a few pixels high found, and does text too small to read stay quiet?

    python -m benchmarks.smalltext recall RUN_DIR [RUN_DIR ...] [--max-height 9]
    python -m benchmarks.smalltext false  [--kodak 24] [--plates 10] [--work .work/smalltext-false]

``recall``: over the labelled symbol miscompressions of the real-codec test bed (version 1,
``datasets/realbed``, and its full-size part, ``datasets/realbed/fullsize``) whose label box is at most
``--max-height`` px high (the box of a rendered or labelled line: for capitals, the cap height), the
share matched by a symbol finding of the run (version 1's match rule: IoU >= 0.1 or the finding's
centre inside the label), per split. Each RUN_DIR is a scan of one of the beds' reviewed pairs
(``benchmarks.real_codecs run`` / ``benchmarks.fullsize_bed run``); its bed is found from its image ids.

``false``: symbol findings on photos whose meaning the codec did not change, per pair: the text-free
Kodak photos through JPEG q10 and WebP q5 (ordinary artefacts at their worst), and the full-size bed's
held-out car photos through JPEG q50 and q75 (real text, kept). Every symbol finding there is false.

Both write ``benchmarks/results/smalltext_<command>.json`` (``benchmarks.harness`` envelope).
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd

from benchmarks.harness import REPO, set_threads, shared_dir, write_results

MAX_HEIGHT = 9  # issue 28: garbled lines with cap height <= 9 px
TARGET_RECALL = 0.85
TARGET_FALSE_PER_PHOTO = 0.05
KODAK_TEXT = ("kodim10", "kodim14")  # the Kodak photos that carry text (datasets/realbed README)
FALSE_CODECS_KODAK = ("jpeg:quality=10", "webp:quality=5")
FALSE_CODECS_PLATES = ("jpeg:quality=50", "jpeg:quality=75")


def _beds() -> list[tuple[str, Path, Path, Path]]:
    from benchmarks import fullsize_bed, realbed_build, realbed_score

    return [
        ("realbed", realbed_build.MANIFEST, realbed_build.LABELS, realbed_score.REVIEW),
        ("fullsize", fullsize_bed.MANIFEST, fullsize_bed.LABELS, fullsize_bed.REVIEW),
    ]


def small_recall(run_dir: Path, max_height: int = MAX_HEIGHT) -> list[dict]:
    """Rows (bed, split, labels, found, recall) for the small symbol labels of the bed ``run_dir`` scanned."""
    from benchmarks.realbed_build import read_manifest
    from benchmarks.realbed_score import canonical_ids, load_labels, load_reviewed, load_run, match_run

    pairs, findings = load_run(run_dir)
    rows = []
    for bed, manifest_path, labels_path, review_path in _beds():
        manifest = read_manifest(manifest_path)
        known = {s["image_id"] for s in manifest["images"]}
        canon = canonical_ids(pairs, known)
        if not set(canon["image_id"]) & known or not labels_path.exists():
            continue
        ids = dict(zip(canon["pair_id"], canon["image_id"], strict=True))
        f = findings.assign(image_id=findings["pair_id"].map(ids))
        scanned = set(zip(canon["image_id"], canon["codec_tag"], strict=True))
        reviewed = load_reviewed(review_path) & scanned
        labels = load_labels(labels_path)
        labels = labels[
            [(i, t) in reviewed for i, t in zip(labels["image_id"], labels["codec_tag"], strict=True)]
        ]
        small = labels[(labels["kind"] == "miscompression") & labels["symbol"] & (labels["h"] <= max_height)]
        _, hit = match_run(f, small)
        for split in ("tune", "heldout"):
            part = hit[hit["split"] == split]
            n, found = len(part), int(part["symbol_found"].sum()) if len(part) else 0
            rows.append({"bed": bed, "run_dir": str(run_dir), "split": split, "max_height": max_height,
                         "labels": n, "found": found, "recall": round(found / n, 3) if n else None,
                         "missed": sorted(part[~part["symbol_found"]]["note"]) if n else []})  # fmt: skip
    return rows


def false_findings(work: Path, n_kodak: int, n_plates: int) -> list[dict]:
    """Scan the unchanged photos with the default detectors; one row per pair with its symbol findings."""
    from benchmarks.fullsize_bed import MANIFEST
    from benchmarks.realbed_build import read_manifest
    from benchmarks.realbed_score import load_run
    from miscomp.run import ScanConfig, run_scan

    kodak = shared_dir("data/kodak") / "data" / "kodak"
    photos = work / "kodak"
    photos.mkdir(parents=True, exist_ok=True)
    for path in sorted(kodak.glob("kodim*.png"))[:n_kodak]:
        if path.stem not in KODAK_TEXT and not (photos / path.name).exists():
            (photos / path.name).symlink_to(path)
    plates = work / "plates"
    plates.mkdir(parents=True, exist_ok=True)
    held = [s for s in read_manifest(MANIFEST)["images"] if s["split"] == "heldout"][:n_plates]
    for spec in held:
        link = plates / f"{spec['image_id']}.jpg"
        if not link.exists():
            link.symlink_to(shared_dir() / "data" / "plates" / spec["ref"])
    rows = []
    for name, folder, codecs in (
        ("kodak", photos, FALSE_CODECS_KODAK),
        ("plates", plates, FALSE_CODECS_PLATES),
    ):
        run_dir = work / f"run-{name}"
        cache = work / "cache"
        cfg = ScanConfig(out=run_dir, originals=folder, codecs=codecs, cache_dir=cache, quiet=True)
        run_scan(replace(cfg, report=False))
        pairs, findings = load_run(run_dir, min_score=0.0)
        for p in pairs.itertuples():
            mine = findings[findings["pair_id"] == p.pair_id]
            sym = mine[mine["symbol"].astype(bool)]
            rows.append({"set": name, "image_id": p.image_id, "codec_tag": p.codec_tag,
                         "findings": len(mine), "symbol_findings": len(sym),
                         "evidence": sym["evidence"].tolist()})  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    set_threads()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p_rec = sub.add_parser("recall", help="recall of small garbled lines in scanned test-bed runs")
    p_rec.add_argument("run_dirs", type=Path, nargs="+")
    p_rec.add_argument("--max-height", type=int, default=MAX_HEIGHT)
    p_rec.add_argument("--out", type=Path, default=None, help="results folder (default benchmarks/results)")
    p_false = sub.add_parser("false", help="symbol findings on unchanged photos")
    p_false.add_argument("--kodak", type=int, default=24, help="first N Kodak photos (text ones left out)")
    p_false.add_argument("--plates", type=int, default=10, help="held-out full-size car photos")
    p_false.add_argument("--work", type=Path, default=REPO / ".work" / "smalltext-false")
    p_false.add_argument("--out", type=Path, default=None, help="results folder (default benchmarks/results)")
    a = ap.parse_args(argv)
    if a.cmd == "recall":
        rows = [r for d in a.run_dirs for r in small_recall(d, a.max_height)]
        held = [r for r in rows if r["split"] == "heldout"]
        n, found = sum(r["labels"] for r in held), sum(r["found"] for r in held)
        summary = {"max_height": a.max_height, "heldout_labels": n, "heldout_found": found,
                   "heldout_recall": round(found / n, 3) if n else None, "target": TARGET_RECALL}  # fmt: skip
        for r in rows:
            summary[f"recall_{r['bed']}_{r['split']}"] = r["recall"]
    else:
        rows = false_findings(a.work, a.kodak, a.plates)
        df = pd.DataFrame(rows)
        summary = {"target_per_photo": TARGET_FALSE_PER_PHOTO, "pairs": len(df),
                   "symbol_findings": int(df["symbol_findings"].sum()),
                   "per_pair": round(float(df["symbol_findings"].mean()), 3)}  # fmt: skip
        for name, part in df.groupby("set"):
            summary[f"per_pair_{name}"] = round(float(part["symbol_findings"].mean()), 3)
            summary[f"pairs_{name}"] = len(part)
    print(pd.DataFrame(rows).drop(columns=["missed", "evidence"], errors="ignore").to_string(index=False))
    print(summary)
    write_results(f"smalltext_{a.cmd}", summary, rows, results_dir=a.out)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
