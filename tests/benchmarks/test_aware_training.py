"""benchmarks/aware_training.py's shipping rule: aware weights ship only with the held-out rate within
±5 % of the base and fewer symbol findings than the base at equal bpp; a refusal is one line and copies
nothing into the package."""

from __future__ import annotations

import json

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
