#!/usr/bin/env bash
# Install Label Studio into its own virtual environment, .venv-ls, next to the project.
# It pins Django, pyarrow, openai, redis ... that clash with the project's own environment
# (see ../shared/notes/labelstudio.md), so it never goes into .venv.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MISCOMP_LS_VENV:-$ROOT/.venv-ls}"
PY="${PYTHON:-python3.11}"
LS_VERSION="1.23.2"
if [ -x "$VENV/bin/label-studio" ] && "$VENV/bin/python" -c \
    "import importlib.metadata as m,sys; sys.exit(m.version('label-studio')!='$LS_VERSION')" 2>/dev/null; then
  echo "label-studio $LS_VERSION already installed in $VENV"
  exit 0
fi
"$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q "label-studio==$LS_VERSION"
echo "label-studio $LS_VERSION installed in $VENV"
