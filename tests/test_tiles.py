"""Tiled detection: tiles cover the image with overlap; findings that cross tile borders are merged
back into one finding in image coordinates; small images are analysed whole."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from benchmarks.golden_findings import CARDS, card_photo
from miscomp.detect.base import Detector, PairImages
from miscomp.findings import Finding
from miscomp.geometry import Box
from miscomp.tiles import detect_tiled, detect_tiled_counted, merge_across_tiles, tile_boxes


class ChangedBlobs(Detector):
    """One finding per connected changed region of the pair (what the detector sees), plus the
    region's box in ``details`` to check that coordinates inside details move too."""

    name = "blobs"

    def __init__(self) -> None:
        self.seen: list[tuple[int, int]] = []
        self.keys: list[str] = []
        self.sizes: list[tuple[int, int] | None] = []

    def detect(self, images: PairImages) -> list[Finding]:
        self.seen.append(images.original.shape[:2])
        self.keys.append(images.original_sha256)
        self.sizes.append(images.image_size)
        changed = (images.original != images.reconstruction).any(axis=2).astype(np.uint8)
        n, _, stats, _ = cv2.connectedComponentsWithStats(changed)
        out = []
        for x, y, w, h, _area in stats[1:n]:
            box = [int(x), int(y), int(w), int(h)]
            out.append(
                Finding(
                    images.pair_id,
                    self.name,
                    *box,
                    category="shape",
                    symbol=False,
                    score=0.9,
                    evidence="changed",
                    details={"edit_boxes": [box]},
                )  # fmt: skip
            )
        return out


def test_tiles_cover_the_image_with_overlap():
    assert tile_boxes(500, 700, tile=1024) == [Box(0, 0, 700, 500)]
    boxes = tile_boxes(4000, 6000, tile=2048, overlap=256)
    cover = np.zeros((4000, 6000), np.uint8)
    for b in boxes:
        assert b.w <= 2048 and b.h <= 2048
        cover[b.y : b.y1, b.x : b.x1] += 1
    assert cover.min() >= 1 and len(boxes) == 4 * 3
    # neighbours overlap by at least the asked overlap
    xs = sorted({b.x for b in boxes})
    assert all(a + 2048 - b >= 256 for a, b in zip(xs, xs[1:], strict=False))


def test_a_change_across_tile_borders_is_one_finding_in_image_coordinates():
    rng = np.random.default_rng(0)
    orig = rng.integers(0, 255, (1500, 1700, 3), dtype=np.uint8)
    rec = orig.copy()
    true_box = Box(900, 700, 300, 200)  # crosses both the vertical and the horizontal tile border
    rec[true_box.y : true_box.y1, true_box.x : true_box.x1] ^= 0x40
    small = Box(100, 100, 20, 20)  # inside the first tile only
    rec[small.y : small.y1, small.x : small.x1] ^= 0x40
    det = ChangedBlobs()
    found = detect_tiled(det, PairImages("p", orig, rec, "sha"), tile=1024, overlap=128)
    assert all(max(s) <= 1024 for s in det.seen) and len(det.seen) == 4
    assert len(set(det.keys)) == 4 and all(k.startswith("sha@") for k in det.keys)  # a cache key per tile
    assert det.sizes == [(1500, 1700)] * 4  # each tile knows the whole image's size
    boxes = sorted(f.box for f in found)
    assert boxes == sorted([small, true_box])
    merged = next(f for f in found if f.box == true_box)
    assert merged.details["tiles_merged"] == 4 and merged.finding_id  # id recomputed from the new box
    # details coordinates moved with the finding: the best part's edit box lies inside the merged box
    ex, ey, ew, eh = merged.details["edit_boxes"][0]
    assert Box(ex, ey, ew, eh).intersection(true_box) == ew * eh > 0


def test_small_images_are_analysed_whole_and_unchanged():
    orig = np.zeros((300, 400, 3), np.uint8)
    rec = orig.copy()
    rec[10:20, 10:20] = 9
    det = ChangedBlobs()
    whole = det.detect(PairImages("p", orig, rec))
    assert detect_tiled(det, PairImages("p", orig, rec), tile=1024) == whole


def test_findings_within_one_tile_are_never_merged():
    a = Finding("p", "d", 0, 0, 10, 10, category="shape", symbol=False, score=0.5, evidence="a")
    b = Finding("p", "d", 5, 5, 10, 10, category="shape", symbol=False, score=0.6, evidence="b")
    assert len(merge_across_tiles([(0, a), (0, b)])) == 2
    assert len(merge_across_tiles([(0, a), (1, b)])) == 1


class CountingBlobs(ChangedBlobs):
    """Counts the changed regions it sees per tile, as the OCR detector counts its lines."""

    def detect_counted(self, images: PairImages) -> tuple[list[Finding], dict[str, int]]:
        found = self.detect(images)
        return found, {"regions": len(found), "tiles": 1}


def test_counts_add_up_over_tiles():
    orig = np.zeros((1500, 1500, 3), np.uint8)
    rec = orig.copy()
    rec[100:120, 100:120] = 255  # one change in the first tile only
    rec[1400:1420, 1400:1420] = 255  # one in the last
    det = CountingBlobs()
    found, counts = detect_tiled_counted(det, PairImages("p", orig, rec), tile=1024, overlap=128)
    assert len(found) == 2 and counts == {"regions": 2, "tiles": len(det.seen)} and len(det.seen) == 4
    assert detect_tiled_counted(ChangedBlobs(), PairImages("p", orig, rec), tile=0)[1] == {}


# ---- text on a full-size photo: the OCR detector finds text tile by tile and reads each line whole ----

# The card photo of the golden findings (benchmarks/golden_findings.py): one line in the lower-right OCR
# tile only, one cut by every tile.
LOWER, ACROSS = CARDS


@pytest.fixture(scope="module")
def photo_scan():
    """A 2400×1600 photo with two price cards whose digit a codec changed (then JPEG q85), scanned
    as the scan does (diff + OCR, default tiles; OCR at scale 1 to keep the test short)."""
    pytest.importorskip("rapidocr")
    pytest.importorskip("onnxruntime")
    from miscomp.codecs import create_codec
    from miscomp.detect.diff import DiffDetector
    from miscomp.detect.ocr.detector import OCRDetector
    from miscomp.run import detect_pair

    orig = card_photo(changed=False)
    rec = create_codec("jpeg:quality=85").apply(card_photo(changed=True))
    detectors = [DiffDetector(), OCRDetector(scales="1")]
    images = PairImages("photo", orig, rec.reconstruction, "sha-photo", "jpeg:quality=85")
    found, _counts, problems = detect_pair(images, detectors)
    assert not problems
    return images, detectors, found


def _card_line(text: str, at: tuple[int, int]) -> Box:
    from PIL import Image, ImageDraw

    from miscomp.synth.scenes import font

    left, top, right, bottom = ImageDraw.Draw(Image.new("RGB", (8, 8))).textbbox(at, text, font=font(56))
    return Box(left, top, right - left, bottom - top)


@pytest.mark.slow
@pytest.mark.parametrize("card", [LOWER, ACROSS], ids=["lower-tile", "across-tile-edges"])
def test_a_changed_line_on_a_large_photo_is_read_whole_in_image_coordinates(photo_scan, card):
    from miscomp.tiles import TILES

    images, _, found = photo_scan
    before, after, at = card
    text = _card_line(before, at)
    tiles = tile_boxes(1600, 2400, TILES.ocr_tile, TILES.ocr_tile // 4)
    assert len(tiles) > 1
    if card is ACROSS:  # no tile holds this line whole
        assert not any(t.x <= text.x and text.x1 <= t.x1 for t in tiles)
    else:
        assert text.y >= max(t.y for t in tiles)  # only the lowest row of tiles holds it
    ocr = [f for f in found if f.detector == "ocr" and f.line_box is not None and f.line_box.overlaps(text)]
    assert ocr and all(f.symbol for f in ocr)
    for f in ocr:
        assert f.original_text == before and f.reconstruction_text == after  # read whole, both sides
        assert f.line_box.intersection(text) >= 0.9 * text.area  # the line box is in image pixels
        assert f.line_box.intersection(f.box) == f.box.area  # and holds the finding
    # every finding mostly over the changed line carries the symbol flag, diff's included
    over = [f for f in found if f.box.intersection(ocr[0].line_box) >= 0.5 * f.box.area]
    assert {f.detector for f in over} == {"diff", "ocr"} and all(f.symbol for f in over)


def _kind(f: Finding) -> tuple:
    return (f.detector, f.category, f.symbol)


@pytest.mark.slow
def test_findings_on_the_full_photo_match_those_on_its_crops(photo_scan):
    """Each crop around a card, analysed whole, finds what the full-size scan found there: the same
    OCR findings (in image pixels once moved by the crop's offset), within the merge rule (same
    detector, category and symbol flag, overlapping boxes)."""
    from miscomp.run import detect_pair

    images, detectors, found = photo_scan
    for before, _after, at in (LOWER, ACROSS):
        line = _card_line(before, at)
        win = Box(max(0, line.x - 150), max(0, line.y - 150), line.w + 300, line.h + 300)
        sub = PairImages(
            "photo", images.original[win.y : win.y1, win.x : win.x1],
            images.reconstruction[win.y : win.y1, win.x : win.x1], "", images.codec,
        )  # fmt: skip
        on_crop = [f.translated(win.x, win.y) for f in detect_pair(sub, detectors)[0] if f.detector == "ocr"]
        on_full = [f for f in found if f.detector == "ocr" and f.box.intersection(win) == f.box.area]
        assert on_crop and len(on_crop) == len(on_full)
        for a in on_crop:
            assert any(_kind(a) == _kind(b) and a.box.overlaps(b.box) for b in on_full)
            # the same line, read the same (its box may differ by the detector's pixel or two)
            same = [b for b in on_full if a.line_box.iou(b.line_box) >= 0.8]
            assert any(a.original_text == b.original_text for b in same)


def test_translated_moves_the_box_the_line_and_the_boxes_in_details():
    f = Finding(
        "p", "ocr", 10, 20, 5, 6, category="shape", symbol=True, score=0.9, evidence="e",
        details={"edit_boxes": [[10, 20, 5, 6]], "glyph_cells": [{"box": [11, 20, 3, 6], "ratio": 4.0}],
                 "symbol_from": {"line_box": [0, 18, 90, 10]}, "peak_z": 3.2},
    ).with_line(Box(0, 18, 90, 10), "KX7", "KXZ")  # fmt: skip
    g = f.translated(100, 1000)
    assert g.box == Box(110, 1020, 5, 6) and g.line_box == Box(100, 1018, 90, 10)
    assert g.details["edit_boxes"] == [[110, 1020, 5, 6]] and g.details["peak_z"] == 3.2
    assert g.details["glyph_cells"][0]["box"] == [111, 1020, 3, 6]
    assert g.details["symbol_from"]["line_box"] == [100, 1018, 90, 10]
    assert g.finding_id != f.finding_id and g.translated(-100, -1000).box == f.box
    assert (g.original_text, g.reconstruction_text) == ("KX7", "KXZ")


def test_large_images_give_the_diff_detector_smaller_tiles_and_smaller_ones_stay_whole():
    class Diff(ChangedBlobs):
        name = "diff"

    det = Diff()
    orig = np.zeros((300, 2000, 3), np.uint8)
    detect_tiled(det, PairImages("p", orig, orig.copy()), tile=2048)
    assert det.seen == [(300, 2000)]  # fits the run's tile: whole, as before
    det.seen.clear()
    orig = np.zeros((300, 2100, 3), np.uint8)
    detect_tiled(det, PairImages("p", orig, orig.copy()), tile=2048)
    assert len(det.seen) >= 3 and all(w <= 1024 for _, w in det.seen)


def test_the_face_detector_sees_images_up_to_its_limit_whole():
    from dataclasses import replace

    from miscomp.tiles import TILES

    class Face(ChangedBlobs):
        name = "face"

    det = Face()
    orig = np.zeros((2832, 4240, 3), np.uint8)  # the 12 MP photo of the marginal benchmark
    detect_tiled(det, PairImages("p", orig, orig.copy(), "sha"), tile=2048)
    assert det.seen == [(2832, 4240)] and det.keys == ["sha"]
    det.seen.clear()
    small_limit = replace(TILES, face_whole_max_pixels=2832 * 4240 - 1)
    detect_tiled(det, PairImages("p", orig, orig.copy(), "sha"), tile=2048, config=small_limit)
    assert len(det.seen) == 6 and all(h <= 2048 and w <= 2048 for h, w in det.seen)
    assert TILES.tile_for(det, 0, (2832, 4240)) == 0  # no tiling asked: none


def test_diff_evidence_gives_the_share_of_the_whole_image_not_of_the_tile():
    # On a tiled photo a region's "% of image" was its share of the 1024-px tile it was found in.
    from miscomp.detect.diff import DiffDetector
    from testing.shapes import ramp

    orig = ramp(1200, 2400, seed=1)
    rec = orig.copy()
    rec[100:160, 150:250] = np.clip(rec[100:160, 150:250].astype(int) + 60, 0, 255).astype(np.uint8)
    found = detect_tiled(DiffDetector(), PairImages("p", orig, rec, "sha"), tile=1024, overlap=128)
    best = max(found, key=lambda f: f.score)
    assert best.box.intersection(Box(150, 100, 100, 60)) > 0
    share = float(best.evidence.rsplit("(region ", 1)[1].split("%")[0])
    # the region is a few thousand pixels: ~0.2-0.4 % of 2.9 MP (of one 1024-px tile it read ~1 %)
    assert share < 0.5, best.evidence


def test_even_tiles_are_the_same_number_overlapping_by_the_overlap_and_cover_the_image():
    for h, w, tile, overlap in ((2832, 4240, 2048, 256), (4000, 6000, 1024, 256), (1500, 2100, 768, 192)):
        plain = tile_boxes(h, w, tile, overlap)
        even = tile_boxes(h, w, tile, overlap, even=True)
        assert len(even) == len(plain)
        assert sum(b.w * b.h for b in even) < sum(b.w * b.h for b in plain)
        covered = np.zeros((h, w), bool)
        for b in even:
            assert b.w <= tile and b.h <= tile and b.x1 <= w and b.y1 <= h
            covered[b.y : b.y1, b.x : b.x1] = True
        assert covered.all()
        xs = sorted({b.x for b in even})
        ends = sorted({b.x1 for b in even})
        # neighbours overlap by the overlap (to a pixel of rounding), never less
        assert all(overlap <= e - x <= overlap + 1 for x, e in zip(xs[1:], ends[:-1], strict=False))
    assert tile_boxes(2832, 4240, 2048, 256, even=True)[0] == Box(0, 0, 1584, 1544)
    assert tile_boxes(500, 700, 768, 192, even=True) == [Box(0, 0, 700, 500)]  # one tile: the image
