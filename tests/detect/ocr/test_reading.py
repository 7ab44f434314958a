"""Finding text at several scales: tiles, joining lines cut by tiles, dense small text."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from miscomp.detect.ocr.reading import detect_text, merge_pass, read_lines, tiles
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
