"""Several annotators per task: their agreement, gold-task scores, and one final label per finding.

Label Studio's agreement endpoint is Enterprise-only, so everything here is computed from the export,
one row per (task, annotator) with that annotator's latest label (:data:`ANNOTATION_COLUMNS`):

- **Krippendorff's α** (nominal; any number of annotators, missing labels allowed) and **Cohen's κ**
  (each pair of annotators, on the tasks both labelled) for the full label, for each taxonomy
  category as a yes/no question ("is it amplitude?"), and for the symbol flag;
- **box agreement**: the IoU of two annotators' boxes on the same task (mean, and share ≥ 0.5);
- **gold tasks** (known answer, see :mod:`miscomp.review.gold`): per annotator, the share with the
  right category and the mean IoU of the drawn box with the true one;
- **adjudication**: the final label of a finding is its annotators' majority; a tie gets no final
  label and is flagged for a third reviewer.

Gold tasks are scored, never adjudicated or counted in the agreement (they are the tool's check on
the annotators, not part of the dataset).
"""

from __future__ import annotations

import itertools
import json
import math
import warnings
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from miscomp.geometry import Box
from miscomp.review import config as cfg

ANNOTATION_COLUMNS: list[str] = [
    "finding_id", "task_id", "annotator", "human_category", "symbol",
    "human_box_x", "human_box_y", "human_box_w", "human_box_h", "notes", "time", "gold",
    "gold_category", "gold_box", "gold_prefill",
]  # fmt: skip
# The questions agreement is measured on: the full label, then yes/no per taxonomy category.
LABELS = [cfg.HUMAN_LABELS[c] for c in cfg.CHOICES]  # amplitude geometry shape symbol none
BOX_AGREE_IOU = 0.5  # the usual detection threshold (PASCAL VOC / COCO AP50): two boxes "agree"


def _rounded(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else round(float(v), 4)


def krippendorff_alpha(units: list[list[str | None]]) -> float | None:
    """Nominal α over ``units`` (one list per task, one entry per annotator, None = not labelled);
    None when it is undefined (fewer than two labelled values in any task, or a single value used)."""
    from miscomp.errors import require

    kd = require("krippendorff", "annotate")
    values = sorted({v for u in units for v in u if v is not None})
    if len(values) < 2 or not any(sum(v is not None for v in u) >= 2 for u in units):
        return None
    code = {v: i for i, v in enumerate(values)}
    data = np.array([[np.nan if v is None else code[v] for v in u] for u in units], float).T
    try:
        return _rounded(kd.alpha(reliability_data=data, level_of_measurement="nominal"))
    except (ValueError, ZeroDivisionError):
        return None


def cohen_kappa(a: list[str], b: list[str]) -> float | None:
    """κ of two annotators' labels on the same tasks; None when undefined (no tasks, one label only)."""
    from sklearn.metrics import cohen_kappa_score

    if not a or len(set(a) | set(b)) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return _rounded(cohen_kappa_score(a, b))


def _matrix(ann: pd.DataFrame) -> tuple[list[str], list[str], dict[tuple[str, str], str]]:
    tasks = sorted(ann["finding_id"].unique())
    people = sorted(ann["annotator"].unique())
    cell = {(r.finding_id, r.annotator): r.human_category for r in ann.itertuples()}
    return tasks, people, cell


def _question(label: str | None, question: str | None) -> str | None:
    if label is None or question is None:
        return label
    return "yes" if label == question else "no"


def annotator_agreement(annotations: pd.DataFrame) -> dict[str, Any]:
    """Agreement between annotators on the non-gold tasks (see the module docstring)."""
    ann = annotations[~annotations["gold"].astype(bool) & annotations["human_category"].isin(LABELS)]
    tasks, people, cell = _matrix(ann)
    shared = [t for t in tasks if sum((t, p) in cell for p in people) >= 2]
    questions: dict[str, str | None] = {"label": None, **{c: c for c in LABELS if c != "none"}}
    out: dict[str, Any] = {
        "annotators": people,
        "tasks": len(tasks),
        "tasks_with_2plus": len(shared),
        "questions": {},
    }
    for name, q in questions.items():
        units = [[_question(cell.get((t, p)), q) for p in people] for t in tasks]
        pairs = {}
        for a, b in itertools.combinations(people, 2):
            both = [t for t in tasks if (t, a) in cell and (t, b) in cell]
            la = [_question(cell[(t, a)], q) for t in both]
            lb = [_question(cell[(t, b)], q) for t in both]
            pairs[f"{a} | {b}"] = {"tasks": len(both), "kappa": cohen_kappa(la, lb)}
        kappas = [p["kappa"] for p in pairs.values() if p["kappa"] is not None]
        out["questions"][name] = {
            "alpha": krippendorff_alpha(units),
            "kappa": _rounded(float(np.mean(kappas))) if kappas else None,  # mean over pairs
            "pairs": pairs,
        }
    out["box"] = box_agreement(ann)
    return out


def _box(row: Any) -> Box | None:
    vals = (row.human_box_x, row.human_box_y, row.human_box_w, row.human_box_h)
    if any(v is None or pd.isna(v) for v in vals):
        return None
    return Box(*(int(v) for v in vals))


def box_agreement(ann: pd.DataFrame) -> dict[str, Any]:
    """IoU of every pair of annotators' boxes on the same task (tasks where both drew one)."""
    ious = []
    for _, grp in ann.groupby("finding_id"):
        boxes = [b for b in (_box(r) for r in grp.itertuples()) if b is not None]
        ious += [a.iou(b) for a, b in itertools.combinations(boxes, 2)]
    return {
        "pairs": len(ious),
        "mean_iou": _rounded(float(np.mean(ious))) if ious else None,
        f"share_iou_ge_{BOX_AGREE_IOU}": _rounded(float(np.mean([i >= BOX_AGREE_IOU for i in ious])))
        if ious
        else None,
    }


def gold_scores(annotations: pd.DataFrame) -> dict[str, Any]:
    """Per annotator: gold tasks labelled, share with the true category, mean IoU with the true box."""
    gold = annotations[annotations["gold"].astype(bool)]
    out = {}
    for who, grp in gold.groupby("annotator"):
        right = (grp["human_category"] == grp["gold_category"]).tolist()
        prefill = grp["gold_prefill"] if "gold_prefill" in grp else pd.Series([""] * len(grp))
        prefill_right = (prefill.fillna("").to_numpy() == grp["gold_category"].to_numpy()).tolist()
        ious = []
        for r in grp.itertuples():
            box = _box(r)
            if box is not None and r.gold_box:
                ious.append(box.iou(json.loads(r.gold_box)))
        out[str(who)] = {
            "gold_tasks": len(grp),
            "category_correct": int(sum(right)),
            "category_accuracy": _rounded(sum(right) / len(grp)),
            # on the same tasks, the share where accepting the tool's pre-filled category was right
            "prefill_accuracy": _rounded(sum(prefill_right) / len(grp)),
            "boxes_drawn": len(ious),
            "mean_box_iou": _rounded(float(np.mean(ious))) if ious else None,
        }
    return out


def adjudicate(votes: list[str]) -> tuple[str, str]:
    """(final label, how): ``single`` / ``unanimous`` / ``majority``; a tie gives ("", "tie"), no
    votes ("", "unlabelled")."""
    counts = Counter(votes).most_common()
    if not votes:
        return "", "unlabelled"
    if len(votes) == 1:
        return votes[0], "single"
    if len(counts) == 1:
        return counts[0][0], "unanimous"
    if counts[0][1] == counts[1][1]:
        return "", "tie"
    return counts[0][0], "majority"
