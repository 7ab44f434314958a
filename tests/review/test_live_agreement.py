"""Two annotator accounts label the same tasks on a REAL Label Studio server (see conftest.py): overlap,
gold tasks, queue order, agreement, adjudication and bad input, end to end through push and pull."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from miscomp.review import config as cfg
from miscomp.review.client import LabelStudioClient
from miscomp.review.gold import GOLD_META
from miscomp.review.pull import pull_dataset
from miscomp.review.push import push_run
from tests.review.conftest import annotator_account
from tests.review.test_adjudicate import ALPHA, KAPPA, A, B

pytestmark = pytest.mark.labelstudio
CHOICE = {v: k for k, v in cfg.HUMAN_LABELS.items()}  # dataset label -> the form's choice


def _label(conn, task: dict, label: str, box_px: list[int] | None = None, cancelled: bool = False) -> None:
    """What an annotator's Submit (or Skip) sends, under the annotator's own API token."""
    client = LabelStudioClient(conn)
    result = [] if cancelled else [{"from_name": cfg.CATEGORY, "to_name": cfg.RECONSTRUCTION,
                                    "type": "choices", "value": {"choices": [label]}}]  # fmt: skip
    if box_px:
        x0, y0, cw, ch = task["data"]["crop_window"]
        x, y, w, h = box_px
        pct = {"x": 100 * (x - x0) / cw, "y": 100 * (y - y0) / ch, "width": 100 * w / cw,
               "height": 100 * h / ch, "rotation": 0, "rectanglelabels": [cfg.REGION_LABEL]}  # fmt: skip
        result.append({"from_name": cfg.REGION, "to_name": cfg.RECONSTRUCTION, "type": "rectanglelabels",
                       "value": pct})  # fmt: skip
    me = client.sdk.users.whoami().id
    client.sdk.annotations.create(id=task["id"], result=result, completed_by=me, was_cancelled=cancelled)


@pytest.fixture(scope="module")
def six_findings(ls_server, small_originals, store_pair):
    from miscomp.io import read_image

    run = ls_server.root / "run-agreement"
    a, b = (read_image(p).rgb for p in sorted(small_originals.glob("*.png"))[:2])
    noisy = lambda img: np.clip(img.astype(int) + 9, 0, 255).astype(np.uint8)  # noqa: E731
    store_pair(run, "a", "jpeg-q5", a, noisy(a), [(10, 10, 30, 30, "amplitude", False),
               (60, 20, 40, 20, "shape", True), (120, 80, 30, 30, "geometry", False)])  # fmt: skip
    store_pair(run, "b", "jpeg-q5", b, noisy(b), [(5, 5, 20, 20, "shape", False),
               (60, 40, 30, 20, "geometry", True), (150, 100, 40, 40, "amplitude", False)])  # fmt: skip
    return run


def test_two_annotators_gold_tasks_agreement_and_bad_input(ls_server, six_findings, tmp_path):
    project = "agreement"
    res = push_run(six_findings, ls_server.conn, project=project, document_root=ls_server.root,
                   overlap=2, gold_share=0.34, gold_seed=5)  # fmt: skip
    assert (res.created, res.gold) == (8, 2)  # 6 findings + round(0.34 × 6) gold tasks
    admin = LabelStudioClient(ls_server.conn)
    pid = admin.require_project(project)
    settings = admin.sdk.projects.get(pid)
    assert settings.maximum_annotations == 2 and settings.sampling == "Sequential sampling"
    tasks = sorted(admin.tasks(pid, with_annotations=True), key=lambda t: t["id"])
    assert all(t["overlap"] == 2 for t in tasks)
    gold = [t for t in tasks if GOLD_META in (t.get("meta") or {})]
    real = [t for t in tasks if t not in gold]
    assert len(gold) == 2 and len(real) == 6
    # Nothing in the task data tells a gold task apart; the answer is in meta only.
    assert set(gold[0]["data"]) == set(real[0]["data"]) and "gold" not in json.dumps(gold[0]["data"])
    # Queue: symbol findings first (import order = task id = what Sequential sampling hands out), and
    # no gold task at the top.
    assert [t["data"]["tool_symbol"] for t in real] == [True, True, False, False, False, False]
    assert tasks[0] not in gold
    # A second push creates nothing (findings and gold tasks are skipped by id).
    again = push_run(six_findings, ls_server.conn, project=project, document_root=ls_server.root,
                     overlap=2, gold_share=0.34, gold_seed=5)  # fmt: skip
    assert (again.created, again.gold) == (0, 0)

    ann_a = annotator_account(ls_server, "annotator.a@example.org")
    ann_b = annotator_account(ls_server, "annotator.b@example.org")
    ann_c = annotator_account(ls_server, "annotator.c@example.org")
    for task, la, lb in zip(real, A, B, strict=True):
        _label(ann_a, task, CHOICE[la])
        _label(ann_b, task, CHOICE[lb])
    wrong = {"amplitude": "shape", "geometry": "amplitude", "shape": "geometry"}
    for n, task in enumerate(gold):
        truth = task["meta"][GOLD_META]
        _label(ann_a, task, truth["category"], box_px=truth["box"])
        _label(ann_b, task, truth["category"] if n == 0 else wrong[truth["category"]])
    _label(ann_c, real[0], "", cancelled=True)  # C only skips: an annotator with no labels
    # A malformed annotation: a category the labeling config does not have (the server accepts it).
    _label(ls_server.conn, real[1], "banana")

    out = tmp_path / "dataset"
    pulled = pull_dataset(ls_server.conn, project, out)
    assert (
        len(pulled.refused) == 1
        and "banana" in pulled.refused[0]
        and f"task {real[1]['id']}" in pulled.refused[0]
    )
    assert len(pulled.notes) == 1 and "annotator.c@example.org" in pulled.notes[0]
    report = json.loads((out / "agreement.json").read_text())
    label = report["annotators"]["questions"]["label"]
    assert label["kappa"] == pytest.approx(KAPPA, abs=1e-4)  # 17/29, computed by hand in test_adjudicate
    assert label["alpha"] == pytest.approx(ALPHA, abs=1e-4)  # 68/112
    assert report["annotators"]["annotators"] == ["annotator.a@example.org", "annotator.b@example.org"]
    scores = report["gold"]
    assert scores["annotator.a@example.org"]["category_accuracy"] == 1.0
    assert scores["annotator.a@example.org"]["mean_box_iou"] > 0.9  # the true box, through crop percent
    assert scores["annotator.b@example.org"]["category_accuracy"] == 0.5
    # Adjudication: 4 agreements, 2 ties (1 vs 1) left for a third reviewer; gold tasks not in the labels.
    labels = pd.read_parquet(out / "labels.parquet")
    assert len(labels) == 6 and pulled.ties == 2
    assert sorted(labels["adjudication"]) == [
        "tie",
        "tie",
        "unanimous",
        "unanimous",
        "unanimous",
        "unanimous",
    ]
    assert set(labels["finding_id"]) == {t["data"]["finding_id"] for t in real}
    assert (labels["human_category"] == "").sum() == 2
    assert len(pd.read_parquet(out / "annotations.parquet")) == 16  # 2 annotators × 8 tasks
    md = (out / "agreement.md").read_text()
    assert "Krippendorff" in md and "Gold tasks" in md and "third reviewer" in md

    # Bad input never loses what was pulled: a later malformed label by A is refused and A's earlier
    # label stands; an empty project pulls nothing into the same folder.
    _label(ann_a, real[2], "banana")
    again = pull_dataset(ls_server.conn, project, out)
    assert len(again.refused) == 2
    pd.testing.assert_frame_equal(pd.read_parquet(out / "labels.parquet"), labels)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    admin.create_project("empty", cfg.label_config())
    empty = pull_dataset(ls_server.conn, "empty", out)
    assert empty.tasks == 0 and len(empty.notes) == 1 and "no tasks" in empty.notes[0]
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before

    # The command line: each problem is one line, the summary follows.
    from typer.testing import CliRunner

    from miscomp.cli.review import annotate_app

    key = ["--url", ls_server.url, "--api-key", ls_server.server.credentials.token]
    res = CliRunner().invoke(annotate_app, ["pull", "--project", project, "--out", str(out), *key])
    lines = res.output.strip().splitlines()
    assert res.exit_code == 1 and sum("refused:" in x for x in lines) == 2
    assert (
        sum("note:" in x and "annotator.c" in x for x in lines) == 1 and "traceback" not in res.output.lower()
    )
    res = CliRunner().invoke(annotate_app, ["pull", "--project", "empty", "--out", str(out), *key])
    assert res.exit_code == 0 and res.output.strip().count("\n") == 0 and "no tasks" in res.output

    # A third reviewer settles the ties: --reopen-ties puts the two tied tasks back into the queue
    # (overlap 3), C labels them, the next pull finds a majority.
    tied = labels[labels["adjudication"] == "tie"]
    reopened = pull_dataset(ls_server.conn, project, out, reopen_ties=True)
    assert reopened.reopened == 2
    by_id = {t["id"]: t for t in admin.tasks(pid, with_annotations=True)}
    assert all(by_id[int(t)]["overlap"] == 3 and not by_id[int(t)]["is_labeled"] for t in tied["task_id"])
    position = {t["id"]: n for n, t in enumerate(real)}
    for t in tied["task_id"]:
        _label(ann_c, by_id[int(t)], CHOICE[A[position[int(t)]]])  # C sides with A
    settled = pull_dataset(ls_server.conn, project, out)
    final = pd.read_parquet(out / "labels.parquet").set_index("task_id")
    assert settled.ties == 0 and set(final.loc[tied["task_id"], "adjudication"]) == {"majority"}
    assert all(LabelStudioClient(ls_server.conn).sdk.tasks.get(int(t)).is_labeled for t in tied["task_id"])

    # The pulled labels publish through the same export: crops as the reviewers saw them.
    from pycocotools.coco import COCO

    import datasets
    from miscomp.export import export, load_source

    pub = tmp_path / "published"
    export(load_source(out), pub, images="crops")
    coco = COCO(str(pub / "annotations" / "coco.json"))
    assert len(coco.getAnnIds()) == 6
    rows = datasets.load_dataset(str(pub), cache_dir=str(tmp_path / "hf-cache"))["train"]
    assert len(rows) == 6 and "crowdsourced" in (pub / "README.md").read_text()
    fid = rows[0]["objects"]["label_id"][0]
    with Image.open(out / f"crops/{fid}_rec.png") as crop:
        assert np.array_equal(np.asarray(rows[0]["image"].convert("RGB")), np.asarray(crop.convert("RGB")))
