"""Features of the ORIGINAL per grid cell: what the risk map and the factor model see before any codec
runs. Every feature is cheap (the whole map must cost under 0.5 s CPU per megapixel) and has a plain
meaning, so the factor table can be quoted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from miscomp.config import defined, tuned

# Column order of the feature matrix; FEATURE_DOC says what each one is (docs and the factor table).
FEATURE_DOC = {
    "text": "share of the cell inside a text line the OCR detector finds in the original",
    "text_lines": "text lines over the cell, each counted by the share of the cell it covers",
    "text_height": "height in px of the smallest text line over the cell (0 where none)",
    "text_fineness": "10 px / that height (0 where no text): grows as the text gets smaller",
    "small_text": "1 where a text line under 10 px high covers the cell",
    "text_prob": "mean text probability of the OCR detector's network over the cell (no boxes, half scale)",
    "text_prob_line": "text probability over the cell and the two cells either side in its row",
    "text_prob_area": "text probability over the cell and its 8 neighbours",
    "text_prob_fine": "text probability as text_prob, but at full scale on the cells with the most thin "
    "strokes along their row (small text the half-scale map misses)",
    "text_prob_fine_line": "that probability over the cell and the two cells either side in its row",
    "text_prob_fine_area": "that probability over the cell and its 8 neighbours",
    "contrast": "standard deviation of L* in the cell",
    "contrast_wide": "that contrast averaged over the cell's 7×7 neighbourhood (112 px: a dial face, a sign)",
    "edges": "share of Canny edge pixels",
    "detail": "mean |Laplacian| of L* (fine detail energy)",
    "strokes": "thin dark/bright strokes: mean morphological black-hat + top-hat of L*",
    "edges_line": "edge density over the cell and the two cells either side in its row (a line of text)",
    "edges_area": "edge density over the cell and its 8 neighbours",
    "strokes_line": "thin strokes over the cell and the two cells either side in its row",
    "strokes_area": "thin strokes over the cell and its 8 neighbours",
    "detail_line": "fine detail over the cell and the two cells either side in its row",
    "detail_area": "fine detail over the cell and its 8 neighbours",
    "coherence": "structure-tensor coherence (oriented structure vs texture)",
    "saturation": "mean chroma (C*ab)",
    "entropy": "entropy of the cell's 16-level L* histogram (bits)",
    "face": "share of the cell inside a face OpenCV's frontal cascade finds",
    "y": "vertical position of the cell's centre (0 top, 1 bottom)",
    "centre": "distance of the cell's centre from the image centre (0..1)",
}
FEATURES = tuple(FEATURE_DOC)


@dataclass(frozen=True)
class FeatureConfig:
    cell: int = defined(16, "the risk map's resolution: 16 px; 32 px cells wasted the 5 % area budget")
    canny_low: int = defined(50, "OpenCV's usual Canny pair for 8-bit images")
    canny_high: int = defined(150, "OpenCV's usual Canny pair for 8-bit images")
    stroke_kernel: int = defined(7, "black/top-hat element: strokes of text up to ~20 px are 1-5 px wide")
    small_text_px: float = defined(10.0, "the issue's factor 'text under 10 px'")
    det_growth: float = defined(
        2.6, "rapidocr's detector grows a line's polygon by unclip_ratio 1.6 of its height: line = box / 2.6"
    )
    text_detect: bool = defined(True, "OCR text lines are the strongest factor; off for a quick map")
    face_detect: bool = defined(True, "the factor table's 'face present'; off for the map (0.1 s/MP, unused)")
    text_prob: bool = defined(True, "the text detector's probability map: the map's text feature (no boxes)")
    text_prob_scale: float = tuned(
        0.5,
        "benchmarks/risk_map tune splits, 3-fold CV over images of both beds (scales 0.25-1.0)",
        "CV score 0.901 at 0.5, 0.899 at 0.25, 0.897 at 0.375 (docs/decisions/risk-map.md); the "
        "network alone costs ~0.25 s CPU/MP at 0.5, ~1 s at full scale (over the map's 0.5 s budget)",
    )
    fine_share: float = tuned(
        0.08,
        "benchmarks/risk_map tune splits, 3-fold CV over images of both beds (docs/decisions/risk-map.md, "
        "s36): shares 0.08 / 0.12 / 0.2 of 4×4-cell blocks",
        "CV score 0.907 / 0.906 / 0.906 (half scale only 0.902); the pass costs ~1 s CPU per megapixel "
        "it sees (with its margins ~0.1 s/MP of the image at 0.08)",
    )
    fine_block: int = tuned(
        4, "s36 CV and cost, as fine_share", "2×2 cells: CV 0.903, 1.3× the cost; 8×8: 0.902 (64 px kept)"
    )
    fine_margin: int = defined(
        16, "context around each full-scale crop (the network's map is off at a crop's edge); 32: no gain"
    )
    wide_cells: int = defined(7, "a wide neighbourhood: 7×7 cells (112 px), about a dial face or a sign")
    line_cells: int = defined(5, "context along a row: 5 cells (80 px), a word or two of small text")
    area_cells: int = defined(3, "context around a cell: its 3×3 neighbourhood")


@dataclass(frozen=True)
class CellGrid:
    """Per-cell features of one original: ``values`` is rows × cols × len(FEATURES)."""

    width: int
    height: int
    cell: int
    values: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.values.shape[:2]

    def flat(self) -> np.ndarray:
        return self.values.reshape(-1, self.values.shape[-1])

    def cell_boxes(self) -> np.ndarray:
        """x, y, w, h of every cell (row-major), clipped to the image."""
        rows, cols = self.shape
        ys, xs = np.mgrid[0:rows, 0:cols]
        x0, y0 = xs.ravel() * self.cell, ys.ravel() * self.cell
        w = np.minimum(self.cell, self.width - x0)
        h = np.minimum(self.cell, self.height - y0)
        return np.stack([x0, y0, w, h], axis=1)


class _Cells:
    """Means over the cells of one image (the last row/column of cells may be partial). The pixel count
    of each cell is computed once per image: recomputing it for every feature was most of the map's
    cost (same values)."""

    def __init__(self, h: int, w: int, cell: int) -> None:
        self.h, self.w, self.cell = h, w, cell
        self.rows, self.cols = -(-h // cell), -(-w // cell)
        ones = np.zeros((self.rows * cell, self.cols * cell), np.float64)
        ones[:h, :w] = 1.0
        self.count = np.maximum(self._sum(ones), 1)

    def _sum(self, padded: np.ndarray) -> np.ndarray:
        c = self.cell
        return padded.reshape(self.rows, c, self.cols, c).sum(axis=(1, 3))

    def mean(self, img: np.ndarray) -> np.ndarray:
        padded = np.zeros((self.rows * self.cell, self.cols * self.cell), np.float64)
        padded[: self.h, : self.w] = img
        return self._sum(padded) / self.count

    def histogram(self, levels: np.ndarray, n: int) -> np.ndarray:
        """rows × cols × n: the share of each cell's pixels at each of the ``n`` integer levels."""
        c = self.cell
        index = (np.arange(self.h)[:, None] // c) * self.cols + np.arange(self.w)[None, :] // c
        counts = np.bincount((index * n + levels).ravel(), minlength=self.rows * self.cols * n)
        return counts.reshape(self.rows, self.cols, n) / self.count[..., None]


def _context(v: np.ndarray, cfg: FeatureConfig) -> tuple[np.ndarray, np.ndarray]:
    """A cell feature averaged over a row window and over a square around each cell (edges repeated):
    a cell inside a line of small text has busy neighbours along the line, an isolated edge does not."""
    import cv2

    v = v.astype(np.float32)
    line = cv2.blur(v, (cfg.line_cells, 1), borderType=cv2.BORDER_REPLICATE)
    area = cv2.blur(v, (cfg.area_cells, cfg.area_cells), borderType=cv2.BORDER_REPLICATE)
    return line.astype(np.float64), area.astype(np.float64)


def text_lines(rgb: np.ndarray, engine=None) -> list[tuple[int, int, int, int]]:
    """Text line boxes of the original at its own scale (rapidocr's detector, no recognition)."""
    return [tuple(int(v) for v in b) for b in (engine or text_engine()).detect(rgb)]


def faces(gray: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Frontal faces of 24 px and more (OpenCV's Haar cascade, which ships with OpenCV). It runs at half
    resolution: at full resolution it alone cost 0.31 s CPU per megapixel, most of the map's budget."""
    import cv2

    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    half = cv2.resize(
        gray, (max(1, gray.shape[1] // 2), max(1, gray.shape[0] // 2)), interpolation=cv2.INTER_AREA
    )
    found = cascade.detectMultiScale(half, scaleFactor=1.2, minNeighbors=5, minSize=(12, 12))
    return [tuple(int(2 * v) for v in f) for f in found]


def _boxes_mask(boxes, h: int, w: int) -> np.ndarray:
    mask = np.zeros((h, w), np.float32)
    for x, y, bw, bh in boxes:
        mask[y : y + bh, x : x + bw] = 1.0
    return mask


def _line_features(lines, cells: _Cells, cfg: FeatureConfig) -> tuple[np.ndarray, ...]:
    """Per cell from text line boxes: share inside a line, lines over it, the smallest line's height in
    px (0 where none), 'small text' (0/1) and fineness (10 px / that height, 0 where none)."""
    rows, cols, c, h, w = cells.rows, cells.cols, cells.cell, cells.h, cells.w
    if not lines:
        zero = np.zeros((rows, cols))
        return zero, zero, zero, zero, zero
    nlines = np.zeros((h, w), np.float32)
    height = np.full((h, w), np.inf, np.float32)
    for x, y, bw, bh in lines:
        nlines[y : y + bh, x : x + bw] += 1.0
        line_h = bh / cfg.det_growth
        height[y : y + bh, x : x + bw] = np.minimum(height[y : y + bh, x : x + bw], line_h)
    # the smallest line over the cell: a min over cells (inf where no line)
    hpad = np.full((rows * c, cols * c), np.inf, np.float32)
    hpad[:h, :w] = height
    text_h = hpad.reshape(rows, c, cols, c).min(axis=(1, 3))
    small = (text_h < cfg.small_text_px).astype(np.float64)
    fineness = np.where(np.isfinite(text_h), cfg.small_text_px / np.maximum(text_h, 1.0), 0.0)
    text_h = np.where(np.isfinite(text_h), text_h, 0.0)
    return cells.mean(_boxes_mask(lines, h, w)), cells.mean(nlines), text_h, small, fineness


def text_probability(rgb: np.ndarray, scale: float, engine=None) -> np.ndarray:
    """How text-like each pixel looks: the OCR text detector's own probability map (rapidocr's DB
    network alone: no boxes, no recognition), run at ``scale`` of the image to fit the map's budget."""
    return (engine or text_engine()).text_probability(rgb, scale)


def fine_cells(strokes_line: np.ndarray, share: float, block: int) -> np.ndarray:
    """The cells (rows × cols bool) for the full-scale pass: the ``share`` of blocks of ``block`` ×
    ``block`` cells with the most thin strokes along their rows (ties in reading order). Small text is
    strokes in a row; the half-scale map barely sees numerals of 8 px (a dial's 0.11 where full scale
    gives 1.0). Blocks, not cells: the network needs context, and a few larger crops cost less than many
    small ones with their margins."""
    rows, cols = strokes_line.shape
    br, bc = -(-rows // block), -(-cols // block)
    pad = np.full((br * block, bc * block), np.nan)
    pad[:rows, :cols] = strokes_line
    score = np.nanmean(pad.reshape(br, block, bc, block), axis=(1, 3))
    k = int(round(share * score.size))
    chosen = np.zeros(score.size, bool)
    chosen[np.argsort(-score.ravel(), kind="stable")[:k]] = True
    cells = np.repeat(np.repeat(chosen.reshape(br, bc), block, 0), block, 1)
    return cells[:rows, :cols]


def fine_probability(
    rgb: np.ndarray, coarse: np.ndarray, chosen: np.ndarray, cfg: FeatureConfig, engine=None
) -> np.ndarray:
    """``coarse`` (the half-scale map, H×W) with the chosen cells replaced by the detector's map at full
    scale. The network runs on the bounding boxes of the chosen cells' connected groups, each with
    ``cfg.fine_margin`` px of context, so its cost follows the chosen area, not the image's."""
    import cv2

    if not chosen.any():
        return coarse
    engine = engine or text_engine()
    h, w = rgb.shape[:2]
    c, m = cfg.cell, cfg.fine_margin
    out = coarse.copy()
    n, _, stats, _ = cv2.connectedComponentsWithStats(chosen.astype(np.uint8), connectivity=8)
    for x, y, bw, bh, _area in stats[1:]:
        x0, x1 = _aligned(x * c - m, (x + bw) * c + m, w)
        y0, y1 = _aligned(y * c - m, (y + bh) * c + m, h)
        prob = engine.text_probability(np.ascontiguousarray(rgb[y0:y1, x0:x1]), 1.0)
        inner = np.zeros((y1 - y0, x1 - x0), bool)
        sel = np.repeat(np.repeat(chosen[y : y + bh, x : x + bw], c, 0), c, 1)
        iy, ix = y * c - y0, x * c - x0
        sel = sel[: y1 - y0 - iy, : x1 - x0 - ix]
        inner[iy : iy + sel.shape[0], ix : ix + sel.shape[1]] = sel
        out[y0:y1, x0:x1][inner] = prob[inner]
    return out


def _aligned(a: int, b: int, side: int, step: int = 32) -> tuple[int, int]:
    """[a, b) clipped to [0, side) and grown to a multiple of ``step`` where the image allows: the
    network's input sides are multiples of 32, so the crop is seen at exactly full scale, not resized."""
    a, b = max(0, a), min(side, b)
    grow = -(b - a) % step
    b2 = min(side, b + grow)
    return max(0, a - (grow - (b2 - b))), b2


def text_engine():
    """The OCR engine whose detector the features use (rapidocr, one thread): load it once for many
    images (its models take longer to load than one map takes to compute)."""
    from miscomp.detect.ocr.engines import RapidOCREngine

    return RapidOCREngine(threads=1)


def cell_features(
    rgb: np.ndarray,
    cfg: FeatureConfig = FeatureConfig(),
    lines: list[tuple[int, int, int, int]] | None = None,
    engine=None,
) -> CellGrid:
    """Features of every cell of ``rgb`` (H×W×3 uint8). ``lines`` (text line boxes) skips detection."""
    import cv2

    h, w = rgb.shape[:2]
    c = cfg.cell
    cells = _Cells(h, w, c)
    rows, cols = cells.rows, cells.cols
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    L = lab[..., 0] * (100.0 / 255.0)
    chroma = np.hypot(lab[..., 1] - 128.0, lab[..., 2] - 128.0)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)

    mean_L = cells.mean(L)
    contrast = np.sqrt(np.maximum(cells.mean(L * L) - mean_L**2, 0))
    edges = cells.mean(cv2.Canny(gray, cfg.canny_low, cfg.canny_high) > 0)
    detail = cells.mean(np.abs(cv2.Laplacian(L, cv2.CV_32F, ksize=3)))
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (cfg.stroke_kernel, cfg.stroke_kernel))
    hats = cv2.morphologyEx(L, cv2.MORPH_BLACKHAT, k) + cv2.morphologyEx(L, cv2.MORPH_TOPHAT, k)
    strokes = cells.mean(hats)
    gx, gy = cv2.Sobel(L, cv2.CV_32F, 1, 0), cv2.Sobel(L, cv2.CV_32F, 0, 1)
    jxx, jyy, jxy = (cells.mean(v) for v in (gx * gx, gy * gy, gx * gy))
    coherence = np.sqrt((jxx - jyy) ** 2 + 4 * jxy**2) / np.maximum(jxx + jyy, 1e-6)
    saturation = cells.mean(chroma)
    levels = np.minimum((L / 100.0 * 16).astype(np.int64), 15)
    hist = cells.histogram(levels, 16)
    entropy = -(hist * np.log2(np.where(hist > 0, hist, 1))).sum(axis=-1)

    if engine is None and (cfg.text_prob or (lines is None and cfg.text_detect)):
        engine = text_engine()  # one detector for the line boxes and the probability map, loaded once
    if lines is None:
        lines = text_lines(rgb, engine) if cfg.text_detect else []
    text_share, nlines, text_h, small, fineness = _line_features(lines, cells, cfg)
    found = faces(gray) if cfg.face_detect else []
    face_share = cells.mean(_boxes_mask(found, h, w)) if found else np.zeros((rows, cols))
    strokes_ctx = _context(strokes, cfg)
    if cfg.text_prob:
        coarse = text_probability(rgb, cfg.text_prob_scale, engine)
        text_prob = cells.mean(coarse)
        chosen = fine_cells(strokes_ctx[0], cfg.fine_share, cfg.fine_block)
        text_prob_fine = cells.mean(fine_probability(rgb, coarse, chosen, cfg, engine))
    else:
        text_prob = text_prob_fine = np.zeros((rows, cols))

    ys, xs = np.mgrid[0:rows, 0:cols]
    cy = (ys * c + np.minimum(c, h - ys * c) / 2) / h
    cx = (xs * c + np.minimum(c, w - xs * c) / 2) / w
    centre = np.hypot(cx - 0.5, cy - 0.5) / np.hypot(0.5, 0.5)
    stack = [
        text_share,
        nlines,
        text_h,
        fineness,
        small,
        text_prob,
        *_context(text_prob, cfg),
        text_prob_fine,
        *_context(text_prob_fine, cfg),
        contrast,
        cv2.blur(
            contrast.astype(np.float32), (cfg.wide_cells, cfg.wide_cells), borderType=cv2.BORDER_REPLICATE
        ),
        edges,
        detail,
        strokes,
        *_context(edges, cfg),
        *strokes_ctx,
        *_context(detail, cfg),
        coherence,
        saturation,
        entropy,
    ]
    stack += [face_share, cy, centre]
    return CellGrid(width=w, height=h, cell=c, values=np.stack(stack, axis=-1).astype(np.float32))
