#!/usr/bin/env bash
# The package works outside this checkout: build the wheel, install it into a fresh venv in a temp
# folder, and run a scan of the bundled default with the in-house learned codec from there.
#
# The fresh venv gets its heavy dependencies (torch, compressai …) from the dev venv through a .pth
# path entry instead of a second multi-GB install; miscomp itself comes only from the wheel (the dev
# venv's editable-install hook is not loaded through a plain path entry), which the script checks.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
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
# every fine-tuned in-house variant in the checkout (weights=aware, weights=ganlite: issue 31) is in the
# wheel, resolves from its package data and codes an image
env -u MISCOMP_MODELS_DIR OMP_NUM_THREADS=1 "$work/venv/bin/python" - "$repo/miscomp/data/weights" <<'PY'
import sys
from pathlib import Path
import numpy as np
from miscomp.codecs import create_codec
from miscomp.weights import INHOUSE_VARIANTS, models_dir
for variant in (v for v in INHOUSE_VARIANTS if v != "miscomp"):
    want = sorted(p.name for p in Path(sys.argv[1]).glob(f"*-q*-{variant}.pth"))
    have = sorted(p.name for p in models_dir().glob(f"*-q*-{variant}.pth"))
    assert have == want, f"{variant} weights in the checkout {want}, in the wheel {have}"
    for name in have:
        arch, q = name.rsplit("-q", 1)[0], int(name.rsplit("-q", 1)[1].split("-")[0])
        codec = create_codec(f"{arch}:q={q},weights={variant}")
        info = codec.info()["weights"]
        assert info["source"] == "in-house" and "site-packages" in info["path"] and info["path"].endswith(name), info
        img = (np.random.default_rng(0).random((64, 96, 3)) * 255).astype(np.uint8)
        assert codec.decompress(codec.compress(img)).shape == img.shape
        print(f"check_wheel: ok: {arch}:q={q},weights={variant} from the wheel, sha256 {info['sha256'][:16]}")
    if not have:
        print(f"check_wheel: no {variant} weights in this checkout (none expected in the wheel)")
PY
"$work/venv/bin/miscomp" dataset list >/dev/null
