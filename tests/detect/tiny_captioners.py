"""Tiny random captioning models of each supported family, built offline and saved like a hub checkpoint.

Random weights, so their captions are word salad; they exist to push the real loading, preprocessing,
generation and decoding code of each family through the detector. Weights are scaled up so that the
random decoders do not emit the same token for every image. Each builds in well under a second.
"""

from __future__ import annotations

from pathlib import Path

# A WordPiece vocabulary, written to vocab.txt and read back by BertTokenizerFast as BLIP and GIT do.
WORDPIECE = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "the", "car", "dog", "cat", "red", "blue",
             "sign", "plate", "on", "with", "two", "three", "0", "1", "2", "3", "4", "5", "6", "7", "8",
             "9", "street", "##s"]  # fmt: skip
_SMALL = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64}
_IMAGE = 32


def _scale(model, factor: float = 20.0) -> None:
    import torch

    with torch.no_grad():
        for p in model.parameters():
            p.mul_(factor)


def _wordpiece_tokenizer(out: Path):
    from transformers import BertTokenizerFast

    out.mkdir(parents=True, exist_ok=True)
    (out / "vocab.txt").write_text("\n".join(WORDPIECE) + "\n", encoding="utf-8")
    return BertTokenizerFast.from_pretrained(out)


def build_blip(out: Path) -> Path:
    """BlipForConditionalGeneration + BlipProcessor (BlipImageProcessor + WordPiece BertTokenizerFast)."""
    import torch
    from transformers import BlipConfig, BlipForConditionalGeneration, BlipImageProcessor, BlipProcessor

    tokenizer = _wordpiece_tokenizer(out)
    ids = {t: i for i, t in enumerate(WORDPIECE)}
    text = dict(_SMALL, vocab_size=len(WORDPIECE), max_position_embeddings=64, pad_token_id=ids["[PAD]"],
                bos_token_id=ids["[CLS]"], sep_token_id=ids["[SEP]"], eos_token_id=ids["[SEP]"])  # fmt: skip
    config = BlipConfig(
        text_config=text, vision_config=dict(_SMALL, image_size=_IMAGE, patch_size=8), projection_dim=32
    )
    torch.manual_seed(0)
    model = BlipForConditionalGeneration(config)
    _scale(model)
    model.save_pretrained(out)
    BlipProcessor(BlipImageProcessor(size={"height": _IMAGE, "width": _IMAGE}), tokenizer).save_pretrained(
        out
    )
    return out


def build_git(out: Path) -> Path:
    """GitForCausalLM + GitProcessor (CLIPImageProcessor + WordPiece BertTokenizerFast)."""
    import torch
    from transformers import CLIPImageProcessor, GitConfig, GitForCausalLM, GitProcessor

    tokenizer = _wordpiece_tokenizer(out)
    ids = {t: i for i, t in enumerate(WORDPIECE)}
    config = GitConfig(
        vision_config=dict(_SMALL, image_size=_IMAGE, patch_size=8),
        vocab_size=len(WORDPIECE),
        max_position_embeddings=64,
        bos_token_id=ids["[CLS]"],
        eos_token_id=ids["[SEP]"],
        pad_token_id=ids["[PAD]"],
        **_SMALL,
    )
    torch.manual_seed(0)
    model = GitForCausalLM(config)
    _scale(model)
    model.save_pretrained(out)
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": _IMAGE}, crop_size={"height": _IMAGE, "width": _IMAGE}
    )
    GitProcessor(image_processor, tokenizer).save_pretrained(out)
    return out


def build_vit_gpt2(out: Path) -> Path:
    """VisionEncoderDecoderModel (ViT encoder + GPT-2 decoder) + ViTImageProcessor + word-level tokenizer."""
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

    words = ["<pad>", "<s>", "</s>", "<unk>"] + WORDPIECE[5:-1]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )
    enc = ViTConfig(image_size=_IMAGE, patch_size=8, **_SMALL)
    dec = GPT2Config(vocab_size=len(words), n_positions=32, n_embd=32, n_layer=1, n_head=2,
                     add_cross_attention=True, is_decoder=True, bos_token_id=1, eos_token_id=2,
                     pad_token_id=0)  # fmt: skip
    torch.manual_seed(0)
    model = VisionEncoderDecoderModel(VisionEncoderDecoderConfig.from_encoder_decoder_configs(enc, dec))
    for cfg in (model.config, model.generation_config):
        cfg.decoder_start_token_id, cfg.pad_token_id, cfg.eos_token_id = 1, 0, 2
    _scale(model)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    ViTImageProcessor(size={"height": _IMAGE, "width": _IMAGE}).save_pretrained(out)
    return out


BUILDERS = {"blip": build_blip, "git": build_git, "vision-encoder-decoder": build_vit_gpt2}
