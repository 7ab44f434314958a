"""GAN-lite (issue 31, item 3): the perceptual-term choice, and the evidence that it behaves like a GAN codec.

    # which offline perceptual term (blur-vs-drawn-detail preference and CPU cost per training step)
    python -m benchmarks.ganlite perceptual          # -> benchmarks/results/ganlite_perceptual.*
    # bpp / PSNR / high-frequency energy ratio, base vs GAN-lite, Kodak + held-out test-bed scenes
    python -m benchmarks.ganlite eval [--kodak 24]   # -> benchmarks/results/ganlite_eval.* + docs PNG
    # the shipped trace detector (trained without GAN-lite) on the trace corpus's tiles, q1 vs GAN-lite
    python -m benchmarks.ganlite trace-shipped       # -> benchmarks/results/ganlite_trace_shipped.*

The perceptual measurement uses training-set crops only (scikit-image photos, plates, rendered
scenes: ``miscomp.training.data``), never Kodak or the test bed.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from benchmarks.harness import shared_dir, write_results

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("OMP_NUM_THREADS", "1")
OUT = REPO / "benchmarks" / "results"
BASE_SPEC = "bmshj2018-factorized:q=1"
GAN_SPEC = "bmshj2018-factorized:q=1,weights=ganlite"


def _gauss_blur(x, sigma: float = 1.5):
    import torch
    import torch.nn.functional as F

    r = int(3 * sigma)
    t = torch.arange(-r, r + 1, dtype=x.dtype)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    c = x.shape[1]
    x = F.pad(x, (r, r, r, r), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1).contiguous(), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1).contiguous(), groups=c)


def perceptual(args: argparse.Namespace) -> None:
    """For each candidate term d: d(x, blur(x)) / d(x, blur(x) + detail shifted by 3 px).

    Both have the same low frequencies; the second has all of the original's detail, in the wrong
    place (a stand-in for plausible drawn detail). MSE prefers the blur (ratio ≈ 0.5: the shifted
    detail costs twice its energy); a term that makes a decoder draw detail must prefer the second
    (ratio > 1). Cost: seconds per training step (decoder forward + backward through the term, batch 8
    at 128²), on this machine's one thread."""
    import torch

    from miscomp.training.data import build_training_set
    from miscomp.training.gan import PERCEPTUAL, create_perceptual, load_base, quantised_latents

    torch.set_num_threads(1)
    data = build_training_set(shared_dir() / "data" / "plates")
    x = torch.from_numpy(data.sample(np.random.default_rng(0), 16, 128))
    b = _gauss_blur(x)
    shifted = b + torch.roll(x - b, shifts=(3, 3), dims=(2, 3))
    model = load_base(
        "bmshj2018-factorized", 1, REPO / "miscomp/data/weights/bmshj2018-factorized-q1-miscomp.pth"
    )
    model.requires_grad_(False)
    model.g_s.requires_grad_(True)
    rows = []
    cands = {"mse": lambda a, c: ((a - c) ** 2).mean()}
    cands.update({k: create_perceptual(k) for k in PERCEPTUAL if k != "none"})
    for name, d in cands.items():
        with torch.no_grad():
            ratio = float(d(b, x) / d(shifted, x))
        y = quantised_latents(model, x[:8])
        times = []
        for _ in range(2):
            t = time.process_time()
            rec = model.g_s(y)
            (((rec - x[:8]) ** 2).mean() + d(rec, x[:8])).backward()
            times.append(time.process_time() - t)
        rows.append({"term": name, "blur_over_drawn": round(ratio, 3), "step_cpu_s": round(min(times), 2)})
        print(rows[-1], flush=True)
    load = os.getloadavg()[0]
    write_results("ganlite_perceptual", {"crops": 16, "patch": 128, "blur_sigma": 1.5, "shift_px": 3,
                                         "loadavg_1min": round(load, 2)}, rows)  # fmt: skip


def _images(n_kodak: int, scenes: bool) -> list[tuple[str, str, np.ndarray]]:
    """(group, id, RGB): Kodak (never trained on) and the real-codec test bed's held-out text scenes."""
    from PIL import Image

    out = []
    for p in sorted((shared_dir() / "data" / "kodak").glob("kodim*.png"))[:n_kodak]:
        out.append(("kodak", p.stem, np.asarray(Image.open(p).convert("RGB"))))
    if scenes:
        from benchmarks.realbed_build import load_original, read_manifest

        for spec in read_manifest()["images"]:
            if spec["split"] == "heldout" and spec["source"] == "scene":
                out.append(("scene", spec["image_id"], load_original(spec)[0]))
    return out


# Crops for the side-by-side figure (x, y of a 160² window): texture (kodim13's rocks and water,
# kodim08's facades), a face (kodim04), and text (a held-out test-bed scene). Chosen by eye for
# showing detail, before looking at any GAN-lite output.
CROPS = {"kodim13": (300, 80), "kodim08": (420, 200), "kodim04": (180, 140), "scene_signs2": (60, 60)}
CROP = 160


def evaluate(args: argparse.Namespace) -> None:
    """Base vs GAN-lite on the same bitstream: bytes must be equal (GAN-lite's own encoder is checked
    to produce them), PSNR, MS-SSIM and the high-frequency energy ratio of each decode."""
    from miscomp.codecs import create_codec
    from miscomp.metrics import ms_ssim, psnr
    from miscomp.training.gan import hf_energy_ratio

    base, gan = create_codec(BASE_SPEC), create_codec(GAN_SPEC)
    rows, crops = [], {}
    for group, image_id, rgb in _images(args.kodak, not args.no_scenes):
        data = base.compress(rgb)
        same = gan.compress(rgb) == data
        rec_b, rec_g = base.decompress(data), gan.decompress(data)
        row = {"group": group, "image": image_id, "bytes": len(data), "same_bitstream": same,
               "bpp": round(len(data) * 8 / (rgb.shape[0] * rgb.shape[1]), 4)}  # fmt: skip
        for tag, rec in (("base", rec_b), ("ganlite", rec_g)):
            row[f"psnr_{tag}"] = round(psnr(rgb, rec), 3)
            row[f"ms_ssim_{tag}"] = round(ms_ssim(rgb, rec), 4)
            row[f"hf_ratio_{tag}"] = round(hf_energy_ratio(rec, rgb), 4)
        rows.append(row)
        print(row, flush=True)
        if image_id in CROPS:
            x, y = CROPS[image_id]
            crops[image_id] = [im[y : y + CROP, x : x + CROP] for im in (rgb, rec_b, rec_g)]
    import pandas as pd

    df = pd.DataFrame(rows)
    summary = {"base": BASE_SPEC, "ganlite": GAN_SPEC,
               "all_same_bitstream": bool(df["same_bitstream"].all())}  # fmt: skip
    for group, g in df.groupby("group"):
        summary[group] = {"images": len(g), "bpp": round(g["bpp"].mean(), 4)} | {
            f"{m}_{t}": round(float(g[f"{m}_{t}"].mean()), 4)
            for m in ("psnr", "ms_ssim", "hf_ratio") for t in ("base", "ganlite")
        }  # fmt: skip
    write_results("ganlite_eval", summary, rows)
    if args.golden:
        _write_golden(df, rows, gan)
    if crops:
        _figure(crops, args.figure)
    print(summary)


def _write_golden(df, rows: list[dict], gan) -> None:  # noqa: ANN001
    """kodim23's exact bytes and GAN-lite PSNR into the weights' sidecar, as rd_kodak --golden does for
    q1/q2 (tests/codecs/test_ganlite_weights.py checks them)."""
    import json

    from miscomp.io import atomic_write_text, file_sha256

    row = next(r for r in rows if r["image"] == "kodim23")
    path = Path(gan.info()["weights"]["path"])
    meta = json.loads(path.with_suffix(".json").read_text())
    meta["golden"] = {"image": "kodim23.png", "weights_sha256": file_sha256(path), "bytes": row["bytes"],
                      "bpp": row["bpp"], "psnr": round(row["psnr_ganlite"], 4),
                      "ms_ssim": round(row["ms_ssim_ganlite"], 5)}  # fmt: skip
    atomic_write_text(path.with_suffix(".json"), json.dumps(meta, indent=2) + "\n")


def _figure(crops: dict[str, list[np.ndarray]], path: Path) -> None:
    """Rows of original | base | GAN-lite crops, 2× nearest-neighbour so the detail is visible."""
    from PIL import Image, ImageDraw

    z, pad, head = 2, 6, 18
    cell = CROP * z
    w, h = 3 * cell + 4 * pad, len(crops) * (cell + pad) + pad + head
    canvas = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(canvas)
    for i, title in enumerate(("original", "base q1 (MSE)", "GAN-lite (same bitstream)")):
        draw.text((pad + i * (cell + pad) + 4, 3), title, fill="black")
    for r, (name, ims) in enumerate(crops.items()):
        for i, im in enumerate(ims):
            tile = Image.fromarray(np.ascontiguousarray(im)).resize((cell, cell), Image.Resampling.NEAREST)
            canvas.paste(tile, (pad + i * (cell + pad), head + pad + r * (cell + pad)))
        draw.text((pad + 4, head + pad + r * (cell + pad) + 4), name, fill="yellow")
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)


def trace_shipped(args: argparse.Namespace) -> None:
    """The shipped trace model (trained without GAN-lite) on the trace corpus's own tiles (the same 86
    256² tiles, cut and encoded as tiles as ``models/trace_corpus.py`` does), base q1 vs GAN-lite:
    the share of tiles called learned at p = 0.5. Photos were in the model's training corpus (through
    other codecs); the GAN-lite decoder was not."""
    from miscomp.codecs import create_codec
    from miscomp.forensics.features import FEATURES, TILE, tile_features
    from miscomp.forensics.trace import load_model
    from models.trace_corpus import crops, sources

    model = load_model()
    codecs = {"bmshj2018": create_codec(BASE_SPEC), "ganlite": create_codec(GAN_SPEC)}
    rows = []
    for s_i, src in enumerate(sources(shared_dir())):
        n = 1 if src.group == "plates" else 2
        for t_i, tile in enumerate(crops(src.load(), n, seed=s_i)):
            for fam, codec in codecs.items():
                out = codec.apply(tile)
                logit = float(model.logits(tile_features(out.reconstruction)[None].astype(np.float64))[0])
                prob = round(1 / (1 + np.exp(-logit)), 4)
                rows.append({"source": src.source_id, "group": src.group, "tile": t_i, "family": fam,
                             "bpp": round(out.n_bytes * 8 / TILE**2, 4), "prob": prob,
                             "detected": int(logit > 0)})  # fmt: skip
        print(src.source_id, [(r["family"], r["prob"]) for r in rows[-2 * n :]], flush=True)
    import pandas as pd

    df = pd.DataFrame(rows)
    summary = {"model_version": model.version, "features": len(FEATURES)}
    for fam, g in df.groupby("family"):
        summary[fam] = {"tiles": len(g), "detected": int(g["detected"].sum()),
                        "rate": round(float(g["detected"].mean()), 4),
                        "median_prob": round(float(g["prob"].median()), 4)}  # fmt: skip
    write_results("ganlite_trace_shipped", summary, rows)
    print(summary)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("perceptual")
    e = sub.add_parser("eval")
    e.add_argument("--kodak", type=int, default=24, help="the first N Kodak images")
    e.add_argument("--no-scenes", action="store_true", help="skip the test bed's held-out scenes")
    e.add_argument("--golden", action="store_true", help="write kodim23's numbers into the weights' .json")
    e.add_argument("--figure", type=Path, default=REPO / "docs" / "ganlite-crops.png")
    sub.add_parser("trace-shipped")
    args = ap.parse_args()
    {"perceptual": perceptual, "eval": evaluate, "trace-shipped": trace_shipped}[args.cmd](args)


if __name__ == "__main__":
    main()
