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


FAKE_LABEL_STUDIO = """#!{python}
# Stands in for `label-studio start`: answers /health, has a worker that ignores SIGTERM.
import http.server, os, signal, subprocess, sys
port = int(sys.argv[sys.argv.index("--port") + 1])
open(os.environ["FAKE_PID_FILE"], "w").write(str(os.getpid()))
deaf = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
subprocess.Popen([sys.executable, "-c", deaf])
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b'{{"status": "UP"}}')
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
"""


@pytest.fixture
def fake_venv(tmp_path):
    import sys

    exe = tmp_path / "venv" / "bin" / "label-studio"
    exe.parent.mkdir(parents=True)
    exe.write_text(FAKE_LABEL_STUDIO.format(python=sys.executable))
    exe.chmod(0o755)
    return exe.parent.parent


def _serve(tmp_path, venv, port, **kw):
    import subprocess
    import sys

    env = {**os.environ, "FAKE_PID_FILE": str(tmp_path / "pid")}
    cmd = [sys.executable, "-m", "miscomp", "annotate", "serve", "--port", str(port), "--venv", str(venv),
           "--data-dir", str(tmp_path / "ls"), "--root", str(tmp_path)]  # fmt: skip
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_serve_on_a_busy_port_says_so_before_starting(tmp_path, fake_venv):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        proc = _serve(tmp_path, fake_venv, busy.getsockname()[1])
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "already in use" in err and "starting" not in err and "Traceback" not in err
    assert not (tmp_path / "pid").exists()  # nothing was launched


def test_serve_stops_promptly_on_sigterm_and_leaves_no_process(tmp_path, fake_venv):
    import signal

    from miscomp.review.serve import free_port

    proc = _serve(tmp_path, fake_venv, free_port())
    line = proc.stdout.readline()  # blocks until the server answered /health
    assert "Label Studio is running" in line, proc.stderr.read()
    server_pid = int((tmp_path / "pid").read_text())
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)  # a hang guard, not a timing check
    assert proc.returncode == 0, err
    assert _live_members(server_pid) == []  # the launcher and its SIGTERM-deaf worker are gone


def _live_members(pgid: int) -> list[int]:
    """Processes of the group that are not zombies (a killed orphan waits for init to reap it)."""
    from pathlib import Path

    out = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            out.append(int(stat_file.parent.name))
    return out
