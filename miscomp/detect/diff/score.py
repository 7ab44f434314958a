"""Scores that mean something: rank by semantic impact, and keep ordinary artefacts low.

A score in [0, 1] is a *band* for the kind of change plus the change's strength inside the band:

=====================  ==========  ==============================================================
kind                   band        why
=====================  ==========  ==============================================================
ordinary artefact      0.10–0.40   found in the raw maps, explained by the artefact model (lower
                                   the more it explains); kept in the tables for research
dissolved structure    0.55–0.95   a line or outline that is gone changes what the image shows
shape, geometry        0.50–0.90   changed or moved contours
amplitude              0.50–0.80   brightness/colour/texture strength, beyond what the artefact
                                   model explains
=====================  ==========  ==============================================================

Symbol findings come from the OCR detector (0.5 + 0.5 × read confidence) and are listed first by
the report whatever their score. The default minimum score
(:data:`miscomp.findings.DEFAULT_MIN_SCORE`, 0.5) hides the ordinary artefacts from the report and
from Label Studio; findings.parquet keeps them with their kind (``details.artefact``).
"""

from __future__ import annotations

import numpy as np

from miscomp.detect.diff.artefacts import ArtefactModel
from miscomp.detect.diff.config import SCORE
from miscomp.detect.diff.maps import COLOUR_MAPS, Candidate
from miscomp.detect.diff.structure import StructureChange

BANDS = SCORE.bands()
_FULL = SCORE.full()  # z at which strength saturates, in multiples of the detection threshold


def _band(kind: str, strength: float) -> float:
    lo, hi = BANDS[kind]
    return round(float(lo + (hi - lo) * np.clip(strength, 0.0, 1.0)), 4)


def region_score(category: str, cand: Candidate, threshold: float) -> tuple[float, str]:
    """(score, reason) of a region by its category and how far its peak z clears the threshold."""
    if set(cand.maps) <= COLOUR_MAPS and category != "amplitude":
        # Only the colour maps see it: whatever the contour features say, what changed is colour
        # (on Kodak at JPEG q10 these were all chroma bleeding along edges, scored as "shape").
        category, why = "amplitude", "colour-only evidence"
    else:
        why = f"{category} band"
    strength = (cand.peak_z - threshold) / ((_FULL[category] - 1) * threshold)
    return _band(category, strength), f"{why}, peak z {cand.peak_z:.1f}"


def structure_score(s: StructureChange) -> float:
    """Longer, more contrasted and more completely dissolved structures score higher."""
    gone = 1.0 - max(s.kept, 0.0)
    length = min(s.length_px / 150.0, 1.0)
    return _band("structure", 0.5 * gone + 0.5 * length)


def artefact_kind(maps: tuple[str, ...], model: ArtefactModel) -> str:
    """Which ordinary artefact a region the model explains most looks like."""
    if set(maps) <= {"chroma"}:
        return "chroma bleeding"
    if model.grid and set(maps) & {"structure", "edges"}:
        return "blocking"
    if set(maps) & {"structure", "edges"}:
        return "blur, ringing or texture smoothing"
    return "brightness drift"


def artefact_score(explained: float) -> float:
    """0.1–0.4: below every band above, lower the more of it the artefact model explains."""
    return round(float(0.1 + 0.3 * np.clip(1 - explained, 0, 1)), 4)
