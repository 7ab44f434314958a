import numpy as np

from miscomp.pairs.samples import SKIMAGE_PHOTOS, materialize, render_plate_scene
from miscomp.run import ScanConfig, run_scan


def test_sample_set_is_made_without_download(tmp_path):
    folder = materialize(tmp_path / "s")
    names = sorted(p.stem for p in folder.glob("*.png"))
    assert names == sorted([*SKIMAGE_PHOTOS, "plate_scene", "sign_scene"])
    before = {p: p.stat().st_mtime_ns for p in folder.glob("*.png")}
    materialize(folder)  # idempotent
    assert before == {p: p.stat().st_mtime_ns for p in folder.glob("*.png")}


def test_plate_scene_text_is_rendered():
    a, b = render_plate_scene("AB12"), render_plate_scene("AB13")
    changed = np.argwhere((a != b).any(axis=2))
    assert changed.size and changed[:, 0].min() >= 110 and changed[:, 0].max() <= 200


def test_scan_without_originals_uses_the_bundled_set(tmp_path):
    summary = run_scan(ScanConfig(out=tmp_path / "run", codecs=["jpeg:quality=15"], detectors=["none"],
                                  quiet=True, report=False))  # fmt: skip
    assert summary.pairs_total == len(SKIMAGE_PHOTOS) + 2 and summary.errors == 0
    assert (tmp_path / "run" / "originals" / "plate_scene.png").exists()
