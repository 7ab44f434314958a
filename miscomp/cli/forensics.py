"""``miscomp tag`` / ``verify`` / ``trace``: thin commands over miscomp.forensics."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from miscomp.cli.common import err_console, fail, out_console
from miscomp.errors import MiscompError

EXIT_INVALID = 1
EXIT_ERROR = 2
EXIT_NO_TAG = 3


def tag(
    run_dir: Annotated[Path, typer.Argument(help="Run directory written by `miscomp scan`.")],
    images: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Image files to tag (matched to the run's pairs by file stem). Default: the "
            "run's own reconstructions."
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output folder (default RUN_DIR/tagged).")
    ] = None,
    cert: Annotated[
        Path | None,
        typer.Option(help="PEM certificate chain, end-entity first (C2PA). Without it: unsigned XMP."),
    ] = None,
    key: Annotated[Path | None, typer.Option(help="PEM private key of --cert.")] = None,
    codec_tag: Annotated[
        str | None, typer.Option(help="Only this codec tag (needed when ambiguous).")
    ] = None,
    keep_metadata: Annotated[
        bool, typer.Option(help="Keep the image's metadata and copy the original's EXIF (GPS, serials!).")
    ] = False,
    risk: Annotated[
        bool, typer.Option("--risk", help="Also embed the original's risk regions (see `miscomp risk`).")
    ] = False,
    risk_model: Annotated[Path | None, typer.Option(help="Risk model JSON for --risk.")] = None,
    min_score: Annotated[
        float | None,
        typer.Option(help="List findings scoring at least this (default: the scan's, from run.json)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Embed provenance: a signed C2PA manifest (or an unsigned XMP packet) with the run's findings."""
    from miscomp.forensics.provenance import SignerFiles
    from miscomp.forensics.tag import tag_run

    if (cert is None) != (key is None):
        fail("give both --cert and --key (or neither, for the unsigned XMP fallback)")
    signer = SignerFiles(cert, key) if cert and key else None
    try:
        results = tag_run(
            run_dir,
            out or run_dir / "tagged",
            signer,
            list(images or []),
            codec_tag,
            keep_metadata,
            risk=risk,
            risk_model=risk_model,
            min_score=min_score,
        )
    except MiscompError as err:
        fail(str(err))
    if as_json:
        print(json.dumps([asdict(r) for r in results], indent=2))
    else:
        for r in results:
            if r.kind == "error":
                err_console.print(f"[red]error:[/] {r.message}", highlight=False, soft_wrap=True)
            else:
                out_console.print(
                    f"{r.kind}: {r.output} ({r.findings} findings, {r.low_score} low-score)", highlight=False
                )
        if signer is None and any(r.kind == "xmp" for r in results):
            err_console.print(
                "[yellow]note:[/] no --cert/--key: wrote unsigned XMP, which anyone can strip or edit"
            )
    if any(r.kind == "error" for r in results):
        raise typer.Exit(EXIT_ERROR)


def verify(
    image: Annotated[Path, typer.Argument(help="A tagged image.")],
    trust_anchors: Annotated[
        Path | None, typer.Option(help="PEM file of CA certificates to trust (C2PA signer check).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the verification as JSON.")] = False,
) -> None:
    """Read and validate an image's tag; print the claim and the findings.

    Exit status: 0 valid (or an unsigned XMP tag), 1 invalid (tampered), 2 error, 3 no tag."""
    from miscomp.forensics.provenance import verify as run_verify

    try:
        result = run_verify(image, trust_anchors)
    except MiscompError as err:
        fail(str(err))
    if as_json:
        print(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        _print_verification(result)
    if result.kind == "none":
        raise typer.Exit(EXIT_NO_TAG)
    if not result.valid:
        raise typer.Exit(EXIT_INVALID)


def _print_verification(v) -> None:  # noqa: ANN001
    if v.kind == "none":
        out_console.print(
            f"{v.path}: not tagged (no C2PA manifest and no miscomp XMP packet)", highlight=False
        )
        return
    colour = "green" if v.valid else "red"
    out_console.print(
        f"{v.path}: [{colour}]{v.kind} {v.state}[/]" + (f" — signed by {v.signer}" if v.signer else ""),
        highlight=False,
    )
    for f in v.failures:
        out_console.print(f"  [red]failure:[/] {f}", highlight=False)
    for n in v.notes:
        out_console.print(f"  note: {n}", highlight=False)
    for a in v.claim.get("actions", []):
        out_console.print(f"  action: {a['action']} {json.dumps(a.get('parameters', {}))}", highlight=False)
    for i in v.claim.get("ingredients", []):
        out_console.print(
            f"  ingredient: {i.get('relationship')} {i.get('title')} {i.get('description', '')}",
            highlight=False,
        )
    if v.risk:
        regions = v.risk.get("regions", [])
        out_console.print(
            f"  risk at encoding time ({v.risk.get('codec')} at {v.risk.get('bpp')} bpp): "
            f"{len(regions)} regions not to trust: "
            + "; ".join(f"{_box(r)} ({r.get('score')})" for r in regions[:5] if isinstance(r, dict)),
            highlight=False,
        )
    a = v.analysis
    if not a:
        return
    out_console.print(
        f"  analysis: may contain miscompressions: {a.get('may_contain_miscompressions')}"
        f" · {len(a.get('findings') or [])} findings, {a.get('low_score', 0)} low-score"
        f" · codec {a.get('codec_tag')} · bpp {a.get('bpp')} · complete {a.get('complete')}"
        f" · {a.get('generator')}",
        highlight=False,
    )
    if a.get("findings"):
        table = Table("detector", "box", "category", "symbol", "score", "evidence")
        for f in a["findings"]:
            table.add_row(
                str(f.get("detector")),
                _box(f.get("box")),
                str(f.get("category")),
                str(f.get("symbol")),
                f"{f.get('score', 0):.2f}",
                str(f.get("evidence"))[:80],
            )
        out_console.print(table)


def _box(box) -> str:  # noqa: ANN001
    return (
        "{x},{y} {w}×{h}".format(**box)
        if isinstance(box, dict) and set(box) >= {"x", "y", "w", "h"}
        else str(box)
    )


def trace(
    images: Annotated[list[Path], typer.Argument(help="Images to examine.")],
    model: Annotated[Path | None, typer.Option(help="A trace model JSON (default: the shipped one).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """How likely each image went through a learned (neural) codec, with the evidence.

    A screening aid, not proof: see the leave-one-codec-out table in docs/forensics.md for what it misses."""
    from miscomp.forensics.trace import load_model, trace_file

    try:
        trace_model = load_model(model)
    except MiscompError as err:
        fail(str(err))
    results, failed = [], False
    for path in images:
        try:
            results.append(trace_file(path, trace_model))
        except MiscompError as err:
            err_console.print(f"[red]error:[/] {err}", highlight=False, soft_wrap=True)
            failed = True
        except Exception as err:  # noqa: BLE001 - one file must not end the others (nor print a trace)
            err_console.print(
                f"[red]error:[/] {path}: could not be traced ({type(err).__name__}: {err})",
                highlight=False,
                soft_wrap=True,
            )
            failed = True
    if as_json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
    else:
        for r in results:
            out_console.print(
                f"{r.path}: [bold]{r.probability:.2f}[/] {r.verdict} ({r.tiles} tiles)"
                + (f" [dim]({'; '.join(r.notes)})[/]" if r.notes else ""),
                highlight=False,
            )
            for e in r.evidence[:3]:
                sign = "+" if e.contribution >= 0 else "−"
                out_console.print(
                    f"  {sign}{abs(e.contribution):.2f} {e.description}: {e.value:.3g} "
                    f"(typical original {e.typical_original:.3g}, learned codec {e.typical_learned:.3g})",
                    highlight=False,
                )
    if failed:
        raise typer.Exit(EXIT_ERROR)


def register(app: typer.Typer) -> None:
    """Add the forensic commands to the root app."""
    app.command("tag")(tag)
    app.command("verify")(verify)
    app.command("trace")(trace)
