"""The one place that finds model weight files.

Order, for every model: an explicit path (CLI flag / codec parameter) → an environment variable →
the cache folder (``MISCOMP_CACHE``, default ``~/.cache/miscomp``) → the upstream download, for
users who have internet → :class:`~miscomp.errors.MissingWeightsError` saying exactly how to
provide the file. An explicit path that does not exist is an error at once: silently falling back
to another file would make results unreproducible.

Weights we trained ourselves ship inside the package (``miscomp/data/weights``, so an installed wheel
has them; ``MISCOMP_MODELS_DIR`` overrides it), named ``<arch>-q<N>-miscomp.pth``. Their model card
and training script are in ``models/`` at the repository root.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from miscomp.errors import MissingWeightsError
from miscomp.io import file_sha256
from miscomp.settings import ENV, Settings

DOWNLOAD_TIMEOUT_S = 20.0
"""Short: offline machines (CI, air-gapped labs) should fail fast with the how-to message."""


@dataclass(frozen=True)
class WeightsSpec:
    """What a model file is called, where it comes from and how a user can provide it."""

    name: str  # human-readable, e.g. "TAEF2 encoder"
    filename: str  # the file name looked for in folders, e.g. "taef2_encoder.pth"
    setting: str  # the Settings field (and so the env var) that may name the file or its folder
    flag: str  # how to pass it explicitly, e.g. "taef2:weights_dir=DIR"
    url: str = ""  # upstream download ("" = none)
    cache_subdir: str = ""  # folder under the cache dir
    sha256_prefix: str = ""  # checked after a download when the upstream publishes it

    @property
    def env_var(self) -> str:
        return ENV[self.setting]


@dataclass(frozen=True)
class ResolvedWeights:
    path: Path
    source: str  # "argument", "env:VAR", "cache", "download", "in-house"

    @property
    def sha256(self) -> str:
        return file_sha256(self.path)

    def info(self) -> dict[str, Any]:
        """What run.json records: which file, found how, and its content hash."""
        return {"path": str(self.path), "source": self.source, "sha256": self.sha256}


def cache_dir() -> Path:
    return Settings.from_env().cache_dir


def models_dir() -> Path:
    """The in-house weights folder: ``MISCOMP_MODELS_DIR`` or the weights shipped in the package."""
    return Settings.from_env().models_dir


def inhouse_path(arch: str, quality: int) -> Path:
    return models_dir() / f"{arch}-q{quality}-miscomp.pth"


def resolve_inhouse(arch: str, quality: int) -> ResolvedWeights:
    path = inhouse_path(arch, quality)
    if path.is_file():
        return ResolvedWeights(path, "in-house")
    have = sorted(p.name for p in path.parent.glob("*-miscomp.pth")) if path.parent.is_dir() else []
    raise MissingWeightsError(
        f"{arch} q={quality}: no in-house weights at {path} "
        f"(available: {', '.join(have) or 'none'}). Put {path.name} there or point "
        f"MISCOMP_MODELS_DIR at the folder that holds it; or use weights=official "
        f"(downloads CompressAI's pretrained model) or weights=PATH to a checkpoint."
    )


def resolve(
    spec: WeightsSpec,
    explicit: str | Path | None = None,
    *,
    cache: Path | None = None,
    download: bool = True,
) -> ResolvedWeights:
    """Find ``spec``'s file: explicit → env var → cache → download → MissingWeightsError."""
    if explicit:
        path = _in_folder(Path(explicit).expanduser(), spec.filename)
        if path.is_file():
            return ResolvedWeights(path, "argument")
        raise MissingWeightsError(f"{path}: {spec.name} weights not found (given by {spec.flag})")

    env_value = getattr(Settings.from_env(), spec.setting)
    if env_value:
        path = _in_folder(Path(env_value), spec.filename)
        if path.is_file():
            return ResolvedWeights(path, f"env:{spec.env_var}")
        raise MissingWeightsError(f"{path}: {spec.name} weights not found (from ${spec.env_var})")

    folder = cache if cache is not None else cache_dir() / spec.cache_subdir
    cached = folder / spec.filename
    if cached.is_file():
        return ResolvedWeights(cached, "cache")

    problem = "no download URL is known" if download else "not on this machine (downloads are off)"
    if download and spec.url:
        try:
            download_file(spec.url, cached, sha256_prefix=spec.sha256_prefix)
            return ResolvedWeights(cached, "download")
        except Exception as err:  # any network/disk failure ends in the how-to message below
            problem = f"download failed ({type(err).__name__}: {err})"
    flag = spec.flag.split(" (")[0]
    short = f"{spec.name} weights are not on this machine (set {spec.env_var} or pass {flag})"
    raise MissingWeightsError(how_to_provide(spec, cached, problem), short=short)


def how_to_provide(spec: WeightsSpec, cached: Path, problem: str) -> str:
    source = f" from {spec.url}" if spec.url else ""
    return (
        f"{spec.name} weights ({spec.filename}) not found: {problem}. Provide the file{source} in one "
        f"of these ways: pass {spec.flag}; set {spec.env_var} to the file or its folder; or put it at "
        f"{cached}."
    )


def download_file(
    url: str, dest: Path, *, sha256_prefix: str = "", timeout: float = DOWNLOAD_TIMEOUT_S
) -> Path:
    """Download ``url`` to ``dest`` atomically (temp file + rename), checking a sha256 prefix."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            shutil.copyfileobj(response, out)
        if sha256_prefix and not file_sha256(tmp).startswith(sha256_prefix):
            raise ValueError(f"sha256 of the download does not start with {sha256_prefix}")
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def _in_folder(path: Path, filename: str) -> Path:
    return path / filename if path.is_dir() else path
