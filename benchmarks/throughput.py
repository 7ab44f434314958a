"""Throughput of a scan: workers curve, per-stage time, naive vs miscomp, peak memory, cost growth.

One run measures, on this machine, in this order:

1. **scaling**: pairs/s of ``run_scan`` with the default detectors vs ``--workers`` 1..usable cores, on
   ``--images`` Kodak photos × 4 codecs (JPEG q10, WebP q5, bmshj2018-factorized q1, TAEF2 3 bits when
   its weights are found, else JPEG 2000), each run in a fresh run directory with a fresh OCR cache;
2. **stages**: the same pairs once more, serially, with a timer around each stage of a pair (read,
   encode, decode, metrics, diff, OCR original, OCR reconstruction, crops, store);
3. **naive vs miscomp** on the same labelled pairs: Kodak photos with a line of text drawn in, each
   codec's reconstruction with one character swapped (the swapped glyph compressed by the same codec,
   as in ``benchmarks.generators.truth``). Naive: full OCR of both images for every pair (detection and
   recognition, no cache), serial; miscomp: the default OCR (the original read once per image,
   recognition of each reconstruction in the original's boxes). Both run the diff detector too and
   compare reads with the same code, so recall differences come from the reading strategy only;
4. **memory**: peak RSS of ``miscomp scan`` on one photo upscaled to 1, 12 and 24 MP (JPEG q10,
   default detectors, one worker), with the default tiling;
5. **growth**: scan time for (images, codecs) = (1, 1), (1, 4), (2, 4) at one worker;
6. **marginal**: detection CPU seconds of a 12 MP photo (kodim14 upscaled) through its first codec
   and through one more (JPEG q10, then WebP q5, each with its rate as ``run_pair`` passes it), default
   detectors and tiling, codec time excluded: what each further codec of a scan costs once the
   original has been read.

The machine is shared with other agents while this runs: ``loadavg`` is recorded beside every timing.
Run:  .venv/bin/python -m benchmarks.throughput [--images 4] [--text-images 4] [--skip-memory]
Writes benchmarks/results/throughput.{json,png}.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

os.environ.setdefault("OMP_NUM_THREADS", "1")

from benchmarks.harness import set_threads, write_results  # noqa: E402
from miscomp.codecs import create_codec  # noqa: E402
from miscomp.crops import write_crops  # noqa: E402
from miscomp.detect import PairImages, build_detectors  # noqa: E402
from miscomp.executors import usable_cores  # noqa: E402
from miscomp.geometry import Box  # noqa: E402
from miscomp.io import read_image  # noqa: E402
from miscomp.metrics import ms_ssim, psnr  # noqa: E402
from miscomp.pairs import PairRecord, make_pair_id  # noqa: E402
from miscomp.run import ScanConfig, run_scan  # noqa: E402
from miscomp.store import ResultStore  # noqa: E402
from miscomp.synth.scenes import render_text_box  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MISCOMP_SHARED", REPO.parent / "shared"))
OUT = REPO / "benchmarks" / "results"
KODAK = SHARED / "data" / "kodak"
STAGES = (
    "read",
    "encode",
    "decode",
    "metrics",
    "diff",
    "ocr_original",
    "ocr_reconstruction",
    "crops",
    "store",
)


def codec_specs() -> list[str]:
    taef2 = os.environ.get("MISCOMP_TAEF2_DIR") or str(SHARED / "models" / "taef2")
    if Path(taef2).is_dir():
        os.environ["MISCOMP_TAEF2_DIR"] = taef2
        fourth = "taef2:bits=3"
    else:
        fourth = "jpeg2000:ratio=80"
    return ["jpeg:quality=10", "webp:quality=5", "bmshj2018-factorized:q=1", fourth]


# Several rates per codec, as a codec check runs them ("several codecs × several rates"): after the 4
# main codecs, 8 more settings make the 12 of the earlier runs (kept first, so their subset stays
# comparable), and 12 more make 24: JPEG and WebP at 6 rates each, JPEG 2000 at 4, AVIF at 3, TAEF2 at
# 3 and bmshj2018 at the 2 rates it has in-house weights for. A rate-distortion curve has 6-8 points.
MORE_SETTINGS = ["jpeg:quality=30", "webp:quality=20", "bmshj2018-factorized:q=2", "jpeg2000:ratio=80",
                 "jpeg:quality=50", "webp:quality=50", "jpeg2000:ratio=30", "avif:quality=20",
                 "taef2:bits=2", "taef2:bits=4", "jpeg:quality=20", "jpeg:quality=70", "jpeg:quality=90",
                 "webp:quality=35", "webp:quality=75", "webp:quality=90", "jpeg2000:ratio=50",
                 "jpeg2000:ratio=10", "avif:quality=40", "avif:quality=60"]  # fmt: skip


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def kodak_dir(tmp: Path, n: int) -> Path:
    folder = tmp / f"kodak{n}"
    folder.mkdir(parents=True, exist_ok=True)
    for p in sorted(KODAK.glob("kodim*.png"))[:n]:
        shutil.copy(p, folder / p.name)
    return folder


def scan(tmp: Path, name: str, originals: Path, codecs: list[str], workers: int) -> dict:
    out = tmp / name
    cfg = ScanConfig(
        out=out, originals=originals, codecs=tuple(codecs), cache_dir=tmp / f"cache-{name}", quiet=True,
        report=False, workers=workers,
    )  # fmt: skip
    before = load()
    summary = run_scan(cfg)
    pairs = summary.pairs_done
    return {
        "name": name, "workers": workers, "pairs": pairs, "seconds": summary.seconds,
        "pairs_per_s": round(pairs / summary.seconds, 4), "findings": summary.findings,
        "errors": summary.errors, "loadavg_before": before, "loadavg_after": load(),
    }  # fmt: skip


# ---- per-stage time ---------------------------------------------------------------------------------


def stages(tmp: Path, originals: Path, codecs: list[str]) -> dict:
    """run_pair's work, stage by stage, serially, with a fresh OCR cache."""
    detectors, _ = build_detectors(["diff", "ocr"], tmp / "cache-stages", device="cpu")
    diff, ocr = detectors
    run_dir = tmp / "stages"
    store = ResultStore(run_dir)
    sources = [create_codec(s, device="cpu") for s in codecs]
    t = dict.fromkeys(STAGES, 0.0)
    n_pairs = 0

    def timed(stage: str, fn, *a):
        t0 = time.perf_counter()
        value = fn(*a)
        t[stage] += time.perf_counter() - t0
        return value

    for path in sorted(originals.glob("*.png")):
        image = timed("read", read_image, path)
        for codec in sources:
            pair_id = make_pair_id(path.stem, codec.tag)
            data = timed("encode", codec.compress, image.rgb)
            rec = timed("decode", codec.decompress, data)
            timed("metrics", lambda o, r: (psnr(o, r), ms_ssim(o, r)), image.rgb, rec)
            images = PairImages(pair_id, image.rgb, rec, image.sha256, codec.tag, None)
            found = timed("diff", diff.detect, images)
            timed("ocr_original", ocr.read_original, images)  # cached after the first codec
            found += timed("ocr_reconstruction", ocr.detect, images)  # the original's read: from memory
            for f in found:
                timed("crops", write_crops, run_dir, f, image.rgb, rec)
            h, w = image.rgb.shape[:2]
            record = PairRecord(
                pair_id=pair_id, image_id=path.stem, original=str(path), reconstruction="", bitstream="",
                codec=codec.name, codec_tag=codec.tag, params="{}", width=w, height=h, bytes=len(data),
                bpp=len(data) * 8 / (h * w), psnr=0.0, ms_ssim=0.0, encode_s=None, decode_s=None,
                detect_s=None, n_findings=len(found), status="ok", error="", original_sha256=image.sha256,
                original_metadata="{}", notes="",
            )  # fmt: skip
            timed("store", store.commit, record, found)
            n_pairs += 1
    total = sum(t.values())
    return {
        "pairs": n_pairs,
        "seconds": {k: round(v, 3) for k, v in t.items()},
        "per_pair_s": {k: round(v / n_pairs, 4) for k, v in t.items()},
        "share": {k: round(v / total, 4) for k, v in t.items()},
        "total_s": round(total, 2),
        "loadavg_after": load(),
    }


# ---- naive vs miscomp on labelled symbol changes ---------------------------------------------------

_SWAP = {"0": "8", "8": "3", "3": "8", "1": "7", "7": "1", "5": "6", "6": "5", "B": "8", "E": "F", "F": "E",
         "P": "R", "R": "P", "C": "G", "G": "C", "D": "O", "O": "D"}  # fmt: skip


def labelled_pairs(n_images: int, codecs: list[str], seed: int = 17) -> list[dict]:
    """Per Kodak photo: a text line drawn into the original; per codec: that codec's reconstruction
    with one character swapped (the swapped line compressed by the same codec, spliced in)."""
    rng = np.random.default_rng(seed)
    out = []
    coders = [create_codec(s, device="cpu") for s in codecs]
    for p in sorted(KODAK.glob("kodim*.png"))[:n_images]:  # kodim01, kodim02, ...
        base = np.asarray(Image.open(p).convert("RGB"))
        h, w = base.shape[:2]
        text = "".join(rng.choice(list("0123456789BEFPRCGDO"), size=7))
        size = int(rng.integers(26, 36))
        x, y = int(rng.integers(10, w - size * len(text))), int(rng.integers(10, h - 2 * size))
        orig = render_text_box(base, text, x, y, size)
        for setting, codec in enumerate(coders):
            i = int(rng.integers(len(text)))
            swapped = text[:i] + _SWAP.get(text[i], "8") + text[i + 1 :]
            changed = render_text_box(base, swapped, x, y, size)
            rec = codec.decompress(codec.compress(orig))
            rec_swap = codec.decompress(codec.compress(changed))
            ys, xs = np.nonzero(np.abs(orig.astype(int) - changed.astype(int)).sum(-1) > 0)
            x0, y0, x1, y1 = xs.min() - 2, ys.min() - 2, xs.max() + 3, ys.max() + 3
            rec = rec.copy()
            rec[y0:y1, x0:x1] = rec_swap[y0:y1, x0:x1]
            truth = Box(
                int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)
            )
            out.append({"image": p.stem, "codec": codec.tag, "setting": setting, "orig": orig, "rec": rec,
                        "truth": truth, "change": f"{text}->{swapped}"})  # fmt: skip
    return out


def _detect_pair(k: int, pr: dict, ocr, diff, fresh: bool) -> dict:
    """Both detectors on one pair, timed apart (wall and CPU seconds of this process: every model
    runs on one thread, so on a quiet machine they agree; under load CPU time is the steadier)."""
    import hashlib

    w0, c0 = time.perf_counter(), time.process_time()
    if fresh:  # naive: no cache, the original is read and its diff maps made again for every pair
        ocr.clear_cache()
        diff.clear_cache()
    sha = hashlib.sha256(pr["orig"].tobytes()).hexdigest()
    images = PairImages(f"p{k}", pr["orig"], pr["rec"], sha, pr["codec"], None)
    found = diff.detect(images)
    w1, c1 = time.perf_counter(), time.process_time()
    found += ocr.detect(images)
    w2, c2 = time.perf_counter(), time.process_time()
    sym = [f for f in found if f.symbol]
    return {
        "diff": w1 - w0, "ocr": w2 - w1, "diff_cpu": c1 - c0, "ocr_cpu": c2 - c1,
        "hit": any(f.box.overlaps(pr["truth"]) for f in sym),
        "false": sum(not f.box.overlaps(pr["truth"]) for f in sym),
    }  # fmt: skip


def _summary(rows: list[dict]) -> dict:
    wall = [r["diff"] + r["ocr"] for r in rows]
    cpu = [r["diff_cpu"] + r["ocr_cpu"] for r in rows]
    hits = sum(r["hit"] for r in rows)
    return {
        "seconds": round(sum(wall), 2), "cpu_seconds": round(sum(cpu), 2),
        "ocr_seconds": round(sum(r["ocr"] for r in rows), 2),
        "ocr_cpu_seconds": round(sum(r["ocr_cpu"] for r in rows), 2),
        "diff_seconds": round(sum(r["diff"] for r in rows), 2),
        "diff_cpu_seconds": round(sum(r["diff_cpu"] for r in rows), 2),
        "pairs": len(rows), "symbol_recall": round(hits / len(rows), 4), "symbol_hits": hits,
        "false_symbol_findings": sum(r["false"] for r in rows),
        "per_pair_s": [round(x, 3) for x in wall], "per_pair_cpu_s": [round(x, 3) for x in cpu],
        "per_pair_ocr_s": [round(r["ocr"], 3) for r in rows],
        "per_pair_ocr_cpu_s": [round(r["ocr_cpu"], 3) for r in rows],
        "hit": [r["hit"] for r in rows], "loadavg_after": load(),
    }  # fmt: skip


COLUMNS = {"seconds": "per_pair_s", "cpu_seconds": "per_pair_cpu_s", "ocr_seconds": "per_pair_ocr_s",
           "ocr_cpu_seconds": "per_pair_ocr_cpu_s"}  # fmt: skip


def _subset(result: dict, pairs: list[dict], keep: list[int]) -> dict:
    """Both pipelines' totals over the pairs ``keep`` (indices) of the same run."""
    out: dict = {"pairs": len(keep)}
    for name in ("naive", "miscomp"):
        r = result[name]
        for key, col in COLUMNS.items():
            out[f"{name}_{key}"] = round(sum(r[col][i] for i in keep), 2)
        out[f"{name}_symbol_recall"] = round(sum(r["hit"][i] for i in keep) / len(keep), 4)
    for key in COLUMNS:
        out[f"speedup_{key}"] = round(out[f"naive_{key}"] / out[f"miscomp_{key}"], 2)
    out["recall_equal_or_better"] = out["miscomp_symbol_recall"] >= out["naive_symbol_recall"]
    return out


def naive_vs_miscomp(tmp: Path, pairs: list[dict]) -> dict:
    """Both pipelines on the same pairs, interleaved (every codec setting of every image; per image
    the 4 main codecs first, then the settings of the earlier 12-setting runs, then the rest).

    Naive: the diff detector and ``ocr:mode=full`` (rapidocr detection and recognition of both
    images, every line, no cache) per pair. Miscomp: the default detectors, diff and ``ocr`` (the
    original read once per image, each reconstruction read only where it matters)."""
    # One diff detector per pipeline: miscomp's keeps the original's maps between codecs, naive's
    # forgets them before every pair.
    (naive_diff,), _ = build_detectors(["diff"], None)
    (diff,), _ = build_detectors(["diff"], None)
    (naive_ocr,), _ = build_detectors(["ocr:mode=full"], None)
    result: dict = {
        "codec_settings_per_image": len({p["codec"] for p in pairs}),
        "images": len({p["image"] for p in pairs}),
        "settings": list(dict.fromkeys(p["codec"] for p in pairs)),
        "measures": "detection per pair (diff + OCR), from handing the pair over to getting its findings; "
        "codecs, metrics, crops and store are outside (the same work in both pipelines)",
    }
    (ours,), _ = build_detectors(["ocr"], tmp / "cache-nvm-all")
    # Interleaved pair by pair (which pipeline goes first alternates), so both see the same load on
    # this shared machine: run one after the other, the load of the moment tilted the wall ratio.
    rows: dict[str, list[dict]] = {"naive": [], "miscomp": []}
    for k, pr in enumerate(pairs):
        order = (("naive", naive_ocr, naive_diff, True), ("miscomp", ours, diff, False))
        for name, ocr, dd, fresh in order if k % 2 == 0 else order[::-1]:
            rows[name].append(_detect_pair(k, pr, ocr, dd, fresh))
    for name in ("naive", "miscomp"):
        result[name] = _summary(rows[name])
        print(name, {k: v for k, v in result[name].items() if not k.startswith("per_")}, flush=True)
    # The same run restricted to each image's first k settings: what a check of k settings costs.
    result["by_settings"] = {
        str(k): _subset(result, pairs, [i for i, p in enumerate(pairs) if p["setting"] < k])
        for k in (4, 12, 24)
        if k <= result["codec_settings_per_image"]
    }
    result["four_codecs"] = result["by_settings"]["4"]
    result["speedup"] = round(result["naive"]["seconds"] / result["miscomp"]["seconds"], 2)
    result["speedup_cpu"] = round(result["naive"]["cpu_seconds"] / result["miscomp"]["cpu_seconds"], 2)
    result["speedup_ocr"] = round(result["naive"]["ocr_seconds"] / result["miscomp"]["ocr_seconds"], 2)
    result["recall_equal_or_better"] = result["miscomp"]["symbol_recall"] >= result["naive"]["symbol_recall"]
    return result


# ---- memory -----------------------------------------------------------------------------------------

SIZES = {1: (1224, 816), 12: (4240, 2832), 24: (6000, 4000)}


def peak_rss(tmp: Path, megapixels: int, detectors: list[str], timeout_s: float) -> dict:
    """Peak RSS of ``miscomp scan`` on one photo upscaled to ``megapixels`` (polled every 0.2 s with
    psutil; ``completed`` False: stopped after ``timeout_s``, the peak is that of the part it did)."""
    import psutil

    src = sorted((SHARED / "data" / "plates").glob("*/*.jpg"))[0]
    folder = tmp / f"mp{megapixels}"
    folder.mkdir(exist_ok=True)
    Image.open(src).convert("RGB").resize(SIZES[megapixels], Image.BICUBIC).save(folder / "photo.png")
    tag = "-".join(detectors)
    cmd = [sys.executable, "-m", "miscomp", "scan", "--originals", str(folder), "--codec", "jpeg:quality=10",
           "--out", str(tmp / f"mem{megapixels}-{tag}"),
           "--cache-dir", str(tmp / f"cache-mem{megapixels}-{tag}"),
           "--workers", "1", "--no-report", "-q"]  # fmt: skip
    for d in detectors:
        cmd += ["--detector", d]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env={**os.environ, "PYTHONPATH": str(REPO)}, stderr=subprocess.PIPE)
    ps, peak, completed = psutil.Process(proc.pid), 0, True
    while proc.poll() is None:
        try:
            peak = max(peak, ps.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        if time.perf_counter() - t0 > timeout_s:
            proc.kill()
            completed = False
            break
        time.sleep(0.2)
    proc.wait()
    return {
        "megapixels": megapixels, "size": list(SIZES[megapixels]), "detectors": detectors,
        "peak_rss_mb": round(peak / 2**20), "seconds": round(time.perf_counter() - t0, 1),
        "completed": completed, "exit": proc.returncode, "loadavg_after": load(),
    }  # fmt: skip


# ---- marginal detection cost of one more codec ------------------------------------------------------

MARGINAL_CODECS = ("jpeg:quality=10", "webp:quality=5")


def marginal(tmp: Path, megapixels: int = 12, codecs: tuple[str, ...] = MARGINAL_CODECS) -> dict:
    """Detection CPU seconds of one photo upscaled to ``megapixels`` through its first codec and through
    each further one, in one process, with the default detectors and tiling run as ``run_pair`` runs
    them: the first codec pays for reading the original (text detection at every scale, cached per
    tile), a further one only for its own comparison. The codecs' own encode/decode is not counted."""
    from dataclasses import replace

    from miscomp.detect.base import merge_by_box
    from miscomp.detect.combine import combine
    from miscomp.run import default_detectors
    from miscomp.tiles import TILES, detect_tiled_counted

    # One thread, as a scan applies it (Settings.threads); OpenCV's default here is one per core.
    set_threads()
    src = KODAK / "kodim14.png"
    rgb = np.asarray(Image.open(src).convert("RGB").resize(SIZES[megapixels], Image.BICUBIC))
    names = default_detectors()
    detectors, _ = build_detectors(names, tmp / "cache-marginal", device="cpu")
    rows = []
    for k, spec in enumerate(codecs):
        coded = create_codec(spec, device="cpu").apply(rgb)
        # The pair's rate, as run_pair passes it: with it the structure and face detectors compare
        # with JPEG at that rate (the null model). Without it (before session 36) the structure
        # detector took the original as its own reference and sent 36 regions of the WebP pair
        # through the taxonomy (8.4 of 16.8 s) that a scan never classifies.
        bpp = coded.n_bytes * 8 / (rgb.shape[0] * rgb.shape[1]) if coded.n_bytes is not None else None
        images = PairImages(f"marginal-{k}", rgb, coded.reconstruction, f"marginal-{megapixels}mp", spec, bpp)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        findings: list = []
        per_detector = {}
        for det in detectors:
            t0 = time.process_time()
            found, _ = detect_tiled_counted(det, replace(images, prior=tuple(findings)), TILES.tile)
            findings = merge_by_box(findings, found)
            per_detector[f"{det.name}_cpu_s"] = round(time.process_time() - t0, 2)
        findings = combine(findings)
        cpu = round(time.process_time() - cpu0, 2)
        rows.append({"codec": spec, "nth": k + 1, "bpp": None if bpp is None else round(bpp, 4), "cpu_s": cpu,
                     **per_detector,
                     "wall_s": round(time.perf_counter() - wall0, 2), "findings": len(findings),
                     "load": load()})  # fmt: skip
        print("marginal", rows[-1], flush=True)
    from benchmarks.harness import git_commit

    return {
        "megapixels": megapixels, "size": list(SIZES[megapixels]), "detectors": names, "rows": rows,
        "git_commit": git_commit()[0][:7], "first_codec_cpu_s": rows[0]["cpu_s"],
        "marginal_cpu_s": round(float(np.mean([r["cpu_s"] for r in rows[1:]])), 2) if len(rows) > 1 else None,
    }  # fmt: skip


# ---- plot -------------------------------------------------------------------------------------------


def plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 4, figsize=(19, 4.2))
    sc = res["scaling"]
    w = [r["workers"] for r in sc]
    ax[0].plot(w, [r["pairs_per_s"] for r in sc], "o-", label="measured (shared machine)")
    ax[0].plot(w, [sc[0]["pairs_per_s"] * x for x in w], "--", color="grey", label="linear")
    ax[0].set(xlabel="workers", ylabel="pairs / s", title=f"scaling, {sc[0]['pairs']} pairs")
    ax[0].legend(fontsize=8)
    st = res["stages"]["per_pair_s"]
    ax[1].barh(list(st), list(st.values()))
    ax[1].set(xlabel="s per pair", title="per-stage time (serial)")
    nv = res["naive_vs_miscomp"]
    ks = [int(k) for k in nv["by_settings"]]
    for key, label in (("seconds", "diff + OCR, wall"), ("cpu_seconds", "diff + OCR, CPU"),
                       ("ocr_seconds", "OCR only, wall")):  # fmt: skip
        ax[2].plot(ks, [nv["by_settings"][str(k)][f"speedup_{key}"] for k in ks], "o-", label=label)
    ax[2].axhline(10, color="red", ls="--", label="10x")
    recall = nv["miscomp"]["symbol_recall"], nv["naive"]["symbol_recall"]
    title = f"naive vs miscomp, {nv['images']} photos; symbol recall {recall[0]:.2f} vs {recall[1]:.2f}"
    ax[2].set(xlabel="codec settings per image", ylabel="naive time / miscomp time", xticks=ks, title=title)
    ax[2].legend(fontsize=8)
    mem = [m for m in res.get("memory", []) if m["peak_rss_mb"]]
    if mem:
        ax[3].plot([m["megapixels"] for m in mem], [m["peak_rss_mb"] for m in mem], "o-")
        ax[3].axhline(2048, color="red", ls="--", label="2 GB")
        ax[3].set(xlabel="megapixels", ylabel="peak RSS (MB)", title="memory, default tiling")
        ax[3].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=4, help="Kodak photos for scaling/stages (of 24)")
    ap.add_argument("--text-images", type=int, default=2, help="Kodak photos for naive vs miscomp")
    ap.add_argument("--settings", type=int, default=24, help="codec settings per photo for naive vs miscomp")
    ap.add_argument("--max-workers", type=int, default=0, help="0: usable cores")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--memory-detectors", default="diff,ocr", help="detectors for the memory scans")
    ap.add_argument("--memory-timeout", type=float, default=3600, help="seconds per memory scan")
    ap.add_argument(
        "--only", default="", help="comma list of sections to run (scaling,stages,naive,memory,growth)"
    )
    args = ap.parse_args()
    only = set(filter(None, args.only.split(",")))
    want = lambda s: not only or s in only  # noqa: E731
    codecs = codec_specs()
    cores = usable_cores()
    out_json = OUT / "throughput.json"
    res = _previous(out_json) if only else {}
    res.update({
        "machine": {"usable_cores": cores, "cpu_count": os.cpu_count(), "loadavg_start": load(),
                    "note": "2 cores shared with other agents while measuring; ~1 core under load"},
        "codecs": codecs,
    })  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="miscomp-throughput-") as d:
        tmp = Path(d)
        kodak = kodak_dir(tmp, args.images)

        def save() -> None:  # after every section: a long run keeps its parts
            write_results("throughput", res, [], csv=False, results_dir=OUT)

        if want("scaling"):
            res["scaling"] = []
            for w in range(1, (args.max_workers or cores) + 1):
                r = scan(tmp, f"w{w}", kodak, codecs, w)
                print("scaling", r, flush=True)
                res["scaling"].append(r)
                save()
        if want("stages"):
            res["stages"] = stages(tmp, kodak, codecs)
            print("stages", res["stages"], flush=True)
            save()
        if want("naive"):
            # TAEF2's further rates only where its weights are (codec_specs falls back to JPEG 2000)
            more = [m for m in MORE_SETTINGS if not m.startswith("taef2") or codecs[3].startswith("taef2")]
            pairs = labelled_pairs(args.text_images, codecs + more[: max(0, args.settings - 4)])
            res["naive_vs_miscomp"] = naive_vs_miscomp(tmp, pairs)
            save()
        if want("growth"):
            res["growth"] = []
            for n_img, n_codec in ((1, 1), (1, 4), (2, 4)):
                r = scan(tmp, f"g{n_img}x{n_codec}", kodak_dir(tmp / f"g{n_img}", n_img), codecs[:n_codec], 1)
                r.update(images=n_img, codecs=n_codec)
                print("growth", r, flush=True)
                res["growth"].append(r)
                save()
        if want("marginal"):
            before = res.get("marginal") or {}
            res["marginal"] = marginal(tmp)
            # The run before this one (its rows and commit), so that a change is read as a ratio.
            kept = ("rows", "first_codec_cpu_s", "marginal_cpu_s", "git_commit")
            res["marginal"]["previous"] = {k: before[k] for k in kept if k in before}
            save()
        if want("memory") and not args.skip_memory:
            res["memory"] = []
            for mp in (1, 12, 24):
                r = peak_rss(tmp, mp, args.memory_detectors.split(","), args.memory_timeout)
                print("memory", r, flush=True)
                res["memory"].append(r)
                save()
    res["machine"]["loadavg_end"] = load()
    write_results("throughput", res, [], csv=False, results_dir=OUT)
    if all(k in res for k in ("scaling", "stages", "naive_vs_miscomp")):
        plot(res, OUT / "throughput.png")
    print(f"wrote {out_json}")


def _previous(path: Path) -> dict:
    """The summary of the last run (sections not re-run this time are kept)."""
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    return data["summary"] if set(data) == {"metadata", "summary", "rows"} else data


if __name__ == "__main__":
    main()
