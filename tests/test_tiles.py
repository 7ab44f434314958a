"""Tiled detection: tiles cover the image with overlap; findings that cross tile borders are merged
back into one finding in image coordinates; small images are analysed whole."""

from __future__ import annotations

import cv2
import numpy as np

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

    def detect(self, images: PairImages) -> list[Finding]:
        self.seen.append(images.original.shape[:2])
        self.keys.append(images.original_sha256)
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
