"""``miscomp study`` (prevalence of a scan) and ``miscomp risk`` (risk map at encoding time): thin
commands over miscomp.study."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from miscomp.cli.common import fail, out_console
from miscomp.errors import MiscompError


def study(
    run_dir: Annotated[Path, typer.Argument(help="Run directory written by `miscomp scan`.")],
    review: Annotated[
        Path | None,
        typer.Option(help="Review evidence JSON (precision and recall of the tool's flags per group)."),
    ] = None,
    reference: Annotated[
        str,
        typer.Option(
            help="Codec, or curve such as 'bmshj2018-factorized (weights=ganlite)', that the BD-CER/BD-WER "
            "deltas are measured against."
        ),
    ] = "jpeg",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output folder (default RUN_DIR/study).")
    ] = None,
    min_score: Annotated[
        float | None, typer.Option(help="Count findings at or above this score (default: the scan's).")
    ] = None,
    bootstrap: Annotated[int, typer.Option(min=100, help="Bootstrap resamples over images.")] = 2000,
    as_json: Annotated[bool, typer.Option("--json", help="Print the tables as JSON.")] = False,
) -> None:
    """Prevalence of miscompressions per codec setting (per image and per megapixel, 95 % intervals,
    review-corrected where --review is given) and text fidelity as BD-CER / BD-WER against JPEG."""
    from miscomp.study.prevalence import load_evidence
    from miscomp.study.run import study_run

    try:
        evidence = load_evidence(review) if review else None
        res = study_run(run_dir, out, evidence, reference, min_score, bootstrap)
    except MiscompError as err:
        fail(str(err))
    if as_json:
        print(
            json.dumps(
                {"prevalence": [r.__dict__ for r in res.prevalence], "bd": [b.__dict__ for b in res.bd]}
            )
        )
        return
    table = Table(title=f"shown miscompressions (score >= {res.min_score:g}), 95 % intervals over images")
    for col in ("codec setting", "bpp", "images", "basis", "per image", "per MP", "symbol per image"):
        table.add_column(col)
    rows = {(r.codec_tag, r.group, r.basis): r for r in res.prevalence}
    for (tag, group, basis), r in rows.items():
        if group != "all":
            continue
        sym = rows.get((tag, "symbol", basis))
        table.add_row(
            tag,
            f"{r.bpp:.3f}",
            str(r.images),
            basis,
            f"{r.per_image:.2f} [{r.per_image_lo:.2f}, {r.per_image_hi:.2f}]",
            f"{r.per_mp:.1f} [{r.per_mp_lo:.1f}, {r.per_mp_hi:.1f}]",
            f"{sym.per_image:.2f}" if sym else "",
        )
    out_console.print(table)
    for b in res.bd:
        value = "n/a (rates do not overlap)" if b.delta is None else f"{b.delta * 100:+.2f} points"
        if b.rate_delta is not None:
            value += f"; BD-rate at equal {b.metric.upper()} {b.rate_delta * 100:+.1f} %"
        out_console.print(f"BD-{b.metric.upper()} {b.curve} vs {b.reference}: {value}", highlight=False)
    out_console.print(f"wrote {res.out} (prevalence.csv, text_fidelity.csv, bd.csv, prevalence.png)")


def risk(
    image: Annotated[Path, typer.Argument(help="The original image (before coding).")],
    codec: Annotated[
        str, typer.Option("--codec", "-c", help="Codec spec NAME:k=v,... it will be coded with.")
    ],
    bpp: Annotated[
        float | None,
        typer.Option(help="Target rate in bits per pixel (default: the setting's typical rate)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output folder (default: IMAGE's folder/risk).")
    ] = None,
    model: Annotated[Path | None, typer.Option(help="A risk model JSON (default: the shipped one).")] = None,
    top: Annotated[
        float, typer.Option(min=0.001, max=1.0, help="Share of the image's area to outline.")
    ] = 0.05,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Where this codec at this rate is likely to miscompress IMAGE, from the original alone (no codec
    runs): a PNG overlay and JSON regions with scores."""
    from miscomp.study.riskmap import risk_map

    try:
        res = risk_map(image, codec, bpp, out, model, top)
    except MiscompError as err:
        fail(str(err))
    if as_json:
        print(json.dumps(res.to_dict(), default=lambda o: o.__dict__))
        return
    out_console.print(
        f"{image}: {len(res.regions)} risk regions for {codec} at {res.bpp:.3f} bpp ({res.bpp_source})"
    )
    for g in res.regions[:5]:
        out_console.print(f"  {g.x},{g.y} {g.w}×{g.h}  risk {g.score:.2f}", highlight=False)
    if res.note:
        out_console.print(f"[yellow]note:[/] {res.note}")
    out_console.print(f"wrote {res.overlay_png}")


def register(app: typer.Typer) -> None:
    app.command("study")(study)
    app.command("risk")(risk)
