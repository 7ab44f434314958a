"""The ground-truth generator: deterministic, truth boxes where the pixels changed, clean pairs clean."""

from __future__ import annotations

import numpy as np
from skimage import data

from benchmarks.detection_quality import evaluate_pair, summarise
from benchmarks.generators.truth import generate


def _pairs(seed: int = 5):
    sources = [("astronaut", data.astronaut()[::2, ::2].copy()), ("coffee", data.coffee()[::2, ::2].copy())]
    return list(generate(10, seed, sources=sources, codecs=(("jpeg:quality=75", 1.0),)))


def test_generator_is_deterministic_and_cycles_categories():
    a, b = _pairs(), _pairs()
    assert [p.pair_id for p in a] == [p.pair_id for p in b]
    assert all(np.array_equal(p.reconstruction, q.reconstruction) for p, q in zip(a, b, strict=True))
    assert [p.truth_category for p in a[:5]] == ["clean", "amplitude", "geometry", "shape", "symbol"]


def test_truth_boxes_cover_the_injected_change():
    for p in _pairs():
        if p.truth_category == "clean":
            assert p.truths == ()
            continue
        (t,) = p.truths
        assert t.category == ("shape" if p.truth_category == "symbol" else p.truth_category)
        assert t.symbol == (p.truth_category == "symbol")
        h, w = p.original.shape[:2]
        assert 0 < t.w * t.h <= 0.1 * h * w
        assert p.bpp > 0


def test_evaluation_matches_findings_to_truth():
    from miscomp.findings import Finding

    pair = next(p for p in _pairs() if p.truth_category == "geometry")
    t = pair.truths[0]
    hit = Finding(pair.pair_id, "diff", t.x, t.y, t.w, t.h, "geometry", False, 0.9, "e")
    miss = Finding(pair.pair_id, "diff", 0, 0, 5, 5, "shape", False, 0.6, "e")
    row = evaluate_pair(pair, [hit, miss])
    assert row["detected"] and row["category_ok"] and row["false_findings"] == 1
    s = summarise([row])
    assert s["geometry"]["recall"] == 1.0 and s["precision_injected_pairs"] == 0.5
