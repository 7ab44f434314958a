import pandas as pd
import pytest

from miscomp.findings import DEFAULT_MIN_SCORE
from miscomp.pairs.samples import SKIMAGE_PHOTOS, materialize
from miscomp.run import ScanConfig, run_scan


def test_sample_set_is_made_without_download(tmp_path):
    folder = materialize(tmp_path / "s")
    names = sorted(p.stem for p in folder.glob("*.png"))
    assert names == sorted([*SKIMAGE_PHOTOS, "plate_scene", "sign_scene"])
    before = {p: p.stat().st_mtime_ns for p in folder.glob("*.png")}
    materialize(folder)  # idempotent
    assert before == {p: p.stat().st_mtime_ns for p in folder.glob("*.png")}


def test_scan_without_originals_uses_the_bundled_set(tmp_path):
    summary = run_scan(ScanConfig(out=tmp_path / "run", codecs=["jpeg:quality=15"], detectors=["none"],
                                  quiet=True, report=False))  # fmt: skip
    assert summary.pairs_total == len(SKIMAGE_PHOTOS) + 2 and summary.errors == 0
    assert (tmp_path / "run" / "originals" / "plate_scene.png").exists()


@pytest.mark.slow
def test_the_bundled_plate_scene_shows_a_symbol_finding_of_the_shipped_codec(tmp_path):
    """The demo's headline case, not staged: the in-house bmshj2018-factorized q=1 (weights ship in the
    package) blurs the plates' 9-13 px city lines until OCR cannot read them, while the originals read
    them with confidence. The finding is shown (score >= min-score) and the summary counts it."""
    folder = materialize(tmp_path / "all")
    (tmp_path / "o").mkdir()
    (folder / "plate_scene.png").rename(tmp_path / "o" / "plate_scene.png")
    summary = run_scan(ScanConfig(out=tmp_path / "run", originals=tmp_path / "o",
                                  codecs=["bmshj2018-factorized:q=1"], quiet=True, trace=False))  # fmt: skip
    findings = pd.read_parquet(tmp_path / "run" / "findings.parquet")
    shown = findings[(findings["score"] >= DEFAULT_MIN_SCORE) & findings["symbol"]]
    lost = shown[shown["evidence"].str.contains(r"\(1\.00\) (?:illegible|read as)", regex=True)]
    assert len(lost) >= 1, findings[["detector", "score", "evidence"]].to_string()
    assert summary.symbol_findings >= len(lost) and summary.findings == int(
        (findings["score"] >= DEFAULT_MIN_SCORE).sum()
    )
