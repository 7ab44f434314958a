"""The taxonomy's thresholds: one config, every value with its provenance, every value read by a rule."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from miscomp.config import check_provenance, from_dict, provenance, to_dict
from miscomp.errors import MiscompError
from miscomp.taxonomy.config import TaxonomyConfig
from miscomp.taxonomy.rules import CLAUSES, describe

DOC = Path(__file__).resolve().parents[2] / "docs" / "detectors" / "taxonomy.md"


def test_every_threshold_carries_its_provenance():
    assert check_provenance(TaxonomyConfig) == []
    for row in provenance(TaxonomyConfig()):
        assert row["kind"] in {"tuned", "measured", "definition"} and row["source"], row
        if row["kind"] != "definition":
            assert row["result"], f"{row['field']}: a tuned or measured value says what it measured"


def test_every_threshold_is_read_by_a_clause_and_every_clause_name_is_unique():
    used = {name for clause in CLAUSES for name in clause.uses}
    assert used == {f.name for f in fields(TaxonomyConfig)}
    assert len({c.name for c in CLAUSES}) == len(CLAUSES)


def test_config_round_trips_and_refuses_unknown_thresholds():
    cfg = TaxonomyConfig(colour_explains=0.55)
    assert from_dict(TaxonomyConfig, to_dict(cfg)) == cfg
    with pytest.raises(MiscompError, match="no_such"):
        from_dict(TaxonomyConfig, {"no_such": 1.0})


def test_the_docs_page_is_generated_from_the_clauses():
    page = describe()
    for clause in CLAUSES:
        assert f"(`{clause.name}`)" in page
    assert DOC.read_text() == page, (
        "regenerate: python -m miscomp.taxonomy.rules > docs/detectors/taxonomy.md"
    )  # noqa: E501
