"""The results store of a run directory: incremental, crash-safe, resumable.

Each finished pair is committed as one small JSON part file (``parts/<pair_id>.json``, written to a
temporary name and renamed, so it is either wholly there or absent). ``pairs.parquet`` and
``findings.parquet`` (+ CSV) are rebuilt from the parts; a run killed at any moment therefore loses
at most the pair in flight, and a re-run skips committed pairs and rebuilds identical tables.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from miscomp.findings import FINDING_COLUMNS, Finding

PAIR_COLUMNS: list[str] = [
    "pair_id", "image_id", "original", "reconstruction", "bitstream", "codec", "codec_tag", "params",
    "width", "height", "bytes", "bpp", "psnr", "ms_ssim", "encode_s", "decode_s", "detect_s",
    "n_findings", "status", "error", "original_sha256", "original_metadata", "notes",
]  # fmt: skip

_PAIR_DTYPES = {
    "width": "Int64", "height": "Int64", "bytes": "Int64", "n_findings": "Int64",
    "bpp": "float64", "psnr": "float64", "ms_ssim": "float64",
    "encode_s": "float64", "decode_s": "float64", "detect_s": "float64",
}  # fmt: skip
_FINDING_DTYPES = {
    "x": "int64",
    "y": "int64",
    "w": "int64",
    "h": "int64",
    "score": "float64",
    "symbol": "bool",
}


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


class ResultStore:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.parts = run_dir / "parts"
        self.parts.mkdir(parents=True, exist_ok=True)

    def _part(self, pair_id: str) -> Path:
        return self.parts / f"{pair_id}.json"

    def committed(self) -> dict[str, str]:
        """pair_id → status of every committed pair."""
        out: dict[str, str] = {}
        for path in self.parts.glob("*.json"):
            try:
                out[path.stem] = json.loads(path.read_text(encoding="utf-8"))["pair"]["status"]
            except (OSError, ValueError, KeyError):
                continue  # unreadable part: treated as not done, so the pair is redone
        return out

    def commit(self, pair_row: dict[str, Any], findings: list[Finding]) -> None:
        missing = set(PAIR_COLUMNS) - set(pair_row)
        if missing:
            raise ValueError(f"pair row lacks {sorted(missing)}")
        doc = {"pair": {k: pair_row[k] for k in PAIR_COLUMNS}, "findings": [f.to_row() for f in findings]}
        atomic_write_text(self._part(pair_row["pair_id"]), json.dumps(doc, default=str))

    def tables(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        pairs, findings = [], []
        for path in sorted(self.parts.glob("*.json")):
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            pairs.append(doc["pair"])
            findings.extend(doc["findings"])
        pair_df = pd.DataFrame(pairs, columns=PAIR_COLUMNS).astype(_PAIR_DTYPES)
        pair_df = pair_df.sort_values("pair_id", kind="stable").reset_index(drop=True)
        find_df = pd.DataFrame(findings, columns=FINDING_COLUMNS).astype(_FINDING_DTYPES)
        find_df = find_df.sort_values(["pair_id", "score", "finding_id"], ascending=[True, False, True])
        return pair_df, find_df.reset_index(drop=True)

    def consolidate(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Rebuild pairs/findings Parquet and CSV from the committed parts (atomic replaces)."""
        pair_df, find_df = self.tables()
        for name, df in (("pairs", pair_df), ("findings", find_df)):
            for suffix in (".parquet", ".csv"):
                final = self.run_dir / f"{name}{suffix}"
                tmp = final.with_name(f".{final.name}.tmp")
                if suffix == ".parquet":
                    df.to_parquet(tmp, index=False)
                else:
                    df.to_csv(tmp, index=False)
                tmp.replace(final)
        return pair_df, find_df


def load_run(run_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a run's pairs and findings tables (what outside tools should use)."""
    return pd.read_parquet(run_dir / "pairs.parquet"), pd.read_parquet(run_dir / "findings.parquet")
