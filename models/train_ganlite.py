"""Train the GAN-lite decoder (issue 31, item 3) and export it as a shippable weight file. One command:

    MISCOMP_SHARED=../shared OMP_NUM_THREADS=1 nice -n 5 .venv/bin/python models/train_ganlite.py \
        --minutes 40 --workdir .work/ganlite --export miscomp/data/weights/bmshj2018-factorized-q1-ganlite.pth

Fine-tunes only the synthesis transform of the shipped q1 weights (miscomp/training/gan.py); the
encoder and entropy model are copied unchanged, so bitstreams and bpp equal the base's. Resumable:
rerunning continues from ``<workdir>/checkpoint.pt``. ``--device auto`` takes a GPU when present.
Training data: the in-house codec's own training set (miscomp/training/data.py; no Kodak).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("OMP_NUM_THREADS", "1")
BASE = REPO / "miscomp" / "data" / "weights" / "bmshj2018-factorized-q1-miscomp.pth"


def main(argv: list[str] | None = None) -> int:
    from miscomp.training.gan import PERCEPTUAL, GanConfig

    d = GanConfig()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base-weights", type=Path, default=BASE)
    p.add_argument("--minutes", type=float, default=d.minutes, help="wall-clock training budget")
    p.add_argument("--max-steps", type=int, default=0)
    p.add_argument("--perceptual", default=d.perceptual, choices=PERCEPTUAL)
    p.add_argument("--w-mse", type=float, default=d.w_mse)
    p.add_argument("--w-perc", type=float, default=d.w_perc)
    p.add_argument("--w-adv", type=float, default=d.w_adv)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--log-every", type=int, default=d.log_every)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument(
        "--device", default=None, help="auto | cpu | cuda[:N] (default: $MISCOMP_DEVICE, else auto)"
    )
    p.add_argument("--workdir", type=Path, default=REPO / ".work" / "ganlite")
    p.add_argument("--plates", type=Path, default=None, help="default: $MISCOMP_SHARED/data/plates")
    p.add_argument("--no-plates", action="store_true", help="train without the AGPL-3.0 plate photos")
    p.add_argument("--export", type=Path, default=None, help="write the shippable weights here when done")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from miscomp.errors import MiscompError
    from miscomp.settings import Settings, resolve_device
    from miscomp.training.data import build_training_set
    from miscomp.training.gan import export_ganlite, train_ganlite

    try:
        device = resolve_device(args.device or Settings.from_env().device)
    except MiscompError as err:
        p.exit(2, f"error: {err}\n")
    if not args.base_weights.is_file():
        p.exit(2, f"error: {args.base_weights}: base weights not found\n")
    cfg = GanConfig(
        minutes=args.minutes, max_steps=args.max_steps, perceptual=args.perceptual, w_mse=args.w_mse,
        w_perc=args.w_perc, w_adv=args.w_adv, lr=args.lr, batch_size=args.batch_size,
        log_every=args.log_every, seed=args.seed,
    )  # fmt: skip
    shared = Path(os.environ.get("MISCOMP_SHARED", REPO.parent / "shared"))
    plates = None if args.no_plates else (args.plates or shared / "data" / "plates")
    data = build_training_set(plates)
    print(f"[ganlite] device {device}; data {data.summary()}", flush=True)
    cpu0 = time.process_time()
    train_ganlite(
        cfg, data, args.workdir, args.base_weights, log=lambda s: print(s, flush=True), device=device
    )
    print(f"[ganlite] process CPU time this run: {(time.process_time() - cpu0) / 60:.1f} min", flush=True)
    if args.export:
        meta = export_ganlite(args.workdir / "checkpoint.pt", args.base_weights, args.export)
        print(f"[ganlite] exported {meta['file']} sha256 {meta['sha256']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    raise SystemExit(main())
