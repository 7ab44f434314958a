"""Gold (honeypot) tasks: synthetic changes with a known box and category, mixed into the review queue
and scored per annotator when the reviews are pulled.

Each gold task is made by the synthetic change generator (:mod:`miscomp.synth.changes`): a 256×256 crop
of one of scikit-image's bundled photos (public domain, always installed, so no file is needed), a real
codec (JPEG / WebP), then one local change of a known kind. Its crops are written by the same crop
writer as a scan's findings, its task data has the same keys as a finding's, and its pre-annotation
shows the true box with the category and evidence line the taxonomy classifier gives the change,
as for a real finding: annotators judge gold tasks under the same conditions as the others, and the
report shows how often that pre-fill was right (what an annotator who only accepts it would score).
The answer travels in the task's ``meta`` field, which the labeling view does not show and which is no
Data Manager column (those are the task's data keys).

Gold item ``i`` depends only on ``(seed, i)``, so a later push with more findings adds gold items
``i >= n`` and never regenerates the earlier ones: re-pushes stay idempotent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from miscomp.findings import Category, Finding

GOLD_META = "miscomp_gold"  # the key in task meta that holds the answer
# The photos the changes are made in: bundled with scikit-image (≥ 300 px, so a 256 crop fits).
SOURCES = ("astronaut", "coffee", "chelsea")
CATEGORIES = (Category.AMPLITUDE.value, Category.GEOMETRY.value, Category.SHAPE.value)
GOLD_DETECTOR = "diff"  # what the pre-annotation claims, as a real diff finding would


@cache
def _sources() -> tuple[tuple[str, np.ndarray], ...]:
    from skimage import data

    return tuple((f"skimage-{name}", getattr(data, name)()[..., :3]) for name in SOURCES)


def _kinds_by_category() -> dict[str, list[str]]:
    from miscomp.synth.changes import KINDS

    return {c: [k for k, cat in KINDS.items() if cat == c] for c in CATEGORIES}


def gold_finding_id(seed: int, index: int) -> str:
    """16 hex digits, as a finding id: a gold task must not stand out by its id."""
    return hashlib.sha1(f"miscomp-gold|{seed}|{index}".encode()).hexdigest()[:16]


def make_gold(
    run_dir: Path, indices: Sequence[int], seed: int = 0
) -> list[tuple[Finding, dict[str, Any], dict[str, Any]]]:
    """Gold items ``indices``: each a Finding whose crops are written under ``run_dir/crops`` (as a
    scan writes them), its pair's fields (as in pairs.parquet) and its answer
    ``{category, symbol, box, kind, params}`` (box in pixels of the 256×256 image)."""
    from miscomp.codecs import create_codec
    from miscomp.crops import write_crops
    from miscomp.synth.changes import generate

    by_cat = _kinds_by_category()
    out = []
    for i in indices:
        category = CATEGORIES[i % len(CATEGORIES)]
        kinds = by_cat[category]
        kind = kinds[(i // len(CATEGORIES)) % len(kinds)]
        src = [_sources()[i % len(SOURCES)]]
        (pair,) = generate(src, per_kind=1, seed=seed * 100_003 + i, kinds=[kind])
        ys, xs = np.nonzero(pair.changed)
        box = (int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1))
        shown, confidence, evidence = _tool_view(pair.original, pair.reconstruction, pair.changed, box)
        codec = create_codec(pair.codec)
        finding = Finding(
            f"{src[0][0]}__{codec.tag}", GOLD_DETECTOR, *box, shown, False, round(confidence, 3), evidence,
            finding_id=gold_finding_id(seed, i),
        )  # fmt: skip
        crops = write_crops(run_dir, finding, pair.original, pair.reconstruction)
        finding = finding.with_crops(crops.original, crops.reconstruction, crops.diff, crops.window)
        h, w = pair.original.shape[:2]
        n_bytes = codec.apply(pair.original).n_bytes or 0  # the generator does not keep it
        answer = {"index": i, "seed": seed, "category": category, "symbol": False, "box": list(box),
                  "kind": kind, "params": pair.params, "prefill": shown}  # fmt: skip
        pair_info = {"image_id": src[0][0], "codec": codec.name, "codec_tag": codec.tag,
                     "bpp": 8 * n_bytes / (w * h), "width": w, "height": h}  # fmt: skip
        out.append((finding, pair_info, answer))
    return out


def _tool_view(
    original: np.ndarray, reconstruction: np.ndarray, changed: np.ndarray, box: tuple[int, int, int, int]
) -> tuple[str, float, str]:
    """What the diff detector would show for this change: the taxonomy classifier's category,
    confidence and evidence line, on a patch around the box as the detector cuts it."""
    from miscomp.taxonomy import classify

    x, y, w, h = box
    pad = max(8, int(0.25 * max(w, h)))  # as miscomp.detect.diff pads a region before classifying it
    y0, y1 = max(0, y - pad), min(original.shape[0], y + h + pad)
    x0, x1 = max(0, x - pad), min(original.shape[1], x + w + pad)
    category, confidence, evidence = classify(
        original[y0:y1, x0:x1], reconstruction[y0:y1, x0:x1], changed[y0:y1, x0:x1],
        float(changed.sum()) / changed.size,
    )  # fmt: skip
    return category.value, confidence, evidence


def interleave(real: list, gold: list) -> list:
    """``gold`` spread evenly through ``real`` (first gold after the first stretch, not at the top)."""
    if not gold:
        return list(real)
    out, step = [], (len(real) + 1) / (len(gold) + 1)
    positions = [round(step * (j + 1)) for j in range(len(gold))]
    g = 0
    for n, item in enumerate(real):
        while g < len(gold) and positions[g] <= n:
            out.append(gold[g])
            g += 1
        out.append(item)
    return out + gold[g:]
