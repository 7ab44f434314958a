"""Structure channel: replaced / blurred / texture told apart against the null model (JPEG at the rate)."""

from __future__ import annotations

import cv2
import numpy as np

from miscomp.detect import DETECTORS, PairImages
from miscomp.detect.structure import StructureDetector, classify_windows, window_stats


def _dial(size: int = 256) -> np.ndarray:
    """A light dial with 12 ticks and two hands on a smooth grey background."""
    img = np.full((size, size, 3), 120, np.uint8)
    c = size // 2
    cv2.circle(img, (c, c), 100, (240, 240, 235), -1)
    cv2.circle(img, (c, c), 100, (20, 20, 20), 3)
    for k in range(12):
        a = np.deg2rad(30 * k)
        p0 = (int(c + 92 * np.cos(a)), int(c + 92 * np.sin(a)))
        p1 = (int(c + 75 * np.cos(a)), int(c + 75 * np.sin(a)))
        cv2.line(img, p0, p1, (20, 20, 20), 3)
    cv2.line(img, (c, c), (c + 60, c - 20), (10, 10, 10), 4)
    cv2.line(img, (c, c), (c - 10, c - 80), (10, 10, 10), 2)
    return img


def _pair(orig, rec, bpp=2.0) -> PairImages:
    return PairImages("p", orig, rec, "sha", "learned", bpp)


def test_registered_with_metadata():
    meta = DETECTORS.get("structure").meta
    assert meta["cost"] == "cheap" and meta["needs_model"] is False


def test_kept_structure_makes_no_finding():
    orig = _dial()
    ok, buf = cv2.imencode(".jpg", orig, [cv2.IMWRITE_JPEG_QUALITY, 90])
    rec = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    assert StructureDetector().detect(_pair(orig, rec)) == []


def test_rotated_structure_is_replaced():
    orig = _dial()
    m = cv2.getRotationMatrix2D((128, 128), 40, 1.0)
    rec = cv2.warpAffine(orig, m, (256, 256), borderMode=cv2.BORDER_REPLICATE)
    found = StructureDetector().detect(_pair(orig, rec))
    assert found and {f.details["kind"] for f in found} == {"replaced"}
    f = found[0]
    assert f.details["orientation_agreement"] < f.details["orientation_agreement_null"] - 0.22
    assert 0.5 <= f.score <= 0.9 and "orientation agreement" in f.evidence


def test_dissolved_structure_is_blurred_when_jpeg_keeps_it():
    orig = _dial()
    rec = orig.copy()
    rec[28:228, 28:228] = cv2.GaussianBlur(orig, (0, 0), 6)[28:228, 28:228]
    found = StructureDetector().detect(_pair(orig, rec))
    assert found and "blurred" in {f.details["kind"] for f in found}


def test_resynthesised_texture_is_not_a_finding(rng):
    def grass(seed: int) -> np.ndarray:
        noise = np.random.default_rng(seed).normal(0, 1, (256, 256)).astype(np.float32)
        g = cv2.GaussianBlur(noise, (0, 0), 1.0)
        g = np.clip(110 + 60 * g / g.std(), 0, 255).astype(np.uint8)
        return np.stack([g // 2, g, g // 3], axis=-1)

    orig, rec = grass(1), grass(2)
    st = window_stats(orig, rec, orig)
    kinds = classify_windows(st)
    assert (kinds == 3).sum() > 0.5 * kinds.size  # the windows are texture
    assert StructureDetector().detect(_pair(orig, rec)) == []


def test_every_number_has_provenance():
    from miscomp.config import check_provenance
    from miscomp.detect.structure import StructureConfig

    assert check_provenance(StructureConfig) == []
