"""The shipped GAN-lite decoder (issue 31): ``bmshj2018-factorized:q=1,weights=ganlite``.

It ships in the package data beside q1/q2 (so an installed wheel has it: models_dir() is the package
folder unless MISCOMP_MODELS_DIR is set, as for q1/q2 in test_inhouse_weights.py); its encoder and
entropy model are q1's own, so the bitstream is q1's; only the decoded pixels differ."""

from __future__ import annotations

import json

import numpy as np
import pytest

from miscomp.errors import MissingWeightsError
from miscomp.weights import file_sha256, inhouse_path

GANLITE = inhouse_path("bmshj2018-factorized", 1, "ganlite")
SPEC = "bmshj2018-factorized:q=1,weights=ganlite"


def test_ganlite_is_shipped_with_its_card_numbers():
    assert GANLITE.is_file()
    meta = json.loads(GANLITE.with_suffix(".json").read_text())
    assert meta["sha256"] == file_sha256(GANLITE)
    assert meta["base_sha256"] == file_sha256(inhouse_path("bmshj2018-factorized", 1))
    assert meta["steps"] > 0 and meta["cpu_minutes"] > 0


def test_spec_validates_and_resolves_to_the_package_file():
    pytest.importorskip("compressai")
    from miscomp.codecs import create_codec

    codec = create_codec(SPEC)
    assert codec.params()["weights"] == "ganlite"
    info = codec.info()["weights"]
    assert info["source"] == "in-house" and info["path"] == str(GANLITE)
    with pytest.raises(MissingWeightsError, match="ganlite"):  # names what is available
        create_codec("bmshj2018-factorized:q=2,weights=ganlite")
    with pytest.raises(MissingWeightsError, match="nosuchvariant: no such file, and not one of miscomp"):
        create_codec("bmshj2018-factorized:q=1,weights=nosuchvariant")


def test_only_the_decoder_differs_from_q1():
    torch = pytest.importorskip("torch")
    base = torch.load(inhouse_path("bmshj2018-factorized", 1), weights_only=True)
    gan = torch.load(GANLITE, weights_only=True)
    assert base.keys() == gan.keys()
    changed = {k for k in base if not torch.equal(base[k], gan[k])}
    assert changed and all(k.startswith("g_s.") for k in changed)


@pytest.mark.slow
def test_golden_same_bitstream_as_q1_and_psnr(require_shared):
    pytest.importorskip("compressai")
    from PIL import Image

    from miscomp.codecs import create_codec
    from miscomp.metrics import psnr

    meta = json.loads(GANLITE.with_suffix(".json").read_text())
    golden = meta["golden"]
    q1 = json.loads(inhouse_path("bmshj2018-factorized", 1).with_suffix(".json").read_text())["golden"]
    rgb = np.array(Image.open(require_shared("data", "kodak", golden["image"])).convert("RGB"))
    gan, base = create_codec(SPEC), create_codec("bmshj2018-factorized:q=1")
    data = gan.compress(rgb)
    assert data == base.compress(rgb) and len(data) == golden["bytes"] == q1["bytes"]
    rec = gan.decompress(data)
    assert psnr(rgb, rec) == pytest.approx(golden["psnr"], abs=0.01)
    assert not np.array_equal(rec, base.decompress(data))
