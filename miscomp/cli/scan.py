"""The scan group: ``miscomp scan``, ``report``, ``codecs``, ``detectors``. Thin: parse, call, print.

Exit codes of ``miscomp scan`` (README, "Reliability"): 0 every pair measured; 1 the scan finished but
some pairs are error rows; 2 bad usage or input (nothing scanned); 3 the run folder cannot be written
(disk full, read-only, locked by another scan); 130 interrupted.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from miscomp.cli.common import err_console, fail, out_console
from miscomp.errors import MiscompError, StorageError
from miscomp.findings import DEFAULT_MIN_SCORE

EXIT_ERROR_ROWS = 1
EXIT_STORAGE = 3


def scan(
    originals: Annotated[
        Path | None, typer.Option(help="Folder of original images. Default: the bundled sample set.")
    ] = None,
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="Also scan the subfolders of --originals.")
    ] = False,
    codec: Annotated[
        list[str] | None,
        typer.Option(
            "--codec",
            "-c",
            metavar="SPEC",
            help="Codec spec NAME:k=v,... (repeatable; see `miscomp codecs`).",
        ),
    ] = None,
    reconstructions: Annotated[
        Path | None, typer.Option(help="Folder of reconstructions made by any codec, matched by file stem.")
    ] = None,
    label: Annotated[str, typer.Option(help="Codec name recorded for --reconstructions.")] = "external",
    pattern: Annotated[
        str, typer.Option(help="Reconstruction stem for an original's stem, e.g. '{stem}_rec'.")
    ] = "{stem}",
    bitstreams: Annotated[
        Path | None, typer.Option(help="Folder of the external codec's bitstreams (bpp from file size).")
    ] = None,
    sizes_csv: Annotated[
        Path | None, typer.Option(help="CSV with columns stem and bytes (or bpp) for external codecs.")
    ] = None,
    detector: Annotated[
        list[str] | None,
        typer.Option(
            "--detector",
            "-d",
            metavar="SPEC",
            help="Detector spec (repeatable). Default: the default detectors.",
        ),
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory (created; re-runs resume).")] = Path(
        "miscomp-run"
    ),
    cache_dir: Annotated[Path | None, typer.Option(help="Cache for per-original work (OCR).")] = None,
    max_pixels: Annotated[int, typer.Option(help="Refuse images with more pixels than this.")] = 64_000_000,
    convert: Annotated[
        bool, typer.Option(help="Convert 16-bit and CMYK images to 8-bit RGB instead of refusing them.")
    ] = False,
    report: Annotated[bool, typer.Option(help="Write report.html at the end.")] = True,
    trace: Annotated[
        bool,
        typer.Option(help="Score each original for learned-codec traces (warns when already compressed)."),
    ] = True,
    min_score: Annotated[
        float,
        typer.Option(
            help="Hide findings scoring below this from the report and Label Studio pushes "
            "(they stay in findings.parquet; recorded in run.json)."
        ),
    ] = DEFAULT_MIN_SCORE,
    device: Annotated[
        str | None,
        typer.Option(
            help="Where models run: auto | cpu | cuda | cuda:N. Default: $MISCOMP_DEVICE, else auto."
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Worker processes, each scanning one original with all its codecs. Default: one per core.",
        ),
    ] = None,
    executor: Annotated[
        str, typer.Option(help="local (this machine) or ray (a Ray cluster; pip install 'miscomp[ray]').")
    ] = "local",
    address: Annotated[
        str | None,
        typer.Option(
            help="Ray cluster to join: auto, HOST:6379 or ray://HOST:10001. Default: a private one."
        ),
    ] = None,
    tile: Annotated[
        int,
        typer.Option(
            help="Detectors see images larger than this (px per side) in overlapping tiles; 0: never."
        ),
    ] = 2048,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar; print only errors.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the run summary as JSON (implies --quiet).")
    ] = False,
) -> None:
    """Compress originals with codecs (or take a codec's outputs) and look for miscompressions."""
    from miscomp.run import ScanConfig, run_scan

    cfg = ScanConfig(
        out=out, originals=originals, codecs=tuple(codec or ()), reconstructions=reconstructions,
        pattern=pattern, bitstreams=bitstreams, sizes_csv=sizes_csv, label=label,
        detectors=tuple(detector) if detector else None, cache_dir=cache_dir, max_pixels=max_pixels,
        convert=convert, quiet=quiet or as_json, report=report, recursive=recursive, trace=trace,
        min_score=min_score, device=device, workers=workers or 0, executor=executor, address=address,
        tile=max(0, tile),
    )  # fmt: skip
    try:
        if cfg.quiet or not sys.stderr.isatty():
            summary = run_scan(cfg, progress=None if cfg.quiet else _plain_progress)
        else:
            summary = _scan_with_bar(cfg, run_scan)
    except StorageError as err:
        fail(str(err), EXIT_STORAGE)
    except MiscompError as err:
        fail(str(err))
    except KeyboardInterrupt:
        err_console.print(f"interrupted: finished pairs are saved in {out}; run the same command to resume")
        raise typer.Exit(130) from None
    code = EXIT_ERROR_ROWS if summary.errors else 0
    if as_json:
        print(json.dumps(summary.to_dict(), indent=2))
        raise typer.Exit(code)
    for note in summary.notes:
        err_console.print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)
    if not quiet:
        _print_summary(summary)
    if summary.errors:
        for line in summary.error_examples:
            err_console.print(f"[red]error:[/] {line}", highlight=False, soft_wrap=True)
        more = summary.errors - len(summary.error_examples)
        err_console.print(
            f"{summary.errors} pair(s) could not be measured"
            + (f" ({more} more not listed)" if more > 0 else "")
            + f": all errors are in {Path(summary.run_dir) / 'pairs.csv'} (exit code {code})",
            highlight=False,
            soft_wrap=True,
        )
    raise typer.Exit(code)


def _plain_progress(pair_id: str, done: int, total: int) -> None:
    print(f"[{done}/{total}] {pair_id}", file=sys.stderr, flush=True)


def _scan_with_bar(cfg, run_scan):  # noqa: ANN001, ANN202
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=err_console, transient=True,
    ) as bar:  # fmt: skip
        task = bar.add_task("scanning", total=None)

        def update(pair_id: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=pair_id[:40])

        return run_scan(cfg, progress=update)


def _print_summary(summary) -> None:  # noqa: ANN001
    table = Table(title=f"miscomp scan → {summary.run_dir}", show_header=False)
    table.add_row(
        "pairs", f"{summary.pairs_total} ({summary.pairs_done} new, {summary.pairs_skipped} already done)"
    )
    table.add_row("errors", str(summary.errors))
    cats = ", ".join(f"{k} {v}" for k, v in sorted(summary.findings_by_category.items())) or "none"
    table.add_row("findings", f"{summary.findings} ({cats}; symbol {summary.symbol_findings})")
    table.add_row("low-score", f"{summary.low_score} (below --min-score: hidden, kept in findings.parquet)")
    table.add_row("time", f"{summary.seconds:.1f} s")
    if summary.report:
        table.add_row("report", summary.report)
    out_console.print(table)


def list_codecs() -> None:
    """List the registered codecs, their parameters and which of them run offline here."""
    from rich.table import Column

    from miscomp.codecs import CODECS

    width = max(len(e.name) for e in CODECS)
    caption = (
        "offline here: runs with what is on this machine (q=1,2 only: the weights shipped in the package)"
    )
    table = Table(
        Column("name", no_wrap=True, min_width=width), "family", "offline here",
        Column("parameters (defaults)", overflow="fold"), "description", caption=caption,
    )  # fmt: skip
    for entry in CODECS:
        params = ", ".join(str(p) for p in entry.parameters())
        table.add_row(entry.name, str(entry.meta.get("family", "")), offline_status(entry), params,
                      entry.summary)  # fmt: skip
    out_console.print(table)


def offline_status(entry) -> str:  # noqa: ANN001 - a registry entry
    """Whether the codec runs with what is on this machine: no weights needed, the in-house weights
    that ship in the package (by quality), or weights that are local already. Nothing is downloaded."""
    from miscomp import weights

    if not entry.meta.get("needs_weights"):
        return "yes"
    names = {p.name for p in entry.parameters()}
    if "weights" in names and "q" in names:  # the CompressAI zoo: in-house weights per quality
        folder = weights.models_dir()
        qs = sorted(
            int(p.name.split("-q")[-1].split("-")[0]) for p in folder.glob(f"{entry.name}-q*-miscomp.pth")
        )
        if qs:
            return f"q={','.join(map(str, qs))} only"
        return "no: needs a download"
    from miscomp.codecs import create_codec

    try:
        create_codec(f"{entry.name}:download=false" if "download" in names else entry.name)
    except MiscompError:
        return "no: weights not here"
    return "yes"


def list_detectors() -> None:
    """List the registered detectors."""
    from miscomp.detect import DETECTORS

    table = Table("name", "cost", "needs model", "default", "parameters (defaults)", "description")
    for entry in DETECTORS:
        meta = entry.meta
        params = ", ".join(str(p) for p in entry.parameters())
        table.add_row(entry.name, str(meta.get("cost", "")), str(meta.get("needs_model", "")),
                      str(meta.get("default", False)), params, entry.summary)  # fmt: skip
    out_console.print(table)


def report_cmd(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `miscomp scan`.")],
    out: Annotated[Path | None, typer.Option(help="Output HTML file (default RUN_DIR/report.html).")] = None,
    min_score: Annotated[
        float | None,
        typer.Option(help="Hide findings scoring below this (default: the scan's, from run.json)."),
    ] = None,
) -> None:
    """Write the self-contained HTML report of a run."""
    from miscomp.report import render_report

    try:
        path = render_report(run_dir, out, min_score=min_score)
    except MiscompError as err:
        fail(str(err))
    out_console.print(f"report written: {path}")


def register(app: typer.Typer) -> None:
    app.command("scan")(scan)
    app.command("report")(report_cmd)
    app.command("codecs")(list_codecs)
    app.command("detectors")(list_detectors)
