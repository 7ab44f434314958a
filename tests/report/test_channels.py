"""The report's face/structure evidence block (templates/channels.html.j2) for one finding card."""

from __future__ import annotations

from miscomp.report.html import _template


def _render(card: dict) -> str:
    return _template().environment.get_template("channels.html.j2").render(f=card)


def test_face_identity_shows_distance_and_null():
    facts = {"kind": "identity", "identity_distance": 0.71, "null_distance": 0.33, "threshold": 0.6}
    html = _render({"detector": "face", "facts": facts})
    assert "identity distance <b>0.71</b>" in html and "JPEG at this rate 0.33" in html


def test_face_lost_and_face_merged_into_another_finding():
    lost = {
        "kind": "lost",
        "identity_distance": 0.52,
        "null_distance": 0.2,
        "threshold": 0.6,
        "null_keeps_face": True,
    }
    assert "keeps it" in _render({"detector": "face", "facts": lost})
    assert "lost" in _render({"detector": "diff", "facts": {"face": lost}})


def test_structure_table_and_nothing_for_other_detectors():
    facts = {"kind": "replaced", "edges_kept": 0.2, "edges_kept_null": 0.8, "energy": 0.9,
             "energy_null": 0.95,
             "orientation_agreement": 0.3, "orientation_agreement_null": 0.9}  # fmt: skip
    html = _render({"detector": "structure", "facts": facts})
    assert "structure replaced" in html and "20 %" in html and "80 %" in html
    assert _render({"detector": "ocr", "facts": {"kind": "substitution"}}).strip() == ""


def test_the_diff_detectors_own_structure_key_is_left_alone():
    assert _render({"detector": "diff", "facts": {"structure": {"dissolved_px": 40}}}).strip() == ""
    assert _render({"detector": "diff", "facts": {"structure": [1, 2]}}).strip() == ""
