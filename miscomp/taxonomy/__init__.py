"""Assign a miscompression category (Hofer & Böhme, WIFS 2024) to one changed region.

The question asked of a region is *which model of change explains it* (:mod:`miscomp.taxonomy.features`
fits them, :mod:`miscomp.taxonomy.rules` decides): a colour model with the geometry held (amplitude),
one low-freedom motion (geometry), only a smooth non-rigid field or nothing at all (shape). The evidence
text names the model terms that decided.

The classifier is the rules with their built-in thresholds (:class:`TaxonomyConfig`, each with its
provenance), or with thresholds read from a JSON file (``MISCOMP_TAXONOMY_MODEL`` or
``create_classifier(path)``: ``{"thresholds": {...}}``, what ``benchmarks/taxonomy_loko.py`` writes as
its candidate config). A file that was
asked for and is missing or malformed is an error. :meth:`Classifier.info` says which one ran (for
run.json): ``"rules"``, or the file with its sha256.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from miscomp.config import from_dict, to_dict
from miscomp.errors import MiscompError
from miscomp.findings import Category
from miscomp.geometry import Box
from miscomp.settings import ENV, Settings
from miscomp.taxonomy.config import TaxonomyConfig
from miscomp.taxonomy.features import RegionFeatures, region_features
from miscomp.taxonomy.rules import decide

__all__ = [
    "Classifier",
    "RegionFeatures",
    "TaxonomyConfig",
    "classify",
    "create_classifier",
    "decide",
    "over_changed_text",
    "region_features",
]


@dataclass(frozen=True)
class Classifier:
    """The rules with one set of thresholds, and where those came from."""

    thresholds: TaxonomyConfig = field(default_factory=TaxonomyConfig)
    file: Path | None = None  # None: the built-in thresholds
    sha256: str | None = None

    def info(self) -> dict:
        """Which classifier assigned the categories, for run.json."""
        out: dict = {"classifier": "rules" if self.file is None else str(self.file)}
        if self.sha256:
            out["sha256"] = self.sha256
        out["thresholds"] = to_dict(self.thresholds)
        return out

    def classify(
        self,
        original_patch: np.ndarray,
        recon_patch: np.ndarray,
        mask: np.ndarray,
        area_fraction: float | None = None,
        text_lost: bool = False,
    ) -> tuple[Category, float, str]:
        """Category, confidence in [0.5, 1) and a one-line evidence text for the change inside ``mask``.

        ``original_patch`` and ``recon_patch`` are H×W×3 uint8 RGB crops around the region (include a
        margin: motion and the codec's noise floor are measured against the surroundings); ``mask``
        marks the changed pixels. ``text_lost``: the region is a text line that stopped reading (see
        :func:`miscomp.taxonomy.rules.decide`).
        """
        if original_patch.shape != recon_patch.shape or original_patch.shape[:2] != mask.shape:
            raise ValueError(
                f"patch shapes differ: original {original_patch.shape}, reconstruction "
                f"{recon_patch.shape}, mask {mask.shape}"
            )
        category, confidence, evidence = decide(
            region_features(original_patch, recon_patch, mask), self.thresholds, text_lost
        )
        if area_fraction is not None:
            evidence = f"{evidence} (region {100 * area_fraction:.2g}% of image)"
        return category, float(np.clip(confidence, 0.5, 0.99)), evidence


def create_classifier(path: Path | str | None = None) -> Classifier:
    """The classifier from ``path``, else ``MISCOMP_TAXONOMY_MODEL``, else the built-in rules."""
    from miscomp.io import file_sha256

    path = Path(path) if path is not None else Settings.from_env().taxonomy_model
    if path is None:
        return Classifier()
    if not path.is_file():
        raise MiscompError(
            f"{path}: taxonomy classifier file not found (given by argument or {ENV['taxonomy_model']}); "
            f"unset it to use the built-in rules"
        )
    try:
        data = json.loads(path.read_text())
        thresholds = from_dict(
            TaxonomyConfig, {k: float(v) for k, v in data["thresholds"].items()}, "thresholds"
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError, MiscompError) as err:
        raise MiscompError(f"{path}: not a taxonomy thresholds file ({err})") from None
    return Classifier(thresholds, path.resolve(), file_sha256(path))


def classify(
    original_patch: np.ndarray,
    recon_patch: np.ndarray,
    mask: np.ndarray,
    area_fraction: float | None = None,
    text_lost: bool = False,
) -> tuple[Category, float, str]:
    """:meth:`Classifier.classify` with the classifier the environment selects."""
    return create_classifier().classify(original_patch, recon_patch, mask, area_fraction, text_lost)


def classify_box(
    original: np.ndarray, reconstruction: np.ndarray, box: Box, text_lost: bool = False
) -> tuple[Category, float, str]:
    """:func:`classify` on a box of two whole images: the patch is the box padded by a quarter of its
    longer side (at least 8 px) so the features see the surroundings it moved over, the mask the box."""
    x, y, w, h = box
    ih, iw = original.shape[:2]
    pad = max(8, int(0.25 * max(w, h)))
    x0, y0, x1, y1 = max(0, x - pad), max(0, y - pad), min(iw, x + w + pad), min(ih, y + h + pad)
    mask = np.zeros((y1 - y0, x1 - x0), bool)
    mask[y - y0 : y - y0 + h, x - x0 : x - x0 + w] = True
    return classify(
        original[y0:y1, x0:x1], reconstruction[y0:y1, x0:x1], mask, w * h / (ih * iw), text_lost=text_lost
    )


def over_changed_text(category: str, evidence: str) -> tuple[str, str]:
    """The category of a finding that lies on text whose read changed (the symbol flag's rule).

    The read changing is contour evidence at the glyph's own scale: strokes moved, appeared or
    vanished, which the region's contour measure misses at 10-14 px (issue 32: a HiFiC town name read
    'Halletatt' -> 'Esa' was called amplitude, colour model 100%, contours kept 0.95). So such a
    finding is never amplitude: an amplitude call becomes shape, geometry and shape stand."""
    if category != Category.AMPLITUDE.value:
        return category, evidence
    return Category.SHAPE.value, f"{evidence}; the text's read changed: its strokes changed (shape)"
