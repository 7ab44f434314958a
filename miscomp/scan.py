"""The pipeline: originals → codecs → detectors → findings, persisted pair by pair.

``run_scan`` reads each original once, runs every codec on it, measures the pair, runs the detectors
and commits the pair to the run's store before moving on. A pair that fails (unreadable file, wrong
size, codec error) becomes an error row and the run goes on. Committed pairs are skipped on re-run;
error rows are retried, since the user may have fixed the file, and so are ``partial`` rows (measured,
but a detector failed on them).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from miscomp import __version__
from miscomp.codecs import CODECS, Codec, create_codec
from miscomp.crops import write_crops
from miscomp.detect import DETECTORS, Detector, PairImages, build_detectors
from miscomp.errors import MiscompError
from miscomp.findings import Finding
from miscomp.imageio import DEFAULT_MAX_PIXELS, LoadedImage, read_image, write_png
from miscomp.metrics import ms_ssim, psnr
from miscomp.pairs import Pair, find_originals, make_pair_id
from miscomp.store import ResultStore, atomic_write_text

log = logging.getLogger(__name__)

# Codecs tried for the bundled default, in order; those unavailable here are skipped with a note.
DEFAULT_CODECS = ("jpeg:quality=10", "webp:quality=5", "bmshj2018-factorized:q=1", "taef2:bits=3")


@dataclass
class ScanConfig:
    out: Path
    originals: Path | None = None
    codecs: list[str] = field(default_factory=list)
    reconstructions: Path | None = None
    pattern: str = "{stem}"
    bitstreams: Path | None = None
    sizes_csv: Path | None = None
    label: str = "external"
    detectors: list[str] | None = None  # None: the registry's defaults
    cache_dir: Path | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS
    convert: bool = False
    quiet: bool = False
    report: bool = True


@dataclass
class ScanSummary:
    run_dir: str
    pairs_total: int = 0
    pairs_skipped: int = 0  # already committed by an earlier run
    pairs_done: int = 0  # committed by this run
    errors: int = 0
    findings: int = 0
    findings_by_category: dict[str, int] = field(default_factory=dict)
    symbol_findings: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    report: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Progress = Callable[[str, int, int], None]  # (pair_id, done, total)


def default_cache_dir() -> Path:
    return Path(os.environ.get("MISCOMP_CACHE", Path.home() / ".cache" / "miscomp"))


def default_detectors() -> list[str]:
    return [e.name for e in DETECTORS if e.meta.get("default")]


def _build_codecs(cfg: ScanConfig, notes: list[str], bundled: bool) -> list[Codec]:
    codecs: list[Codec] = []
    if cfg.reconstructions is not None:
        codecs.append(
            CODECS.create(
                "external",
                reconstructions=str(cfg.reconstructions),
                label=cfg.label,
                pattern=cfg.pattern,
                bitstreams=str(cfg.bitstreams or ""),
                sizes_csv=str(cfg.sizes_csv or ""),
                max_pixels=cfg.max_pixels,
            )
        )
    for spec in cfg.codecs:
        try:
            codecs.append(create_codec(spec))
        except MiscompError as err:
            if not bundled:
                raise
            notes.append(f"codec {spec} skipped: {err}")
        except (TypeError, ValueError) as err:
            raise MiscompError(f"codec {spec!r}: {err}") from None
    if not codecs:
        raise MiscompError("no codec: give --codec NAME:k=v (see `miscomp codecs`) or --reconstructions DIR")
    tags = [c.tag for c in codecs]
    dupes = {t for t in tags if tags.count(t) > 1}
    if dupes:
        raise MiscompError(f"the same codec settings are given twice: {', '.join(sorted(dupes))}")
    return codecs


def _codec_records(codecs: list[Codec]) -> list[dict[str, Any]]:
    return [{"tag": c.tag, "name": c.name, "params": c.params(), "info": c.info()} for c in codecs]


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


def _error_row(pair: Pair, original: Path, message: str) -> dict[str, Any]:
    return {
        "pair_id": pair.pair_id, "image_id": pair.image_id, "original": str(original),
        "reconstruction": "", "bitstream": "", "codec": pair.codec, "codec_tag": pair.codec_tag,
        "params": json.dumps(pair.params, sort_keys=True, default=str), "width": None, "height": None,
        "bytes": None, "bpp": None, "psnr": None, "ms_ssim": None, "encode_s": None, "decode_s": None,
        "detect_s": None, "n_findings": 0, "status": "error", "error": message,
        "original_sha256": "", "original_metadata": "", "notes": "",
    }  # fmt: skip


class _PairRunner:
    """Runs one pair end to end; holds the run-wide codecs, detectors and store."""

    def __init__(self, run_dir: Path, store: ResultStore, detectors: list[Detector]) -> None:
        self.run_dir = run_dir
        self.store = store
        self.detectors = detectors

    def run(self, pair: Pair, image: LoadedImage, codec: Codec) -> dict[str, Any]:
        out = codec.apply(image.rgb, source=image.path)
        rec_rel = Path("reconstructions") / pair.codec_tag / f"{pair.image_id}.png"
        write_png(self.run_dir / rec_rel, out.reconstruction)
        bit_rel = ""
        if out.bitstream is not None:
            bit_path = Path("bitstreams") / pair.codec_tag / f"{pair.image_id}{codec.bitstream_suffix}"
            (self.run_dir / bit_path).parent.mkdir(parents=True, exist_ok=True)
            (self.run_dir / bit_path).write_bytes(out.bitstream)
            bit_rel = str(bit_path)
        h, w = image.rgb.shape[:2]
        bpp = out.n_bytes * 8 / (h * w) if out.n_bytes is not None else None
        t0 = time.perf_counter()
        images = PairImages(pair.pair_id, image.rgb, out.reconstruction, image.sha256, pair.codec_tag, bpp)
        findings: list[Finding] = []
        problems: list[str] = []
        for det in self.detectors:
            try:
                findings.extend(det.detect(images))
            except MiscompError as err:
                problems.append(f"detector {det.name}: {err}")
            except Exception as err:  # noqa: BLE001 - one broken detector must not void the others
                _log_internal(self.run_dir, pair, err)
                problems.append(f"detector {det.name} failed ({type(err).__name__}: {err}); see errors.log")
        detect_s = time.perf_counter() - t0
        with_crops = []
        for f in findings:
            crops = write_crops(self.run_dir, f, image.rgb, out.reconstruction)
            with_crops.append(f.with_crops(crops.original, crops.reconstruction, crops.diff))
        row = {
            "pair_id": pair.pair_id, "image_id": pair.image_id, "original": str(image.path.resolve()),
            "reconstruction": str(rec_rel), "bitstream": bit_rel, "codec": pair.codec,
            "codec_tag": pair.codec_tag, "params": json.dumps(pair.params, sort_keys=True, default=str),
            "width": w, "height": h, "bytes": out.n_bytes, "bpp": bpp,
            "psnr": psnr(image.rgb, out.reconstruction), "ms_ssim": ms_ssim(image.rgb, out.reconstruction),
            "encode_s": out.encode_seconds, "decode_s": out.decode_seconds, "detect_s": detect_s,
            "n_findings": len(with_crops), "status": "partial" if problems else "ok",
            "error": "; ".join(problems),
            "original_sha256": image.sha256, "original_metadata": image.metadata_json(),
            "notes": "; ".join(image.notes),
        }  # fmt: skip
        self.store.commit(row, with_crops)
        return row


def run_scan(cfg: ScanConfig, progress: Progress | None = None) -> ScanSummary:
    started = time.perf_counter()
    run_dir = cfg.out
    run_dir.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    bundled = cfg.originals is None
    if bundled:
        from miscomp.samples import materialize

        cfg.originals = materialize(run_dir / "originals")
        if not cfg.codecs and cfg.reconstructions is None:
            cfg.codecs = list(DEFAULT_CODECS)
    originals = find_originals(cfg.originals)
    codecs = _build_codecs(cfg, notes, bundled)
    detector_specs = default_detectors() if cfg.detectors is None else cfg.detectors
    detector_specs = [s for s in detector_specs if s != "none"]  # `--detector none`: measure pairs only
    cache_dir = cfg.cache_dir or default_cache_dir()
    detectors, skipped = build_detectors(detector_specs, cache_dir)
    notes.extend(skipped)

    store = ResultStore(run_dir)
    committed = store.committed()
    summary = ScanSummary(run_dir=str(run_dir), notes=notes)
    summary.pairs_total = total = len(originals) * len(codecs)
    run_info = {
        "miscomp_version": __version__,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "arguments": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()},
        "codecs": _codec_records(codecs),
        "detectors": [{"name": d.name, **d.info()} for d in detectors],
        "skipped": notes,
        "versions": _versions(),
    }
    atomic_write_text(run_dir / "run.json", json.dumps(run_info, indent=2, default=str))

    runner = _PairRunner(run_dir, store, detectors)
    done = 0
    for image_id, path in originals:
        todo = [c for c in codecs if committed.get(make_pair_id(image_id, c.tag)) != "ok"]
        summary.pairs_skipped += len(codecs) - len(todo)
        done += len(codecs) - len(todo)
        if not todo:
            continue
        try:
            image: LoadedImage | None = read_image(path, max_pixels=cfg.max_pixels, convert=cfg.convert)
            read_error = ""
        except MiscompError as err:
            image, read_error = None, str(err)
        for codec in todo:
            pair = Pair(
                make_pair_id(image_id, codec.tag), image_id, path, codec.name, codec.tag, codec.params()
            )
            if image is None:
                store.commit(_error_row(pair, path, read_error), [])
            else:
                try:
                    runner.run(pair, image, codec)
                except MiscompError as err:
                    store.commit(_error_row(pair, path, str(err)), [])
                except Exception as err:  # noqa: BLE001 - one bad pair must not end the run
                    _log_internal(run_dir, pair, err)
                    message = f"internal error ({type(err).__name__}: {err}); details in errors.log"
                    store.commit(_error_row(pair, path, message), [])
            summary.pairs_done += 1
            done += 1
            if progress:
                progress(pair.pair_id, done, total)

    pair_df, find_df = store.consolidate()
    summary.findings = len(find_df)
    summary.findings_by_category = {str(k): int(v) for k, v in find_df["category"].value_counts().items()}
    summary.symbol_findings = int(find_df["symbol"].sum()) if len(find_df) else 0
    summary.errors = int((pair_df["status"] == "error").sum())
    summary.seconds = round(time.perf_counter() - started, 3)
    # codecs load their models lazily: their info (weights, entropy tables) is complete only now
    run_info["codecs"] = _codec_records(codecs)
    run_info.update(
        finished=datetime.now(UTC).isoformat(timespec="seconds"),
        timings={
            "seconds": summary.seconds,
            "pairs_done": summary.pairs_done,
            "pairs_skipped": summary.pairs_skipped,
        },
    )
    atomic_write_text(run_dir / "run.json", json.dumps(run_info, indent=2, default=str))
    if cfg.report:
        summary.report = _write_report(run_dir, notes)
    return summary


def _write_report(run_dir: Path, notes: list[str]) -> str:
    try:
        from miscomp.report import render_report
    except ImportError:
        return ""
    try:
        return str(render_report(run_dir))
    except Exception as err:  # noqa: BLE001 - results are already safe on disk; the report is extra
        notes.append(f"report not written: {type(err).__name__}: {err}")
        return ""


def _log_internal(run_dir: Path, pair: Pair, err: Exception) -> None:
    with open(run_dir / "errors.log", "a", encoding="utf-8") as fh:
        fh.write(f"--- {pair.pair_id}\n{''.join(traceback.format_exception(err))}\n")
