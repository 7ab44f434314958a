"""The wide change generator: every kind changes something visible and carries its category."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from miscomp.findings import Category
from miscomp.synth.changes import KINDS, apply_change, changed_pixels, generate


def test_every_category_has_many_kinds():
    for cat in Category:
        assert sum(c == cat.value for c in KINDS.values()) >= 6
    assert (
        KINDS["local_scale"] == "geometry" and KINDS["bulge"] == "shape" and KINDS["dissolve"] == "geometry"
    )


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_kind_makes_a_visible_local_change(kind):
    img = np.ascontiguousarray(data.astronaut()[250:378, 150:278])
    visible = 0
    for seed in range(3):
        out, params = apply_change(img, kind, np.random.default_rng(seed))
        assert out.shape == img.shape and out.dtype == np.uint8 and params
        changed = changed_pixels(img, out)
        assert changed.mean() < 0.5  # local, not the whole crop
        visible += changed.sum() >= 30
    assert visible >= 2


def test_generate_is_deterministic_and_labelled():
    src = [("coffee", data.coffee())]
    a = list(generate(src, per_kind=1, seed=3, kinds=["shear", "erode"], codecs=("jpeg:quality=80",)))
    b = list(generate(src, per_kind=1, seed=3, kinds=["shear", "erode"], codecs=("jpeg:quality=80",)))
    assert [(p.kind, p.category) for p in a] == [("shear", "geometry"), ("erode", "shape")]
    assert all(np.array_equal(x.reconstruction, y.reconstruction) for x, y in zip(a, b, strict=True))
    assert all(p.changed.any() for p in a)


def test_unknown_kind_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown change kind 'melt'"):
        apply_change(data.coffee(), "melt", np.random.default_rng(0))
