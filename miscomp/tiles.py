"""Detect on large images tile by tile, so that peak memory is bounded whatever the image size.

Detectors hold several float32 maps of the image they see (the diff detector ~25 of them, ~100 MB
each for a 24 MP photo) and EasyOCR's text detector keeps VGG activations of 64+ channels at the
input's resolution. On a 12 MP photo that peaked at 5.0 GB (notes/measured.md). Here the pair is cut
into overlapping tiles (views, not copies); each detector sees one tile at a time, with the tile's
own cache key (so the once-per-original OCR cache still works per tile), and its findings are moved
back to image coordinates. Findings of the same detector and category that overlap are merged (a
region or a text line that crosses a tile border is found in both tiles, in part or whole): the
merged finding has the union box and the evidence and details of the higher-scoring part.

Images at most ``tile`` pixels on each side are analysed whole, as before: tiling changes a
detector's view (the diff detector fits its noise model per tile), so it is used only where the
whole image would not fit. The OCR detector gets 768-pixel tiles (``TilesConfig.ocr_tile``): its text
detection needs ~0.4 GB per megapixel of input, and more than that on larger inputs. It uses them
itself (``detect_in_tiles``): text is found tile by tile, the parts of a line that crosses a tile edge
are joined, and every line is read and compared whole on the full pair. (Cut into tile views, a line
across an edge was read in parts, 'PRICE 4.5' for 'PRICE 4.50 EUR'.)

The face detector holds little per pixel (dlib's HOG features) and sees images up to
``TilesConfig.face_whole_max_pixels`` (25 MP) whole: no overlap scanned twice, no face cut by an edge
(on a 12 MP photo its second codec took 0.47× the time).

Findings move between tile and image coordinates with :meth:`Finding.translated`, which moves
everything a later stage reads (the changed line's box) and the boxes inside ``details``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

from miscomp.config import defined, measured
from miscomp.detect.base import Detector, PairImages
from miscomp.findings import Finding
from miscomp.geometry import Box


@dataclass(frozen=True)
class TilesConfig:
    """How large images are cut for the detectors (pixels)."""

    tile: int = measured(
        2048, "peak RSS of a scan here (notes/measured.md): the diff detector holds ~70 MB per megapixel",
        "+0.28 GB on a 2048² tile; a 12 MP photo analysed whole peaked at 5.0 GB",
    )  # fmt: skip
    overlap: int = defined(
        256, "holds a text line or a diff region of a few hundred pixels whole in one tile"
    )
    # Detectors whose working memory grows faster than the image get smaller tiles.
    ocr_tile: int = measured(
        768, "peak RSS over the process after the model is loaded, 24 MP scan",
        "EasyOCR text detection +0.4 GB on 1024², +2.8 GB on 2048²; 1024-px OCR tiles still peaked at "
        "2.05 GB on 24 MP, so 768",
    )  # fmt: skip

    # Images too large to be seen whole (a side over the run's tile) are cut smaller for the diff
    # detector, whose maps grow with the tile.
    large_image_diff_tile: int = measured(
        1024, "benchmarks/memory.py: the diff detector alone on a 12 MP photo (kodim14 upscaled, JPEG q10)",
        "+1200 MB with 2048-px tiles, +486 MB with 1536, +210 MB with 1024; a default 24 MP scan peaked "
        "at 1242 MB with 1024 and over 1.6 GB with 1536 (issue 28: <= 1.5 GB). The price: diff's noise "
        "model is fitted per tile, and its artefact findings on that photo grew 8 -> 16 -> 52",
    )  # fmt: skip

    # The face detector keeps few per-pixel maps (dlib's HOG feature pyramid: ~11 MB a megapixel in all,
    # and a 150² chip per face for the identity model), so it sees images up to this many
    # pixels whole: cut into 2048² tiles it scanned 25 MP of tile pixels for a 12 MP photo, the overlap
    # two to four times. (A weak face's HOG score also moves with the tile's offset: one below-report
    # finding of that photo was found in one of its four tiles only; docs/decisions/diff-cost.md, s37.)
    face_whole_max_pixels: int = measured(
        25_000_000, "the face detector alone on kodim14 upscaled, WebP q5 (docs/decisions/diff-cost.md, s37)",
        "+257 MB over the pair whole at 24 MP (+39 MB in 2048² tiles), +123 MB at 12 MP; default 24 MP "
        "scans (benchmarks/memory.py) peaked at 1161 MiB (text) and 1175 (photo); side by side, photo "
        "991 tiled vs 1157 whole (issue 28: <= 1430). Larger images are tiled as before",
    )  # fmt: skip

    even: bool = defined(
        False,
        "opt-in: tiles only as long as covering the image with the same number of tiles and this overlap "
        "needs (12 MP: six 1584×1544 tiles instead of six 2048² ones, 14.7 instead of 25.2 MP of "
        "tile pixels). Off by default: it moves tile edges, so findings change (the diff detector's "
        "noise model is fitted per tile); docs/decisions/diff-cost.md, session 36",
    )

    def tile_for(
        self, detector: Detector, tile: int | None = None, size: tuple[int, int] | None = None
    ) -> int:
        """The tile side ``detector`` gets when the run's is ``tile`` (default: this config's; 0: no
        tiling at all) on an image of ``size`` (h, w): one larger than the run's tile gives the diff
        detector smaller tiles (``large_image_diff_tile``); images up to it are analysed whole, and
        by the face detector up to ``face_whole_max_pixels``."""
        tile = self.tile if tile is None else tile
        if tile <= 0:
            return 0
        whole = size is None or (size[0] <= tile and size[1] <= tile)
        if detector.name == "face" and size is not None and size[0] * size[1] <= self.face_whole_max_pixels:
            return 0
        if detector.name == "ocr":
            return min(tile, self.ocr_tile)
        if detector.name == "diff" and not whole:
            return min(tile, self.large_image_diff_tile)
        return tile


TILES = TilesConfig()


def tile_boxes(
    height: int, width: int, tile: int = TILES.tile, overlap: int = TILES.overlap, even: bool = False
) -> list[Box]:
    """Overlapping tiles covering the image; one box (the whole image) when it fits in one tile.
    ``even``: each side's tiles shortened to what covering it with the same number of tiles and
    ``overlap`` needs (:attr:`TilesConfig.even`)."""
    if tile <= 0 or (height <= tile and width <= tile):
        return [Box(0, 0, width, height)]
    if not 0 <= overlap < tile:
        raise ValueError(f"tile overlap {overlap} must be in [0, {tile})")

    def side(size: int) -> tuple[list[int], int]:
        if size <= tile:
            return [0], size
        step = tile - overlap
        n = -(-(size - overlap) // step)  # ceil: enough tiles to cover the side
        # The same number of tiles, each just long enough that neighbours overlap by `overlap`.
        length = min(tile, -(-(size + (n - 1) * overlap) // n)) if even else tile
        # Spread the tiles evenly so the last one ends at the border instead of being a sliver.
        return [round(i * (size - length) / (n - 1)) for i in range(n)], length

    (ys, th), (xs, tw) = side(height), side(width)
    return [Box(x, y, min(tw, width - x), min(th, height - y)) for y in ys for x in xs]


def detect_tiled(
    detector: Detector, images: PairImages, tile: int | None = None, overlap: int | None = None,
    config: TilesConfig = TILES,
) -> list[Finding]:  # fmt: skip
    """``detector.detect`` on the whole pair, or tile by tile with findings merged across tiles."""
    return detect_tiled_counted(detector, images, tile, overlap, config)[0]


def detect_tiled_counted(
    detector: Detector, images: PairImages, tile: int | None = None, overlap: int | None = None,
    config: TilesConfig = TILES,
) -> tuple[list[Finding], dict[str, int]]:  # fmt: skip
    """:func:`detect_tiled` plus the detector's counts, summed over the tiles. ``tile`` and
    ``overlap`` override the config's. Where a detector is cut into tile views, text in the overlap of
    two tiles is counted in both: a rate (errors / characters) barely moves, an absolute count does."""
    h, w = images.original.shape[:2]
    tile = config.tile_for(detector, tile, (h, w))
    overlap = config.overlap if overlap is None else overlap
    boxes = tile_boxes(h, w, tile, min(overlap, tile // 4), config.even)
    in_tiles = getattr(detector, "detect_in_tiles", None)
    if in_tiles is not None:
        # The detector uses the tiles itself: the OCR detector finds text tile by tile and reads each
        # line whole on the full pair, so no tile edge cuts a line.
        return in_tiles(images, boxes)
    if len(boxes) == 1:
        return detector.detect_counted(images)
    found: list[tuple[int, Finding]] = []
    counts: Counter[str] = Counter()
    for i, b in enumerate(boxes):
        # Earlier detectors' findings that lie wholly in this tile, in tile coordinates: a detector
        # that reports on them (caption) returns their exact boxes, which merge_by_box then folds in.
        prior = tuple(f.translated(-b.x, -b.y) for f in images.prior if _inside(f.box, b))
        sub = PairImages(
            images.pair_id,
            images.original[b.y : b.y1, b.x : b.x1],
            images.reconstruction[b.y : b.y1, b.x : b.x1],
            f"{images.original_sha256}@{b.x},{b.y},{b.w},{b.h}" if images.original_sha256 else "",
            images.codec,
            images.bpp,
            prior,
            images.image_size or (h, w),
        )
        tile_findings, tile_counts = detector.detect_counted(sub)
        found.extend((i, f.translated(b.x, b.y)) for f in tile_findings)
        counts.update(tile_counts)
    return merge_across_tiles(found), dict(counts)


def _inside(box: Box, tile: Box) -> bool:
    return tile.x <= box.x and tile.y <= box.y and box.x1 <= tile.x1 and box.y1 <= tile.y1


def merge_across_tiles(findings: list[tuple[int, Finding]]) -> list[Finding]:
    """Merge findings (tile index, finding) of the same detector and kind that overlap and come from
    different tiles (findings within one tile stay as the detector made them): each group connected
    by such overlaps becomes one finding with the union box and the best part's evidence."""
    groups: list[list[tuple[int, Finding]]] = []
    for tile, f in sorted(findings, key=lambda t: (-t[1].score, t[1].y, t[1].x, t[0])):
        hits = [
            g for g in groups
            if any(t != tile and _same_kind(o, f) and f.box.overlaps(o.box) for t, o in g)
        ]  # fmt: skip
        if not hits:
            groups.append([(tile, f)])
            continue
        merged = [(tile, f)] + [m for g in hits for m in g]
        groups = [g for g in groups if all(g is not h for h in hits)] + [merged]
    out = []
    for members in groups:
        g = [f for _, f in members]
        best = max(g, key=lambda f: (f.score, -f.y, -f.x))
        if len(g) == 1:
            out.append(best)
            continue
        u = Box.union_of(o.box for o in g)
        details = best.details | {"tiles_merged": len(g)}
        out.append(replace(best, x=u.x, y=u.y, w=u.w, h=u.h, details=details, finding_id=""))
    return sorted(out, key=lambda f: (-f.score, f.y, f.x))


def _same_kind(a: Finding, b: Finding) -> bool:
    return a.detector == b.detector and a.category == b.category and a.symbol == b.symbol
