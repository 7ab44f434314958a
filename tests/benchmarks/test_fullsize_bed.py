"""datasets/realbed/fullsize: the committed manifest and labels agree with each other and with the
rules of the full-size bed (whole photos larger than one OCR tile; no shared data needed)."""

from __future__ import annotations

import pytest

from benchmarks.fullsize_bed import LABELS, MANIFEST, OCR_TILE, REVIEW
from benchmarks.realbed_build import read_manifest, split_of
from benchmarks.realbed_score import load_labels, load_reviewed


@pytest.fixture(scope="module")
def manifest():
    return read_manifest(MANIFEST)


def test_whole_photos_larger_than_one_ocr_tile(manifest):
    images = manifest["images"]
    assert len(images) >= 30 and len({s["image_id"] for s in images}) == len(images)
    assert sum(s["crop"][2] * s["crop"][3] >= 1.5e6 for s in images) >= 7
    for spec in images:
        assert spec["split"] == split_of(spec["image_id"])
        assert spec["crop"][:2] == [0, 0]  # the whole photo, not a crop
        assert max(spec["crop"][2:]) > OCR_TILE
        x, y, w, h = spec["plate"]
        assert x >= 0 and y >= 0 and x + w <= spec["crop"][2] and y + h <= spec["crop"][3]


def test_labels_and_review_belong_to_built_pairs(manifest):
    if not LABELS.exists():
        pytest.skip(f"{LABELS} not written yet")
    labels = load_labels(LABELS)
    images = {s["image_id"]: s for s in manifest["images"]}
    tags = set(manifest["codecs"].values())
    for row in labels.itertuples():
        spec = images[row.image_id]
        assert row.codec_tag in tags and row.split == spec["split"]
        assert min(row.x, row.y) >= 0
        assert row.x + row.w <= spec["crop"][2] and row.y + row.h <= spec["crop"][3]
    reviewed = load_reviewed(REVIEW)
    assert reviewed and all(i in images and t in tags for i, t in reviewed)
    assert {(r.image_id, r.codec_tag) for r in labels.itertuples()} <= reviewed
