"""Errors that carry a user-facing message naming the file and the problem."""

from __future__ import annotations

from pathlib import Path


class MiscompError(Exception):
    """Base class: the CLI prints ``str(err)`` as one line, never a traceback."""


class ImageError(MiscompError):
    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class CodecError(MiscompError):
    pass


class MissingWeightsError(CodecError):
    """Model weights are not available locally and could not be downloaded. ``short`` is a one-line
    version for notes (the full message says every way to provide the file)."""

    def __init__(self, message: str, short: str = "") -> None:
        super().__init__(message)
        self.short = short or message


class DownloadError(MiscompError):
    """A file could not be downloaded (network, HTTP status, interrupted transfer)."""


class ChecksumError(DownloadError, ValueError):
    """A download's size or SHA-256 is not the expected one; the bad file was removed."""


class StorageError(MiscompError):
    """The run directory cannot be written (disk full, read-only, not a folder, locked): the CLI
    exits with code 3, so that scripts can tell it from bad input (2) and error rows (1)."""


class RunLockedError(StorageError):
    """Another process holds the run directory's lock."""


class MissingDependencyError(MiscompError):
    def __init__(self, package: str, extra: str) -> None:
        super().__init__(f"{package} is not installed: pip install 'miscomp[{extra}]' (see README, Install)")


def require(module: str, extra: str):
    """Import an optional heavy dependency lazily, with a one-line install hint when it is absent."""
    import importlib
    import warnings

    try:
        with warnings.catch_warnings():
            # compressai's import trips torch's torch.jit.script deprecation notice: noise for users
            warnings.simplefilter("ignore", FutureWarning)
            return importlib.import_module(module)
    except ImportError as err:
        raise MissingDependencyError(module.split(".")[0], extra) from err
