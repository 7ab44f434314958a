"""A fast part of the golden findings (benchmarks/golden_findings.py, tests/expected/): the scan's
detection of one pair gives the recorded findings. Run the script for the whole set."""

from __future__ import annotations

import json

import pytest

from benchmarks import golden_findings as golden

EXPECTED = json.loads(golden.GOLDEN.read_text())


def _check(name: str, got: dict[str, list]) -> None:
    records = {pair_id: [golden.record(f) for f in found] for pair_id, found in got.items()}
    assert set(records) <= set(EXPECTED[name])
    assert golden.differences(EXPECTED[name], records) == []


def test_a_text_scene_through_jpeg_and_webp_gives_the_golden_findings():
    pytest.importorskip("rapidocr")
    pytest.importorskip("onnxruntime")
    detectors = golden._default_detectors(None)
    _check("scenes", dict(golden.scene_pairs(detectors, (("table", 1),))))


def test_the_first_detection_quality_pairs_give_the_golden_findings():
    from benchmarks.generators.truth import shared_dir

    shared = shared_dir()
    if not (shared / "data" / "kodak").is_dir():
        pytest.skip(f"{shared / 'data' / 'kodak'} not found (set MISCOMP_SHARED)")
    _check("dq", dict(golden.dq_pairs(6)))
