"""The data group: ``miscomp dataset list|fetch|build|export``. Thin: parse, call, print."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from miscomp.cli.common import err_console as err
from miscomp.cli.common import fail
from miscomp.cli.common import out_console as out
from miscomp.cli.review import KeyOpt, ProjectOpt, UrlOpt
from miscomp.errors import MiscompError

dataset_app = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None, help="Fetch datasets and build labelled datasets."
)


@dataset_app.command("list")
def list_datasets() -> None:
    """The datasets with a manifest (URLs + checksums) in datasets/."""
    from rich.table import Table

    from miscomp.datasets import list_manifests

    table = Table("name", "title", "files", "checksums", "homepage")
    for m in list_manifests():
        checked = sum(f.sha256 is not None for f in m.files)
        table.add_row(m.name, m.title, str(len(m.files)), f"{checked}/{len(m.files)}", m.homepage)
    out.print(table)


@dataset_app.command("fetch")
def fetch(
    name: Annotated[str, typer.Argument(help="Dataset name (see `miscomp dataset list`).")],
    dest: Annotated[
        Path | None, typer.Option(help="Target folder (default ~/.cache/miscomp/datasets/NAME).")
    ] = None,
    base_url: Annotated[
        str | None, typer.Option(help="Mirror to download from instead [env MISCOMP_DATASET_BASE_URL].")
    ] = None,
) -> None:
    """Download (resumable), verify SHA-256 and unpack a dataset."""
    from miscomp.datasets import fetch as do_fetch

    try:
        rep = do_fetch(name, dest, base_url)
    except MiscompError as e:
        fail(str(e))
    out.print(
        f"{name} → {rep.dest}: {len(rep.downloaded)} downloaded, {len(rep.resumed)} resumed, "
        f"{len(rep.cached)} already there; {len(rep.verified)} verified by SHA-256",
        highlight=False,
    )
    for path in rep.unverified:
        err.print(f"[yellow]UNVERIFIED:[/] {path}: the manifest has no published checksum", highlight=False)


@dataset_app.command("build")
def build(
    source: Annotated[str, typer.Argument(help="Folder of originals, or a fetched dataset's name.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Run directory to build (re-runs resume).")],
    codec: Annotated[
        list[str], typer.Option("--codec", "-c", metavar="SPEC", help="Codec name or spec (repeatable).")
    ],
    quality: Annotated[
        list[int] | None,
        typer.Option("--quality", "-q", metavar="Q", help="Quality to sweep for each codec (repeatable)."),
    ] = None,
    quality_key: Annotated[str, typer.Option(help="The codec parameter --quality sets.")] = "quality",
    detector: Annotated[
        list[str] | None, typer.Option("--detector", "-d", metavar="SPEC", help="Detector spec.")
    ] = None,
    push: Annotated[bool, typer.Option(help="Push the findings to Label Studio after the scan.")] = False,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    project: ProjectOpt = "miscomp review",
    files: Annotated[
        str, typer.Option(help="Crop transfer for --push: auto, local, upload, inline.")
    ] = "auto",
) -> None:
    """originals × codecs × qualities → scan → push, recording what was built in OUT/build.json."""
    from miscomp.datasets import build as do_build
    from miscomp.review.config import resolve_connection, resolve_document_root

    try:
        push_args = None
        if push:
            push_args = {"conn": resolve_connection(url, api_key), "project": project, "files": files,
                         "document_root": resolve_document_root()}  # fmt: skip
        rec = do_build(source, out_dir, codec, quality, quality_key, detector, push_args)
    except MiscompError as e:
        fail(str(e))
    scan = rec["scan"]
    line = (
        f"built {out_dir}: {scan['pairs_total']} pairs, {scan['findings']} findings "
        f"({scan.get('low_score', 0)} low-score, not pushed)"
    )
    if rec["push"]:
        line += f"; pushed {rec['push']['created']} new tasks to {rec['push']['project']!r}"
    out.print(line + f" (manifest: {out_dir / 'build.json'})", highlight=False)


@dataset_app.command("export")
def export_dataset(
    source: Annotated[
        Path, typer.Argument(help="An `annotate pull` folder, or a test bed (labels.csv + manifest.json).")
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="New folder to write the dataset into.")],
    images: Annotated[
        str, typer.Option(help="Pictures: full (each reconstruction), crops (around each label), none.")
    ] = "full",
    fmt: Annotated[
        list[str] | None, typer.Option("--format", help="coco and/or hf (repeatable; default both).")
    ] = None,
    work: Annotated[
        Path | None,
        typer.Option(help="Test bed only: the folder `python -m benchmarks.real_codecs build` wrote."),
    ] = None,
    exclude_source: Annotated[
        list[str] | None, typer.Option(help="Leave out pairs from this source (e.g. plates: AGPL-3.0).")
    ] = None,
) -> None:
    """COCO detection JSON and a Hugging Face imagefolder with a generated dataset card."""
    from miscomp.export import FORMATS, export, load_source

    try:
        dataset = load_source(source, work)
        rep = export(dataset, out_dir, images, tuple(fmt or FORMATS), tuple(exclude_source or ()))
    except MiscompError as e:
        fail(str(e))
    out.print(
        f"exported {dataset.name} → {rep['out']}: {rep['labels']} labels in {rep['pictures']} pictures "
        f"({images}), {rep['groups']} near-duplicate groups, splits {', '.join(rep['splits'])}; "
        f"files: {', '.join(rep['files'])}",
        highlight=False,
    )
