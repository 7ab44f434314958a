"""Peak memory of a default scan of one large photo: is 24 MP within 1.5 GB, and what does 100 MP need?

    python -m benchmarks.memory [--images photo,text] [--megapixels 6,24] [--codec jpeg:quality=10]
                                [--detectors none]

Each measurement is one ``miscomp scan`` (default detectors, one worker, default tiling, a fresh run
dir and OCR cache) of one image, run in its own helper process whose only child is the scan, so
``getrusage(RUSAGE_CHILDREN).ru_maxrss`` is exactly the scan's peak resident set. Images:

- ``photo``: a Kodak photo (kodim14) upscaled (cubic) to the size, 3:2 (24 MP = 6000×4000);
- ``text``: the same backdrop with rendered text scenes (``miscomp.synth.text_scenes``, text 6-20 px,
  12 of them) pasted over it: the OCR detector finds text in every tile that holds one.

``--detectors none`` measures everything but detection (reading, the codec, writing the reconstruction,
PSNR/MS-SSIM): at 100 MP the full-size copies of those stages, not the detectors, can set the peak.

The summary fits peak = a + b·MP over the photo sizes and gives the 100 MP estimate, and keeps the
peaks of the file it replaces under ``previous``. Writes benchmarks/results/memory.{json,csv}
(``benchmarks.harness`` envelope).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.harness import REPO, RESULTS, git_commit, set_threads, shared_dir, write_results

# issue 28: a default scan of 24 MP peaks at or below 1.5 GB, read strictly: 1.5e9 bytes, in the MiB
# that ru_maxrss / 1024 gives (1430.5; the looser 1.5 GiB reading, 1536, was used until s35)
TARGET_MB = round(1.5e9 / 2**20, 1)
KODAK_PHOTO = "kodim14.png"


def size_for(megapixels: float) -> tuple[int, int]:
    """(width, height) of a 3:2 image of about ``megapixels``, multiples of 8 (24 → 6000×4000)."""
    h = round((megapixels * 1e6 / 1.5) ** 0.5 / 8) * 8
    return round(1.5 * h / 8) * 8, h


def make_image(kind: str, megapixels: float, path: Path) -> tuple[int, int]:
    from PIL import Image

    width, height = size_for(megapixels)
    photo = Image.open(shared_dir(f"data/kodak/{KODAK_PHOTO}") / "data" / "kodak" / KODAK_PHOTO)
    canvas = photo.convert("RGB").resize((width, height), Image.BICUBIC)
    if kind == "text":
        from miscomp.synth.text_scenes import SCENE_KINDS, render_scene

        rng = np.random.default_rng(28)
        for i in range(12):
            scene = Image.fromarray(render_scene(SCENE_KINDS[i % len(SCENE_KINDS)], i).image)
            x = int(rng.integers(0, width - scene.width))
            y = int(rng.integers(0, height - scene.height))
            canvas.paste(scene, (x, y))
    elif kind != "photo":
        raise SystemExit(f"unknown image kind {kind!r}: expected photo or text")
    canvas.save(path)
    return width, height


def child(image: Path, codec: str, out: Path, detectors: str = "") -> None:
    """Run the scan as this process's only child and print its peak RSS and CPU time as JSON.
    ``detectors``: comma list for ``--detector`` (empty: the scan's defaults)."""
    folder = out / "originals"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / image.name).symlink_to(image.resolve())
    cmd = [sys.executable, "-m", "miscomp", "scan", "--originals", str(folder), "--codec", codec,
           "--out", str(out / "run"), "--cache-dir", str(out / "cache"), "--workers", "1", "--no-report",
           "-q"]  # fmt: skip
    for name in filter(None, detectors.split(",")):
        cmd += ["--detector", name]
    from PIL import Image

    from miscomp.io import DEFAULT_MAX_PIXELS

    with Image.open(image) as im:
        pixels = im.width * im.height
    if pixels > DEFAULT_MAX_PIXELS:  # 100 MP is over the scan's default limit: asked for here
        cmd += ["--max-pixels", str(pixels)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    ran = out / "run" / "run.json"
    names = [d["name"] for d in json.loads(ran.read_text())["detectors"]] if ran.is_file() else []
    print(json.dumps({
        "detectors": ",".join(names) or "none",
        "exit": proc.returncode, "error": proc.stderr.strip().splitlines()[-1:] if proc.returncode else [],
        "peak_rss_mb": round(usage.ru_maxrss / 1024), "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "wall_s": round(time.perf_counter() - t0, 1),
    }))  # fmt: skip


def measure(kind: str, megapixels: float, codec: str, tmp: Path, detectors: str = "") -> dict:
    image = tmp / f"{kind}-{megapixels:g}mp.png"
    width, height = make_image(kind, megapixels, image)
    out = tmp / f"scan-{kind}-{megapixels:g}"
    res = subprocess.run(
        [sys.executable, "-m", "benchmarks.memory", "child", str(image), codec, str(out), detectors],
        env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    row = json.loads(res.stdout.strip().splitlines()[-1])
    commit, dirty = git_commit()
    image.unlink()  # a 100 MP PNG is ~0.3 GB of temporary disk
    return {"image": kind, "megapixels": round(width * height / 1e6, 2), "width": width, "height": height,
            "codec": codec, **row, "load": round(os.getloadavg()[0], 2),
            "miscomp_code": commit[:7] + ("+dirty" if dirty else "")}  # fmt: skip


def summarise(rows: list[dict], previous: dict | None = None) -> dict:
    """Peaks per image and size; the 24 MP verdict and the fit over scans with detectors only (a row
    with ``detectors`` "none" is keyed ``..._no_detectors``). ``previous``: the summary of the file
    this one replaces, whose peaks (and commit) are kept under ``previous``."""
    done = [r for r in rows if r["exit"] == 0]
    ok = [r for r in done if r.get("detectors", "") != "none"]
    summary: dict = {"target_mb": TARGET_MB}
    for r in done:
        bare = "_no_detectors" if r.get("detectors", "") == "none" else ""
        summary[f"peak_mb_{r['image']}_{r['megapixels']:g}mp{bare}"] = r["peak_rss_mb"]
    at24 = [r["peak_rss_mb"] for r in ok if abs(r["megapixels"] - 24) < 0.5]
    if at24:
        summary["peak_mb_24mp_max"] = max(at24)
        summary["within_target_24mp"] = max(at24) <= TARGET_MB
    photo = sorted((r["megapixels"], r["peak_rss_mb"]) for r in ok if r["image"] == "photo")
    if len({mp for mp, _ in photo}) >= 2:
        slope, base = np.polyfit([mp for mp, _ in photo], [mb for _, mb in photo], 1)
        summary |= {"mb_per_megapixel": round(float(slope), 1), "base_mb": round(float(base)),
                    "estimate_100mp_mb": round(float(base + 100 * slope))}  # fmt: skip
    if previous:
        summary["previous"] = {k: v for k, v in previous.items() if k.startswith(("peak_mb_", "git_commit"))}
    return summary


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    set_threads()
    if args and args[0] == "child":
        child(Path(args[1]), args[2], Path(args[3]), args[4] if len(args) > 4 else "")
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", default="photo,text", help="comma list of photo, text")
    ap.add_argument(
        "--megapixels", default="6,24", help="sizes for the photo; text is measured at the largest"
    )
    ap.add_argument("--codec", default="jpeg:quality=10")
    ap.add_argument("--detectors", default="", help="comma list for --detector (default: the scan's; none)")
    ap.add_argument(
        "--append", action="store_true",
        help="keep the results file's rows; the summary takes the latest of each image, size and detectors",
    )  # fmt: skip
    ap.add_argument("--out", type=Path, default=None, help="results folder (default benchmarks/results)")
    a = ap.parse_args(args)
    sizes = sorted(float(v) for v in a.megapixels.split(","))
    rows = []
    with tempfile.TemporaryDirectory(prefix="miscomp-memory-") as d:
        for kind in a.images.split(","):
            for mp in sizes if kind == "photo" else sizes[-1:]:
                row = measure(kind, mp, a.codec, Path(d), a.detectors)
                print(row, flush=True)
                rows.append(row)
    old = (a.out or RESULTS) / "memory.json"
    previous, earlier = None, []
    if old.is_file():
        data = json.loads(old.read_text())
        previous = data["summary"] | {"git_commit": data["metadata"].get("git_commit", "")}
        if a.append:
            earlier, previous = data["rows"], data["summary"].get("previous")
    rows = earlier + rows
    # the latest measurement of each image, size and detector set
    latest = {(r["image"], r["megapixels"], r.get("detectors", "")): r for r in rows}
    summary = summarise(list(latest.values()), previous)
    print(summary)
    write_results("memory", summary, rows, results_dir=a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
