"""Pull reviews from Label Studio into the labelled dataset, and measure how often the tool was right.

Everything is fetched first (tasks, annotations, crops); files are written only after that, each by
atomic replace, so a failed pull leaves the previous dataset as it was. Rows are keyed by
``finding_id``: a re-pull updates rows in place and keeps rows it no longer sees, so it never
duplicates or drops.

What the server sends is untrusted: a task is taken only if its ``finding_id`` is a miscomp finding
id (16 hex digits) and its ``pair_id`` has the form of :func:`~miscomp.pairs.make_pair_id`; crop
file names are derived from the checked id, every write is checked to land inside ``--out``, and a
crop the server sends is written only if it is a PNG image. Anything else is refused with one line.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from miscomp import __version__
from miscomp.errors import MiscompError
from miscomp.io import atomic_path, atomic_write_bytes, atomic_write_text
from miscomp.pairs.records import PAIR_ID_RE
from miscomp.review import config as cfg
from miscomp.review.agreement import agreement, agreement_markdown
from miscomp.review.client import LabelStudioClient
from miscomp.review.push import FINDING_ID_RE

LABEL_COLUMNS: list[str] = [
    "finding_id", "pair_id", "image_id", "codec", "codec_tag", "bpp", "detector",
    "box", "box_x", "box_y", "box_w", "box_h",
    "tool_category", "tool_symbol", "tool_label", "tool_score",
    "human_category", "symbol", "human_box_x", "human_box_y", "human_box_w", "human_box_h",
    "notes", "annotator", "time", "task_id", "crop_original", "crop_reconstruction",
]  # fmt: skip


@dataclass(frozen=True)
class PullResult:
    out: str
    project_id: int
    tasks: int
    reviewed: int  # tasks with a (non-skipped) annotation on the server now
    rows: int  # rows in labels.parquet after the merge
    added: int
    updated: int
    refused: tuple[str, ...] = ()  # tasks not taken, one line each


def latest_annotation(task: dict[str, Any]) -> dict[str, Any] | None:
    done = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
    if not done:
        return None
    return max(done, key=lambda a: (str(a.get("updated_at") or a.get("created_at") or ""), a.get("id") or 0))


def _human_box(result: list[dict], data: dict[str, Any]) -> tuple[int, int, int, int] | None:
    """The reviewer's rectangle, from crop percent back to original-image pixels."""
    rects = [r for r in result if r.get("from_name") == cfg.REGION and "x" in r.get("value", {})]
    if not rects:
        return None
    v = rects[0]["value"]
    x0, y0, cw, ch = data["crop_window"]
    return (
        round(x0 + v["x"] * cw / 100), round(y0 + v["y"] * ch / 100),
        round(v["width"] * cw / 100), round(v["height"] * ch / 100),
    )  # fmt: skip


def row_for(task: dict[str, Any], ann: dict[str, Any], annotators: dict[int, str]) -> dict[str, Any]:
    d = task["data"]
    result = ann.get("result") or []
    choices = [c for r in result if r.get("from_name") == cfg.CATEGORY for c in r["value"].get("choices", [])]
    choice = choices[0] if choices else None
    notes = [t for r in result if r.get("from_name") == cfg.NOTES for t in r["value"].get("text", [])]
    hbox = _human_box(result, d)
    x, y, w, h = d["box"]
    who = ann.get("completed_by")
    if isinstance(who, dict):
        who = who.get("email") or who.get("id")
    fid = d["finding_id"]
    return {
        "finding_id": fid,
        "pair_id": d["pair_id"],
        "image_id": d.get("image_id", ""),
        "codec": d.get("codec", ""),
        "codec_tag": d.get("codec_tag", ""),
        "bpp": d.get("bpp"),
        "detector": d.get("detector", ""),
        "box": json.dumps([x, y, w, h]),
        "box_x": x, "box_y": y, "box_w": w, "box_h": h,
        "tool_category": d["tool_category"],
        "tool_symbol": bool(d["tool_symbol"]),
        "tool_label": cfg.SYMBOL if d["tool_symbol"] else d["tool_category"],
        "tool_score": d.get("tool_score"),
        # No category chosen (possible if the config's "required" is relaxed) stays empty, not guessed.
        "human_category": cfg.HUMAN_LABELS.get(choice, "") if choice else "",
        "symbol": choice == cfg.SYMBOL,
        "human_box_x": hbox[0] if hbox else None,
        "human_box_y": hbox[1] if hbox else None,
        "human_box_w": hbox[2] if hbox else None,
        "human_box_h": hbox[3] if hbox else None,
        "notes": "\n".join(notes),
        "annotator": annotators.get(who, str(who)) if isinstance(who, int) else str(who or ""),
        "time": str(ann.get("updated_at") or ann.get("created_at") or ""),
        "task_id": task["id"],
        "crop_original": f"crops/{fid}_orig.png",
        "crop_reconstruction": f"crops/{fid}_rec.png",
    }  # fmt: skip


def merge_rows(old: pd.DataFrame | None, new: list[dict[str, Any]]) -> tuple[pd.DataFrame, int, int]:
    """Upsert by finding_id; returns (table, added, updated)."""
    fresh = pd.DataFrame(new, columns=LABEL_COLUMNS)
    if old is None or old.empty:
        table, added, updated = fresh, len(fresh), 0
    else:
        old = old.reindex(columns=LABEL_COLUMNS)
        seen = set(old["finding_id"])
        added = int((~fresh["finding_id"].isin(seen)).sum())
        updated = len(fresh) - added
        keep = old[~old["finding_id"].isin(set(fresh["finding_id"]))]
        table = pd.concat([keep, fresh], ignore_index=True) if len(keep) else fresh
    table = table.astype({"tool_symbol": bool, "symbol": bool})
    for col in ("human_box_x", "human_box_y", "human_box_w", "human_box_h"):
        table[col] = table[col].astype("Int64")
    return table.sort_values("finding_id", kind="stable").reset_index(drop=True), added, updated


def pull_dataset(conn: cfg.Connection, project: str, out: Path) -> PullResult:
    client = LabelStudioClient(conn)
    client.check()
    pid = client.require_project(project)
    tasks = client.tasks(pid, with_annotations=True)
    annotators = {
        u.id: (u.email or u.username or str(u.id))
        for u in client._call("listing users", client.sdk.users.list)
    }
    rows, crops, refused = [], {}, []
    for task in tasks:
        ann = latest_annotation(task)
        if ann is None or "finding_id" not in (task.get("data") or {}):
            continue
        problem = task_problem(task)
        if not problem:
            try:
                row = row_for(task, ann, annotators)
            except (KeyError, TypeError, ValueError, IndexError) as err:
                problem = f"malformed task data ({type(err).__name__}: {err})"
        if problem:
            refused.append(f"task {task.get('id')}: {problem}; not taken")
            continue
        wanted = {}
        for key, data_key in (("crop_original", cfg.ORIGINAL), ("crop_reconstruction", cfg.RECONSTRUCTION)):
            if not confined(out, row[key]).exists():
                wanted[row[key]] = task["data"].get(data_key)
        blobs = {rel: client.download(str(url)) for rel, url in wanted.items()}  # all network before writes
        bad = [rel for rel, blob in blobs.items() if not _is_png(blob)]
        if bad:
            refused.append(f"task {task.get('id')}: the server's {bad[0]} is not a PNG image; not taken")
            continue
        rows.append(row)
        crops.update(blobs)

    out.mkdir(parents=True, exist_ok=True)
    for rel, blob in crops.items():
        atomic_write_bytes(confined(out, rel), blob)
    labels = out / "labels.parquet"
    old = pd.read_parquet(labels) if labels.exists() else None
    table, added, updated = merge_rows(old, rows)
    atomic_write_text(out / "labels.csv", table.to_csv(index=False))
    with atomic_path(labels) as tmp:
        table.to_parquet(tmp, index=False)
    report = agreement(table)
    atomic_write_text(out / "agreement.json", json.dumps(report, indent=2))
    atomic_write_text(out / "agreement.md", agreement_markdown(report, project))
    manifest = {
        "miscomp": __version__,
        "project": project,
        "project_id": pid,
        "server": conn.url,
        "pulled_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "tasks": len(tasks),
        "reviewed": len(rows),
        "rows": len(table),
        "files": ["labels.parquet", "labels.csv", "agreement.json", "agreement.md", "crops/"],
    }
    atomic_write_text(out / "dataset.json", json.dumps(manifest, indent=2))
    return PullResult(str(out), pid, len(tasks), len(rows), len(table), added, updated, tuple(refused))


def task_problem(task: dict[str, Any]) -> str:
    """Why a task's ids are not ours ("" when they are): ids name files, so they are checked first."""
    data = task.get("data") or {}
    fid, pair_id = data.get("finding_id"), data.get("pair_id")
    if not isinstance(fid, str) or not FINDING_ID_RE.fullmatch(fid):
        return f"finding_id {str(fid)[:40]!r} is not a miscomp finding id (16 hex digits)"
    if not isinstance(pair_id, str) or not PAIR_ID_RE.fullmatch(pair_id):
        return f"pair_id {str(pair_id)[:60]!r} is not a miscomp pair id (IMAGE__CODEC)"
    return ""


def confined(out: Path, rel: str) -> Path:
    """``out / rel``, refused unless it stays inside ``out`` (links followed)."""
    root = out.resolve()
    path = (root / rel).resolve()
    if not path.is_relative_to(root) or path == root:
        raise MiscompError(f"{rel}: would be written outside the dataset folder {root}; refused")
    return path


def _is_png(blob: bytes) -> bool:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(blob)) as im:
            fmt = im.format
            im.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return False
    return fmt == "PNG"
