"""One harness for every benchmark: where data and results live, threads, the plotting backend, and
the one results envelope ``{metadata, summary, rows}``.

Every benchmark writes ``benchmarks/results/<name>.json`` through :func:`write_results` (plus the
same rows as ``<name>.csv`` for spreadsheets, and a plot from :func:`pyplot`). The metadata says
what was measured: the git commit (and whether the tree was dirty), miscomp's and the key packages'
versions, threads, the machine's load, the hash of the configs that were in force, the command line
and the date. ``docs/results.md`` is generated from these files (``python -m benchmarks.docs``).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parent.parent
SCHEMA_VERSION = 1
PACKAGES = ("numpy", "opencv-python-headless", "scikit-image", "torch", "rapidocr", "onnxruntime", "pillow")
METADATA_KEYS = (
    "schema",
    "benchmark",
    "git_commit",
    "git_dirty",
    "miscomp_version",
    "packages",
    "python",
    "machine",
    "threads",
    "load",
    "config_hash",
    "command",
    "date",
)


def shared_dir(required: str | None = None) -> Path:
    """The project's shared data (``MISCOMP_SHARED``, default ``../shared``). With ``required`` (a
    path inside it), exit with one line naming the file when it is missing."""
    root = Path(os.environ.get("MISCOMP_SHARED") or REPO.parent / "shared").expanduser()
    if required is not None and not (root / required).exists():
        sys.exit(f"benchmark needs {root / required} (set MISCOMP_SHARED to the shared data folder)")
    return root


def set_threads(n: int | None = None) -> int:
    """One thread per process unless told otherwise: two spinning threads were 4x slower here."""
    n = int(n or os.environ.get("MISCOMP_THREADS") or 1)
    os.environ.setdefault("OMP_NUM_THREADS", str(n))
    try:
        import cv2

        cv2.setNumThreads(n)
    except ImportError:
        pass
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
    return n


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend (no display here or in CI)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def git_commit() -> tuple[str, bool]:
    """(commit, dirty) of the checkout the benchmark runs from; ("unknown", False) outside git."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=REPO,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown", False
    return commit, dirty


def metadata(name: str, configs: Sequence[Any] = (), threads: int | None = None) -> dict[str, Any]:
    from miscomp.config import config_hash

    commit, dirty = git_commit()
    versions = {}
    for pkg in PACKAGES:
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            continue
    try:
        miscomp_version = importlib.metadata.version("miscomp")
    except importlib.metadata.PackageNotFoundError:
        miscomp_version = "unknown"
    return {
        "schema": SCHEMA_VERSION,
        "benchmark": name,
        "git_commit": commit,
        "git_dirty": dirty,
        "miscomp_version": miscomp_version,
        "packages": versions,
        "python": platform.python_version(),
        "machine": f"{platform.machine()} {os.cpu_count()} cpu",
        "threads": int(
            threads or os.environ.get("MISCOMP_THREADS") or os.environ.get("OMP_NUM_THREADS") or 1
        ),
        "load": round(os.getloadavg()[0], 2),
        "config_hash": config_hash(*configs) if configs else "",
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def write_results(
    name: str,
    summary: Mapping[str, Any],
    rows: Iterable[Mapping[str, Any]],
    *,
    configs: Sequence[Any] = (),
    threads: int | None = None,
    csv: bool = True,
    results_dir: Path | None = None,
) -> Path:
    """Write ``<name>.json`` (the envelope) and ``<name>.csv`` (the rows) atomically; return the JSON
    path. ``summary`` holds the headline numbers docs/results.md quotes; ``rows`` one dict per row."""
    import pandas as pd

    from miscomp.io import atomic_write_text

    out = results_dir or RESULTS
    out.mkdir(parents=True, exist_ok=True)
    rows = [dict(r) for r in rows]
    envelope = {"metadata": metadata(name, configs, threads), "summary": dict(summary), "rows": rows}
    path = out / f"{name}.json"
    atomic_write_text(path, json.dumps(envelope, indent=1, default=_default) + "\n")
    if csv and rows:
        atomic_write_text(out / f"{name}.csv", pd.DataFrame(rows).to_csv(index=False))
    return path


def read_results(path: Path) -> dict[str, Any]:
    """Read and check one envelope; raises ValueError naming the file and what is wrong."""
    data = json.loads(Path(path).read_text())
    problems = check_envelope(data)
    if problems:
        raise ValueError(f"{path}: {'; '.join(problems)}")
    return data


def check_envelope(data: Any) -> list[str]:
    """What is wrong with an envelope (empty when it is well formed)."""
    if not isinstance(data, dict) or set(data) != {"metadata", "summary", "rows"}:
        return ["expected exactly the keys metadata, summary, rows"]
    problems = []
    meta = data["metadata"]
    if not isinstance(meta, dict):
        return ["metadata is not an object"]
    missing = [k for k in METADATA_KEYS if k not in meta]
    if missing:
        problems.append(f"metadata lacks {', '.join(missing)}")
    if not isinstance(data["summary"], dict):
        problems.append("summary is not an object")
    if not isinstance(data["rows"], list) or not all(isinstance(r, dict) for r in data["rows"]):
        problems.append("rows is not a list of objects")
    return problems


def _default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
