"""OCR engines: the registry, selection, device handling and one-line unavailability."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from miscomp.detect import DETECTORS, DetectorUnavailable
from miscomp.detect.ocr import DEFAULT_ENGINE, OCR_ENGINES
from miscomp.detect.ocr.engines import _onnx_device
from miscomp.errors import MiscompError
from miscomp.synth.scenes import font


def render(text: str) -> np.ndarray:
    im = Image.new("RGB", (360, 90), "white")
    ImageDraw.Draw(im).text((20, 20), text, fill="black", font=font(40))
    return np.asarray(im)


def test_both_engines_are_registered_and_rapidocr_is_the_default():
    assert {"easyocr", "rapidocr"} <= set(OCR_ENGINES.names())
    assert DEFAULT_ENGINE == "rapidocr"


def test_an_unknown_engine_is_one_line_naming_the_known_ones():
    with pytest.raises(MiscompError) as err:
        DETECTORS.create("ocr", engine="tesseract")
    assert "easyocr" in str(err.value) and "rapidocr" in str(err.value) and "\n" not in str(err.value)


def test_onnx_device_resolution():
    assert _onnx_device("auto", ["CPUExecutionProvider"]) == "cpu"
    assert _onnx_device("auto", ["CUDAExecutionProvider", "CPUExecutionProvider"]) == "cuda"
    assert _onnx_device("cuda:1", ["CUDAExecutionProvider"]) == "cuda:1"
    with pytest.raises(DetectorUnavailable, match="no CUDA provider"):
        _onnx_device("cuda", ["CPUExecutionProvider"])
    with pytest.raises(DetectorUnavailable, match="expected auto"):
        _onnx_device("tpu", [])


@pytest.fixture(scope="module")
def rapid_detector():
    pytest.importorskip("rapidocr")
    pytest.importorskip("onnxruntime")
    return DETECTORS.create("ocr", engine="rapidocr", device="cpu")


def test_rapidocr_reads_rendered_text_in_boxes_on_one_thread(rapid_detector):
    eng = rapid_detector.engine
    assert eng.info()["threads"] == 1 and eng.info()["device"] == "cpu"
    session = eng._rec.session.session  # the ONNX session the reads run in
    assert session.get_session_options().intra_op_num_threads == 1
    img = render("KX7 4821")
    boxes = eng.detect(img)
    assert len(boxes) == 1
    ((text, conf),) = eng.recognize(img, boxes)
    assert text.replace(" ", "") == "KX74821" and conf > 0.9
    # reads come back in box order, however many are batched together
    two = eng.recognize(
        np.concatenate([img, render("EXIT 14")]), [boxes[0], boxes[0]._replace(y=boxes[0].y + 90)]
    )
    assert [t.replace(" ", "") for t, _ in two] == ["KX74821", "EXIT14"]


def test_the_cache_key_names_the_engine(rapid_detector, tmp_path):
    easy = pytest.importorskip("easyocr_en_models") and DETECTORS.create("ocr", engine="easyocr")
    assert rapid_detector.engine.cache_key()[0] == "rapidocr" and easy.engine.cache_key()[0] == "easyocr"
    assert rapid_detector.cache_tag() != easy.cache_tag()
    other_scales = DETECTORS.create("ocr", engine="rapidocr", scales="1")
    assert other_scales.cache_tag() != rapid_detector.cache_tag()


def test_rapidocr_with_a_missing_model_folder_is_unavailable_with_one_line(tmp_path):
    pytest.importorskip("rapidocr")
    with pytest.raises(DetectorUnavailable) as err:
        DETECTORS.create("ocr", engine="rapidocr", model_dir=str(tmp_path / "nope"))
    assert "\n" not in str(err.value) and "nope" in str(err.value)


def test_read_boxes_reads_as_one_rapidocr_call_per_scale_would(rapid_detector):
    """All boxes at two scales in one call, and only the kept ones: the same reads as rapidocr's own
    batched call over every box at each scale (which pads each crop to its batch's widest), with
    more boxes than one batch and a line wider than the recogniser's 320-px minimum."""
    from rapidocr.ch_ppocr_rec.typings import TextRecInput

    from miscomp.detect.ocr.engines import _text_crop

    eng = rapid_detector.engine
    words = ["KX7 4821", "EXIT 14", "B 12", "RG238BR", "TOR", "A1", "88 MPH", "NO 5"]
    rows = [np.pad(render(w), ((0, 0), (0, 360), (0, 0)), constant_values=255) for w in words]
    wide = Image.new("RGB", (720, 90), "white")
    ImageDraw.Draw(wide).text((10, 20), "WIDE LINE 0123456789 ABC", fill="black", font=font(40))
    img = np.concatenate([*rows, np.asarray(wide)])
    boxes = eng.detect(img)
    assert len(boxes) > 6 and max(b.w / b.h for b in boxes) > 320 / 48
    for scale in (1.0, 1.25):
        own = eng._rec(TextRecInput(img=[_text_crop(img, b, scale)[..., ::-1].copy() for b in boxes]))
        assert [t for t, _ in eng.recognize(img, boxes, scale)] == list(own.txts)
    both = eng.read_boxes(img, boxes, (1.0, 1.25))
    keep = [i % 3 != 0 for i in range(len(boxes))]
    some = eng.read_boxes(img, boxes, (1.0, 1.25), keep)
    for scale, reads, kept in zip((1.0, 1.25), both, some, strict=True):
        own = eng._rec(TextRecInput(img=[_text_crop(img, b, scale)[..., ::-1].copy() for b in boxes]))
        assert [t for t, _ in reads] == list(own.txts)
        assert np.allclose([c for _, c in reads], own.scores, atol=1e-4)
        for (t, c), (tk, ck), k in zip(reads, kept, keep, strict=True):
            assert (tk, ck) == ((t, pytest.approx(c, abs=1e-4)) if k else ("", 0.0))
