"""CompressAI zoo codecs: real rANS bitstreams, weight loading and bitstream validation.

The pretrained zoo cannot be downloaded here, so the models are randomly initialised in the test:
what is tested is the codec plumbing (bitstream, loading, entropy tables), not image quality."""

from __future__ import annotations

import struct
import warnings

import numpy as np
import pytest

pytest.importorskip("compressai")
torch = pytest.importorskip("torch")

from miscomp import weights as W  # noqa: E402
from miscomp.codecs import CODECS, create_codec  # noqa: E402
from miscomp.codecs import compressai_zoo as cz  # noqa: E402
from miscomp.errors import CodecError, MiscompError, MissingWeightsError  # noqa: E402

warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=FutureWarning)
ARCHS = ["bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018-mean", "mbt2018", "cheng2020-anchor"]


def _random_model(arch: str, quality: int = 1, update: bool = True):
    from compressai.zoo import image as zoo

    torch.manual_seed(0)
    model = zoo._load_model(arch, "mse", quality)
    if update:
        model.update(force=True)
    return model


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpt")
    paths = {}
    for arch in ARCHS:
        paths[arch] = folder / f"{arch}-random.pth"
        torch.save(_random_model(arch).state_dict(), paths[arch])
    return paths


@pytest.fixture
def image(textured_image):
    return textured_image[:64, :80].copy()  # not a multiple of 64: exercises padding and cropping


def test_all_six_registered():
    for arch in cz.ARCHS:
        entry = CODECS.get(arch)
        assert entry.meta == {"family": "compressai", "needs_weights": True}
        assert entry.summary


@pytest.mark.parametrize("arch", ARCHS)
def test_round_trip_is_a_real_deterministic_bitstream(arch, checkpoints, image):
    codec = create_codec(f"{arch}:q=1,weights={checkpoints[arch]}")
    data = codec.compress(image)
    assert codec.compress(image) == data  # encoding is deterministic
    rec = codec.decompress(data)
    assert rec.shape == image.shape and rec.dtype == np.uint8
    # a fresh codec (same weights) decodes the bytes alone to the identical image
    fresh = create_codec(f"{arch}:q=1,weights={checkpoints[arch]}")
    np.testing.assert_array_equal(fresh.decompress(data), rec)
    # the bytes are the entropy-coded strings (y, and z for hyperpriors) + a small header
    h, w, _, groups = codec._parse(data)
    assert (h, w) == image.shape[:2]
    assert len(groups) == (1 if arch == "bmshj2018-factorized" else 2)
    assert all(groups) and len(data) - sum(map(len, groups)) < 48
    out = codec.apply(image)
    assert out.n_bytes == len(out.bitstream) == len(data)


def test_bitstream_matches_model_decode(checkpoints, image):
    """Our packing loses nothing: decoding it equals CompressAI's own compress→decompress."""
    codec = create_codec(f"bmshj2018-hyperprior:q=1,weights={checkpoints['bmshj2018-hyperprior']}")
    model = codec.model()
    x = torch.from_numpy(image).permute(2, 0, 1)[None].double() / 255  # the codec runs in float64
    x = torch.nn.functional.pad(x, (0, 128 - 80, 0, 0), mode="replicate")
    with torch.no_grad():
        out = model.compress(x)
        ref = model.decompress(out["strings"], out["shape"])["x_hat"][0, :, :64, :80]
    ref = ref.clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(codec.decompress(codec.compress(image)), ref)


def test_corrupted_and_truncated_bitstreams_raise_codec_error(checkpoints, image):
    codec = create_codec(f"bmshj2018-factorized:q=1,weights={checkpoints['bmshj2018-factorized']}")
    data = codec.compress(image)
    flipped = bytearray(data)
    flipped[-3] ^= 0x5A
    cases = {
        "truncated": data[:-5],
        "header only": data[:10],
        "empty": b"",
        "magic": b"XXXX" + data[4:],
        "corrupted": bytes(flipped),
        "version": data[:4] + bytes([99]) + data[5:],
        "latent shape": data[: cz._FIXED.size]
        + bytes([data[cz._FIXED.size] + 1])
        + data[cz._FIXED.size + 1 :],
    }
    for label, bad in cases.items():
        with pytest.raises(CodecError, match="bad bitstream"):
            codec.decompress(bad)
            pytest.fail(f"{label}: no error")


def test_bitstream_of_another_model_is_refused(checkpoints, image):
    fact = create_codec(f"bmshj2018-factorized:q=1,weights={checkpoints['bmshj2018-factorized']}")
    hyper = create_codec(f"bmshj2018-hyperprior:q=1,weights={checkpoints['bmshj2018-hyperprior']}")
    with pytest.raises(CodecError, match="made by bmshj2018-factorized q=1"):
        hyper.decompress(fact.compress(image))


def test_fp16_checkpoint_without_tables_is_updated(tmp_path, image):
    """Our in-house weights ship in fp16 and may lack the rANS tables: cast and recompute them (in
    float64, so that the integer tables are the same on every machine)."""
    state = _random_model("bmshj2018-hyperprior", update=False).state_dict()
    state = {
        k: v.half() if v.is_floating_point() else v for k, v in state.items() if "_quantized_cdf" not in k
    }
    path = tmp_path / "half.pth"
    torch.save({"state_dict": state, "epoch": 3}, path)  # wrapped as CompressAI's train.py saves it
    codec = create_codec(f"bmshj2018-hyperprior:q=1,weights={path}")
    data = codec.compress(image)
    assert codec.decompress(data).shape == image.shape
    assert codec.info()["entropy_tables"] == "recomputed"
    assert all(p.dtype == torch.float64 for p in codec.model().parameters())  # the default precision


def test_checkpoint_with_tables_is_used_as_is(checkpoints, image):
    codec = create_codec(f"mbt2018-mean:q=1,weights={checkpoints['mbt2018-mean']}")
    codec.compress(image)
    info = codec.info()
    assert info["entropy_tables"] == "checkpoint"
    assert info["weights"]["source"] == "argument"
    assert info["weights"]["sha256"] == W.file_sha256(checkpoints["mbt2018-mean"])


def test_wrong_or_broken_checkpoint(tmp_path, checkpoints, image):
    wrong = create_codec(f"bmshj2018-factorized:q=1,weights={checkpoints['bmshj2018-hyperprior']}")
    with pytest.raises(CodecError, match="not a bmshj2018-factorized checkpoint"):
        wrong.compress(image)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CodecError, match="cannot read checkpoint"):
        create_codec(f"bmshj2018-factorized:q=1,weights={junk}").compress(image)


def test_parameter_checks():
    with pytest.raises(CodecError, match=r"q must be an integer in \[1, 6\]"):
        create_codec("cheng2020-attn:q=7,weights=official")
    with pytest.raises(MiscompError, match="codec mbt2018: parameter q expects a whole number"):
        create_codec("mbt2018:q=high")  # checked by name and type before the codec is built
    with pytest.raises(CodecError, match="metric"):
        create_codec("mbt2018:q=1,metric=lpips")
    with pytest.raises(MissingWeightsError, match="nowhere.pth"):
        create_codec("mbt2018:q=1,weights=/nowhere.pth")


def test_official_offline_says_how_to_provide(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # an empty torch hub cache
    monkeypatch.delenv("MISCOMP_COMPRESSAI_WEIGHTS", raising=False)

    def offline(url, dest, **kwargs):
        raise OSError("no network (test)")

    monkeypatch.setattr(W, "download_file", offline)
    with pytest.raises(MissingWeightsError) as err:
        create_codec("bmshj2018-factorized:q=3,weights=official")
    message = str(err.value)
    url = "https://compressai.s3.amazonaws.com/models/v1/bmshj2018-factorized-prior-3-5c6f152b.pth.tar"
    for needed in (
        url,
        "bmshj2018-factorized-prior-3-5c6f152b.pth.tar",
        "MISCOMP_COMPRESSAI_WEIGHTS",
        "weights=PATH",
    ):
        assert needed in message
    assert str(tmp_path / "torch" / "hub" / "checkpoints") in message


def test_official_found_through_env_folder(tmp_path, monkeypatch, checkpoints, image):
    spec = cz.official_spec("mbt2018-mean", "mse", 1)
    assert spec.sha256_prefix == "e522738d"
    (tmp_path / spec.filename).write_bytes(checkpoints["mbt2018-mean"].read_bytes())
    monkeypatch.setenv("MISCOMP_COMPRESSAI_WEIGHTS", str(tmp_path))
    codec = create_codec("mbt2018-mean:q=1,weights=official")
    assert codec.info()["weights"]["source"] == f"env:{'MISCOMP_COMPRESSAI_WEIGHTS'}"
    assert codec.decompress(codec.compress(image)).shape == image.shape
    assert codec.tag == "mbt2018-mean-metricmse-q1-weightsofficial"


def test_inhouse_default(tmp_path, monkeypatch, image):
    monkeypatch.setenv("MISCOMP_MODELS_DIR", str(tmp_path))
    with pytest.raises(MissingWeightsError, match="bmshj2018-factorized-q1-miscomp.pth"):
        create_codec("bmshj2018-factorized:q=1")
    state = {
        k: v.half() if v.is_floating_point() else v
        for k, v in _random_model("bmshj2018-factorized").state_dict().items()
    }
    torch.save(state, tmp_path / "bmshj2018-factorized-q1-miscomp.pth")
    codec = create_codec("bmshj2018-factorized:q=1")
    assert codec.decompress(codec.compress(image)).shape == image.shape
    assert codec.info()["weights"]["source"] == "in-house"


def test_inhouse_aware_variant(tmp_path, monkeypatch, image):
    """``weights=aware`` names the aware fine-tune (``<arch>-q<N>-aware.pth``), a file of its own: it
    never falls back to the plain in-house weights, and every bad spec is one clear line."""
    monkeypatch.setenv("MISCOMP_MODELS_DIR", str(tmp_path))
    state = {
        k: v.half() if v.is_floating_point() else v
        for k, v in _random_model("bmshj2018-factorized").state_dict().items()
    }
    torch.save(state, tmp_path / "bmshj2018-factorized-q1-miscomp.pth")
    with pytest.raises(MissingWeightsError) as err:  # only the plain weights are there
        create_codec("bmshj2018-factorized:q=1,weights=aware")
    message = str(err.value)
    assert "no in-house aware weights" in message and "bmshj2018-factorized-q1-aware.pth" in message
    assert "available: none" in message and "\n" not in message
    torch.save(state, tmp_path / "bmshj2018-factorized-q1-aware.pth")
    codec = create_codec("bmshj2018-factorized:q=1,weights=aware")
    assert codec.info()["weights"] == {
        "path": str(tmp_path / "bmshj2018-factorized-q1-aware.pth"),
        "source": "in-house",
        "sha256": W.file_sha256(tmp_path / "bmshj2018-factorized-q1-aware.pth"),
    }
    assert (
        codec.params()["weights"] == "aware" and codec.tag == "bmshj2018-factorized-metricmse-q1-weightsaware"
    )
    assert codec.tag != create_codec("bmshj2018-factorized:q=1").tag  # base and aware are two curves
    assert codec.decompress(codec.compress(image)).shape == image.shape
    # bad specs: another quality, another architecture, another metric, a misspelt variant
    for spec, match in [
        ("bmshj2018-factorized:q=2,weights=aware", r"q=2: no in-house aware .*available: \S+q1-aware.pth"),
        ("mbt2018-mean:q=1,weights=aware", "mbt2018-mean q=1: no in-house aware weights"),
        ("bmshj2018-factorized:q=1,metric=ms-ssim,weights=aware", r"\(aware\) are trained for mse only"),
        ("bmshj2018-factorized:q=1,weights=awre", "awre: no such file, and not one of miscomp, aware"),
    ]:  # fmt: skip
        with pytest.raises(CodecError, match=match) as err:
            create_codec(spec)
        assert "\n" not in str(err.value), spec


def test_rejects_non_rgb(checkpoints):
    codec = create_codec(f"bmshj2018-factorized:q=1,weights={checkpoints['bmshj2018-factorized']}")
    with pytest.raises(CodecError, match="H×W×3 uint8"):
        codec.compress(np.zeros((8, 8), np.uint8))


def test_header_layout_is_documented(checkpoints, image):
    codec = create_codec(f"bmshj2018-hyperprior:q=1,weights={checkpoints['bmshj2018-hyperprior']}")
    data = codec.compress(image)
    magic, version, arch_id, q, h, w, pad_h, pad_w, ndim = cz._FIXED.unpack_from(data)
    assert (magic, version, cz.ARCHS[arch_id], q) == (b"MCAI", 1, "bmshj2018-hyperprior", 1)
    assert (h, w, pad_h, pad_w, ndim) == (64, 80, 0, 48, 2)
    shape = struct.unpack_from("<2H", data, cz._FIXED.size)
    assert shape == (1, 2)  # hyperprior z: 64× down of the padded 64×128
