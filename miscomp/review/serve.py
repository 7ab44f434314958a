"""Start and stop a local Label Studio server, bound to loopback, from its own virtual environment.

Label Studio pins Django, pyarrow, redis ... that clash with miscomp's own environment, so it lives
in ``.venv-ls`` (``annotation/install_ls.sh``). The server gets an admin user and a legacy API token
created on first start; both are kept in files (mode 0600) in the data dir and never printed.

The data dir holds the token three times (``api-token``, the credentials file and, in plaintext, the
SQLite database), so it is private to its owner: created 0700, the server runs with umask 077 (its
database is born 0600), and every start checks it again (:func:`secure_data_dir`): modes
that let others read are fixed, a data dir owned by another user is refused.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import stat
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from miscomp.errors import MiscompError
from miscomp.settings import Settings

DEFAULT_USERNAME = "admin@miscomp.local"
CREDENTIALS_FILE = "miscomp-credentials.json"
TOKEN_FILE = "api-token"
LOG_FILE = "server.log"

# Read by the server under their bare names too (see shared notes): never pass ours through.
_LEAKY_ENV = ("USERNAME", "PASSWORD", "HOST", "PORT", "USER_TOKEN")


class LabelStudioServerError(MiscompError):
    pass


@dataclass(frozen=True)
class ServerSpec:
    data_dir: Path
    document_root: Path
    port: int = 8089
    host: str = "127.0.0.1"
    venv: Path = field(default_factory=lambda: Settings.from_env().labelstudio_venv)
    username: str = DEFAULT_USERNAME

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def executable(self) -> Path:
        return self.venv / "bin" / "label-studio"


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str
    token: str

    def __repr__(self) -> str:  # keep secrets out of logs and tracebacks
        return f"Credentials(username={self.username!r}, password=***, token=***)"


# Files in the data dir that hold the token or the session secret; the database may have -wal/-shm.
_SECRET_GLOBS = ("*.sqlite3", "*.sqlite3-*", TOKEN_FILE, CREDENTIALS_FILE, ".env")


def secure_data_dir(data_dir: Path) -> list[str]:
    """Create ``data_dir`` 0700, or check an existing one: owned by us, no access for group or others,
    and its secret files 0600. Fixes what it can and returns one line per fix; raises
    :class:`LabelStudioServerError` (one line) for a data dir that belongs to someone else."""
    if not data_dir.exists():
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        data_dir.mkdir(mode=0o700)
        data_dir.chmod(0o700)  # mkdir's mode is filtered by the umask; be exact
        return []
    if data_dir.is_symlink() or not data_dir.is_dir():
        raise LabelStudioServerError(f"{data_dir}: the data dir must be a folder, not a link or a file")
    st = data_dir.stat()
    if st.st_uid != os.getuid():
        raise LabelStudioServerError(
            f"{data_dir}: owned by another user (uid {st.st_uid}); it holds the API token, so use a data dir "
            "of your own (--data-dir)"
        )
    fixed = []
    if stat.S_IMODE(st.st_mode) & 0o077:
        fixed.append(f"{data_dir}: mode {stat.S_IMODE(st.st_mode):04o} → 0700")
        data_dir.chmod(0o700)
    for pattern in _SECRET_GLOBS:
        for path in sorted(data_dir.glob(pattern)):
            if path.is_symlink() or not path.is_file():
                continue
            mode = stat.S_IMODE(path.stat().st_mode)
            if mode & 0o077:
                fixed.append(f"{path}: mode {mode:04o} → 0600")
                path.chmod(0o600)
    return fixed


def load_or_create_credentials(data_dir: Path, username: str = DEFAULT_USERNAME) -> Credentials:
    """The admin's password and API token, created once per data dir and kept there (mode 0600)."""
    secure_data_dir(data_dir)
    path = data_dir / CREDENTIALS_FILE
    if path.exists():
        raw = json.loads(path.read_text())
        return Credentials(raw["username"], raw["password"], raw["token"])
    creds = Credentials(username, secrets.token_urlsafe(18), secrets.token_hex(20))
    _write_private(path, json.dumps(creds.__dict__))
    _write_private(data_dir / TOKEN_FILE, creds.token)
    return creds


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def port_is_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def server_env(spec: ServerSpec, creds: Credentials) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _LEAKY_ENV and not k.startswith("LABEL_STUDIO_")}
    env.update(
        LABEL_STUDIO_BASE_DATA_DIR=str(spec.data_dir),
        LABEL_STUDIO_USERNAME=creds.username,
        LABEL_STUDIO_PASSWORD=creds.password,
        LABEL_STUDIO_USER_TOKEN=creds.token,
        LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED="true",
        LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=str(spec.document_root),
        # Nothing may call out from here: no Sentry, no version check, no analytics.
        SENTRY_DSN="",
        FRONTEND_SENTRY_DSN="",
        LATEST_VERSION_CHECK="false",
        COLLECT_ANALYTICS="false",
    )
    return env


class LabelStudioServer:
    """A Label Studio process we started; ``stop()`` ends exactly that process group."""

    def __init__(self, spec: ServerSpec) -> None:
        self.spec = spec
        self.credentials = load_or_create_credentials(spec.data_dir, spec.username)
        self._proc: subprocess.Popen | None = None
        self.permission_fixes: list[str] = []  # what the last start() made private, one line each

    @property
    def url(self) -> str:
        return self.spec.url

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def check(self) -> None:
        """What start() needs, checked in a moment (before a caller says it is starting)."""
        spec = self.spec
        if not spec.executable.exists():
            raise LabelStudioServerError(
                f"{spec.executable}: Label Studio is not installed; run annotation/install_ls.sh"
            )
        if not spec.document_root.is_dir():
            raise LabelStudioServerError(f"{spec.document_root}: document root is not a directory")
        # A busy port makes Label Studio silently move to the next one: refuse instead.
        if not port_is_free(spec.host, spec.port):
            raise LabelStudioServerError(
                f"port {spec.port} on {spec.host} is already in use; give another --port"
            )

    def start(self, timeout: float = 240.0) -> None:
        spec = self.spec
        self.check()
        self.permission_fixes = secure_data_dir(spec.data_dir)
        log = open(spec.data_dir / LOG_FILE, "ab")  # noqa: SIM115 - lives as long as the server
        cmd = [
            str(spec.executable), "start", "--no-browser",
            "--internal-host", spec.host, "--port", str(spec.port),
            # Only effective when the organisation is first created: enables our legacy token.
            "--enable-legacy-api-token",
        ]  # fmt: skip
        self._proc = subprocess.Popen(
            cmd,
            env=server_env(spec, self.credentials),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            umask=0o077,  # the database (token in plaintext) is born 0600; all else sits in the 0700 dir
        )
        log.close()
        self.wait_healthy(timeout)

    def wait_healthy(self, timeout: float) -> None:
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise LabelStudioServerError(
                    f"Label Studio exited with code {self._proc.returncode}; see {self.log_path}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as resp:
                    if b"UP" in resp.read():
                        return
            except OSError:
                pass
            time.sleep(0.5)
        self.stop()
        raise LabelStudioServerError(
            f"Label Studio did not become healthy in {timeout:.0f} s; see {self.log_path}"
        )

    @property
    def log_path(self) -> Path:
        return self.spec.data_dir / LOG_FILE

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM to the server's process group, SIGKILL to what is left of it after ``timeout`` s;
        the launcher is reaped either way (no zombie). Label Studio's workers took 20-40 s to honour
        SIGTERM alone."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        deadline = time.monotonic() + timeout
        # The server forks workers; signal the whole session we created, not just the launcher.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout)
        while time.monotonic() < deadline and _group_alive(proc.pid):  # workers that outlive it
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def wait(self) -> int:
        """Block until the server exits (used by ``miscomp annotate serve``)."""
        assert self._proc is not None
        return self._proc.wait()

    def __enter__(self) -> LabelStudioServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
