"""Tool versus human on reviewed findings: confusion matrix and precision of the tool's flags.

Every finding is a flag, so the reviewer can only confirm or reject it: this measures precision
(how many flags were real, and of the right kind), not recall (misses never reach the reviewer).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from miscomp.findings import Category

TOOL_LABELS = [*(c.value for c in Category), "symbol"]
HUMAN_LABELS = [*TOOL_LABELS, "none"]


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def agreement(labels: pd.DataFrame) -> dict[str, Any]:
    reviewed = labels[labels["human_category"].isin(HUMAN_LABELS)]
    n = len(reviewed)
    real = reviewed["human_category"] != "none"
    same = reviewed["human_category"] == reviewed["tool_label"]
    matrix = {
        t: {
            h: int(((reviewed["tool_label"] == t) & (reviewed["human_category"] == h)).sum())
            for h in HUMAN_LABELS
        }
        for t in TOOL_LABELS
    }
    per_tool = {}
    for t in TOOL_LABELS:
        sel = reviewed["tool_label"] == t
        k = int(sel.sum())
        per_tool[t] = {
            "flags": k,
            "confirmed": int((sel & real).sum()),
            "precision": _ratio(int((sel & real).sum()), k),
            "same_category": int((sel & same).sum()),
            "category_precision": _ratio(int((sel & same).sum()), k),
        }
    per_detector = {}
    for det, grp in reviewed.groupby("detector"):
        g_real = grp["human_category"] != "none"
        per_detector[str(det)] = {"flags": len(grp), "precision": _ratio(int(g_real.sum()), len(grp))}
    return {
        "reviewed": n,
        "unreviewed_rows": int(len(labels) - n),
        "precision": _ratio(int(real.sum()), n),  # flags a human confirmed as a miscompression
        "category_agreement": _ratio(int(same.sum()), n),  # flags confirmed with the same category
        "category_accuracy_on_confirmed": _ratio(int((same & real).sum()), int(real.sum())),
        "confusion": {"rows": "tool", "columns": "human", "labels": HUMAN_LABELS, "matrix": matrix},
        "per_tool_label": per_tool,
        "per_detector": per_detector,
    }


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f}"


def agreement_markdown(report: dict[str, Any], project: str) -> str:
    lines = [
        f"# Tool vs human agreement — {project}",
        "",
        f"Reviewed findings: **{report['reviewed']}**. Precision of the tool's flags (human says it is a "
        f"miscompression): **{_fmt(report['precision'])}**. Same category as the tool: "
        f"**{_fmt(report['category_agreement'])}** (on confirmed flags: "
        f"{_fmt(report['category_accuracy_on_confirmed'])}).",
        "",
        "Recall is not measured here: findings the tool missed never reach the reviewer.",
        "",
        "## Confusion matrix (rows: tool, columns: human)",
        "",
        "| tool \\ human | " + " | ".join(HUMAN_LABELS) + " |",
        "|---|" + "---:|" * len(HUMAN_LABELS),
    ]
    for t, row in report["confusion"]["matrix"].items():
        lines.append(f"| {t} | " + " | ".join(str(row[h]) for h in HUMAN_LABELS) + " |")
    lines += ["", "## Per tool label", "", "| tool label | flags | confirmed | precision | same category |",
              "|---|---:|---:|---:|---:|"]  # fmt: skip
    for t, s in report["per_tool_label"].items():
        cells = [t, s["flags"], s["confirmed"], _fmt(s["precision"]), _fmt(s["category_precision"])]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    if report["per_detector"]:
        lines += ["", "## Per detector", "", "| detector | flags | precision |", "|---|---:|---:|"]
        for det, s in report["per_detector"].items():
            lines.append(f"| {det} | {s['flags']} | {_fmt(s['precision'])} |")
    if "annotators" in report:
        lines += _annotator_lines(report["annotators"])
    if report.get("gold"):
        lines += ["", "## Gold tasks (known answers) per annotator", "",
                  "| annotator | gold tasks | right category | accuracy | pre-fill right | boxes drawn "
                  "| mean box IoU |", "|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
        for who, g in report["gold"].items():
            cells = [who, g["gold_tasks"], g["category_correct"], _fmt(g["category_accuracy"]),
                     _fmt(g.get("prefill_accuracy")), g["boxes_drawn"], _fmt(g["mean_box_iou"])]  # fmt: skip
            lines.append("| " + " | ".join(map(str, cells)) + " |")
    if "adjudication" in report:
        adj = report["adjudication"]
        counts = ", ".join(f"{k} {v}" for k, v in adj["counts"].items()) or "none"
        lines += ["", "## Adjudication", "",
                  f"Final labels by how they were reached: {counts}. A finding whose annotators are split "
                  "evenly has no final label: a third reviewer decides."]  # fmt: skip
        if adj["ties"]:
            lines += ["", "| finding | task | votes |", "|---|---:|---|"]
            for t in adj["ties"]:
                votes = ", ".join(f"{k} {v}" for k, v in t["votes"].items())
                lines.append(f"| {t['finding_id']} | {t['task_id']} | {votes} |")
    return "\n".join(lines) + "\n"


def _annotator_lines(a: dict[str, Any]) -> list[str]:
    lines = ["", "## Agreement between annotators", "",
             f"Annotators: {', '.join(a['annotators']) or 'none'}. Findings labelled: {a['tasks']}, by two "
             f"or more: {a['tasks_with_2plus']}. Krippendorff's α (nominal, any number of annotators) and "
             "Cohen's κ (mean over pairs of annotators); per category the question is \"is it this "
             "category?\"; `symbol` is the symbol flag.", "",
             "| question | α | κ |", "|---|---:|---:|"]  # fmt: skip
    for name, q in a["questions"].items():
        lines.append(f"| {name} | {_fmt(q['alpha'])} | {_fmt(q['kappa'])} |")
    box = a["box"]
    share = next((v for k, v in box.items() if k.startswith("share_iou")), None)
    lines += ["", f"Boxes: {box['pairs']} pairs of boxes on the same finding, mean IoU "
              f"{_fmt(box['mean_iou'])}, IoU ≥ 0.5: {_fmt(share)}."]  # fmt: skip
    return lines
