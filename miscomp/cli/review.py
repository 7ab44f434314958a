"""The review group: ``miscomp annotate serve|push|pull`` (Label Studio). Thin: parse, call, print.

The API key comes from --api-key or LABEL_STUDIO_API_KEY and is never printed.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Annotated

import typer

from miscomp.cli.common import err_console as err
from miscomp.cli.common import fail
from miscomp.cli.common import out_console as out
from miscomp.errors import MiscompError
from miscomp.settings import Settings

annotate_app = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None, help="Review findings in Label Studio."
)

UrlOpt = Annotated[str | None, typer.Option("--url", help="Label Studio URL [env LABEL_STUDIO_URL].")]
KeyOpt = Annotated[
    str | None,
    typer.Option(
        "--api-key", help="API key (legacy token or PAT) [env LABEL_STUDIO_API_KEY].", show_default=False
    ),
]
ProjectOpt = Annotated[str, typer.Option("--project", help="Project title (created by push if missing).")]


@annotate_app.command("serve")
def serve(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8089,
    data_dir: Annotated[
        Path, typer.Option(help="Label Studio data (database, uploads, credentials).")
    ] = Path(".label-studio"),
    root: Annotated[
        Path, typer.Option(help="Local Files document root: run dirs to push must be inside it.")
    ] = Path("."),
    venv: Annotated[
        Path | None,
        typer.Option(help="Label Studio's virtual env [env MISCOMP_LABELSTUDIO_VENV; default ./.venv-ls]."),
    ] = None,
) -> None:
    """Start a local Label Studio (loopback only) with an admin user and an API token; Ctrl-C stops it."""
    from miscomp.review.serve import (
        CREDENTIALS_FILE,
        TOKEN_FILE,
        LabelStudioServer,
        ServerSpec,
    )

    spec = ServerSpec(
        data_dir=data_dir.resolve(),
        document_root=root.resolve(),
        port=port,
        venv=venv or Settings.from_env().labelstudio_venv,
    )
    try:
        server = LabelStudioServer(spec)
        server.check()  # a busy port or a missing install: say so before "starting"
    except MiscompError as e:
        fail(str(e))
    err.print(f"starting Label Studio on {spec.url} (first start takes about a minute) ...")
    # SIGTERM as Ctrl-C: leave the blocking wait, then stop the server once, from this thread. Stopping
    # it inside the handler raced the wait below for the child (20-40 s, then a zombie).
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.start()
    except MiscompError as e:
        fail(str(e))
    except KeyboardInterrupt:
        server.stop()
        raise typer.Exit(130) from None
    try:
        for fix in server.permission_fixes:
            err.print(f"[yellow]note:[/] made private: {fix}", highlight=False, soft_wrap=True)
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
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


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
    min_score: Annotated[
        float | None,
        typer.Option(help="Push only findings scoring at least this (default: the scan's, from run.json)."),
    ] = None,
    overlap: Annotated[
        int | None,
        typer.Option(help="Annotators per task (Label Studio's maximum_annotations; default: unchanged)."),
    ] = None,
    gold_share: Annotated[
        float,
        typer.Option(help="Gold tasks (synthetic changes with known answers) per finding, e.g. 0.1."),
    ] = 0.0,
    gold_seed: Annotated[int, typer.Option(help="Seed of the gold tasks (keep it for later pushes).")] = 0,
    order: Annotated[
        str, typer.Option(help="Queue order of new tasks: symbol-score, score, run.")
    ] = "symbol-score",
) -> None:
    """Create (or reuse) the project and add one task per new finding, pre-annotated by the tool."""
    from miscomp.review.config import resolve_connection, resolve_document_root
    from miscomp.review.push import push_run

    root = resolve_document_root(document_root)
    try:
        conn = resolve_connection(url, api_key)
        res = push_run(
            run_dir,
            conn,
            project,
            files=files,
            document_root=root,
            batch_size=batch_size,
            min_score=min_score,
            overlap=overlap,
            gold_share=gold_share,
            gold_seed=gold_seed,
            order=order,
        )
    except MiscompError as e:
        fail(str(e))
    _print_refused(res.refused)
    out.print(
        f"project {res.project!r} (id {res.project_id}) at {conn.url}: {res.created} tasks created "
        f"({res.gold} gold), "
        f"{res.skipped} findings already there, {res.findings} in the run (crops: {res.files}); "
        f"{res.low_score} low-score findings not pushed",
        highlight=False,
    )
    _exit_if_refused(res.refused, "finding(s)")


@annotate_app.command("pull")
def pull(
    out_dir: Annotated[Path, typer.Option("--out", help="Dataset folder (created; re-pulls update it).")],
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    project: ProjectOpt = "miscomp review",
    reopen_ties: Annotated[
        bool,
        typer.Option(help="Put findings whose annotators are split evenly back in the queue for one more."),
    ] = False,
) -> None:
    """Export the reviews into labels.parquet/.csv (one adjudicated label per finding),
    annotations.parquet (every annotator's label), crops and an agreement report (tool vs human,
    annotators' α/κ and box IoU, gold scores, ties)."""
    from miscomp.review.config import resolve_connection
    from miscomp.review.pull import pull_dataset

    try:
        res = pull_dataset(resolve_connection(url, api_key), project, out_dir, reopen_ties=reopen_ties)
    except MiscompError as e:
        fail(str(e))
    _print_refused(res.refused)
    for line in res.notes:
        err.print(f"[yellow]note:[/] {line}", highlight=False, soft_wrap=True)
    if res.tasks == 0:
        return
    report = json.loads((out_dir / "agreement.json").read_text())
    prec = report["precision"]
    alpha = report["annotators"]["questions"]["label"]["alpha"]
    out.print(
        f"{res.reviewed} of {res.tasks} tasks reviewed; {res.rows} rows in {out_dir / 'labels.parquet'} "
        f"({res.added} added, {res.updated} updated, {res.ties} ties for a third reviewer"
        f"{f', {res.reopened} put back in the queue' if res.reopened else ''}); tool precision "
        f"{'n/a' if prec is None else f'{prec:.2f}'}; annotator agreement α "
        f"{'n/a' if alpha is None else f'{alpha:.2f}'}; {res.gold_annotations} gold annotations scored "
        f"(see {out_dir / 'agreement.md'})",
        highlight=False,
    )
    _exit_if_refused(res.refused, "task(s)")


def _print_refused(refused: list[str]) -> None:
    for line in refused:
        err.print(f"[yellow]refused:[/] {line}", highlight=False, soft_wrap=True)


def _exit_if_refused(refused: list[str], what: str) -> None:
    """Exit 1 after the summary when anything was refused (the rest went through)."""
    if refused:
        err.print(f"{len(refused)} {what} refused (exit code 1)", highlight=False)
        raise typer.Exit(1)


if __name__ == "__main__":  # `python -m miscomp.cli.review serve` (annotation/serve.sh)
    annotate_app()
