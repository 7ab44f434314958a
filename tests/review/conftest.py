"""A REAL Label Studio server for the tests marked ``labelstudio``: started once per session on a free
loopback port, with its data dir and Local Files root in temporary folders, stopped at the end.

Label Studio lives in its own venv (.venv-ls); CI installs it first with annotation/install_ls.sh,
and the fixture runs that script itself when the venv is missing. First start takes ~40 s (migrations).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from miscomp.review.config import Connection
from miscomp.review.serve import LabelStudioServer, ServerSpec, free_port

REPO = Path(__file__).resolve().parents[2]
DEFAULT_VENV = REPO / ".venv-ls"  # where annotation/install_ls.sh installs Label Studio


@dataclass
class LiveServer:
    server: LabelStudioServer
    root: Path  # the Local Files document root; run dirs to push live under it

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def conn(self) -> Connection:
        return Connection(self.server.url, self.server.credentials.token)


def _migrated_template(root: Path) -> Path:
    """A data dir whose database is already migrated, with admin and token: the first start of an
    empty data dir spends 40 s (200 s on a loaded machine) in migrations; a copy starts in ~5 s.
    Kept inside .venv-ls, so it is rebuilt whenever Label Studio is reinstalled."""
    template = DEFAULT_VENV / "miscomp-test-template"
    if not (template / "miscomp-credentials.json").exists() or not any(template.glob("*.sqlite3")):
        shutil.rmtree(template, ignore_errors=True)
        building = template.with_name(template.name + ".building")
        shutil.rmtree(building, ignore_errors=True)
        server = LabelStudioServer(
            ServerSpec(data_dir=building, document_root=root, port=free_port(), venv=DEFAULT_VENV)
        )
        server.start()
        server.stop()
        for log in building.glob("*.log"):
            log.unlink()
        building.rename(template)
    return template


@pytest.fixture(scope="session")
def ls_server(tmp_path_factory) -> LiveServer:
    if not (DEFAULT_VENV / "bin" / "label-studio").exists():
        proc = subprocess.run([str(REPO / "annotation" / "install_ls.sh")], capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.skip(f"Label Studio could not be installed into .venv-ls: {proc.stderr[-300:]}")
    root = tmp_path_factory.mktemp("ls-root")
    data_dir = tmp_path_factory.mktemp("ls-data") / "data"
    shutil.copytree(_migrated_template(root), data_dir)
    spec = ServerSpec(data_dir=data_dir, document_root=root, port=free_port(), venv=DEFAULT_VENV)
    server = LabelStudioServer(spec)
    server.start()
    yield LiveServer(server, root)
    server.stop()


def annotator_account(live: LiveServer, email: str, password: str = "annotator-pw-0123") -> Connection:
    """A second (third ...) account in the server's organisation, as a person gets one: the admin's
    invite link, the signup form, then the account's own API token. (``users.create`` makes a user
    without a usable password, so it cannot log in.)"""
    import httpx

    admin = {"Authorization": f"Token {live.server.credentials.token}"}
    invite = httpx.get(f"{live.url}/api/invite", headers=admin).raise_for_status().json()["invite_url"]
    with httpx.Client(base_url=live.url, follow_redirects=True) as web:
        web.get(invite).raise_for_status()
        form = {"email": email, "password": password, "csrfmiddlewaretoken": web.cookies["csrftoken"]}
        web.post(invite, data=form, headers={"Referer": live.url + invite}).raise_for_status()
        token = web.get("/api/current-user/token").raise_for_status().json()["token"]
    return Connection(live.url, token)


@pytest.fixture(scope="session")
def small_originals(tmp_path_factory) -> Path:
    """Two small originals with text-like structure: Kodak crops when shared data is there, else synthetic."""
    from miscomp.io import read_image, write_png

    folder = tmp_path_factory.mktemp("originals")
    kodak = Path(os.environ.get("MISCOMP_SHARED", REPO.parent / "shared")) / "data" / "kodak"
    if (kodak / "kodim10.png").exists():
        for name, (y, x) in (("kodim10", (200, 150)), ("kodim14", (300, 200))):
            rgb = read_image(kodak / f"{name}.png").rgb
            write_png(folder / f"{name}.png", rgb[y : y + 192, x : x + 256])
    else:
        rng = np.random.default_rng(0)
        for i in range(2):
            img = np.full((192, 256, 3), 180, np.uint8)
            img[40:150, 30 + 40 * i : 120 + 40 * i] = rng.integers(0, 255, 3)
            img = np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)
            write_png(folder / f"synthetic{i}.png", img)
    return folder


def commit_pair(
    run: Path,
    image_id: str,
    codec_tag: str,
    original: np.ndarray,
    rec: np.ndarray,
    boxes: list[tuple[int, int, int, int, str, bool]],
) -> None:
    """Commit one pair and its findings through the real store and crop writer, as the scan does."""
    from miscomp.crops import write_crops
    from miscomp.findings import Finding
    from miscomp.pairs import PairRecord
    from miscomp.store import PAIR_COLUMNS, ResultStore

    pair_id = f"{image_id}__{codec_tag}"
    findings = []
    for x, y, w, h, category, symbol in boxes:
        f = Finding(pair_id, "diff", x, y, w, h, category, symbol, 0.6, f"test change at {x},{y}")
        c = write_crops(run, f, original, rec)
        findings.append(f.with_crops(c.original, c.reconstruction, c.diff, c.window))
    row = dict.fromkeys(PAIR_COLUMNS, "")
    h, w = original.shape[:2]
    row.update(pair_id=pair_id, image_id=image_id, codec="jpeg", codec_tag=codec_tag, width=w, height=h,
               bytes=1000, bpp=8000 / (w * h), n_findings=len(findings), status="ok")  # fmt: skip
    for key in ("psnr", "ms_ssim", "encode_s", "decode_s", "detect_s"):
        row[key] = None
    row.update({f.name: None for f in dataclasses.fields(PairRecord) if f.default is None})  # not measured
    store = ResultStore(run)
    store.commit(PairRecord(**row), findings)
    store.consolidate()


@pytest.fixture(scope="session")
def store_pair():
    return commit_pair


@pytest.fixture(scope="session")
def scan_run(ls_server, small_originals) -> Path:
    """A real scan (JPEG q5, diff detector) written under the server's document root."""
    from miscomp.run import ScanConfig, run_scan

    out = ls_server.root / "run-a"
    summary = run_scan(
        # min_score 0 (recorded in run.json, the push default): these tests exercise push and pull
        # mechanics on every finding, including the low-score artefacts a default scan would hide.
        ScanConfig(out=out, originals=small_originals, codecs=["jpeg:quality=5"], detectors=["diff"],
                   quiet=True, report=False, min_score=0.0)
    )  # fmt: skip
    # the tests below review a few findings; a scan that gives none is a failure, not a reason to fake one
    assert summary.errors == 0 and summary.findings >= 3, summary
    return out
