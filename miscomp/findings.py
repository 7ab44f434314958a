"""Region and Finding, the plain data every detector returns, and the stable findings schema."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields, replace
from enum import StrEnum
from typing import Any

from miscomp.geometry import Box


class Category(StrEnum):
    """Hofer & Böhme (WIFS 2024) miscompression categories. ``symbol`` is a separate flag."""

    AMPLITUDE = "amplitude"  # brightness, colour, saturation, strength of high frequencies
    GEOMETRY = "geometry"  # translation, rotation, scaling, shearing, dissolved contours
    SHAPE = "shape"  # changed contours


@dataclass(frozen=True)
class Region:
    """A box in original-image pixel coordinates with a detector score in [0, 1]."""

    x: int
    y: int
    w: int
    h: int
    score: float = 1.0

    @property
    def box(self) -> Box:
        return Box(self.x, self.y, self.w, self.h)

    @property
    def area(self) -> int:
        return self.w * self.h

    def iou(self, other: Region) -> float:
        return self.box.iou(other.box)

    def contains_point(self, px: float, py: float) -> bool:
        return self.box.contains_point(px, py)

    @property
    def centre(self) -> tuple[float, float]:
        return self.box.centre


@dataclass(frozen=True)
class Finding:
    """One suspected miscompression. Field names are the public schema of findings.parquet."""

    pair_id: str
    detector: str
    x: int
    y: int
    w: int
    h: int
    category: str
    symbol: bool
    score: float
    evidence: str
    crop_original: str = ""
    crop_reconstruction: str = ""
    crop_diff: str = ""
    # The window (original-image pixels) the crops were cut from: stored so that push and pull use
    # the crops' own geometry instead of recomputing it.
    crop_x: int = 0
    crop_y: int = 0
    crop_w: int = 0
    crop_h: int = 0
    # What one stage reads from another, typed (moved by ``translated``; ``details`` is for people).
    # The changed text line a text detector established (original-image pixels; line_w 0: none) and
    # the line's two reads: ``combine`` flags the findings over it, the second OCR engine rereads it.
    line_x: int = 0
    line_y: int = 0
    line_w: int = 0
    line_h: int = 0
    original_text: str = ""
    reconstruction_text: str = ""
    # Region detectors: the codec family of the pair's artefact model and the difference maps that saw
    # the region (``combine`` scores a learned codec's colour-only regions as colour drift).
    artefact_family: str = ""
    maps: tuple[str, ...] = ()
    # Machine-readable details for tools that want more than the evidence line. A dict here; the
    # store writes it as JSON text (``details`` column) and ``from_row`` turns it back into a dict.
    details: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    finding_id: str = field(default="")

    def __post_init__(self) -> None:
        if self.category not in {c.value for c in Category}:
            raise ValueError(f"category must be one of {[c.value for c in Category]}, got {self.category!r}")
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"score must be in [0, 1], got {self.score}")
        if not self.finding_id:
            object.__setattr__(self, "finding_id", self._stable_id())

    def _stable_id(self) -> str:
        # Deterministic, so a resumed run produces the same ids as an uninterrupted one.
        box = f"{self.x},{self.y},{self.w},{self.h}"
        key = f"{self.pair_id}|{self.detector}|{box}|{self.category}|{self.evidence}"
        return hashlib.sha1(key.encode()).hexdigest()[:16]

    @property
    def region(self) -> Region:
        return Region(self.x, self.y, self.w, self.h, self.score)

    @property
    def box(self) -> Box:
        return Box(self.x, self.y, self.w, self.h)

    @property
    def line_box(self) -> Box | None:
        """The changed text line this finding is about, or None."""
        return Box(self.line_x, self.line_y, self.line_w, self.line_h) if self.line_w > 0 else None

    def with_line(self, box: Box, original_text: str, reconstruction_text: str) -> Finding:
        x, y, w, h = box
        return replace(
            self, line_x=int(x), line_y=int(y), line_w=int(w), line_h=int(h), original_text=original_text,
            reconstruction_text=reconstruction_text,
        )  # fmt: skip

    def translated(self, dx: int, dy: int) -> Finding:
        """The same finding moved by (dx, dy): its box, its line, its crop window and every box inside
        ``details`` (keys ``box``, ``window``, ``*_box``, ``*_window``, ``*_boxes``, at any depth).
        The id follows the new box."""
        if dx == dy == 0:
            return self
        moved = {"x": self.x + dx, "y": self.y + dy}
        if self.line_w > 0:
            moved |= {"line_x": self.line_x + dx, "line_y": self.line_y + dy}
        if self.crop_w > 0:
            moved |= {"crop_x": self.crop_x + dx, "crop_y": self.crop_y + dy}
        details = _moved_boxes(self.details, dx, dy)
        return replace(self, **moved, details=details, finding_id="")

    @property
    def crop_window(self) -> Box:
        return Box(self.crop_x, self.crop_y, self.crop_w, self.crop_h)

    def with_crops(self, original: str, reconstruction: str, diff: str, window: Box) -> Finding:
        return replace(
            self, crop_original=original, crop_reconstruction=reconstruction, crop_diff=diff,
            crop_x=window.x, crop_y=window.y, crop_w=window.w, crop_h=window.h,
        )  # fmt: skip

    def to_row(self) -> dict[str, Any]:
        """The findings-table row: ``details`` as JSON text, every other field as is."""
        row = asdict(self)
        row["details"] = json.dumps(self.details, sort_keys=True, default=str) if self.details else ""
        row["maps"] = ",".join(self.maps)
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Finding:
        kw = {f: row[f] for f in FINDING_COLUMNS if f in row}
        text = kw.get("details") or ""
        kw["details"] = json.loads(text) if isinstance(text, str) and text else dict(text or {})
        maps = kw.get("maps") or ""
        kw["maps"] = tuple(m for m in maps.split(",") if m) if isinstance(maps, str) else tuple(maps)
        return cls(**kw)


def _is_box(value: Any) -> bool:
    numbers = isinstance(value, list | tuple) and all(isinstance(v, int | float) for v in value)
    return numbers and len(value) == 4


def _moved_boxes(value: Any, dx: int, dy: int, key: str = "") -> Any:
    """``value`` (a details record) with every box under a box-named key moved by (dx, dy)."""
    if isinstance(value, dict):
        return {k: _moved_boxes(v, dx, dy, k) for k, v in value.items()}
    if key in ("box", "window") or key.endswith(("_box", "_window")):
        return [value[0] + dx, value[1] + dy, *value[2:]] if _is_box(value) else value
    if key.endswith("_boxes") and isinstance(value, list | tuple):
        return [[b[0] + dx, b[1] + dy, *b[2:]] if _is_box(b) else b for b in value]
    if isinstance(value, list | tuple):
        return [_moved_boxes(v, dx, dy, key) for v in value]
    return value


# The public column order of findings.parquet: the id first, then the Finding's fields in order.
FINDING_COLUMNS: list[str] = ["finding_id"] + [f.name for f in fields(Finding) if f.name != "finding_id"]


# Findings below this score are kept in the tables (findings.parquet, for research) but hidden from
# the report and from Label Studio pushes: what the codec's ordinary artefacts explain scores below it
# (miscomp/detect/diff/score.py). ``--min-score`` on scan/report/push changes it; run.json records it.
DEFAULT_MIN_SCORE = 0.5


def run_min_score(meta: dict[str, Any], min_score: float | None = None) -> float:
    """The minimum score shown: the explicit one, else the scan's (run.json ``min_score``), else
    :data:`DEFAULT_MIN_SCORE`."""
    if min_score is not None:
        return float(min_score)
    try:
        return float(meta.get("min_score", DEFAULT_MIN_SCORE))
    except (TypeError, ValueError):
        return DEFAULT_MIN_SCORE


def split_by_score(findings: Any, min_score: float) -> tuple[Any, Any]:
    """(shown, low-score): THE definition of "a finding" wherever people read a count (the scan's
    summary, the report, tags, Label Studio pushes, dataset builds). A finding is shown when its score
    is at least ``min_score``; the rest are low-score findings, kept in findings.parquet and counted
    separately. ``findings`` is a findings table (DataFrame); a missing score counts as 0."""
    import pandas as pd

    shown = pd.to_numeric(findings["score"], errors="coerce").fillna(0.0) >= float(min_score)
    return findings[shown].reset_index(drop=True), findings[~shown].reset_index(drop=True)
