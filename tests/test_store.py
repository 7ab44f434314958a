import json

import pandas as pd

from miscomp.findings import FINDING_COLUMNS, Finding
from miscomp.store import ResultStore
from testing.records import pair_record


def _row(pair_id, status="ok"):
    return pair_record(pair_id, status=status, n_findings=1)


def _finding(pair_id, score=0.5):
    return Finding(pair_id, "diff", 1, 2, 3, 4, "shape", False, score, "edge moved")


def test_commit_consolidate_and_stable_schema(tmp_path):
    store = ResultStore(tmp_path)
    store.commit(_row("b__jpeg"), [_finding("b__jpeg", 0.2), _finding("b__jpeg", 0.9)])
    store.commit(_row("a__jpeg", status="error"), [])
    pairs, findings = store.consolidate()
    assert list(pairs.pair_id) == ["a__jpeg", "b__jpeg"]
    assert list(findings.columns) == FINDING_COLUMNS
    assert list(findings.score) == [0.9, 0.2]
    assert {k: v["status"] for k, v in store.committed().items()} == {"a__jpeg": "error", "b__jpeg": "ok"}
    on_disk = pd.read_parquet(tmp_path / "findings.parquet")
    assert on_disk.symbol.dtype == bool and on_disk.x.dtype == "int64"


def test_recommit_replaces_and_unreadable_part_is_ignored(tmp_path):
    store = ResultStore(tmp_path)
    store.commit(_row("a__jpeg", status="error"), [])
    store.commit(_row("a__jpeg"), [_finding("a__jpeg")])
    (tmp_path / "parts" / "broken.json").write_text("{not json")
    pairs, findings = store.consolidate()
    assert len(pairs) == 1 and pairs.status[0] == "ok" and len(findings) == 1
    assert "broken" not in store.committed()


def test_finding_ids_are_deterministic_and_distinct():
    a, b = _finding("p"), _finding("p")
    assert a.finding_id == b.finding_id
    assert _finding("q").finding_id != a.finding_id
    assert json.loads(json.dumps(a.to_row()))["finding_id"] == a.finding_id


def test_stale_temporaries_of_a_killed_scan_are_removed(tmp_path):
    store = ResultStore(tmp_path)
    store.commit(_row("a__jpeg"), [_finding("a__jpeg")])
    (tmp_path / "parts" / ".b__jpeg.json.4242.tmp").write_text('{"pair": {')  # killed mid-write
    assert store.remove_stale_temporaries() == 1
    assert sorted(p.name for p in (tmp_path / "parts").iterdir()) == ["a__jpeg.json"]
    assert list(store.committed()) == ["a__jpeg"]
