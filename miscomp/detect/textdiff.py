"""Comparing what was read or said about two images: character edits for OCR lines, token changes
for captions.

Both detectors need the same idea at different grain. OCR needs *where* in a line a character changed
(so the finding's box covers the changed glyphs, not the whole line); captions need *which* numbers
and content words changed, because sentence embeddings barely react to digits (cosine 0.90 for
"$1,284.50" vs "$1,264.50", notes/measured.md).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

from miscomp.geometry import Box


def normalise_text(text: str, case_sensitive: bool = False, alnum_only: bool = False) -> str:
    """The one text normaliser of every read comparison (the OCR detector's rules, the pairs' CER
    counts, the impact curves): accents folded, whitespace dropped, by default case dropped, and with
    ``alnum_only`` only letters and digits kept.

    Accents are folded (Ä→A, í→i): recognisers confuse them on unchanged glyphs ("Käse" read as
    "Káse" was one of the findings matching no label on the test bed's tune split). Whitespace goes
    because OCR splits and joins words arbitrarily. Case is ignored by default because recognisers
    confuse ``o``/``O``, ``s``/``S`` on the same glyph; a codec turning an ``S`` into an ``s`` is not
    what we are looking for. Punctuation is what recognisers get wrong most ("-" / ":" / "." on
    plates), hence ``alnum_only``.
    """
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    text = "".join(text.split())
    text = text if case_sensitive else text.upper()
    return "".join(c for c in text if c.isalnum()) if alnum_only else text


@dataclass(frozen=True)
class CharEdit:
    """One edit turning ``a[a_start:a_end]`` into ``b[b_start:b_end]``."""

    op: str  # "replace" | "insert" | "delete"
    a_start: int
    a_end: int
    b_start: int
    b_end: int
    a_text: str
    b_text: str

    @property
    def label(self) -> str:
        if self.op == "replace":
            return f"{self.a_text}→{self.b_text}"
        if self.op == "insert":
            return f"+{self.b_text}@{self.a_start}"
        return f"-{self.a_text}@{self.a_start}"

    def to_dict(self) -> dict:
        return {"op": self.op, "pos": self.a_start, "from": self.a_text, "to": self.b_text}


def char_edits(a: str, b: str) -> list[CharEdit]:
    """Minimal edits from ``a`` to ``b`` (Levenshtein opcodes; equal runs dropped)."""
    return [
        CharEdit(op.tag, op.src_start, op.src_end, op.dest_start, op.dest_end,
                 a[op.src_start:op.src_end], b[op.dest_start:op.dest_end])
        for op in Levenshtein.opcodes(a, b)
        if op.tag != "equal"
    ]  # fmt: skip


def describe_edits(edits: list[CharEdit]) -> str:
    return ", ".join(e.label for e in edits)


def span_box(line: Box, n_chars: int, start: int, end: int) -> Box:
    """Approximate box of characters ``[start, end)`` of a line, assuming equal character widths.

    The recogniser gives no per-character positions, so proportional widths are the honest estimate;
    an insertion (``start == end``) gets one character's width centred on the insertion point.
    """
    x, y, w, h = line
    if n_chars <= 0:
        return line
    cw = w / n_chars
    if end <= start:
        x0 = x + start * cw - cw / 2
        x1 = x0 + cw
    else:
        x0, x1 = x + start * cw, x + end * cw
    x0 = max(x, int(round(x0)))
    x1 = min(x + w, int(round(x1)))
    return (x0, y, max(1, x1 - x0), h)


# ---- captions: tokens ------------------------------------------------------------------------

# Small closed-class list: without a POS tagger (NLTK's needs a download) everything that is not a
# function word counts as a content word, which in captions means mostly nouns, colours and verbs.
_FUNCTION_WORDS = (
    "a an the and or of in on at to with without by for from into onto over under near next is are was "
    "were be been being it its this that these those there here some any very while his her their "
    "has have having up down out off as than then just also"
)
_STOPWORDS = frozenset(_FUNCTION_WORDS.split())
_NUMBER_WORDS = {
    "zero": "0", "no": "0", "one": "1", "single": "1", "two": "2", "pair": "2", "three": "3", "four": "4",
    "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11",
    "twelve": "12", "dozen": "12",
}  # fmt: skip
_TOKEN = re.compile(r"\d+(?:[.,:/]\d+)*|[a-z]+")


@dataclass(frozen=True)
class TokenChanges:
    numbers_removed: tuple[str, ...]
    numbers_added: tuple[str, ...]
    words_removed: tuple[str, ...]
    words_added: tuple[str, ...]

    @property
    def number_changed(self) -> bool:
        return bool(self.numbers_removed or self.numbers_added)

    @property
    def word_changed(self) -> bool:
        return bool(self.words_removed or self.words_added)

    def describe(self) -> str:
        parts = []
        if self.number_changed:
            parts.append(f"numbers {list(self.numbers_removed)} → {list(self.numbers_added)}")
        if self.word_changed:
            parts.append(f"words {list(self.words_removed)} → {list(self.words_added)}")
        return "; ".join(parts)


def _stem(word: str) -> str:
    # Crude plural folding so "car"/"cars" is not a changed noun; the number words catch the count.
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def caption_tokens(text: str) -> tuple[Counter, Counter]:
    """(numbers, content words) of a caption; number words count as numbers ("two" == "2")."""
    numbers: Counter = Counter()
    words: Counter = Counter()
    for tok in _TOKEN.findall(text.lower()):
        if tok[0].isdigit():
            numbers[tok.replace(",", "")] += 1
        elif tok in _NUMBER_WORDS:
            numbers[_NUMBER_WORDS[tok]] += 1
        elif tok not in _STOPWORDS and len(tok) > 1:
            words[_stem(tok)] += 1
    return numbers, words


def token_changes(a: str, b: str) -> TokenChanges:
    """Numbers and content words present in one caption but not the other (multiset difference)."""
    na, wa = caption_tokens(a)
    nb, wb = caption_tokens(b)
    return TokenChanges(
        tuple(sorted((na - nb).elements())),
        tuple(sorted((nb - na).elements())),
        tuple(sorted((wa - wb).elements())),
        tuple(sorted((wb - wa).elements())),
    )
