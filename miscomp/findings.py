"""Region and Finding, the plain data every detector returns, and the stable findings schema."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum


class Category(StrEnum):
    """Hofer & Böhme (WIFS 2024) miscompression categories. ``symbol`` is a separate flag."""

    AMPLITUDE = "amplitude"  # brightness, colour, saturation, strength of high frequencies
    GEOMETRY = "geometry"  # translation, rotation, scaling, shearing, dissolved contours
    SHAPE = "shape"  # changed contours


@dataclass(frozen=True)
class Region:
    """An axis-aligned box in original-image pixel coordinates, with a detector score in [0, 1]."""

    x: int
    y: int
    w: int
    h: int
    score: float = 1.0

    @property
    def area(self) -> int:
        return self.w * self.h

    def iou(self, other: Region) -> float:
        ix = max(0, min(self.x + self.w, other.x + other.w) - max(self.x, other.x))
        iy = max(0, min(self.y + self.h, other.y + other.h) - max(self.y, other.y))
        inter = ix * iy
        union = self.area + other.area - inter
        return inter / union if union else 0.0

    def contains_point(self, px: float, py: float) -> bool:
        return self.x <= px < self.x + self.w and self.y <= py < self.y + self.h

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x + self.w / 2, self.y + self.h / 2)


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
    # Free-form machine-readable details (JSON text) for tools that want more than the evidence line.
    details: str = ""
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

    def with_crops(self, original: str, reconstruction: str, diff: str) -> Finding:
        return replace(self, crop_original=original, crop_reconstruction=reconstruction, crop_diff=diff)

    def to_row(self) -> dict:
        return asdict(self)


FINDING_COLUMNS: list[str] = [
    "finding_id", "pair_id", "detector", "x", "y", "w", "h", "category", "symbol", "score",
    "evidence", "crop_original", "crop_reconstruction", "crop_diff", "details",
]  # fmt: skip
