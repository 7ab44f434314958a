"""The taxonomy classifier on patches with one known change each."""

from __future__ import annotations

import numpy as np
import pytest

from miscomp.findings import Category
from miscomp.synth.shapes import brighten, bulge, scene, shift_patch
from miscomp.taxonomy import FEATURE_NAMES, classify, forest_predict, region_features, rules


def _patch(change):
    img = scene()
    rec, (x, y, w, h) = change(img)
    mask = np.zeros(img.shape[:2], bool)
    mask[y : y + h, x : x + w] = True
    return img, rec, mask


def test_brightness_change_is_amplitude_with_evidence():
    cat, conf, evidence = classify(*_patch(brighten), area_fraction=0.02)
    assert cat is Category.AMPLITUDE
    assert 0.5 <= conf < 1
    assert "ΔL +" in evidence and "over 2% of image" in evidence


def test_rules_call_a_shifted_patch_geometry_and_measure_the_shift():
    f = region_features(*_patch(shift_patch))
    assert rules(f)[0] is Category.GEOMETRY
    # The stripes moved 3 px right and 2 px down; stripes only pin the shift across them (the
    # aperture problem), so compare the phase shift sin(x/2.2 + y/3) sees.
    assert f.shift[0] / 2.2 + f.shift[1] / 3 == pytest.approx(3 / 2.2 + 2 / 3, abs=0.3)


def test_bulged_contour_is_shape():
    cat, _, evidence = classify(*_patch(bulge))
    assert cat is Category.SHAPE
    assert "contours changed" in evidence


def test_tree_model_is_present_and_matches_features():
    f = region_features(*_patch(bulge))
    assert len(f.as_vector()) == len(FEATURE_NAMES)
    assert forest_predict(f) is not None


def test_bad_shapes_and_empty_mask_are_clear_errors():
    img, rec, mask = _patch(brighten)
    with pytest.raises(ValueError, match="patch shapes differ"):
        classify(img, rec[:10], mask)
    with pytest.raises(ValueError, match="empty"):
        region_features(img, rec, np.zeros_like(mask))
