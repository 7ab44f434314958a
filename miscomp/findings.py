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
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Finding:
        kw = {f: row[f] for f in FINDING_COLUMNS if f in row}
        text = kw.get("details") or ""
        kw["details"] = json.loads(text) if isinstance(text, str) and text else dict(text or {})
        return cls(**kw)


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
