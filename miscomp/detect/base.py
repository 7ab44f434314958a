"""The detector contract: a detector compares one original/reconstruction pair and returns findings.

Detectors are built once per run (models load once) through :data:`DETECTORS`, with a ``cache_dir``
for per-original work that should not be repeated across codecs (OCR of the original, keyed by the
original's content hash). A detector whose model is unavailable raises :class:`DetectorUnavailable`
from its constructor; ``scan`` then skips it with one line instead of crashing.

Detectors can build on each other, through two small rules the scan loop follows:

- **order**: a detector's registry metadata ``after=("diff", "ocr")`` names detectors that must run
  before it when they are part of the run (:func:`run_order`); the user's order is kept otherwise;
- **prior findings**: each detector gets ``PairImages.prior``, the findings of the detectors that ran
  before it on this pair, and what it returns is added with :func:`merge_by_box`: a finding whose box
  equals an earlier finding's box becomes extra evidence on that finding instead of a second one.
  (The caption detector captions the regions others found and reports on the same boxes.)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from miscomp.errors import MiscompError
from miscomp.findings import Finding
from miscomp.registry import Registry

if TYPE_CHECKING:
    from miscomp.settings import Settings


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
    # Findings of the detectors that ran before this one on this pair (see the module docstring).
    prior: tuple[Finding, ...] = ()
    # (height, width) of the whole image when these are one tile of it (miscomp.tiles): what a
    # detector reports as a share "of the image" is a share of this, not of the tile.
    image_size: tuple[int, int] | None = None


class Detector(ABC):
    name: ClassVar[str]

    @abstractmethod
    def detect(self, images: PairImages) -> list[Finding]: ...

    def detect_counted(self, images: PairImages) -> tuple[list[Finding], dict[str, int]]:
        """Findings plus per-pair counts that add up over tiles and pairs: the OCR detector counts the
        lines it read and the characters the reconstruction's read changed (the report's
        machine-perception curves). Counts, not rates, so that tiles and pairs sum. Most detectors
        count nothing."""
        return self.detect(images), {}

    def info(self) -> dict:
        """Facts for run.json (model paths, versions, thresholds)."""
        return {}


# Metadata kept beside each entry (as pyiqa does): cost ("cheap" | "slow"), needs_model (bool),
# default (bool: run by `scan` when the user names no detector), after (tuple of detector names that
# run first when present, so that their findings are in ``PairImages.prior``).
DETECTORS: Registry[Detector] = Registry("detector")


def build_detectors(
    specs: list[str], cache_dir: Path | None, device: str | None = None, settings: Settings | None = None
) -> tuple[list[Detector], list[str]]:
    """Build detectors from ``name:k=v`` specs; returns (detectors, one-line skip messages).
    ``device`` and the run's resolved ``settings`` reach the detectors whose factory takes them
    (model-backed ones), so that they do not read the environment again."""
    from miscomp.registry import accepts, parse_spec

    built: list[Detector] = []
    skipped: list[str] = []
    for spec in specs:
        name, params = parse_spec(spec)
        entry = DETECTORS.get(name)
        params = entry.check_params("detector", params)
        if device is not None and "device" not in params and accepts(entry.factory, "device"):
            params["device"] = device
        if settings is not None and accepts(entry.factory, "settings"):
            params["settings"] = settings
        try:
            built.append(entry.factory(cache_dir=cache_dir, **params))
        except DetectorUnavailable as err:
            skipped.append(f"detector {name} skipped: {err}")
        except TypeError as err:  # unknown or missing parameters in the user's spec
            raise MiscompError(f"detector {spec!r}: {err}") from None
    order = run_order([d.name for d in built])
    built.sort(key=lambda d: order.index(d.name))
    return built, skipped


def run_order(names: list[str]) -> list[str]:
    """``names`` reordered so that each detector runs after those in its ``after`` metadata (stable)."""
    pending = list(dict.fromkeys(names))
    out: list[str] = []
    while pending:
        for name in pending:
            after = set(DETECTORS.get(name).meta.get("after", ())) if name in DETECTORS else set()
            if not after & (set(pending) - {name}):
                break
        else:  # a cycle: keep the user's order for the rest
            name = pending[0]
        pending.remove(name)
        out.append(name)
    return out


def merge_by_box(findings: list[Finding], new: list[Finding]) -> list[Finding]:
    """``findings`` plus ``new``; a new finding with the same pair and box as an earlier finding of
    another detector is folded into that one: its evidence is appended, its details go under its
    detector's name, the score is the higher of the two and the symbol flag is set when either sets it.
    The earlier finding keeps its detector, category and id, so adding a detector never renames what
    the others found. Findings of one detector are never merged with each other."""
    out = list(findings)
    index = {(f.pair_id, f.x, f.y, f.w, f.h): i for i, f in reversed(list(enumerate(out)))}
    for f in new:
        i = index.get((f.pair_id, f.x, f.y, f.w, f.h))
        if i is None or out[i].detector == f.detector:
            out.append(f)
            continue
        old = out[i]
        details = {**old.details, f.detector: {**f.details, "evidence": f.evidence, "score": f.score}}
        out[i] = replace(
            old,
            evidence=f"{old.evidence}; {f.detector}: {f.evidence}",
            score=max(old.score, f.score),
            symbol=old.symbol or f.symbol,
            details=details,
        )
    return out
