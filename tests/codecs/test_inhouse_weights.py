"""The shipped in-house weights, end to end on one Kodak image: the bitstream has exactly the golden
size and decodes to the golden PSNR. The golden numbers are written by benchmarks/rd_kodak.py
--golden into miscomp/data/weights/<arch>-q<N>-miscomp.json beside the weights (and the model card's table
comes from the same run), so this checks that the reported numbers are what the file really does."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from miscomp.weights import models_dir  # noqa: E402

# the package data, as a wheel ships it: the plain weights and (where one ships) the aware fine-tune
SHIPPED = sorted(models_dir().glob("*-q*-miscomp.pth")) + sorted(models_dir().glob("*-q*-aware.pth"))


def test_weights_are_shipped():
    names = {p.name for p in SHIPPED}
    assert {"bmshj2018-factorized-q1-miscomp.pth", "bmshj2018-factorized-q2-miscomp.pth"} <= names


@pytest.mark.slow
@pytest.mark.parametrize("weights", SHIPPED, ids=lambda p: p.stem)
def test_golden_bitstream_and_psnr(weights: Path, require_shared):
    pytest.importorskip("compressai")
    from PIL import Image

    from miscomp.codecs import create_codec
    from miscomp.metrics import psnr
    from miscomp.weights import file_sha256

    meta = json.loads(weights.with_suffix(".json").read_text())
    golden = meta.get("golden")
    assert golden, f"{weights.name}: no golden numbers; run models/finish_training.sh (rd_kodak.py --golden)"
    assert golden["weights_sha256"] == file_sha256(weights), (
        f"{weights.name} changed since its golden numbers were measured; rerun rd_kodak.py --golden"
    )
    image = require_shared("data", "kodak", golden["image"])
    rgb = np.array(Image.open(image).convert("RGB"))
    variant = weights.stem.rsplit("-", 1)[1]  # miscomp (the default) or aware: the spec names it
    codec = create_codec(f"{meta['arch']}:q={meta['quality']},weights={variant}")
    assert codec.info()["weights"]["path"] == str(weights)
    data = codec.compress(rgb)
    assert len(data) == golden["bytes"]
    rec = codec.decompress(data)
    assert psnr(rgb, rec) == pytest.approx(golden["psnr"], abs=0.01)
