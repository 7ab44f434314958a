"""Train in-house CompressAI codecs (CPU) and export shippable weights.

    # q1 then q2, 55 min each, one process; resumes from .work/train/<arch>-q<N>/checkpoint.pt
    OMP_NUM_THREADS=1 .venv/bin/python models/train_compressai.py train --quality 1 2 --minutes 55
    # checkpoint -> models/<arch>-q<N>-miscomp.pth (update(force=True), fp16 transforms)
    .venv/bin/python models/train_compressai.py export --quality 1
    # miscompression-aware fine-tune of the shipped q1 (issue 31; models/README.md, "Aware fine-tune")
    # (session 37's shipped run: the rate held at the base's by --rate-target tune)
    nice -n 5 .venv/bin/python models/train_compressai.py train --quality 1 --minutes 0 --max-steps 1300 \
        --init-weights miscomp/data/weights/bmshj2018-factorized-q1-miscomp.pth --aware-term edge-rel \
        --aware-lambda 0.15 --aware-size-ref 16 --rate-target tune --lr 2e-4 --warmup 20 \
        --workdir .work/aware-s37
    .venv/bin/python models/train_compressai.py export --quality 1 --workdir .work/aware-s37 \
        --out-dir .work/aware-s37 --suffix aware --settle-steps 1000

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

    from miscomp.training.loop import estimated_bits

    img = np.asarray(Image.open(path).convert("RGB"))
    h, w = img.shape[:2]
    crop = img[h // 2 - 128 : h // 2 + 128, w // 2 - 128 : w // 2 + 128]
    x = torch.from_numpy(crop.transpose(2, 0, 1).copy()).float().unsqueeze(0) / 255

    def monitor(model) -> dict[str, float]:
        device = next(model.parameters()).device
        out = model(x.to(device))
        n = x.shape[2] * x.shape[3]
        bpp = estimated_bits(out) / n
        mse = float(torch.mean((out["x_hat"].clamp(0, 1).cpu() - x) ** 2))
        return {
            "monitor_image": path.name,
            "monitor_bpp": round(bpp, 4),
            "monitor_psnr": round(10 * np.log10(1 / mse), 3),
        }

    return monitor


def _tune_text_monitor():
    """Estimated bpp of the real-codec test bed's *tune* text images (scenes and plate crops), logged at
    checkpoints so a run can be rate-matched on the tune split while it trains (never on held-out)."""
    import sys

    import torch

    sys.path.insert(0, str(REPO))
    from benchmarks.realbed_build import load_original, read_manifest
    from miscomp.training.loop import estimated_bits

    xs = []
    for s in read_manifest()["images"]:
        if s["split"] == "tune" and s["source"] in ("scene", "plates"):
            rgb, _ = load_original(s)
            h, w = (rgb.shape[0] // 64) * 64, (rgb.shape[1] // 64) * 64
            xs.append(torch.from_numpy(rgb[:h, :w].transpose(2, 0, 1).copy()).float().unsqueeze(0) / 255)

    def bpp(model) -> float:
        device = next(model.parameters()).device
        bits = pixels = 0.0
        for x in xs:
            out = model(x.to(device))
            bits += estimated_bits(out)
            pixels += x.shape[2] * x.shape[3]
        return bits / pixels

    def monitor(model) -> dict[str, float]:
        return {"tune_text_bpp": round(bpp(model), 4)}

    monitor.bpp = bpp  # the unrounded rate: --rate-target tune's signal
    return monitor


def _aware_set(base, plates: Path | None, text_share: float, size_ref_px: float = 0.0):
    """The text crops of the aware fine-tune: rendered scenes away from every evaluated seed, and plate
    photos of the real-codec test bed's *tune* split only (its split rule, applied to every photo)."""
    import sys

    sys.path.insert(0, str(REPO))  # benchmarks/ holds the test bed's split rule
    from benchmarks.realbed_build import split_of
    from miscomp.training.data import AwareTrainingSet, TextCropConfig, plate_text_crops, text_scene_crops

    def keep(ref: str) -> bool:
        region, name = ref.split("/", 1)
        return split_of("plate_" + region + "_" + Path(name).stem.replace("-", "_")) == "tune"

    # the ordinary plate crops too: nothing the aware model is measured on is trained on
    if "plates" in base.groups:
        kept = [i for i, n in enumerate(base.names["plates"]) if keep(n)]
        base.groups["plates"] = [base.groups["plates"][i] for i in kept]
        base.names["plates"] = [base.names["plates"][i] for i in kept]
    cfg = TextCropConfig(size_ref_px=size_ref_px)
    text = [text_scene_crops(range(cfg.train_seed0, cfg.train_seed0 + cfg.scenes_per_kind), cfg)]
    if plates is not None and plates.exists():
        text.append(plate_text_crops(plates, keep, cfg))
    return AwareTrainingSet(base, text, text_share)


def main(argv: list[str] | None = None) -> int:
    from miscomp.training.aware import AWARE_TERMS

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
        "--init-weights", type=Path, default=None,
        help="start a new run from these weights (a checkpoint or a shipped .pth state dict)",
    )  # fmt: skip
    t.add_argument("--lmbda", type=float, default=None, help="MSE weight λ (default: CompressAI's table)")
    t.add_argument("--warmup", type=int, default=100, help="linear warm-up steps")
    t.add_argument("--log-every", type=int, default=50, help="steps between log lines")
    t.add_argument(
        "--aware-term", default="none", choices=AWARE_TERMS,
        help="miscompression-aware term on text masks (miscomp/training/aware.py)",
    )  # fmt: skip
    t.add_argument(
        "--aware-lambda", type=float, default=0.0, help="weight of the aware term (× the MSE weight)"
    )  # fmt: skip
    t.add_argument(
        "--aware-text-share", type=float, default=0.5, help="share of each batch that is text crops"
    )  # fmt: skip
    t.add_argument(
        "--aware-size-ref", type=float, default=0.0,
        help="weight text boxes by (REF / character height)^2, clipped (TextCropConfig); 0: all weigh 1",
    )  # fmt: skip
    t.add_argument(
        "--rate-target", default="none", choices=("none", "base", "tune"),
        help="adapt the rate weight μ (dual ascent, loop.RateControl) to hold a rate at its start: "
        "base: the bits on a fixed probe of training text crops; tune: the estimated bpp of the test bed's "
        "tune text images (the tune monitor); needs --aware-term",
    )  # fmt: skip
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
    e.add_argument(
        "--suffix", default="miscomp", help="exported as <arch>-q<N>-<suffix>.pth (aware: 'aware')"
    )
    e.add_argument("--settle-steps", type=int, default=4000, help="quantile-fitting steps at export")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from miscomp.training.loop import TrainConfig, export_weights, train

    if args.cmd == "export":
        for q in args.quality:
            ckpt = args.workdir / f"{args.arch}-q{q}" / "checkpoint.pt"
            out = args.out_dir / f"{args.arch}-q{q}-{args.suffix}.pth"
            print(export_weights(ckpt, out, half=not args.fp32, settle_steps=args.settle_steps), flush=True)
        return 0

    from miscomp.errors import MiscompError
    from miscomp.settings import Settings, resolve_device
    from miscomp.training.data import build_training_set

    try:
        device = resolve_device(args.device or Settings.from_env().device)
    except MiscompError as err:
        p.exit(2, f"error: {err}\n")

    data = build_training_set(None if args.no_plates else args.plates)
    if args.aware_term != "none":
        data = _aware_set(
            data, None if args.no_plates else args.plates, args.aware_text_share, args.aware_size_ref
        )
    print("training set:", data.summary(), flush=True)
    monitor = _monitor(_shared() / "data" / "kodak" / "kodim23.png")
    rate_signal = None
    if args.rate_target != "none" and args.aware_term == "none":
        p.error("--rate-target needs --aware-term (it holds the rate of an aware fine-tune)")
    if args.aware_term != "none":
        kodak_monitor, text_monitor = monitor, _tune_text_monitor()

        def monitor(model):
            return {**(kodak_monitor(model) if kodak_monitor else {}), **text_monitor(model)}

        rate_signal = text_monitor.bpp if args.rate_target == "tune" else None

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
            lmbda=args.lmbda,
            warmup_steps=args.warmup,
            log_every=args.log_every,
            aware_term=args.aware_term,
            aware_lambda=args.aware_lambda,
            aware_text_share=args.aware_text_share,
            rate_target=args.rate_target,
        )
        workdir = args.workdir / cfg.name
        init = previous if args.init_from_previous else args.init_weights
        train(
            cfg, data, workdir, monitor=monitor, log=lambda s: print(s, flush=True), init_from=init,
            device=device, rate_signal=rate_signal,
        )  # fmt: skip
        previous = workdir / "checkpoint.pt"
        if args.export:
            out = REPO / "models" / f"{cfg.name}-miscomp.pth"
            print(export_weights(workdir / "checkpoint.pt", out), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
