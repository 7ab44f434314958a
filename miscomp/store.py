"""The results store of a run directory: incremental, crash-safe, resumable; and ``load_run``, the one
reader of a run that the report, the review push and the benchmarks use.

Each finished pair is committed as one small JSON part file (``parts/<pair_id>.json``, written to a
temporary name and renamed, so it is either wholly there or absent). ``pairs.parquet`` and
``findings.parquet`` (+ CSV) are rebuilt from the parts; a run killed at any moment therefore loses
at most the pair in flight, and a re-run skips committed pairs and rebuilds identical tables.

The tables' columns and types are derived from :class:`~miscomp.pairs.PairRecord` and
:class:`~miscomp.findings.Finding`: adding a field there adds the column everywhere.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import types
import typing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from miscomp.errors import MiscompError, RunLockedError
from miscomp.findings import FINDING_COLUMNS, Finding
from miscomp.io import atomic_path, atomic_write_text
from miscomp.pairs import PairRecord

# dicts are JSON text, tuples of names comma-separated text (``Finding.to_row``).
_ARROW = {
    str: pa.string(), int: pa.int64(), float: pa.float64(), bool: pa.bool_(), dict: pa.string(),
    tuple: pa.string(),
}  # fmt: skip


def _arrow_schema(cls: type, order: list[str] | None = None) -> pa.Schema:
    """An Arrow schema from a dataclass: ``X | None`` becomes a nullable X, dicts are JSON text."""
    hints = typing.get_type_hints(cls)
    names = order or [f.name for f in dataclasses.fields(cls)]
    out = []
    for name in names:
        tp = hints[name]
        args = typing.get_args(tp)
        nullable = isinstance(tp, types.UnionType) and type(None) in args
        base = next(a for a in args if a is not type(None)) if nullable else typing.get_origin(tp) or tp
        out.append(pa.field(name, _ARROW[base], nullable=nullable))
    return pa.schema(out)


PAIR_SCHEMA = _arrow_schema(PairRecord)
FINDING_SCHEMA = _arrow_schema(Finding, FINDING_COLUMNS)
PAIR_COLUMNS: list[str] = PAIR_SCHEMA.names
# pandas types of the tables as load_run returns them: nullable integers stay integers (Int64).
_PANDAS = {
    pa.int64(): ("int64", "Int64"),
    pa.float64(): ("float64", "float64"),
    pa.bool_(): ("bool", "boolean"),
}


_EMPTY = {pa.string(): "", pa.bool_(): False, pa.int64(): 0, pa.float64(): float("nan")}


def _pandas_dtypes(schema: pa.Schema) -> dict[str, str]:
    return {f.name: _PANDAS[f.type][f.nullable] for f in schema if f.type in _PANDAS}


def _frame(rows: list[dict[str, Any]], schema: pa.Schema) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=schema.names).astype(_pandas_dtypes(schema))


class RunLock:
    """An exclusive lock on a run directory (``RUN/.lock``, ``fcntl.flock``) for one scan at a time.

    Two scans into one folder would race on the same temporary and part names. The holder writes its
    pid, host and start time into the file, so the second scan can say who holds it. The kernel
    releases the lock when the holder exits, even when it is killed, so a stale file never blocks.
    (Where ``fcntl`` is missing, on Windows, no lock is taken.)"""

    NAME = ".lock"

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / self.NAME
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 300, 0).decode("utf-8", "replace").strip() or "a process"
            os.close(fd)
            raise RunLockedError(
                f"{self.path.parent}: another miscomp scan is writing to this run folder ({holder}); "
                "wait for it to finish or give another --out"
            ) from None
        os.ftruncate(fd, 0)
        stamp = datetime.now().isoformat(timespec="seconds")
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {stamp}".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            import fcntl

            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class ResultStore:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.parts = run_dir / "parts"
        self.parts.mkdir(parents=True, exist_ok=True)

    def remove_stale_temporaries(self) -> int:
        """Delete the half-written parts a killed scan left behind (``.NAME.PID.tmp``); call it only
        while holding the run lock, when no other writer can be mid-write. Returns how many."""
        stale = list(self.parts.glob(".*.tmp"))
        for path in stale:
            path.unlink(missing_ok=True)
        return len(stale)

    def _part(self, pair_id: str) -> Path:
        return self.parts / f"{pair_id}.json"

    def committed(self) -> dict[str, dict[str, Any]]:
        """pair_id → the committed pair row of every readable part."""
        out: dict[str, dict[str, Any]] = {}
        for path in self.parts.glob("*.json"):
            try:
                out[path.stem] = json.loads(path.read_text(encoding="utf-8"))["pair"]
            except (OSError, ValueError, KeyError):
                continue  # unreadable part: treated as not done, so the pair is redone
        return out

    def committed_row(self, pair_id: str) -> dict[str, Any] | None:
        """The committed pair row of one pair (None when absent or unreadable): cheaper than
        :meth:`committed` for a worker that checks only its own pairs."""
        try:
            row = json.loads(self._part(pair_id).read_text(encoding="utf-8"))["pair"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return row if isinstance(row, dict) else None

    def commit(self, record: PairRecord, findings: list[Finding]) -> None:
        doc = {"pair": dataclasses.asdict(record), "findings": [f.to_row() for f in findings]}
        atomic_write_text(self._part(record.pair_id), json.dumps(doc, default=str))

    def tables(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        pairs, findings = [], []
        for path in sorted(self.parts.glob("*.json")):
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            pairs.append(doc["pair"])
            findings.extend(doc["findings"])
        pair_df = _frame(pairs, PAIR_SCHEMA).sort_values("pair_id", kind="stable").reset_index(drop=True)
        find_df = _frame(findings, FINDING_SCHEMA)
        find_df = find_df.sort_values(["pair_id", "score", "finding_id"], ascending=[True, False, True])
        return pair_df, find_df.reset_index(drop=True)

    def consolidate(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Rebuild pairs/findings Parquet and CSV from the committed parts (atomic replaces)."""
        pair_df, find_df = self.tables()
        for name, df, schema in (("pairs", pair_df, PAIR_SCHEMA), ("findings", find_df, FINDING_SCHEMA)):
            for suffix in (".parquet", ".csv"):
                final = self.run_dir / f"{name}{suffix}"
                with atomic_path(final) as tmp:
                    if suffix == ".parquet":
                        df.to_parquet(tmp, index=False, schema=schema)
                    else:
                        df.to_csv(tmp, index=False)
        return pair_df, find_df


@dataclass(frozen=True)
class RunData:
    """A run directory as read by :func:`load_run`."""

    run_dir: Path
    meta: dict[str, Any]  # run.json
    pairs: pd.DataFrame
    findings: pd.DataFrame
    notes: tuple[str, ...] = ()  # what was missing or damaged, for the reader to show


def load_run(run_dir: Path | str) -> RunData:
    """Read a run directory (tables, run.json), or raise MiscompError naming what is missing.

    Tables written by older versions get the columns they lack (with empty values), so every reader
    sees the same schema. An interrupted scan (parts but no tables yet) is read from its parts."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise MiscompError(f"{run_dir}: run directory does not exist")
    notes: list[str] = []
    meta: dict[str, Any] = {}
    run_json = run_dir / "run.json"
    if run_json.exists():
        try:
            meta = json.loads(run_json.read_text(encoding="utf-8"))
        except ValueError as err:
            notes.append(f"run.json is not valid JSON ({err}); run details are missing")
    else:
        notes.append("run.json is missing; run details are not shown")
    pairs_path, findings_path = run_dir / "pairs.parquet", run_dir / "findings.parquet"
    if pairs_path.exists():
        pairs = _read_parquet(pairs_path)
        findings = _read_parquet(findings_path) if findings_path.exists() else None
    elif (run_dir / "parts").is_dir():
        pairs, findings = ResultStore(run_dir).tables()
        notes.append("pairs.parquet is missing (interrupted scan?); read from the committed parts")
    else:
        raise MiscompError(f"{run_dir}: not a miscomp run directory (pairs.parquet is missing)")
    if findings is None:
        notes.append("findings.parquet is missing; no findings are shown")
        findings = _frame([], FINDING_SCHEMA)
    return RunData(
        run_dir, meta, _conform(pairs, PAIR_SCHEMA), _conform(findings, FINDING_SCHEMA), tuple(notes)
    )


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as err:  # noqa: BLE001 - pyarrow raises several types for a damaged file
        raise MiscompError(f"{path}: cannot read Parquet table ({err})") from None


def _conform(df: pd.DataFrame, schema: pa.Schema) -> pd.DataFrame:
    """``df`` with exactly the schema's columns, missing ones filled with empty values."""
    df = df.copy()
    for f in schema:
        if f.name not in df:
            df[f.name] = _EMPTY[f.type] if not f.nullable else pd.NA
    df = df[schema.names]
    for f in schema:
        if f.type in (pa.int64(), pa.float64()) and not pd.api.types.is_numeric_dtype(df[f.name]):
            # hand-written or CSV-born tables hold "" for "not measured"
            df[f.name] = pd.to_numeric(df[f.name].replace("", None), errors="coerce")
            if not f.nullable:
                df[f.name] = df[f.name].fillna(_EMPTY[f.type])
    try:
        return df.astype(_pandas_dtypes(schema))
    except (TypeError, ValueError) as err:
        raise MiscompError(f"run table does not match the expected schema ({err})") from None
