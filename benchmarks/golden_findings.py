"""Golden findings: what the detectors find on a fixed set of pairs, to prove "behaviour unchanged".

    python -m benchmarks.golden_findings --write        # record tests/expected/golden_findings.json
    python -m benchmarks.golden_findings                # compare with it; prints every difference
    python -m benchmarks.golden_findings --sets scenes  # only some sets

The pairs are deterministic wherever the package and /work/shared (MISCOMP_SHARED) are the same:

- ``scenes``: rendered text scenes (``miscomp.synth.text_scenes``), the default detectors (diff, ocr)
  through JPEG q10 and WebP q5, tiled and combined as ``run_pair`` does;
- ``photos``: scikit-image's photos through the same codecs and detectors;
- ``large``: scenes upscaled past one OCR tile (768 px), so the tiled path runs;
- ``cards``: a 2400×1600 photo with two price cards whose digit changed, one in a lower OCR tile, one
  across tile edges (the case of issue 24), then JPEG q85;
- ``dq``: ``benchmarks/detection_quality.py``'s seed-2024 pairs (the first ``--dq`` of them; 200 is
  the benchmark's size), the diff detector alone, as that benchmark runs it.

A finding is recorded as detector, box, category, symbol, score (3 decimals) and evidence.
``tests/test_golden_findings.py`` re-runs a fast subset of this file on every test run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

GOLDEN = Path(__file__).resolve().parent.parent / "tests" / "expected" / "golden_findings.json"
CODECS = ("jpeg:quality=10", "webp:quality=5")
SCENES = (("table", 1), ("stickers", 2), ("signs", 3), ("clocks", 4), ("plates", 5), ("signs", 11))
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "text")
LARGE = (("plates", 5, 2.5), ("signs", 3, 2.0))  # (scene, seed, upscale)
# A 2400×1600 photo with two price cards whose digit changed (the tiled-OCR case of issue 24): one in
# the lower-right OCR tile, one across tile edges (no tile holds it whole). Then JPEG q85.
CARDS = (
    ("PRICE 4.50 EUR", "PRICE 4.80 EUR", (1850, 1400)),
    ("TOTAL PRICE 4.50 EUR TODAY", "TOTAL PRICE 4.80 EUR TODAY", (650, 1000)),
)
SETS = ("scenes", "photos", "large", "cards", "dq")


def record(f) -> dict:
    """The parts of a finding the golden file holds."""
    return {
        "detector": f.detector, "box": [f.x, f.y, f.w, f.h], "category": f.category,
        "symbol": bool(f.symbol), "score": round(float(f.score), 3), "evidence": f.evidence,
    }  # fmt: skip


def detect(images, detectors) -> list:
    """The scan's detection of one pair (``run.detect_pair``): detectors in order, tiled, combined."""
    from miscomp.run import detect_pair

    return detect_pair(images, detectors)[0]


def _default_detectors(cache_dir: Path | None):
    from miscomp.detect import build_detectors

    detectors, skipped = build_detectors(["diff", "ocr"], cache_dir)
    if skipped:
        raise SystemExit("; ".join(skipped))
    return detectors


def _coded(name: str, rgb: np.ndarray, detectors) -> Iterator[tuple[str, list]]:
    import hashlib

    from miscomp.codecs import create_codec
    from miscomp.detect.base import PairImages

    sha = hashlib.sha256(rgb.tobytes() + str(rgb.shape).encode()).hexdigest()
    for spec in CODECS:
        rec = create_codec(spec).apply(rgb).reconstruction
        pair_id = f"{name}|{spec}"
        yield pair_id, detect(PairImages(pair_id, rgb, rec, sha, spec), detectors)


def scene_pairs(detectors, which: tuple = SCENES) -> Iterator[tuple[str, list]]:
    from miscomp.synth.text_scenes import render_scene

    for kind, seed in which:
        yield from _coded(f"scene-{kind}-{seed}", render_scene(kind, seed).image, detectors)


def photo_pairs(detectors, which: tuple = PHOTOS) -> Iterator[tuple[str, list]]:
    from skimage import data

    for name in which:
        rgb = getattr(data, name)()
        rgb = np.repeat(rgb[..., None], 3, axis=2) if rgb.ndim == 2 else rgb[..., :3]
        yield from _coded(f"skimage-{name}", np.ascontiguousarray(rgb), detectors)


def large_pairs(detectors, which: tuple = LARGE) -> Iterator[tuple[str, list]]:
    import cv2

    from miscomp.synth.text_scenes import render_scene

    for kind, seed, s in which:
        rgb = render_scene(kind, seed).image
        size = (round(rgb.shape[1] * s), round(rgb.shape[0] * s))
        big = cv2.resize(rgb, size, interpolation=cv2.INTER_CUBIC)
        yield from _coded(f"large-{kind}-{seed}x{s:g}", big, detectors)


def card_photo(changed: bool) -> np.ndarray:
    import cv2
    from PIL import Image, ImageDraw
    from skimage import data

    from miscomp.synth.scenes import font

    im = Image.fromarray(cv2.resize(data.coffee(), (2400, 1600), interpolation=cv2.INTER_CUBIC))
    draw = ImageDraw.Draw(im)
    for before, after, (x, y) in CARDS:
        left, top, right, bottom = draw.textbbox((x, y), before, font=font(56))
        draw.rectangle((left - 20, top - 16, right + 20, bottom + 16), fill=(245, 245, 240))
        draw.text((x, y), after if changed else before, font=font(56), fill=(20, 20, 20))
    return np.asarray(im)


def card_pairs(detectors) -> Iterator[tuple[str, list]]:
    from miscomp.codecs import create_codec
    from miscomp.detect.base import PairImages

    rec = create_codec("jpeg:quality=85").apply(card_photo(True)).reconstruction
    images = PairImages("cards|jpeg:quality=85", card_photo(False), rec, "sha-cards", "jpeg:quality=85")
    yield images.pair_id, detect(images, detectors)


def dq_pairs(n: int) -> Iterator[tuple[str, list]]:
    from benchmarks.generators.truth import generate
    from miscomp.detect.base import PairImages
    from miscomp.detect.diff import DiffDetector

    det = DiffDetector()
    for pair in generate(n, 2024):
        images = PairImages(pair.pair_id, pair.original, pair.reconstruction, codec=pair.codec)
        yield pair.pair_id, det.detect(images)


def collect(sets: tuple[str, ...], n_dq: int, cache_dir: Path | None = None) -> dict[str, dict[str, list]]:
    out: dict[str, dict[str, list]] = {}
    detectors = _default_detectors(cache_dir) if set(sets) - {"dq"} else []
    makers = {
        "scenes": lambda: scene_pairs(detectors),
        "photos": lambda: photo_pairs(detectors),
        "large": lambda: large_pairs(detectors),
        "cards": lambda: card_pairs(detectors),
        "dq": lambda: dq_pairs(n_dq),
    }
    for name in sets:
        out[name] = {}
        for pair_id, findings in makers[name]():
            out[name][pair_id] = [record(f) for f in findings]
            print(f"{name} {pair_id}: {len(findings)} findings", file=sys.stderr, flush=True)
    return out


def differences(expected: dict[str, list], got: dict[str, list]) -> list[str]:
    """One line per finding that is in one and not the other (pairs in both only)."""
    lines = []
    for pair_id in sorted(set(expected) & set(got)):
        key = lambda r: json.dumps(r, sort_keys=True)  # noqa: E731
        a, b = {key(r) for r in expected[pair_id]}, {key(r) for r in got[pair_id]}
        lines += [f"{pair_id}: - {r}" for r in sorted(a - b)]
        lines += [f"{pair_id}: + {r}" for r in sorted(b - a)]
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--write", action="store_true", help="record the golden file instead of comparing")
    p.add_argument("--sets", default=",".join(SETS), help=f"comma-separated, of {', '.join(SETS)}")
    p.add_argument("--dq", type=int, default=40, help="detection_quality seed-2024 pairs (first N)")
    p.add_argument("--golden", type=Path, default=GOLDEN)
    args = p.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sets = tuple(s for s in args.sets.split(",") if s)
    got = collect(sets, args.dq)  # no disk cache for the OCR reads: both sides computed afresh
    if args.write:
        old = json.loads(args.golden.read_text()) if args.golden.is_file() else {}
        args.golden.parent.mkdir(parents=True, exist_ok=True)
        args.golden.write_text(json.dumps(old | got, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
        print(f"wrote {args.golden}")
        return 0
    expected = json.loads(args.golden.read_text())
    n = 0
    for name in sets:
        lines = differences(expected.get(name, {}), got[name])
        missing = sorted(set(expected.get(name, {})) ^ set(got[name]))
        n += len(lines)
        print(f"{name}: {len(got[name])} pairs, {len(lines)} differing findings"
              + (f", pairs in one only: {missing}" if missing else ""))  # fmt: skip
        for line in lines:
            print("  " + line)
    return 1 if n else 0


if __name__ == "__main__":
    raise SystemExit(main())
