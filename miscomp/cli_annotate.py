"""``miscomp annotate ...`` (Label Studio review) and ``miscomp dataset ...`` (datasets): thin CLI.

The API key comes from --api-key or LABEL_STUDIO_API_KEY and is never printed.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from miscomp.errors import MiscompError

annotate_app = typer.Typer(no_args_is_help=True, help="Review findings in Label Studio.")
dataset_app = typer.Typer(no_args_is_help=True, help="Fetch datasets and build labelled datasets.")
err = Console(stderr=True)
out = Console()

UrlOpt = Annotated[str | None, typer.Option("--url", help="Label Studio URL [env LABEL_STUDIO_URL].")]
KeyOpt = Annotated[
    str | None,
    typer.Option(
        "--api-key", help="API key (legacy token or PAT) [env LABEL_STUDIO_API_KEY].", show_default=False
    ),
]
ProjectOpt = Annotated[str, typer.Option("--project", help="Project title (created by push if missing).")]


def _fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@annotate_app.command("serve")
def serve(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8089,
    data_dir: Annotated[
        Path, typer.Option(help="Label Studio data (database, uploads, credentials).")
    ] = Path(".label-studio"),
    root: Annotated[
        Path, typer.Option(help="Local Files document root: run dirs to push must be inside it.")
    ] = Path("."),
    venv: Annotated[Path | None, typer.Option(help="Label Studio's virtual env (default .venv-ls).")] = None,
) -> None:
    """Start a local Label Studio (loopback only) with an admin user and an API token; Ctrl-C stops it."""
    from miscomp.annotate.serve import (
        CREDENTIALS_FILE,
        DEFAULT_VENV,
        TOKEN_FILE,
        LabelStudioServer,
        ServerSpec,
    )

    spec = ServerSpec(
        data_dir=data_dir.resolve(), document_root=root.resolve(), port=port, venv=venv or DEFAULT_VENV
    )
    server = LabelStudioServer(spec)
    err.print(f"starting Label Studio on {spec.url} (first start takes about a minute) ...")
    try:
        server.start()
    except MiscompError as e:
        _fail(str(e))
    creds_file = spec.data_dir / CREDENTIALS_FILE
    out.print(
        f"Label Studio is running at {spec.url}\n"
        f"  log in as {server.credentials.username}; password and token are in {creds_file}\n"
        f"  for push/pull:\n"
        f"    export LABEL_STUDIO_URL={spec.url}\n"
        f'    export LABEL_STUDIO_API_KEY="$(cat {spec.data_dir / TOKEN_FILE})"\n'
        f"    export LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT={spec.document_root}\n"
        f"  server log: {server.log_path}\n"
        "Press Ctrl-C to stop.",
        highlight=False,
    )
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    try:
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


@annotate_app.command("push")
def push(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `miscomp scan`.")],
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    project: ProjectOpt = "miscomp review",
    files: Annotated[
        str, typer.Option(help="How the server gets the crops: auto, local (Local Files), upload, inline.")
    ] = "auto",
    document_root: Annotated[
        Path | None,
        typer.Option(help="The server's Local Files root [env LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT]."),
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Tasks per import request.")] = 100,
) -> None:
    """Create (or reuse) the project and add one task per new finding, pre-annotated by the tool."""
    from miscomp.annotate.config import ENV_DOCUMENT_ROOT, resolve_connection
    from miscomp.annotate.push import push_run

    root = document_root or (
        Path(os.environ[ENV_DOCUMENT_ROOT]) if os.environ.get(ENV_DOCUMENT_ROOT) else None
    )
    try:
        conn = resolve_connection(url, api_key)
        res = push_run(run_dir, conn, project, files=files, document_root=root, batch_size=batch_size)
    except MiscompError as e:
        _fail(str(e))
    out.print(
        f"project {res.project!r} (id {res.project_id}) at {conn.url}: {res.created} tasks created, "
        f"{res.skipped} findings already there, {res.findings} in the run (crops: {res.files})",
        highlight=False,
    )


@annotate_app.command("pull")
def pull(
    out_dir: Annotated[Path, typer.Option("--out", help="Dataset folder (created; re-pulls update it).")],
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    project: ProjectOpt = "miscomp review",
) -> None:
    """Export the reviews into labels.parquet/.csv, crops and an agreement report."""
    from miscomp.annotate.config import resolve_connection
    from miscomp.annotate.pull import pull_dataset

    try:
        res = pull_dataset(resolve_connection(url, api_key), project, out_dir)
    except MiscompError as e:
        _fail(str(e))
    report = json.loads((out_dir / "agreement.json").read_text())
    prec = report["precision"]
    out.print(
        f"{res.reviewed} of {res.tasks} tasks reviewed; {res.rows} rows in {out_dir / 'labels.parquet'} "
        f"({res.added} added, {res.updated} updated); tool precision "
        f"{'n/a' if prec is None else f'{prec:.2f}'} (see {out_dir / 'agreement.md'})",
        highlight=False,
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
        _fail(str(e))
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
    codec: Annotated[list[str], typer.Option("--codec", "-c", help="Codec name or spec (repeatable).")],
    quality: Annotated[
        list[int] | None,
        typer.Option("--quality", "-q", help="Quality to sweep for each codec (repeatable)."),
    ] = None,
    quality_key: Annotated[str, typer.Option(help="The codec parameter --quality sets.")] = "quality",
    detector: Annotated[list[str] | None, typer.Option("--detector", "-d", help="Detector spec.")] = None,
    push: Annotated[bool, typer.Option(help="Push the findings to Label Studio after the scan.")] = False,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    project: ProjectOpt = "miscomp review",
    files: Annotated[
        str, typer.Option(help="Crop transfer for --push: auto, local, upload, inline.")
    ] = "auto",
) -> None:
    """originals × codecs × qualities → scan → push, recording what was built in OUT/build.json."""
    from miscomp.annotate.config import ENV_DOCUMENT_ROOT, resolve_connection
    from miscomp.datasets import build as do_build

    try:
        push_args = None
        if push:
            root = os.environ.get(ENV_DOCUMENT_ROOT)
            push_args = {"conn": resolve_connection(url, api_key), "project": project, "files": files,
                         "document_root": Path(root) if root else None}  # fmt: skip
        rec = do_build(source, out_dir, codec, quality, quality_key, detector, push_args)
    except MiscompError as e:
        _fail(str(e))
    scan = rec["scan"]
    line = f"built {out_dir}: {scan['pairs_total']} pairs, {scan['findings']} findings"
    if rec["push"]:
        line += f"; pushed {rec['push']['created']} new tasks to {rec['push']['project']!r}"
    out.print(line + f" (manifest: {out_dir / 'build.json'})", highlight=False)


if __name__ == "__main__":  # `python -m miscomp.cli_annotate serve` (annotation/serve.sh)
    annotate_app()
