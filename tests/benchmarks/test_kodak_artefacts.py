"""benchmarks/kodak_artefacts.py's --compare-ref: the diff detector of a git revision, package and all."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from benchmarks import kodak_artefacts as ka
from miscomp.detect import PairImages
from miscomp.detect.diff import DiffDetector
from testing.shapes import brighten, scene

ROOT = Path(__file__).resolve().parents[2]


def _has_commit() -> bool:
    if shutil.which("git") is None:
        return False
    out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return out.returncode == 0


@pytest.mark.skipif(not _has_commit(), reason="needs git and a commit to read the detector from")
def test_ref_detector_of_a_package_revision_loads_and_runs_beside_this_one():
    ref = ka.load_ref_detector("HEAD")
    assert type(ref).__module__.startswith("ref_miscomp_detect_diff")  # the copy, not this tree's
    img = scene()
    rec, _ = brighten(img)
    pair = PairImages("t", img, rec)
    old, new = ref.detect(pair), DiffDetector().detect(pair)
    assert len(old) == 1 and len(new) == 1 and old[0].category == new[0].category == "amplitude"


def test_timed_keeps_the_least_cpu_time():
    calls = []
    got, seconds = ka._timed(lambda p: calls.append(p) or [p], "pair", 3)
    assert got == ["pair"] and len(calls) == 3 and seconds >= 0
