import numpy as np
import pandas as pd
import pytest
from PIL import Image

from miscomp.forensics.impact import (
    ReadPair,
    char_error_rate,
    impact_curves,
    impact_figure_png,
    normalise_read,
    read_impact,
)
from miscomp.report import render_report
from miscomp.run import ScanConfig, run_scan
from miscomp.store import load_run


def test_char_error_rate_and_normalisation():
    assert normalise_read("ab-12 c") == "AB12C"
    assert char_error_rate("AB12C", "AB12C") == 0.0
    assert char_error_rate("AB12C", "AB18C") == pytest.approx(0.2)
    assert char_error_rate("AB12C", "") == 1.0
    assert char_error_rate("", "") == 0.0 and char_error_rate("", "X") == 1.0


def test_impact_cer_uses_the_scans_normaliser():
    """One CER definition: the impact curves normalise reads as the OCR detector's default rules do
    (accents folded, so "Käse" read as "Káse" is no character error in either)."""
    from miscomp.detect.ocr.compare import CompareRules

    for text in ("Käse 4,50 €", "ab-12 c", "Ñandú"):
        assert normalise_read(text) == CompareRules(min_conf=0.5, legible_conf=0.8).normalise(text)
    assert ReadPair("i", "c", "c", 1.0, "Käse", "Káse").cer == 0.0


def test_read_impact_aggregates_per_codec_setting():
    pairs = [
        ReadPair("a", "jpeg", "jpeg-q10", 0.3, "AB123", "AB128", "AB123", 1),
        ReadPair("b", "jpeg", "jpeg-q10", 0.5, "XY9", "XY9", "XY9", 0),
        ReadPair("a", "jpeg", "jpeg-q90", 2.0, "AB123", "AB123", "AB123", 0),
    ]
    t = read_impact(pairs).set_index("codec_tag")
    assert t.loc["jpeg-q10", "bpp"] == pytest.approx(0.4)
    assert t.loc["jpeg-q10", "cer"] == pytest.approx(0.1)  # (0.2 + 0) / 2
    assert t.loc["jpeg-q10", "exact_read_rate"] == 0.5
    assert t.loc["jpeg-q10", "symbol_share"] == 0.5
    assert t.loc["jpeg-q90", "cer_truth_reconstruction"] == 0.0
    assert list(t["pairs"]) == [2, 1]


def _frames():
    pairs = pd.DataFrame({
        "pair_id": ["a__q10", "b__q10", "a__q90", "a__t3", "b__bad"],
        "codec": ["jpeg", "jpeg", "jpeg", "taef2", "jpeg"],
        "codec_tag": ["q10", "q10", "q90", "t3", "q50"],
        "params": ['{"quality": 10}', '{"quality": 10}', '{"quality": 90}', '{"bits": 3}', '{"quality": 50}'],
        "bpp": [0.3, 0.5, 2.0, 0.8, None],
        "status": ["ok", "ok", "ok", "partial", "error"],
    })  # fmt: skip
    findings = pd.DataFrame({"pair_id": ["a__q10", "a__q10", "a__t3"], "symbol": [True, False, False]})
    return pairs, findings


def test_impact_curves_from_run_tables():
    curves = {c["curve"]: c["points"] for c in impact_curves(*_frames())}
    assert set(curves) == {"jpeg", "taef2"}  # rate parameters (quality, bits) stay on one curve
    q10, q90 = curves["jpeg"]
    assert q10["bpp"] == pytest.approx(0.4) and q10["symbol_share"] == 0.5 and q10["findings_per_pair"] == 1.0
    assert q90["symbol_share"] == 0.0
    assert curves["taef2"][0]["findings_per_pair"] == 1.0
    assert impact_figure_png(impact_curves(*_frames())).startswith("data:image/png;base64,")
    one_rate = [{"curve": "x", "points": [{"bpp": 1, "symbol_share": 0, "findings_per_pair": 0}]}]
    assert impact_figure_png(one_rate) is None
    assert q10["cer"] is None and q10["ocr_lines"] == 0  # tables without the OCR counts


def test_impact_curves_pool_the_ocr_reads_of_a_setting():
    pairs, findings = _frames()
    pairs = pairs.assign(
        ocr_lines=[4, 1, 5, 0, None], ocr_exact_lines=[3, 0, 5, 0, None],
        ocr_chars=[30, 10, 40, 0, None], ocr_char_errors=[2, 10, 0, 0, None],
    )  # fmt: skip
    curves = {c["curve"]: c["points"] for c in impact_curves(pairs, findings)}
    q10, q90 = curves["jpeg"]
    # pooled: (2 + 10) / (30 + 10), not the mean of 2/30 and 10/10
    assert q10["cer"] == pytest.approx(0.3) and q10["exact_read_rate"] == pytest.approx(0.6)
    assert q10["ocr_lines"] == 5 and q90["cer"] == 0.0 and q90["exact_read_rate"] == 1.0
    assert curves["taef2"][0]["cer"] is None  # nothing legible to read: no rate, not a perfect one


def test_multi_rate_scan_report_shows_impact_curves(tmp_path, textured_image):
    orig = tmp_path / "orig"
    orig.mkdir()
    for i in range(2):
        Image.fromarray(np.roll(textured_image, 9 * i, axis=1)).save(orig / f"im{i}.png")
    cfg = ScanConfig(out=tmp_path / "run", originals=orig, codecs=("jpeg:quality=10", "jpeg:quality=60"),
                     detectors=("diff",), quiet=True, report=False)  # fmt: skip
    run_scan(cfg)
    run = load_run(tmp_path / "run")
    pairs, findings = run.pairs, run.findings
    curves = impact_curves(pairs, findings)
    assert [len(c["points"]) for c in curves] == [2]
    html = render_report(tmp_path / "run").read_text()
    assert 'id="impact"' in html and "share of pairs with symbol findings" in html
    section = html[html.index('id="impact"') : html.index('<h2 id="', html.index('id="impact"') + 1)]
    assert section.count("<tr><td>jpeg") == 2 and "data:image/png;base64," in section


def test_report_of_a_multi_rate_scan_with_ocr_shows_the_read_curves(tmp_path):
    pytest.importorskip("rapidocr")
    from PIL import ImageDraw

    from miscomp.synth.scenes import font

    orig = tmp_path / "orig"
    orig.mkdir()
    for i, text in enumerate(["KX7 4821", "BERLIN 96"]):
        # small grey text: rapidocr still reads large black text after JPEG quality 1
        im = Image.new("RGB", (200, 48), "#ddd")
        ImageDraw.Draw(im).text((8, 10), text, fill="#555", font=font(10))
        im.save(orig / f"t{i}.png")
    cfg = ScanConfig(out=tmp_path / "run", originals=orig, codecs=("jpeg:quality=3", "jpeg:quality=95"),
                     detectors=("ocr",), quiet=True, report=False)  # fmt: skip
    run_scan(cfg)
    run = load_run(tmp_path / "run")
    assert (run.pairs["ocr_lines"] >= 1).all() and (run.pairs["ocr_chars"] >= 7).all()
    (points,) = [c["points"] for c in impact_curves(run.pairs, run.findings)]
    low, high = points
    assert high["exact_read_rate"] == 1.0 and high["cer"] == 0.0
    assert low["cer"] > high["cer"]  # quality 3 smears these glyphs past a faithful read
    html = render_report(tmp_path / "run").read_text()
    section = html[html.index('id="impact"') : html.index('<h2 id="', html.index('id="impact"') + 1)]
    assert "OCR character error rate" in section and "<th>CER</th>" in section
    assert f"<td>{low['cer']:.3f}</td>" in section


def test_base_and_aware_weights_are_two_series_in_the_rd_and_impact_figures():
    """A scan of the in-house codec with ``weights=miscomp`` (q1, q2) and ``weights=aware`` (q1): the
    weights are not a rate parameter, so the base and the aware model are two curves side by side, the
    base's two rates on one of them (as in the report's rate-distortion and impact plots)."""
    from miscomp.report.rdplot import rd_points

    params = [
        '{"q": 1, "weights": "miscomp"}',
        '{"q": 2, "weights": "miscomp"}',
        '{"q": 1, "weights": "aware"}',
    ]
    pairs = pd.DataFrame({
        "pair_id": ["a__b1", "a__b2", "a__aw"], "codec": ["bmshj2018-factorized"] * 3,
        "codec_tag": ["bmshj-q1-weightsmiscomp", "bmshj-q2-weightsmiscomp", "bmshj-q1-weightsaware"],
        "params": params, "bpp": [0.19, 0.27, 0.20], "psnr": [24.3, 25.6, 24.5], "status": ["ok"] * 3,
    })  # fmt: skip
    findings = pd.DataFrame(
        {"pair_id": ["a__b1", "a__b1", "a__b2", "a__aw"], "symbol": [True, True, True, False]}
    )
    curves = {c["curve"]: c["points"] for c in impact_curves(pairs, findings)}
    base, aware = "bmshj2018-factorized (weights=miscomp)", "bmshj2018-factorized (weights=aware)"
    assert set(curves) == {base, aware}
    assert [p["bpp"] for p in curves[base]] == [0.19, 0.27] and curves[aware][0]["symbol_share"] == 0.0
    assert set(rd_points(pairs, findings)["curve"]) == {base, aware}
