"""The detector contract: a detector compares one original/reconstruction pair and returns findings.

Detectors are built once per run (models load once) through :data:`DETECTORS`, with a ``cache_dir``
for per-original work that should not be repeated across codecs (OCR of the original, keyed by the
original's content hash). A detector whose model is unavailable raises :class:`DetectorUnavailable`
from its constructor; ``scan`` then skips it with one line instead of crashing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from miscomp.errors import MiscompError
from miscomp.findings import Finding
from miscomp.registry import Registry


class DetectorUnavailable(MiscompError):
    """The detector cannot run here (missing model or package); the message says how to enable it."""


@dataclass(frozen=True)
class PairImages:
    """What a detector sees: the two images as H×W×3 uint8 RGB, plus keys for caching."""

    pair_id: str
    original: np.ndarray
    reconstruction: np.ndarray
    original_sha256: str = ""
    codec: str = ""
    bpp: float | None = None


class Detector(ABC):
    name: ClassVar[str]

    @abstractmethod
    def detect(self, images: PairImages) -> list[Finding]: ...

    def info(self) -> dict:
        """Facts for run.json (model paths, versions, thresholds)."""
        return {}


# Metadata kept beside each entry (as pyiqa does): cost ("cheap" | "slow"), needs_model (bool),
# default (bool: run by `scan` when the user names no detector).
DETECTORS: Registry[Detector] = Registry("detector")


def build_detectors(specs: list[str], cache_dir: Path | None) -> tuple[list[Detector], list[str]]:
    """Build detectors from ``name:k=v`` specs; returns (detectors, one-line skip messages)."""
    from miscomp.registry import parse_spec

    built: list[Detector] = []
    skipped: list[str] = []
    for spec in specs:
        name, params = parse_spec(spec)
        entry = DETECTORS.get(name)
        try:
            built.append(entry.factory(cache_dir=cache_dir, **params))
        except DetectorUnavailable as err:
            skipped.append(f"detector {name} skipped: {err}")
        except TypeError as err:  # unknown or missing parameters in the user's spec
            raise MiscompError(f"detector {spec!r}: {err}") from None
    return built, skipped
