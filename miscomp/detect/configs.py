"""Every detection stage's config, by name: the one list of tuned numbers a scan runs with.

Each stage keeps its numbers in one frozen config (:mod:`miscomp.config`: every field says where its
value came from) beside the code that uses them; this module only lists them, so that run.json can
record them whole and a test can check every field's provenance. A new stage config is added here
(tests/detect/test_configs.py fails for a config under ``miscomp/detect`` that is not listed).
"""

from __future__ import annotations

from typing import Any


def stage_configs() -> dict[str, Any]:
    """{stage name: its default config instance}."""
    from miscomp.detect.caption import CAPTION
    from miscomp.detect.combine import COMBINE
    from miscomp.detect.diff.config import ARTEFACTS, DIFF, MAPS, SCORE, STRUCTURE
    from miscomp.detect.faces import FACE_CONFIG
    from miscomp.detect.glyphs import GLYPHS
    from miscomp.detect.ocr.detector import OCR, RULES
    from miscomp.detect.structure import STRUCTURE_CONFIG
    from miscomp.tiles import TILES

    return {
        "tiles": TILES, "diff": DIFF, "diff_maps": MAPS, "diff_artefacts": ARTEFACTS,
        "diff_structure": STRUCTURE, "diff_score": SCORE, "ocr": OCR, "ocr_rules": RULES, "glyphs": GLYPHS,
        "combine": COMBINE, "structure": STRUCTURE_CONFIG, "face": FACE_CONFIG,
        "caption": CAPTION,
    }  # fmt: skip


__all__ = ["stage_configs"]
