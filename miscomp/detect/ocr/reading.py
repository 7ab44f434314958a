"""Finding all the text of an original, small and dense text included, and reading it twice.

Text detectors miss text a few pixels high: they see the image at one resolution. So the original is
searched at several scales: as is, and upscaled (cubic) in overlapping tiles, each tile small enough for
the detector's input. Boxes found at a larger scale are mapped back to original pixels; a line cut by
a tile border is joined with its other part from the neighbouring tile; a box already found at a
smaller scale is kept from that scale.

Every box is then read twice (as is, and resampled by ``rescale``): a line whose two reads disagree is
unstable, and the comparison never reports a change on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from miscomp.detect.ocr.engines import OCREngine
from miscomp.geometry import Box

# Tile side the detector sees at an upscaled pass (pixels after upscaling). Large on purpose: tiles
# overlap, so small tiles read pixels twice: a 768×512 photo at 2× took 2 tiles of 1280 px (2.6 MP of
# detector input) against one 1536×1024 call (1.6 MP) with 2048.
TILE = 2048
TILE_OVERLAP = 0.15  # of a tile side: a line up to this long is whole in at least one tile
# Pixels of scale-1 context kept around a text-likely blob when only those are upscaled.
LIKELY_MARGIN = 12


@dataclass(frozen=True)
class TextLine:
    """One text box with its two reads (as is, and rescaled). ``scale``: the detection pass that
    found it (1 = the image as is)."""

    box: Box
    text: str
    conf: float
    recheck_text: str
    recheck_conf: float
    scale: float = 1.0


def tiles(h: int, w: int, side: int, overlap: float = TILE_OVERLAP) -> list[Box]:
    """Overlapping windows of at most ``side``² covering an h×w image (one window if it fits)."""

    def starts(n: int) -> list[int]:
        if n <= side:
            return [0]
        step = max(1, int(side * (1 - overlap)))
        out = list(range(0, n - side, step))
        return out + [n - side]

    return [Box(x, y, min(side, w), min(side, h)) for y in starts(h) for x in starts(w)]


def _same_line(a: Box, b: Box) -> bool:
    """Two parts of one line cut by a tile border: they touch and share most of their height."""
    if not a.overlaps(b) and not (a.x <= b.x + b.w + 2 and b.x <= a.x + a.w + 2):
        return False
    top, bottom = max(a.y, b.y), min(a.y + a.h, b.y + b.h)
    # Most of BOTH heights: with the smaller one, a tall spurious box (rapidocr returns some over
    # textured photo areas) swallowed a real line beside it (kodim01: 'RG238BR' lost in a 747×165 box).
    return bottom - top >= 0.6 * max(a.h, b.h)


def _covered(box: Box, kept: list[Box], frac: float = 0.5) -> bool:
    """Most of ``box`` (or of a kept box) is already covered by a kept box."""
    return any(box.intersection(k) >= frac * min(box.area, k.area) for k in kept)


def merge_pass(found: list[Box]) -> list[Box]:
    """Join parts of one line found in overlapping tiles (to a fixpoint; passes have few boxes)."""
    boxes = list(found)
    changed = True
    while changed:
        changed = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                if _same_line(boxes[i], boxes[j]):
                    boxes[i] = Box.union_of([boxes[i], boxes[j]])
                    del boxes[j]
                    changed = True
                    break
            if changed:
                break
    return boxes


def _split_blocks(kept: list[tuple[Box, float]], finer: list[Box], s: float) -> list[tuple[Box, float]]:
    """A box of a smaller scale that holds several lines of dense text found at scale ``s`` (a table
    seen as one block) is replaced by those lines."""
    out: list[tuple[Box, float]] = []
    for box, scale in kept:
        inside = [b for b in finer if b.intersection(box) >= 0.5 * b.area]
        stacked = any(
            min(a.y1, b.y1) - max(a.y, b.y) < 0.5 * min(a.h, b.h)
            for i, a in enumerate(inside)
            for b in inside[i + 1 :]
        )
        if len(inside) >= 2 and stacked:
            out += [(b, s) for b in inside]
        else:
            out.append((box, scale))
    return out


def clip_boxes(boxes: list[Box], h: int, w: int, min_side: int) -> list[Box]:
    out = []
    for x, y, bw, bh in boxes:
        x0, y0, x1, y1 = max(0, x), max(0, y), min(w, x + bw), min(h, y + bh)
        if min(x1 - x0, y1 - y0) >= min_side:
            out.append(Box(x0, y0, x1 - x0, y1 - y0))
    return out


def likely_windows(prob: np.ndarray, threshold: float, margin: int = LIKELY_MARGIN) -> list[Box]:
    """Where the detector's text probability at scale 1 reaches ``threshold``: each such blob's box,
    grown by ``margin`` (and by its own height sideways, where a faint line's ends fall below the
    threshold), overlapping boxes joined. Text a few pixels high that the detector cannot box at
    scale 1 still lights its map there; a text-free sky or wall does not."""
    import cv2

    h, w = prob.shape[:2]
    mask = (prob >= threshold).astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    boxes = []
    for x, y, bw, bh, _area in stats[1:n]:
        mx, my = margin + 2 * bh, margin
        x0, y0 = max(0, x - mx), max(0, y - my)
        boxes.append(Box(x0, y0, min(w, x + bw + mx) - x0, min(h, y + bh + my) - y0))
    joined = True
    while joined:  # overlapping windows would detect their shared pixels twice
        joined = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                if boxes[i].overlaps(boxes[j]):
                    boxes[i] = Box.union_of([boxes[i], boxes.pop(j)])
                    joined = True
                    break
            if joined:
                break
    return boxes


def detect_text(
    engine: OCREngine,
    rgb: np.ndarray,
    scales: tuple[float, ...],
    min_side: int = 8,
    tile: int = TILE,
    likely: float = 0.0,
) -> list[tuple[Box, float]]:
    """Text boxes of ``rgb`` over all ``scales`` (ascending), each with the scale that found it.

    ``min_side`` applies in the pixels the detector saw, so a 4 px line found at 3× (12 px) counts.
    With ``likely`` > 0 (and scale 1 among ``scales``, on an engine with a probability map) the
    upscaled passes look only at ``likely_windows`` of scale 1's map, not at the whole image.
    """
    import cv2

    h, w = rgb.shape[:2]
    kept: list[tuple[Box, float]] = []
    areas = [Box(0, 0, w, h)]
    for s in sorted(scales):
        found: list[Box] = []
        if s == 1.0:
            parts = [Box(0, 0, w, h)]
        else:
            side = max(16, round(tile / s))
            parts = [Box(a.x + t.x, a.y + t.y, t.w, t.h) for a in areas for t in tiles(a.h, a.w, side)]
        for t in parts:
            part = rgb[t.y : t.y + t.h, t.x : t.x + t.w]
            if s != 1.0:
                size = (max(1, round(t.w * s)), max(1, round(t.h * s)))
                part = cv2.resize(part, size, interpolation=cv2.INTER_CUBIC)
            ph, pw = part.shape[:2]
            if s == 1.0 and likely > 0:
                raw, prob = engine.detect_map(np.ascontiguousarray(part))
                if prob is not None:
                    areas = likely_windows(prob, likely)
            else:
                raw = engine.detect(np.ascontiguousarray(part))
            for b in clip_boxes(raw, ph, pw, min_side):
                x0, y0 = t.x + b.x / s, t.y + b.y / s
                x1, y1 = t.x + (b.x + b.w) / s, t.y + (b.y + b.h) / s
                found.append(Box(int(x0), int(y0), max(1, round(x1 - int(x0))), max(1, round(y1 - int(y0)))))
        found = merge_pass(clip_boxes(found, h, w, 1))
        found.sort(key=lambda b: -b.area)
        kept = _split_blocks(kept, found, s)
        boxes = [b for b, _ in kept]
        for b in found:
            if not _covered(b, boxes):
                kept.append((b, s))
                boxes.append(b)
    kept.sort(key=lambda bs: (bs[0].y, bs[0].x))
    return kept


def read_lines(
    engine: OCREngine,
    rgb: np.ndarray,
    boxes: list[tuple[Box, float]],
    rescale: float,
    keep: list[bool] | None = None,
) -> list[TextLine]:
    """Each box read as is and resampled by ``rescale`` (the stability check), both in one engine
    call. Boxes whose ``keep`` is False are not read: their line has empty reads ("", 0.0)."""
    first, second = engine.read_boxes(rgb, [b for b, _ in boxes], (1.0, rescale), keep)
    return [
        TextLine(b, t1, c1, t2, c2, s)
        for (b, s), (t1, c1), (t2, c2) in zip(boxes, first, second, strict=True)
    ]


__all__ = [
    "TextLine",
    "clip_boxes",
    "detect_text",
    "likely_windows",
    "merge_pass",
    "read_lines",
    "tiles",
]
