"""miscomp.geometry: the one Box used by detectors, crops, report and review."""

import pytest

from miscomp.geometry import Box


def test_box_is_a_tuple_with_geometry():
    b = Box(10, 20, 30, 40)
    x, y, w, h = b  # unpacks like the 4-tuples it replaced (OCR caches, JSON details)
    assert (x, y, w, h) == (10, 20, 30, 40) and list(b) == [10, 20, 30, 40]
    assert (b.x1, b.y1, b.area, b.centre) == (40, 60, 1200, (25.0, 40.0))
    assert b.contains_point(10, 20) and not b.contains_point(40, 20)


def test_union_iou_and_overlap():
    assert Box.union_of([(0, 0, 2, 2), (5, 1, 2, 4)]) == (0, 0, 7, 5)
    assert Box(0, 0, 2, 2).union((5, 1, 2, 4)) == Box(0, 0, 7, 5)
    a = Box(0, 0, 10, 10)
    assert a.iou(a) == 1.0 and a.iou((5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert a.overlaps((9, 9, 5, 5)) and not a.overlaps((10, 0, 5, 5))  # touching edges share no pixel
    assert a.iou((20, 20, 5, 5)) == 0.0
    with pytest.raises(ValueError):
        Box.union_of([])


def test_clip_scale_points_and_crop_window():
    assert Box(-5, -5, 20, 20).clip(10, 8) == Box(0, 0, 10, 8)
    assert Box(1, 2, 3, 4).scaled(2) == Box(2, 4, 6, 8)
    assert Box.from_points([(1.5, 2.2), (9.9, 2.0), (9.0, 7.7), (1.0, 8.0)]) == Box(1, 2, 8, 6)
    win = Box(50, 50, 40, 20).crop_window(200, 100)
    assert win == Box(30, 40, 80, 40)  # half the box each side, at least 8 px
    corner = Box(0, 0, 4, 4).crop_window(100, 100)
    assert corner == Box(0, 0, 12, 12)  # clipped to the image, never empty
    assert Box(99, 99, 1, 1).crop_window(100, 100).area > 0
    # a thin line gets context across it too: a quarter of its length
    assert Box(100, 100, 140, 8).crop_window(400, 400) == Box(30, 65, 280, 78)
