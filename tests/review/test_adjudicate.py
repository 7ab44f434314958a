"""Agreement between annotators, gold scores and adjudication, against values computed by hand or
published in the literature."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from miscomp.review.adjudicate import (
    ANNOTATION_COLUMNS,
    adjudicate,
    annotator_agreement,
    cohen_kappa,
    gold_scores,
    krippendorff_alpha,
)


def test_alpha_matches_krippendorffs_published_example():
    # Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", the 4-observer × 12-unit
    # nominal example with missing values: α = 0.743.
    n = None
    obs = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, n, n, n],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, n, 3],
        [n, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, n],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, n],
    ]
    units = [[None if v is None else str(v) for v in unit] for unit in zip(*obs, strict=True)]
    assert krippendorff_alpha(units) == pytest.approx(0.743, abs=5e-4)


# Two annotators, six findings: agreement on 4. Marginals A: amplitude 2, shape 1, none 1, symbol 1,
# geometry 1; B: amplitude 1, shape 2, none 2, symbol 1.
A = ["amplitude", "amplitude", "shape", "none", "symbol", "geometry"]
B = ["amplitude", "shape", "shape", "none", "symbol", "none"]
# κ = (p_o − p_e) / (1 − p_e), p_o = 4/6, p_e = (2·1 + 1·2 + 1·2 + 1·1) / 36 = 7/36 → 17/29.
KAPPA = 17 / 29
# α (nominal, 2 coders, no gaps) = 1 − (n − 1) · D / (n² − Σ n_c²): n = 12 values, D = 4 off-diagonal
# coincidences (2 disagreeing units × 2), value counts 3, 3, 3, 2, 1 → 1 − 11·4 / (144 − 32) = 68/112.
ALPHA = 68 / 112


def _ann(who: str, labels: list[str], gold: list[str] | None = None) -> list[dict]:
    rows = []
    for i, label in enumerate(labels):
        row = dict.fromkeys(ANNOTATION_COLUMNS)
        row.update(finding_id=f"f{i}", task_id=i, annotator=who, human_category=label,
                   symbol=label == "symbol", gold=False, gold_category="", gold_box="")  # fmt: skip
        rows.append(row)
    return rows


def test_kappa_and_alpha_equal_the_hand_computed_values():
    assert cohen_kappa(A, B) == pytest.approx(KAPPA, abs=1e-4)
    report = annotator_agreement(pd.DataFrame(_ann("a", A) + _ann("b", B)))
    label = report["questions"]["label"]
    assert label["alpha"] == pytest.approx(ALPHA, abs=1e-4) and label["kappa"] == pytest.approx(
        KAPPA, abs=1e-4
    )
    # The symbol flag: both say symbol on finding 4 and only there: perfect agreement.
    assert report["questions"]["symbol"]["kappa"] == 1.0 and report["questions"]["symbol"]["alpha"] == 1.0
    assert report["tasks"] == 6 and report["tasks_with_2plus"] == 6


def test_undefined_agreement_is_none_not_a_number():
    assert cohen_kappa([], []) is None and cohen_kappa(["shape"], ["shape"]) is None
    assert krippendorff_alpha([["shape", None], ["amplitude", None]]) is None  # nobody overlaps


@pytest.mark.parametrize(
    ("votes", "want"),
    [
        (["shape"], ("shape", "single")),
        (["shape", "shape"], ("shape", "unanimous")),
        (["shape", "none", "shape"], ("shape", "majority")),
        (["shape", "none"], ("", "tie")),
        ([], ("", "unlabelled")),
    ],
)
def test_adjudication_is_the_majority_and_a_tie_is_left_open(votes, want):
    assert adjudicate(votes) == want


def test_gold_scores_per_annotator():
    rows = _ann("a", ["geometry", "shape"]) + _ann("b", ["geometry", "amplitude"])
    for r in rows:
        truth = ["geometry", "shape"][r["task_id"]]
        r.update(gold=True, gold_category=truth, gold_box=json.dumps([0, 0, 10, 10]), gold_prefill="geometry")
    rows[0].update(human_box_x=0, human_box_y=0, human_box_w=10, human_box_h=5)  # IoU 0.5
    scores = gold_scores(pd.DataFrame(rows))
    assert scores["a"]["category_accuracy"] == 1.0 and scores["b"]["category_accuracy"] == 0.5
    assert scores["a"]["mean_box_iou"] == 0.5 and scores["b"]["boxes_drawn"] == 0
    assert scores["a"]["prefill_accuracy"] == 0.5  # the pre-fill said geometry on both
