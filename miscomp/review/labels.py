"""One annotation as a label: its result checked against the project's labeling config (Label Studio
accepts unknown choices and names silently), its category, box (crop percent → image pixels) and notes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from miscomp.errors import MiscompError
from miscomp.review import config as cfg


class AnnotationError(MiscompError):
    """One annotation whose result does not fit the labeling config."""


@dataclass(frozen=True)
class Label:
    """One annotator's label of one task, checked against the project's labeling config."""

    annotator: str
    category: str  # a dataset label (HUMAN_LABELS value), "" when the annotator chose none
    box: tuple[int, int, int, int] | None  # original-image pixels
    notes: str
    time: str


def parse_label(ann: dict[str, Any], data: dict[str, Any], label_config: str, who: str) -> Label:
    """The annotation's category, box and notes; raises :class:`AnnotationError` when its result is
    not a list of items that fit the labeling config (what Label Studio itself does not check)."""
    result = ann.get("result")
    if not isinstance(result, list) or not all(isinstance(r, dict) for r in result):
        raise AnnotationError("result is not a list of result items")
    if not all(isinstance(r.get("value"), dict) for r in result):
        raise AnnotationError("a result item has no value object")
    try:
        cfg.validate_result(result, label_config)
    except cfg.PredictionError as err:
        raise AnnotationError(str(err)) from None
    choices = [c for r in result if r.get("from_name") == cfg.CATEGORY for c in r["value"].get("choices", [])]
    if len(choices) > 1:
        raise AnnotationError(f"{len(choices)} categories chosen ({choices}); the config allows one")
    notes = [t for r in result if r.get("from_name") == cfg.NOTES for t in r["value"].get("text", [])]
    if not all(isinstance(t, str) for t in notes):
        raise AnnotationError("notes are not text")
    return Label(
        annotator=who,
        # No category chosen (possible if the config's "required" is relaxed) stays empty, not guessed.
        category=cfg.HUMAN_LABELS[choices[0]] if choices else "",
        box=_human_box(result, data),
        notes="\n".join(notes),
        time=str(ann.get("updated_at") or ann.get("created_at") or ""),
    )


def _human_box(result: list[dict], data: dict[str, Any]) -> tuple[int, int, int, int] | None:
    """The reviewer's rectangle, from crop percent back to original-image pixels."""
    rects = [r for r in result if r.get("from_name") == cfg.REGION and "x" in r.get("value", {})]
    if not rects:
        return None
    v = rects[0]["value"]
    x0, y0, cw, ch = data["crop_window"]
    return (
        round(x0 + v["x"] * cw / 100), round(y0 + v["y"] * ch / 100),
        round(v["width"] * cw / 100), round(v["height"] * ch / 100),
    )  # fmt: skip
