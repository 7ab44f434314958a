"""Push a run's findings to Label Studio: one task per finding, the finding as a pre-annotation.

Idempotent by construction: every task carries ``finding_id`` in its data, and a push first lists
the ids already in the project and imports only the others. A push cut off half way (server gone)
therefore completes on re-run without duplicates; a resumed scan adds only its new findings.

A run dir is often shared or downloaded, so its tables are untrusted: a crop is sent only if its
resolved path (symlinks followed) lies inside the run dir and it is a PNG image. A finding whose
crops fail that is refused with one line and the others are pushed: nothing outside the run dir is
ever read, so going on risks nothing, and one damaged crop should not block a whole review.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from miscomp import __version__
from miscomp.errors import MiscompError
from miscomp.findings import run_min_score, split_by_score
from miscomp.review import config as cfg
from miscomp.review.client import LabelStudioClient, LabelStudioError, batched
from miscomp.review.gold import GOLD_META, interleave
from miscomp.review.transfer import inline_urls, local_urls, resolve_file_mode, upload_urls
from miscomp.store import load_run

log = logging.getLogger(__name__)

DEFAULT_PROJECT = "miscomp review"
FINDING_ID_RE = re.compile(r"[0-9a-f]{16}")  # Finding._stable_id: 16 hex digits
CROP_FORMATS = ("PNG",)  # what miscomp scan writes
# Queue orders: symbol findings first then by score (default: misread text is the costliest change),
# by score alone, or as the run lists them.
ORDERS = ("symbol-score", "score", "run")


class RunDirError(MiscompError):
    pass


class RefusedFinding(RunDirError):
    """One finding that will not be pushed (crop outside the run dir, not an image, missing)."""


class PushInterruptedError(LabelStudioError):
    pass


@dataclass(frozen=True)
class PushResult:
    project_id: int
    project: str
    findings: int  # findings in the run at or above min_score (split_by_score)
    created: int  # tasks created by this push
    skipped: int  # findings already in the project
    files: str  # how the crops were made reachable: local / upload / inline
    refused: tuple[str, ...] = ()  # findings not pushed, one line each (file and problem)
    gold: int = 0  # gold tasks created by this push (among ``created``)
    low_score: int = 0  # findings below min_score: not pushed, kept in findings.parquet


@dataclass(frozen=True)
class ReviewItem:
    """One finding as the reviewer will see it: the task data plus its crop files."""

    data: dict[str, Any]
    crop_original: Path
    crop_reconstruction: Path
    box_pct: tuple[float, float, float, float]  # on the reconstruction crop, percent
    crop_size: tuple[int, int]
    gold: dict[str, Any] | None = None  # a gold task's answer (sent in task meta, not shown)


def model_version(detector: str) -> str:
    return f"miscomp-{__version__}-{detector}"


def tool_label(category: str, symbol: bool) -> str:
    return cfg.SYMBOL if symbol else category


# ---- reading the run -----------------------------------------------------------------------------
def load_review_items(
    run_dir: Path, refused: list[str] | None = None, min_score: float | None = None
) -> list[ReviewItem]:
    """Every finding of the run scoring at least ``min_score`` (default: the scan's, from run.json,
    else :data:`~miscomp.findings.DEFAULT_MIN_SCORE`), with its crops checked and its box located.

    A finding whose crops are not PNG images inside the run dir is refused: with a ``refused`` list,
    its one-line reason is appended there and the other findings are returned; without, the first
    refusal raises :class:`RefusedFinding`."""
    run_dir = run_dir.resolve()
    for name in ("findings.parquet", "pairs.parquet"):
        if not (run_dir / name).is_file():
            raise RunDirError(f"{run_dir / name}: not found; is {run_dir} a `miscomp scan` run directory?")
    try:
        run = load_run(run_dir)
    except MiscompError as err:
        raise RunDirError(str(err)) from None
    pairs = run.pairs.set_index("pair_id")
    # Low scores stay in findings.parquet for research; a reviewer's time goes to the rest.
    findings, _ = split_by_score(run.findings, run_min_score(run.meta, min_score))
    items = []
    for f in findings.to_dict("records"):
        if f["pair_id"] not in pairs.index:
            raise RunDirError(f"{run_dir / 'findings.parquet'}: pair {f['pair_id']} not in pairs.parquet")
        try:
            items.append(review_item(run_dir, f, pairs.loc[f["pair_id"]]))
        except RefusedFinding as err:
            if refused is None:
                raise
            refused.append(str(err))
    return items


def review_item(run_dir: Path, f: dict[str, Any], pair: Any) -> ReviewItem:
    """One finding (a findings-table row) of ``pair`` (a pairs-table row) as a review item; ``run_dir``
    resolved. Raises :class:`RefusedFinding` when its crops are not PNG images inside the run dir."""
    from PIL import Image

    paths = [confined_crop(run_dir, f, key) for key in ("crop_original", "crop_reconstruction")]
    width, height = int(pair["width"]), int(pair["height"])
    x0, y0, cw, ch = (int(f[k]) for k in ("crop_x", "crop_y", "crop_w", "crop_h"))
    x1, y1 = x0 + cw, y0 + ch
    if cw <= 0 or ch <= 0:
        raise RunDirError(f"{run_dir}: finding {f['finding_id']} has no crop window")
    with Image.open(paths[1]) as im:
        crop_size = im.size
    # Crops may be enlarged by an integer factor; anything else means another crop rule.
    if crop_size[0] % cw or crop_size[1] % ch or crop_size[0] // cw != crop_size[1] // ch:
        raise RunDirError(
            f"{paths[1]}: crop is {crop_size[0]}x{crop_size[1]}, expected a multiple of {cw}x{ch}; "
            "was the run made by another miscomp version?"
        )
    box = (
        _pct(f["x"] - x0, cw), _pct(f["y"] - y0, ch),
        _pct(min(f["w"], x1 - f["x"]), cw), _pct(min(f["h"], y1 - f["y"]), ch),
    )  # fmt: skip
    label = tool_label(f["category"], bool(f["symbol"]))
    data = {
        "finding_id": f["finding_id"],
        "pair_id": f["pair_id"],
        "image_id": str(pair["image_id"]),
        "codec": str(pair["codec"]),
        "codec_tag": str(pair["codec_tag"]),
        "bpp": None if pd.isna(pair["bpp"]) else round(float(pair["bpp"]), 4),
        "detector": f["detector"],
        "tool_category": f["category"],
        "tool_symbol": bool(f["symbol"]),
        "tool_score": float(f["score"]),
        "box": [int(f["x"]), int(f["y"]), int(f["w"]), int(f["h"])],
        "crop_window": [x0, y0, cw, ch],
        "image_size": [width, height],
        "run": run_dir.name,
        "title": f"{pair['image_id']} · {pair['codec_tag']} · {_bpp_text(pair['bpp'])} · "
        f"{f['detector']} says {label} ({float(f['score']):.2f})",
        "evidence": str(f["evidence"] or ""),
    }
    return ReviewItem(data, paths[0], paths[1], box, crop_size)


def order_items(items: list[ReviewItem], order: str) -> list[ReviewItem]:
    """The queue order. Label Studio's Community edition hands tasks out sequentially in the Data
    Manager's order (task id), so the order they are imported in is the order they are reviewed in."""
    if order not in ORDERS:
        raise MiscompError(f"--order must be one of {', '.join(ORDERS)}, got {order!r}")
    if order == "run":
        return list(items)
    symbol_first = order == "symbol-score"
    return sorted(
        items,
        key=lambda i: (
            symbol_first and not i.data["tool_symbol"],
            -float(i.data["tool_score"]),
            i.data["finding_id"],
        ),
    )


def confined_crop(run_dir: Path, finding: dict[str, Any], key: str) -> Path:
    """The finding's crop ``key`` as a resolved path inside ``run_dir`` (resolved already), checked to
    be a PNG image; raises :class:`RefusedFinding` naming the finding, the file and the problem."""
    from PIL import Image, UnidentifiedImageError

    fid = str(finding["finding_id"])
    if not FINDING_ID_RE.fullmatch(fid):
        raise RefusedFinding(f"{run_dir}: finding id {fid[:40]!r} is not a miscomp id (16 hex digits)")
    rel = str(finding[key] or "")
    if not rel:
        raise RefusedFinding(f"{run_dir}: finding {fid} has no {key}")
    path = (run_dir / rel).resolve()  # an absolute rel replaces run_dir; symlinks are followed
    if not path.is_relative_to(run_dir):
        raise RefusedFinding(f"{rel}: {key} of finding {fid} is outside the run dir {run_dir}; not sent")
    if not path.is_file():
        raise RefusedFinding(f"{path}: crop file missing (finding {fid})")
    try:
        with Image.open(path) as im:
            fmt = im.format
            im.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        problem = f"is not a readable image ({err}); not sent"
        raise RefusedFinding(f"{path}: {key} of finding {fid} {problem}") from None
    if fmt not in CROP_FORMATS:
        raise RefusedFinding(f"{path}: {key} of finding {fid} is a {fmt} file, expected PNG; not sent")
    return path


def _pct(value: float, total: int) -> float:
    return round(min(100.0, max(0.0, 100.0 * float(value) / total)), 4)


def _bpp_text(bpp: Any) -> str:
    return "bpp n/a" if bpp is None or pd.isna(bpp) else f"{float(bpp):.3f} bpp"


# ---- the prediction -----------------------------------------------------------------------------
def prediction_for(item: ReviewItem, box_on_original: bool = True) -> dict[str, Any]:
    """The tool's finding as a Label Studio prediction: its box on the reconstruction (and, when the
    project's config has the control, on the original too) and its category."""
    d = item.data
    fid = d["finding_id"]
    x, y, w, h = item.box_pct
    pred = {
        "model_version": model_version(d["detector"]),
        "score": min(1.0, max(0.0, float(d["tool_score"]))),
        "result": [
            {
                "id": f"{fid[:8]}b",
                "from_name": cfg.REGION,
                "to_name": cfg.RECONSTRUCTION,
                "type": "rectanglelabels",
                "original_width": item.crop_size[0],
                "original_height": item.crop_size[1],
                "image_rotation": 0,
                "value": {"x": x, "y": y, "width": w, "height": h, "rotation": 0,
                          "rectanglelabels": [cfg.REGION_LABEL]},
            },
            {
                "id": f"{fid[:8]}c",
                "from_name": cfg.CATEGORY,
                "to_name": cfg.RECONSTRUCTION,
                "type": "choices",
                "value": {"choices": [tool_label(d["tool_category"], d["tool_symbol"])]},
            },
        ],
    }  # fmt: skip
    if box_on_original:
        pred["result"].append({
            "id": f"{fid[:8]}o", "from_name": cfg.REGION_ORIGINAL, "to_name": cfg.ORIGINAL,
            "type": "rectanglelabels", "original_width": item.crop_size[0],
            "original_height": item.crop_size[1], "image_rotation": 0,
            "value": {"x": x, "y": y, "width": w, "height": h, "rotation": 0,
                      "rectanglelabels": [cfg.REGION_ORIGINAL_LABEL]},
        })  # fmt: skip
    return pred


def check_prediction(prediction: dict[str, Any], label_config: str) -> None:
    """Our own strict check, then the SDK's: both must pass before anything is sent."""
    cfg.validate_prediction(prediction, label_config)
    from label_studio_sdk.label_interface import LabelInterface

    errors = LabelInterface(label_config).validate_prediction(prediction, return_errors=True)
    if errors:
        raise cfg.PredictionError(f"prediction does not fit the project's labeling config: {errors[0]}")


# ---- push -----------------------------------------------------------------------------------------
def existing_finding_ids(client: LabelStudioClient, pid: int) -> set[str]:
    return {t["data"].get("finding_id") for t in client.tasks(pid) if t.get("data")} - {None}


def push_run(
    run_dir: Path,
    conn: cfg.Connection,
    project: str = DEFAULT_PROJECT,
    files: str = "auto",
    document_root: Path | None = None,
    batch_size: int = 100,
    on_batch: Callable[[int, int], None] | None = None,
    min_score: float | None = None,
    overlap: int | None = None,
    gold_share: float = 0.0,
    gold_seed: int = 0,
    order: str = "symbol-score",
) -> PushResult:
    """Push the run's findings scoring at least ``min_score`` (default: the scan's); returns what was
    created. ``on_batch(done, total)`` after each batch.

    ``overlap``: annotators per task (the project's ``maximum_annotations``; None leaves the project's
    setting as it is, 1 for a new project). ``gold_share``: gold
    tasks as a share of the findings in the project (0.1: one gold task per ten findings), spread
    through the queue. ``order``: one of :data:`ORDERS`, applied to the tasks this push creates."""
    if overlap is not None and overlap < 1:
        raise MiscompError(f"--overlap must be at least 1, got {overlap}")
    if not 0.0 <= gold_share < 1.0:
        raise MiscompError(f"--gold-share must be in [0, 1), got {gold_share}")
    refused: list[str] = []
    # Before touching the server: a bad run dir sends nothing.
    items = order_items(load_review_items(run_dir, refused, min_score), order)
    run = load_run(run_dir)
    low = len(split_by_score(run.findings, run_min_score(run.meta, min_score))[1])
    for line in refused:
        log.warning("refused: %s", line)
    client = LabelStudioClient(conn)
    client.check()
    pid = client.find_project(project)
    if pid is None:
        pid = client.create_project(project, cfg.label_config(), f"miscomp {__version__} review of findings")
    # Sequential sampling: the queue is the import order. Overlap: every task (100 % cohort) needs
    # ``overlap`` annotations before it leaves the queue.
    settings: dict[str, Any] = {"sampling": "Sequential sampling"}
    if overlap is not None:
        settings.update(maximum_annotations=overlap, overlap_cohort_percentage=100)
    client.update_project(pid, **settings)
    label_config = client.project_config(pid)
    have = existing_finding_ids(client, pid)
    new = [i for i in items if i.data["finding_id"] not in have]
    gold = gold_items(run_dir, items, gold_share, gold_seed, have)
    mode = resolve_file_mode(files, conn.url, run_dir, document_root)
    if not new and not gold:
        return PushResult(pid, project, len(items), 0, len(items), mode, tuple(refused), 0, low)
    new = interleave(new, gold)
    # Projects made before the original-side box existed keep working, without it.
    on_original = cfg.REGION_ORIGINAL in cfg.parse_controls(label_config)[0]
    predictions = [prediction_for(i, on_original) for i in new]
    for p in predictions:  # all validated before the first one is sent
        check_prediction(p, label_config)
    if mode == "local":
        urls = local_urls(client, pid, run_dir, document_root, new)
    elif mode == "upload":
        urls = upload_urls(client, project, new)
    else:
        urls = inline_urls(new)
    tasks = [
        {"data": {**i.data, cfg.ORIGINAL: o, cfg.RECONSTRUCTION: r}, "predictions": [p],
         **({"meta": {GOLD_META: i.gold}} if i.gold else {})}
        for i, (o, r), p in zip(new, urls, predictions, strict=True)
    ]  # fmt: skip
    done = 0
    for batch in batched(tasks, batch_size):
        try:
            client.import_tasks(pid, batch)
        except LabelStudioError as err:
            raise PushInterruptedError(
                f"{err} — {done} of {len(tasks)} new tasks were imported before this; "
                "run the same push again to import the rest (imported findings are skipped)"
            ) from None
        done += len(batch)
        log.info("imported %d/%d tasks into project %s", done, len(tasks), pid)
        if on_batch is not None:
            on_batch(done, len(tasks))
    skipped = len(items) - (len(new) - len(gold))
    return PushResult(pid, project, len(items), done, skipped, mode, tuple(refused), len(gold), low)


def gold_items(
    run_dir: Path, items: list[ReviewItem], share: float, seed: int, have: set[str]
) -> list[ReviewItem]:
    """The gold items a project with these findings should hold and does not yet (``have``: its ids)."""
    from miscomp.review.gold import gold_finding_id, make_gold

    wanted = round(share * len(items))
    missing = [i for i in range(wanted) if gold_finding_id(seed, i) not in have]
    out = []
    resolved = run_dir.resolve()
    try:
        made = make_gold(resolved, missing, seed)
    except OSError as err:
        raise RunDirError(
            f"{resolved / 'crops'}: cannot write the gold tasks' crops ({err.strerror})"
        ) from None
    for finding, pair, answer in made:
        item = review_item(resolved, finding.to_row(), pair)
        out.append(replace(item, gold=answer))
    return out
