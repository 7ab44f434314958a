"""False alarms on ordinary codec artefacts: text-free Kodak through very low-quality JPEG and WebP.

    python -m benchmarks.kodak_artefacts [--images kodim02,...] [--codecs jpeg:quality=10,webp:quality=5]
                                         [--detector diff]... [--compare-ref main] [--repeat N]
                                         [--out DIR]

Nothing in these pairs is a miscompression: the photos have no text (kodim10 and kodim14, which do,
are left out) and the codecs are JPEG and WebP, whose only changes are blur, blocking, ringing and
chroma bleeding. Every finding at or above the default minimum score is a false alarm. Target (issue
15): at most 1 such finding per pair and no symbol finding.

``--compare-ref REF`` also runs the diff detector as it is at git revision REF (default ``main``, read
with ``git show``) on the same pairs, interleaved pair by pair so both see the same machine load,
and reports both times and their ratio (one core: OMP_NUM_THREADS=1, cv2.setNumThreads(1)). A ref
where the detector is a package is loaded with that ref's ``taxonomy`` too. ``--repeat N`` times each
detector N times per pair and keeps the least CPU time (the shared machine's load inflates single
runs).
The default images are not in the real-codec test bed (datasets/realbed), so tuning on the bed does
not tune on this check.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.harness import RESULTS, pyplot, shared_dir, write_results
from miscomp.codecs import create_codec
from miscomp.detect import PairImages, build_detectors
from miscomp.findings import DEFAULT_MIN_SCORE
from miscomp.io import read_image

IMAGES = tuple(f"kodim{i:02d}" for i in (2, 4, 6, 7, 9, 11, 12, 13, 15, 16))
CODECS = ("jpeg:quality=10", "webp:quality=5")
TARGET_PER_PAIR = 1.0


def kodak_dir() -> Path:
    return shared_dir() / "data" / "kodak"


# Packages copied from the ref under other names, so both versions live in one process.
_REF_PACKAGES = {"miscomp/detect/diff": "miscomp.detect.diff", "miscomp/taxonomy": "miscomp.taxonomy"}


def load_ref_detector(ref: str):
    """The diff detector as it is at git revision ``ref``: the module ``diff.py`` of older revisions,
    or the package ``diff/`` (with that revision's ``taxonomy/``, which it calls) of newer ones."""
    root = Path(__file__).resolve().parents[1]

    def show(path: str) -> str | None:
        out = subprocess.run(["git", "show", f"{ref}:{path}"], cwd=root, capture_output=True, text=True)
        return out.stdout if out.returncode == 0 else None

    tmp = Path(tempfile.mkdtemp())
    src = show("miscomp/detect/diff.py")
    if src is not None:
        files, entry = {"diff_ref.py": src}, "diff_ref"
    elif show("miscomp/detect/diff/__init__.py") is not None:
        files, entry = {}, "ref_miscomp_detect_diff"
        for folder in _REF_PACKAGES:
            listing = subprocess.run(["git", "ls-tree", "--name-only", f"{ref}:{folder}"], cwd=root,
                                     capture_output=True, text=True).stdout.split()  # fmt: skip
            for name in listing:
                if name.endswith(".py"):
                    files[f"ref_{folder.replace('/', '_')}/{name}"] = show(f"{folder}/{name}") or ""
    else:
        sys.exit(f"git show {ref}: no diff detector found")
    for name, text in files.items():
        for folder, module in _REF_PACKAGES.items() if entry != "diff_ref" else ():
            text = text.replace(module, f"ref_{folder.replace('/', '_')}")
        # Registering "diff" twice is refused by the registry: the old copy is used unregistered.
        text = "\n".join(ln for ln in text.splitlines() if not ln.startswith("@DETECTORS.register"))
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / name).write_text(text)
    sys.path.append(str(tmp))  # stays: the copies import lazily (the classifier at construction)
    return importlib.import_module(entry).DiffDetector()


def _timed(detect, pair, repeat: int):
    """(findings, least CPU seconds of ``repeat`` runs): the least is the run other load disturbed least."""
    best = float("inf")
    for _ in range(max(repeat, 1)):
        t0 = time.process_time()
        got = detect(pair)
        best = min(best, time.process_time() - t0)
    return got, best


def run(images, codecs, detectors, min_score, compare_ref, repeat=1):
    import cv2

    cv2.setNumThreads(1)
    dets, skipped = build_detectors(list(detectors), None)
    for s in skipped:
        print(s, file=sys.stderr)
    ref = load_ref_detector(compare_ref) if compare_ref else None
    rows = []
    for spec in codecs:
        codec = create_codec(spec)
        for image_id in images:
            rgb = read_image(kodak_dir() / f"{image_id}.png").rgb
            out = codec.apply(rgb)
            bpp = out.n_bytes * 8 / (rgb.shape[0] * rgb.shape[1])
            pair = PairImages(f"{image_id}__{spec}", rgb, out.reconstruction, codec=spec, bpp=bpp)
            found, seconds = [], {}
            # The reference runs first on every other pair, so neither side always gets warm caches.
            ref_first = ref is not None and len(rows) % 2 == 1
            if ref_first:
                old, ref_s = _timed(ref.detect, pair, repeat)
            for det in dets:
                got, seconds[det.name] = _timed(det.detect, pair, repeat)
                found += got
            if ref is not None and not ref_first:
                old, ref_s = _timed(ref.detect, pair, repeat)
            row = {
                "image_id": image_id, "codec": spec, "bpp": round(bpp, 4), "n_findings": len(found),
                "n_above": sum(f.score >= min_score for f in found),
                "n_symbol": sum(f.symbol for f in found),
                "n_symbol_above": sum(f.symbol and f.score >= min_score for f in found),
                "max_score": round(max((f.score for f in found), default=0.0), 4),
                "above": "; ".join(f"{f.detector}:{f.category}{'+symbol' if f.symbol else ''}@{f.score:.2f}"
                                   f"({f.x},{f.y},{f.w},{f.h})" for f in found if f.score >= min_score),
                "scores": ";".join(f"{f.score:.3f}" for f in found),
                "diff_cpu_s": round(seconds.get("diff", float("nan")), 4),
            }  # fmt: skip
            if ref is not None:
                row["ref_cpu_s"] = round(ref_s, 4)
                row["ref_n_findings"] = len(old)
            rows.append(row)
            print(f"{image_id} {spec}: {row['n_above']} above {min_score} ({row['n_findings']} in all)")
    return rows


def summarise(rows, min_score, detectors, compare_ref) -> dict:
    out = {"min_score": min_score, "detectors": list(detectors), "target_per_pair": TARGET_PER_PAIR,
           "by_codec": {}, "load_average_1min": round(os.getloadavg()[0], 2)}  # fmt: skip
    for codec in sorted({r["codec"] for r in rows}):
        rs = [r for r in rows if r["codec"] == codec]
        s = {
            "pairs": len(rs),
            "findings_per_pair": round(float(np.mean([r["n_findings"] for r in rs])), 3),
            "above_per_pair": round(float(np.mean([r["n_above"] for r in rs])), 3),
            "symbol_above": int(sum(r["n_symbol_above"] for r in rs)),
            "median_diff_cpu_s": round(float(np.median([r["diff_cpu_s"] for r in rs])), 4),
        }
        if compare_ref:
            s["ref_findings_per_pair"] = round(float(np.mean([r["ref_n_findings"] for r in rs])), 3)
            s["median_ref_cpu_s"] = round(float(np.median([r["ref_cpu_s"] for r in rs])), 4)
        out["by_codec"][codec] = s
    if compare_ref:
        ratio = [r["diff_cpu_s"] / r["ref_cpu_s"] for r in rows if r["ref_cpu_s"] > 0]
        out["compare_ref"] = compare_ref
        out["median_time_ratio_to_ref"] = round(float(np.median(ratio)), 3)
    out["pass"] = all(
        s["above_per_pair"] <= TARGET_PER_PAIR and s["symbol_above"] == 0 for s in out["by_codec"].values()
    )
    return out


def plot(rows, summary, path: Path) -> None:
    plt = pyplot()

    codecs = list(summary["by_codec"])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    x = np.arange(len(codecs))
    bars = [("findings_per_pair", "all findings"), ("above_per_pair", f"score ≥ {summary['min_score']}")]
    if "compare_ref" in summary:
        bars.insert(0, ("ref_findings_per_pair", f"diff at {summary['compare_ref']} (all)"))
    for i, (key, label) in enumerate(bars):
        ax1.bar(x + (i - (len(bars) - 1) / 2) * 0.25, [summary["by_codec"][c][key] for c in codecs], 0.25,
                label=label)  # fmt: skip
    ax1.axhline(TARGET_PER_PAIR, color="k", ls="--", lw=0.8)
    ax1.set_xticks(x, codecs)
    ax1.set_ylabel("findings per pair (all are false alarms)")
    ax1.set_title("text-free Kodak, ordinary artefacts only")
    ax1.legend(fontsize=8)
    for i, key in enumerate(bars):
        for j, c in enumerate(codecs):
            v = summary["by_codec"][c][key[0]]
            ax1.text(j + (i - (len(bars) - 1) / 2) * 0.25, v + 0.05, f"{v:g}", ha="center", fontsize=8)
    scores = [float(v) for r in rows for v in str(r["scores"]).split(";") if v and v != "nan"]
    ax2.hist(scores, bins=np.linspace(0, 1, 21), color="C1")
    ax2.axvline(summary["min_score"], color="k", ls="--", lw=0.8, label="default minimum score")
    ax2.set_xlabel("score of every finding (ordinary artefacts score 0.1–0.4)")
    ax2.set_ylabel("count")
    ax2.set_title("score distribution on artefact-only pairs")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", default=",".join(IMAGES))
    parser.add_argument("--codecs", default=",".join(CODECS))
    parser.add_argument("--detector", action="append", help="detector spec, repeatable (default: diff)")
    parser.add_argument("--min-score", type=float, default=DEFAULT_MIN_SCORE)
    parser.add_argument("--compare-ref", default="", help="git revision whose diff detector to time too")
    parser.add_argument(
        "--repeat", type=int, default=1, help="time each detector N times per pair, keep the least"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if not kodak_dir().is_dir():
        sys.exit(f"{kodak_dir()}: Kodak not found; set MISCOMP_SHARED")
    images, codecs, dets = args.images.split(","), args.codecs.split(","), args.detector or ["diff"]
    rows = run(images, codecs, dets, args.min_score, args.compare_ref, args.repeat)
    summary = summarise(rows, args.min_score, dets, args.compare_ref)
    summary["timing_repeat"] = args.repeat
    stem = (
        "kodak_artefacts"
        if dets == ["diff"]
        else "kodak_artefacts_" + "_".join("".join(c if c.isalnum() else "-" for c in d) for d in dets)
    )
    write_results(stem, summary, rows, results_dir=args.out)
    plot(rows, summary, args.out / f"{stem}.png")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
