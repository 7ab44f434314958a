"""Pull reviews from Label Studio into the labelled dataset, and measure how often the tool was right.

Everything is fetched first (tasks, annotations, crops); files are written only after that, each by
atomic replace, so a failed pull leaves the previous dataset as it was. Rows are keyed by
``finding_id``: a re-pull updates rows in place and keeps rows it no longer sees, so it never
duplicates or drops.

With several annotators per task (``annotate push --overlap``), ``labels.parquet`` holds one final
label per finding (their majority; a tie is left open for a third reviewer) and ``annotations.parquet``
every annotator's latest label, keyed by (finding_id, annotator). Gold tasks (answer in the task's
meta) are scored per annotator and kept out of the labels. See :mod:`miscomp.review.adjudicate`.

What the server sends is untrusted: a task is taken only if its ``finding_id`` is a miscomp finding
id (16 hex digits) and its ``pair_id`` has the form of :func:`~miscomp.pairs.make_pair_id`; crop
file names are derived from the checked id, every write is checked to land inside ``--out``, and a
crop the server sends is written only if it is a PNG image; an annotation whose result does not fit
the project's labeling config is refused (the annotator's earlier well-formed label, if any, counts).
Anything else is refused with one line. An empty project writes nothing.
"""

from __future__ import annotations

import io
import json
from collections import Counter
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
from miscomp.review.adjudicate import (
    ANNOTATION_COLUMNS,
    LABELS,
    adjudicate,
    annotator_agreement,
    gold_scores,
)
from miscomp.review.agreement import agreement, agreement_markdown
from miscomp.review.client import LabelStudioClient
from miscomp.review.gold import GOLD_META
from miscomp.review.labels import AnnotationError, Label, parse_label
from miscomp.review.push import FINDING_ID_RE

LABEL_COLUMNS: list[str] = [
    "finding_id", "pair_id", "image_id", "codec", "codec_tag", "bpp", "detector",
    "box", "box_x", "box_y", "box_w", "box_h",
    "tool_category", "tool_symbol", "tool_label", "tool_score",
    "human_category", "symbol", "human_box_x", "human_box_y", "human_box_w", "human_box_h",
    "notes", "annotator", "time", "task_id", "crop_original", "crop_reconstruction",
    "annotators", "adjudication", "votes", "crop_window", "image_size",
]  # fmt: skip


@dataclass(frozen=True)
class PullResult:
    out: str
    project_id: int
    tasks: int
    reviewed: int  # findings with a final label or a tie now (gold tasks not counted)
    rows: int  # rows in labels.parquet after the merge
    added: int
    updated: int
    refused: tuple[str, ...] = ()  # tasks or annotations not taken, one line each
    notes: tuple[str, ...] = ()  # what the user should know (empty project, annotator without labels)
    gold_annotations: int = 0  # annotations of gold tasks (scored, not in the dataset)
    ties: int = 0  # findings whose annotators are split evenly: a third reviewer decides
    reopened: int = 0  # tied tasks put back into the queue for one more annotator (``reopen_ties``)


def latest_annotation(task: dict[str, Any]) -> dict[str, Any] | None:
    done = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
    if not done:
        return None
    return max(done, key=_when)


def _when(ann: dict[str, Any]) -> tuple[str, int]:
    return (str(ann.get("updated_at") or ann.get("created_at") or ""), ann.get("id") or 0)


def _who(ann: dict[str, Any], annotators: dict[int, str]) -> str:
    who = ann.get("completed_by")
    if isinstance(who, dict):
        who = who.get("email") or who.get("id")
    return annotators.get(who, str(who)) if isinstance(who, int) else str(who or "")


def row_for(task: dict[str, Any], labels: list[Label]) -> dict[str, Any]:
    """The finding's dataset row: its annotators' majority label (``adjudication`` says how it was
    reached; a tie leaves ``human_category`` empty for a third reviewer)."""
    d = task["data"]
    voted = [lab for lab in labels if lab.category]
    final, how = adjudicate([lab.category for lab in voted])
    # The box and notes of the annotators who chose the final label (the latest of them for the box).
    backing = sorted((lab for lab in voted if lab.category == final), key=lambda lab: lab.time)
    boxes = [lab.box for lab in backing if lab.box is not None]
    hbox = boxes[-1] if boxes else None
    x, y, w, h = d["box"]
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
        "human_category": final,
        "symbol": final == cfg.SYMBOL,
        "human_box_x": hbox[0] if hbox else None,
        "human_box_y": hbox[1] if hbox else None,
        "human_box_w": hbox[2] if hbox else None,
        "human_box_h": hbox[3] if hbox else None,
        "notes": "\n".join(lab.notes for lab in backing if lab.notes) if len(voted) == 1 else
                 "\n".join(f"{lab.annotator}: {lab.notes}" for lab in voted if lab.notes),
        "annotator": ", ".join(lab.annotator for lab in voted),
        "time": max((lab.time for lab in voted), default=""),
        "task_id": task["id"],
        "crop_original": f"crops/{fid}_orig.png",
        "crop_reconstruction": f"crops/{fid}_rec.png",
        "annotators": len(voted),
        "adjudication": how,
        "votes": json.dumps(dict(Counter(lab.category for lab in voted)), sort_keys=True),
        # the window the crops were cut from, and the full image's size (pixels): what an export needs
        "crop_window": json.dumps([int(v) for v in d["crop_window"]]),
        "image_size": json.dumps(d.get("image_size")),
    }  # fmt: skip


def annotation_rows(task: dict[str, Any], labels: list[Label], gold: dict | None) -> list[dict[str, Any]]:
    out = []
    for lab in labels:
        b = lab.box or (None, None, None, None)
        out.append({
            "finding_id": task["data"]["finding_id"], "task_id": task["id"], "annotator": lab.annotator,
            "human_category": lab.category, "symbol": lab.category == cfg.SYMBOL,
            "human_box_x": b[0], "human_box_y": b[1], "human_box_w": b[2], "human_box_h": b[3],
            "notes": lab.notes, "time": lab.time, "gold": gold is not None,
            "gold_category": gold["category"] if gold else "",
            "gold_box": json.dumps(gold["box"]) if gold else "",
            "gold_prefill": str(gold.get("prefill", "")) if gold else "",
        })  # fmt: skip
    return out


def merge_rows(old: pd.DataFrame | None, new: list[dict[str, Any]]) -> tuple[pd.DataFrame, int, int]:
    """Upsert by finding_id; returns (table, added, updated)."""
    table, added, updated = _upsert(old, new, LABEL_COLUMNS, ["finding_id"])
    table = table.astype({"tool_symbol": bool, "symbol": bool})
    for col in ("human_box_x", "human_box_y", "human_box_w", "human_box_h", "annotators"):
        table[col] = table[col].astype("Int64")
    # Rows pulled before adjudication existed had one annotator each.
    table["adjudication"] = table["adjudication"].fillna("single")
    return table, added, updated


def merge_annotations(old: pd.DataFrame | None, new: list[dict[str, Any]]) -> pd.DataFrame:
    """Upsert by (finding_id, annotator): an annotator's newer label replaces their older one."""
    table, _, _ = _upsert(old, new, ANNOTATION_COLUMNS, ["finding_id", "annotator"])
    for col in ("human_box_x", "human_box_y", "human_box_w", "human_box_h"):
        table[col] = table[col].astype("Int64")
    return table.astype({"symbol": bool, "gold": bool})


def _upsert(
    old: pd.DataFrame | None, new: list[dict[str, Any]], columns: list[str], key: list[str]
) -> tuple[pd.DataFrame, int, int]:
    fresh = pd.DataFrame(new, columns=columns)
    if old is None or old.empty:
        table, added, updated = fresh, len(fresh), 0
    else:
        old = old.reindex(columns=columns)
        old_keys = pd.MultiIndex.from_frame(old[key])
        new_keys = pd.MultiIndex.from_frame(fresh[key])
        added = int((~new_keys.isin(old_keys)).sum())
        updated = len(fresh) - added
        keep = old[~old_keys.isin(new_keys)]
        table = pd.concat([keep, fresh], ignore_index=True) if len(keep) else fresh
    return table.sort_values(key, kind="stable").reset_index(drop=True), added, updated


def _gold_answer(task: dict[str, Any]) -> tuple[dict | None, str]:
    """The gold answer from the task's meta (None for an ordinary task), or a problem line."""
    gold = (task.get("meta") or {}).get(GOLD_META) if isinstance(task.get("meta"), dict) else None
    if gold is None:
        return None, ""
    box = gold.get("box") if isinstance(gold, dict) else None
    if (
        not isinstance(gold, dict)
        or gold.get("category") not in LABELS
        or not (isinstance(box, list) and len(box) == 4 and all(isinstance(v, int) for v in box))
    ):
        return None, "gold answer in the task's meta is malformed"
    return gold, ""


def pull_dataset(conn: cfg.Connection, project: str, out: Path, reopen_ties: bool = False) -> PullResult:
    """Fetch every review of ``project`` and merge it into the dataset folder ``out`` (see the module
    docstring); nothing in ``out`` is written before everything was fetched and checked.

    ``reopen_ties``: after writing, raise each tied task's overlap by one, so that Label Studio hands
    it to one more annotator (the only write a pull makes to the server)."""
    client = LabelStudioClient(conn)
    client.check()
    pid = client.require_project(project)
    tasks = client.tasks(pid, with_annotations=True)
    labels_path = out / "labels.parquet"
    if not tasks:
        kept = len(pd.read_parquet(labels_path)) if labels_path.exists() else 0
        note = f"project {project!r} has no tasks: nothing pulled" + (
            f"; the {kept} rows already in {labels_path} are kept" if kept else ""
        )
        return PullResult(str(out), pid, 0, 0, kept, 0, 0, notes=(note,))
    label_config = client.project_config(pid)
    annotators = {
        u.id: (u.email or u.username or str(u.id))
        for u in client._call("listing users", client.sdk.users.list)
    }
    rows, ann_rows, crops, refused = [], [], {}, []
    labelled, unlabelled = Counter(), Counter()  # per annotator: annotations with / without a category
    for task in tasks:
        data = task.get("data") or {}
        if "finding_id" not in data or not task.get("annotations"):
            continue
        problem = task_problem(task)
        gold, gold_problem = _gold_answer(task)
        problem = problem or gold_problem
        if not problem:
            try:
                row_for(task, [])  # the task's own fields, checked before its annotations
            except (KeyError, TypeError, ValueError, IndexError) as err:
                problem = f"malformed task data ({type(err).__name__}: {err})"
        if problem:
            refused.append(f"task {task.get('id')}: {problem}; not taken")
            continue
        by_who: dict[str, Label] = {}
        for ann in sorted(task["annotations"], key=_when):
            who = _who(ann, annotators)
            if ann.get("was_cancelled"):
                unlabelled[who] += 1
                continue
            try:
                lab = parse_label(ann, data, label_config, who)
            except (AnnotationError, KeyError, TypeError, ValueError) as err:
                refused.append(f"task {task['id']}, annotation {ann.get('id')} by {who}: {err}; not taken")
                continue
            (labelled if lab.category else unlabelled)[who] += 1
            by_who[who] = lab  # the annotator's latest well-formed label
        labels = list(by_who.values())
        if not labels:
            continue
        ann_rows += annotation_rows(task, labels, gold)
        if gold is not None or not any(lab.category for lab in labels):
            continue
        row = row_for(task, labels)
        wanted = {}
        for key, data_key in (("crop_original", cfg.ORIGINAL), ("crop_reconstruction", cfg.RECONSTRUCTION)):
            if not confined(out, row[key]).exists():
                wanted[row[key]] = data.get(data_key)
        blobs = {rel: client.download(str(url)) for rel, url in wanted.items()}  # all network before writes
        bad = [rel for rel, blob in blobs.items() if not _is_png(blob)]
        if bad:
            refused.append(f"task {task.get('id')}: the server's {bad[0]} is not a PNG image; not taken")
            continue
        rows.append(row)
        crops.update(blobs)
    notes = [
        f"annotator {who}: {n} annotation(s), none with a category (skipped or empty); "
        "left out of the labels and the agreement"
        for who, n in sorted(unlabelled.items())
        if not labelled[who]
    ]

    # Merge and measure before the first write: a failure here leaves the folder as it was.
    old = pd.read_parquet(labels_path) if labels_path.exists() else None
    table, added, updated = merge_rows(old, rows)
    ann_path = out / "annotations.parquet"
    all_ann = merge_annotations(pd.read_parquet(ann_path) if ann_path.exists() else None, ann_rows)
    report = agreement(table)
    report["annotators"] = annotator_agreement(all_ann)
    report["gold"] = gold_scores(all_ann)
    report["adjudication"] = {
        "counts": {k: int(v) for k, v in table["adjudication"].value_counts().sort_index().items()},
        "ties": [
            {"finding_id": r.finding_id, "task_id": int(r.task_id), "votes": json.loads(r.votes)}
            for r in table[table["adjudication"] == "tie"].itertuples()
        ],
    }
    out.mkdir(parents=True, exist_ok=True)
    for rel, blob in crops.items():
        atomic_write_bytes(confined(out, rel), blob)
    with atomic_path(ann_path) as tmp:
        all_ann.to_parquet(tmp, index=False)
    with atomic_path(labels_path) as tmp:
        table.to_parquet(tmp, index=False)
    atomic_write_text(out / "labels.csv", table.to_csv(index=False))
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
        "files": ["labels.parquet", "labels.csv", "annotations.parquet", "agreement.json", "agreement.md",
                  "crops/"],
    }  # fmt: skip
    atomic_write_text(out / "dataset.json", json.dumps(manifest, indent=2))
    ties = table[table["adjudication"] == "tie"]
    reopened = 0
    if reopen_ties:
        for r in ties.itertuples():
            # Overlap = the annotators so far + 1: the task is not "labeled" until one more label comes.
            client.update_task(int(r.task_id), overlap=int(r.annotators) + 1, is_labeled=False)
            reopened += 1
    n_gold = int(all_ann["gold"].sum())
    return PullResult(
        str(out), pid, len(tasks), len(rows), len(table), added, updated, tuple(refused), tuple(notes),
        n_gold, len(ties), reopened,
    )  # fmt: skip


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
