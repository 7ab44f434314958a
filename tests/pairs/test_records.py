"""Image ids and how originals are found: unique, stable ids; nothing skipped without a word."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from miscomp.errors import MiscompError
from miscomp.pairs import find_originals, image_id_for
from miscomp.pairs.records import PAIR_ID_RE, make_pair_id

AWKWARD = ["a b.png", "a_b.png", "数字.png", "写真.png", "a.png", "a.jpg", "A.png"]


def _write(folder: Path, names: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((20, 20, 3), 99, np.uint8)).save(folder / name, format="PNG")
    return folder


def test_ids_are_unique_readable_and_case_insensitively_distinct(tmp_path):
    found = find_originals(_write(tmp_path / "o", AWKWARD))
    ids = {rel: i for i, _, rel in found.images}
    assert sorted(ids) == sorted(AWKWARD)
    assert len({i.lower() for i in ids.values()}) == len(AWKWARD)  # also on case-insensitive disks
    assert ids["a b.png"].startswith("a_b-") and ids["a_b.png"].startswith("a_b-")
    assert ids["数字.png"].startswith("image-") and ids["数字.png"] != ids["写真.png"]
    for i in ids.values():
        assert re.fullmatch(r"[A-Za-z0-9._-]+-[0-9a-f]{8}", i) and PAIR_ID_RE.fullmatch(
            make_pair_id(i, "jpeg-q5")
        )


def test_ids_are_stable_whatever_else_is_in_the_folder(tmp_path):
    alone = find_originals(_write(tmp_path / "one", ["a b.png"])).images[0][0]
    crowded = {rel: i for i, _, rel in find_originals(_write(tmp_path / "many", AWKWARD)).images}
    assert alone == crowded["a b.png"] == image_id_for("a b.png")
    assert image_id_for("sub/x.png") != image_id_for("x.png")


def test_subfolders_links_and_other_files_are_reported(tmp_path):
    folder = _write(tmp_path / "o", ["top.png", "sub/inner.png"])
    (folder / "gone.png").symlink_to(tmp_path / "missing.png")
    (folder / "notes.txt").write_text("hello")
    found = find_originals(folder)
    assert [rel for _, _, rel in found.images] == ["gone.png", "top.png"]  # the broken link is an input
    text = " | ".join(found.skipped)
    assert "1 subfolder(s) not scanned (sub)" in text and "--recursive" in text and "notes.txt" in text
    deep = find_originals(folder, recursive=True)
    assert [rel for _, _, rel in deep.images] == ["gone.png", "sub/inner.png", "top.png"]
    assert not any("not scanned" in s for s in deep.skipped)


def test_a_folder_without_images_is_an_error(tmp_path):
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "x.txt").write_text("")
    with pytest.raises(MiscompError, match="no images found"):
        find_originals(tmp_path / "o")
