"""The ``miscomp`` command: the root app. Each command group lives in its own module
(``scan``, ``review``, ``data``) and holds no logic of its own: it parses, calls the library, prints."""

from __future__ import annotations

from typing import Annotated

import typer

from miscomp import __version__
from miscomp.cli import data, forensics, review, scan, study

app = typer.Typer(
    add_completion=False,
    # Plain click help: rich markup ate every "[env X]" and "[ray]" in the help texts, and rich panels
    # showed a "<bool>" metavar on flags such as --help. Wide enough not to cut command summaries.
    rich_markup_mode=None,
    context_settings={"max_content_width": 120},
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    help="Find miscompressions: places where a lossy image codec changed what an image means.",
)


def _version(value: bool) -> None:
    if value:
        print(f"miscomp {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    pass


scan.register(app)
forensics.register(app)
study.register(app)
app.add_typer(
    review.annotate_app, name="annotate", help="Review findings in Label Studio (serve, push, pull)."
)
app.add_typer(data.dataset_app, name="dataset", help="Fetch public datasets; build labelled datasets.")
