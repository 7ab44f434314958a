"""push/pull logic that needs no server: reading a run dir, predictions, merging, agreement, errors."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from miscomp.crops import write_crops
from miscomp.findings import FINDING_COLUMNS, Finding
from miscomp.review import config as cfg
from miscomp.review.agreement import agreement, agreement_markdown
from miscomp.review.client import ServerUnreachableError
from miscomp.review.pull import LABEL_COLUMNS, merge_rows, pull_dataset
from miscomp.review.push import (
    RunDirError,
    load_review_items,
    prediction_for,
    push_run,
)
from miscomp.review.serve import free_port
from miscomp.review.transfer import resolve_file_mode
from miscomp.store import PAIR_COLUMNS


@pytest.fixture
def run_dir(tmp_path, textured_image):
    """A run dir in the documented layout with real crop PNGs, written by miscomp.crops."""
    rec = textured_image.copy()
    rec[30:70, 40:90] = [40, 40, 200]  # a colour change
    run = tmp_path / "run"
    pair_id = "img__jpeg-q5"
    findings = [
        Finding(pair_id, "diff", 40, 30, 50, 40, "amplitude", False, 0.8, "colour changed"),
        Finding(pair_id, "ocr", 2, 3, 10, 8, "shape", True, 0.4, "3 → 8"),  # small, near the corner
    ]
    crops = [write_crops(run, f, textured_image, rec) for f in findings]
    findings = [
        f.with_crops(c.original, c.reconstruction, c.diff, c.window)
        for f, c in zip(findings, crops, strict=True)
    ]
    pair = dict.fromkeys(PAIR_COLUMNS, "")
    h, w = textured_image.shape[:2]
    pair.update(
        pair_id=pair_id, image_id="img", codec="jpeg", codec_tag="jpeg-q5", width=w, height=h, bpp=0.31
    )
    pd.DataFrame([pair]).to_parquet(run / "pairs.parquet")
    pd.DataFrame([f.to_row() for f in findings], columns=FINDING_COLUMNS).to_parquet(run / "findings.parquet")
    return run


def test_review_items_locate_the_box_in_the_crop(run_dir):
    items = {i.data["finding_id"]: i for i in load_review_items(run_dir, min_score=0.0)}
    big, small = sorted(items.values(), key=lambda i: -i.data["tool_score"])
    x0, y0, cw, ch = big.data["crop_window"]
    x, y, w, h = big.box_pct
    assert (x0 + x * cw / 100, y0 + y * ch / 100, w * cw / 100, h * ch / 100) == pytest.approx(
        (40, 30, 50, 40)
    )
    # The small finding's crop was enlarged (nearest neighbour); percentages don't care.
    assert small.crop_size[0] > small.data["crop_window"][2]
    assert small.box_pct[0] == pytest.approx(100 * 2 / small.data["crop_window"][2], abs=1e-3)
    pred = prediction_for(small)
    cfg.validate_prediction(pred, cfg.label_config())
    assert pred["model_version"].endswith("-ocr")
    assert {r["from_name"]: r for r in pred["result"]}[cfg.CATEGORY]["value"]["choices"] == ["symbol"]


def test_push_hides_low_scores_but_the_table_keeps_them(run_dir):
    # The 0.4 finding is below the default minimum score: not pushed, still in findings.parquet.
    assert [i.data["tool_score"] for i in load_review_items(run_dir)] == [0.8]
    assert len(load_review_items(run_dir, min_score=0.3)) == 2
    assert len(pd.read_parquet(run_dir / "findings.parquet")) == 2
    (run_dir / "run.json").write_text(json.dumps({"min_score": 0.9}))  # the scan's choice is the default
    assert load_review_items(run_dir) == []


def test_prediction_draws_the_box_on_the_original_too(run_dir):
    item = load_review_items(run_dir)[0]
    pred = prediction_for(item)
    cfg.validate_prediction(pred, cfg.label_config())
    rects = {r["to_name"]: r["value"] for r in pred["result"] if r["type"] == "rectanglelabels"}
    assert set(rects) == {cfg.ORIGINAL, cfg.RECONSTRUCTION}
    box = lambda v: (v["x"], v["y"], v["width"], v["height"])  # noqa: E731
    assert box(rects[cfg.ORIGINAL]) == box(rects[cfg.RECONSTRUCTION]) == pytest.approx(item.box_pct)
    # A project made with the older config (no original-side control) gets the prediction without it.
    old = prediction_for(item, box_on_original=False)
    assert [r["to_name"] for r in old["result"] if r["type"] == "rectanglelabels"] == [cfg.RECONSTRUCTION]


def test_bad_run_dirs_name_the_file(tmp_path, run_dir):
    with pytest.raises(RunDirError, match="findings.parquet: not found"):
        load_review_items(tmp_path)
    crop = run_dir / pd.read_parquet(run_dir / "findings.parquet")["crop_reconstruction"][0]
    crop.unlink()
    with pytest.raises(RunDirError, match=f"{crop.name}: crop file missing"):
        load_review_items(run_dir)


def test_server_down_is_one_clear_line(run_dir):
    conn = cfg.Connection(f"http://127.0.0.1:{free_port()}", "secret-token")
    with pytest.raises(ServerUnreachableError, match="cannot reach Label Studio at http://127.0.0.1") as exc:
        push_run(run_dir, conn)
    assert "secret-token" not in str(exc.value) and "\n" not in str(exc.value)
    with pytest.raises(ServerUnreachableError):
        pull_dataset(conn, "p", run_dir / "never")
    assert not (run_dir / "never").exists()


def test_file_mode_resolution(tmp_path):
    run = tmp_path / "root" / "run"
    run.mkdir(parents=True)
    assert resolve_file_mode("auto", "http://127.0.0.1:8089", run, tmp_path / "root") == "local"
    assert resolve_file_mode("auto", "http://localhost:8089", run, None) == "upload"
    assert resolve_file_mode("auto", "https://ls.example.org", run, tmp_path / "root") == "upload"
    assert resolve_file_mode("auto", "http://127.0.0.1:8089", run, tmp_path / "elsewhere") == "upload"
    assert resolve_file_mode("inline", "http://x", run, None) == "inline"
    with pytest.raises(Exception, match="--files must be one of"):
        resolve_file_mode("ftp", "http://x", run, None)


def _row(fid: str, tool: str, human: str, detector: str = "diff") -> dict:
    row = dict.fromkeys(LABEL_COLUMNS)
    row.update(finding_id=fid, tool_label=tool, human_category=human, detector=detector,
               tool_symbol=tool == "symbol", symbol=human == "symbol")  # fmt: skip
    return row


def test_merge_updates_in_place_and_keeps_unseen_rows():
    first, added, updated = merge_rows(None, [_row("a", "shape", "shape"), _row("b", "amplitude", "none")])
    assert (len(first), added, updated) == (2, 2, 0)
    second, added, updated = merge_rows(
        first, [_row("b", "amplitude", "amplitude"), _row("c", "symbol", "symbol")]
    )
    assert (added, updated) == (1, 1)
    assert list(second["finding_id"]) == ["a", "b", "c"]  # a kept although not pulled again
    assert second.set_index("finding_id").loc["b", "human_category"] == "amplitude"


def test_agreement_counts_by_hand():
    rows = [
        _row("1", "amplitude", "amplitude"),
        _row("2", "amplitude", "none"),
        _row("3", "shape", "geometry", "ocr"),
        _row("4", "symbol", "symbol", "ocr"),
        _row("5", "shape", "none"),
    ]
    table, _, _ = merge_rows(None, rows)
    rep = agreement(table)
    assert rep["reviewed"] == 5
    assert rep["precision"] == 0.6  # 3 of 5 flags were real miscompressions
    assert rep["category_agreement"] == 0.4  # 2 of 5 with the tool's category
    assert rep["category_accuracy_on_confirmed"] == pytest.approx(2 / 3, abs=1e-4)
    m = rep["confusion"]["matrix"]
    assert (m["amplitude"]["amplitude"], m["amplitude"]["none"], m["shape"]["geometry"]) == (1, 1, 1)
    assert rep["per_tool_label"]["shape"] == {"flags": 2, "confirmed": 1, "precision": 0.5,
                                              "same_category": 0, "category_precision": 0.0}  # fmt: skip
    assert rep["per_tool_label"]["geometry"]["precision"] is None
    assert rep["per_detector"]["ocr"] == {"flags": 2, "precision": 1.0}
    md = agreement_markdown(rep, "p")
    assert "| amplitude | 1 | 0 | 0 | 0 | 1 |" in md
    json.dumps(rep)  # serialisable as written to agreement.json


def test_queue_order_puts_symbol_findings_first_then_by_score(run_dir):
    from miscomp.review.push import order_items

    items = load_review_items(run_dir, min_score=0.0)  # an amplitude at 0.8 and a symbol at 0.4
    assert [i.data["tool_symbol"] for i in order_items(items, "symbol-score")] == [True, False]
    assert [i.data["tool_score"] for i in order_items(items, "score")] == [0.8, 0.4]
    with pytest.raises(Exception, match="--order must be one of"):
        order_items(items, "random")


@pytest.mark.parametrize(
    ("result", "problem"),
    [
        ("not a list", "not a list of result items"),
        ([{"from_name": cfg.CATEGORY, "value": "shape"}], "no value object"),
        ([{"from_name": cfg.CATEGORY, "to_name": cfg.RECONSTRUCTION, "type": "choices",
           "value": {"choices": ["banana"]}}], "banana"),
        ([{"from_name": cfg.CATEGORY, "to_name": cfg.RECONSTRUCTION, "type": "choices",
           "value": {"choices": ["shape", "symbol"]}}], "2 categories chosen"),
    ],
)  # fmt: skip
def test_malformed_annotations_are_refused_with_their_problem(result, problem):
    from miscomp.review.labels import AnnotationError, parse_label

    with pytest.raises(AnnotationError, match=problem):
        parse_label({"result": result}, {"crop_window": [0, 0, 10, 10]}, cfg.label_config(), "someone")
