"""Executors: serial, a local process pool and a real local Ray cluster give the same tables, row for
row; a Ray worker killed mid-unit is retried and the run still holds exactly the rows of a clean run.

Slow by nature (each worker process imports torch and loads the OCR model; Ray starts a cluster), so
the inputs are small: 2 originals with text × 2 codecs. The process pool runs the default detectors
(OCR's once-per-original work must give the same rows in another process); the Ray tests run the diff
detector only, on larger images, so that a unit lasts long enough to be killed mid-way and the
workers do not import torch; one Ray cluster serves the module."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from miscomp.executors import Unit, usable_cores
from miscomp.run import ScanConfig, run_scan
from miscomp.store import load_run

TIMING = ["encode_s", "decode_s", "detect_s"]
CODECS = ("jpeg:quality=10", "webp:quality=5")
DIFF = ("diff",)


@pytest.fixture(scope="module")
def originals(tmp_path_factory) -> Path:
    from miscomp.pairs.samples import sample_images

    folder = tmp_path_factory.mktemp("orig")
    images = sample_images()
    for name in ("plate_scene", "sign_scene"):  # text, so OCR's once-per-original work is exercised
        Image.fromarray(np.ascontiguousarray(images[name][..., :3])).save(folder / f"{name}.png")
    return folder


@pytest.fixture(scope="module")
def large_originals(tmp_path_factory) -> Path:
    """The same two scenes at 2× (~0.6 MP): a few seconds of diff work per unit under load."""
    from miscomp.pairs.samples import sample_images

    folder = tmp_path_factory.mktemp("large")
    images = sample_images()
    for name in ("plate_scene", "sign_scene"):
        img = Image.fromarray(np.ascontiguousarray(images[name][..., :3]))
        img.resize((img.width * 2, img.height * 2), Image.BICUBIC).save(folder / f"{name}.png")
    return folder


def _scan(root: Path, originals: Path, name: str, **kw):
    # A cache per run: a shared OCR cache would let the second run skip the work under test.
    cfg = ScanConfig(
        out=root / name, originals=originals, codecs=CODECS, cache_dir=root / f"cache-{name}",
        quiet=True, report=False, **kw,
    )  # fmt: skip
    summary = run_scan(cfg)
    return summary, load_run(root / name)


def _tables(run):
    pairs = run.pairs.drop(columns=TIMING)
    return pairs.drop(columns=["original"]), run.findings  # original: an absolute path, per run


@pytest.fixture(scope="module")
def serial(tmp_path_factory, originals):
    summary, run = _scan(tmp_path_factory.mktemp("serial"), originals, "serial", workers=1)
    assert summary.errors == 0 and summary.pairs_done == 4
    assert summary.findings > 0 and {"ocr", "diff"} <= {d["name"] for d in run.meta["detectors"]}
    assert run.meta["settings"]["device"] in ("cpu", "cuda")  # the resolved device, never "auto"
    return _tables(run)


@pytest.fixture(scope="module")
def serial_diff(tmp_path_factory, large_originals):
    summary, run = _scan(tmp_path_factory.mktemp("sd"), large_originals, "serial", workers=1, detectors=DIFF)
    assert summary.errors == 0 and summary.pairs_done == 4 and summary.findings > 0
    return _tables(run)


def _assert_same(a, b) -> None:
    pairs_a, find_a = a
    pairs_b, find_b = b
    assert pairs_a.equals(pairs_b)
    assert find_a.equals(find_b)
    assert find_b["finding_id"].is_unique


def test_usable_cores_is_positive():
    assert 1 <= usable_cores() <= (os.cpu_count() or 1)


def test_workers_2_gives_the_serial_tables(tmp_path, originals, serial):
    summary, run = _scan(tmp_path, originals, "pool", workers=2)
    assert summary.pairs_done == 4 and run.meta["arguments"]["workers"] == 2
    _assert_same(serial, _tables(run))


def test_a_retried_unit_skips_committed_pairs_and_rewrites_nothing(tmp_path, originals):
    from miscomp.run import run_unit

    cfg = ScanConfig(
        out=tmp_path / "r", originals=originals, codecs=CODECS, cache_dir=tmp_path / "c", quiet=True,
        report=False, detectors=DIFF,
    )  # fmt: skip
    run_scan(cfg)
    part = next((tmp_path / "r" / "parts").glob("plate_scene*.json"))
    before = part.stat().st_mtime_ns
    tags = tuple(sorted({p.stem.split("__", 1)[-1] for p in (tmp_path / "r" / "parts").glob("*.json")}))
    ids = list(run_unit(cfg, Unit("plate_scene", originals / "plate_scene.png", tags)))
    assert len(ids) == 2 and part.stat().st_mtime_ns == before


# ---- Ray: a real local cluster on 127.0.0.1 ---------------------------------------------------------


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'miscomp[ray]'")
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    env = {k: os.environ[k] for k in ("PYTHONPATH", "OMP_NUM_THREADS", "MISCOMP_SHARED") if k in os.environ}
    env.update(RAY_USAGE_STATS_ENABLED="0", MISCOMP_THREADS="1")
    ray.init(
        num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False,
        runtime_env={"env_vars": env},
    )  # fmt: skip
    yield ray
    ray.shutdown()


def test_ray_gives_the_serial_tables(tmp_path, large_originals, serial_diff, ray_cluster):
    summary, run = _scan(tmp_path, large_originals, "ray", executor="ray", detectors=DIFF)
    assert summary.pairs_done == 4 and summary.errors == 0
    _assert_same(serial_diff, _tables(run))


def test_ray_worker_killed_mid_unit_still_gives_the_clean_rows(
    tmp_path, large_originals, serial_diff, ray_cluster
):
    import psutil

    killed: list[int] = []

    def kill_one_worker() -> None:
        # Ray titles a worker process "ray::_collect" while it runs our task; kill the first one seen
        # (a hard kill, as the OOM killer would), after it has had a moment to start its unit.
        deadline = time.monotonic() + 120
        while not killed and time.monotonic() < deadline:
            for proc in psutil.process_iter(["pid", "cmdline"]):
                cmd = proc.info["cmdline"] or []
                if cmd and cmd[0].startswith("ray::_collect"):
                    time.sleep(0.3)
                    try:  # still inside the unit? (the title turns back to ray::IDLE when it ends)
                        if proc.cmdline()[0].startswith("ray::_collect"):
                            proc.kill()
                            killed.append(proc.pid)
                            return
                    except (psutil.NoSuchProcess, IndexError):
                        continue
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one_worker, daemon=True)
    killer.start()
    summary, run = _scan(tmp_path, large_originals, "ray-killed", executor="ray", detectors=DIFF)
    killer.join(timeout=5)
    assert killed, "no Ray worker was running a unit to kill"
    assert summary.errors == 0 and len(run.pairs) == 4 and run.pairs["pair_id"].is_unique
    _assert_same(serial_diff, _tables(run))
