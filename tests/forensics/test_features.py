import numpy as np
import pytest

from miscomp.codecs import create_codec
from miscomp.forensics.features import DESCRIPTIONS, FEATURES, TILE, tile_features, tiles


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    skd = pytest.importorskip("skimage.data")
    return np.ascontiguousarray(skd.astronaut()[128:384, 128:384])


def _f(rgb: np.ndarray) -> dict[str, float]:
    return dict(zip(FEATURES, tile_features(rgb), strict=True))


def test_features_are_finite_deterministic_and_described(photo):
    a, b = tile_features(photo), tile_features(photo.copy())
    assert a.shape == (len(FEATURES),) and np.all(np.isfinite(a))
    assert np.array_equal(a, b)
    assert set(DESCRIPTIONS) == set(FEATURES)
    flat = np.full((TILE, TILE, 3), 128, np.uint8)
    assert np.all(np.isfinite(tile_features(flat)))


def test_jpeg_blocks_show_in_block8(photo):
    jpeg = create_codec("jpeg:quality=10").apply(photo).reconstruction
    assert _f(jpeg)["block8"] > _f(photo)["block8"] + 0.2


def test_learned_decoder_upsampling_shows_in_the_2d_spectrum(photo):
    pytest.importorskip("compressai")
    rec = create_codec("bmshj2018-factorized:q=1").apply(photo).reconstruction
    o, r = _f(photo), _f(rec)
    assert r["grid_p2"] > o["grid_p2"] + 0.5
    assert r["spec_p2"] > o["spec_p2"] + 0.3


def test_tiles_keep_the_image_grid():
    img = np.arange(600 * 900 * 3, dtype=np.uint32).reshape(600, 900, 3).astype(np.uint8)
    ts = tiles(img, max_tiles=6)
    assert 1 <= len(ts) <= 6 and all(t.shape == (TILE, TILE, 3) for t in ts)
    assert np.array_equal(ts[0], img[:TILE, :TILE])
    small = np.zeros((100, 80, 3), np.uint8)
    assert len(tiles(small)) == 1
