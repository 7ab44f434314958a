"""Hostile run dirs and hostile server data against a REAL Label Studio server (see conftest.py):
push reads only PNG crops inside the run dir, pull writes only inside --out, the data dir is private."""

from __future__ import annotations

import base64
import io
import stat

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from miscomp.review import config as cfg
from miscomp.review.client import LabelStudioClient
from miscomp.review.pull import pull_dataset
from miscomp.review.push import push_run

pytestmark = pytest.mark.labelstudio

SECRET = b"AWS_SECRET_ACCESS_KEY=do-not-send-me\n"


def _png_uri(value: int = 120) -> str:
    buf = io.BytesIO()
    Image.fromarray(np.full((24, 32, 3), value, np.uint8)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


@pytest.fixture
def hostile_run(ls_server, small_originals, store_pair, tmp_path):
    """A run dir (under the server's root) with five findings, four of them pointing at files that
    must never reach the server: an absolute path, ``../``, a symlink out, and a text file inside."""
    from miscomp.io import read_image

    secret = tmp_path / "secrets.txt"
    secret.write_bytes(SECRET)
    run = ls_server.root / f"hostile-{tmp_path.name}"
    a = read_image(sorted(small_originals.glob("*.png"))[0]).rgb
    rec = np.clip(a.astype(int) + 9, 0, 255).astype(np.uint8)
    boxes = [(10 + 30 * i, 10, 20, 20, "amplitude", False) for i in range(5)]
    store_pair(run, "a", "jpeg-q5", a, rec, boxes)
    findings = pd.read_parquet(run / "findings.parquet").sort_values("x").reset_index(drop=True)
    (run / "crops" / "link.png").symlink_to(secret)
    (run / "crops" / "notes.png").write_bytes(SECRET)
    outside = "../" * (len(run.parts) - 1) + str(secret).lstrip("/")
    findings.loc[0, "crop_original"] = str(secret)  # absolute
    findings.loc[1, "crop_original"] = outside  # ../../..
    findings.loc[2, "crop_reconstruction"] = "crops/link.png"  # inside by name, outside when resolved
    findings.loc[3, "crop_reconstruction"] = "crops/notes.png"  # inside, but not an image
    findings.to_parquet(run / "findings.parquet", index=False)
    return run, findings


@pytest.mark.parametrize("files", ["inline", "upload"])
def test_push_sends_only_png_crops_inside_the_run_dir(ls_server, hostile_run, files):
    run, findings = hostile_run
    project = f"hostile-push-{files}"
    res = push_run(run, ls_server.conn, project=project, files=files)
    assert (res.created, len(res.refused)) == (1, 4), res.refused
    text = "\n".join(res.refused)
    assert "outside the run dir" in text and "secrets.txt" in text and "not a readable image" in text
    for fid in findings["finding_id"][:4]:
        assert fid in text
    client = LabelStudioClient(ls_server.conn)
    (task,) = client.tasks(client.require_project(project))
    assert task["data"]["finding_id"] == findings["finding_id"][4]
    for key in (cfg.ORIGINAL, cfg.RECONSTRUCTION):
        assert SECRET not in client.download(task["data"][key])
        assert client.download(task["data"][key]).startswith(b"\x89PNG")


def test_cli_push_refuses_with_one_line_each_and_exit_code_1(ls_server, hostile_run, monkeypatch):
    from miscomp.cli.review import annotate_app

    run, _ = hostile_run
    monkeypatch.setenv(cfg.ENV_URL, ls_server.url)
    monkeypatch.setenv(cfg.ENV_API_KEY, ls_server.server.credentials.token)
    res = CliRunner().invoke(
        annotate_app, ["push", str(run), "--project", "hostile-cli", "--files", "inline"]
    )
    assert res.exit_code == 1, res.output
    assert res.output.count("refused:") == 4 and "1 tasks created" in res.output
    assert "Traceback" not in res.output


def _annotate(client: LabelStudioClient, task_id: int) -> None:
    result = [{"from_name": cfg.CATEGORY, "to_name": cfg.RECONSTRUCTION, "type": "choices",
               "value": {"choices": ["shape"]}}]  # fmt: skip
    client.sdk.annotations.create(id=task_id, result=result, completed_by=client.sdk.users.whoami().id)


def test_pull_takes_only_our_ids_and_writes_only_inside_out(ls_server, tmp_path):
    client = LabelStudioClient(ls_server.conn)
    project = "hostile-pull"
    pid = client.create_project(project, cfg.label_config())
    base = {"title": "t", "evidence": "e", "box": [1, 2, 3, 4], "crop_window": [0, 0, 32, 24],
            "tool_category": "shape", "tool_symbol": False,
            cfg.ORIGINAL: _png_uri(100), cfg.RECONSTRUCTION: _png_uri(140)}  # fmt: skip
    not_png = "data:image/png;base64," + base64.b64encode(SECRET).decode()
    tasks = [
        {**base, "finding_id": "0123456789abcdef", "pair_id": "a-1234abcd__jpeg-q5"},  # ours
        {**base, "finding_id": "../../../../x", "pair_id": "a-1234abcd__jpeg-q5"},
        {**base, "finding_id": "fedcba9876543210", "pair_id": "../../etc__x"},
        {**base, "finding_id": "00000000000000aa", "pair_id": "a-1234abcd__jpeg-q5", cfg.ORIGINAL: not_png},
    ]
    for task_id in client.import_tasks(pid, [{"data": t} for t in tasks]):
        _annotate(client, task_id)

    out = tmp_path / "a" / "b" / "c" / "d" / "dataset"
    res = pull_dataset(ls_server.conn, project, out)
    assert (res.rows, len(res.refused)) == (1, 3), res.refused
    text = "\n".join(res.refused)
    assert (
        "'../../../../x' is not a miscomp finding id" in text
        and "'../../etc__x' is not a miscomp pair id" in text
    )
    assert "is not a PNG image" in text
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written and all(p.is_relative_to(out) for p in written), written
    assert not list(tmp_path.rglob("x_orig.png")) and not list(tmp_path.rglob("*00aa*"))
    assert sorted(p.name for p in (out / "crops").iterdir()) == [
        "0123456789abcdef_orig.png",
        "0123456789abcdef_rec.png",
    ]


def test_pull_refuses_malformed_task_data_and_keeps_the_rest(ls_server, tmp_path):
    client = LabelStudioClient(ls_server.conn)
    pid = client.create_project("malformed-pull", cfg.label_config())
    base = {"title": "t", "evidence": "e", "crop_window": [0, 0, 32, 24], "tool_category": "shape",
            "tool_symbol": False, "pair_id": "a-1234abcd__jpeg-q5",
            cfg.ORIGINAL: _png_uri(100), cfg.RECONSTRUCTION: _png_uri(140)}  # fmt: skip
    tasks = [{**base, "finding_id": "00000000000000aa", "box": [1, 2, 3, 4]},
             {**base, "finding_id": "00000000000000bb", "box": [1, 2]}]  # fmt: skip
    for task_id in client.import_tasks(pid, [{"data": t} for t in tasks]):
        _annotate(client, task_id)
    res = pull_dataset(ls_server.conn, "malformed-pull", tmp_path / "ds")
    assert res.rows == 1 and len(res.refused) == 1 and "malformed task data" in res.refused[0]


def test_the_server_data_dir_and_its_secrets_are_private(ls_server):
    data_dir = ls_server.server.spec.data_dir
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    dbs = list(data_dir.glob("*.sqlite3"))
    assert dbs
    for path in [*dbs, data_dir / "api-token", data_dir / "miscomp-credentials.json"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
