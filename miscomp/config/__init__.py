"""Tuned numbers as data: one frozen config per stage, each field carrying where its value came from.

A detector here is mostly measured numbers. Each stage (diff, OCR rules, glyph check, taxonomy,
combine, tiles, …) keeps its numbers in one frozen dataclass whose fields are declared with
:func:`tuned` or :func:`defined`; the provenance travels as field metadata, so

- ``provenance(cfg)`` lists every field with its value and source (docs and run.json use it);
- ``check_provenance(cls)`` fails for a field declared without one (a test runs it on every config);
- ``to_dict`` / ``from_dict`` round-trip a config through JSON (run.json, candidate configs that a
  tuning benchmark writes), refusing unknown keys so a stale file cannot silently be half-applied.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any, TypeVar

from miscomp.errors import MiscompError

T = TypeVar("T")
C = TypeVar("C")

PROVENANCE = "provenance"


@dataclass(frozen=True)
class Provenance:
    """Where a config value came from.

    kind: ``definition`` (follows from what is measured, or a unit/convention), ``tuned`` (picked by a
    benchmark on a named split) or ``measured`` (read off data without a search, e.g. a noise floor).
    """

    kind: str
    source: str  # the benchmark and split, or the reason for a definition
    result: str = ""  # what the benchmark measured with this value (tuned/measured only)

    def __post_init__(self) -> None:
        if self.kind not in {"definition", "tuned", "measured"}:
            raise ValueError(f"provenance kind {self.kind!r}: expected definition, tuned or measured")
        if not self.source.strip():
            raise ValueError("provenance needs a source")


def tuned(default: T, source: str, result: str = "") -> T:
    """A field whose value a benchmark picked: ``source`` names the benchmark and split."""
    return _field(default, Provenance("tuned", source, result))


def measured(default: T, source: str, result: str = "") -> T:
    """A field read off data (a noise floor, a median) without a search over values."""
    return _field(default, Provenance("measured", source, result))


def defined(default: T, why: str) -> T:
    """A field whose value is a definition or convention, with the reason."""
    return _field(default, Provenance("definition", why))


def _field(default: Any, prov: Provenance) -> Any:
    if isinstance(default, list | dict | set):
        raise TypeError("config fields must be immutable (use a tuple)")
    return field(default=default, metadata={PROVENANCE: prov})


def field_provenance(f: Field) -> Provenance | None:
    return f.metadata.get(PROVENANCE)


def check_provenance(cls: type) -> list[str]:
    """Names of the config's fields that carry no provenance (empty when the config is complete)."""
    return [f.name for f in fields(cls) if field_provenance(f) is None or f.default is MISSING]


def provenance(cfg: Any) -> list[dict[str, Any]]:
    """One row per field: name, value, kind, source, result."""
    rows = []
    for f in fields(cfg):
        prov = field_provenance(f)
        rows.append(
            {
                "field": f.name,
                "value": getattr(cfg, f.name),
                "kind": prov.kind if prov else "",
                "source": prov.source if prov else "",
                "result": prov.result if prov else "",
            }
        )
    return rows


def to_dict(cfg: Any) -> dict[str, Any]:
    return {f.name: _jsonable(getattr(cfg, f.name)) for f in fields(cfg)}


def from_dict(cls: type[C], data: dict[str, Any], where: str = "config") -> C:
    """Build ``cls`` from ``data`` (missing keys take the defaults); unknown keys are an error."""
    names = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise MiscompError(f"{where}: unknown field(s) {', '.join(unknown)} for {cls.__name__}")
    kwargs = {}
    for key, value in data.items():
        default = names[key].default
        kwargs[key] = tuple(value) if isinstance(default, tuple) and isinstance(value, list) else value
    return cls(**kwargs)


def config_hash(*cfgs: Any) -> str:
    """A short stable hash of one or more configs' values (benchmarks record it)."""
    blob = json.dumps([[type(c).__name__, to_dict(c)] for c in cfgs], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_dict(value)
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value
