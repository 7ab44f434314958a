import dataclasses
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


def test_typed_stage_fields_round_trip_and_older_tables_read_with_defaults(tmp_path):
    from miscomp.geometry import Box

    text = Finding("a__jpeg", "ocr", 5, 6, 7, 8, "shape", True, 0.9, "5→8").with_line(
        Box(1, 6, 90, 8), "PRICE 4.50", "PRICE 4.80"
    )
    region = dataclasses.replace(
        _finding("a__jpeg"), artefact_family="learned", maps=("chroma", "lightness"), finding_id=""
    )
    store = ResultStore(tmp_path)
    store.commit(_row("a__jpeg"), [text, region])
    store.consolidate()
    back = {f.detector: f for f in _records(tmp_path)}
    assert back["ocr"] == text and back["ocr"].line_box == Box(1, 6, 90, 8)
    assert back["ocr"].reconstruction_text == "PRICE 4.80"
    assert back["diff"].maps == ("chroma", "lightness") and back["diff"].artefact_family == "learned"
    # a findings table written before these columns existed
    old = pd.read_parquet(tmp_path / "findings.parquet").drop(
        columns=["line_x", "line_y", "line_w", "line_h", "original_text", "reconstruction_text",
                 "artefact_family", "maps"]
    )  # fmt: skip
    old.to_parquet(tmp_path / "findings.parquet")
    back = {f.detector: f for f in _records(tmp_path)}
    assert back["ocr"].line_box is None and back["diff"].maps == () and back["ocr"].box == text.box


def _records(run_dir):
    from miscomp.store import load_run

    return [Finding.from_row(r) for r in load_run(run_dir).findings.to_dict("records")]
