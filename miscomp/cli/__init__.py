"""The command line; ``miscomp.cli:app`` is the console script."""

from miscomp.cli.app import app

__all__ = ["app"]
