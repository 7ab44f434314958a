"""Image-to-text models for the caption detector: one loader for a hub id or a local folder.

The model family is read from the checkpoint's ``config.json`` (``model_type``), never guessed from
its name, so a renamed local copy of BLIP loads as BLIP. Supported families, all in transformers:

- ``blip``: ``BlipForConditionalGeneration`` + ``BlipProcessor`` (default:
  ``Salesforce/blip-image-captioning-base``; ``-large`` is the same family);
- ``git``: ``GitForCausalLM`` + ``GitProcessor`` (e.g. ``microsoft/git-base-coco``);
- ``vision-encoder-decoder``: ``VisionEncoderDecoderModel`` + image processor + tokenizer
  (e.g. ``nlpconnect/vit-gpt2-image-captioning``).

Nothing can be downloaded on the build machines: the tests build tiny random models of each family,
``save_pretrained`` them, and load them back through :func:`load_captioner`, the same call that
loads the default id.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from miscomp.detect.base import DetectorUnavailable
from miscomp.settings import ENV, resolve_device

ENV_CAPTION_MODEL = ENV["caption_model"]


@dataclass(frozen=True)
class Family:
    model_class: str  # attribute of ``transformers``
    processor: bool  # True: one AutoProcessor; False: AutoImageProcessor + AutoTokenizer


FAMILIES: dict[str, Family] = {
    "blip": Family("BlipForConditionalGeneration", processor=True),
    "git": Family("GitForCausalLM", processor=True),
    "vision-encoder-decoder": Family("VisionEncoderDecoderModel", processor=False),
}


@contextlib.contextmanager
def no_progress_bars() -> Iterator[None]:
    """transformers' "Loading weights" bars, off while a model loads: they break a quiet scan's output."""
    from transformers.utils import logging

    was = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            logging.enable_progress_bar()


class Captioner:
    """Images → captions, a whole batch in one ``generate`` call. ``forward_passes`` counts those calls."""

    def __init__(self, source: str, device: str = "auto", max_new_tokens: int = 30) -> None:
        """``device``: auto | cpu | cuda[:N] (:func:`miscomp.settings.resolve_device`; a CUDA device
        on a machine without one is a one-line error, not a silent fallback)."""
        try:
            import torch  # noqa: F401 - loaded here, so that apply_threads sets its threads
            import transformers
        except ImportError:
            raise DetectorUnavailable(
                "transformers is not installed: pip install 'miscomp[caption]'"
            ) from None
        from miscomp.threads import apply_threads

        apply_threads()  # the run's thread count (1 by default: torch's default was 4x slower here)
        self.source = source
        self.device = resolve_device(device)
        self.max_new_tokens = int(max_new_tokens)
        self.forward_passes = 0
        with no_progress_bars():
            self._load(transformers, source)

    def _load(self, transformers, source: str) -> None:
        hub_reachable(source)  # one line now, not the hub client's five retries over 15 s
        try:
            config = transformers.AutoConfig.from_pretrained(source)
            family = FAMILIES.get(config.model_type)
            if family is None:
                raise DetectorUnavailable(
                    f"captioning model {source!r} is a {config.model_type!r} model; supported families: "
                    f"{', '.join(FAMILIES)}"
                )
            self.family = config.model_type
            model_cls = getattr(transformers, family.model_class)
            self.model = model_cls.from_pretrained(source).to(self.device).eval()
            if family.processor:
                processor = transformers.AutoProcessor.from_pretrained(source)
                self.image_processor, self.tokenizer = processor.image_processor, processor.tokenizer
            else:
                self.image_processor = transformers.AutoImageProcessor.from_pretrained(source)
                self.tokenizer = transformers.AutoTokenizer.from_pretrained(source)
        except (OSError, ValueError) as err:
            # What transformers raises for a missing local folder, an unreachable hub, an offline cache
            # miss or an unreadable config; its message is many lines, ours is one.
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise DetectorUnavailable(
                f"captioning model {source!r} not available ({first[:160]}); give a local folder with "
                f"model=PATH or {ENV_CAPTION_MODEL}, or go online once to download it"
            ) from None

    def info(self) -> dict:
        n_params = sum(p.numel() for p in self.model.parameters())
        return {"model": self.source, "family": self.family, "device": self.device, "parameters": n_params}

    def __call__(self, images: list[np.ndarray]) -> list[str]:
        if not images:
            return []
        import torch
        from PIL import Image

        pixels = self.image_processor(images=[Image.fromarray(im) for im in images], return_tensors="pt")
        self.forward_passes += 1
        with torch.inference_mode():
            out = self.model.generate(
                pixel_values=pixels["pixel_values"].to(self.device),
                max_new_tokens=self.max_new_tokens,
                do_sample=False,
            )
        return [t.strip() for t in self.tokenizer.batch_decode(out, skip_special_tokens=True)]


def hub_reachable(source: str, timeout: float = 3.0) -> None:
    """Raise DetectorUnavailable at once when ``source`` is a hub id that is neither in the local
    Hugging Face cache nor downloadable: HF_HUB_OFFLINE is set, or the hub's host does not answer.
    A local folder, or a cached id, passes without any network call."""
    import os
    import socket
    from pathlib import Path
    from urllib.parse import urlparse

    if Path(source).exists():
        return
    from huggingface_hub import constants, try_to_load_from_cache

    fix = f"give a local folder with model=PATH or {ENV_CAPTION_MODEL}, or go online once to download it"
    try:
        if isinstance(try_to_load_from_cache(source, "config.json"), str):
            return
    except ValueError:  # not a hub id either (HFValidationError): a folder that is not there
        raise DetectorUnavailable(
            f"captioning model {source!r} not available: no such folder; {fix}"
        ) from None
    if constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        raise DetectorUnavailable(
            f"captioning model {source!r} not available: not in the local Hugging Face cache and "
            f"HF_HUB_OFFLINE is set; {fix}"
        )
    host = urlparse(os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError as err:
        raise DetectorUnavailable(
            f"captioning model {source!r} not available: not in the local Hugging Face cache and {host} "
            f"cannot be reached ({err.strerror or err}); {fix}"
        ) from None
