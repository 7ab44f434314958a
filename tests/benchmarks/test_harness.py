import json

from benchmarks.harness import check_envelope, read_results, write_results


def test_envelope_round_trip(tmp_path):
    path = write_results("demo", {"recall": 0.9}, [{"kind": "a", "n": 1}], results_dir=tmp_path)
    data = read_results(path)
    assert data["summary"] == {"recall": 0.9}
    assert data["rows"] == [{"kind": "a", "n": 1}]
    meta = data["metadata"]
    assert meta["benchmark"] == "demo" and len(meta["git_commit"]) >= 7
    assert (tmp_path / "demo.csv").read_text().splitlines()[0] == "kind,n"


def test_malformed_envelope_is_named(tmp_path):
    assert check_envelope({"summary": {}}) == ["expected exactly the keys metadata, summary, rows"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"metadata": {}, "summary": {}, "rows": []}))
    try:
        read_results(bad)
    except ValueError as err:
        assert "bad.json" in str(err) and "git_commit" in str(err)
    else:
        raise AssertionError("a metadata-less envelope was accepted")
