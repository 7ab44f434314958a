"""Finding text at several scales: tiles, joining lines cut by tiles, dense small text."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from miscomp.detect.ocr.reading import detect_text, likely_windows, merge_pass, read_lines, tiles
from miscomp.geometry import Box
from miscomp.synth.scenes import font

WORDS = ["Deutsch", "Italiano", "Francais", "English", "Espanol", "Nederlands"]


def dense_table() -> np.ndarray:
    """A table of language names at 5 px, one pixel between lines: a detector at 1x sees one grey
    block (or nothing); the lines are separate at 2x."""
    im = Image.new("RGB", (480, 200), (235, 235, 225))
    draw = ImageDraw.Draw(im)
    for i, word in enumerate(WORDS):
        draw.text((10, 10 + 6 * i), f"{word} {1284 + 7 * i}", font=font(5, bold=False), fill=(20, 20, 20))
    return np.asarray(im)


def test_tiles_cover_the_image_with_overlap():
    ts = tiles(500, 1200, 512)
    assert Box(0, 0, 512, 500) in ts and max(t.x1 for t in ts) == 1200 and all(t.w == 512 for t in ts)
    covered = np.zeros((500, 1200), bool)
    for t in ts:
        covered[t.y : t.y1, t.x : t.x1] = True
    assert covered.all()
    assert tiles(100, 200, 512) == [Box(0, 0, 200, 100)]


def test_parts_of_one_line_cut_by_a_tile_border_are_joined():
    assert merge_pass([Box(10, 20, 100, 16), Box(105, 21, 80, 15)]) == [Box(10, 20, 175, 16)]
    # two lines above each other stay two lines
    assert len(merge_pass([Box(10, 20, 100, 16), Box(10, 38, 100, 16)])) == 2
    # a tall box beside a line is not the line's other half (rapidocr's junk boxes on kodim01)
    assert len(merge_pass([Box(155, 4, 610, 165), Box(18, 104, 148, 41)])) == 2


def test_likely_windows_grow_each_blob_and_join_overlaps():
    prob = np.zeros((300, 400), np.float32)
    prob[100:106, 50:120] = 0.4  # a faint small line
    prob[200:204, 300:310] = 0.05  # below the threshold: no window
    (win,) = likely_windows(prob, 0.2, margin=10)
    # the blob (6 px high) grown by the margin, and sideways by twice its height more
    assert win == Box(50 - 22, 90, 70 + 44, 26)
    prob[100:106, 150:200] = 0.9  # a second blob whose window overlaps the first: one window
    assert likely_windows(prob, 0.2, margin=10) == [Box(28, 90, 200 + 22 - 28, 26)]
    assert likely_windows(np.zeros((50, 50), np.float32), 0.2) == []


@pytest.fixture(scope="module")
def rapid():
    pytest.importorskip("rapidocr")
    pytest.importorskip("onnxruntime")
    from miscomp.detect.ocr.engines import create_engine

    return create_engine("rapidocr")


def test_small_dense_text_is_found_only_at_the_upscaled_pass(rapid):
    table = dense_table()
    at_1x = detect_text(rapid, table, (1.0,))
    multi = detect_text(rapid, table, (1.0, 2.0))
    lines_1x = [b for b, _ in at_1x if b.h <= 12]  # boxes of single-line height
    lines = [b for b, s in multi if s == 2.0 and b.h <= 12]
    assert len(lines_1x) == 0 and len(lines) >= 5
    assert all(b.x < 20 and b.h <= 12 for b in lines)  # line boxes in original pixels
    reads = read_lines(rapid, table, [(b, 2.0) for b in lines], 1.25)
    # the reads are rough at 5 px, but they are reads of those lines (digits of the right numbers)
    assert sum(any(c.isdigit() for c in r.text) for r in reads) >= 4


def test_detect_map_gives_the_boxes_of_detect_and_a_map_that_lights_on_text(rapid):
    table = dense_table()
    boxes, prob = rapid.detect_map(table)
    assert boxes == rapid.detect(table)
    assert prob is not None and prob.shape == table.shape[:2] and prob.dtype == np.float32
    assert prob[10:46, 10:200].max() > 0.2 > prob[120:, 300:].max()  # the table, not the blank page


def test_text_probability_is_the_detectors_map_at_a_chosen_scale(rapid):
    table = dense_table()[:192]  # sides a multiple of 32: neither resizes
    _, prob = rapid.detect_map(table)
    # the same network run on the same input: rapidocr's own normalisation (its DetPreProcess), bit for bit
    assert np.array_equal(rapid.text_probability(table, 1.0), prob)
    page = np.full((192, 320, 3), 235, np.uint8)
    im = Image.fromarray(page)
    ImageDraw.Draw(im).text((10, 20), "Bahnhofstrasse 1284", font=font(20, bold=False), fill=(20, 20, 20))
    half = rapid.text_probability(np.asarray(im), 0.5)
    assert half.shape == page.shape[:2] and half.dtype == np.float32
    assert half[20:45, 10:200].max() > 0.5 > half[100:, :].max()  # the line, not the blank page


def test_gated_upscaling_keeps_the_small_lines_and_skips_blank_areas(rapid):
    canvas = np.full((600, 900, 3), 235, np.uint8)
    canvas[300:500, 400:880] = dense_table()
    # Upscaled whole (1800×1200), this page gave rapidocr no box at all; the window around the table
    # (what scale 1's map lit) gives its lines.
    gated = [b for b, s in detect_text(rapid, canvas, (1.0, 2.0), likely=0.1) if s == 2.0 and b.h <= 12]
    assert len(gated) >= 5 and all(b.y >= 300 and b.x >= 400 for b in gated)
    _, prob = rapid.detect_map(canvas)
    windows = likely_windows(prob, 0.1)
    assert sum(w.area for w in windows) < 0.25 * canvas.shape[0] * canvas.shape[1]
