"""Push, review and pull against a REAL Label Studio server (see conftest.py)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from miscomp import __version__
from miscomp.review import config as cfg
from miscomp.review.client import (
    AuthenticationError,
    LabelStudioClient,
    ProjectNotFoundError,
)
from miscomp.review.pull import pull_dataset
from miscomp.review.push import PushInterruptedError, push_run

pytestmark = pytest.mark.labelstudio


def _tasks(live, project: str) -> list[dict]:
    client = LabelStudioClient(live.conn)
    return client.tasks(client.require_project(project), with_annotations=True)


def _review(live, task: dict, choice: str, notes: str = "", box: dict | None = None) -> None:
    """What a reviewer's Submit sends: the category, optionally a rectangle and notes."""
    client = LabelStudioClient(live.conn)
    result = [{"from_name": cfg.CATEGORY, "to_name": cfg.RECONSTRUCTION, "type": "choices",
               "value": {"choices": [choice]}}]  # fmt: skip
    if notes:
        result.append({"from_name": cfg.NOTES, "to_name": cfg.RECONSTRUCTION, "type": "textarea",
                       "value": {"text": [notes]}})  # fmt: skip
    if box:
        result.append({"from_name": cfg.REGION, "to_name": cfg.RECONSTRUCTION, "type": "rectanglelabels",
                       "value": {**box, "rotation": 0, "rectanglelabels": [cfg.REGION_LABEL]}})  # fmt: skip
    me = client.sdk.users.whoami().id
    client.sdk.annotations.create(id=task["id"], result=result, completed_by=me)


def test_push_review_pull(ls_server, scan_run, tmp_path):
    findings = pd.read_parquet(scan_run / "findings.parquet")
    res = push_run(scan_run, ls_server.conn, project="review-a", document_root=ls_server.root, batch_size=3)
    assert (res.created, res.skipped, res.files) == (len(findings), 0, "local")

    tasks = _tasks(ls_server, "review-a")
    assert sorted(t["data"]["finding_id"] for t in tasks) == sorted(findings["finding_id"])
    by_id = findings.set_index("finding_id")
    client = LabelStudioClient(ls_server.conn)
    for t in tasks:
        f = by_id.loc[t["data"]["finding_id"]]
        (pred,) = t["predictions"]
        assert pred["model_version"] == f"miscomp-{__version__}-{f['detector']}"
        assert 0.0 <= pred["score"] <= 1.0 and pred["score"] == pytest.approx(f["score"])
        kinds = {r["from_name"]: r for r in pred["result"]}
        want = "symbol" if f["symbol"] else f["category"]
        assert kinds[cfg.CATEGORY]["value"]["choices"] == [want]
        rect = kinds[cfg.REGION]["value"]
        assert all(0 <= rect[k] <= 100 for k in ("x", "y", "width", "height"))
        assert rect["x"] + rect["width"] <= 100.001 and rect["width"] > 0
        # Percent box back in image pixels is the finding's box (crop window + percent of it).
        x0, y0, cw, ch = t["data"]["crop_window"]
        assert x0 + rect["x"] * cw / 100 == pytest.approx(f["x"], abs=0.01)
        assert rect["width"] * cw / 100 == pytest.approx(f["w"], abs=0.01)
    # The crops are really served by Label Studio (Local Files storage), byte for byte.
    t0 = tasks[0]
    f0 = by_id.loc[t0["data"]["finding_id"]]
    assert (
        client.download(t0["data"][cfg.RECONSTRUCTION]) == (scan_run / f0["crop_reconstruction"]).read_bytes()
    )

    # Second push adds nothing.
    again = push_run(scan_run, ls_server.conn, project="review-a", document_root=ls_server.root)
    assert (again.created, again.skipped) == (0, len(findings))
    assert len(_tasks(ls_server, "review-a")) == len(findings)

    # Reviewers: confirm one, reject one, re-categorise one with a drawn box and notes.
    tasks = sorted(tasks, key=lambda t: t["id"])
    first, second, third = tasks[:3]
    (tool_choice,) = [r for r in first["predictions"][0]["result"] if r["from_name"] == cfg.CATEGORY]
    tool0 = tool_choice["value"]["choices"][0]
    _review(ls_server, first, tool0)
    _review(ls_server, second, cfg.NOT_MISCOMPRESSION, notes="just blocking")
    _review(
        ls_server, third, "symbol", notes="digit 3 → 8", box={"x": 10, "y": 20, "width": 50, "height": 40}
    )

    out = tmp_path / "dataset"
    pulled = pull_dataset(ls_server.conn, "review-a", out)
    assert (pulled.reviewed, pulled.rows, pulled.added, pulled.updated) == (3, 3, 3, 0)
    labels = pd.read_parquet(out / "labels.parquet").set_index("finding_id")
    assert len(pd.read_csv(out / "labels.csv")) == 3
    r1, r2, r3 = (labels.loc[t["data"]["finding_id"]] for t in (first, second, third))
    assert r1["human_category"] == tool0 and r1["annotator"] == ls_server.server.credentials.username
    assert r2["human_category"] == "none" and r2["notes"] == "just blocking"
    assert r3["human_category"] == "symbol" and bool(r3["symbol"]) and r3["notes"] == "digit 3 → 8"
    x0, y0, cw, ch = third["data"]["crop_window"]
    assert r3["human_box_x"] == round(x0 + 0.10 * cw) and r3["human_box_w"] == round(0.5 * cw)
    f1 = by_id.loc[first["data"]["finding_id"]]
    assert (r1["box_x"], r1["box_y"], r1["box_w"], r1["box_h"]) == (f1["x"], f1["y"], f1["w"], f1["h"])
    assert r1["codec"] == "jpeg" and r1["bpp"] > 0 and r1["time"]
    for _, row in labels.iterrows():  # crops alongside, as served by the server
        assert (out / row["crop_original"]).stat().st_size > 0
    fid = first["data"]["finding_id"]
    assert (out / f"crops/{fid}_rec.png").read_bytes() == (scan_run / f1["crop_reconstruction"]).read_bytes()

    report = json.loads((out / "agreement.json").read_text())
    assert report["reviewed"] == 3
    assert report["precision"] == pytest.approx(2 / 3, abs=1e-3)
    matrix = report["confusion"]["matrix"]
    assert sum(sum(row.values()) for row in matrix.values()) == 3
    assert matrix[tool0][tool0] >= 1
    assert "Confusion matrix" in (out / "agreement.md").read_text()

    # Re-pull after one more review and a changed mind: rows updated and added, none duplicated or lost.
    _review(ls_server, second, "shape", notes="on second look: the contour moved")
    _review(ls_server, tasks[3], "amplitude")
    again = pull_dataset(ls_server.conn, "review-a", out)
    labels2 = pd.read_parquet(out / "labels.parquet")
    assert (again.added, again.updated, len(labels2)) == (1, 3, 4)
    assert labels2["finding_id"].is_unique
    row2 = labels2.set_index("finding_id").loc[second["data"]["finding_id"]]
    assert row2["human_category"] == "shape" and row2["notes"].startswith("on second look")


def test_push_upload_mode_serves_crops(ls_server, scan_run):
    res = push_run(scan_run, ls_server.conn, project="review-upload", files="upload")
    assert res.files == "upload" and res.created > 0
    client = LabelStudioClient(ls_server.conn)
    task = _tasks(ls_server, "review-upload")[0]
    assert task["data"][cfg.ORIGINAL].startswith("/data/upload/")
    crop = (
        pd.read_parquet(scan_run / "findings.parquet").set_index("finding_id").loc[task["data"]["finding_id"]]
    )
    assert client.download(task["data"][cfg.ORIGINAL]) == (scan_run / crop["crop_original"]).read_bytes()
    assert push_run(scan_run, ls_server.conn, project="review-upload", files="upload").created == 0


def test_server_restart_mid_push_then_rerun_completes(ls_server, scan_run):
    n = len(pd.read_parquet(scan_run / "findings.parquet"))

    def stop_after_first_batch(done: int, total: int) -> None:
        if done == 2:
            ls_server.server.stop()

    with pytest.raises(PushInterruptedError, match=r"2 of \d+ new tasks were imported"):
        push_run(scan_run, ls_server.conn, project="review-restart", document_root=ls_server.root,
                 batch_size=2, on_batch=stop_after_first_batch)  # fmt: skip
    ls_server.server.start()
    assert len(_tasks(ls_server, "review-restart")) == 2
    res = push_run(scan_run, ls_server.conn, project="review-restart", document_root=ls_server.root)
    assert (res.created, res.skipped) == (n - 2, 2)
    ids = [t["data"]["finding_id"] for t in _tasks(ls_server, "review-restart")]
    assert len(ids) == n and len(set(ids)) == n


def test_resumed_run_adds_only_new_findings(ls_server, small_originals, store_pair):
    """A scan resumed later commits more pairs to the same run dir; pushing again adds only those."""
    from miscomp.io import read_image

    out = ls_server.root / "run-resumed"
    a, b = (read_image(p).rgb for p in sorted(small_originals.glob("*.png"))[:2])
    noisy = lambda img: np.clip(img.astype(int) + 9, 0, 255).astype(np.uint8)  # noqa: E731
    store_pair(out, "a", "jpeg-q5", a, noisy(a), [(10, 10, 30, 30, "amplitude", False)])
    res1 = push_run(out, ls_server.conn, project="review-resume", document_root=ls_server.root)
    assert (res1.created, res1.skipped) == (1, 0)
    store_pair(
        out, "b", "jpeg-q5", b, noisy(b), [(5, 5, 20, 20, "shape", False), (60, 40, 30, 20, "geometry", True)]
    )
    res2 = push_run(out, ls_server.conn, project="review-resume", document_root=ls_server.root)
    assert (res2.created, res2.skipped, res2.findings) == (2, 1, 3)
    assert len(_tasks(ls_server, "review-resume")) == 3


def test_bad_token_and_missing_project_write_nothing(ls_server, scan_run, tmp_path):
    bad = cfg.Connection(ls_server.url, "0123456789abcdef-wrong")
    with pytest.raises(AuthenticationError, match="rejected the API key") as exc:
        push_run(scan_run, bad, project="never-created")
    assert "wrong" not in str(exc.value)
    out = tmp_path / "ds"
    with pytest.raises(AuthenticationError):
        pull_dataset(bad, "review-a", out)
    with pytest.raises(ProjectNotFoundError, match="no project titled 'no-such-project'"):
        pull_dataset(ls_server.conn, "no-such-project", out)
    assert not out.exists()
    assert LabelStudioClient(ls_server.conn).find_project("never-created") is None


def test_cli_push_pull_never_prints_the_token(ls_server, scan_run, tmp_path, monkeypatch):
    from miscomp.cli.review import annotate_app

    token = ls_server.server.credentials.token
    monkeypatch.setenv(cfg.ENV_URL, ls_server.url)
    monkeypatch.setenv(cfg.ENV_API_KEY, token)
    monkeypatch.setenv(cfg.ENV_DOCUMENT_ROOT, str(ls_server.root))
    runner = CliRunner()
    res = runner.invoke(annotate_app, ["push", str(scan_run), "--project", "review-cli"])
    assert res.exit_code == 0, res.output
    assert "tasks created" in res.output and "(crops: local)" in res.output and token not in res.output
    res = runner.invoke(annotate_app, ["pull", "--project", "review-cli", "--out", str(tmp_path / "d")])
    assert res.exit_code == 0, res.output
    assert "0 of" in res.output and token not in res.output
    res = runner.invoke(annotate_app, ["pull", "--project", "review-cli", "--out", str(tmp_path / "e"),
                                       "--api-key", "not-the-token"])  # fmt: skip
    assert res.exit_code == 2 and "rejected the API key" in res.output and "not-the-token" not in res.output


def test_dataset_build_scans_and_pushes_in_one_command(ls_server, small_originals):
    from miscomp.datasets import build

    out = ls_server.root / "built"
    push = {
        "conn": ls_server.conn,
        "project": "review-build",
        "document_root": ls_server.root,
        "min_score": 0.0,
    }  # every finding, low scores included: the mechanics are under test
    rec = build(str(small_originals), out, ["jpeg"], [5, 10], detectors=["diff"], push=push)
    assert rec["codecs"] == ["jpeg:quality=5", "jpeg:quality=10"]
    manifest = json.loads((out / "build.json").read_text())
    assert manifest["scan"]["errors"] == 0, manifest["scan"]
    assert manifest["scan"]["pairs_total"] == 2 * len(list(small_originals.glob("*.png")))
    every = manifest["scan"]["findings"] + manifest["scan"]["low_score"]  # min_score 0: all of them
    assert manifest["push"]["created"] == every > 0 and manifest["push"]["low_score"] == 0
    assert ls_server.server.credentials.token not in (out / "build.json").read_text()
    assert len(_tasks(ls_server, "review-build")) == every
