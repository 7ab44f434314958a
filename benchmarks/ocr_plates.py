"""OCR symbol detector on real number plates (../shared/data/plates, openalpr benchmarks).

Measures, with a fixed seed:
1. plate read accuracy on originals (the detector's own reading of the plate crop);
2. symbol-change recall: one plate character is replaced by a rendered different glyph, then the
   crop is JPEG-compressed (q75) and given to the detector as the reconstruction;
3. false symbol findings on plates a codec left unchanged (JPEG q50/q75/q90 of the whole photo,
   then the same crop);
4. speed: cached original + recognition in boxes vs the naive pipeline (full OCR of both images for
   every codec), on a few Kodak photos × 4 codecs.

Crops: plate box + margin, upscaled (cubic) so the plate is >= 240 px wide: the plates are 60-200 px
wide in 1280x720 photos, too small for the recogniser otherwise.

The glyph-check thresholds were tuned on the even plate indices (benchmarks/ocr_glyph_tune.py); the
default ``--subset heldout`` runs the odd ones only. Each case is also compared without the glyph check
(OCR strings only, the detector before it), from the same reads: ``before_glyph_check``. Run:
    .venv/bin/python benchmarks/ocr_plates.py [--limit 60] [--speed-images 3] [--subset heldout]
Writes benchmarks/results/ocr_plates.{json,csv,png}.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.harness import RESULTS, pyplot, read_results, shared_dir, write_results
from miscomp.codecs import create_codec
from miscomp.datasets.plates import read_plate_boxes
from miscomp.detect import DETECTORS, PairImages
from miscomp.detect.ocr.reading import detect_text, read_lines
from miscomp.detect.textdiff import normalise_text
from miscomp.synth.scenes import swap_glyph

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("OMP_NUM_THREADS", "1")


SHARED = shared_dir()
OUT = RESULTS
SEED = 0
UNCHANGED_QUALITIES = (50, 75, 90)
SWAP_QUALITY = 75
PLATE_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def load_plates() -> list[dict]:
    folder = SHARED / "data" / "plates"
    return [
        {"image": str(folder / p.ref), "box": p.box, "text": normalise_text(p.text), "set": p.region}
        for p in read_plate_boxes(folder)
    ]


def jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def crop_plate(photo: np.ndarray, box: tuple[int, int, int, int]) -> tuple[np.ndarray, tuple]:
    """Plate crop with margin, upscaled; returns the crop and the plate box inside it."""
    import cv2

    x, y, w, h = box
    mx, my = int(0.3 * w) + 4, int(0.6 * h) + 4
    x0, y0 = max(0, x - mx), max(0, y - my)
    x1, y1 = min(photo.shape[1], x + w + mx), min(photo.shape[0], y + h + my)
    crop = photo[y0:y1, x0:x1]
    s = max(1.0, 240 / max(w, 1))
    crop = cv2.resize(
        crop, (round(crop.shape[1] * s), round(crop.shape[0] * s)), interpolation=cv2.INTER_CUBIC
    )
    return np.ascontiguousarray(crop), (round((x - x0) * s), round((y - y0) * s), round(w * s), round(h * s))


def char_boxes(crop: np.ndarray, plate: tuple, n_chars: int) -> tuple[list[tuple], str]:
    """Character boxes inside the plate: dark/light connected components of plate-character size;
    falls back to equal cells over the plate's inner 90% when segmentation does not find them."""
    import cv2

    px, py, pw, ph = plate
    grey = cv2.cvtColor(crop[py : py + ph, px : px + pw], cv2.COLOR_RGB2GRAY)
    best: list[tuple] = []
    for flag in (cv2.THRESH_BINARY_INV, cv2.THRESH_BINARY):  # dark text first, then light text
        _, bw = cv2.threshold(grey, 0, 255, flag | cv2.THRESH_OTSU)
        n, _, stats, _ = cv2.connectedComponentsWithStats(bw)
        comps = [
            tuple(int(v) for v in stats[i, :4])
            for i in range(1, n)
            if 0.35 * ph <= stats[i, 3] <= 0.95 * ph and 0.02 * pw <= stats[i, 2] <= 0.22 * pw
        ]
        if abs(len(comps) - n_chars) < abs(len(best) - n_chars) or not best:
            best = comps
    if abs(len(best) - n_chars) <= 1 and best:
        return sorted((px + x, py + y, w, h) for x, y, w, h in best), "components"
    cw = 0.9 * pw / max(n_chars, 1)
    return [
        (round(px + 0.05 * pw + i * cw), py + ph // 5, round(cw), 3 * ph // 5) for i in range(n_chars)
    ], "cells"


def intersects(a: tuple, b: tuple) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def select(plates: list[dict], subset: str, limit: int, rng: np.random.Generator) -> list[int]:
    """Plate indices to run, in a fixed random order. Thresholds are tuned on the even indices
    ("tune") and reported on the odd ones ("heldout"), so the reported numbers are not fitted."""
    idx = np.arange(len(plates))
    if subset == "tune":
        idx = idx[0::2]
    elif subset == "heldout":
        idx = idx[1::2]
    order = idx[rng.permutation(len(idx))]
    return [int(i) for i in (order[:limit] if limit else order)]


def plate_cases(p: dict, rng: np.random.Generator) -> dict:
    """The original plate crop and its reconstructions: unchanged JPEG q50/q75/q90 of the whole photo,
    and one character swapped then JPEG q75."""
    photo = np.asarray(Image.open(p["image"]).convert("RGB"))
    orig, pbox = crop_plate(photo, p["box"])
    unchanged = {q: crop_plate(jpeg(photo, q), p["box"])[0] for q in UNCHANGED_QUALITIES}
    boxes, how = char_boxes(orig, pbox, len(p["text"]))
    i = int(rng.integers(len(boxes)))
    old = p["text"][i] if i < len(p["text"]) else "?"
    swapped, new = swap_glyph(orig, boxes[i], old, rng)
    return {
        "pid": Path(p["image"]).stem, "orig": orig, "pbox": pbox, "unchanged": unchanged,
        "swapped": jpeg(swapped, SWAP_QUALITY), "swap_box": tuple(boxes[i]), "swap": f"{old}->{new}",
        "segmentation": how,
    }  # fmt: skip


def detect_both(det, images: PairImages) -> tuple[list, list]:
    """Findings with the glyph check (the detector as shipped) and without it (OCR strings only, the
    detector before the glyph check), from one set of OCR reads: same plates, same reads."""
    lines = det.read_original(images)
    if not lines:
        return [], []
    reads = det.read_reconstruction(images.reconstruction, lines)
    new = det.compare_reads(images, lines, reads)
    det.glyph_check = False
    try:
        old = det.compare_reads(images, lines, reads)
    finally:
        det.glyph_check = True
    return new, old


def plate_quality(args: argparse.Namespace, det) -> tuple[list[dict], dict]:
    from rapidfuzz.distance import Levenshtein

    rng = np.random.default_rng(SEED)
    plates = load_plates()
    order = select(plates, args.subset, args.limit, rng)
    rows = []
    t0 = time.perf_counter()
    for k, idx in enumerate(order):
        p = plates[idx]
        case = plate_cases(p, rng)
        orig, pbox, pid = case["orig"], case["pbox"], case["pid"]
        lines = det.read_original(PairImages(pid, orig, orig))
        in_plate = [ln for ln in lines if intersects(ln.box, pbox)]
        read = max(
            in_plate,
            key=lambda ln: Levenshtein.normalized_similarity(normalise_text(ln.text), p["text"]),
            default=None,
        )
        read_text = det.normalise(read.text) if read else ""
        row = {
            "plate": pid,
            "index": idx,
            "set": p["set"],
            "truth": p["text"],
            "read": read_text,
            "exact": read_text == p["text"],
            "char_acc": Levenshtein.normalized_similarity(read_text, p["text"]),
            "stable": bool(read) and det.normalise(read.recheck_text) == read_text,
            "conf": round(min(read.conf, read.recheck_conf), 3) if read else 0.0,
            "plate_in_text_box": bool(in_plate),
        }
        for q in UNCHANGED_QUALITIES:
            fs, before = detect_both(det, PairImages(pid, orig, case["unchanged"][q]))
            row[f"false_symbol_q{q}"] = sum(f.symbol for f in fs)
            row[f"illegible_q{q}"] = sum(not f.symbol for f in fs)
            row[f"before_false_symbol_q{q}"] = sum(f.symbol for f in before)
        fs, before = detect_both(det, PairImages(pid, orig, case["swapped"]))
        sym = [f for f in fs if f.symbol]
        row["before_swap_localised"] = any(
            f.symbol and intersects((f.x, f.y, f.w, f.h), case["swap_box"]) for f in before
        )
        row.update(
            {
                "swap": case["swap"],
                "swap_box": list(case["swap_box"]),
                "segmentation": case["segmentation"],
                "swap_found": bool(sym),
                "swap_localised": any(intersects((f.x, f.y, f.w, f.h), case["swap_box"]) for f in sym),
                "swap_by_glyph": any(
                    intersects((f.x, f.y, f.w, f.h), case["swap_box"]) and "glyph changed" in f.evidence
                    for f in sym
                ),
                "swap_evidence": " | ".join(f.evidence for f in fs),
            }
        )
        rows.append(row)
        if args.examples and k < 6:
            Image.fromarray(np.concatenate([orig, case["swapped"]], axis=1)).save(
                OUT / f"ocr_plates_example_{k}.png"
            )
        print(
            f"{k + 1}/{len(order)} {pid} {p['text']} read={read_text} swap={row['swap']} "
            f"found={row['swap_found']}",
            flush=True,
        )
    elapsed = time.perf_counter() - t0
    n = len(rows)
    stable = [r for r in rows if r["stable"] and r["conf"] >= det.min_conf]
    summary = {
        "plates": n,
        "seed": SEED,
        "subset": args.subset,
        "limit": args.limit,
        "seconds": round(elapsed, 1),
        "read_exact": round(np.mean([r["exact"] for r in rows]), 3),
        "read_char_accuracy": round(float(np.mean([r["char_acc"] for r in rows])), 3),
        "stable_confident_reads": len(stable),
        # recall counts a symbol finding whose box touches the swapped glyph; "any" counts any
        # symbol finding in the crop (it can be a false one elsewhere, e.g. on the state name).
        "swap_recall": round(np.mean([r["swap_localised"] for r in rows]), 3),
        "swap_recall_any_finding": round(np.mean([r["swap_found"] for r in rows]), 3),
        "swap_recall_on_stable_reads": round(np.mean([r["swap_localised"] for r in stable]), 3)
        if stable
        else None,
        "segmentation_components": sum(r["segmentation"] == "components" for r in rows),
    }
    for q in UNCHANGED_QUALITIES:
        summary[f"false_symbol_per_plate_q{q}"] = round(np.mean([r[f"false_symbol_q{q}"] for r in rows]), 3)
        summary[f"illegible_per_plate_q{q}"] = round(np.mean([r[f"illegible_q{q}"] for r in rows]), 3)
    summary["false_symbol_per_plate"] = round(
        float(np.mean([r[f"false_symbol_q{q}"] for r in rows for q in UNCHANGED_QUALITIES])), 3
    )
    summary["swap_recall_by_glyph_check"] = round(np.mean([r["swap_by_glyph"] for r in rows]), 3)
    summary["plate_in_a_text_box"] = round(np.mean([r["plate_in_text_box"] for r in rows]), 3)
    # The same plates and OCR reads, compared as before the glyph check (OCR strings only).
    summary["before_glyph_check"] = {
        "swap_recall": round(np.mean([r["before_swap_localised"] for r in rows]), 3),
        **{
            f"false_symbol_per_plate_q{q}": round(np.mean([r[f"before_false_symbol_q{q}"] for r in rows]), 3)
            for q in UNCHANGED_QUALITIES
        },
        "false_symbol_per_plate": round(
            float(np.mean([r[f"before_false_symbol_q{q}"] for r in rows for q in UNCHANGED_QUALITIES])), 3
        ),
    }
    return rows, summary


def speed(args: argparse.Namespace, det, det_cached) -> dict:
    """Seconds for N images × 4 codecs: ours (original read once, boxes only) vs full OCR of both."""
    codecs = [
        create_codec(s) for s in ("jpeg:quality=10", "jpeg:quality=50", "webp:quality=50", "avif:quality=40")
    ]
    names = ["kodim10.png", "kodim14.png", "kodim23.png", "kodim08.png"][: args.speed_images]
    naive = ours = 0.0
    for name in names:
        orig = np.asarray(Image.open(SHARED / "data" / "kodak" / name).convert("RGB"))
        recs = [c.decompress(c.compress(orig)) for c in codecs]
        for rec in recs:
            t = time.perf_counter()
            for im in (orig, rec):  # full OCR (detection + reading) of both images, every codec
                read_lines(det.engine, im, detect_text(det.engine, im, det.scales), det.rescale)
            naive += time.perf_counter() - t
        t = time.perf_counter()
        for j, rec in enumerate(recs):
            det_cached.detect(PairImages(f"{name}-{j}", orig, rec, original_sha256=name))
        ours += time.perf_counter() - t
        print(f"speed {name}: naive {naive:.1f}s ours {ours:.1f}s", flush=True)
    return {
        "images": names,
        "codecs": [c.tag for c in codecs],
        "naive_s": round(naive, 1),
        "cached_boxes_s": round(ours, 1),
        "speedup": round(naive / ours, 2),
    }


def plot(summary: dict, path: Path) -> None:
    plt = pyplot()

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    q, before = summary["quality"], summary["quality"].get("before_glyph_check", {})
    keys = ["read_exact", "read_char_accuracy", "swap_recall_on_stable_reads", "swap_recall"]
    a1.barh(keys, [q[k] or 0 for k in keys], color="tab:blue", label="with glyph check")
    if before:
        a1.barh(["swap_recall (OCR strings only)"], [before["swap_recall"]], color="tab:gray")
    a1.axvline(0.9, color="k", ls="--", lw=0.8)
    a1.set_xlim(0, 1)
    a1.set_title(f"plates, {q['subset']} subset (n={q['plates']})")
    xs = np.arange(len(UNCHANGED_QUALITIES))
    fp = [q[f"false_symbol_per_plate_q{x}"] for x in UNCHANGED_QUALITIES]
    a2.bar(xs + 0.2, fp, 0.4, label="false symbol findings, with glyph check")
    if before:
        old = [before[f"false_symbol_per_plate_q{x}"] for x in UNCHANGED_QUALITIES]
        a2.bar(xs - 0.2, old, 0.4, color="tab:gray", label="false symbol findings, OCR strings only")
    a2.axhline(0.05, color="k", ls="--", lw=0.8)
    a2.set_xticks(xs, [f"JPEG q{x}" for x in UNCHANGED_QUALITIES])
    a2.set_title("findings per unchanged plate")
    a2.legend(fontsize=8)
    if "speed" in summary:
        s = summary["speed"]
        fig.suptitle(
            f"speed, {len(s['images'])} Kodak × 4 codecs: naive {s['naive_s']} s, "
            f"cached+boxes {s['cached_boxes_s']} s ({s['speedup']}×)"
            + (" [measured in an earlier run]" if s.get("from_previous_run") else "")
        )
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def replot() -> None:
    plot(read_results(OUT / "ocr_plates.json")["summary"], OUT / "ocr_plates.png")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=0, help="random subset of plates (fixed seed); 0 = all")
    ap.add_argument(
        "--subset", choices=("heldout", "tune", "all"), default="heldout",
        help="odd plate indices (held out from threshold tuning), even ones (tuning), or all",
    )  # fmt: skip
    ap.add_argument("--speed-images", type=int, default=3)
    ap.add_argument("--engine", default="", help="OCR engine (default: the detector's default)")
    ap.add_argument("--scales", default="", help="detection scales, e.g. 1 or 1,2 (default: the engine's)")
    ap.add_argument("--out", default="ocr_plates", help="result file stem under benchmarks/results")
    ap.add_argument("--examples", action="store_true", help="save a few original|swapped example PNGs")
    ap.add_argument("--replot", action="store_true", help="redraw the PNG from the JSON and stop")
    args = ap.parse_args()
    if args.replot:
        return replot()
    if not (SHARED / "data" / "plates").is_dir():
        sys.exit(f"plates not found under {SHARED}/data/plates (set MISCOMP_SHARED)")
    OUT.mkdir(parents=True, exist_ok=True)
    import tempfile

    # Plates hold only capitals and digits: telling the recogniser so is what a plate user would do.
    kw = {"allowlist": PLATE_CHARS, "scales": args.scales} | ({"engine": args.engine} if args.engine else {})
    det = DETECTORS.create("ocr", **kw)
    rows, quality = plate_quality(args, det)
    summary = {"detector": det.info(), "quality": quality}
    if args.speed_images:
        with tempfile.TemporaryDirectory() as tmp:
            summary["speed"] = speed(args, det, DETECTORS.create("ocr", cache_dir=Path(tmp), **kw))
    previous = OUT / f"{args.out}.json"
    if "speed" not in summary and previous.is_file():
        # --speed-images 0 re-measures quality only; the speed figures stay, marked as older.
        old = read_results(previous)["summary"].get("speed")
        if old:
            summary["speed"] = old | {"from_previous_run": True}
    # The plates are AGPL test data that the project must not redistribute: the committed rows keep
    # per-plate metrics only, never plate text (truth, reads, evidence quoting them).
    private = {"truth", "read", "swap", "swap_evidence"}
    public = [{k: v for k, v in row.items() if k not in private} for row in rows]
    write_results(args.out, summary, public, results_dir=OUT)
    plot(summary, OUT / f"{args.out}.png")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
