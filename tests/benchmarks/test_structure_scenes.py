"""The rendered structure scenes are deterministic and their items lie inside the image; the non-text
bed's labels name images and codecs of its manifest, with boxes inside the image."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from benchmarks.harness import REPO
from benchmarks.structure_scenes import BED_KINDS, render_structure

BED = REPO / "datasets" / "realbed" / "nontext"


@pytest.mark.parametrize("kind", BED_KINDS)
def test_scene_is_deterministic_with_items_inside(kind):
    a, b = render_structure(kind, 3), render_structure(kind, 3)
    assert np.array_equal(a.image, b.image) and a.items == b.items
    h, w = a.image.shape[:2]
    assert a.items and all(
        i.x >= 0 and i.y >= 0 and i.x + i.w <= w + 2 and i.y + i.h <= h + 2 for i in a.items
    )


def test_unknown_kind_is_one_clear_error():
    with pytest.raises(ValueError, match="unknown structure scene"):
        render_structure("nope", 1)


def test_nontext_labels_match_the_manifest():
    manifest = json.loads((BED / "manifest.json").read_text())
    images = {i["id"]: i for i in manifest["images"]}
    labels = pd.read_csv(BED / "labels.csv")
    assert labels.label_id.is_unique
    assert set(labels.kind) <= {"miscompression", "artefact"}
    assert set(labels.category) <= {"amplitude", "geometry", "shape"}
    for lab in labels.itertuples():
        image = images[lab.image_id]
        assert lab.codec_tag in image["reconstructions"] and lab.split == image["split"]
        w, h = image["size"]
        assert lab.x >= 0 and lab.y >= 0 and lab.x + lab.w <= w and lab.y + lab.h <= h
    # held out by image: no image is in both splits
    assert not set(labels[labels.split == "tune"].image_id) & set(labels[labels.split == "heldout"].image_id)


def test_manifest_matches_the_generator():
    import hashlib

    manifest = json.loads((BED / "manifest.json").read_text())
    first = manifest["images"][0]
    scene = render_structure(first["kind"], first["seed"])
    assert hashlib.sha256(np.ascontiguousarray(scene.image).tobytes()).hexdigest() == first["sha256"]


def test_findings_cache_key_follows_code_specs_and_pixels(tmp_path):
    from benchmarks.nontext_bed import findings_cache

    a = np.zeros((4, 4, 3), np.uint8)
    b = a.copy()
    b[0, 0, 0] = 1
    key = findings_cache(tmp_path, "tree", ["ocr"], "x1", a, a)
    assert findings_cache(tmp_path, None, ["ocr"], "x1", a, a) is None  # uncommitted code: no cache
    assert key == findings_cache(tmp_path, "tree", ["ocr"], "x1", a, a.copy())
    assert key != findings_cache(tmp_path, "tree", ["ocr"], "x1", a, b)
    assert key != findings_cache(tmp_path, "tree", ["ocr", "diff"], "x1", a, a)
    assert key != findings_cache(tmp_path, "other", ["ocr"], "x1", a, a)
