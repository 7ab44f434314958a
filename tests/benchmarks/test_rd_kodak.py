"""benchmarks/rd_kodak.py's matched-bpp comparison: interpolation between the bracketing sweep
points of the same image, and an honest "unreachable" when the target is outside the sweep."""

from __future__ import annotations

import math

from benchmarks import rd_kodak as rd


def test_matched_interpolates_between_bracketing_qualities(textured_image):
    pts = rd.sweep({"img": textured_image}, "JPEG", [10, 30, 60, 90])["img"]
    assert [p["bpp"] for p in pts] == sorted(p["bpp"] for p in pts)  # more quality, more bits
    target = (pts[1]["bpp"] + pts[2]["bpp"]) / 2
    m = rd.matched(textured_image, pts, "JPEG", target)
    assert m["reachable"] and m["quality"] == "30..60"
    assert pts[1]["psnr"] < m["psnr"] < pts[2]["psnr"]
    assert 0 < m["ms_ssim"] <= 1


def test_matched_reports_unreachable_targets(textured_image):
    pts = rd.sweep({"img": textured_image}, "JPEG", [10, 90])["img"]
    low = rd.matched(textured_image, pts, "JPEG", pts[0]["bpp"] / 10)
    assert not low["reachable"] and math.isnan(low["psnr"]) and low["nearest_bpp"] == pts[0]["bpp"]
    assert not rd.matched(textured_image, pts, "JPEG", pts[1]["bpp"] * 10)["reachable"]
