"""miscomp/detect/diff/cache.py: what the diff detector keeps of an original between its codecs changes
no finding; tiles of a large original keep their digests (bins, salient points) within the budget."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

import miscomp.detect.diff.structure as structure_module
from miscomp.codecs import create_codec
from miscomp.detect import PairImages
from miscomp.detect.diff import DiffDetector
from miscomp.detect.diff.cache import OriginalCache
from miscomp.tiles import detect_tiled, tile_boxes
from testing.shapes import scene

CODECS = ("jpeg:quality=10", "webp:quality=5", "jpeg:quality=40")


def _pairs(img: np.ndarray, sha: str) -> list[PairImages]:
    return [
        PairImages(f"p{k}", img, create_codec(spec).apply(img).reconstruction, sha, spec)
        for k, spec in enumerate(CODECS)
    ]


def _large() -> np.ndarray:
    """The test scene at 384², so that 256-px tiles cut it."""
    return cv2.resize(scene(), (384, 384), interpolation=cv2.INTER_CUBIC)


def _count_salient(monkeypatch) -> list[int]:
    made: list[int] = []
    real = structure_module.salient_structure
    monkeypatch.setattr(structure_module, "salient_structure", lambda *a: made.append(1) or real(*a))
    return made


def test_tiles_keep_their_digests_between_codecs_and_find_the_same(monkeypatch):
    img = _large()
    tile = 256
    n_tiles = len(tile_boxes(*img.shape[:2], tile, tile // 4))
    assert n_tiles > 1
    # A fresh detector for every pair: nothing is kept (the reference).
    fresh = [detect_tiled(DiffDetector(), p, tile=tile) for p in _pairs(img, "")]
    made = _count_salient(monkeypatch)
    det = DiffDetector()
    kept = [detect_tiled(det, p, tile=tile) for p in _pairs(img, "sha-a")]
    assert kept == fresh  # the same findings, to the last digit of every score and detail
    assert len(made) == n_tiles  # the salient structure once per tile, not once per tile and codec
    assert 0 < det._cache.nbytes <= det.config.digest_max_bytes
    # Another original replaces what was kept.
    detect_tiled(det, _pairs(img[::-1].copy(), "sha-b")[0], tile=tile)
    assert len(made) == 2 * n_tiles


def test_a_budget_too_small_keeps_nothing_and_changes_nothing(monkeypatch):
    img = _large()
    fresh = [detect_tiled(DiffDetector(), p, tile=256) for p in _pairs(img, "")]
    made = _count_salient(monkeypatch)
    det = DiffDetector()
    det._cache = OriginalCache(det.config.cache_max_pixels, max_bytes=0)
    assert [detect_tiled(det, p, tile=256) for p in _pairs(img, "sha-a")] == fresh
    assert det._cache.nbytes == 0
    assert len(made) == len(CODECS) * len(tile_boxes(*img.shape[:2], 256, 64))


def test_a_whole_original_above_the_size_limit_keeps_its_digest(monkeypatch):
    img = scene()
    small = dataclasses.replace(DiffDetector().config, cache_max_pixels=img.shape[0] * img.shape[1] - 1)
    fresh = [DiffDetector().detect(p) for p in _pairs(img, "")]
    made = _count_salient(monkeypatch)
    det = DiffDetector()
    det._cache = OriginalCache(small.cache_max_pixels, small.digest_max_bytes)
    assert [det.detect(p) for p in _pairs(img, "sha-a")] == fresh
    assert len(made) == 1 and det._cache.nbytes > 0


def test_spilled_tile_maps_are_read_back_and_find_the_same(monkeypatch):
    import miscomp.detect.diff.cache as cache_module

    img = _large()
    n_tiles = len(tile_boxes(*img.shape[:2], 256, 64))
    fresh = [detect_tiled(DiffDetector(), p, tile=256) for p in _pairs(img, "")]
    made: list[int] = []
    real = cache_module.original_maps
    monkeypatch.setattr(cache_module, "original_maps", lambda *a: made.append(1) or real(*a))
    det = DiffDetector()
    assert [detect_tiled(det, p, tile=256) for p in _pairs(img, "sha-a")] == fresh
    assert len(made) == n_tiles  # made for the first codec only; the others read them back
    spill = det._cache._spill
    assert spill.nbytes > 0 and len(list(spill.folder.iterdir())) == n_tiles
    # No spill budget: every codec makes the maps again, with the same findings.
    made.clear()
    det = DiffDetector()
    det._cache = OriginalCache(det.config.cache_max_pixels, det.config.digest_max_bytes, spill_bytes=0)
    assert [detect_tiled(det, p, tile=256) for p in _pairs(img, "sha-a")] == fresh
    assert len(made) == len(CODECS) * n_tiles and det._cache._spill.folder is None
