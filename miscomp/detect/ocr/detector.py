"""Symbol detector: find every text line of the original, read it in both images, report changes.

Cost shapes the design. Text *detection* dominates OCR time, and the original is the same for every
codec in a scan. So the original is searched (at several scales, ``reading.py``) and read once per
content hash (memory + JSON under ``cache_dir``; the key holds the engine and every setting that
changes the reads), and each reconstruction only gets *recognition* inside the original's text boxes:
also what makes the two strings comparable, since both come from the same box. ``mode="full"`` runs
the naive pipeline (detection on the reconstruction too, boxes aligned by overlap) for benchmarks and
for codecs that move text.

The engine is chosen by ``engine=`` (``engines.py``: rapidocr by default, easyocr). With
``confirm=OTHER_ENGINE`` every changed line is also read by a second engine, and its reads (agreeing
with the change or not) go into the finding's evidence.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import ClassVar

import numpy as np

from miscomp.detect import glyphs
from miscomp.detect.base import DETECTORS, Detector, PairImages
from miscomp.detect.ocr.compare import (
    BLOCK_LINE_FLOOR,
    LINE_FLOOR,
    CompareRules,
    compare,
    compare_reads,
    needs_read,
    read_counts,
)
from miscomp.detect.ocr.engines import OCR_ENGINES, OCREngine, create_engine
from miscomp.detect.ocr.reading import LIKELY_THRESHOLD, TILE, TextLine, detect_text, read_lines
from miscomp.findings import Finding
from miscomp.geometry import Box

_CACHE_VERSION = 3  # 3: line merging fixed (reading._same_line), earlier caches hold swallowed lines

# Default engine, chosen by measurement (benchmarks/ocr_engines.py, results in README "OCR engines").
DEFAULT_ENGINE = "rapidocr"
# Engines are built once per process and shared by detectors: building one loads its models.
_ENGINES: dict[tuple, OCREngine] = {}


def _engine(name: str, **params) -> OCREngine:
    key = (name, tuple(sorted((k, str(v)) for k, v in params.items())))
    if key not in _ENGINES:
        _ENGINES[key] = create_engine(name, **params)
    return _ENGINES[key]


def _floats(text: str | float | tuple) -> tuple[float, ...]:
    if isinstance(text, int | float):
        return (float(text),)
    if isinstance(text, tuple | list):
        return tuple(float(v) for v in text)
    return tuple(float(v) for v in str(text).replace("+", ",").split(",") if v.strip())


@DETECTORS.register("ocr", cost="slow", needs_model=True, default=True)
class OCRDetector(Detector):
    """Changed letters and digits: every text line of the original read in both images and compared."""

    name: ClassVar[str] = "ocr"

    def __init__(
        self,
        cache_dir: Path | None = None,
        engine: str = DEFAULT_ENGINE,
        device: str = "",
        model_dir: str | None = None,
        langs: str = "en",
        scales: str = "",
        min_conf: float = -1.0,
        legible_conf: float = -1.0,
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
        line_floor: float = LINE_FLOOR,
        block_line_floor: float = BLOCK_LINE_FLOOR,
        confirm: str = "",
        skip_unchanged: bool = False,
        likely: float = LIKELY_THRESHOLD,
    ) -> None:
        if mode not in {"boxes", "full"}:
            raise ValueError(f"ocr: mode must be 'boxes' or 'full', got {mode!r}")
        OCR_ENGINES.get(engine)  # an unknown engine is one line listing the known ones
        params: dict = {"device": device, "allowlist": allowlist}
        if model_dir:
            params["model_dir"] = model_dir
        if engine == "easyocr":
            params |= {"langs": langs, "download": bool(download)}
        self.engine = _engine(engine, **params)
        self.second: OCREngine | None = None
        if confirm and confirm != engine:
            OCR_ENGINES.get(confirm)
            self.second = _engine(confirm, device=device, allowlist=allowlist)
        self.cache_dir = Path(cache_dir) / "ocr" if cache_dir else None
        self.scales = _floats(scales) if scales else self.engine.default_scales
        if not self.scales or min(self.scales) <= 0:
            raise ValueError(f"ocr: scales must be positive numbers, got {scales!r}")
        self.rescale = float(rescale)
        self.likely = float(likely)  # upscaled passes only where scale 1's text map reaches this (reading.py)
        self.mode = mode
        self.skip_unchanged = bool(skip_unchanged)
        self.min_box_side = int(min_box_side)
        # Engine-specific defaults: EasyOCR's confidences run lower than rapidocr's on the same text.
        default_min = 0.1 if engine == "easyocr" else 0.5
        self.rules = CompareRules(
            min_conf=float(min_conf) if float(min_conf) >= 0 else default_min,
            legible_conf=float(legible_conf) if float(legible_conf) >= 0 else self.engine.legible_conf,
            case_sensitive=bool(case_sensitive), alnum_only=bool(alnum_only), glyph_check=bool(glyph_check),
            glyph_ratio=float(glyph_ratio), glyph_floor=float(glyph_floor),
            confirm_ratio=float(confirm_ratio), line_floor=float(line_floor),
            block_line_floor=float(block_line_floor),
        )  # fmt: skip
        self._memory: dict[str, list[TextLine]] = {}

    def info(self) -> dict:
        return {
            **self.engine.info(), "confirm": self.second.name if self.second else "",
            "scales": list(self.scales), "rescale": self.rescale, "mode": self.mode,
            "min_box_side": self.min_box_side, "skip_unchanged": self.skip_unchanged, "likely": self.likely,
            **dataclasses.asdict(self.rules),
        }  # fmt: skip

    # The plates benchmark and older callers use these directly.
    @property
    def min_conf(self) -> float:
        return self.rules.min_conf

    @property
    def glyph_check(self) -> bool:
        return self.rules.glyph_check

    @glyph_check.setter
    def glyph_check(self, value: bool) -> None:
        self.rules = dataclasses.replace(self.rules, glyph_check=bool(value))

    def normalise(self, text: str) -> str:
        return self.rules.normalise(text)

    # ---- reading -------------------------------------------------------------------------------

    def cache_tag(self) -> str:
        """Everything that changes the original's reads: the engine and the reading settings."""
        settings = json.dumps(
            [
                self.engine.cache_key(),
                list(self.scales),
                TILE,
                self.rescale,
                self.min_box_side,
                _CACHE_VERSION,
                *([self.likely] if self.likely > 0 else []),  # keys of ungated reads stay as they were
            ]
        )
        return hashlib.sha1(settings.encode()).hexdigest()[:10]

    def clear_cache(self) -> None:
        """Forget the originals read in this process (benchmarks that time a pipeline without caches;
        the disk cache under ``cache_dir`` stays)."""
        self._memory.clear()

    def _cache_file(self, key: str) -> Path | None:
        return None if self.cache_dir is None else self.cache_dir / f"{key}.json"

    def read_original(self, images: PairImages) -> list[TextLine]:
        """Text lines of the original, computed once per content hash (memory, then disk)."""
        key = (
            images.original_sha256
            or hashlib.sha256(images.original.tobytes() + str(images.original.shape).encode()).hexdigest()
        )
        key = f"{key}_{self.cache_tag()}"
        if key in self._memory:
            return self._memory[key]
        path = self._cache_file(key)
        if path is not None and path.is_file():
            try:
                data = json.loads(path.read_text())["lines"]
                lines = [TextLine(Box(*d.pop("box")), **d) for d in data]
                self._memory[key] = lines
                return lines
            except (ValueError, KeyError, TypeError):
                pass  # a corrupt cache entry is recomputed and overwritten
        boxes = detect_text(self.engine, images.original, self.scales, self.min_box_side, likely=self.likely)
        lines = read_lines(self.engine, images.original, boxes, self.rescale)
        self._memory[key] = lines
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(
                json.dumps({"version": _CACHE_VERSION, "lines": [dataclasses.asdict(x) for x in lines]})
            )
            tmp.replace(path)
        return lines

    def read_reconstruction(
        self, rgb: np.ndarray, lines: list[TextLine], only: list[bool] | None = None
    ) -> list[TextLine]:
        """The reconstruction read in each original line's place, twice (as is and rescaled), like
        the original. Text "" / 0.0 where full-mode detection found nothing overlapping the line, and
        for the lines ``only`` leaves out (not read at all)."""
        if self.mode == "boxes":
            boxes: list[Box | None] = [Box(*ln.box) for ln in lines]
        else:
            found = [
                b
                for b, _ in detect_text(self.engine, rgb, self.scales, self.min_box_side, likely=self.likely)
            ]
            boxes = []
            for ln in lines:
                best = max(found, key=lambda b, ln=ln: Box(*ln.box).iou(b), default=None)
                boxes.append(best if best is not None and Box(*ln.box).iou(best) >= 0.3 else None)
        wanted = [True] * len(lines) if only is None else list(only)
        present = [(b, 1.0) for b in boxes if b is not None]
        keep = [w for b, w in zip(boxes, wanted, strict=True) if b is not None]
        reads = iter(read_lines(self.engine, rgb, present, self.rescale, keep))
        return [
            TextLine(ln.box, "", 0.0, "", 0.0, ln.scale) if b is None else next(reads)
            for ln, b in zip(lines, boxes, strict=True)
        ]

    # ---- comparing -----------------------------------------------------------------------------

    def detect(self, images: PairImages) -> list[Finding]:
        return self.detect_counted(images)[0]

    def detect_counted(self, images: PairImages) -> tuple[list[Finding], dict[str, int]]:
        lines = self.read_original(images)
        if not lines:
            return [], read_counts([], [], self.rules)
        # Only the lines whose read is used are read in the reconstruction: those the comparison looks
        # at, and the legible ones the read counts (Impact) are over. On kodim01 with a drawn plate
        # line, rapidocr's two large low-confidence boxes over the photo took 2/3 of the
        # reconstruction's recognition time (182 ms for the 3 lines at one scale, 61 ms for the plate).
        only = [self.rules.compared(ln) or self.rules.legible(ln) for ln in lines]
        if self.skip_unchanged and self.mode == "boxes":
            # Lines whose strokes changed too little for any finding (``needs_read``) are not read
            # either and count as read alike (JPEG/WebP q50 on 8 test-bed text originals: 45-53% of
            # the lines read, OCR 1.7-2.0x less CPU, the same findings; the read counts then miss
            # the reader noise of the lines not read, hence off by default).
            only = [needs_read(images, ln, self.rules) for ln in lines]
        reads = self.read_reconstruction(images.reconstruction, lines, only)
        reads = [r if o else ln for ln, r, o in zip(lines, reads, only, strict=True)]
        return self.compare_reads(images, lines, reads), read_counts(lines, reads, self.rules)

    def compare_reads(
        self, images: PairImages, lines: list[TextLine], reads: list[TextLine]
    ) -> list[Finding]:
        findings = compare_reads(images, lines, reads, self.rules, self.name)
        if self.second is not None:
            findings = [self._second_opinion(images, f) for f in findings]
        return findings

    def compare(
        self, pair_id: str, line: TextLine, rec: TextLine, cells: list[glyphs.GlyphCell] | None = None
    ) -> Finding | None:
        """One line compared from its reads alone (no pixels: no structure gate, geometry category)."""
        f = compare(None, line, rec, self.rules, self.name, cells)
        return dataclasses.replace(f, pair_id=pair_id, finding_id="") if f is not None else None

    def _second_opinion(self, images: PairImages, finding: Finding) -> Finding:
        """The changed line read by the second engine on both sides: evidence, not a verdict."""
        assert self.second is not None
        box = Box(*finding.details.get("line_box", finding.box))
        ((a, ca),) = self.second.recognize(images.original, [box])
        ((b, cb),) = self.second.recognize(images.reconstruction, [box])
        sees = self.normalise(a) != self.normalise(b)
        details = finding.details | {
            "second_engine": {"engine": self.second.name, "original_text": a, "reconstruction_text": b,
                              "original_conf": round(ca, 4), "reconstruction_conf": round(cb, 4),
                              "agrees": sees}
        }  # fmt: skip
        word = "agrees" if sees else "disagrees: reads the same"
        evidence = f"{finding.evidence}; {self.second.name} {word} ({a!r} → {b!r})"
        return dataclasses.replace(finding, evidence=evidence, details=details, finding_id="")


__all__ = ["DEFAULT_ENGINE", "OCRDetector", "TextLine"]
