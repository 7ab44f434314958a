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
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from miscomp.config import defined, to_dict, tuned
from miscomp.detect import glyphs
from miscomp.detect.base import DETECTORS, Detector, PairImages
from miscomp.detect.ocr.compare import (
    CompareRules,
    compare,
    compare_reads,
    needs_read,
    read_counts,
)
from miscomp.detect.ocr.engines import OCR_ENGINES, OCREngine, create_engine
from miscomp.detect.ocr.reading import TILE, TextLine, detect_text, read_lines
from miscomp.detect.ocr.reading import _same_line as same_line  # the rule detect_text joins tiles by
from miscomp.findings import Finding
from miscomp.geometry import Box
from miscomp.heap import trim_heap
from miscomp.io import atomic_write_text
from miscomp.settings import Settings  # at run time: the registry reads the parameters' types

_CACHE_VERSION = 3  # 3: line merging fixed (reading._same_line), earlier caches hold swallowed lines


@dataclass(frozen=True)
class OCRConfig:
    """How the OCR detector finds and reads text (the comparison's numbers are :class:`CompareRules`)."""

    engine: str = tuned(
        "rapidocr", "benchmarks/ocr_engines.py (rendered text and plates; README 'OCR engines')",
        "rapidocr read more lines exactly than easyocr at a fraction of its time",
    )  # fmt: skip
    rescale: float = defined(
        1.25, "the stability reread: every box is read again resampled by this factor; an edit must be "
        "seen at both scales",
    )  # fmt: skip
    min_box_side: int = defined(8, "text boxes smaller than this (px, as the detector saw them) are not read")
    easyocr_min_conf: float = defined(
        0.1, "EasyOCR's confidences run lower than rapidocr's on the same text (CompareRules.min_conf is "
        "rapidocr's)",
    )  # fmt: skip
    mode: str = defined("boxes", "the reconstruction is read in the original's boxes: comparable strings")
    likely: float = tuned(
        0.05,
        "real-codec test bed, tune split (20 originals with symbol labels + 5 Kodak): scale 1's text "
        "probability at which an area gets the upscaled passes (0: upscale everything)",
        "every labelled text box stayed covered at 0.02-0.3 alike (107/110, all 80 of height <= 9 px, as "
        "without gating) while the upscaled area fell to 29 % at 0.05; held out 135/142 as ungated",
    )
    reread: float = tuned(
        3.0,
        "tune splits: the full-size bed's first 5 tune photos (15 pairs) and version 1's tune plate crops "
        "(11 pairs), the OCR detector alone, reread 0 / 2 / 3 (issue 28)",
        "a small line the original does not read legibly is searched again at this scale around it (0: "
        "never): symbol labels found 21 -> 27 of 37 (full-size: a two-line 6 px camera stamp boxed as one) "
        "and 12 -> 14 of 24 (crops: 'LIQUI' over 'MOLY' boxed as one line read 'MLYLY' 0.59, then "
        "'MOLY' 1.00), symbol findings off a symbol label 12 -> 12 and 9 -> 9; 2 gave the same",
    )
    reread_max_height: int = defined(
        32, "only small text is searched again (px, the line's box): a taller box that reads badly is a "
        "large line or texture, which an upscaled search only makes costlier",
    )  # fmt: skip


OCR = OCRConfig()
RULES = CompareRules()
DEFAULT_ENGINE = OCR.engine
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
        engine: str = OCR.engine,
        device: str = "",
        model_dir: str | None = None,
        langs: str = "en",
        scales: str = "",
        min_conf: float = -1.0,  # -1: the engine's (RULES.min_conf, OCR.easyocr_min_conf)
        legible_conf: float = -1.0,  # -1: the engine's
        rescale: float = OCR.rescale,
        mode: str = OCR.mode,
        case_sensitive: bool = RULES.case_sensitive,
        download: bool = False,
        min_box_side: int = OCR.min_box_side,
        allowlist: str = "",
        alnum_only: bool = RULES.alnum_only,
        glyph_check: bool = RULES.glyph_check,
        glyph_ratio: float = RULES.glyph_ratio,
        glyph_floor: float = RULES.glyph_floor,
        confirm_ratio: float = RULES.confirm_ratio,
        line_floor: float = RULES.line_floor,
        weak_conf: float = RULES.weak_conf,
        weak_line_floor: float = RULES.weak_line_floor,
        block_line_floor: float = RULES.block_line_floor,
        confirm: str = "",
        skip_unchanged: bool = False,
        settings: Settings | None = None,
        likely: float = OCR.likely,
        reread: float = OCR.reread,
    ) -> None:
        """``settings``: the run's, resolved once: the device, rapidocr's threads and EasyOCR's model
        folder come from them when not given (default: the engines read the environment)."""
        if mode not in {"boxes", "full"}:
            raise ValueError(f"ocr: mode must be 'boxes' or 'full', got {mode!r}")
        OCR_ENGINES.get(engine)  # an unknown engine is one line listing the known ones
        if settings is not None:
            device = device or settings.device
            if engine == "easyocr" and not model_dir and settings.easyocr_dir:
                model_dir = str(settings.easyocr_dir)
        params: dict = {"device": device, "allowlist": allowlist}
        if model_dir:
            params["model_dir"] = model_dir
        if engine == "easyocr":
            params |= {"langs": langs, "download": bool(download)}
        elif settings is not None and engine == "rapidocr":
            params["threads"] = settings.threads
        self.engine = _engine(engine, **params)
        self.second: OCREngine | None = None
        if confirm and confirm != engine:
            OCR_ENGINES.get(confirm)
            self.second = _engine(confirm, device=device, allowlist=allowlist)
        self.cache_dir = Path(cache_dir) / "ocr" if cache_dir else None
        self.scales = _floats(scales) if scales else self.engine.default_scales
        if not self.scales or min(self.scales) <= 0:
            raise ValueError(f"ocr: scales must be positive numbers, got {scales!r}")
        if float(reread) < 0:
            raise ValueError(f"ocr: reread must be 0 (off) or a scale > 0, got {reread!r}")
        self.config = OCRConfig(
            engine=engine, rescale=float(rescale), min_box_side=int(min_box_side), mode=mode,
            likely=float(likely), reread=float(reread),
        )  # fmt: skip
        self.rescale = float(rescale)
        self.likely = float(likely)  # upscaled passes only where scale 1's text map reaches this (reading.py)
        self.mode = mode
        self.skip_unchanged = bool(skip_unchanged)
        self.min_box_side = int(min_box_side)
        # Engine-specific defaults: EasyOCR's confidences run lower than rapidocr's on the same text.
        default_min = OCR.easyocr_min_conf if engine == "easyocr" else RULES.min_conf
        self.rules = dataclasses.replace(
            RULES,
            min_conf=float(min_conf) if float(min_conf) >= 0 else default_min,
            legible_conf=float(legible_conf) if float(legible_conf) >= 0 else self.engine.legible_conf,
            case_sensitive=bool(case_sensitive), alnum_only=bool(alnum_only), glyph_check=bool(glyph_check),
            glyph_ratio=float(glyph_ratio), glyph_floor=float(glyph_floor),
            confirm_ratio=float(confirm_ratio), line_floor=float(line_floor),
            block_line_floor=float(block_line_floor), weak_conf=float(weak_conf),
            weak_line_floor=float(weak_line_floor),
        )  # fmt: skip
        self._memory: dict[str, list[TextLine]] = {}

    def info(self) -> dict:
        """The engine and, whole, the reading config and comparison rules in force (run.json)."""
        return {
            **to_dict(self.config), **self.engine.info(), "confirm": self.second.name if self.second else "",
            "scales": list(self.scales), "skip_unchanged": self.skip_unchanged, **to_dict(self.rules),
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
        cfg = self.config
        settings = json.dumps(
            [
                self.engine.cache_key(),
                list(self.scales),
                TILE,
                self.rescale,
                self.min_box_side,
                _CACHE_VERSION,
                *([self.likely] if self.likely > 0 else []),  # keys of ungated reads stay as they were
                # reads searched again are other reads: their key says so (keys without it stay valid)
                *([["reread", cfg.reread, cfg.reread_max_height]] if cfg.reread > 0 else []),
            ]
        )
        return hashlib.sha1(settings.encode()).hexdigest()[:10]

    def clear_cache(self) -> None:
        """Forget the originals read in this process (benchmarks that time a pipeline without caches;
        the disk cache under ``cache_dir`` stays)."""
        self._memory.clear()

    def _cache_file(self, key: str) -> Path | None:
        return None if self.cache_dir is None else self.cache_dir / f"{key}.json"

    def read_original(self, images: PairImages, tiles: list[Box] | None = None) -> list[TextLine]:
        """Text lines of the original, computed once per content hash (memory, then disk). With
        ``tiles`` (more than one), text is found tile by tile and read whole (:func:`find_lines`)."""
        key = (
            images.original_sha256
            or hashlib.sha256(images.original.tobytes() + str(images.original.shape).encode()).hexdigest()
        )
        key = f"{key}_{self.cache_tag()}"
        if tiles is not None and len(tiles) > 1:
            key += "_t" + hashlib.sha1(json.dumps([list(t) for t in tiles]).encode()).hexdigest()[:8]
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
        boxes = self._find_text(images.original, tiles)
        lines = self._reread(images.original, read_lines(self.engine, images.original, boxes, self.rescale))
        self._memory[key] = lines
        if path is not None:
            atomic_write_text(
                path, json.dumps({"version": _CACHE_VERSION, "lines": [dataclasses.asdict(x) for x in lines]})
            )
        return lines

    def _find_text(self, rgb: np.ndarray, tiles: list[Box] | None) -> list[tuple[Box, float]]:
        """Text boxes of ``rgb`` (with the scale that found each), tile by tile when ``tiles`` has
        more than one: the text detector's memory grows with its input (``TilesConfig.ocr_tile``)."""
        if tiles is None or len(tiles) <= 1:
            return detect_text(self.engine, rgb, self.scales, self.min_box_side, likely=self.likely)
        found = []
        for t in tiles:
            part = np.ascontiguousarray(rgb[t.y : t.y1, t.x : t.x1])
            boxes = detect_text(self.engine, part, self.scales, self.min_box_side, likely=self.likely)
            found.append([(Box(b.x + t.x, b.y + t.y, b.w, b.h), s) for b, s in boxes])
            # onnxruntime's tensors for this tile's windows (up to 1536² at 2×, +570 MB) are freed: the
            # next tile's windows, of other sizes, would not reuse them (miscomp.heap)
            trim_heap()
        h, w = rgb.shape[:2]
        side_w, side_h = max(t.w for t in tiles), max(t.h for t in tiles)  # the text detector's memory
        out: list[tuple[Box, float]] = []
        for box, scale, parts in join_across_tiles(found):
            # A line one tile held whole (its part is the union, or nearly) keeps that box. Parts of a
            # line no tile held: their union is the line, but a part cut by a tile edge gets a looser
            # box from the detector (a 998×102 union for a 948×59 line here), so the text detector
            # looks once more at the line alone. Never at more than a tile's worth of pixels: a large
            # box over texture found in two tiles (1311×767 on the coffee photo) cost 30 s CPU there.
            pad = max(8, box.h // 2)
            win = Box.from_xyxy(box.x - pad, box.y - pad, box.x1 + pad, box.y1 + pad).clip(w, h)
            if max(p.area for p in parts) >= 0.9 * box.area or win.area > side_w * side_h:
                out.append((box, scale))
                continue
            crop = np.ascontiguousarray(rgb[win.y : win.y1, win.x : win.x1])
            again = [
                (Box(b.x + win.x, b.y + win.y, b.w, b.h), s)
                for b, s in detect_text(self.engine, crop, self.scales, self.min_box_side, likely=self.likely)
            ]
            inside = [(b, s) for b, s in again if b.intersection(box) >= 0.5 * b.area]
            out += inside or [(box, scale)]
        return sorted(out, key=lambda bs: (bs[0].y, bs[0].x))

    def _reread(self, rgb: np.ndarray, lines: list[TextLine]) -> list[TextLine]:
        """Small lines the original does not read legibly, searched again for text at ``reread``× in
        a window around each: a box the first search drew around two stacked lines ('LIQUI' over
        'MOLY', read 'MLYLY' 0.59) or loosely around one gets the detector's boxes at that scale, each
        read as usual. A line is replaced by what the search finds there only when one of those reads
        legibly; otherwise it stays as it was. Nothing else changes: a line that still does not read
        legibly gives no claim (the comparison's gates), so guesses stay out."""
        scale, max_h = self.config.reread, self.config.reread_max_height
        if scale <= 0:
            return lines
        h, w = rgb.shape[:2]
        again = [not self.rules.legible(ln) and ln.box[3] <= max_h for ln in lines]
        out = [ln for ln, a in zip(lines, again, strict=True) if not a]
        for line in (ln for ln, a in zip(lines, again, strict=True) if a):
            box = Box(*line.box)
            pad = max(4, box.h // 2)
            win = Box.from_xyxy(box.x - pad, box.y - pad, box.x1 + pad, box.y1 + pad).clip(w, h)
            crop = np.ascontiguousarray(rgb[win.y : win.y1, win.x : win.x1])
            found = [
                (Box(b.x + win.x, b.y + win.y, b.w, b.h), scale)
                for b, _ in detect_text(self.engine, crop, (scale,), self.min_box_side)
            ]
            found = [(b, s) for b, s in found if b.intersection(box) >= 0.5 * b.area]
            parts = read_lines(self.engine, rgb, found, self.rescale) if found else []
            if not any(self.rules.legible(p) for p in parts):
                out.append(line)
                continue
            # two boxes over one sticker ('LQUI' and 'MLYLY') find the same parts: each is kept once
            out += [p for p in parts if not any(Box(*p.box).iou(Box(*k.box)) >= 0.5 for k in out)]
        return sorted(out, key=lambda ln: (ln.box[1], ln.box[0]))

    def read_reconstruction(
        self, rgb: np.ndarray, lines: list[TextLine], only: list[bool] | None = None,
        tiles: list[Box] | None = None,
    ) -> list[TextLine]:  # fmt: skip
        """The reconstruction read in each original line's place, twice (as is and rescaled), like
        the original. Text "" / 0.0 where full-mode detection found nothing overlapping the line, and
        for the lines ``only`` leaves out (not read at all)."""
        if self.mode == "boxes":
            boxes: list[Box | None] = [Box(*ln.box) for ln in lines]
        else:
            found = [b for b, _ in self._find_text(rgb, tiles)]
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
        return self.detect_in_tiles(images, None)

    def detect_in_tiles(
        self, images: PairImages, tiles: list[Box] | None
    ) -> tuple[list[Finding], dict[str, int]]:
        """:meth:`detect_counted`, with the text found tile by tile (``tiles``, image pixels) and
        every line read and compared whole on the full pair, in image coordinates. Cutting the pair
        into tile views instead cut the lines that cross a tile edge ('PRICE 4.5' read for
        'PRICE 4.50 EUR') and left the changed line's box in tile coordinates. Only text detection
        needs the tiles: reading and the glyph check work on each line's crop."""
        lines = self.read_original(images, tiles)
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
        reads = self.read_reconstruction(images.reconstruction, lines, only, tiles)
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
        box = finding.line_box or finding.box
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


def join_across_tiles(found: list[list[tuple[Box, float]]]) -> list[tuple[Box, float, list[Box]]]:
    """Text boxes found in overlapping tiles (one list per tile, image pixels) as one list of (box,
    scale, the parts' boxes): boxes of different tiles that are parts of one line (touching, most of both
    heights shared: the rule ``detect_text`` joins its own tiles by) or where one lies mostly inside
    the other (a line the tile's edge cut through its height) become their union, with the scale of
    the largest part. Boxes of one tile stay as the detector made them, as within one image."""
    items = [(i, b, s) for i, boxes in enumerate(found) for b, s in boxes]
    parent = list(range(len(items)))

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for a, (ta, ba, _) in enumerate(items):
        for b in range(a + 1, len(items)):
            tb, bb, _ = items[b]
            if ta != tb and (same_line(ba, bb) or ba.intersection(bb) >= 0.5 * min(ba.area, bb.area)):
                parent[root(a)] = root(b)
    groups: dict[int, list[tuple[Box, float]]] = {}
    for k, (_, b, s) in enumerate(items):
        groups.setdefault(root(k), []).append((b, s))
    out = [
        (Box.union_of(b for b, _ in g), max(g, key=lambda bs: bs[0].area)[1], [b for b, _ in g])
        for g in groups.values()
    ]
    return sorted(out, key=lambda bsn: (bsn[0].y, bsn[0].x))


__all__ = ["DEFAULT_ENGINE", "OCR", "RULES", "OCRConfig", "OCRDetector", "TextLine", "join_across_tiles"]
