"""Golden taxonomy cases: generated changes on scikit-image's photos, found by the shipped diff
detector, with their features and decisions (``tests/expected/taxonomy_regions.json``).

The file keeps what the test needs to rebuild each region without the detector (the pair is
regenerated from the seed; the crop box and the detector's mask are stored), so a change to the diff
detector does not move these cases: they pin the taxonomy alone. Rewrite the file only on purpose
(a rule or feature change), and say in the commit which decisions changed:

    PYTHONPATH=. python -m tests.taxonomy.golden            # on an AVX-512 machine: the whole file
    PYTHONPATH=. python -m tests.taxonomy.golden --variant  # on another kind: its motion features

The motion features (:data:`MOTION`) are fitted from OpenCV's DIS optical flow and ECC, whose
iterations follow OpenCV's SIMD path: on an AVX2 machine (no AVX-512) a 10 % anisotropic scaling's
rotation came out 4.5° instead of 0.0°, though every category stayed the same (65 regions, both
decisions); with SSE only, 2 of the 130 decisions changed. So the file records them per kind of CPU:
the main file on AVX-512 (where it was written), ``taxonomy_regions.<isa>.json`` with the features and
decisions of the other kinds it was recorded on.
"""

from __future__ import annotations

import base64
import json
import zlib
from dataclasses import asdict
from pathlib import Path

import numpy as np

GOLDEN = Path(__file__).resolve().parents[1] / "expected" / "taxonomy_regions.json"
GOLDEN_ISA = "avx512"  # the kind of CPU the main file was written on
MOTION = frozenset(
    {"affine", "layered_affine", "layered_back", "layered_px", "motion_px", "nonrigid", "rotation_deg",
     "scale", "shear", "shift"}
)  # fmt: skip
SOURCES = ("astronaut", "coffee", "chelsea")  # in the package: the test needs no shared data
PER_KIND, SEED = 3, 5


def sources() -> list[tuple[str, np.ndarray]]:
    from skimage import data

    return [(f"skimage-{n}", getattr(data, n)()) for n in SOURCES]


def pairs() -> dict:
    from miscomp.synth.changes import generate

    return {p.pair_id: p for p in generate(sources(), per_kind=PER_KIND, seed=SEED)}


def opencv_isa() -> str:
    """The widest SIMD extension OpenCV dispatches to here: ``avx512``, ``avx2`` or ``other``.
    ``getCPUFeaturesLine`` marks dispatched extensions with ``*`` and those this CPU (or
    ``OPENCV_CPU_DISABLE``) does not give with ``?``."""
    import cv2

    have = {f.lstrip("*") for f in cv2.getCPUFeaturesLine().split() if not f.endswith("?")}
    return "avx512" if "AVX512-SKX" in have else "avx2" if "AVX2" in have else "other"


def variant_path(isa: str) -> Path:
    return GOLDEN.with_name(f"{GOLDEN.stem}.{isa}.json")


def pack_mask(mask: np.ndarray) -> str:
    return base64.b64encode(zlib.compress(np.packbits(mask).tobytes(), 9)).decode()


def unpack_mask(text: str, shape: tuple[int, int]) -> np.ndarray:
    bits = np.frombuffer(zlib.decompress(base64.b64decode(text)), np.uint8)
    return np.unpackbits(bits)[: shape[0] * shape[1]].reshape(shape).astype(bool)


def crop(pair, box: list[int]) -> tuple[np.ndarray, np.ndarray]:
    x, y, w, h = box
    return pair.original[y : y + h, x : x + w], pair.reconstruction[y : y + h, x : x + w]


def decisions(features) -> dict:
    from miscomp.taxonomy.rules import decide

    out = {}
    for name, text_lost in (("region", False), ("text_lost", True)):
        category, confidence, evidence = decide(features, text_lost=text_lost)
        out[name] = {"category": category.value, "confidence": float(confidence), "evidence": evidence}
    return out


def build() -> dict:
    from benchmarks.taxonomy_loko import best_region, detector_regions
    from miscomp.detect.base import PairImages
    from miscomp.detect.diff import DiffDetector
    from miscomp.taxonomy.features import region_features

    detector = DiffDetector()
    cases = []
    for pair in pairs().values():
        images = PairImages(pair.pair_id, pair.original, pair.reconstruction, codec=pair.codec)
        best = best_region(detector_regions(detector, images), pair.changed)
        if best is None:
            continue
        h, w = best.mask.shape
        box = [best.offset[0], best.offset[1], w, h]
        features = region_features(*crop(pair, box), best.mask)
        cases.append(
            {
                "pair_id": pair.pair_id, "kind": pair.kind, "truth": pair.category, "codec": pair.codec,
                "box": box, "mask": pack_mask(best.mask), "features": asdict(features),
                "decisions": decisions(features),
            }
        )  # fmt: skip
    return {"sources": list(SOURCES), "per_kind": PER_KIND, "seed": SEED, "cases": cases}


def build_variant() -> dict:
    """This machine's features and decisions for the main file's regions (masks as stored)."""
    from miscomp.taxonomy.features import region_features

    generated = pairs()
    out = {}
    for case in json.loads(GOLDEN.read_text())["cases"]:
        mask = unpack_mask(case["mask"], (case["box"][3], case["box"][2]))
        features = region_features(*crop(generated[case["pair_id"]], case["box"]), mask)
        out[case["pair_id"]] = {"features": asdict(features), "decisions": decisions(features)}
    return {"isa": opencv_isa(), "cases": out}


if __name__ == "__main__":
    import sys

    if "--variant" in sys.argv[1:]:
        variant = build_variant()
        if variant["isa"] == GOLDEN_ISA:
            sys.exit(f"this machine is {GOLDEN_ISA}: rewrite the main file instead (no --variant)")
        path = variant_path(variant["isa"])
        path.write_text(json.dumps(variant, indent=1) + "\n")
        print(f"{path}: {len(variant['cases'])} regions")
    else:
        if opencv_isa() != GOLDEN_ISA:
            sys.exit(f"the main file is {GOLDEN_ISA}, this machine {opencv_isa()}: use --variant")
        out = build()
        GOLDEN.write_text(json.dumps(out, indent=1) + "\n")
        print(f"{GOLDEN}: {len(out['cases'])} regions")
