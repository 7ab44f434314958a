"""OCR symbol detector: engines (``engines.py``), finding and reading the original's text at several
scales (``reading.py``), comparing the reads (``compare.py``), the detector (``detector.py``)."""

from miscomp.detect.ocr.detector import DEFAULT_ENGINE, OCRDetector
from miscomp.detect.ocr.engines import OCR_ENGINES, OCREngine, create_engine, get_reader, resolve_model_dir
from miscomp.detect.ocr.reading import TextLine

__all__ = [
    "DEFAULT_ENGINE", "OCR_ENGINES", "OCRDetector", "OCREngine", "TextLine", "create_engine", "get_reader",
    "resolve_model_dir",
]  # fmt: skip
