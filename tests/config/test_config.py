from dataclasses import dataclass

import pytest

from miscomp.config import (
    check_provenance,
    config_hash,
    defined,
    from_dict,
    provenance,
    to_dict,
    tuned,
)
from miscomp.errors import MiscompError


@dataclass(frozen=True)
class _Cfg:
    z: float = tuned(2.7, "benchmarks.x, tune split", "recall 0.9")
    sizes: tuple[int, ...] = defined((1, 2), "scales the reader sees")


@dataclass(frozen=True)
class _Bare:
    a: float = 1.0
    b: float = tuned(1.0, "somewhere")


def test_provenance_rows_name_source_and_value():
    rows = {r["field"]: r for r in provenance(_Cfg())}
    assert rows["z"]["kind"] == "tuned" and rows["z"]["value"] == 2.7
    assert rows["sizes"]["kind"] == "definition" and "reader" in rows["sizes"]["source"]


def test_check_provenance_finds_bare_fields():
    assert check_provenance(_Cfg) == []
    assert check_provenance(_Bare) == ["a"]


def test_round_trip_and_unknown_keys():
    cfg = _Cfg(z=3.0)
    assert from_dict(_Cfg, to_dict(cfg)) == cfg  # tuple survives the JSON list
    with pytest.raises(MiscompError, match="unknown field.*zz"):
        from_dict(_Cfg, {"zz": 1}, where="cand.json")


def test_hash_changes_with_values():
    assert config_hash(_Cfg()) == config_hash(_Cfg())
    assert config_hash(_Cfg()) != config_hash(_Cfg(z=3.0))


def test_mutable_default_refused():
    with pytest.raises(TypeError):
        tuned([1], "x")
