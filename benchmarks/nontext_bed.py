"""Recall and precision of the default detectors on the non-text test bed (datasets/realbed/nontext).

    python -m benchmarks.nontext_bed [--split heldout|tune|all] [--detector SPEC ...]

Rebuilds each original from its generator (benchmarks/structure_scenes.py, kind + seed), takes the
reconstruction from the codec (cached under ``$MISCOMP_CACHE/recs``, checked against the manifest's
sha256: a mismatch is reported, since learned-codec numerics may change), runs the detectors in scan
order (each sees the earlier ones' findings, boxes merged as the scan merges them) and matches the
findings shown at the default min-score to the labels as benchmarks/real_codecs.py does (IoU >= 0.1
or the finding's centre inside the label's box):

- recall: miscompression labels matched by at least one finding (also per scene kind, and over the
  clock/dial/gauge kinds together: the issue's "clock/dial/gauge changes");
- precision: findings that match a miscompression label / all shown findings.

Each pair's shown findings are cached under ``$MISCOMP_CACHE/nontext_findings``, keyed by the git tree of
``miscomp/`` (no cache while it has uncommitted changes), the detector specs and the reconstruction's
pixels: relabelling then re-scores without rerunning the detectors, and the same code on the same
pixels finds the same things.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.harness import REPO, RESULTS, set_threads, write_results

BED = REPO / "datasets" / "realbed" / "nontext"
DIAL_KINDS = ("clocks", "gauges", "dials")  # the "clock/dial/gauge changes"


def code_key() -> str | None:
    """The git tree hash of ``miscomp/`` when it has no uncommitted changes, else None (no caching)."""
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()

    return (
        None if git("status", "--porcelain", "--", "miscomp") else (git("rev-parse", "HEAD:miscomp") or None)
    )


def findings_cache(
    cache_dir: Path, code: str | None, specs: list[str], name: str, original, rec
) -> Path | None:
    """Where one pair's shown findings are cached: code, detector specs, both images' pixels, scene name."""
    if code is None:
        return None
    key = hashlib.sha256(json.dumps(specs).encode() + _pixels(original) + _pixels(rec)).hexdigest()[:20]
    return cache_dir / "nontext_findings" / f"{name}-{code[:12]}-{key}.json"


def _pixels(a) -> bytes:
    return np.ascontiguousarray(a).tobytes()


def pixels_sha256(rgb) -> str:
    """The bed's hash of an image (manifest.json): sha256 of the raw pixel bytes."""
    return hashlib.sha256(_pixels(rgb)).hexdigest()


def shown_findings(pair, detectors, cache: Path | None) -> list[dict]:
    """The findings the scan would show on ``pair`` (boxes merged in scan order), cached in ``cache``."""
    from miscomp.detect.base import merge_by_box
    from miscomp.findings import DEFAULT_MIN_SCORE

    if cache is not None and cache.exists():
        return json.loads(cache.read_text())
    findings = []
    for det in detectors:
        findings = merge_by_box(findings, det.detect(replace(pair, prior=tuple(findings))))
    shown = [{"detector": f.detector, "box": list(f.box), "score": f.score, "category": f.category}
             for f in findings if f.score >= DEFAULT_MIN_SCORE]  # fmt: skip
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(shown))
    return shown


def matches(box, label) -> bool:
    from miscomp.geometry import Box

    lb = Box(int(label.x), int(label.y), int(label.w), int(label.h))
    cx, cy = box.x + box.w / 2, box.y + box.h / 2
    return box.iou(lb) >= 0.1 or lb.contains_point(cx, cy)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("tune", "heldout", "all"), default="heldout")
    parser.add_argument("--detector", action="append", default=None, help="default: the default detectors")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    set_threads(1)

    from benchmarks.structure import Reconstructions
    from benchmarks.structure_scenes import render_structure
    from miscomp.detect.base import PairImages, build_detectors
    from miscomp.geometry import Box
    from miscomp.run import default_detectors
    from miscomp.settings import Settings

    manifest = json.loads((BED / "manifest.json").read_text())
    labels = pd.read_csv(BED / "labels.csv")
    specs = args.detector or default_detectors()
    detectors, skipped = build_detectors(specs, None)
    for line in skipped:
        print(line)
    cache_dir = Settings.from_env().cache_dir
    recs = Reconstructions(cache_dir / "recs")
    code = code_key()
    rows, found_rows = [], []
    for image in manifest["images"]:
        if args.split != "all" and image["split"] != args.split:
            continue
        scene = render_structure(image["kind"], image["seed"])
        orig_sha = pixels_sha256(scene.image)  # the same for every codec
        for tag, spec in manifest["codecs"].items():
            if tag not in image["reconstructions"]:
                continue
            rec, bpp, codec_tag = recs.get(scene.name, scene.image, spec)
            same = pixels_sha256(rec) == image["reconstructions"][tag]["sha256"]
            pair = PairImages(f"{scene.name}/{tag}", scene.image, rec, orig_sha, codec_tag, bpp)
            cache = findings_cache(cache_dir, code, specs, scene.name, scene.image, rec)
            shown = [(f, Box(*f["box"])) for f in shown_findings(pair, detectors, cache)]
            here = labels[(labels.image_id == scene.name) & (labels.codec_tag == tag)]
            for f, box in shown:
                hit = [lab for lab in here.itertuples() if matches(box, lab)]
                found_rows.append({
                    "image": scene.name, "kind_of_scene": image["kind"], "codec": tag,
                    "detector": f["detector"], "box": f["box"], "score": f["score"],
                    "category": f["category"],
                    "matches": "miscompression" if any(h.kind == "miscompression" for h in hit)
                    else ("artefact" if hit else "unlabelled"),
                })  # fmt: skip
            for lab in here.itertuples():
                hits = [f for f, box in shown if matches(box, lab)]
                rows.append({
                    "label_id": lab.label_id, "image": scene.name, "kind_of_scene": image["kind"],
                    "codec": tag,
                    "label": lab.kind, "note": lab.note, "found": bool(hits),
                    "by": ",".join(sorted({f["detector"] for f in hits})), "pixels_as_recorded": same,
                })  # fmt: skip
            print(scene.name, tag, "pixels as recorded" if same else "PIXELS DIFFER from the manifest",
                  [(f["detector"], f["score"]) for f, _ in shown], flush=True)  # fmt: skip
    mis = [r for r in rows if r["label"] == "miscompression"]
    summary = {
        "split": args.split, "detectors": [d.name for d in detectors], "labels": len(rows),
        "miscompression_labels": len(mis),
        "recall": round(sum(r["found"] for r in mis) / len(mis), 3) if mis else None,
        "findings": len(found_rows),
        "precision": round(sum(r["matches"] == "miscompression" for r in found_rows) / len(found_rows), 3)
        if found_rows else None,
        "unlabelled_findings": sum(r["matches"] == "unlabelled" for r in found_rows),
    }  # fmt: skip
    dial = [r for r in mis if r["kind_of_scene"] in DIAL_KINDS]
    summary["recall/clock_dial_gauge"] = round(sum(r["found"] for r in dial) / len(dial), 3) if dial else None
    summary["pixels_differ"] = sorted(
        {f"{r['image']}/{r['codec']}" for r in rows if not r["pixels_as_recorded"]}
    )
    for kind in sorted({r["kind_of_scene"] for r in rows}):
        sel = [r for r in mis if r["kind_of_scene"] == kind]
        found = [r for r in found_rows if r["kind_of_scene"] == kind]
        summary[f"miscompression_labels/{kind}"] = len(sel)
        summary[f"recall/{kind}"] = round(sum(r["found"] for r in sel) / len(sel), 3) if sel else None
        summary[f"precision/{kind}"] = (
            round(sum(r["matches"] == "miscompression" for r in found) / len(found), 3) if found else None
        )
    path = write_results(f"nontext_bed_{args.split}", summary, rows + found_rows, results_dir=args.out)
    print(summary, "->", path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
