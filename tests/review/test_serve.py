"""The server's data dir holds the API token: created private, checked and fixed on every start."""

from __future__ import annotations

import os
import stat

import pytest

from miscomp.review.serve import LabelStudioServerError, load_or_create_credentials, secure_data_dir


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_data_dir_and_its_token_are_private(tmp_path):
    old = os.umask(0o022)
    try:
        creds = load_or_create_credentials(tmp_path / "ls")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "ls") == 0o700
    assert _mode(tmp_path / "ls" / "api-token") == 0o600 and creds.token not in repr(creds)


def test_an_open_data_dir_is_fixed_with_one_line_per_file(tmp_path):
    data = tmp_path / "ls"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    for name in ("label_studio.sqlite3", "label_studio.sqlite3-wal", "api-token", "server.log"):
        (data / name).write_text("x")
        (data / name).chmod(0o644)
    fixes = secure_data_dir(data)
    assert _mode(data) == 0o700 and len(fixes) == 4 and all("→ 0" in f for f in fixes)
    assert _mode(data / "label_studio.sqlite3") == _mode(data / "api-token") == 0o600
    assert secure_data_dir(data) == []  # checked again: nothing left to fix


@pytest.mark.skipif(os.geteuid() != 0, reason="handing a folder to another user needs root")
def test_a_data_dir_of_another_user_is_refused(tmp_path):
    data = tmp_path / "ls"
    data.mkdir()
    os.chown(data, 12345, -1)
    with pytest.raises(LabelStudioServerError, match="owned by another user"):
        secure_data_dir(data)
