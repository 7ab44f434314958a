"""benchmarks/realbed_score.py: matching findings to labels and the metrics, on a tiny hand-made run dir."""

from __future__ import annotations

import pandas as pd
import pytest

from benchmarks.realbed_build import split_of
from benchmarks.realbed_score import LABEL_COLUMNS, matches, score

MANIFEST = {
    "version": "test",
    "codecs": {"taef2:bits=2": "taef2-bits2"},
    "images": [
        {"image_id": "a", "split": "tune", "width": 100, "height": 100, "reconstructions": {}},
        {"image_id": "b", "split": "heldout", "width": 100, "height": 100, "reconstructions": {}},
    ],
}


def _label(lid, image, x, y, w, h, kind="miscompression", category="shape", symbol=True):
    split = next(s["split"] for s in MANIFEST["images"] if s["image_id"] == image)
    return dict(zip(LABEL_COLUMNS, [lid, image, "taef2-bits2", x, y, w, h, kind, category, symbol, "", split],
                    strict=True))  # fmt: skip


def _finding(fid, image, x, y, w, h, category="shape", symbol=True, score=0.9):
    return {"finding_id": fid, "pair_id": f"{image}__taef2-bits2", "detector": "ocr", "x": x, "y": y, "w": w,
            "h": h, "category": category, "symbol": symbol, "score": score, "evidence": ""}  # fmt: skip


@pytest.fixture
def run_dir(tmp_path):
    pairs = pd.DataFrame(
        [
            {
                "pair_id": f"{i}__taef2-bits2",
                "image_id": i,
                "codec_tag": "taef2-bits2",
                "status": "ok",
                "reconstruction": f"reconstructions/taef2-bits2/{i}.png",
                "detect_s": 1.0,
            }  # fmt: skip
            for i in ("a", "b")
        ]
    )
    findings = pd.DataFrame(
        [
            _finding("f1", "a", 10, 10, 20, 10),  # hits L1 (symbol, shape)
            _finding("f2", "a", 60, 60, 10, 10, category="amplitude", symbol=True),  # hits artefact L3
            _finding("f3", "a", 0, 80, 5, 5, symbol=False),  # hits nothing
            _finding("f4", "b", 52, 52, 6, 6, category="geometry", symbol=False),  # centre inside L4
        ]
    )
    pairs.to_parquet(tmp_path / "pairs.parquet")
    findings.to_parquet(tmp_path / "findings.parquet")
    return tmp_path


@pytest.fixture
def labels():
    return pd.DataFrame(
        [
            _label("L1", "a", 8, 8, 22, 12),
            _label("L2", "a", 40, 10, 20, 10),  # missed
            _label("L3", "a", 55, 55, 20, 20, kind="artefact", category="amplitude", symbol=False),
            _label("L4", "b", 40, 40, 40, 40, category="geometry", symbol=True),  # found, but not as symbol
        ]
    )


def _row(table, split, group="all", name="all"):
    return next(r for r in table if r["split"] == split and r["group"] == group and r["name"] == name)


def test_match_rule():
    assert matches((0, 0, 10, 10), (0, 0, 10, 10))
    assert matches((0, 0, 100, 100), (45, 45, 10, 10))  # IoU 0.01, but the centre is inside the label
    assert not matches((0, 0, 10, 10), (20, 20, 10, 10))
    assert matches((0, 0, 10, 10), (5, 0, 10, 10))  # IoU 1/3
    assert not matches((0, 0, 100, 10), (95, 0, 10, 10))  # IoU 0.048 and centre outside


def test_score_metrics(run_dir, labels):
    res = score(run_dir, labels, MANIFEST, verify=False)
    tune = _row(res["table"], "tune")
    assert tune["miscompressions"] == 2 and tune["findings"] == 3 and tune["pairs"] == 1
    assert tune["recall"] == 0.5  # L1 of L1, L2
    assert tune["symbol_recall"] == 0.5
    assert tune["precision"] == round(1 / 3, 3)  # f1 of f1..f3
    assert tune["text_precision"] == 0.5  # symbol findings f1, f2; f1 hits a symbol miscompression
    assert tune["artefact_share"] == round(1 / 3, 3)
    assert tune["unlabelled_findings"] == 1
    assert tune["category_accuracy"] == 1.0
    held = _row(res["table"], "heldout")
    assert held["recall"] == 1.0 and held["symbol_recall"] == 0.0  # f4 is not flagged symbol
    assert held["precision"] == 1.0 and held["text_precision"] is None
    everything = _row(res["table"], "all")
    assert everything["miscompressions"] == 3 and everything["findings_per_pair"] == 2.0
    geometry = _row(res["table"], "all", "category", "geometry")
    assert geometry["recall"] == 1.0 and geometry["findings"] == 1
    assert [m["label_id"] for m in res["misses"]] == ["L2"]


def test_labels_of_pairs_not_in_the_run_are_left_out(run_dir, labels):
    extra = pd.concat([labels, pd.DataFrame([_label("L9", "b", 0, 0, 5, 5)]).assign(codec_tag="webp")])
    res = score(run_dir, extra, MANIFEST, verify=False)
    assert _row(res["table"], "all")["miscompressions"] == 3


def test_stale_reconstruction_is_left_out(run_dir, labels):
    # the manifest knows no reconstruction for these pairs: both are reported and dropped
    res = score(run_dir, labels, MANIFEST, verify=True)
    assert len(res["stale"]) == 2 and _row(res["table"], "all")["pairs"] == 0


def test_split_is_deterministic_and_near_forty_percent():
    ids = [f"img{i}" for i in range(500)]
    assert [split_of(i) for i in ids] == [split_of(i) for i in ids]
    held = sum(split_of(i) == "heldout" for i in ids) / len(ids)
    assert 0.33 < held < 0.47


def test_image_ids_with_a_path_hash_map_to_the_manifest(run_dir, labels):
    # miscomp names originals "<slug>-<hash of the path>"; the bed's files are "<image_id>.png"
    pairs = pd.read_parquet(run_dir / "pairs.parquet")
    pairs["image_id"] = pairs["image_id"] + "-1f0c2a9b"
    pairs["original"] = "/bed/originals/" + pairs["image_id"].str[:1] + ".png"
    pairs.to_parquet(run_dir / "pairs.parquet")
    res = score(run_dir, labels, MANIFEST, verify=False)
    assert _row(res["table"], "all")["miscompressions"] == 3 and _row(res["table"], "tune")["recall"] == 0.5


def test_findings_below_the_run_minimum_score_are_not_scored(run_dir, labels):
    # A scan records its minimum score in run.json; what the report hides is not scored either.
    import json

    (run_dir / "run.json").write_text(json.dumps({"min_score": 0.95}))
    assert _row(score(run_dir, labels, MANIFEST, verify=False)["table"], "tune")["findings"] == 0
    # an explicit minimum wins; runs without one score every finding
    assert (
        _row(score(run_dir, labels, MANIFEST, verify=False, min_score=0.5)["table"], "tune")["findings"] == 3
    )
    (run_dir / "run.json").unlink()
    assert _row(score(run_dir, labels, MANIFEST, verify=False)["table"], "tune")["findings"] == 3
