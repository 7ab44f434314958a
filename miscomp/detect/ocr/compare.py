"""From the two reads of each text line to findings. No OCR runs here: everything is cheap.

Each text line of the original is compared with the reconstruction read in the same box. A change is
a finding with ``symbol=True`` whose evidence names both reads:

- ``substitution`` (read differently, character by character): the same characters changed at both
  read scales, both reads confident, and the glyph-structure check (``glyphs.py``) saw a change at that
  character: JPEG noise flips a recogniser's reads of hard glyphs without changing their structure.
- ``illegible`` (legible → illegible) and ``misread`` (legible → confidently read as something else,
  e.g. a word a generative codec rewrote, where every glyph changed and none stands out of its box):
  the original read stably and confidently, both reads of the reconstruction differ from it, and the
  line's structure changed beyond codec noise (``line_change``). Their category is decided by the
  taxonomy from the pixels, like any other region's.
- ``glyph``: a character cell changed shape far more than the line's other cells, whatever OCR reads.

Text the original itself does not read confidently (below ``min_conf``) gives no finding: those reads
are guesses ("'9' (0.19) → '97' (0.02)" on real car photos at JPEG q85 was the typical false finding).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rapidfuzz.distance import Levenshtein

from miscomp.config import defined, measured, tuned
from miscomp.detect import glyphs
from miscomp.detect.base import PairImages
from miscomp.detect.glyphs import GLYPHS
from miscomp.detect.ocr.reading import TextLine
from miscomp.detect.textdiff import CharEdit, char_edits, describe_edits, normalise_text, span_box
from miscomp.findings import Category, Finding
from miscomp.geometry import Box
from miscomp.pairs.records import READ_COUNT_FIELDS

_BED_TUNE = "real-codec test bed (datasets/realbed), tune split"


@dataclass(frozen=True)
class CompareRules:
    """When a line's reads count as a change: the OCR detector's comparison rules (and the policy of
    which lines need reading at all, :func:`needs_read`, derived from them)."""

    min_conf: float = tuned(
        0.5, "benchmarks/ocr_engines.py (rendered text and plates), rapidocr; EasyOCR's own is "
        "OCRConfig.easyocr_min_conf",
        "the original's read must be this confident for any finding on its line",
    )  # fmt: skip
    # ...and this confident (and stable) to count as legible; the engine's own when built by the detector
    legible_conf: float = defined(0.8, "rapidocr's legible confidence (engines.RapidOCREngine.legible_conf)")
    case_sensitive: bool = defined(
        False, "recognisers confuse o/O, s/S on the same glyph (textdiff.normalise_text)"
    )
    alnum_only: bool = defined(True, "punctuation is what recognisers get wrong most ('-' ':' '.' on plates)")
    glyph_check: bool = defined(True, "pixels confirm every character edit (glyphs.py)")
    glyph_ratio: float = defined(GLYPHS.ratio_threshold, "the glyph check's (GlyphConfig.ratio_threshold)")
    glyph_floor: float = defined(GLYPHS.change_floor, "the glyph check's (GlyphConfig.change_floor)")
    confirm_ratio: float = defined(GLYPHS.confirm_ratio, "the glyph check's (GlyphConfig.confirm_ratio)")
    # Structure change of a whole line (gradient difference / the line's gradient energy, blurred, at a
    # fixed text height: the glyph check's measure over the whole box).
    line_floor: float = measured(
        0.35, "benchmarks/ocr_engines.py (benchmarks/results/ocr_engines.json)",
        "unchanged plates and rendered text at JPEG q50-q90 stay below ~0.3",
    )  # fmt: skip
    # Block-transform codecs (JPEG, WebP) add stroke change to every text line; their lines need this much
    # before OCR noise on blocked glyphs counts as legible -> illegible or a misread.
    block_line_floor: float = tuned(
        0.85, _BED_TUNE + ", JPEG q10 (82b34a8)",
        "text that still reads scored line change 0.41-0.79 (11 findings, all labelled artefacts), text "
        "that no longer reads 0.89-1.12; held out: JPEG q10 recall 0.80 -> 0.20 (did not carry over)",
    )  # fmt: skip
    block_families: tuple[str, ...] = defined(("jpeg", "webp"), "block-transform codec families")
    # A single numeral is text too (clock faces): the confidence floor, not the length, keeps guesses out.
    min_chars: int = defined(1, "a single numeral is text (clock faces); min_conf keeps guesses out")
    read_noise: float = defined(
        0.25, "how far (1 - normalised similarity) the original's two reads may differ and still be stable"
    )  # fmt: skip
    height: int = defined(GLYPHS.height, "line change is measured at the glyph check's text height (px)")
    # A line the original reads stably but below legible confidence (a 7 px badge, a camera stamp whose
    # colons read as digits) may still give an illegible/misread finding, but only on a larger stroke
    # change than a legible line needs: the claim then rests on the pixels, the read only says it is text.
    weak_conf: float = tuned(
        0.6, "full-size bed (datasets/realbed/fullsize), tune split, 22 photos / 66 pairs, OCR findings with "
        "weak_conf 0.5 / 0.6 / 0.65 / 0.7 and weak_line_floor 0.5 / 0.6 / 0.8 (issue 28)",
        "symbol labels found 108 -> 119 of 177 at 0.6 (as at 0.5), text precision 0.779 -> 0.775; "
        "weak_conf > 1 turns the rule off",
    )  # fmt: skip
    weak_line_floor: float = tuned(
        0.6, "as weak_conf", "0.8 found 117 at text precision 0.782; with a block codec's floor (0.85) the "
        "higher of the two applies",
    )  # fmt: skip

    def floor_for(self, codec: str) -> float:
        """The line-change floor for a pair of this codec (tag or spec; unnamed codecs: line_floor)."""
        from miscomp.detect.diff.artefacts import codec_family

        return self.block_line_floor if codec_family(codec) in self.block_families else self.line_floor

    # The gates a finding must pass. ``compare``/``compare_reads`` decide with them, and ``needs_read``
    # asks the same gates whether a read could change anything, so the two cannot drift apart.

    def confirming(self, cells: list[glyphs.GlyphCell]) -> list[glyphs.GlyphCell]:
        """Cells changed enough to confirm a character edit of the reads (a substitution)."""
        return [c for c in cells if c.ratio >= self.confirm_ratio]

    def flagged(self, cells: list[glyphs.GlyphCell]) -> list[glyphs.GlyphCell]:
        """Cells changed enough to be a glyph finding of their own."""
        return glyphs.flagged(cells, self.glyph_ratio, self.glyph_floor)

    def strokes_changed(self, images: PairImages, box: Box) -> tuple[bool, float]:
        """Whether the line's strokes changed enough for a misread or illegible finding, and by how
        much (line change against the pair's codec's floor)."""
        change = line_change(images.original, images.reconstruction, box, self.height)
        return change >= self.floor_for(images.codec), change

    def compared(self, line: TextLine) -> bool:
        """Whether a line of the original is compared at all: only where both its reads are
        confident. The reconstruction's read of the others is used by no finding."""
        return min(line.conf, line.recheck_conf) >= self.min_conf

    def normalise(self, text: str) -> str:
        # accents folded, whitespace dropped; case and punctuation as these rules say (textdiff)
        return normalise_text(text, self.case_sensitive, self.alnum_only)

    def legible(self, line: TextLine) -> bool:
        """The original reads this line confidently and stably (its two reads nearly agree): a change
        of its read is a change of meaning, not a guess changing."""
        return self._stable_at(line, self.legible_conf)

    def weakly_legible(self, line: TextLine) -> bool:
        """Read stably, at ``weak_conf`` or more, but not legibly: such a line gives an illegible or
        misread finding only when its strokes changed by ``weak_line_floor`` (see :func:`compare`)."""
        return not self.legible(line) and self._stable_at(line, self.weak_conf)

    def _stable_at(self, line: TextLine, conf_floor: float) -> bool:
        a, a2 = self.normalise(line.text), self.normalise(line.recheck_text)
        noise = 1.0 - Levenshtein.normalized_similarity(a, a2)
        conf = min(line.conf, line.recheck_conf)
        return len(a) >= max(1, self.min_chars) and conf >= conf_floor and noise <= self.read_noise


def read_counts(lines: list[TextLine], reads: list[TextLine], rules: CompareRules) -> dict[str, int]:
    """What a machine reader loses on this pair: over the original's legible lines, how many the
    reconstruction reads identically and the character edits between the two reads. Reader noise
    counts too: it is what a downstream OCR would see."""
    n = exact = chars = errors = words = word_errors = 0
    for line, rec in zip(lines, reads, strict=True):
        if not rules.legible(line):
            continue
        a, b = rules.normalise(line.text), rules.normalise(rec.text)
        n += 1
        exact += a == b
        chars += len(a)
        errors += Levenshtein.distance(a, b)
        # word level: the edit distance over token sequences (a word read wrongly is one edit)
        wa = [w for w in (rules.normalise(t) for t in line.text.split()) if w]
        wb = [w for w in (rules.normalise(t) for t in rec.text.split()) if w]
        words += len(wa)
        word_errors += Levenshtein.distance(wa, wb)
    counts = (n, exact, chars, errors, words, word_errors)
    return dict(zip(READ_COUNT_FIELDS, counts, strict=True))


def line_change(
    original: np.ndarray, reconstruction: np.ndarray, box: Box, height: int = GLYPHS.height
) -> float:
    """How much the strokes inside ``box`` changed, relative to the strokes there (0 = identical)."""
    import cv2

    x, y, w, h = box
    ih, iw = original.shape[:2]
    x0, y0, x1, y1 = max(0, x), max(0, y), min(iw, x + w), min(ih, y + h)
    if x1 - x0 < 2 or y1 - y0 < 2 or original.shape != reconstruction.shape:
        return 0.0
    s = height / (y1 - y0)
    size = (max(4, round((x1 - x0) * s)), height)
    grads = []
    for im in (original, reconstruction):
        g = cv2.cvtColor(np.ascontiguousarray(im[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY)
        g = cv2.resize(g, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC).astype(np.float32)
        g = cv2.GaussianBlur(g, (0, 0), 1.2)
        grads.append((cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1)))
    energy = float(np.hypot(*grads[0]).mean())
    if energy < 1.0:
        return 0.0
    diff = np.hypot(grads[0][0] - grads[1][0], grads[0][1] - grads[1][1])
    return round(float(diff.mean()) / energy, 4)


def needs_read(images: PairImages, line: TextLine, rules: CompareRules) -> bool:
    """Whether the reconstruction's read of ``line`` can change the findings: False only where the
    pixels alone rule every finding out, so the line need not be read (recognition is the costly
    part of a reconstruction: ~40-60 ms per line and scale here).

    Asked through the same gates ``compare``/``compare_reads`` decide by: a line not ``compared`` gives
    nothing; with the glyph check on, a substitution needs ``confirming`` cells, a glyph finding
    ``flagged`` ones, and a misread or illegible line ``strokes_changed``; without any of them no read
    can give a finding (tests/detect/ocr/test_compare.py checks it against reading every line)."""
    if not rules.compared(line):
        return False
    if not rules.glyph_check:
        return True
    cells = _line_cells(images, line, rules)
    if not cells or rules.confirming(cells) or rules.flagged(cells):
        return True
    return rules.strokes_changed(images, line.box)[0]


def _line_cells(images: PairImages, line: TextLine, rules: CompareRules) -> list[glyphs.GlyphCell]:
    """The glyph check's cells of one line, as both ``needs_read`` and ``compare_reads`` see them (a
    guessed read may use coarse cells: see :func:`glyphs.glyph_cells`)."""
    if not rules.glyph_check:
        return []
    hint = len(rules.normalise(line.text))
    return glyphs.glyph_cells(
        images.original, images.reconstruction, line.box, hint, coarse=not rules.legible(line)
    )


def compare_reads(
    images: PairImages, lines: list[TextLine], reads: list[TextLine], rules: CompareRules, detector: str
) -> list[Finding]:
    """Findings from the reads, the string edits and the glyph check, one line at a time."""
    findings = []
    for line, rec in zip(lines, reads, strict=True):
        if not rules.compared(line):
            continue  # the original is not read confidently here: its reads are guesses
        cells = _line_cells(images, line, rules)
        finding = compare(images, line, rec, rules, detector, cells or None)
        groups = glyphs.group_adjacent(rules.flagged(cells))
        if finding is not None and finding.details.get("kind") == "substitution":
            # One place, one finding: glyph changes inside the OCR edit's box refine that finding.
            edit_boxes = finding.details["edit_boxes"]
            same = [g for g in groups if any(Box(*c.box).overlaps(b) for c in g for b in edit_boxes)]
            if same:
                finding = glyphs.refine(finding, line.text, [c for g in same for c in g], rules.glyph_ratio)
                groups = [g for g in groups if g not in same]
        elif finding is not None:
            groups = []  # the whole line is one finding already
        if finding is not None:
            findings.append(finding)
        a, b = rules.normalise(line.text), rules.normalise(rec.text)
        findings += [
            glyphs.glyph_finding(images.pair_id, detector, line.box, (line.text, rec.text), (a, b), g,
                                 rules.glyph_ratio)
            for g in groups
        ]  # fmt: skip
    return findings


def compare(
    images: PairImages | None, line: TextLine, rec: TextLine, rules: CompareRules, detector: str = "ocr",
    cells: list[glyphs.GlyphCell] | None = None,
) -> Finding | None:  # fmt: skip
    """One line. With ``cells`` (the glyph check ran on it), a character edit counts only where some
    cell it covers changed at least ``confirm_ratio`` times the line's noise."""
    pair_id = images.pair_id if images is not None else ""
    a, a2 = rules.normalise(line.text), rules.normalise(line.recheck_text)
    b, b2 = rules.normalise(rec.text), rules.normalise(rec.recheck_text)
    orig_conf = min(line.conf, line.recheck_conf)
    rec_conf = min(rec.conf, rec.recheck_conf)
    if not a or not rules.compared(line) or (a == b and a2 == b2):
        return None
    # Legible: read confidently, and the two reads of the original (nearly) agree.
    legible = rules.legible(line)
    # An edit counts only if both scales see it: the same characters changed at (nearly) the same
    # place in (original, reconstruction) and in (rescaled original, rescaled reconstruction). A glyph
    # whose own two reads on the original disagree can never pass.
    second = char_edits(a2, b2)
    edits = [
        e for e in char_edits(a, b)
        if any(f.op == e.op and f.a_text == e.a_text and f.b_text == e.b_text
               and abs(f.a_start - e.a_start) <= 1 for f in second)
    ]  # fmt: skip
    if cells:
        confirming = [c.box for c in rules.confirming(cells)]
        edits = [
            e for e in edits
            if any(Box(*c).overlaps(span_box(line.box, len(a), e.a_start, e.a_end)) for c in confirming)
        ]  # fmt: skip
    elif rules.glyph_check and not legible:
        # No glyph cells to confirm the edit in (not even coarse ones), so the read is the only
        # evidence, and a guessed read is not enough: kodim02's door latch reads '10' (0.71) and '0'
        # after JPEG q10 / WebP q5, the only symbol finding on text-free Kodak.
        edits = []
    details = {
        "original_text": line.text, "reconstruction_text": rec.text, "original_conf": round(orig_conf, 4),
        "reconstruction_conf": round(rec_conf, 4), "original_recheck": line.recheck_text,
        "reconstruction_recheck": rec.recheck_text, "line_box": list(line.box), "scale": line.scale,
        "ops": [e.to_dict() for e in edits],
    }  # fmt: skip
    if edits and rec_conf >= rules.min_conf:
        return _substitution(pair_id, detector, line, rec, a, edits, orig_conf, rec_conf, details)
    # A near-agreement of the original's reads ("AUTO MOSNL" / "AUTO MOBNL") still counts when the
    # reconstruction's reads are more than twice as far from them as they are from each other: the
    # change is larger than the reader's own noise.
    noise = 1.0 - Levenshtein.normalized_similarity(a, a2)
    moved = min(
        1.0 - Levenshtein.normalized_similarity(a, b), 1.0 - Levenshtein.normalized_similarity(a2, b2)
    )
    # A line read below legible confidence counts only on its pixels: never without them.
    weak = images is not None and rules.weakly_legible(line)
    if not (legible or weak) or b == a or b2 == a2 or moved <= 2 * noise:
        return None  # a read of the reconstruction agrees with the original, or differs by reader noise
    changed, change = rules.strokes_changed(images, line.box) if images is not None else (True, 1.0)
    details["line_change"] = change
    if not changed or (weak and change < rules.weak_line_floor):
        return None  # the strokes barely changed (beyond the codec's blocks): recogniser noise
    if weak:
        details["weak_read"] = True  # the original's read is below legible confidence
    confident = rec_conf >= rules.legible_conf and b == b2
    details["kind"] = "misread" if confident else "illegible"
    category, evidence = _classify(images, line.box)
    x, y, w, h = line.box
    what = (
        f"read as {rec.text!r} ({rec_conf:.2f})"
        if confident
        else (f"illegible: {rec.text!r} ({rec_conf:.2f}), not read confidently")
    )
    return Finding(
        pair_id=pair_id, detector=detector, x=x, y=y, w=w, h=h, category=category, symbol=True,
        score=round(min(0.95, 0.5 + 0.5 * min(1.0, change)) * orig_conf, 4),
        evidence=f"OCR {line.text!r} ({orig_conf:.2f}{', below legible' if weak else ''}) {what}; "
        f"strokes changed {change:.2f}{evidence}",
        details=details,
    ).with_line(line.box, line.text, rec.text)  # fmt: skip


def _classify(images: PairImages | None, box: Box) -> tuple[str, str]:
    """Category of a line that stopped reading, from its pixels (the taxonomy every region detector
    uses, told the text was lost: its strokes blurred away are dissolved contours)."""
    if images is None:
        return Category.GEOMETRY.value, ""
    from miscomp.taxonomy import classify_box

    category, _conf, text = classify_box(images.original, images.reconstruction, box, text_lost=True)
    return category.value, f"; {text}"


def _substitution(
    pair_id: str, detector: str, line: TextLine, rec: TextLine, a: str, edits: list[CharEdit],
    orig_conf: float, rec_conf: float, details: dict,
) -> Finding:  # fmt: skip
    details["kind"] = "substitution"
    boxes = [span_box(line.box, len(a), e.a_start, e.a_end) for e in edits]
    details["edit_boxes"] = [list(bx) for bx in boxes]
    x, y, w, h = Box.union_of(boxes)
    # A changed character is a changed contour of a symbol: shape, with the symbol flag.
    return Finding(
        pair_id=pair_id, detector=detector, x=x, y=y, w=w, h=h, category=Category.SHAPE.value,
        symbol=True, score=round(0.5 + 0.5 * min(orig_conf, rec_conf), 4),
        evidence=f"OCR {line.text!r} → {rec.text!r} ({describe_edits(edits)}; conf "
        f"{orig_conf:.2f}/{rec_conf:.2f})",
        details=details,
    ).with_line(line.box, line.text, rec.text)  # fmt: skip


__all__ = [
    "CompareRules",
    "compare",
    "compare_reads",
    "line_change",
    "needs_read",
    "read_counts",
]
