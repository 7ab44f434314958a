"""The one box type: an axis-aligned rectangle in image pixels, ``(x, y, w, h)``.

A ``NamedTuple`` rather than a dataclass on purpose: boxes travel through OCR caches and JSON
``details`` as plain 4-lists, and ``x, y, w, h = box`` must keep working wherever a tuple did.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import NamedTuple

# Crop windows around a finding: a margin of half the box on each side, at least 8 px, so that a
# reviewer sees the finding in its context (the same window is used by crops, report and push).
CROP_CONTEXT = 0.5
CROP_MIN_MARGIN = 8


class Box(NamedTuple):
    x: int
    y: int
    w: int
    h: int

    @classmethod
    def from_xyxy(cls, x0: float, y0: float, x1: float, y1: float) -> Box:
        return cls(int(x0), int(y0), max(0, int(x1) - int(x0)), max(0, int(y1) - int(y0)))

    @classmethod
    def from_points(cls, points: Iterable[Iterable[float]]) -> Box:
        """The bounding box of a polygon (e.g. an OCR quadrilateral), floored to integer pixels."""
        pts = [tuple(p) for p in points]
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        return cls.from_xyxy(math.floor(min(xs)), math.floor(min(ys)), max(xs), max(ys))

    @classmethod
    def union_of(cls, boxes: Iterable[Iterable[int]]) -> Box:
        """The smallest box that holds all ``boxes`` (any 4-sequences ``x, y, w, h``)."""
        bs = [cls(*b) for b in boxes]
        if not bs:
            raise ValueError("union of no boxes")
        return cls.from_xyxy(
            min(b.x for b in bs), min(b.y for b in bs), max(b.x1 for b in bs), max(b.y1 for b in bs)
        )

    @property
    def x1(self) -> int:
        return self.x + self.w

    @property
    def y1(self) -> int:
        return self.y + self.h

    @property
    def area(self) -> int:
        return self.w * self.h

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x + self.w / 2, self.y + self.h / 2)

    def intersection(self, other: Iterable[int]) -> int:
        o = Box(*other)
        ix = max(0, min(self.x1, o.x1) - max(self.x, o.x))
        iy = max(0, min(self.y1, o.y1) - max(self.y, o.y))
        return ix * iy

    def iou(self, other: Iterable[int]) -> float:
        o = Box(*other)
        inter = self.intersection(o)
        union = self.area + o.area - inter
        return inter / union if union else 0.0

    def overlaps(self, other: Iterable[int]) -> bool:
        """True when the two boxes share at least one pixel."""
        o = Box(*other)
        return self.x < o.x1 and o.x < self.x1 and self.y < o.y1 and o.y < self.y1

    def union(self, other: Iterable[int]) -> Box:
        return Box.union_of((self, tuple(other)))

    def contains_point(self, px: float, py: float) -> bool:
        return self.x <= px < self.x1 and self.y <= py < self.y1

    def clip(self, width: int, height: int) -> Box:
        """This box cut to an image of ``width`` × ``height``."""
        return Box.from_xyxy(
            min(max(self.x, 0), width), min(max(self.y, 0), height),
            min(max(self.x1, 0), width), min(max(self.y1, 0), height),
        )  # fmt: skip

    def scaled(self, factor: float) -> Box:
        return Box(*(int(round(v * factor)) for v in self))

    def crop_window(self, width: int, height: int, context: float = CROP_CONTEXT) -> Box:
        """The window a reviewer sees around this box: ``context`` of its size on each side (at least
        half that of its other side and ``CROP_MIN_MARGIN`` px), clipped to the image, never empty."""
        # A long thin box (a dissolved 137×9 px table rule) also gets context across it: at least a
        # quarter of its length, or the reviewer sees a sliver.
        mx = max(int(self.w * context), int(self.h * context / 2), CROP_MIN_MARGIN)
        my = max(int(self.h * context), int(self.w * context / 2), CROP_MIN_MARGIN)
        x0, y0 = max(0, self.x - mx), max(0, self.y - my)
        x1, y1 = min(width, self.x1 + mx), min(height, self.y1 + my)
        return Box(x0, y0, max(x1 - x0, 1), max(y1 - y0, 1))
