"""miscomp.weights: explicit path → env var → cache → download → a how-to error."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from miscomp import weights as W
from miscomp.errors import MissingWeightsError

SPEC = W.WeightsSpec(
    name="Toy model",
    filename="toy.pth",
    setting="compressai_weights",  # any path setting: the toy reads MISCOMP_COMPRESSAI_WEIGHTS
    flag="toy:weights=PATH",
    url="https://example.invalid/models/toy.pth",
    cache_subdir="toy",
)


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No env var, an empty cache, and no real network access in any test of this module."""
    monkeypatch.delenv(SPEC.env_var, raising=False)
    monkeypatch.setenv("MISCOMP_CACHE", str(tmp_path / "cache"))

    def offline(url, dest, **kwargs):
        raise OSError("network unreachable (test)")

    monkeypatch.setattr(W, "download_file", offline)


def _write(path: Path, content: bytes = b"weights") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def test_explicit_file_and_folder(tmp_path):
    file = _write(tmp_path / "a" / "toy.pth")
    assert W.resolve(SPEC, file) == W.ResolvedWeights(file, "argument")
    assert W.resolve(SPEC, str(file.parent)).path == file  # a folder: the expected name inside it


def test_explicit_missing_is_an_error_not_a_fallback(tmp_path, monkeypatch):
    _write(tmp_path / "env" / "toy.pth")
    monkeypatch.setenv(SPEC.env_var, str(tmp_path / "env"))
    with pytest.raises(MissingWeightsError, match=r"nowhere.*toy:weights=PATH"):
        W.resolve(SPEC, tmp_path / "nowhere.pth")


def test_env_var_file_or_folder(tmp_path, monkeypatch):
    file = _write(tmp_path / "env" / "toy.pth")
    monkeypatch.setenv(SPEC.env_var, str(file.parent))
    assert W.resolve(SPEC) == W.ResolvedWeights(file, f"env:{SPEC.env_var}")
    monkeypatch.setenv(SPEC.env_var, str(file))
    assert W.resolve(SPEC).path == file
    monkeypatch.setenv(SPEC.env_var, str(tmp_path / "gone"))
    with pytest.raises(MissingWeightsError, match=SPEC.env_var):
        W.resolve(SPEC)


def test_cache_dir_from_env(tmp_path):
    file = _write(tmp_path / "cache" / "toy" / "toy.pth")
    assert W.resolve(SPEC) == W.ResolvedWeights(file, "cache")


def test_download_lands_in_cache(tmp_path, monkeypatch):
    def fake_download(url, dest, **kwargs):
        assert url == SPEC.url
        return _write(dest)

    monkeypatch.setattr(W, "download_file", fake_download)
    resolved = W.resolve(SPEC)
    assert resolved.source == "download"
    assert resolved.path == tmp_path / "cache" / "toy" / "toy.pth"


def test_offline_message_says_how_to_provide():
    with pytest.raises(MissingWeightsError) as err:
        W.resolve(SPEC)
    message = str(err.value)
    for needed in ("toy.pth", SPEC.env_var, SPEC.flag, SPEC.url, "network unreachable", "cache"):
        assert needed in message


def test_no_download_when_disabled(monkeypatch):
    def must_not_run(*args, **kwargs):
        raise AssertionError("download attempted")

    monkeypatch.setattr(W, "download_file", must_not_run)
    with pytest.raises(MissingWeightsError, match="downloads are off") as err:
        W.resolve(SPEC, download=False)
    assert "\n" not in err.value.short and SPEC.env_var in err.value.short


def test_real_download_code_with_file_url_and_sha_check(tmp_path, monkeypatch):
    # The real urllib path, offline: a file:// URL. The sha256 prefix guards against bad downloads.
    monkeypatch.undo()  # restore the real download_file
    source = _write(tmp_path / "upstream.pth", b"real bytes")
    digest = hashlib.sha256(b"real bytes").hexdigest()
    dest = tmp_path / "out" / "toy.pth"
    W.download_file(source.as_uri(), dest, sha256_prefix=digest[:8])
    assert dest.read_bytes() == b"real bytes"
    bad = tmp_path / "out" / "bad.pth"
    with pytest.raises(ValueError, match="sha256"):
        W.download_file(source.as_uri(), bad, sha256_prefix="00000000")
    assert not bad.exists()
    assert [p.name for p in dest.parent.iterdir()] == ["toy.pth"]  # no partial files left behind


def test_resolved_info_has_hash(tmp_path):
    file = _write(tmp_path / "toy.pth", b"abc")
    info = W.ResolvedWeights(file, "argument").info()
    assert info == {
        "path": str(file),
        "source": "argument",
        "sha256": hashlib.sha256(b"abc").hexdigest(),
    }


def test_inhouse_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("MISCOMP_MODELS_DIR", str(tmp_path / "models"))
    _write(tmp_path / "models" / "bmshj2018-factorized-q2-miscomp.pth")
    with pytest.raises(MissingWeightsError) as err:
        W.resolve_inhouse("bmshj2018-factorized", 1)
    message = str(err.value)
    assert "bmshj2018-factorized-q1-miscomp.pth" in message
    assert "MISCOMP_MODELS_DIR" in message and "weights=official" in message
    assert "available: bmshj2018-factorized-q2-miscomp.pth" in message
    found = W.resolve_inhouse("bmshj2018-factorized", 2)
    assert found.source == "in-house" and found.path.parent == tmp_path / "models"


def test_models_dir_default_is_package_data(monkeypatch):
    import miscomp

    monkeypatch.delenv("MISCOMP_MODELS_DIR", raising=False)
    assert W.models_dir() == Path(miscomp.__file__).resolve().parent / "data" / "weights"
    assert W.inhouse_path("mbt2018", 3).name == "mbt2018-q3-miscomp.pth"
