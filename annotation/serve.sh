#!/usr/bin/env bash
# Start a local Label Studio for reviewing miscomp findings (same as `miscomp annotate serve`).
#   annotation/serve.sh [--port 8089] [--data-dir .label-studio] [--root DIR]
# Installs Label Studio into .venv-ls on first use, binds to 127.0.0.1 only, creates an admin user
# and an API token (kept in DATA_DIR/miscomp-credentials.json, mode 0600) and prints the exports
# that `miscomp annotate push/pull` need. --root is the Local Files document root: run dirs you push
# must be inside it (default: the current folder). Ctrl-C stops the server.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/annotation/install_ls.sh" >/dev/null
exec "${PYTHON:-$ROOT/.venv/bin/python}" -m miscomp.cli.review serve "$@"
