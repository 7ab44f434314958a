import numpy as np
import pandas as pd
import pytest

from miscomp.study.bjontegaard import bd_delta, bd_table, text_fidelity


def test_bd_delta_of_a_constant_offset_is_the_offset():
    rates = [0.1, 0.2, 0.4, 0.8]
    ref = [0.5, 0.3, 0.2, 0.1]
    assert bd_delta(rates, ref, rates, np.array(ref) - 0.05) == pytest.approx(-0.05)
    # only the shared range counts: a test curve over 0.2-0.8 against the same points (PCHIP through
    # three points bends a little differently from four, hence the tolerance)
    assert bd_delta(rates, ref, rates[1:], np.array(ref[1:]) + 0.1) == pytest.approx(0.1, rel=0.03)


def test_bd_delta_needs_overlap_and_two_points():
    assert np.isnan(bd_delta([0.1, 0.2], [0.3, 0.2], [0.5, 0.9], [0.3, 0.2]))
    assert np.isnan(bd_delta([0.1], [0.3], [0.1, 0.2], [0.3, 0.2]))


def test_text_fidelity_pools_counts_and_bd_table():
    pairs = pd.DataFrame(
        {
            "codec": ["jpeg"] * 4 + ["taef2"] * 2,
            "codec_tag": ["j5", "j5", "j20", "j20", "t2", "t3"],
            "status": ["ok"] * 6,
            "bpp": [0.2, 0.2, 0.6, 0.6, 0.3, 0.5],
            "ocr_lines": [2, 2, 2, 2, 4, 4],
            "ocr_exact_lines": [1, 1, 2, 2, 1, 3],
            "ocr_chars": [10, 10, 10, 10, 20, 20],
            "ocr_char_errors": [2, 4, 0, 1, 10, 2],
            "ocr_words": [4, 4, 4, 4, 8, 8],
            "ocr_word_errors": [1, 1, 0, 0, 6, 1],
        }
    )
    fid = {f.codec_tag: f for f in text_fidelity(pairs)}
    assert fid["j5"].cer == 0.3 and fid["j5"].wer == 0.25 and fid["j20"].cer == 0.05
    rows = {(r.codec, r.metric): r for r in bd_table(list(fid.values()), "jpeg")}
    # taef2 errs more than JPEG over 0.3-0.5 bpp: a positive delta
    assert rows[("taef2", "cer")].delta > 0 and rows[("taef2", "wer")].delta > 0
    assert bd_table(list(fid.values()), "webp") == []  # no reference codec in the run


def test_bd_table_is_per_curve_not_per_family():
    # base q1/q2 and a fine-tuned variant of the same family: the variant is its own curve with its
    # own delta, not a third point (at q1's rate) on the base's curve
    def rows(tag, codec, params, bpp, errors):
        return {
            "codec": codec, "codec_tag": tag, "params": params, "status": "ok", "bpp": bpp,
            "ocr_lines": 1, "ocr_exact_lines": 0, "ocr_chars": 100, "ocr_char_errors": errors,
            "ocr_words": 10, "ocr_word_errors": errors // 10,
        }  # fmt: skip

    bm = "bmshj2018-factorized"
    pairs = pd.DataFrame([
        rows("j5", "jpeg", '{"quality": 5}', 0.1, 60), rows("j30", "jpeg", '{"quality": 30}', 0.6, 10),
        rows("b1", bm, '{"q": 1}', 0.15, 50), rows("b2", bm, '{"q": 2}', 0.3, 30),
        rows("g1", bm, '{"q": 1, "weights": "ganlite"}', 0.15, 80),
        rows("g2", bm, '{"q": 2, "weights": "ganlite"}', 0.3, 60),
    ])  # fmt: skip
    fid = text_fidelity(pairs)
    assert {f.codec_tag: f.curve for f in fid}["g1"] == f"{bm} (weights=ganlite)"
    got = {(r.curve, r.metric): r for r in bd_table(fid, "jpeg")}
    assert {c for c, _ in got} == {bm, f"{bm} (weights=ganlite)"}
    base, gan = got[(bm, "cer")], got[(f"{bm} (weights=ganlite)", "cer")]
    assert base.settings == 2 and gan.settings == 2 and gan.codec == bm
    assert gan.delta > base.delta  # the variant's 30 more errors per 100 characters at both rates
    assert gan.delta - base.delta == pytest.approx(0.3, abs=1e-6)
    # BD-rate at equal CER needs the CER ranges to meet: the base's (0.3-0.5) lies inside JPEG's
    # (0.1-0.6), the variant's (0.6-0.8) only touches it
    assert base.rate_delta is not None and gan.rate_delta is None


def test_bd_rate_is_the_bit_saving_at_equal_error():
    from miscomp.study.bjontegaard import bd_rate

    bpp = np.array([0.1, 0.2, 0.4, 0.8])
    cer = np.array([0.8, 0.6, 0.4, 0.2])
    # the test codec reaches every error rate with 30 % fewer bits
    assert bd_rate(bpp, cer, bpp * 0.7, cer) == pytest.approx(-0.3, abs=1e-9)
    assert bd_rate(bpp, cer, bpp * 1.25, cer) == pytest.approx(0.25, abs=1e-9)
    assert bd_rate(bpp, cer, bpp, cer) == pytest.approx(0.0, abs=1e-12)
    # two points per curve (q1, q2) already give a figure: linear in log(bpp) between them
    assert bd_rate(bpp[:2], cer[:2], bpp[:2] * 0.9, cer[:2]) == pytest.approx(-0.1, abs=1e-9)
    # an error rate that does not fall with the rate, or ranges that do not meet: no figure
    assert np.isnan(bd_rate(bpp, [0.8, 0.6, 0.7, 0.2], bpp, cer))
    assert np.isnan(bd_rate(bpp[:2], cer[:2], bpp[2:], cer[2:]))
