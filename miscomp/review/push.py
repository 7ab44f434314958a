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

import base64
import ipaddress
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

import pandas as pd

from miscomp import __version__
from miscomp.errors import MiscompError
from miscomp.findings import run_min_score, split_by_score
from miscomp.review import config as cfg
from miscomp.review.client import LabelStudioClient, LabelStudioError, batched
from miscomp.store import load_run

log = logging.getLogger(__name__)

DEFAULT_PROJECT = "miscomp review"
FILE_MODES = ("auto", "local", "upload", "inline")
UPLOAD_CHUNK = 40  # files per multipart request
FINDING_ID_RE = re.compile(r"[0-9a-f]{16}")  # Finding._stable_id: 16 hex digits
CROP_FORMATS = ("PNG",)  # what miscomp scan writes


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
    low_score: int = 0  # findings below min_score: not pushed, kept in findings.parquet


@dataclass(frozen=True)
class ReviewItem:
    """One finding as the reviewer will see it: the task data plus its crop files."""

    data: dict[str, Any]
    crop_original: Path
    crop_reconstruction: Path
    box_pct: tuple[float, float, float, float]  # on the reconstruction crop, percent
    crop_size: tuple[int, int]


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
    from PIL import Image

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
        pair = pairs.loc[f["pair_id"]]
        try:
            paths = [confined_crop(run_dir, f, key) for key in ("crop_original", "crop_reconstruction")]
        except RefusedFinding as err:
            if refused is None:
                raise
            refused.append(str(err))
            continue
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
        items.append(ReviewItem(data, paths[0], paths[1], box, crop_size))
    return items


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


# ---- making crops reachable ---------------------------------------------------------------------
def _is_loopback(url: str) -> bool:
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_file_mode(mode: str, url: str, run_dir: Path, document_root: Path | None) -> str:
    if mode not in FILE_MODES:
        raise MiscompError(f"--files must be one of {', '.join(FILE_MODES)}, got {mode!r}")
    if mode != "auto":
        return mode
    if _is_loopback(url) and document_root is not None and _under(run_dir, document_root):
        return "local"
    return "upload"


def _under(path: Path, root: Path) -> bool:
    path, root = path.resolve(), root.resolve()
    return path != root and root in path.parents


def local_urls(
    client: LabelStudioClient, pid: int, run_dir: Path, document_root: Path | None, items: list[ReviewItem]
) -> list[tuple[str, str]]:
    if document_root is None:
        raise MiscompError(f"--files local needs --document-root or {cfg.ENV_DOCUMENT_ROOT}")
    run_dir, root = run_dir.resolve(), document_root.resolve()
    if not _under(run_dir, root):
        raise MiscompError(f"{run_dir}: not inside the server's document root {root}")
    crops = run_dir / "crops"
    if not any(_under(crops, Path(p)) or Path(p) == crops for p in client.local_storages(pid)):
        client.add_local_storage(pid, crops, title=f"miscomp crops {run_dir.name}")

    def url(path: Path) -> str:
        return "/data/local-files/?d=" + quote(str(path.resolve().relative_to(root)))

    return [(url(i.crop_original), url(i.crop_reconstruction)) for i in items]


def upload_urls(client: LabelStudioClient, project: str, items: list[ReviewItem]) -> list[tuple[str, str]]:
    # Uploading into the review project itself is refused (two image keys in its config), so crops
    # go to a helper project with a one-image config, without creating tasks there.
    helper_title = f"{project} (miscomp crops)"
    helper = client.find_project(helper_title)
    if helper is None:
        helper = client.create_project(
            helper_title, '<View><Image name="image" value="$image"/></View>', "crop storage for miscomp"
        )
    files: list[tuple[Path, str]] = []
    for i in items:
        fid = i.data["finding_id"]
        files += [(i.crop_original, f"{fid}_orig.png"), (i.crop_reconstruction, f"{fid}_rec.png")]
    urls: dict[str, str] = {}
    for chunk in batched(files, UPLOAD_CHUNK):
        urls.update(client.upload_files(helper, [p for p, _ in chunk], [n for _, n in chunk]))
    return [
        (urls[f"{i.data['finding_id']}_orig.png"], urls[f"{i.data['finding_id']}_rec.png"]) for i in items
    ]


def inline_urls(items: list[ReviewItem]) -> list[tuple[str, str]]:
    def uri(path: Path) -> str:
        return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()

    return [(uri(i.crop_original), uri(i.crop_reconstruction)) for i in items]


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
) -> PushResult:
    """Push the run's findings scoring at least ``min_score`` (default: the scan's); returns what was
    created. ``on_batch(done, total)`` after each batch."""
    refused: list[str] = []
    # Before touching the server: a bad run dir sends nothing.
    items = load_review_items(run_dir, refused, min_score)
    run = load_run(run_dir)
    low = len(split_by_score(run.findings, run_min_score(run.meta, min_score))[1])
    for line in refused:
        log.warning("refused: %s", line)
    client = LabelStudioClient(conn)
    client.check()
    pid = client.find_project(project)
    if pid is None:
        pid = client.create_project(project, cfg.label_config(), f"miscomp {__version__} review of findings")
    label_config = client.project_config(pid)
    have = existing_finding_ids(client, pid)
    new = [i for i in items if i.data["finding_id"] not in have]
    mode = resolve_file_mode(files, conn.url, run_dir, document_root)
    if not new:
        return PushResult(pid, project, len(items), 0, len(items), mode, tuple(refused), low)
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
        {"data": {**i.data, cfg.ORIGINAL: o, cfg.RECONSTRUCTION: r}, "predictions": [p]}
        for i, (o, r), p in zip(new, urls, predictions, strict=True)
    ]
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
    return PushResult(pid, project, len(items), done, len(items) - len(new), mode, tuple(refused), low)


def summary_json(result: PushResult) -> str:
    return json.dumps(result.__dict__, indent=2)
