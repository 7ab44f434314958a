"""One rule for the symbol flag, across detectors: a finding whose region overlaps text of the original
that changed is a symbol finding, whichever detector found it.

Which text changed is what the text detectors established: their symbol findings carry the changed
line (``Finding.line_box``, in original-image pixels). A region
finding (``diff``) on the same line then gets ``symbol=True`` and evidence naming the text change; its
category stays its own (the taxonomy decides categories, the symbol flag is separate), except that
it is never amplitude (:func:`miscomp.taxonomy.over_changed_text`: the read changing is contour
evidence). Text that did not
change leaves other findings alone: codec noise on a sign is not a symbol change.

A region finding gets the flag only when it lies mostly inside the changed line: a large region that
holds the line, or one beside it that grazes it, is about something else (on the test bed's tune split
3 of the 4 ``diff`` symbol findings that hit no changed text were such regions, 0.18-0.35 of their
area inside the line).

The same pass scores one ordinary artefact low that the region detector cannot tell by itself: colour
drift of a learned codec (:func:`demote_colour_drift`).

Pure functions over one pair's findings, called once per pair by the scan (``run_pair``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from miscomp.config import defined, tuned
from miscomp.detect.diff.maps import COLOUR_MAPS  # evidence from the colour maps only: a tint
from miscomp.detect.diff.score import artefact_score
from miscomp.findings import Finding
from miscomp.geometry import Box
from miscomp.taxonomy import over_changed_text


@dataclass(frozen=True)
class CombineConfig:
    """The one symbol rule and the colour-drift demotion."""

    min_overlap: float = tuned(
        0.5, "real-codec test bed (datasets/realbed), tune split: share of a region's own area that must lie "
        "inside the changed line ('mostly inside')",
        "3 of the 4 diff symbol findings that hit no changed text had 0.18-0.35 inside; precision "
        "0.70 -> 0.73 with the colour-drift rule (82b34a8)",
    )  # fmt: skip
    colour_drift_explained: float = defined(
        0.5, "colour drift is scored as an ordinary artefact half explained (artefact_score(0.5) = 0.25, "
        "below the default minimum score)",
    )  # fmt: skip


COMBINE = CombineConfig()
MIN_OVERLAP = COMBINE.min_overlap


def changed_text(findings: list[Finding]) -> list[tuple[Box, Finding]]:
    """(changed line box, the finding that says so) for every symbol finding of a text detector."""
    return [(f.line_box, f) for f in findings if f.symbol and f.line_box is not None]


def combine(findings: list[Finding], config: CombineConfig = COMBINE) -> list[Finding]:
    """The pair's findings with the symbol flag set on every finding mostly inside changed text, and
    colour drift of learned codecs scored as an ordinary artefact."""
    return demote_colour_drift(flag_symbols(findings, config.min_overlap), config)


def flag_symbols(findings: list[Finding], min_overlap: float = MIN_OVERLAP) -> list[Finding]:
    """Set the symbol flag on every finding whose box lies mostly (``min_overlap`` of its area) inside
    a changed line."""
    texts = changed_text(findings)
    if not texts:
        return list(findings)
    out = []
    for f in findings:
        if f.symbol:
            out.append(f)
            continue
        hits = [
            (box, t) for box, t in texts
            if f.box.intersection(box) >= min_overlap * f.box.area > 0
        ]  # fmt: skip
        if not hits:
            out.append(f)
            continue
        box, t = max(hits, key=lambda bt: f.box.intersection(bt[0]))
        before, after = t.original_text, t.reconstruction_text
        what = f"text {before!r} → {after!r}" if before else "changed text"
        details = f.details | {"symbol_from": {"detector": t.detector, "finding_id": t.finding_id,
                                               "line_box": list(box)}}  # fmt: skip
        # Changed text is contour evidence at the glyph's scale: never amplitude (miscomp.taxonomy).
        category, evidence = over_changed_text(f.category, f"{f.evidence}; over {what} ({t.detector})")
        out.append(
            dataclasses.replace(  # fmt: skip
                f,
                symbol=True,
                details=details,
                finding_id="",
                category=category,
                evidence=evidence,
            )
        )
    return out


def demote_colour_drift(findings: list[Finding], config: CombineConfig = COMBINE) -> list[Finding]:
    """A ``diff`` region seen only by the colour maps, on a learned codec, off changed text, is scored as
    an ordinary artefact (below the default minimum score; kept in the tables with its kind).

    Learned codecs redraw tints and tones locally: TAEF2 bits=2 shifts backgrounds by ΔE00 ≈ 15, the MSE
    codec drifts chroma around text. On the test bed's tune split 10 of the 14 such findings were
    labelled artefacts (colour drift of walls, plate grounds, car bodies); the other 4 lay on garbled
    text that the OCR finding there already reports. Object colour changes the bed labels (a sticker
    turned red) were all found through the text on them, not by these small regions. JPEG/WebP colour
    is left to the artefact model (chroma bleeding), so injected colour changes on those codecs stay.
    """
    out = []
    for f in findings:
        maps = set(f.maps)
        learned = f.artefact_family == "learned"
        if f.detector != "diff" or f.symbol or not learned or not maps or not maps <= COLOUR_MAPS:
            out.append(f)
            continue
        score = min(f.score, artefact_score(config.colour_drift_explained))
        details = f.details | {"artefact": "colour drift", "score_reason": "ordinary artefact"}
        evidence = f"ordinary codec artefact (colour drift of a learned codec); {f.evidence}"
        out.append(dataclasses.replace(f, score=score, details=details, evidence=evidence, finding_id=""))
    return out


__all__ = [
    "COMBINE",
    "MIN_OVERLAP",
    "CombineConfig",
    "changed_text",
    "combine",
    "demote_colour_drift",
    "flag_symbols",
]
