"""benchmarks/memory.py: image sizes and the summary's fit (no scan is run here)."""

from __future__ import annotations

from benchmarks.memory import TARGET_MB, size_for, summarise


def test_24_megapixels_is_6000_by_4000():
    assert size_for(24) == (6000, 4000)
    w, h = size_for(6)
    assert abs(w * h / 1e6 - 6) < 0.1 and w % 8 == 0 and h % 8 == 0


def test_summary_fits_peak_against_megapixels():
    rows = [
        {"image": "photo", "megapixels": 6.0, "peak_rss_mb": 700, "exit": 0},
        {"image": "photo", "megapixels": 24.0, "peak_rss_mb": 1240, "exit": 0},
        {"image": "text", "megapixels": 24.0, "peak_rss_mb": 1600, "exit": 0},
        {"image": "photo", "megapixels": 12.0, "peak_rss_mb": 99999, "exit": 1},  # a failed scan is left out
    ]
    s = summarise(rows)
    assert s["mb_per_megapixel"] == 30.0 and s["base_mb"] == 520 and s["estimate_100mp_mb"] == 3520
    assert s["peak_mb_24mp_max"] == 1600 and s["within_target_24mp"] is (TARGET_MB >= 1600)


def test_scans_without_detectors_and_the_replaced_files_peaks_are_kept_apart():
    rows = [
        {"image": "photo", "megapixels": 24.0, "peak_rss_mb": 1000, "exit": 0, "detectors": "diff,ocr"},
        {"image": "photo", "megapixels": 100.0, "peak_rss_mb": 2000, "exit": 0, "detectors": "none"},
    ]
    s = summarise(rows, {"peak_mb_text_24mp": 1555, "target_mb": 1536, "git_commit": "abc"})
    assert s["peak_mb_photo_100mp_no_detectors"] == 2000 and "peak_mb_photo_100mp" not in s
    assert s["peak_mb_24mp_max"] == 1000 and s["within_target_24mp"] is True  # the bare scan is no verdict
    assert "mb_per_megapixel" not in s  # nor part of the fit
    assert s["previous"] == {"peak_mb_text_24mp": 1555, "git_commit": "abc"}
    assert TARGET_MB == 1430.5  # issue 28's 1.5 GB as 1.5e9 bytes, in MiB
