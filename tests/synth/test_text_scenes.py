"""miscomp/synth/text_scenes.py: deterministic scenes whose truths lie inside the image."""

from __future__ import annotations

import numpy as np
import pytest

from miscomp.synth.text_scenes import SCENE_KINDS, render_scene


@pytest.mark.parametrize("kind", SCENE_KINDS)
def test_scene_is_deterministic_with_truths_inside(kind):
    a, b = render_scene(kind, 3), render_scene(kind, 3)
    assert np.array_equal(a.image, b.image) and a.items == b.items
    assert not np.array_equal(a.image, render_scene(kind, 4).image)
    h, w = a.image.shape[:2]
    assert a.image.dtype == np.uint8 and h * w <= 1_000_000
    assert a.items
    for item in a.items:
        assert item.x >= 0 and item.y >= 0 and item.x + item.w <= w and item.y + item.h <= h, item
        assert item.kind in ("word", "number", "numeral", "hand")
        if item.kind != "hand":
            assert 6 <= item.char_px <= 44


def test_unknown_kind():
    with pytest.raises(ValueError, match="unknown scene kind"):
        render_scene("poster", 0)
