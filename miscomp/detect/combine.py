"""One rule for the symbol flag, across detectors: a finding whose region overlaps text of the original
that changed is a symbol finding, whichever detector found it.

Which text changed is what the text detectors established: their symbol findings carry the changed
line (``details["line_box"]``, in original-image pixels) or, failing that, their own box. A region
finding (``diff``) on the same line then gets ``symbol=True`` and evidence naming the text change; its
category stays its own (the taxonomy decides categories, the symbol flag is separate). Text that did not
change leaves other findings alone: codec noise on a sign is not a symbol change.

A pure function over one pair's findings, called once per pair by the scan (``run_pair``).
"""

from __future__ import annotations

import dataclasses

from miscomp.findings import Finding
from miscomp.geometry import Box

# Share of the smaller of (finding, changed text) that must overlap: a large region holding the line
# counts, a region that merely grazes the line's edge does not.
MIN_OVERLAP = 0.3


def changed_text(findings: list[Finding]) -> list[tuple[Box, Finding]]:
    """(changed line box, the finding that says so) for every symbol finding of a text detector."""
    out = []
    for f in findings:
        if f.symbol and ("original_text" in f.details or "line_box" in f.details):
            out.append((Box(*f.details.get("line_box", f.box)), f))
    return out


def combine(findings: list[Finding], min_overlap: float = MIN_OVERLAP) -> list[Finding]:
    """The pair's findings with the symbol flag set on every finding over changed text."""
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
            if f.box.intersection(box) >= min_overlap * min(f.box.area, box.area) > 0
        ]  # fmt: skip
        if not hits:
            out.append(f)
            continue
        box, t = max(hits, key=lambda bt: f.box.intersection(bt[0]))
        before, after = t.details.get("original_text", ""), t.details.get("reconstruction_text", "")
        what = f"text {before!r} → {after!r}" if before else "changed text"
        details = f.details | {"symbol_from": {"detector": t.detector, "finding_id": t.finding_id,
                                               "line_box": list(box)}}  # fmt: skip
        out.append(
            dataclasses.replace(  # fmt: skip
                f,
                symbol=True,
                details=details,
                finding_id="",
                evidence=f"{f.evidence}; over {what} ({t.detector})",
            )
        )
    return out


__all__ = ["MIN_OVERLAP", "changed_text", "combine"]
