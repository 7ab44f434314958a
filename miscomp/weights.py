"""The one place that finds model weight files.

Order, for every model: an explicit path (CLI flag / codec parameter) → an environment variable →
the cache folder (``MISCOMP_CACHE``, default ``~/.cache/miscomp``) → the upstream download, for
users who have internet → :class:`~miscomp.errors.MissingWeightsError` saying exactly how to
provide the file. An explicit path that does not exist is an error at once: silently falling back
to another file would make results unreproducible.

Weights we trained ourselves ship inside the package (``miscomp/data/weights``, so an installed wheel
has them; ``MISCOMP_MODELS_DIR`` overrides it), named ``<arch>-q<N>-<variant>.pth``: ``miscomp`` (plain
rate-distortion training, the default), ``aware`` (fine-tuned with the miscompression-aware objective,
issue 31, where one ships) or ``ganlite`` (the decoder fine-tuned to draw detail like a GAN codec,
issue 31). Their model cards and training scripts are in ``models/`` at the repository root.
"""

from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from miscomp import __version__
from miscomp.errors import ChecksumError, DownloadError, MissingWeightsError
from miscomp.io import file_sha256
from miscomp.settings import ENV, Settings

DOWNLOAD_TIMEOUT_S = 20.0
CHUNK = 1 << 20
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


# The in-house weight variants a codec spec can name (``weights=<variant>``); the file's suffix.
INHOUSE_VARIANTS = ("miscomp", "aware", "ganlite")


def inhouse_path(arch: str, quality: int, variant: str = "miscomp") -> Path:
    return models_dir() / f"{arch}-q{quality}-{variant}.pth"


def resolve_inhouse(arch: str, quality: int, variant: str = "miscomp") -> ResolvedWeights:
    if variant not in INHOUSE_VARIANTS:
        raise ValueError(f"in-house weights variant must be one of {INHOUSE_VARIANTS}, got {variant!r}")
    path = inhouse_path(arch, quality, variant)
    if path.is_file():
        return ResolvedWeights(path, "in-house")
    have = sorted(p.name for p in path.parent.glob(f"*-{variant}.pth")) if path.parent.is_dir() else []
    what = "in-house weights" if variant == "miscomp" else f"in-house {variant} weights"
    raise MissingWeightsError(
        f"{arch} q={quality}: no {what} at {path} "
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
    url: str,
    dest: Path,
    *,
    sha256: str = "",
    sha256_prefix: str = "",
    size: int | None = None,
    timeout: float = DOWNLOAD_TIMEOUT_S,
) -> bool:
    """The one downloader (model weights and datasets): ``url`` into ``dest``, checked, atomically.

    The bytes go to ``dest.part`` first; an interrupted download keeps it and the next call resumes
    with an HTTP Range request (a server that ignores Range sends the whole file, which then
    replaces the part). The part is checked (``size``, the full ``sha256`` or a ``sha256_prefix``),
    flushed to disk and renamed onto ``dest``; a part that fails the check is removed
    (:class:`~miscomp.errors.ChecksumError`). Returns True if the download resumed a part."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"User-Agent": f"miscomp/{__version__}"})
    if offset:
        req.add_header("Range", f"bytes={offset}-")
    resumed = True
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)  # noqa: S310 - URLs come from specs/manifests
    except urllib.error.HTTPError as err:
        if not (err.code == 416 and offset):  # 416: nothing left to fetch, the part is complete (or wrong)
            raise DownloadError(f"{url}: HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, OSError) as err:
        raise DownloadError(f"{url}: cannot download ({getattr(err, 'reason', err)})") from None
    else:
        with resp:
            resumed = offset > 0 and getattr(resp, "status", 200) == 206
            with open(part, "ab" if resumed else "wb") as fh:
                try:
                    shutil.copyfileobj(resp, fh, CHUNK)
                except OSError as err:
                    raise DownloadError(f"{url}: download interrupted ({err}); run again to resume") from None
    got_size = part.stat().st_size
    if size is not None and got_size != size:
        part.unlink()  # resuming a wrong-sized file cannot fix it
        raise ChecksumError(f"{url}: expected {size} bytes, got {got_size}; removed, download again")
    expected = sha256 or sha256_prefix
    if expected:
        got = file_sha256(part)
        if not got.startswith(expected):
            part.unlink()
            raise ChecksumError(
                f"{url}: SHA-256 mismatch (expected sha256 {expected[:16]}…, got {got[:16]}…); "
                "the corrupt download was removed"
            )
    with open(part, "rb") as fh:
        os.fsync(fh.fileno())
    part.replace(dest)
    return resumed


def _in_folder(path: Path, filename: str) -> Path:
    return path / filename if path.is_dir() else path
