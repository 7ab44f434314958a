"""Every detection stage's numbers live in a config whose every field says where it came from."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import pkgutil
from pathlib import Path

import miscomp.detect
from miscomp.config import check_provenance, field_provenance, from_dict, to_dict
from miscomp.detect.configs import stage_configs

DETECT = Path(miscomp.detect.__file__).parent
SCANNED = sorted(DETECT.rglob("*.py")) + [DETECT.parent / "tiles.py"]

# Numeric module constants under miscomp/detect that are not tuned numbers, and why.
NOT_TUNED = {
    "ocr/detector.py:_CACHE_VERSION": "a cache format version",
    "diff/artefacts.py:_GRIDS": "block sizes of the codec families (JPEG 8/16 px, WebP 4/16): definitions",
    "ocr/engines.py:_REC_HEIGHT": "the PP-OCR recogniser's input height",
    "ocr/engines.py:_MAX_SIDE": "rapidocr's own input limit",
    # reading.py belongs to the small-text work (issue 28); its tiles move into OCRConfig there.
    "ocr/reading.py:TILE": "upscaled-pass tile side (reading.py's own, see its comment)",
    "ocr/reading.py:TILE_OVERLAP": "upscaled-pass tile overlap (reading.py's own)",
    "ocr/reading.py:LIKELY_MARGIN": "pixels of scale-1 context kept around a text-likely blob (a definition)",
}


def test_every_stage_config_field_has_provenance_and_round_trips():
    configs = stage_configs()
    assert {"tiles", "diff", "ocr", "ocr_rules", "glyphs", "combine"} <= set(configs)
    for name, cfg in configs.items():
        assert check_provenance(type(cfg)) == [], name
        assert from_dict(type(cfg), to_dict(cfg)) == cfg, name


def _config_classes() -> set[type]:
    """Dataclasses under miscomp/detect (and miscomp.tiles) with a field that carries provenance."""
    names = [m.name for m in pkgutil.walk_packages(miscomp.detect.__path__, "miscomp.detect.")]
    found = set()
    for name in names + ["miscomp.tiles"]:
        try:
            module = importlib.import_module(name)
        except ImportError:  # an optional extra that is not installed
            continue
        for value in vars(module).values():
            own = isinstance(value, type) and dataclasses.is_dataclass(value) and value.__module__ == name
            if own and any(field_provenance(f) for f in dataclasses.fields(value)):
                found.add(value)
    return found


def test_every_config_under_detect_is_listed():
    listed = {type(c) for c in stage_configs().values()}
    assert _config_classes() <= listed


def _numbers(node: ast.AST) -> bool:
    """A literal number, or a literal container holding one (calls and names are not looked into)."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, int | float) and not isinstance(node.value, bool)
    if isinstance(node, ast.UnaryOp):
        return _numbers(node.operand)
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return any(_numbers(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return any(_numbers(v) for v in node.values)
    return False


def test_no_tuned_number_lives_in_a_module_constant():
    found = []
    for path in SCANNED:
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Assign):
                targets, value = node.targets, node.value
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                targets, value = [node.target], node.value
            else:
                continue
            for t in targets:
                if isinstance(t, ast.Name) and _numbers(value):
                    rel = path.relative_to(DETECT).as_posix() if path.parent != DETECT.parent else path.name
                    found.append(f"{rel}:{t.id}")
    assert sorted(set(found) - set(NOT_TUNED)) == []
    assert set(NOT_TUNED) <= set(found)  # the allowlist holds nothing stale


def test_find_candidates_defaults_are_the_shipped_detectors():
    import inspect

    from miscomp.detect.diff import DiffDetector, find_candidates

    params = inspect.signature(find_candidates).parameters
    det = DiffDetector()
    assert params["low"].default == det.low == det.config.low
    assert params["min_area_fraction"].default == det.min_area_fraction == det.config.min_area_fraction
    assert params["threshold"].default == det.threshold
