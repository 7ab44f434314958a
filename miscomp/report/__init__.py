"""The self-contained HTML report of a run (``html``), its RD plot (``rdplot``) against CompressAI's
published Kodak results (``refs``) (headless-browser screenshots
of it: ``testing/screenshot.py``, a developer tool outside the package)."""

from miscomp.report.html import EMBED_LIMIT_BYTES, choose_embed, load_run_dir, render_report

__all__ = ["EMBED_LIMIT_BYTES", "choose_embed", "load_run_dir", "render_report"]
