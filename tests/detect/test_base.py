"""The detector contract: run order from registry metadata, and folding findings on the same box."""

from __future__ import annotations

from miscomp.detect import DETECTORS
from miscomp.detect.base import merge_by_box, run_order
from miscomp.findings import Finding


def test_caption_runs_after_the_detectors_whose_regions_it_captions():
    assert set(DETECTORS.get("caption").meta["after"]) == {"diff", "ocr"}
    assert run_order(["caption", "diff"]) == ["diff", "caption"]
    assert run_order(["caption", "ocr", "diff"]) == ["ocr", "diff", "caption"]
    assert run_order(["ocr", "caption"]) == ["ocr", "caption"]
    assert run_order(["caption"]) == ["caption"]
    assert run_order(["diff", "ocr"]) == ["diff", "ocr"]  # no constraint: the user's order


def _f(detector, box, score=0.5, symbol=False, evidence="e", details=None):
    return Finding("p", detector, *box, "amplitude", symbol, score, evidence, details=details or {})


def test_a_finding_on_an_earlier_box_becomes_evidence_on_that_finding():
    earlier = [_f("diff", (1, 2, 3, 4), 0.4, details={"peak_z": 5}), _f("ocr", (9, 9, 9, 9))]
    new = [_f("caption", (1, 2, 3, 4), 0.7, True, "caption 'a 7' → 'a 1'", {"similarity": 0.9}),
           _f("caption", (50, 50, 5, 5))]  # fmt: skip
    out = merge_by_box(earlier, new)
    assert [f.detector for f in out] == ["diff", "ocr", "caption"]
    m = out[0]
    assert m.evidence == "e; caption: caption 'a 7' → 'a 1'" and m.score == 0.7 and m.symbol
    assert m.category == "amplitude" and m.finding_id == earlier[0].finding_id
    details = m.details
    assert details["peak_z"] == 5 and details["caption"]["similarity"] == 0.9
    assert out[1] == earlier[1] and out[2] == new[1]
    assert merge_by_box(earlier, []) == earlier


def test_findings_of_one_detector_are_never_merged_with_each_other():
    a, b = _f("ocr", (1, 2, 3, 4), evidence="7→1"), _f("ocr", (1, 2, 3, 4), evidence="illegible")
    assert merge_by_box([], [a, b]) == [a, b]
    assert merge_by_box([a], [b]) == [a, b]
