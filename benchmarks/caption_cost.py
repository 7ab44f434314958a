"""What the caption detector costs on a CPU: seconds per batch of region crops, through its own loader.

Two models, both loaded by ``miscomp.detect.captioners.Captioner`` from a folder written with
``save_pretrained`` (no download is possible here):

- ``tiny-blip``: the 2-layer random BLIP the tests use (32×32 input) — what CI pays;
- ``blip-base-arch``: ``BlipConfig()`` defaults, the BLIP-base architecture of
  ``Salesforce/blip-image-captioning-base`` (ViT-B/16 at 384 px, 86 M parameters, + 12-layer
  BERT-base decoder with cross-attention, 138 M) with **random weights**. Compute per token is the
  architecture's, so the time is real; what is not is the caption length: random weights never emit
  end-of-sentence and always generate ``max_new_tokens`` tokens, while real captions stop earlier
  (BLIP's documented example "two cats sleeping on a couch" is 6 tokens). Times are therefore an
  upper bound for the same ``max_new_tokens``.

Beside the measurement, an estimate from the parameter count alone: the ViT encoder needs about
2 × 86 M × 577 tokens ≈ 100 GFLOP per 384 px crop, the decoder 2 × 138 M FLOP per generated token.

One thread (OMP_NUM_THREADS=1), one run per batch size after a warm-up, on the shared 2-core box.
Writes ``results/caption_cost.{json,csv}`` through the harness (summary: per model ``model``,
``family``, ``device``, ``parameters``, ``load_s``, and ``estimate_blip_base_gflop``; rows: ``model``,
``batch`` = crops in one generate call, ``seconds`` for that call, ``seconds_per_crop``, ``tokens`` =
longest caption re-tokenised incl. [CLS]/[SEP]) and ``results/caption_cost.png`` (seconds per batch
against batch size).

    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.caption_cost [--sizes 1 4 8] [--tokens 12]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from benchmarks.harness import RESULTS, pyplot, set_threads, write_results
from miscomp.detect.captioners import Captioner
from tests.detect.tiny_captioners import build_blip  # the tiny model the tests build

REPO = Path(__file__).resolve().parents[1]


def build_blip_base_arch(out: Path) -> Path:
    """BLIP-base's architecture with random weights and a placeholder vocabulary of the same size."""
    import torch
    from transformers import (
        BertTokenizerFast,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessor,
        BlipProcessor,
    )

    if (out / "model.safetensors").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    config = BlipConfig()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    words = specials + [f"w{i}" for i in range(config.text_config.vocab_size - len(specials))]
    (out / "vocab.txt").write_text("\n".join(words) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast.from_pretrained(out)
    torch.manual_seed(0)
    BlipForConditionalGeneration(config).save_pretrained(out)
    BlipProcessor(BlipImageProcessor(size={"height": 384, "width": 384}), tokenizer).save_pretrained(out)
    return out


def time_batches(cap: Captioner, sizes: list[int], crop: int) -> list[dict]:
    rng = np.random.default_rng(0)
    cap([rng.integers(0, 255, (crop, crop, 3), dtype=np.uint8)])  # warm-up
    rows = []
    for n in sizes:
        crops = [rng.integers(0, 255, (crop, crop, 3), dtype=np.uint8) for _ in range(n)]
        t0 = time.perf_counter()
        caps = cap(crops)
        s = time.perf_counter() - t0
        rows.append({"batch": n, "seconds": round(s, 3), "seconds_per_crop": round(s / n, 3),
                     "tokens": max(len(cap.tokenizer(c)["input_ids"]) for c in caps)})  # fmt: skip
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1, 4, 8])
    ap.add_argument(
        "--tokens", type=int, default=12, help="max_new_tokens (random weights always generate this many)"
    )
    ap.add_argument("--work", type=Path, default=Path("/tmp/miscomp_caption_cost"))
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    set_threads(1)
    models = {
        "tiny-blip": build_blip(args.work / "tiny-blip") if not (args.work / "tiny-blip").exists()
        else args.work / "tiny-blip",
        "blip-base-arch": build_blip_base_arch(args.work / "blip-base-arch"),
    }  # fmt: skip
    result = {"what": "caption time per batch of region crops, CPU, 1 thread, random weights",
              "max_new_tokens": args.tokens, "threads": 1, "models": {}}  # fmt: skip
    for name, folder in models.items():
        t0 = time.perf_counter()
        cap = Captioner(str(folder), device="cpu", max_new_tokens=args.tokens)
        load_s = time.perf_counter() - t0
        info = cap.info()
        print(name, info, f"load {load_s:.1f} s", flush=True)
        result["models"][name] = {
            **info,
            "load_s": round(load_s, 2),
            "rows": time_batches(cap, args.sizes, 224),
        }
        del cap
    vit, dec = 86e6, 138e6  # ViT-B/16 encoder; BERT-base decoder with cross-attention (counted)
    result["estimate_blip_base_gflop"] = {
        "per_crop_encoder": round(2 * vit * 577 / 1e9, 1),
        "per_token_decoder": round(2 * dec / 1e9, 2),
    }
    rows = [{"model": name, **row} for name, m in result["models"].items() for row in m.pop("rows")]
    write_results("caption_cost", result, rows, results_dir=args.out)
    plot(rows, result["max_new_tokens"], args.out / "caption_cost.png")


def plot(rows: list[dict], tokens: int, path: Path) -> None:
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(6, 4))
    for name in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == name]
        ax.plot([r["batch"] for r in mine], [r["seconds"] for r in mine], "o-", label=name)
    ax.set_xlabel("crops in one batch (one image side)")
    ax.set_ylabel("seconds per batch (CPU, 1 thread)")
    ax.set_yscale("log")
    ax.set_title(f"caption cost, max_new_tokens={tokens}, random weights")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
