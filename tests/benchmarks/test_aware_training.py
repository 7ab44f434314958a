"""benchmarks/aware_training.py's shipping rule: aware weights ship only with the held-out rate within
±5 % of the base and fewer symbol findings than the base at equal bpp; a refusal is one line and copies
nothing into the package."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from benchmarks import aware_training as at
from miscomp.errors import MiscompError


@pytest.mark.parametrize(
    ("ratio", "change", "ok", "why"),
    [
        (1.031, -0.12, True, "+3.1%"),
        (0.951, -0.01, True, "-1.0%"),
        (1.064, -0.177, False, "outside ±5%"),  # session 35's run: the rate match missed
        (0.94, -0.2, False, "outside ±5%"),
        (1.0, 0.0, False, "not fewer"),
        (None, -0.1, False, "eval --base-q2"),
    ],
)
def test_ship_verdict(ratio, change, ok, why):
    summary = {"text_bpp_ratio": ratio, "symbol_findings_change_at_equal_bpp": change}
    verdict, reason = at.ship_verdict(summary)
    assert verdict is ok and why in reason and "\n" not in reason


def test_ship_refuses_a_failed_measurement_without_touching_the_package(tmp_path, monkeypatch):
    monkeypatch.setenv("MISCOMP_MODELS_DIR", str(tmp_path / "weights"))
    (tmp_path / "weights").mkdir()
    results = tmp_path / "aware_training.json"
    results.write_text(
        json.dumps({"summary": {"text_bpp_ratio": 1.064, "symbol_findings_change_at_equal_bpp": -0.18}})
    )
    weights = tmp_path / "x-aware.pth"
    weights.write_bytes(b"not read")
    with pytest.raises(MiscompError, match=r"aware_training.json: not shipped: held-out text bpp \+6.4%"):
        at.ship(weights, results, tmp_path / "provenance.json")
    assert list((tmp_path / "weights").iterdir()) == []
    assert at.main(["ship", "--weights", str(weights), "--results", str(results),
                    "--provenance", str(tmp_path / "p.json")]) == 1  # fmt: skip


def test_quality_of_a_name_and_of_a_sidecar(tmp_path):
    assert at.quality_of("bmshj2018-factorized-q2-aware") == 2
    assert at.quality_of(Path("x/bmshj2018-factorized-q1-aware.pth")) == 1
    weights = tmp_path / "renamed.pth"
    (tmp_path / "renamed.json").write_text(json.dumps({"quality": 2}))
    assert at.quality_of(weights) == 2
    with pytest.raises(ValueError, match="no quality"):
        at.quality_of("aware")


def test_base_line_is_read_over_log_bpp():
    q1, q2 = (0.2, 100.0), (0.4, 80.0)
    assert at.base_line_at(0.2, q1, q2) == (100.0, 0.0)
    value, t = at.base_line_at(0.4, q1, q2)
    assert t == pytest.approx(1.0) and value == pytest.approx(80.0)
    value, t = at.base_line_at(0.2 * 2**0.5, q1, q2)  # halfway in log bpp
    assert t == pytest.approx(0.5) and value == pytest.approx(90.0)
    value, t = at.base_line_at(0.42, q1, q2)  # past q2: extrapolated, t > 1
    assert t > 1 and value < 80.0


def _scan(model: str, bpp: float, findings: int, errors: int, chars: int = 1000) -> pd.DataFrame:
    # two images; the pooled CER is errors / chars, the mean bpp is bpp
    return pd.DataFrame({
        "model": model, "set": ["bed-scene", "bed-plates"], "bpp": [bpp * 0.9, bpp * 1.1],
        "symbol_findings": [findings - findings // 2, findings // 2], "psnr": [24.0, 25.0],
        "ocr_chars": [chars // 2, chars - chars // 2], "ocr_char_errors": [errors // 2, errors - errors // 2],
    })  # fmt: skip


def _kodak(bpp: dict[str, float], psnr: dict[str, float], key: str) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {key: k, "image": f"kodim0{i}", "bpp": b * (1 + 0.1 * i), "psnr": psnr[k] + i}
            for k, b in bpp.items()
            for i in (1, 2)
        ]
    )


def test_bd_figures_of_a_curve_shifted_down_and_up():
    a1, a2 = "bmshj2018-factorized-q1-aware", "bmshj2018-factorized-q2-aware"
    text = {  # aware: 0.1 CER and 20 findings below the base at the same two rates
        "base": _scan("base", 0.2, 100, 800), "base-q2": _scan("base-q2", 0.3, 80, 600),
        a1: _scan(a1, 0.2, 80, 700), a2: _scan(a2, 0.3, 60, 500),
    }  # fmt: skip
    rd = _kodak({"bmshj2018-factorized-q1": 0.15, "bmshj2018-factorized-q2": 0.24}, {
        "bmshj2018-factorized-q1": 24.0, "bmshj2018-factorized-q2": 26.0}, "codec")  # fmt: skip
    kod = _kodak({a1: 0.15, a2: 0.24}, {a1: 23.5, a2: 25.5}, "model")  # 0.5 dB below at equal bpp
    out = at.bd_figures(text, kod, rd, (a1, a2))
    assert out["bd_cer"] == pytest.approx(-0.1)
    assert out["bd_cer_relative"] == pytest.approx(-0.1 / 0.7, abs=1e-4)  # base: 0.8 -> 0.6, mean 0.7
    # bits at equal CER (shared CER 0.6-0.7): the aware line reaches each CER half a q-step (×1.5) earlier
    assert out["bd_rate_cer"] == pytest.approx(1.5**-0.5 - 1, abs=1e-4)
    assert out["bd_findings"] == pytest.approx(-20)
    assert out["bd_findings_relative"] == pytest.approx(-20 / 90, abs=1e-4)
    assert out["bd_psnr_kodak"] == pytest.approx(-0.5)
    assert out["bd_psnr_kodak_per_image"] == pytest.approx(-0.5)
    assert out["bd_psnr_kodak_images"] == 2 and out["bd_text_bpp_range"] == [0.2, 0.3]
    text[a1], text[a2] = _scan(a1, 0.4, 1, 1), _scan(a2, 0.5, 1, 1)  # no shared rate range
    out = at.bd_figures(text, kod, rd, (a1, a2))
    assert out["bd_cer"] is None and out["bd_cer_relative"] is None and out["bd_text_bpp_range"] is None
    assert out["bd_rate_cer"] is None


def test_report_of_an_aware_q2_holds_the_rate_to_the_base_q2(tmp_path, monkeypatch):
    from benchmarks import harness

    a1, a2 = "bmshj2018-factorized-q1-aware", "bmshj2018-factorized-q2-aware"
    work, results = tmp_path / "work", tmp_path / "results"
    work.mkdir()
    results.mkdir()
    monkeypatch.setattr(at, "RESULTS", results)
    monkeypatch.setattr(harness, "RESULTS", results)
    for name, scan in {"base": _scan("base", 0.2, 100, 800), "base-q2": _scan("base-q2", 0.3, 80, 600),
                       a1: _scan(a1, 0.2, 80, 700), a2: _scan(a2, 0.306, 60, 500)}.items():  # fmt: skip
        scan.to_csv(work / f"text-{name}.csv", index=False)
    _kodak({"bmshj2018-factorized-q1": 0.15, "bmshj2018-factorized-q2": 0.24}, {
        "bmshj2018-factorized-q1": 24.0, "bmshj2018-factorized-q2": 26.0}, "codec",
    ).to_csv(results / "rd_kodak.csv", index=False)  # fmt: skip
    _kodak({a1: 0.15, a2: 0.24}, {a1: 23.5, a2: 25.5}, "model").to_csv(work / "kodak.csv", index=False)
    path = at.report(work, a2, None, curve=a1)
    assert path == results / "aware_training_q2.json" and (results / "aware_training_q2.png").exists()
    s = json.loads(path.read_text())["summary"]
    assert s["base"] == at.BASE_Q2_SPEC and s["text_bpp_ratio"] == pytest.approx(1.02)
    assert s["symbol_findings_base"] == 80 and s["base_line_t"] > 1  # 2 % past q2: the line extrapolated
    assert s["symbol_findings_change_at_equal_bpp"] < -0.2 and s["kodak_bpp_ratio"] == pytest.approx(1.0)
    assert s["kodak_delta_psnr_at_equal_bpp"] == pytest.approx(-0.5) and s["bd_cer"] < -0.09
    assert at.ship_verdict(s)[0]


def test_ship_refuses_the_results_of_another_model(tmp_path, monkeypatch):
    monkeypatch.setenv("MISCOMP_MODELS_DIR", str(tmp_path / "weights"))
    (tmp_path / "weights").mkdir()
    results = tmp_path / "aware_training.json"
    results.write_text(json.dumps({"summary": {
        "aware": "bmshj2018-factorized-q1-aware", "text_bpp_ratio": 1.01,
        "symbol_findings_change_at_equal_bpp": -0.1}}))  # fmt: skip
    weights = tmp_path / "bmshj2018-factorized-q2-aware.pth"
    weights.write_bytes(b"not read")
    with pytest.raises(MiscompError, match="measures bmshj2018-factorized-q1-aware, not bmshj"):
        at.ship(weights, results, tmp_path / "provenance.json")
    assert list((tmp_path / "weights").iterdir()) == []
