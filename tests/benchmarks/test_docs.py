"""The generated documents are in sync with what they are generated from, and the README stays short."""

from __future__ import annotations

import json

from benchmarks import docs
from benchmarks.harness import REPO, write_results

README_MAX_LINES = 250  # issue 24: a newcomer reads it in one sitting; the rest lives in docs/


def test_generated_documents_are_in_sync():
    stale = [
        str(path.relative_to(REPO))
        for path, text in docs.documents().items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]
    assert not stale, f"out of date: {stale}; run python -m benchmarks.docs and commit the result"


def test_readme_is_short_and_has_the_headline_table():
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines (at most {README_MAX_LINES})"
    assert docs.BEGIN in lines and docs.END in lines


def test_headline_takes_the_held_out_row_and_stamps_its_commit(tmp_path):
    rows = [
        {"split": "tune", "group": "all", "name": "all", "pairs": 35, "recall": 0.95},
        {"split": "heldout", "group": "codec", "name": "jpeg", "pairs": 9, "recall": 0.5},
        {"split": "heldout", "group": "all", "name": "all", "pairs": 31, "recall": 0.875},
    ]
    path = write_results("real_codecs", {"labels": "x"}, rows, results_dir=tmp_path)
    commit = json.loads(path.read_text())["metadata"]["git_commit"][:10]
    block = docs.headline_md(tmp_path)
    assert (
        "| default detectors (diff, ocr, structure, face) | 31 | 0.88 |" in block
        and f"| `{commit}` |" in block
    )
    assert "0.95" not in block
    text = f"intro\n{docs.BEGIN}\nold table\n{docs.END}\nrest\n"
    assert docs.readme_text(text, tmp_path) == f"intro\n{block}\nrest\n"
    assert docs.results_md(tmp_path) == docs.results_md(tmp_path)
    assert "## real_codecs" in docs.results_md(tmp_path)
