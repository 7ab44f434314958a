"""Rate–distortion of the in-house learned codecs on Kodak, against JPEG and WebP at matched bpp and
CompressAI's published figures.

    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.rd_kodak            # all 24 images, q1 and q2
    .venv/bin/python -m benchmarks.rd_kodak --images 2 --out /tmp/rd    # quick look

For each in-house model (``models/<arch>-q<N>-miscomp.pth``, loaded through the codec registry,
exactly as ``miscomp scan`` does) every image is compressed to a real bitstream (header included)
and decoded; bpp = 8·bytes / pixels, PSNR and MS-SSIM on the decoded 8-bit RGB.
JPEG (Pillow/libjpeg-turbo, 4:2:0, qualities 1..95) and WebP (Pillow, qualities 0..100 step 2) are
swept per image; "matched bpp" interpolates their PSNR / MS-SSIM linearly in bpp between the two
sweep points that bracket the learned codec's bpp on the *same* image (NaN, flagged, when the
target lies outside the codec's range). CompressAI's published means come from miscomp/refs.py.

Writes rd_kodak.json (the results envelope: summary and one row per image and model), rd_kodak.csv
(the rows), rd_kodak.png (RD
plot), rd_kodak.md (the model card's table) and, with --golden, the golden numbers of kodim23 into
each model's sidecar JSON (tests/test_inhouse_models.py checks them).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import time
from pathlib import Path

import numpy as np

from benchmarks.harness import RESULTS, set_threads, shared_dir, write_results
from miscomp.io import atomic_write_text
from miscomp.metrics import ms_ssim, psnr

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("OMP_NUM_THREADS", "1")


JPEG_QUALITIES = list(range(1, 96))
WEBP_QUALITIES = list(range(0, 101, 2))
GOLDEN_IMAGE = "kodim23"


def _load_images(folder: Path, limit: int) -> dict[str, np.ndarray]:
    from PIL import Image

    paths = sorted(folder.glob("kodim*.png"))[: limit or None]
    if not paths:
        raise SystemExit(f"{folder}: no kodim*.png (set MISCOMP_SHARED or pass --kodak)")
    return {p.stem: np.array(Image.open(p).convert("RGB")) for p in paths}


def _pil_roundtrip(rgb: np.ndarray, fmt: str, quality: int) -> tuple[int, np.ndarray]:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format=fmt, quality=quality)
    n = buf.tell()
    buf.seek(0)
    return n, np.asarray(Image.open(buf).convert("RGB"))


def sweep(images: dict[str, np.ndarray], fmt: str, qualities: list[int]) -> dict[str, list[dict]]:
    """Per image: one point (quality, bpp, psnr) per quality setting."""
    out = {}
    for name, rgb in images.items():
        pts = []
        for q in qualities:
            n, rec = _pil_roundtrip(rgb, fmt, q)
            pts.append({"quality": q, "bpp": 8 * n / (rgb.shape[0] * rgb.shape[1]), "psnr": psnr(rgb, rec)})
        out[name] = pts
    return out


def matched(rgb: np.ndarray, pts: list[dict], fmt: str, target: float) -> dict:
    """PSNR and MS-SSIM of ``fmt`` at exactly ``target`` bpp on this image, interpolated between the
    bracketing sweep points; MS-SSIM is computed only for those two (it is the slow part)."""
    pts = sorted(pts, key=lambda p: p["bpp"])
    lo = [p for p in pts if p["bpp"] <= target]
    hi = [p for p in pts if p["bpp"] >= target]
    if not lo or not hi:
        edge = pts[0] if not lo else pts[-1]
        return {
            "psnr": math.nan,
            "ms_ssim": math.nan,
            "quality": None,
            "reachable": False,
            "nearest_bpp": edge["bpp"],
            "nearest_psnr": edge["psnr"],
        }
    a, b = lo[-1], hi[0]
    t = 0.0 if b["bpp"] == a["bpp"] else (target - a["bpp"]) / (b["bpp"] - a["bpp"])
    ms = [ms_ssim(rgb, _pil_roundtrip(rgb, fmt, p["quality"])[1]) for p in (a, b)]
    return {
        "psnr": a["psnr"] + t * (b["psnr"] - a["psnr"]),
        "ms_ssim": ms[0] + t * (ms[1] - ms[0]),
        "quality": f"{a['quality']}..{b['quality']}",
        "reachable": True,
    }


def run_model(
    arch: str, q: int, images: dict[str, np.ndarray], weights: str = "miscomp"
) -> tuple[list[dict], dict]:
    from miscomp.codecs import create_codec

    codec = create_codec(f"{arch}:q={q}" + ("" if weights == "miscomp" else f",weights={weights}"))
    rows = []
    for name, rgb in images.items():
        t0 = time.perf_counter()
        data = codec.compress(rgb)
        t1 = time.perf_counter()
        rec = codec.decompress(data)
        t2 = time.perf_counter()
        rows.append(
            {
                "image": name,
                "codec": f"{arch}-q{q}",
                "bytes": len(data),
                "bpp": 8 * len(data) / (rgb.shape[0] * rgb.shape[1]),
                "psnr": psnr(rgb, rec),
                "ms_ssim": ms_ssim(rgb, rec),
                "encode_s": t1 - t0,
                "decode_s": t2 - t1,
            }
        )
    return rows, codec.info()


def _mean_curve(sw: dict[str, list[dict]], qualities: list[int]) -> dict[str, list[float]]:
    return {
        "quality": qualities,
        "bpp": [float(np.mean([sw[n][i]["bpp"] for n in sw])) for i in range(len(qualities))],
        "psnr": [float(np.mean([sw[n][i]["psnr"] for n in sw])) for i in range(len(qualities))],
    }


def markdown(rows: list[dict], means: dict[str, dict], n_images: int, refs: dict) -> str:
    lines = []
    for model, m in means.items():
        ref = refs.get(model)
        lines += [
            f"#### {model} ({n_images} Kodak images)",
            "",
            "| image | bytes | bpp | PSNR dB | MS-SSIM | JPEG PSNR @bpp | JPEG MS-SSIM "
            "| WebP PSNR @bpp | WebP MS-SSIM |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in (r for r in rows if r["codec"] == model):
            lines.append(
                f"| {r['image']} | {r['bytes']} | {r['bpp']:.4f} | {r['psnr']:.2f} | {r['ms_ssim']:.4f} | "
                f"{_f(r['jpeg_psnr'], 2)} | {_f(r['jpeg_ms_ssim'], 4)} | {_f(r['webp_psnr'], 2)} | "
                f"{_f(r['webp_ms_ssim'], 4)} |"
            )
        lines.append(
            f"| **mean** | {m['bytes']:.0f} | **{m['bpp']:.4f}** | **{m['psnr']:.2f}** | "
            f"**{m['ms_ssim']:.4f}** | {_f(m['jpeg_psnr'], 2)} ({m['jpeg_reachable']}/{n_images}) | "
            f"{_f(m['jpeg_ms_ssim'], 4)} | {_f(m['webp_psnr'], 2)} ({m['webp_reachable']}/{n_images}) | "
            f"{_f(m['webp_ms_ssim'], 4)} |"
        )
        if ref:
            lines += [
                "",
                f"CompressAI published, same architecture and quality (mean of 24): "
                f"{ref['bpp']:.4f} bpp, {ref['psnr']:.2f} dB, MS-SSIM {ref['ms_ssim']:.4f}.",
            ]
        lines.append("")
    return "\n".join(lines)


def _f(v: float, d: int) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{d}f}"


def plot(path: Path, means: dict[str, dict], jpeg: dict, webp: dict, refs_all: dict, n: int) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.4), dpi=110, layout="constrained")
    ax_p, ax_m = fig.subplots(1, 2)
    xmax = max(1.0, 2.0 * max(m["bpp"] for m in means.values()))
    for curve, label, style in ((jpeg, "JPEG (ours, Pillow)", "C1-"), (webp, "WebP (ours, Pillow)", "C2-")):
        pts = [(b, p) for b, p in zip(curve["bpp"], curve["psnr"], strict=True) if b <= xmax]
        ax_p.plot(*zip(*pts, strict=True), style, lw=1.5, label=label)
    for key, style in (("bmshj2018-factorized", "C0--"), ("jpeg", "C1:"), ("webp", "C2:")):
        ref = refs_all.get(key)
        if ref is None:
            continue
        keep = [i for i, b in enumerate(ref.bpp) if b <= xmax]
        ax_p.plot(
            [ref.bpp[i] for i in keep],
            [ref.psnr[i] for i in keep],
            style,
            marker=".",
            label=f"CompressAI published: {ref.label}",
        )
        ax_m.plot(
            [ref.bpp[i] for i in keep],
            [ref.ms_ssim[i] for i in keep],
            style,
            marker=".",
            label=f"CompressAI published: {ref.label}",
        )
    xs = [m["bpp"] for m in means.values()]
    ax_p.plot(xs, [m["psnr"] for m in means.values()], "C3o-", ms=8, lw=2, label="in-house (miscomp)")
    ax_m.plot(xs, [m["ms_ssim"] for m in means.values()], "C3o-", ms=8, lw=2, label="in-house (miscomp)")
    for fmt, style in (("jpeg", "C1s"), ("webp", "C2s")):
        # a baseline mean over a minority of the images would mislead: the table has them per image
        pts = [
            (m["bpp"], m[f"{fmt}_psnr"], m[f"{fmt}_ms_ssim"])
            for m in means.values()
            if m[f"{fmt}_reachable"] >= n / 2
        ]
        if pts:
            label = f"{fmt.upper()} @ matched bpp (mean of images where reachable)"
            ax_p.plot([b for b, _, _ in pts], [p for _, p, _ in pts], style, label=label)
            ax_m.plot([b for b, _, _ in pts], [m for _, _, m in pts], style, label=label)
    for name, m in means.items():
        ax_p.annotate(
            name.rsplit("-", 1)[-1], (m["bpp"], m["psnr"]), textcoords="offset points", xytext=(6, -10)
        )
    ax_p.set(xlabel="bits per pixel", ylabel="PSNR-RGB (dB)", title="Kodak (mean of images)", xlim=(0, xmax))
    ax_m.set(xlabel="bits per pixel", ylabel="MS-SSIM (RGB)", title="Kodak MS-SSIM", xlim=(0, xmax))
    for ax in (ax_p, ax_m):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.savefig(path)


def main(argv: list[str] | None = None) -> int:
    shared = shared_dir()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kodak", type=Path, default=shared / "data" / "kodak")
    p.add_argument("--arch", default="bmshj2018-factorized")
    p.add_argument("--quality", type=int, nargs="+", default=[1, 2])
    p.add_argument("--images", type=int, default=0, help="first N images only (0: all 24)")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--golden", action="store_true", help=f"write {GOLDEN_IMAGE}'s numbers to models/*.json")
    p.add_argument("--card", type=Path, default=None, help="model card whose RD table to replace")
    p.add_argument(
        "--fp32-checkpoints",
        type=Path,
        default=None,
        help="training dir: also measure the fp32 export on the first 6 images (fp16 check)",
    )
    args = p.parse_args(argv)

    set_threads(1)
    from miscomp.report.refs import kodak_refs

    images = _load_images(args.kodak, args.images)
    t_start = time.perf_counter()
    rows, infos, means = [], {}, {}
    jpeg_sw = sweep(images, "JPEG", JPEG_QUALITIES)
    webp_sw = sweep(images, "WEBP", WEBP_QUALITIES)
    for q in args.quality:
        model_rows, infos[f"{args.arch}-q{q}"] = run_model(args.arch, q, images)
        for r in model_rows:
            rgb = images[r["image"]]
            for fmt, sw in (("jpeg", jpeg_sw), ("webp", webp_sw)):
                m = matched(rgb, sw[r["image"]], fmt.upper(), r["bpp"])
                r.update(
                    {
                        f"{fmt}_psnr": m["psnr"],
                        f"{fmt}_ms_ssim": m["ms_ssim"],
                        f"{fmt}_quality": m["quality"],
                        f"{fmt}_reachable": m["reachable"],
                    }
                )
        rows += model_rows
    refs_all = kodak_refs()
    refs = {}
    for q in args.quality:
        name = f"{args.arch}-q{q}"
        mr = [r for r in rows if r["codec"] == name]
        ref = refs_all.get(args.arch)
        if ref is not None and q <= len(ref.bpp):
            refs[name] = {"bpp": ref.bpp[q - 1], "psnr": ref.psnr[q - 1], "ms_ssim": ref.ms_ssim[q - 1]}
        mean = {
            k: float(np.mean([r[k] for r in mr]))
            for k in ("bytes", "bpp", "psnr", "ms_ssim", "encode_s", "decode_s")
        }
        for fmt in ("jpeg", "webp"):
            ok = [r for r in mr if r[f"{fmt}_reachable"]]
            mean[f"{fmt}_reachable"] = len(ok)
            # mean over the images where the baseline reaches the bpp; the learned codec's mean over the same
            # images is given beside it so the comparison is like for like
            mean[f"{fmt}_psnr"] = float(np.mean([r[f"{fmt}_psnr"] for r in ok])) if ok else math.nan
            mean[f"{fmt}_ms_ssim"] = float(np.mean([r[f"{fmt}_ms_ssim"] for r in ok])) if ok else math.nan
            mean[f"psnr_on_{fmt}_reachable"] = float(np.mean([r["psnr"] for r in ok])) if ok else math.nan
        means[name] = mean
    fp16_check = {}
    if args.fp32_checkpoints is not None:
        fp16_check = _fp16_check(args, images, rows)
    args.out.mkdir(parents=True, exist_ok=True)
    jpeg_curve, webp_curve = _mean_curve(jpeg_sw, JPEG_QUALITIES), _mean_curve(webp_sw, WEBP_QUALITIES)
    doc = {
        "images": list(images),
        "kodak": str(args.kodak),
        "models": infos,
        "means": means,
        "compressai_published": refs,
        "jpeg_mean_curve": jpeg_curve,
        "webp_mean_curve": webp_curve,
        "fp16_vs_fp32": fp16_check,
        "per_image": rows,
        "wall_s": round(time.perf_counter() - t_start, 1),
        "notes": "bpp from the whole bitstream incl. miscomp's header; JPEG/WebP PSNR/MS-SSIM "
        "interpolated at the learned codec's bpp per image; baseline means over images where the bpp "
        "is reachable.",
    }
    write_results("rd_kodak", {k: v for k, v in doc.items() if k != "per_image"}, rows, results_dir=args.out)
    plot(args.out / "rd_kodak.png", means, jpeg_curve, webp_curve, refs_all, len(images))
    atomic_write_text(args.out / "rd_kodak.md", markdown(rows, means, len(images), refs))
    if args.golden:
        _write_golden(args, rows)
    if args.card is not None:
        update_card(args.card, doc, markdown(rows, means, len(images), refs))
    for name, m in means.items():
        ref = refs.get(name, {})
        print(
            f"{name}: {m['bpp']:.4f} bpp  {m['psnr']:.2f} dB  MS-SSIM {m['ms_ssim']:.4f} | JPEG@bpp "
            f"{m['jpeg_psnr']:.2f} dB ({m['jpeg_reachable']} img; ours on those "
            f"{m['psnr_on_jpeg_reachable']:.2f}) | WebP@bpp {m['webp_psnr']:.2f} dB "
            f"({m['webp_reachable']} img) "
            f"| CompressAI {ref.get('bpp', math.nan):.4f} bpp {ref.get('psnr', math.nan):.2f} dB"
        )
    if fp16_check:
        print("fp16 vs fp32:", fp16_check)
    print(f"wrote {args.out}/rd_kodak.{{json,csv,png,md}} in {doc['wall_s']} s")
    return 0


def _fp16_check(args, images: dict[str, np.ndarray], rows: list[dict]) -> dict:
    import tempfile

    from miscomp.training.loop import export_weights

    subset = dict(list(images.items())[:6])
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for q in args.quality:
            name = f"{args.arch}-q{q}"
            path = Path(tmp) / f"{name}-fp32.pth"
            export_weights(args.fp32_checkpoints / name / "checkpoint.pt", path, half=False)
            fp32_rows, _ = run_model(args.arch, q, subset, weights=str(path))
            fp16 = {r["image"]: r for r in rows if r["codec"] == name}
            out[name] = {
                "images": len(subset),
                "psnr_fp16_minus_fp32_db": float(
                    np.mean([fp16[r["image"]]["psnr"] - r["psnr"] for r in fp32_rows])
                ),
                "bpp_fp16_minus_fp32": float(
                    np.mean([fp16[r["image"]]["bpp"] - r["bpp"] for r in fp32_rows])
                ),
            }
    return out


CARD_BEGIN, CARD_END = "<!-- rd_kodak:begin -->", "<!-- rd_kodak:end -->"


def update_card(card: Path, doc: dict, table: str) -> None:
    """Replace the generated block of the model card (between the markers) with this run's numbers."""
    text = card.read_text()
    if CARD_BEGIN not in text or CARD_END not in text:
        raise SystemExit(f"{card}: markers {CARD_BEGIN} / {CARD_END} not found")
    lines = ["_Generated by `benchmarks/rd_kodak.py`; do not edit by hand._", ""]
    lines.append(
        "| model | steps | train min | bpp | PSNR dB | MS-SSIM | JPEG dB @bpp | WebP dB @bpp | "
        "CompressAI published (bpp / dB / MS-SSIM) |"
    )
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for name, m in doc["means"].items():
        meta = _sidecar(name)
        ref = doc["compressai_published"].get(name)
        ref_txt = f"{ref['bpp']:.4f} / {ref['psnr']:.2f} / {ref['ms_ssim']:.4f}" if ref else "n/a"
        lines.append(
            f"| {name} | {meta.get('steps', '?')} | {meta.get('train_minutes', '?')} | {m['bpp']:.4f} | "
            f"{m['psnr']:.2f} | {m['ms_ssim']:.4f} | {_vs(m, 'jpeg', len(doc['images']))} | "
            f"{_vs(m, 'webp', len(doc['images']))} | {ref_txt} |"
        )
    fp = doc.get("fp16_vs_fp32") or {}
    if fp:
        lines += [
            "",
            "fp16 transforms minus fp32 (mean over the first images): "
            + "; ".join(
                f"{k}: {v['psnr_fp16_minus_fp32_db']:+.4f} dB, {v['bpp_fp16_minus_fp32']:+.5f} bpp "
                f"({v['images']} img)"
                for k, v in fp.items()
            ),
        ]
    lines += ["", "Per image:", "", table, "", "![RD plot](../benchmarks/results/rd_kodak.png)"]
    head, rest = text.split(CARD_BEGIN, 1)
    tail = rest.split(CARD_END, 1)[1]
    card.write_text(head + CARD_BEGIN + "\n" + "\n".join(lines) + "\n" + CARD_END + tail)


def _vs(m: dict, fmt: str, n: int) -> str:
    """Baseline mean at matched bpp, with ours over the same images (like for like)."""
    ours = _f(m[f"psnr_on_{fmt}_reachable"], 2)
    return f"{_f(m[f'{fmt}_psnr'], 2)} (ours {ours}; {m[f'{fmt}_reachable']}/{n} img)"


def _sidecar(name: str) -> dict:
    from miscomp.weights import models_dir

    path = models_dir() / f"{name}-miscomp.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _write_golden(args, rows: list[dict]) -> None:
    from miscomp.weights import file_sha256, inhouse_path

    for q in args.quality:
        name = f"{args.arch}-q{q}"
        r = next((r for r in rows if r["codec"] == name and r["image"] == GOLDEN_IMAGE), None)
        sidecar = inhouse_path(args.arch, q).with_suffix(".json")
        if r is None or not sidecar.exists():
            continue
        meta = json.loads(sidecar.read_text())
        meta["golden"] = {
            "image": f"{GOLDEN_IMAGE}.png",
            "weights_sha256": file_sha256(inhouse_path(args.arch, q)),
            "bytes": r["bytes"],
            "bpp": round(r["bpp"], 6),
            "psnr": round(r["psnr"], 4),
            "ms_ssim": round(r["ms_ssim"], 5),
        }
        sidecar.write_text(json.dumps(meta, indent=2) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
