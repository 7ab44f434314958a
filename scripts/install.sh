#!/usr/bin/env bash
# One documented install step for a development/CI environment in .venv.
#
# Size and time (measured 2026-12 on the project's CI machine): .venv is ~7.5 GB, 4.1 GB of it the
# NVIDIA CUDA libraries and triton that PyPI's torch 2.14.1 depends on (PyPI has no CPU-only 2.14.1;
# its newest +cpu build is 2.13.0, which torchvision 0.29.1 refuses). pip ran ~3 minutes for it. On a machine without an NVIDIA GPU, MISCOMP_CPU_ONLY=1 removes those 4.1 GB after
# the install: torch 2.14.1 imports and runs on the CPU without them (see docs/install.md).
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
START=$(date +%s)
step() { echo "== install [$1/6] $2 ($(( $(date +%s) - START )) s so far)"; }

echo "== installing into $VENV: ~7.5 GB (4.1 GB of it CUDA libraries), a few minutes on a fast link"
step 1 "virtual environment"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
step 2 "pip"
"$VENV/bin/pip" install -q --upgrade pip
# torch first, exactly pinned (the pair that imports together with torchvision here)
step 3 "torch 2.14.1 + torchvision 0.29.1 (the big download; pip shows its progress)"
"$VENV/bin/pip" install --progress-bar on "torch==2.14.1" "torchvision==0.29.1"
step 4 "miscomp and its extras [all,dev]"
"$VENV/bin/pip" install --progress-bar on -e ".[all,dev]"
step 5 "compressai 1.2.8 (--no-deps, see above)"
"$VENV/bin/pip" install -q --no-deps "compressai==1.2.8"
if [ "${MISCOMP_CPU_ONLY:-0}" = "1" ]; then
  step 6 "MISCOMP_CPU_ONLY=1: removing the CUDA libraries and triton (torch keeps working on the CPU)"
  gpu_pkgs=$("$VENV/bin/pip" list --format=freeze | cut -d= -f1 | grep -E '^(nvidia-|triton$)' || true)
  if [ -n "$gpu_pkgs" ]; then
    # shellcheck disable=SC2086 - one package name per word
    "$VENV/bin/pip" uninstall -y -q $gpu_pkgs
  fi
else
  step 6 "check"
fi
"$VENV/bin/python" -c "import compressai, easyocr, label_studio_sdk, numpy, torch; print('install ok: numpy', numpy.__version__, 'compressai', compressai.__version__, 'torch', torch.__version__)"
echo "== install took $(( $(date +%s) - START )) s; $VENV is $(du -sh "$VENV" 2>/dev/null | cut -f1)"
