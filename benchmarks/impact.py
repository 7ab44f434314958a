"""Machine-perception impact on number plates: at which rate does a codec start changing what an OCR
reads, and how does it compare with JPEG at equal bpp?

    MISCOMP_SHARED=../shared MISCOMP_TAEF2_DIR=../shared/models/taef2 OMP_NUM_THREADS=1 \
        .venv/bin/python -m benchmarks.impact [--limit 12]

For each plate (odd indices of the openalpr set, the subset no OCR threshold was tuned on) a
256×256 region of the photo around the plate (384 px for plates wider than 200 px) is compressed by
every codec of CODECS; bpp is measured on that region's real bitstream. The plate (box + margin,
upscaled to ≥ 240 px wide, as in benchmarks/ocr_plates.py) is read by the default OCR engine
(rapidocr; ``--engine easyocr`` for the other), recognition only in
the plate box, in the original and in each reconstruction. Per codec and rate: mean CER of the
reconstruction's read against the original's read, the exact-read rate, CER against the ground truth
(for context: the reader itself is imperfect), and the share of pairs where miscomp's OCR detector
reports a symbol finding. Writes benchmarks/results/impact.{json,csv,png}.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from benchmarks.harness import pyplot, read_results, write_results
from benchmarks.ocr_plates import crop_plate, load_plates
from miscomp.codecs import create_codec
from miscomp.detect import DETECTORS, PairImages
from miscomp.forensics.impact import ReadPair, log_bpp_axis, read_impact

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("OMP_NUM_THREADS", "1")  # before any library starts its threads


OUT = REPO / "benchmarks" / "results"
CODECS = (
    *(f"jpeg:quality={q}" for q in (5, 10, 15, 20, 30, 50, 70, 90)),
    *(f"webp:quality={q}" for q in (5, 20, 50, 80)),
    "bmshj2018-factorized:q=1",
    "bmshj2018-factorized:q=2",
    *(f"taef2:bits={b}" for b in (2, 3, 4, 6)),
)


def region(photo: np.ndarray, box: tuple) -> tuple[np.ndarray, tuple]:
    x, y, w, h = box
    size = 384 if w > 200 else 256
    H, W = photo.shape[:2]
    x0 = int(np.clip(x + w / 2 - size / 2, 0, max(W - size, 0)))
    y0 = int(np.clip(y + h / 2 - size / 2, 0, max(H - size, 0)))
    return np.ascontiguousarray(photo[y0 : y0 + size, x0 : x0 + size]), (x - x0, y - y0, w, h)


def main() -> None:
    from PIL import Image

    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=12)
    ap.add_argument("--engine", default="", help="OCR engine (default: the ocr detector's default).")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--replot", action="store_true", help="Only redraw impact.png from impact.csv.")
    args = ap.parse_args()
    if args.replot:
        import pandas as pd

        done = read_results(args.out / "impact.json")
        plot(pd.DataFrame(done["rows"]), args.out / "impact.png", done["summary"].get("engine", "easyocr"))
        return
    plates = load_plates()[1::2][: args.limit]
    if not plates:
        raise SystemExit("no plates found (set MISCOMP_SHARED)")
    det = DETECTORS.create("ocr", **({"engine": args.engine} if args.engine else {}))
    codecs = {spec: create_codec(spec) for spec in CODECS}
    pairs: list[ReadPair] = []
    t0 = time.perf_counter()
    for i, plate in enumerate(plates):
        photo = np.asarray(Image.open(plate["image"]).convert("RGB"))
        reg, pbox = region(photo, plate["box"])
        orig_crop, crop_box = crop_plate(reg, pbox)
        orig_read = det.engine.recognize(orig_crop, [crop_box])[0][0]
        image_id = Path(plate["image"]).stem[:12]
        for codec in codecs.values():
            out = codec.apply(reg)
            rec_crop, _ = crop_plate(out.reconstruction, pbox)
            rec_read = det.engine.recognize(rec_crop, [crop_box])[0][0]
            found = det.detect(
                PairImages(f"{image_id}__{codec.tag}", orig_crop, rec_crop, "", codec.tag, None)
            )
            pairs.append(
                ReadPair(
                    image_id,
                    codec.name,
                    codec.tag,
                    out.n_bytes * 8 / (reg.shape[0] * reg.shape[1]),
                    orig_read,
                    rec_read,
                    plate["text"],
                    sum(f.symbol for f in found),
                )
            )
        print(
            f"[{i + 1}/{len(plates)}] {plate['text']} read {orig_read!r} ({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )
    table = read_impact(pairs)
    summary = {
        "plates": len(plates),
        "engine": det.engine.name,
        "codecs": list(CODECS),
        "seconds": round(time.perf_counter() - t0, 1),
        "pairs": [{**p.__dict__, "cer": p.cer, "exact": p.exact} for p in pairs],
    }
    write_results("impact", summary, json.loads(table.to_json(orient="records")), results_dir=args.out)
    plot(table, args.out / "impact.png", det.engine.name)
    print(table.round(3).to_string(index=False))


def plot(table, path: Path, engine: str) -> None:  # noqa: ANN001
    plt = pyplot()

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for codec, g in table.groupby("codec"):
        g = g.sort_values("bpp")
        for ax, col in zip(axes, ("cer", "exact_read_rate", "symbol_share"), strict=True):
            ax.plot(g["bpp"], g[col], marker="o", label=codec)
    titles = (
        "CER of the read vs the original's read",
        "exact-read rate (same read as the original)",
        "share of pairs with symbol findings",
    )
    for ax, title in zip(axes, titles, strict=True):
        log_bpp_axis(ax)
        ax.set_xlabel("bpp (plate region)")
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(
        f"Machine-perception impact on {int(table['pairs'].max())} number plates ({engine})", fontsize=10
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
