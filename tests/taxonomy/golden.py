"""Golden taxonomy cases: generated changes on scikit-image's photos, found by the shipped diff
detector, with their features and decisions (``tests/expected/taxonomy_regions.json``).

The file keeps what the test needs to rebuild each region without the detector (the pair is
regenerated from the seed; the crop box and the detector's mask are stored), so a change to the diff
detector does not move these cases: they pin the taxonomy alone. Rewrite the file only on purpose
(a rule or feature change), and say in the commit which decisions changed:

    PYTHONPATH=. python -m tests.taxonomy.golden
"""

from __future__ import annotations

import base64
import json
import zlib
from dataclasses import asdict
from pathlib import Path

import numpy as np

GOLDEN = Path(__file__).resolve().parents[1] / "expected" / "taxonomy_regions.json"
SOURCES = ("astronaut", "coffee", "chelsea")  # in the package: the test needs no shared data
PER_KIND, SEED = 3, 5


def sources() -> list[tuple[str, np.ndarray]]:
    from skimage import data

    return [(f"skimage-{n}", getattr(data, n)()) for n in SOURCES]


def pairs() -> dict:
    from miscomp.synth.changes import generate

    return {p.pair_id: p for p in generate(sources(), per_kind=PER_KIND, seed=SEED)}


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


if __name__ == "__main__":
    out = build()
    GOLDEN.write_text(json.dumps(out, indent=1) + "\n")
    print(f"{GOLDEN}: {len(out['cases'])} regions")
