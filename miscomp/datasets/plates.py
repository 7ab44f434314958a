"""The plate photos' box annotations (openalpr/benchmarks' format, ``shared/data/plates``).

Each ``<region>/X.txt`` beside ``<region>/X.jpg`` holds tab-separated lines ``filename x y w h TEXT``:
the plate's box in pixels and its text. Read in one place for the training data and the benchmarks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PlateBox:
    """One annotated plate: ``region`` is the folder (``us``, ``eu``), ``name`` the photo's file name."""

    region: str
    name: str
    x: int
    y: int
    w: int
    h: int
    text: str

    @property
    def ref(self) -> str:
        """``<region>/<name>``: the photo relative to the plates folder."""
        return f"{self.region}/{self.name}"

    @property
    def box(self) -> tuple[int, int, int, int]:
        return self.x, self.y, self.w, self.h


def read_plate_boxes(folder: Path) -> list[PlateBox]:
    """Every well-formed annotation line under ``folder`` (``*/*.txt``, in sorted order); lines without
    exactly six tab-separated fields are skipped."""
    out = []
    for txt in sorted(Path(folder).glob("*/*.txt")):
        for line in txt.read_text().splitlines():
            parts = line.strip().split("\t")
            if len(parts) == 6:
                name, x, y, w, h, text = parts
                out.append(PlateBox(txt.parent.name, name, int(x), int(y), int(w), int(h), text))
    return out
