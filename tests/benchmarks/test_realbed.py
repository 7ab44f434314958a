"""datasets/realbed: the committed manifest and labels load and agree with each other (no shared data
needed: only the small text files are checked)."""

from __future__ import annotations

import pytest

from benchmarks.realbed_build import LABELS, MANIFEST, read_manifest, split_of
from benchmarks.realbed_score import CATEGORIES, KINDS, SPLITS, load_labels


@pytest.fixture(scope="module")
def manifest():
    return read_manifest(MANIFEST)


@pytest.fixture(scope="module")
def labels():
    return load_labels(LABELS)


def test_manifest_images(manifest):
    ids = [s["image_id"] for s in manifest["images"]]
    assert len(ids) == len(set(ids))
    tags = set(manifest["codecs"].values())
    for spec in manifest["images"]:
        assert spec["split"] == split_of(spec["image_id"])
        assert len(spec["sha256"]) == 64 and spec["width"] > 0 and spec["height"] > 0
        assert set(spec["reconstructions"]) == tags, spec["image_id"]
        if spec["source"] == "plates":
            x, y, w, h = spec["plate"]
            assert x >= 0 and y >= 0 and x + w <= spec["width"] and y + h <= spec["height"]
    held = sum(s["split"] == "heldout" for s in manifest["images"]) / len(ids)
    assert 0.25 < held < 0.55


def test_labels_consistent(manifest, labels):
    images = {s["image_id"]: s for s in manifest["images"]}
    tags = set(manifest["codecs"].values())
    assert labels["label_id"].is_unique
    for row in labels.itertuples():
        spec = images[row.image_id]
        assert row.codec_tag in tags, row.label_id
        assert row.w > 0 and row.h > 0, row.label_id
        assert row.x >= 0 and row.y >= 0, row.label_id
        assert row.x + row.w <= spec["width"] and row.y + row.h <= spec["height"], row.label_id
        assert row.split == spec["split"], row.label_id
        assert row.kind in KINDS and row.category in CATEGORIES and row.split in SPLITS
        assert row.note, f"{row.label_id}: every label says what changed"


def test_enough_miscompressions(labels):
    mis = labels[labels["kind"] == "miscompression"]
    learned = mis[mis["codec_tag"].str.startswith(("taef2", "bmshj2018"))]
    assert learned["codec_tag"].nunique() >= 3
    assert set(mis["split"]) == set(SPLITS)


def test_learned_precision_and_specs(manifest):
    from benchmarks.realbed_build import learned_precision, learned_spec

    # version 0.1 was made in float32 and predates the field; a rebuilt manifest records its own
    assert learned_precision({"version": "0.1"}) == "float32"
    assert learned_precision(manifest) in ("float32", "float64")
    if manifest["version"] != "0.1":
        assert manifest["learned_precision"] == "float64"
    assert learned_spec("taef2:bits=2", "float32") == "taef2:bits=2,precision=float32"
    assert learned_spec("bmshj2018-factorized:q=1", None) == "bmshj2018-factorized:q=1"
    assert learned_spec("jpeg:quality=10", "float32") == "jpeg:quality=10"  # not a learned codec


def test_work_folder_of_another_precision_is_refused(tmp_path):
    from benchmarks.realbed_build import build

    (tmp_path / "precision.txt").write_text("float32\n")
    with pytest.raises(SystemExit, match="holds float32 reconstructions, this build makes float64"):
        build(tmp_path, precision="float64", pairs=set())
