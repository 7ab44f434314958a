"""The pipeline: originals → codecs → detectors → findings, persisted pair by pair.

``run_scan`` reads each original once, runs every codec on it, measures the pair, runs the detectors
and commits the pair to the run's store before moving on. A pair that fails (unreadable file, wrong
size, codec error) becomes an error row and the run goes on. Committed pairs are skipped on re-run
when their resume key still holds: the original's content hash (``original_sha256``), the codec and
its parameters (the codec tag in the pair id) and the detector settings (``detectors``). A pair whose
original was replaced or that ran other detectors is done again with this run's settings, so every
row says what it was made with. Error rows are retried, since the user may have fixed the file, and
so are ``partial`` rows (measured, but a detector failed on them).

One scan at a time per run dir: :class:`~miscomp.store.RunLock`. A run dir that cannot be written
(disk full, read-only, ``--out`` is a file) stops the scan with one line
(:class:`~miscomp.errors.StorageError`); committed pairs stay as they are.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import platform
import shutil
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from miscomp import __version__
from miscomp.codecs import create_codec
from miscomp.config import to_dict
from miscomp.crops import write_crops
from miscomp.detect import DETECTORS, Detector, PairImages, build_detectors
from miscomp.detect.base import merge_by_box
from miscomp.detect.combine import COMBINE, CombineConfig, combine
from miscomp.errors import MiscompError, MissingWeightsError, StorageError
from miscomp.executors import EXECUTORS, Unit, execute, limit_threads
from miscomp.findings import DEFAULT_MIN_SCORE, Finding, split_by_score
from miscomp.heap import trim_heap
from miscomp.io import (
    DEFAULT_MAX_PIXELS,
    MIN_SIDE,
    LoadedImage,
    atomic_write_bytes,
    atomic_write_text,
    file_sha256,
    read_image,
    write_png,
)
from miscomp.metrics import ms_ssim, psnr
from miscomp.pairs import Pair, PairRecord, find_originals, make_pair_id
from miscomp.pairs.records import READ_COUNT_FIELDS, params_json
from miscomp.pairs.sources import CodecSource, ExistingOutputs, PairSource
from miscomp.registry import parse_spec
from miscomp.settings import Settings, resolve_device
from miscomp.store import ResultStore, RunLock
from miscomp.threads import apply_threads
from miscomp.tiles import TILES, TilesConfig, detect_tiled_counted

log = logging.getLogger(__name__)

# Codecs tried for the bundled default, in order; those unavailable here are skipped with a note.
# The bundled run makes no network call: TAEF2 is used only when its weights are already local.
DEFAULT_CODECS = (
    "jpeg:quality=10",
    "webp:quality=5",
    "bmshj2018-factorized:q=1",
    "taef2:bits=3,download=false",
)

# Errors writing the run dir that end the scan (one line) instead of becoming one pair's error row.
_STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


@dataclass(frozen=True)
class ScanConfig:
    out: Path
    originals: Path | None = None
    codecs: tuple[str, ...] = ()
    reconstructions: Path | None = None
    pattern: str = "{stem}"
    bitstreams: Path | None = None
    sizes_csv: Path | None = None
    label: str = "external"
    detectors: tuple[str, ...] | None = None  # None: the registry's defaults
    cache_dir: Path | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS
    convert: bool = False
    quiet: bool = False
    report: bool = True
    recursive: bool = False  # also scan the originals folder's subfolders
    trace: bool = True  # score each original for learned-codec traces (miscomp.forensics.trace)
    # Findings below this score stay in findings.parquet but not in the report or Label Studio.
    min_score: float = DEFAULT_MIN_SCORE
    device: str | None = None  # auto | cpu | cuda[:N]; None: $MISCOMP_DEVICE, else auto
    workers: int = 1  # local worker processes (0: one per usable core); see miscomp.executors
    executor: str = "local"  # local | ray
    address: str | None = None  # Ray cluster address (auto, ray://host:10001); None: a private one
    tile: int = TILES.tile  # detectors see larger images in overlapping tiles of this side (0: never)


@dataclass
class ScanSummary:
    run_dir: str
    pairs_total: int = 0
    pairs_skipped: int = 0  # already committed by an earlier run
    pairs_done: int = 0  # committed by this run
    errors: int = 0
    findings: int = 0  # shown findings (score >= min_score; miscomp.findings.split_by_score)
    low_score: int = 0  # findings below min_score: in findings.parquet, not in the report
    findings_by_category: dict[str, int] = field(default_factory=dict)
    symbol_findings: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    redone: int = 0  # committed before, done again: original replaced or detector settings changed
    report: str = ""
    error_examples: list[str] = field(default_factory=list)  # the first few error rows, one line each

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Progress = Callable[[str, int, int], None]  # (pair_id, done, total)


def default_detectors() -> list[str]:
    return [e.name for e in DETECTORS if e.meta.get("default")]


@dataclass(frozen=True)
class ScanPlan:
    """What a scan will do, resolved from its config before any pair runs."""

    run_dir: Path
    originals: list[tuple[str, Path]]  # (image id, path)
    sources: list[PairSource]
    detectors: list[Detector]
    settings: Settings
    notes: tuple[str, ...]  # what was skipped and why (one line each)
    names: dict[str, str] = field(default_factory=dict)  # image id → path relative to the folder
    detector_key: str = "[]"  # the detector settings that run (JSON), part of the resume key
    # The configs of the stages around the detectors (each detector carries its own): passed down to
    # every pair, recorded whole in run.json.
    tiles: TilesConfig = TILES
    combine: CombineConfig = COMBINE

    @property
    def total(self) -> int:
        return len(self.originals) * len(self.sources)


def plan_scan(cfg: ScanConfig) -> ScanPlan:
    """Resolve originals, sources of pairs and detectors; raise MiscompError for what cannot run."""
    settings = Settings.from_env(cache_dir=cfg.cache_dir)
    # Resolved once here (one clear line for --device cuda without a GPU) and passed to every codec
    # and detector that runs a model; run.json records the resolved device.
    device = resolve_device(cfg.device or settings.device)
    settings = replace(settings, device=device)
    apply_threads(settings.threads)  # before any model loads; codecs and detectors keep this count
    notes: list[str] = []
    bundled = cfg.originals is None
    originals_dir = cfg.originals
    if bundled:
        from miscomp.pairs.samples import materialize

        originals_dir = materialize(cfg.out / "originals")
    codec_specs = list(cfg.codecs)
    # Only the bundled default's codec list is optional (TAEF2 needs third-party weights); a codec the
    # user names must work or the scan stops with the reason.
    optional = bundled and not codec_specs and cfg.reconstructions is None
    if optional:
        codec_specs = list(DEFAULT_CODECS)
    sources: list[PairSource] = []
    if cfg.reconstructions is not None:
        sources.append(
            ExistingOutputs(
                cfg.reconstructions,
                label=cfg.label,
                pattern=cfg.pattern,
                bitstreams=cfg.bitstreams,
                sizes_csv=cfg.sizes_csv,
                max_pixels=cfg.max_pixels,
            )  # fmt: skip
        )
    for spec in codec_specs:
        try:
            sources.append(CodecSource(create_codec(spec, device=device)))
        except MissingWeightsError as err:
            if not optional:
                raise
            notes.append(f"codec {spec.split(',')[0]} skipped: {err.short}")
        except MiscompError as err:
            if not optional:
                raise
            notes.append(f"codec {spec} skipped: {err}")
        except (TypeError, ValueError) as err:
            raise MiscompError(f"codec {spec!r}: {err}") from None
    if not sources:
        raise MiscompError("no codec: give --codec NAME:k=v (see `miscomp codecs`) or --reconstructions DIR")
    tags = [s.tag for s in sources]
    dupes = {t for t in tags if tags.count(t) > 1}
    if dupes:
        raise MiscompError(f"the same codec settings are given twice: {', '.join(sorted(dupes))}")
    specs = default_detectors() if cfg.detectors is None else cfg.detectors
    specs = [s for s in specs if s != "none"]  # `--detector none`: measure pairs only
    detectors, skipped = build_detectors(specs, settings.cache_dir, device=device, settings=settings)
    if cfg.detectors is not None and skipped:  # asked for by name: an error, not a note
        name = skipped[0].split()[1]
        raise MiscompError(
            f"{skipped[0].replace(' skipped: ', ' cannot run: ', 1)} (or drop --detector {name})"
        )
    notes.extend(skipped)
    found = find_originals(originals_dir, recursive=cfg.recursive)
    notes.extend(found.skipped)
    return ScanPlan(
        cfg.out, [(i, p) for i, p, _ in found.images], sources, detectors, settings, tuple(notes),
        names={i: rel for i, _, rel in found.images}, detector_key=detector_key(specs, detectors),
        tiles=replace(TILES, tile=cfg.tile),
    )  # fmt: skip


def detector_key(specs: list[str], detectors: list[Detector]) -> str:
    """The detector settings that will run (name and parameters of each built detector), as JSON.
    A detector skipped because its model is missing is not part of it: once the model is there, the
    key changes and the pairs are done again with it."""
    built = {d.name for d in detectors}
    parsed = [parse_spec(s) for s in specs]
    return json.dumps(sorted([n, p] for n, p in parsed if n in built), sort_keys=True, default=str)


def _source_records(sources: list[PairSource]) -> list[dict[str, Any]]:
    return [{"tag": s.tag, "name": s.name, "params": s.params(), "info": s.info()} for s in sources]


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"miscomp": __version__, "python": platform.python_version()}
    for pkg in (
        "numpy",
        "pillow",
        "opencv-python-headless",
        "scikit-image",
        "torch",
        "compressai",
        "easyocr",
    ):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[pkg] = metadata.version(pkg)
    return out


def run_pair(
    run_dir: Path,
    pair: Pair,
    image: LoadedImage,
    source: PairSource,
    detectors: list[Detector],
    detector_key: str = "",
    tiles: TilesConfig = TILES,
    combine_config: CombineConfig = COMBINE,
) -> tuple[PairRecord, list[Finding]]:
    """Reconstruct, measure and check one pair; writes its reconstruction, bitstream and crops."""
    out = source.reconstruct(image.rgb, image.path)
    rec_rel = Path("reconstructions") / pair.codec_tag / f"{pair.image_id}.png"
    write_png(run_dir / rec_rel, out.reconstruction)
    # the codec's and the PNG writer's full-size Pillow images are freed (400 MB each at 100 MP), in
    # blocks the heap would keep resident under the detectors (miscomp.heap)
    trim_heap()
    bit_rel = ""
    if out.bitstream is not None:
        bit_path = Path("bitstreams") / pair.codec_tag / f"{pair.image_id}{source.bitstream_suffix}"
        atomic_write_bytes(run_dir / bit_path, out.bitstream)
        bit_rel = str(bit_path)
    h, w = image.rgb.shape[:2]
    bpp = out.n_bytes * 8 / (h * w) if out.n_bytes is not None else None
    t0 = time.perf_counter()
    images = PairImages(pair.pair_id, image.rgb, out.reconstruction, image.sha256, pair.codec_tag, bpp)
    findings, counts, problems = detect_pair(
        images, detectors, tiles, combine_config, on_error=lambda err: _log_internal(run_dir, pair, err)
    )
    detect_s = time.perf_counter() - t0
    with_crops = []
    for f in findings:
        c = write_crops(run_dir, f, image.rgb, out.reconstruction)
        with_crops.append(f.with_crops(c.original, c.reconstruction, c.diff, c.window))
    record = PairRecord(
        pair_id=pair.pair_id, image_id=pair.image_id, original=str(image.path.resolve()),
        reconstruction=str(rec_rel), bitstream=bit_rel, codec=pair.codec, codec_tag=pair.codec_tag,
        params=params_json(pair.params), width=w, height=h, bytes=out.n_bytes, bpp=bpp,
        psnr=psnr(image.rgb, out.reconstruction), ms_ssim=ms_ssim(image.rgb, out.reconstruction),
        encode_s=out.encode_seconds, decode_s=out.decode_seconds, detect_s=detect_s,
        n_findings=len(with_crops), status="partial" if problems else "ok", error="; ".join(problems),
        original_sha256=image.sha256, original_metadata=image.metadata_json(), notes="; ".join(image.notes),
        original_name=pair.original_name, detectors=detector_key,
        **{k: v for k, v in counts.items() if k in READ_COUNT_FIELDS},
    )  # fmt: skip
    return record, with_crops


def detect_pair(
    images: PairImages,
    detectors: list[Detector],
    tiles: TilesConfig = TILES,
    combine_config: CombineConfig = COMBINE,
    on_error: Callable[[Exception], None] | None = None,
) -> tuple[list[Finding], dict[str, int], list[str]]:
    """Every detector on one pair, in run order (each sees the findings of those before it), tiled,
    then one symbol rule across detectors (:func:`combine`). Returns (findings, the detectors' counts,
    one line per detector that failed); ``on_error`` gets the unexpected exceptions."""
    findings: list[Finding] = []
    problems: list[str] = []
    counts: dict[str, int] = {}
    for det in detectors:
        try:
            found, found_counts = detect_tiled_counted(
                det, replace(images, prior=tuple(findings)), config=tiles
            )
            findings = merge_by_box(findings, found)
            counts |= found_counts
        except MiscompError as err:
            problems.append(f"detector {det.name}: {err}")
        except Exception as err:  # noqa: BLE001 - one broken detector must not void the others
            if on_error is not None:
                on_error(err)
            problems.append(f"detector {det.name} failed ({type(err).__name__}: {err}); see errors.log")
        # What this detector freed goes back to the system before the next one allocates in its own
        # sizes (miscomp.heap): on a 24 MP scan ~350 MB stayed resident under the last detector's peak.
        trim_heap()
    return combine(findings, combine_config), counts, problems  # findings over changed text: flagged


def _run_original(
    plan: ScanPlan,
    store: ResultStore,
    image_id: str,
    path: Path,
    todo: list[PairSource],
    convert: bool,
    max_pixels: int,
    trace: bool = False,
) -> Iterator[str]:
    """Run every pending source on one original (read once); yields each committed pair id."""
    try:
        image: LoadedImage | None = read_image(
            path, max_pixels=max_pixels, convert=convert, min_side=MIN_SIDE
        )
        read_error = ""
    except MiscompError as err:
        image, read_error = None, str(err)
    trim_heap()  # the decoder's full-size buffers are freed (miscomp.heap)
    name = plan.names.get(image_id, path.name)
    if trace and image is not None:
        from miscomp.forensics.trace import record_original_trace

        # ~0.2 s per original (six 256² tiles): cheap next to any codec
        record_original_trace(plan.run_dir, image_id, image.rgb, name)
    for source in todo:
        pair = Pair(
            make_pair_id(image_id, source.tag), image_id, path, source.name, source.tag, source.params(),
            original_name=name,
        )  # fmt: skip
        if image is None:
            store.commit(PairRecord.failed(pair, read_error), [])
        else:
            try:
                record, found = run_pair(
                    plan.run_dir,
                    pair,
                    image,
                    source,
                    plan.detectors,
                    plan.detector_key,
                    plan.tiles,
                    plan.combine,
                )
                store.commit(record, found)
            except MiscompError as err:
                store.commit(PairRecord.failed(pair, str(err)), [])
            except Exception as err:  # noqa: BLE001 - one bad pair must not end the run
                if isinstance(err, OSError) and err.errno in _STORAGE_ERRNOS:
                    raise  # the run dir cannot be written: no use trying the next pair
                _log_internal(plan.run_dir, pair, err)
                message = f"internal error ({type(err).__name__}: {err}); details in errors.log"
                store.commit(PairRecord.failed(pair, message), [])
        yield pair.pair_id


def run_scan(cfg: ScanConfig, progress: Progress | None = None) -> ScanSummary:
    """Plan the scan, run every pair not yet committed, rebuild the tables, write run.json and report.

    Holds the run dir's lock throughout; raises :class:`StorageError` (one line) when the run dir
    cannot be written, leaving committed pairs as they were."""
    out = cfg.out
    if out.exists() and not out.is_dir():
        raise MiscompError(
            f"{out}: --out is a file, not a folder; give the path of a new or existing run folder"
        )
    if cfg.executor not in EXECUTORS:
        raise MiscompError(f"--executor {cfg.executor!r}: expected one of {', '.join(EXECUTORS)}")
    fresh = not out.exists()
    started = time.perf_counter()
    try:
        out.mkdir(parents=True, exist_ok=True)
        with RunLock(out):
            try:
                plan = plan_scan(cfg)
            except MiscompError:
                if fresh:  # refused before any pair ran: leave no run folder (nor .lock) behind
                    shutil.rmtree(out, ignore_errors=True)
                raise
            return _run_locked(cfg, plan, progress, started)
    except OSError as err:
        if err.filename and not _inside(Path(str(err.filename)), out):
            # not the run folder: an input (originals, reconstructions, weights) that cannot be read
            raise MiscompError(f"{err.filename}: {err.strerror or err}; check that it can be read") from None
        raise StorageError(storage_message(err, out)) from None


def _inside(path: Path, folder: Path) -> bool:
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except OSError:
        return False


def storage_message(err: OSError, out: Path) -> str:
    """One line for an OSError writing the run dir: which path, what happened, what to do."""
    where = err.filename or out
    what = err.strerror or str(err)
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        todo = "free some space (or give another --out) and run the same command again to resume"
    elif err.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        todo = "the run folder is not writable: give another --out or fix its permissions"
    else:
        todo = "check the run folder, then run the same command again to resume"
    return f"{where}: {what}; {todo} (committed pairs are kept)"


def _is_done(row: dict[str, Any] | None, sha256: str, detector_key: str) -> tuple[bool, str]:
    """(done, why it is not although a row is committed: "" | "original" | "detectors")."""
    if not row or row.get("status") != "ok":
        return False, ""
    if row.get("original_sha256") != sha256:
        return False, "original"
    if row.get("detectors", "") != detector_key:
        return False, "detectors"
    return True, ""


def _sha256_or_empty(path: Path) -> str:
    try:
        return file_sha256(path)
    except OSError:
        return ""  # unreadable: never "done"; read_image gives the error row


def pending_sources(
    plan: ScanPlan, image_id: str, path: Path, committed: dict[str, dict[str, Any]]
) -> tuple[list[PairSource], list[str]]:
    """The sources of ``image_id`` still to run (resume key: status ok, original's hash, detector
    settings), and why committed ones are redone ("original" | "detectors", one per pair). Used by
    the driver to plan units and again by a worker before a (retried) unit."""
    rows = [committed.get(make_pair_id(image_id, s.tag)) for s in plan.sources]
    sha = _sha256_or_empty(path) if any(r and r.get("status") == "ok" for r in rows) else ""
    todo, why = [], []
    for source, row in zip(plan.sources, rows, strict=True):
        ok, reason = _is_done(row, sha, plan.detector_key)
        if not ok:
            todo.append(source)
        if reason:
            why.append(reason)
    return todo, why


# ---- the unit of work every executor runs (miscomp.executors) ------------------------------------

# The resolved plan of the scan config this process last ran: building it loads the models (OCR reader
# ~2.5 s, codec weights), which must happen once per worker, not once per unit. (A list, not a dict:
# a config may hold lists, which do not hash.)
_PLAN: list[tuple[ScanConfig, ScanPlan]] = []


def _worker_plan(cfg: ScanConfig, plan: ScanPlan | None = None) -> ScanPlan:
    """This process's plan for ``cfg``: ``plan`` when given (the driver's), else the one built before."""
    if plan is None and (not _PLAN or _PLAN[0][0] != cfg):
        limit_threads(int(os.environ.get("MISCOMP_THREADS") or 1))  # the worker's own setting
        plan = plan_scan(cfg)
    if plan is not None:
        _PLAN[:] = [(cfg, plan)]
    return _PLAN[0][1]


def run_unit(cfg: ScanConfig, unit: Unit) -> Iterator[str]:
    """Run one unit (one original, its pending codecs) on this process's plan; yields its pair ids."""
    plan = _worker_plan(cfg)
    store = ResultStore(plan.run_dir)
    # Re-read what is committed, with the driver's resume rule: a retried unit (its first worker
    # died) skips the pairs its first attempt finished.
    ids = {t: make_pair_id(unit.image_id, t) for t in unit.tags}
    rows = {pid: row for pid in ids.values() if (row := store.committed_row(pid)) is not None}
    pending, _ = pending_sources(plan, unit.image_id, unit.path, rows)
    todo = [s for s in pending if s.tag in ids]
    yield from (ids[t] for t in unit.tags if t not in {s.tag for s in todo})
    trace = cfg.trace and bool(todo)  # the original's learned-codec trace score, once per original
    yield from _run_original(plan, store, unit.image_id, unit.path, todo, cfg.convert, cfg.max_pixels, trace)


def _run_locked(cfg: ScanConfig, plan: ScanPlan, progress: Progress | None, started: float) -> ScanSummary:
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    store = ResultStore(plan.run_dir)
    store.remove_stale_temporaries()  # a killed scan's half-written part; we hold the lock
    committed = store.committed()
    _write_run_json(cfg, plan, started_at, None)

    units = []
    redone = {"original": 0, "detectors": 0}
    for image_id, path in plan.originals:
        todo, why = pending_sources(plan, image_id, path, committed)
        for reason in why:
            redone[reason] += 1
        if todo:
            units.append(Unit(image_id, path, tuple(s.tag for s in todo)))
    skipped = done = plan.total - sum(len(u.tags) for u in units)
    new = 0
    _worker_plan(cfg, plan)  # in this process (one worker) units run on the driver's plan
    ran = execute(
        run_unit, cfg, units, executor=cfg.executor, workers=cfg.workers, address=cfg.address,
        warm_up=_worker_plan,
    )  # fmt: skip
    for pair_id in ran:
        new += 1
        done += 1
        if progress:
            progress(pair_id, done, plan.total)

    pair_df, find_df = store.consolidate()
    # Counted as the report shows them: findings at or above min_score, the rest as low-score.
    shown, low = split_by_score(find_df, cfg.min_score)
    summary = ScanSummary(
        run_dir=str(plan.run_dir), pairs_total=plan.total, pairs_skipped=skipped, pairs_done=new,
        errors=int((pair_df["status"] == "error").sum()), findings=len(shown), low_score=len(low),
        findings_by_category={str(k): int(v) for k, v in shown["category"].value_counts().items()},
        symbol_findings=int(shown["symbol"].sum()) if len(shown) else 0,
        seconds=round(time.perf_counter() - started, 3), notes=list(plan.notes),
        redone=sum(redone.values()), error_examples=error_examples(pair_df),
    )  # fmt: skip
    traces: dict[str, dict] = {}
    if cfg.trace:
        from miscomp.forensics.trace import collect_original_traces

        traces, warnings = collect_original_traces(plan.run_dir, [i for i, _ in plan.originals])
        summary.notes.extend(warnings)
    if redone["original"]:
        summary.notes.append(
            f"{redone['original']} pair(s) done again: their original changed since they ran"
        )
    if redone["detectors"]:
        summary.notes.append(
            f"{redone['detectors']} pair(s) done again: they were made with other detector settings"
        )
    # Codecs load their models lazily: their info (weights, entropy tables) is complete only now.
    _write_run_json(cfg, plan, started_at, summary, pair_df, traces)
    if cfg.report:
        summary.report, problem = _write_report(plan.run_dir)
        if problem:
            summary.notes.append(problem)
    return summary


def error_examples(pairs: Any, limit: int = 5) -> list[str]:
    """The first ``limit`` error rows as "original (codec): error" lines, for the terminal."""
    rows = pairs[pairs["status"] == "error"].head(limit)
    return [
        f"{r['original_name'] or Path(str(r['original'])).name} ({r['codec_tag']}): {r['error']}"
        for r in rows.to_dict("records")
    ]


def _write_run_json(
    cfg: ScanConfig,
    plan: ScanPlan,
    started_at: str,
    summary: ScanSummary | None,
    pairs: Any = None,
    traces: dict | None = None,
) -> None:
    """run.json: written when the scan starts (``finished`` empty) and again when it ends, so that an
    interrupted run still says what it was doing. ``codecs`` and ``detectors`` are this run's
    settings; ``tables`` says what the tables hold, which includes pairs of earlier runs into the
    same folder (e.g. codecs this run did not name)."""
    info: dict[str, Any] = {
        "miscomp_version": __version__,
        "started": started_at,
        "finished": datetime.now(UTC).isoformat(timespec="seconds") if summary else "",
        "arguments": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()},
        "min_score": cfg.min_score,
        "settings": plan.settings.to_json(),
        "codecs": _source_records(plan.sources),
        "detectors": [{"name": d.name, **d.info()} for d in plan.detectors],
        "configs": {"tiles": to_dict(plan.tiles), "combine": to_dict(plan.combine)},
        "skipped": list(plan.notes),
        "versions": _versions(),
    }
    if summary is not None:
        info["timings"] = {
            "seconds": summary.seconds,
            "pairs_done": summary.pairs_done,
            "pairs_skipped": summary.pairs_skipped,
            "pairs_redone": summary.redone,
        }
    if pairs is not None:
        ran = pairs[pairs["status"] != "error"]
        info["tables"] = {
            "pairs": len(pairs),
            "codec_tags": sorted(pairs["codec_tag"].unique().tolist()),
            # detector settings (JSON) → pairs made with them; more than one key: a mixed run dir
            "detectors": {str(k): int(v) for k, v in ran["detectors"].value_counts().items()},
        }
    if traces:
        info["original_trace"] = traces  # learned-codec trace score of each original
    atomic_write_text(plan.run_dir / "run.json", json.dumps(info, indent=2, default=str))


def _write_report(run_dir: Path) -> tuple[str, str]:
    """(report path, "") or ("", why it was not written): results are safe on disk either way."""
    from miscomp.report import render_report

    try:
        return str(render_report(run_dir)), ""
    except Exception as err:  # noqa: BLE001 - results are already safe on disk; the report is extra
        return "", f"report not written: {type(err).__name__}: {err}"


def _log_internal(run_dir: Path, pair: Pair, err: Exception) -> None:
    with open(run_dir / "errors.log", "a", encoding="utf-8") as fh:
        fh.write(f"--- {pair.pair_id}\n{''.join(traceback.format_exception(err))}\n")
