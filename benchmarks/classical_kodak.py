"""Reproduce CompressAI's published Kodak RD tables for JPEG and WebP with miscomp's codec runners.

Our runners must land on the published curve (same library family, Pillow; bpp from real bytes,
PSNR/MS-SSIM on RGB), which checks bpp accounting and metrics end to end. Also measures encode and
decode time per image, quoted as ratios between codecs from this one run.

    .venv/bin/python -m benchmarks.classical_kodak   [--kodak DIR] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

from benchmarks.harness import RESULTS, pyplot, shared_dir, write_results
from miscomp.codecs import create_codec
from miscomp.io import list_images, read_image
from miscomp.metrics import ms_ssim, psnr

QUALITIES = list(range(5, 100, 5))  # CompressAI's grid
REFS = {"jpeg": "compressai-kodak-jpeg.json", "webp": "compressai-kodak-webp.json"}


def run(kodak: Path, shared: Path, out: Path) -> dict:
    images = [read_image(p) for p in list_images(kodak)]
    rows = []
    for codec_name in REFS:
        for q in QUALITIES:
            codec = create_codec(f"{codec_name}:quality={q}")
            for im in images:
                t0 = time.perf_counter()
                data = codec.compress(im.rgb)
                t1 = time.perf_counter()
                rec = codec.decompress(data)
                t2 = time.perf_counter()
                rows.append({
                    "codec": codec_name, "quality": q, "image": im.path.stem,
                    "bpp": len(data) * 8 / (im.width * im.height), "psnr": psnr(im.rgb, rec),
                    "ms_ssim": ms_ssim(im.rgb, rec), "encode_s": t1 - t0, "decode_s": t2 - t1,
                })  # fmt: skip
    table = pd.DataFrame(rows)
    means = table.groupby(["codec", "quality"], as_index=False)[
        ["bpp", "psnr", "ms_ssim", "encode_s", "decode_s"]
    ].mean()
    result: dict = {"images": len(images), "codecs": {}}
    for codec_name, ref_file in REFS.items():
        ref = json.loads((shared / "refs" / ref_file).read_text())
        ours = means[means.codec == codec_name].sort_values("quality")
        res = ref["results"]
        published = pd.DataFrame(
            {"quality": QUALITIES, "bpp": res["bpp"], "psnr": res["psnr-rgb"], "ms_ssim": res["ms-ssim-rgb"]}
        )
        merged = ours.merge(published, on="quality", suffixes=("", "_published"))
        result["codecs"][codec_name] = {
            "reference": ref["description"],
            "max_abs_psnr_diff_db": float((merged.psnr - merged.psnr_published).abs().max()),
            "max_rel_bpp_diff": float(
                ((merged.bpp - merged.bpp_published) / merged.bpp_published).abs().max()
            ),
            "max_abs_ms_ssim_diff": float((merged.ms_ssim - merged.ms_ssim_published).abs().max()),
            "curve": merged.round(5).to_dict(orient="records"),
        }
    enc = means.groupby("codec")[["encode_s", "decode_s"]].median()
    result["speed"] = {
        "median_encode_s": enc.encode_s.to_dict(),
        "median_decode_s": enc.decode_s.to_dict(),
        "webp_encode_vs_jpeg_ratio": float(enc.encode_s["webp"] / enc.encode_s["jpeg"]),
    }
    write_results("classical_kodak", result, rows, results_dir=out)
    _plot(result, out / "classical_kodak.png")
    return result


def _plot(result: dict, path: Path) -> None:
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(6, 4))
    for (name, data), colour in zip(result["codecs"].items(), ("tab:blue", "tab:orange"), strict=False):
        curve = pd.DataFrame(data["curve"])
        ax.plot(curve.bpp, curve.psnr, "o-", ms=3, color=colour, label=f"{name} (miscomp)")
        ax.plot(curve.bpp_published, curve.psnr_published, "x--", ms=4, color=colour, alpha=0.6,
                label=f"{name} (CompressAI published)")  # fmt: skip
    ax.set(xlabel="bpp", ylabel="PSNR-RGB [dB]", title=f"Kodak ({result['images']} images)", xlim=(0, 3))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    shared = shared_dir()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kodak", type=Path, default=shared / "data" / "kodak")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    result = run(args.kodak, shared, args.out)
    for name, data in result["codecs"].items():
        print(f"{name}: max |ΔPSNR| {data['max_abs_psnr_diff_db']:.2f} dB, max |Δbpp|/bpp "
              f"{data['max_rel_bpp_diff']:.1%} vs {data['reference']}")  # fmt: skip


if __name__ == "__main__":
    main()
