"""Every committed result file is one harness envelope, and benchmarks/results/README.md documents
every file and every column of its rows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from benchmarks.harness import RESULTS, read_results

FILES = sorted(RESULTS.glob("*.json"))
README = (RESULTS / "README.md").read_text(encoding="utf-8")


def _documented_names() -> set[str]:
    """Every `code` token of the README, with `a_q{50,75}` expanded to a_q50, a_q75."""
    names = set()
    for token in re.findall(r"`([^`]+)`", README):
        for piece in [token, *re.split(r"[,\s]+", token)]:
            m = re.fullmatch(r"(.*)\{([^}]*)\}(.*)", piece)
            names.update(m.group(1) + p + m.group(3) for p in m.group(2).split(",")) if m else names.add(
                piece
            )
    return names


def test_there_are_results():
    assert len(FILES) >= 10


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_result_is_an_envelope(path: Path):
    data = read_results(path)  # raises naming the file and what is wrong
    meta = data["metadata"]
    assert meta["benchmark"] == path.stem
    assert re.fullmatch(r"[0-9a-f]{40}", meta["git_commit"]), (
        f"{path.name}: git_commit {meta['git_commit']!r}"
    )
    if meta.get("converted"):  # wrapped without re-running: the commit that wrote the old file
        assert meta["date"]
    else:
        assert meta["miscomp_version"] and meta["packages"] and meta["command"]


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_result_is_documented(path: Path):
    assert re.search(rf"(^|[\s`*]){re.escape(path.stem)}[.*{{ ]", README, re.M), (
        f"{path.name} is not described in benchmarks/results/README.md"
    )
    names = _documented_names()
    columns = dict.fromkeys(k for row in read_results(path)["rows"] for k in row)
    missing = [c for c in columns if c not in names]
    assert not missing, f"{path.name}: columns not in benchmarks/results/README.md: {missing}"
