"""One symbol rule across detectors: findings over changed text get the symbol flag."""

from __future__ import annotations

from miscomp.detect.combine import combine
from miscomp.findings import Finding
from miscomp.geometry import Box


def finding(detector: str, box: tuple, symbol: bool = False, **typed) -> Finding:
    x, y, w, h = box
    return Finding(pair_id="p", detector=detector, x=x, y=y, w=w, h=h, category="shape", symbol=symbol,
                   score=0.7, evidence=f"{detector} change", **typed)  # fmt: skip


OCR = finding("ocr", (120, 40, 30, 40), True).with_line(Box(20, 40, 300, 40), "KX7 4821", "KXZ 4821")


def test_a_diff_finding_over_changed_text_becomes_a_symbol_finding():
    diff = finding("diff", (200, 45, 60, 30))  # same line as the OCR change, another part of it
    out = combine([OCR, diff])
    assert out[0] == OCR
    d = out[1]
    assert d.symbol and d.detector == "diff" and d.category == "shape"
    assert "'KX7 4821' → 'KXZ 4821'" in d.evidence and d.details["symbol_from"]["detector"] == "ocr"
    assert d.finding_id != diff.finding_id  # the evidence changed: a new stable id


def test_findings_away_from_changed_text_and_pairs_without_text_changes_are_untouched():
    far = finding("diff", (10, 200, 50, 50))
    grazing = finding("diff", (100, 0, 200, 42))  # touches the line's top edge by 2 px only
    assert combine([OCR, far, grazing])[1:] == [far, grazing]
    unchanged_text = finding("ocr", (20, 40, 300, 40), False).with_line(Box(20, 40, 300, 40), "EXIT", "EXIT")
    diff = finding("diff", (30, 45, 60, 30))
    assert combine([unchanged_text, diff]) == [unchanged_text, diff]
    assert combine([]) == []


def test_a_region_holding_the_line_or_mostly_beside_it_gets_no_symbol_flag():
    holding = finding("diff", (0, 0, 340, 200))  # a whole panel around the changed line
    beside = finding("diff", (300, 45, 60, 30))  # a third of it on the line's end, the rest beyond it
    inside = finding("diff", (280, 45, 30, 30))
    out = combine([OCR, holding, beside, inside])
    assert [f.symbol for f in out[1:]] == [False, False, True]


def colour_region(family: str, symbol: bool = False, maps: tuple = ("chroma",)) -> Finding:
    return finding("diff", (10, 200, 40, 30), symbol, maps=maps, artefact_family=family)


def test_colour_drift_of_a_learned_codec_scores_as_an_ordinary_artefact():
    from miscomp.findings import DEFAULT_MIN_SCORE

    drift = colour_region("learned")
    (out,) = combine([drift])
    assert out.score < DEFAULT_MIN_SCORE and out.details["artefact"] == "colour drift"
    assert out.evidence.startswith("ordinary codec artefact") and out.category == drift.category
    # kept: other codecs' colour (the artefact model's job), contour evidence, symbol findings, other
    # detectors
    kept = [
        colour_region("jpeg"),
        colour_region("estimated-smooth"),
        colour_region("learned", maps=("chroma", "structure")),
        colour_region("learned", symbol=True),
        finding("ocr", (10, 200, 40, 30), maps=("chroma",), artefact_family="learned"),
    ]
    assert combine(kept) == kept


def test_an_amplitude_call_over_changed_text_becomes_shape():
    """Issue 32: the read changing is contour evidence at the glyph's scale; garbled text is never
    amplitude, whatever the region's colour model says."""
    import dataclasses

    amp = dataclasses.replace(finding("diff", (200, 45, 60, 30)), category="amplitude")
    d = combine([OCR, amp])[1]
    assert d.symbol and d.category == "shape" and "its strokes changed" in d.evidence
    geo = dataclasses.replace(finding("diff", (200, 45, 60, 30)), category="geometry")
    assert combine([OCR, geo])[1].category == "geometry"
