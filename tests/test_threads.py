"""One function sets the process's threads; the scan's plan applies MISCOMP_THREADS and model loaders
keep it instead of forcing their own."""

from __future__ import annotations

import pytest

from miscomp.threads import applied_threads, apply_threads


@pytest.fixture
def restore_threads():
    before = applied_threads() or 1
    yield
    apply_threads(before)


def test_miscomp_threads_reaches_the_plan_opencv_torch_and_codecs(tmp_path, monkeypatch, restore_threads):
    import cv2

    from miscomp.run import ScanConfig, plan_scan

    monkeypatch.setenv("MISCOMP_THREADS", "3")
    monkeypatch.setenv("MISCOMP_CACHE", str(tmp_path / "cache"))
    plan = plan_scan(ScanConfig(out=tmp_path / "run", codecs=("jpeg:quality=50",), detectors=["none"]))
    assert plan.settings.threads == 3 and applied_threads() == 3 and cv2.getNumThreads() == 3
    torch = pytest.importorskip("torch")
    from miscomp.codecs import compressai_zoo, taef2

    for loader in (compressai_zoo._torch, taef2._torch):
        torch.set_num_threads(1)
        loader()  # used to force 1 thread whatever the setting
        assert torch.get_num_threads() == 3


def test_without_a_count_the_applied_one_stays(restore_threads):
    assert apply_threads(2) == 2 and apply_threads() == 2
    with pytest.raises(ValueError):
        apply_threads(0)
