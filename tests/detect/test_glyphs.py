"""Glyph-structure check: which character cell of a text box changed shape (no OCR needed)."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from miscomp.detect import glyphs

FONT = ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts/ttf/DejaVuSans-Bold.ttf"), 40)
ORIGIN = (20, 20)
BOX = (15, 15, 330, 60)  # the text box a detector would report around the rendered line
TEXT = "KX7 4821"


def render(text: str = TEXT) -> Image.Image:
    im = Image.new("RGB", (360, 90), "white")
    ImageDraw.Draw(im).text(ORIGIN, text, fill="black", font=FONT)
    return im


def glyph_box(prefix: str, char: str) -> tuple[int, int, int, int]:
    x0 = ORIGIN[0] + FONT.getlength(prefix)
    left, top, right, bottom = FONT.getbbox(char)
    return int(x0 + left), ORIGIN[1] + top, int(right - left), bottom - top


def with_stroke() -> np.ndarray:
    """The "4" gets an extra vertical stroke on its left: a changed glyph OCR may still read as 4."""
    im = render()
    gx, gy, _gw, gh = glyph_box("KX7 ", "4")
    ImageDraw.Draw(im).rectangle([gx, gy, gx + 5, gy + gh // 2], fill="black")
    return np.asarray(im)


def jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB"))


@pytest.mark.parametrize("quality", [None, 75])
def test_one_changed_glyph_is_the_one_flagged_cell(quality):
    orig, rec = np.asarray(render()), with_stroke()
    if quality:
        rec = jpeg(rec, quality)
    cells = glyphs.glyph_cells(orig, rec, BOX, n_hint=7)
    assert len(cells) >= 5
    hit = glyphs.flagged(cells)
    assert len(hit) == 1
    x, _y, w, _h = hit[0].box
    gx, _gy, gw, _gh = glyph_box("KX7 ", "4")
    assert gx <= x + w / 2 <= gx + gw  # centred on the "4"; its margin may graze the neighbours
    assert x + w < glyph_box("KX7 4", "8")[0] + w / 4 and x > sum(glyph_box("KX", "7")[::2]) - w / 4
    assert hit[0].char == 3  # "4" is the 4th character of KX74821, even if K and X touch
    assert hit[0].ratio > 2 * glyphs.RATIO_THRESHOLD


@pytest.mark.parametrize("quality", [30, 50, 90])
def test_codec_noise_spread_over_all_glyphs_is_not_flagged(quality):
    orig = np.asarray(render())
    cells = glyphs.glyph_cells(orig, jpeg(orig, quality), BOX, n_hint=7)
    assert cells and glyphs.flagged(cells) == []
    assert max(c.ratio for c in cells) < glyphs.CONFIRM_RATIO


def test_unchangeable_boxes_are_not_checked():
    orig = np.asarray(render())
    assert glyphs.glyph_cells(orig, orig, (200, 80, 100, 9)) == []  # a flat strip: no strokes
    assert glyphs.glyph_cells(orig, orig, glyph_box("KX7 ", "4")) == []  # one glyph: no noise estimate
    assert glyphs.glyph_cells(orig, orig[:, :-1], BOX) == []  # sizes differ: not comparable
    same = glyphs.glyph_cells(orig, orig.copy(), BOX, n_hint=7)
    assert same and all(c.change == 0 and c.ratio == 0 for c in same)


def test_a_box_that_splits_into_plate_and_frame_falls_back_to_equal_cells():
    # A dim plate whose text box is the whole plate: Otsu separates the dark frame posts from the plate,
    # not the faint glyphs from it (wts-lg-000014 in ../shared/data/plates). Two posts used to leave the
    # box with two "cells" and no glyph check at all; a guessed read now gets equal cells.
    grey = np.full((48, 240), 200, np.uint8)
    grey[:, :6] = grey[:, -6:] = 10  # frame posts
    for i in range(6):
        grey[12:36, 30 + 32 * i : 48 + 32 * i] = 150  # faint glyphs
    assert len(glyphs._components(grey)) == 2
    spans, _margin = glyphs._cells(grey, 6, coarse=True)
    assert len(spans) == 6 and spans[0][0] == 0 and spans[-1][1] == 240
    # without ``coarse`` (a legible read) the two posts stay the spans, too few to check
    assert glyphs._cells(grey, 6)[0] == [(0, 6), (234, 240)]
