#!/usr/bin/env bash
# The package works outside this checkout: build the wheel, install it into a fresh venv in a temp
# folder, and run a scan of the bundled default with the in-house learned codec from there.
#
# The fresh venv gets its heavy dependencies (torch, compressai …) from the dev venv through a .pth
# path entry instead of a second multi-GB install; miscomp itself comes only from the wheel (the dev
# venv's editable-install hook is not loaded through a plain path entry), which the script checks.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
DEV_SITE=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$VENV/bin/pip" wheel -q --no-deps --no-build-isolation -w "$work/dist" .
"$VENV/bin/python" -m venv "$work/venv"
"$work/venv/bin/pip" install -q --no-deps "$work"/dist/miscomp-*.whl
site=$("$work/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$DEV_SITE" > "$site/zz-dev-dependencies.pth"
cd "$work"
where=$("$work/venv/bin/python" -c 'import miscomp; print(miscomp.__file__)')
case "$where" in
  "$site"/*) ;;
  *) echo "check_wheel: miscomp imported from $where, not from the wheel" >&2; exit 1 ;;
esac
env -u MISCOMP_MODELS_DIR -u MISCOMP_DATASET_MANIFESTS OMP_NUM_THREADS=1 \
  "$work/venv/bin/miscomp" scan --out "$work/run" --codec bmshj2018-factorized:q=1 --detector diff --quiet
"$work/venv/bin/python" - "$work/run" <<'PY'
import json, sys
from pathlib import Path
import pandas as pd
run = Path(sys.argv[1])
pairs = pd.read_parquet(run / "pairs.parquet")
info = json.loads((run / "run.json").read_text())
weights = info["codecs"][0]["info"]["weights"]
assert len(pairs) == 6 and (pairs.status == "ok").all(), pairs[["pair_id", "status", "error"]]
assert weights["source"] == "in-house" and "site-packages" in weights["path"], weights
assert (run / "report.html").is_file()
print(f"check_wheel: ok: {len(pairs)} pairs from the installed wheel, weights {weights['path']}")
PY
# the GAN-lite variant (issue 31) resolves from the wheel's package data like q1/q2
env -u MISCOMP_MODELS_DIR OMP_NUM_THREADS=1 "$work/venv/bin/python" -c '
from miscomp.codecs import create_codec
w = create_codec("bmshj2018-factorized:q=1,weights=ganlite").info()["weights"]
assert w["source"] == "in-house" and "site-packages" in w["path"], w
print("check_wheel: ok: ganlite weights from the installed wheel", w["path"])'
"$work/venv/bin/miscomp" dataset list >/dev/null
