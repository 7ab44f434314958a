#!/usr/bin/env bash
# One documented install step for a development/CI environment in .venv.
#
# Why three pip calls: compressai 1.2.8 declares numpy<2 while label-studio-sdk 2.x needs
# numpy>=2.2, so a single resolve is impossible. compressai runs fine on numpy 2.x
# (tests/codecs/test_compressai_zoo.py proves it on every CI run), so it is installed
# with --no-deps after its real dependencies, which the [neural] extra lists.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
VENV=${VENV:-.venv}
export PIP_DISABLE_PIP_VERSION_CHECK=1
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/pip" install -q --upgrade pip
# torch first, exactly pinned (the pair that imports together with torchvision here)
"$VENV/bin/pip" install -q "torch==2.14.1" "torchvision==0.29.1"
"$VENV/bin/pip" install -q -e ".[all,dev]"
"$VENV/bin/pip" install -q --no-deps "compressai==1.2.8"
"$VENV/bin/python" -c "import compressai, easyocr, label_studio_sdk, numpy; print('install ok: numpy', numpy.__version__, 'compressai', compressai.__version__)"
