"""Train in-house CompressAI codecs (CPU) and export shippable weights.

    # q1 then q2, 55 min each, one process; resumes from .work/train/<arch>-q<N>/checkpoint.pt
    OMP_NUM_THREADS=1 .venv/bin/python models/train_compressai.py train --quality 1 2 --minutes 55
    # checkpoint -> models/<arch>-q<N>-miscomp.pth (update(force=True), fp16 transforms)
    .venv/bin/python models/train_compressai.py export --quality 1

The library code is in miscomp/training/ (data.py: training set; loop.py: loss, schedule,
checkpoints, export); this file only parses arguments.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("OMP_NUM_THREADS", "1")


def _shared() -> Path:
    return Path(os.environ.get("MISCOMP_SHARED", REPO.parent / "shared"))


def _monitor(path: Path):
    """Estimated bpp/PSNR of one held-out 256² crop, logged at checkpoints; never used to select."""
    if not path.exists():
        return None
    import numpy as np
    import torch
    from PIL import Image

    img = np.asarray(Image.open(path).convert("RGB"))
    h, w = img.shape[:2]
    crop = img[h // 2 - 128 : h // 2 + 128, w // 2 - 128 : w // 2 + 128]
    x = torch.from_numpy(crop.transpose(2, 0, 1).copy()).float().unsqueeze(0) / 255

    def monitor(model) -> dict[str, float]:
        device = next(model.parameters()).device
        out = model(x.to(device))
        n = x.shape[2] * x.shape[3]
        bpp = sum(float(-torch.log2(v).sum()) for v in out["likelihoods"].values()) / n
        mse = float(torch.mean((out["x_hat"].clamp(0, 1).cpu() - x) ** 2))
        return {
            "monitor_image": path.name,
            "monitor_bpp": round(bpp, 4),
            "monitor_psnr": round(10 * np.log10(1 / mse), 3),
        }

    return monitor


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--arch", default="bmshj2018-factorized")
    t.add_argument("--quality", type=int, nargs="+", default=[1, 2])
    t.add_argument(
        "--minutes",
        type=float,
        nargs="+",
        default=[55.0],
        help="wall-clock budget per model (one value, or one per --quality)",
    )
    t.add_argument(
        "--init-from-previous",
        action="store_true",
        help="start each quality after the first from the previous quality's weights",
    )
    t.add_argument("--max-steps", type=int, default=0)
    t.add_argument(
        "--device", default=None, help="auto | cpu | cuda[:N] (default: $MISCOMP_DEVICE, else auto)"
    )
    t.add_argument("--lr", type=float, default=5e-4)
    t.add_argument("--batch-size", type=int, default=8)
    t.add_argument("--patch", type=int, default=128)
    t.add_argument("--checkpoint-every", type=float, default=300.0, help="seconds")
    t.add_argument("--workdir", type=Path, default=REPO / ".work" / "train")
    t.add_argument("--plates", type=Path, default=_shared() / "data" / "plates")
    t.add_argument("--no-plates", action="store_true", help="train without the AGPL-3.0 plate photos")
    t.add_argument("--export", action="store_true", help="export each model to models/ when done")
    e = sub.add_parser("export")
    e.add_argument("--arch", default="bmshj2018-factorized")
    e.add_argument("--quality", type=int, nargs="+", default=[1, 2])
    e.add_argument("--workdir", type=Path, default=REPO / ".work" / "train")
    e.add_argument("--out-dir", type=Path, default=REPO / "models")
    e.add_argument("--fp32", action="store_true", help="keep fp32 transforms (default: fp16)")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from miscomp.training.loop import TrainConfig, export_weights, train

    if args.cmd == "export":
        for q in args.quality:
            ckpt = args.workdir / f"{args.arch}-q{q}" / "checkpoint.pt"
            out = args.out_dir / f"{args.arch}-q{q}-miscomp.pth"
            print(export_weights(ckpt, out, half=not args.fp32), flush=True)
        return 0

    from miscomp.errors import MiscompError
    from miscomp.settings import Settings, resolve_device
    from miscomp.training.data import build_training_set

    try:
        device = resolve_device(args.device or Settings.from_env().device)
    except MiscompError as err:
        p.exit(2, f"error: {err}\n")

    data = build_training_set(None if args.no_plates else args.plates)
    print("training set:", data.summary(), flush=True)
    monitor = _monitor(_shared() / "data" / "kodak" / "kodim23.png")
    minutes = args.minutes * len(args.quality) if len(args.minutes) == 1 else args.minutes
    if len(minutes) != len(args.quality):
        p.error("--minutes takes one value or one per --quality")
    previous = None
    for q, budget in zip(args.quality, minutes, strict=True):
        cfg = TrainConfig(
            arch=args.arch,
            quality=q,
            lr=args.lr,
            batch_size=args.batch_size,
            patch=args.patch,
            minutes=budget,
            max_steps=args.max_steps,
            checkpoint_every_s=args.checkpoint_every,
        )
        workdir = args.workdir / cfg.name
        init = previous if args.init_from_previous else None
        train(
            cfg, data, workdir, monitor=monitor, log=lambda s: print(s, flush=True), init_from=init,
            device=device,
        )  # fmt: skip
        previous = workdir / "checkpoint.pt"
        if args.export:
            out = REPO / "models" / f"{cfg.name}-miscomp.pth"
            print(export_weights(workdir / "checkpoint.pt", out), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
