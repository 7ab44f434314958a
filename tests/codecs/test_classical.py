import json

import numpy as np
import pytest

from miscomp.codecs import CODECS, create_codec
from miscomp.errors import CodecError, MiscompError
from miscomp.io import read_image
from miscomp.metrics import psnr


@pytest.mark.parametrize(
    "spec", ["jpeg:quality=20", "webp:quality=20", "jpeg2000:ratio=30", "avif:quality=40"]
)
def test_real_bitstream_round_trip(spec, textured_image):
    codec = create_codec(spec)
    out = codec.apply(textured_image)
    assert out.n_bytes == len(out.bitstream) > 0
    assert out.reconstruction.shape == textured_image.shape and out.reconstruction.dtype == np.uint8
    np.testing.assert_array_equal(codec.decompress(out.bitstream), out.reconstruction)
    assert 20 < psnr(textured_image, out.reconstruction) < 60


def test_quality_orders_size_and_fidelity(textured_image):
    low, high = (create_codec(f"jpeg:quality={q}").apply(textured_image) for q in (10, 90))
    assert low.n_bytes < high.n_bytes
    assert psnr(textured_image, low.reconstruction) < psnr(textured_image, high.reconstruction)


def test_bad_parameters_are_clear_errors():
    with pytest.raises(CodecError, match="quality"):
        create_codec("jpeg:quality=500")
    with pytest.raises(MiscompError, match="unknown codec 'jpg'; known: .*jpeg"):
        create_codec("jpg:quality=5")
    with pytest.raises(MiscompError, match=r"codec jpeg has no parameter 'qualty' \(its parameters: quality"):
        create_codec("jpeg:qualty=5")
    with pytest.raises(
        MiscompError, match="parameter quality expects a whole number, e.g. quality=75; got 'abc'"
    ):
        create_codec("jpeg:quality=abc")


def test_tags_are_distinct_and_filesystem_safe():
    tags = {
        create_codec(s).tag
        for s in ["jpeg:quality=10", "jpeg:quality=20", "webp:quality=10", "jpeg2000:ratio=12.5"]
    }
    assert len(tags) == 4 and all("/" not in t and ":" not in t for t in tags)
    assert {"jpeg", "webp", "jpeg2000", "avif"} <= set(CODECS.names()) and "external" not in CODECS


def test_jpeg_reproduces_compressai_published_kodak_figure(require_shared):
    """CompressAI's JPEG curve (Pillow, Kodak mean): our runner must land on it.

    Four images keep the test fast, so the tolerance is that of a subset mean (checked against the
    24-image mean in benchmarks/classical_kodak.py)."""
    ref = json.loads(require_shared("refs", "compressai-kodak-jpeg.json").read_text())["results"]
    codec = create_codec("jpeg:quality=50")
    idx = 9  # qualities 5, 10, ..., 95
    kodak = require_shared("data", "kodak")
    bpps, psnrs = [], []
    for name in ("kodim01.png", "kodim08.png", "kodim15.png", "kodim23.png"):
        rgb = read_image(kodak / name).rgb
        out = codec.apply(rgb)
        bpps.append(out.n_bytes * 8 / (rgb.shape[0] * rgb.shape[1]))
        psnrs.append(psnr(rgb, out.reconstruction))
    assert np.mean(psnrs) == pytest.approx(ref["psnr-rgb"][idx], abs=1.5)
    assert np.mean(bpps) == pytest.approx(ref["bpp"][idx], rel=0.3)
