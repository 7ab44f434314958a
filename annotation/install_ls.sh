#!/usr/bin/env bash
# Install Label Studio into its own virtual environment, .venv-ls, next to the project.
# It pins Django, pyarrow, openai, redis ... that clash with the project's own environment
# (see ../shared/notes/labelstudio.md), so it never goes into .venv.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# MISCOMP_LABELSTUDIO_VENV is the name miscomp reads (`annotate serve`); MISCOMP_LS_VENV, this
# script's old name for it, still works.
VENV="${MISCOMP_LABELSTUDIO_VENV:-${MISCOMP_LS_VENV:-$ROOT/.venv-ls}}"
PY="${PYTHON:-python3.11}"
LS_VERSION="1.23.2"
if [ -x "$VENV/bin/label-studio" ] && "$VENV/bin/python" -c \
    "import importlib.metadata as m,sys; sys.exit(m.version('label-studio')!='$LS_VERSION')" 2>/dev/null; then
  echo "label-studio $LS_VERSION already installed in $VENV"
  exit 0
fi
echo "[1/3] creating $VENV"
"$PY" -m venv "$VENV"
echo "[2/3] upgrading pip"
"$VENV/bin/pip" install -q --upgrade pip
echo "[3/3] installing label-studio $LS_VERSION (~1 GB, a few minutes; pip shows its progress)"
"$VENV/bin/pip" install --progress-bar on "label-studio==$LS_VERSION"
echo "label-studio $LS_VERSION installed in $VENV"
