import numpy as np
import pytest

from benchmarks.factors import CellTable, factor_table, odds_ratio
from tests.study.test_risk import _sample


def test_odds_ratio_and_factor_table():
    has = np.array([1, 1, 0, 0] * 10, bool)
    target = np.array([1, 0, 0, 0] * 10, bool)
    # 10 of 20 with, 0 of 20 without: (10.5/10.5) / (0.5/20.5)
    assert odds_ratio(has, target) == pytest.approx(41.0)
    table = CellTable.stack([{"grid": g, "codec": c, "bpp": b, "target": t, "image_id": f"i{k}"}
                             for k, (g, c, b, t) in enumerate(_sample(s) for s in range(3))])  # fmt: skip
    rows = {r["factor"]: r for r in factor_table(table, table, n_boot=50)}
    assert rows["text present"]["fit_odds_ratio"] > 10
    assert rows["face present"]["fit_odds_ratio"] is None  # never holds: no odds ratio
