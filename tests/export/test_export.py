"""`miscomp dataset export`: the test bed and pulled labels as COCO (read by pycocotools) and a Hugging
Face imagefolder (read offline by datasets.load_dataset); export → import gives the same labels."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from miscomp.export import export
from miscomp.export.coco import read_coco
from miscomp.export.realbed import from_realbed, read_labels
from miscomp.export.records import DatasetError, RegionLabel, group_ids

REPO = Path(__file__).resolve().parents[2]
BED = REPO / "datasets" / "realbed"
FAST_CODECS = ("jpeg", "webp")  # the bed's codecs a test can rerun in milliseconds


def test_realbed_export_then_import_gives_identical_labels(tmp_path):
    from pycocotools.coco import COCO

    bed = from_realbed(BED, codec_info=False)
    assert bed.labels == read_labels(BED / "labels.csv")  # whatever labels.csv says, all of it
    rep = export(bed, tmp_path / "out", images="none", formats=("coco",))
    path = tmp_path / "out" / "annotations" / "coco.json"
    back = read_coco(path)
    assert sorted(back, key=lambda lab: lab.label_id) == sorted(bed.labels, key=lambda lab: lab.label_id)
    coco = COCO(str(path))
    assert len(coco.getAnnIds()) == len(bed.labels) == rep["labels"]
    assert len(coco.getImgIds()) == len({lab.key for lab in bed.labels})
    miscomp_id = coco.getCatIds(catNms=["miscompression"])
    assert len(coco.getAnnIds(catIds=miscomp_id)) == sum(lab.kind == "miscompression" for lab in bed.labels)
    card = (tmp_path / "out" / "README.md").read_text()
    assert "AGPL-3.0" in card and "Labelling rules" in card and "expert-generated" in card


@pytest.fixture(scope="module")
def bed_pictures(tmp_path_factory):
    """Two labelled scene pairs of the bed at a fast codec, rebuilt as `benchmarks.real_codecs build`
    does, in a work folder; the bed's records limited to them."""
    from benchmarks.realbed_build import load_original, pixel_sha256, read_manifest
    from miscomp.codecs import create_codec
    from miscomp.io import write_png

    bed = from_realbed(BED, codec_info=False)
    manifest = read_manifest(BED / "manifest.json")
    specs = {s["image_id"]: s for s in manifest["images"]}
    fast = [p for p in bed.images if p.codec.split(":")[0] in FAST_CODECS and p.source == "scene"]
    if not fast:
        pytest.skip(f"{BED / 'labels.csv'}: no labelled scene pair at {FAST_CODECS} to rebuild quickly")
    chosen = sorted(fast, key=lambda p: (p.split, p.image_id))[:1] + sorted(fast, key=lambda p: p.split)[-1:]
    work = tmp_path_factory.mktemp("work")
    for pair in chosen:
        rgb, _ = load_original(specs[pair.image_id])
        rec = create_codec(pair.codec).apply(rgb).reconstruction
        write_png(work / "originals" / f"{pair.image_id}.png", rgb)
        write_png(work / "reconstructions" / pair.codec_tag / f"{pair.image_id}.png", rec)
        # the rebuilt pixels are the labelled ones (else the labels would not describe them)
        assert pixel_sha256(rec) == pair.reconstruction_sha256, pair.key
    bed = from_realbed(BED, work=work, codec_info=False)
    keys = {p.key for p in chosen}
    return replace(bed, images=[p for p in bed.images if p.key in keys],
                   labels=[lab for lab in bed.labels if lab.key in keys])  # fmt: skip


@pytest.mark.parametrize("images", ["full", "crops"])
def test_hf_layout_loads_offline_and_matches_coco(bed_pictures, tmp_path, images, monkeypatch):
    from pycocotools.coco import COCO

    import datasets
    from miscomp.io import read_image

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "out"
    rep = export(bed_pictures, out, images=images)
    ds = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "hf-cache"))
    assert sorted(ds) == rep["splits"]
    rows = [r for split in ds.values() for r in split]
    n_labels = len(bed_pictures.labels)
    assert len(rows) == (len(bed_pictures.images) if images == "full" else n_labels)
    assert sum(len(r["objects"]["bbox"]) for r in rows) == n_labels
    coco = COCO(str(out / "annotations" / "coco.json"))
    by_label = {a["attributes"]["label_id"]: a for a in coco.dataset["annotations"]}
    truth = {lab.label_id: lab for lab in bed_pictures.labels}
    for r in rows:
        assert r["image"].size == r["original"].size
        for bbox, label_id, kind in zip(r["objects"]["bbox"], r["objects"]["label_id"], r["objects"]["kind"],
                                        strict=True):  # fmt: skip
            assert by_label[label_id]["bbox"] == bbox and truth[label_id].kind == kind
            x, y, w, h = bbox
            assert x >= 0 and y >= 0 and x + w <= r["image"].size[0] and y + h <= r["image"].size[1]
    if images == "crops":  # a crop is the full reconstruction's pixels inside the recorded window
        r = rows[0]
        x0, y0, w, h = r["window"]
        full = read_image(bed_pictures.image((r["image_id"], r["codec_tag"])).reconstruction).rgb
        assert np.array_equal(np.asarray(r["image"].convert("RGB")), full[y0 : y0 + h, x0 : x0 + w])


def test_near_duplicates_across_qualities_share_a_group():
    def lab(i: str, tag: str, x: int, image: str = "img") -> RegionLabel:
        return RegionLabel(i, image, tag, x, 10, 20, 10, "miscompression", "shape", True, "", "tune")

    groups = group_ids(
        [lab("a", "q10", 10), lab("b", "q20", 12), lab("c", "q10", 100), lab("d", "q10", 10, "other")]
    )
    assert groups["a"] == groups["b"] != groups["c"] and groups["d"].startswith("other/")


def test_bad_input_is_one_line_and_leaves_nothing_behind(bed_pictures, tmp_path):
    bad = tmp_path / "bed"
    bad.mkdir()
    for name in ("manifest.json", "README.md"):
        (bad / name).write_bytes((BED / name).read_bytes())
    lines = (BED / "labels.csv").read_text().splitlines()
    (bad / "labels.csv").write_text("\n".join([lines[0], lines[1].replace(",True,", ",maybe,", 1)]) + "\n")
    with pytest.raises(DatasetError, match=r"labels.csv: line 2: symbol must be True or False"):
        from_realbed(bad, codec_info=False)
    no_pictures = replace(bed_pictures, images=[replace(p, reconstruction=None) for p in bed_pictures.images])
    with pytest.raises(DatasetError, match="no reconstruction image here"):
        export(no_pictures, tmp_path / "x", images="full")
    assert not (tmp_path / "x").exists() and not list(tmp_path.glob(".x*"))
    with pytest.raises(DatasetError, match="needs pictures"):
        export(bed_pictures, tmp_path / "y", images="none")
    (tmp_path / "z").mkdir()
    (tmp_path / "z" / "keep.txt").write_text("mine")
    with pytest.raises(DatasetError, match="not empty"):
        export(bed_pictures, tmp_path / "z")
    assert json.loads(json.dumps((tmp_path / "z" / "keep.txt").read_text())) == "mine"


def test_cli_export_of_a_folder_that_is_no_dataset_is_one_line(tmp_path):
    from typer.testing import CliRunner

    from miscomp.cli.data import dataset_app

    res = CliRunner().invoke(dataset_app, ["export", str(tmp_path), "--out", str(tmp_path / "out")])
    assert res.exit_code != 0 and "neither an `annotate pull` folder" in res.output
    assert "Traceback" not in res.output and not (tmp_path / "out").exists()
