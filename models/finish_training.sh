#!/usr/bin/env bash
# Finish the in-house codec training: export the last checkpoints to models/, measure Kodak RD
# (writes benchmarks/results/rd_kodak.*, the model card's table and the golden numbers), run the
# golden test. Run from anywhere, after the training process has ended:
#     bash models/finish_training.sh
# A checkpoint that is not final (training interrupted) is exported anyway and says so
# ("final": false in the sidecar JSON); rerun the train command to continue it.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1
ARCH=${ARCH:-bmshj2018-factorized}
WORK=${WORK:-.work/train}
PY=.venv/bin/python

if pgrep -f "models/train_compressai.py train" >/dev/null; then
    echo "training is still running (pgrep -af train_compressai); wait for it to end" >&2
    exit 1
fi
qualities=()
for q in 1 2 3 4 5 6 7 8; do
    [[ -f "$WORK/$ARCH-q$q/checkpoint.pt" ]] && qualities+=("$q")
done
[[ ${#qualities[@]} -gt 0 ]] || { echo "no checkpoint under $WORK" >&2; exit 1; }
echo "exporting $ARCH q=${qualities[*]}"
$PY models/train_compressai.py export --arch "$ARCH" --quality "${qualities[@]}" --workdir "$WORK"
$PY benchmarks/rd_kodak.py --arch "$ARCH" --quality "${qualities[@]}" --golden --card models/README.md \
    --fp32-checkpoints "$WORK"
.venv/bin/pytest tests/test_inhouse_models.py -q
tail -n 3 "$WORK/train.log" || true
