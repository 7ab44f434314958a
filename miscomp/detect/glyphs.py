"""Glyph-structure check inside a text box: which character cell changed shape, OCR or not.

Why: on hard text (small, blurred number plates) the recogniser reads poorly — 13% of the plates in
../shared/data/plates exactly — so a string comparison misses swapped glyphs it cannot read, and its
guesses flip under codec noise. Text *detection* finds the boxes far more reliably than recognition
reads them, so inside each of the original's boxes we compare the two images directly, one character
cell at a time.

Per cell, the change is the mean gradient-vector difference (blurred grey, fixed text height) divided
by the box's typical glyph gradient energy, so it is contrast-free. Codec noise touches every glyph
of a box about equally; a changed glyph stands out. Each cell's change is therefore divided by the
median change of the box's *other* cells (its own noise level): ``ratio``. A cell is reported when
both ``change >= floor`` and ``ratio >= ratio_threshold``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from miscomp.config import defined, tuned
from miscomp.findings import Category, Finding
from miscomp.geometry import Box

_PLATES = (
    "benchmarks/ocr_glyph_tune.py on the 50 even-indexed plates of ../shared/data/plates (odd-indexed "
    "ones reported only)"
)


@dataclass(frozen=True)
class GlyphConfig:
    """The glyph check's numbers. On the tuning plates, unchanged JPEG q50/75/90 cells reached at most
    ratio 1.9 (typically 1.0-1.3), swapped glyphs 2.8-50 (typically > 10)."""

    ratio_threshold: float = tuned(
        3.0, _PLATES, "a cell's change vs the median of the box's other cells; 2.0 gained one swap, too "
        "close to the 1.9 of unchanged cells",
    )  # fmt: skip
    change_floor: float = tuned(0.15, _PLATES, "absolute change, in units of the box's glyph gradient energy")
    confirm_ratio: float = tuned(
        2.0, _PLATES, "an OCR substitution needs this ratio at its cell: above the 1.9 of unchanged cells"
    )  # fmt: skip
    min_cells: int = defined(3, "fewer cells give no noise estimate (median of the other cells): no check")
    height: int = defined(48, "text height the crops are resampled to, so the thresholds are resolution-free")
    noise_min: float = defined(0.02, "noise floor, so an unchanged box (change 0 everywhere) divides safely")


GLYPHS = GlyphConfig()
RATIO_THRESHOLD = GLYPHS.ratio_threshold  # the names callers and benchmarks use
CHANGE_FLOOR = GLYPHS.change_floor
CONFIRM_RATIO = GLYPHS.confirm_ratio


@dataclass(frozen=True)
class GlyphCell:
    """One character cell of an original text box and how much its structure changed."""

    box: Box  # in image pixels
    index: int  # 0-based position in reading order (left to right)
    char: int  # 0-based character of the OCR text it holds (== index when the counts agree)
    change: float  # gradient difference / the box's typical glyph gradient energy
    ratio: float  # change / median change of the box's other cells


def _grey(rgb: np.ndarray) -> np.ndarray:
    import cv2

    return rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def _components(grey: np.ndarray) -> list[tuple[int, int]]:
    """x-ranges of character-sized connected components (Otsu, the polarity giving more of them)."""
    import cv2

    h = grey.shape[0]
    best: list[tuple[int, int]] = []
    for flag in (cv2.THRESH_BINARY_INV, cv2.THRESH_BINARY):  # dark text first, then light text
        _, bw = cv2.threshold(grey, 0, 255, flag | cv2.THRESH_OTSU)
        n, _, stats, _ = cv2.connectedComponentsWithStats(bw)
        spans = sorted(
            (int(x), int(x + w))
            for x, _y, w, ch, _a in stats[1:n]
            if 0.35 * h <= ch <= h and 0.04 * h <= w <= 1.3 * h
        )
        if len(spans) > len(best):
            best = spans
    merged: list[tuple[int, int]] = []
    for x0, x1 in best:  # parts of one glyph (broken strokes, "i" dots) overlap horizontally
        if merged and x0 < merged[-1][1] - 0.5 * min(x1 - x0, merged[-1][1] - merged[-1][0]):
            merged[-1] = (merged[-1][0], max(x1, merged[-1][1]))
        else:
            merged.append((x0, x1))
    return merged


def _cells(grey: np.ndarray, n_hint: int, coarse: bool = False) -> tuple[list[tuple[int, int]], int]:
    """Character x-ranges in a text crop (components, else equal cells from the character count), and
    the margin to measure around them. ``coarse``: fewer components than a noise estimate needs also
    give equal cells (see :func:`glyph_cells`)."""
    h, w = grey.shape
    spans = _components(grey)
    if len(spans) >= (GLYPHS.min_cells if coarse else 2):
        return spans, max(1, round(0.08 * h))  # a margin for the anti-aliased edges
    n = n_hint if 2 <= n_hint <= 3 * w / max(h, 1) else round(w / (0.6 * max(h, 1)))
    n = max(1, n)
    edges = np.linspace(0, w, n + 1).round().astype(int)
    return list(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True)), 0


def glyph_cells(
    original: np.ndarray, reconstruction: np.ndarray, box: Box, n_hint: int = 0, coarse: bool = False
) -> list[GlyphCell]:
    """Per-cell structure change between the two images inside ``box`` (empty if not checkable).

    ``coarse``: a box whose connected components are too few for a noise estimate (two: Otsu split a
    dim plate from its frame posts, not its faint glyphs from the plate; wts-lg-000014 in
    ../shared/data/plates) is split into equal cells instead of left unchecked. Such cells may hold
    two characters each, so they only serve where pixels must confirm a read that is no evidence on
    its own (a guessed read); on a legible line they would veto real changes spread over several
    glyphs ('FA8 M75' → 'FAB H7S' through TAEF2: three equal cells all changed alike)."""
    import cv2

    x, y, w, h = box
    ih, iw = original.shape[:2]
    pad = max(1, round(0.15 * h))
    cx0, cy0, cx1, cy1 = max(0, x - pad), max(0, y - pad), min(iw, x + w + pad), min(ih, y + h + pad)
    if cx1 - cx0 < 4 or cy1 - cy0 < 4 or reconstruction.shape[:2] != original.shape[:2]:
        return []
    s = GLYPHS.height / (cy1 - cy0)
    size = (max(4, round((cx1 - cx0) * s)), GLYPHS.height)
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    crops = [
        cv2.resize(_grey(im[cy0:cy1, cx0:cx1]), size, interpolation=interp).astype(np.float32)
        for im in (original, reconstruction)
    ]
    # The cells are found in the text box proper (not the padding), but span the padded height.
    bx0, bx1 = round((x - cx0) * s), round((x + w - cx0) * s)
    by0, by1 = round((y - cy0) * s), round((y + h - cy0) * s)
    found, margin = _cells(crops[0][by0:by1, bx0:bx1].astype(np.uint8), n_hint, coarse)
    spans = [(bx0 + a, bx0 + b) for a, b in found]
    if len(spans) < GLYPHS.min_cells:
        return []
    # Blur first: JPEG's 8x8 block edges and ringing are fine-scale; glyph strokes are not.
    grads = []
    for c in crops:
        c = cv2.GaussianBlur(c, (0, 0), 1.2)
        grads.append((cv2.Sobel(c, cv2.CV_32F, 1, 0), cv2.Sobel(c, cv2.CV_32F, 0, 1)))
    diff = np.hypot(grads[0][0] - grads[1][0], grads[0][1] - grads[1][1])
    energy = np.hypot(*grads[0])
    wide = [(max(0, a - margin), min(size[0], b + margin)) for a, b in spans]
    cell_energy = np.array([energy[:, a:b].mean() for a, b in wide])
    typical = float(np.median(cell_energy))
    if typical < 1.0:  # a flat box (no strokes): nothing to compare
        return []
    change = np.array([diff[:, a:b].mean() for a, b in wide]) / typical
    # Touching glyphs make one wide cell: count a cell as round(width / median width) characters.
    widths = np.array([b - a for a, b in spans], dtype=float)
    per_cell = np.maximum(1, np.round(widths / np.median(widths))).astype(int)
    first_char = np.concatenate([[0], np.cumsum(per_cell)[:-1]])
    cells = []
    for i, (a, b) in enumerate(wide):  # the box is where it was measured
        noise = max(float(np.median(np.delete(change, i))), GLYPHS.noise_min)
        x0, x1 = cx0 + a / s, cx0 + b / s
        cbox = (int(round(x0)), int(y), max(1, int(round(x1 - x0))), int(h))
        char = int(first_char[i]) if n_hint <= 0 else min(n_hint - 1, int(first_char[i]))
        cells.append(GlyphCell(cbox, i, char, round(float(change[i]), 4), round(float(change[i]) / noise, 3)))
    return cells


def flagged(
    cells: list[GlyphCell], ratio: float = RATIO_THRESHOLD, floor: float = CHANGE_FLOOR
) -> list[GlyphCell]:
    return [c for c in cells if c.ratio >= ratio and c.change >= floor]


def group_adjacent(cells: list[GlyphCell]) -> list[list[GlyphCell]]:
    """Neighbouring flagged cells are one change (a glyph that grew into its neighbour)."""
    groups: list[list[GlyphCell]] = []
    for c in sorted(cells, key=lambda c: c.index):
        if groups and c.index == groups[-1][-1].index + 1:
            groups[-1].append(c)
        else:
            groups.append([c])
    return groups


def glyph_score(ratio: float, threshold: float = RATIO_THRESHOLD) -> float:
    """0.5 at the threshold, towards 1 as the cell stands further out of its box's noise."""
    return round(0.5 + 0.5 * float(np.tanh(ratio / threshold - 1.0)), 4)


def refine(
    finding: Finding, text: str, cells: list[GlyphCell], threshold: float = RATIO_THRESHOLD
) -> Finding:
    """An OCR substitution finding and changed glyph cells at the same place become one finding, with
    the cells' box (measured, unlike the proportional character box OCR allows)."""
    x, y, w, h = Box.union_of([c.box for c in cells])
    details = finding.details | {"glyph_cells": [dataclasses.asdict(c) for c in cells]}
    ratio = max(c.ratio for c in cells)
    chars = ", ".join(str(c.char + 1) for c in cells)
    return dataclasses.replace(
        finding, x=x, y=y, w=w, h=h, finding_id="", details=details,
        evidence=f"{finding.evidence}; glyph changed in text {text!r} at char {chars} "
        f"({ratio:.1f}× the box's noise)",
        score=max(finding.score, glyph_score(ratio, threshold)),
    )  # fmt: skip


def glyph_finding(
    pair_id: str, detector: str, line_box: Box, texts: tuple[str, str], normalised: tuple[str, str],
    group: list[GlyphCell], threshold: float = RATIO_THRESHOLD,
) -> Finding:  # fmt: skip
    """A changed glyph that no OCR edit explains (``texts``: raw reads, original and reconstruction)."""
    a, b = normalised
    idx = sorted({c.char for c in group})
    if a == b:
        ocr = "OCR reads the same"
    elif len(a) == len(b) and max(idx) < len(a):  # cell k is character k when the counts match
        ocr = f"OCR reads {''.join(a[i] for i in idx)!r}→{''.join(b[i] for i in idx)!r}"
    else:
        ocr = f"OCR reads {texts[0]!r}→{texts[1]!r}"
    ratio = max(c.ratio for c in group)
    x, y, w, h = Box.union_of([c.box for c in group])
    details = {
        "kind": "glyph", "original_text": texts[0], "reconstruction_text": texts[1],
        "line_box": list(line_box), "glyph_cells": [dataclasses.asdict(c) for c in group],
    }  # fmt: skip
    # A glyph whose contour changed is a shape change of a symbol, like an OCR substitution.
    return Finding(
        pair_id=pair_id, detector=detector, x=x, y=y, w=w, h=h, category=Category.SHAPE.value, symbol=True,
        score=glyph_score(ratio, threshold), details=details,
        evidence=(f"glyph changed in text {texts[0]!r} at char {', '.join(str(i + 1) for i in idx)} "
                  f"({ocr}; {ratio:.1f}× the box's noise)"),
    ).with_line(line_box, *texts)  # fmt: skip


__all__ = [
    "CHANGE_FLOOR", "CONFIRM_RATIO", "GLYPHS", "RATIO_THRESHOLD", "GlyphCell", "GlyphConfig", "flagged",
    "glyph_cells", "glyph_finding", "refine",
]  # fmt: skip
