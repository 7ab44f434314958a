"""Detector registry. Importing this package registers the built-in detectors; heavy libraries
(torch, easyocr, transformers) are imported inside each detector, so listing stays instant."""

from miscomp.detect.base import DETECTORS, Detector, DetectorUnavailable, PairImages, build_detectors
from miscomp.registry import import_submodules

import_submodules(__name__)

__all__ = ["DETECTORS", "Detector", "DetectorUnavailable", "PairImages", "build_detectors"]
