"""Do the learned codecs give the same pixels under other CPU kernels, threads and code versions?

Runs a few of the test bed's images through the learned codec settings in subprocesses, one per
setting (an oneDNN / ATen ISA limit, a thread count, another checkout of the code), and compares
the reconstructions with the manifest's sha256 and with each other (max abs diff, share of changed
pixels, bitstream bytes). A second pass decodes the reference setting's bitstreams under each
setting, which separates the decoder's share of a difference from the encoder's.

    python -m benchmarks.realbed_repro [--images ID ...] [--code ROOT ...] [--codec SPEC ...]
                                       [--setting NAME ...] [--env K=V ...] [--name RESULTS_NAME]

    python -m benchmarks.realbed_repro speed     float32 vs float64 seconds on one bed image
    python -m benchmarks.realbed_repro golden    rewrite the determinism test's bitstreams

``--code`` adds checkouts to compare (e.g. ``git worktree add /tmp/old <commit>``); each runs with
its own tree first on ``PYTHONPATH``. The worker (``python benchmarks/realbed_repro.py worker ...``)
imports only ``miscomp.codecs``, so older checkouts work as long as ``create_codec`` exists.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
LEARNED = (
    "taef2:bits=2",
    "taef2:bits=3",
    "taef2:bits=4",
    "bmshj2018-factorized:q=1",
    "bmshj2018-factorized:q=2",
)
IMAGES = ("scene_table2", "scene_signs0", "scene_clocks1", "plate_us_wts_lg_000128")
# The CPU kernel settings this machine can simulate: the reference (all defaults), ISA limits for
# oneDNN (convolutions) and ATen (vectorised elementwise ops), and two threads instead of one.
SETTINGS: dict[str, dict[str, str]] = {
    "default": {},
    "onednn-avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2"},
    "onednn-sse41": {"ONEDNN_MAX_CPU_ISA": "SSE41"},
    "aten-default": {"ATEN_CPU_CAPABILITY": "default"},
    "aten-avx2": {"ATEN_CPU_CAPABILITY": "avx2"},
    "both-avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"},
    "threads2": {"REPRO_THREADS": "2"},
}


def pixel_sha256(rgb: np.ndarray) -> str:
    """As benchmarks.realbed_build.pixel_sha256 (copied: the worker must not import the benchmarks)."""
    digest = hashlib.sha256(f"{rgb.shape}|{rgb.dtype}".encode())
    digest.update(np.ascontiguousarray(rgb).tobytes())
    return digest.hexdigest()


def _tag(spec: str) -> str:
    return spec.replace(":", "_").replace("=", "")


# ---------------------------------------------------------------------------------------------------
# worker: runs in its own process with the environment under test


def worker(images: Path, out: Path, specs: list[str], decode_from: Path | None) -> None:
    import torch

    threads = int(os.environ.get("REPRO_THREADS", "1"))
    if threads != 1:  # the codecs pin torch to one thread on every call; override that pin
        pin = torch.set_num_threads
        torch.set_num_threads = lambda n: pin(threads)  # type: ignore[assignment]
    from miscomp.codecs import base, create_codec

    margins: list[float] = []
    if hasattr(base, "to_pixels"):  # code with the one rounding helper: measure how close it came
        rounding = base.to_pixels

        def watched(x):  # distance of each unclamped value from its rounding boundary, in pixel steps
            v = x.double().mul(255)
            inside = v[(v > 0) & (v < 255)]
            margins.append(float((inside - inside.floor() - 0.5).abs().min()) if inside.numel() else 0.5)
            return rounding(x)

        base.to_pixels = watched
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for spec in specs:
        codec = create_codec(spec)
        for path in sorted(images.glob("*.npy")):
            rgb = np.load(path)
            name = f"{_tag(spec)}__{path.stem}"
            t0 = time.perf_counter()
            if decode_from is None:
                data = codec.compress(rgb)
                (out / f"{name}.bin").write_bytes(data)
            else:
                data = (decode_from / f"{name}.bin").read_bytes()
            t1 = time.perf_counter()
            rec = codec.decompress(data)
            t2 = time.perf_counter()
            np.save(out / f"{name}.npy", rec)
            rows.append({"spec": spec, "image_id": path.stem, "bytes": len(data), "sha256": pixel_sha256(rec),
                         "bitstream_sha256": hashlib.sha256(data).hexdigest(),
                         "round_margin": margins[-1] if margins else None,
                         "encode_s": round(t1 - t0, 3) if decode_from is None else None,
                         "decode_s": round(t2 - t1, 3)})  # fmt: skip
    env = {k: os.environ.get(k) for k in ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY")}
    meta = {"torch_capability": torch.backends.cpu.get_cpu_capability(), "threads": threads, "env": env}
    (out / "rows.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))


# ---------------------------------------------------------------------------------------------------
# driver


def _run_worker(code: Path, env_extra: dict[str, str], images: Path, out: Path, specs: list[str],
                decode_from: Path | None = None) -> dict:  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(code), "OMP_NUM_THREADS": "1", **env_extra}
    cmd = [sys.executable, str(Path(__file__).resolve()), "worker", "--images", str(images),
           "--out", str(out), "--codec", *specs]  # fmt: skip
    if decode_from is not None:
        cmd += ["--decode-from", str(decode_from)]
    subprocess.run(cmd, env=env, check=True, cwd=code, stdout=subprocess.DEVNULL)
    return json.loads((out / "rows.json").read_text())


def _compare(a: Path, b: Path, name: str) -> dict:
    x, y = np.load(a / f"{name}.npy").astype(np.int16), np.load(b / f"{name}.npy").astype(np.int16)
    d = np.abs(x - y)
    return {"max_abs": int(d.max()), "changed_share": round(float((d.max(axis=2) > 0).mean()), 5)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", nargs="+", default=list(IMAGES))
    ap.add_argument("--codec", nargs="+", default=list(LEARNED))
    ap.add_argument("--primary", type=Path, default=REPO, help="the checkout the settings run on")
    ap.add_argument("--code", nargs="*", type=Path, default=[], help="other checkouts to compare")
    ap.add_argument("--setting", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    ap.add_argument("--env", action="append", default=[], help="KEY=VALUE for every worker")
    ap.add_argument("--no-decode-ref", action="store_true", help="skip decoding the reference's bitstreams")
    ap.add_argument("--name", default="", help="write benchmarks/results/<name>.json (+ .csv)")
    args = ap.parse_args(argv)

    from benchmarks.realbed_build import load_original, read_manifest
    from miscomp.codecs import create_codec

    base_env = dict(kv.split("=", 1) for kv in args.env)
    manifest = read_manifest()
    by_id = {s["image_id"]: s for s in manifest["images"]}
    # the manifest's tags are the default precision's: look a float32 spec up under that tag
    tags = {s: create_codec(re.sub(r",?precision=\w+", "", s)).tag for s in args.codec}
    tmp = Path(tempfile.mkdtemp(prefix="realbed_repro_"))
    images = tmp / "originals"
    images.mkdir()
    for image_id in args.images:
        rgb, _ = load_original(by_id[image_id])
        np.save(images / f"{image_id}.npy", rgb)

    runs = [(args.primary, s) for s in args.setting] + [(c, "default") for c in args.code]
    ref_dir = tmp / "run0"
    results, rows, ref_bits = {}, [], {}
    for i, (code, setting) in enumerate(runs):
        label = setting if code == args.primary else f"{code}:{setting}"
        out = tmp / f"run{i}"
        env = {**base_env, **SETTINGS[setting]}
        results[label] = _run_worker(code, env, images, out, args.codec)
        if i and not args.no_decode_ref:  # the reference's bitstreams decoded here: the decoder's share
            dec_dir = tmp / f"dec{i}"
            results[label + " (decode ref)"] = _run_worker(code, env, images, dec_dir, args.codec, ref_dir)
        for r in results[label]["rows"]:
            name = f"{_tag(r['spec'])}__{r['image_id']}"
            want = by_id[r["image_id"]]["reconstructions"][tags[r["spec"]]]
            same_bits = r.get("bitstream_sha256") == ref_bits.setdefault(name, r.get("bitstream_sha256"))
            row = {"run": label, **{k: r.get(k) for k in ("spec", "image_id", "bytes", "encode_s", "decode_s",
                                                           "round_margin")},
                   "same_bitstream": same_bits,
                   "manifest_match": r["sha256"] == want["sha256"], "manifest_bytes": want["bytes"],
                   **{f"vs_ref_{k}": v for k, v in _compare(ref_dir, out, name).items()}}  # fmt: skip
            if i and not args.no_decode_ref:
                dec = _compare(ref_dir, tmp / f"dec{i}", name)
                row.update({f"decode_ref_{k}": v for k, v in dec.items()})
            rows.append(row)
        print(f"{label}: {results[label]['meta']}", file=sys.stderr)

    import pandas as pd

    table = pd.DataFrame(rows)
    pd.set_option("display.width", 250)
    print(table.drop(columns=["encode_s", "decode_s"]).to_string(index=False))
    summary = (
        table.groupby("run")
        .agg(
            manifest_match=("manifest_match", "mean"),
            same_bitstream=("same_bitstream", "mean"),
            vs_ref_max_abs=("vs_ref_max_abs", "max"),
            min_round_margin=("round_margin", "min"),
            changed_share=("vs_ref_changed_share", "max"),
            encode_s=("encode_s", "sum"),
            decode_s=("decode_s", "sum"),
        )  # fmt: skip
        .reset_index()
    )
    print(summary.to_string(index=False))
    if args.name:
        from benchmarks.harness import write_results

        found = {"runs": summary.to_dict(orient="records"), "env": base_env, "images": args.images}
        print(write_results(args.name, found, rows))
    return 0


def speed(image_id: str = "plate_us_wts_lg_000128", repeats: int = 2) -> dict:
    """Seconds to encode + decode one bed image with each learned setting in float32 and float64,
    interleaved in one process (the fastest of ``repeats``: the machines are shared)."""
    from benchmarks.realbed_build import load_original, read_manifest
    from miscomp.codecs import create_codec

    spec_of = {s["image_id"]: s for s in read_manifest()["images"]}
    rgb, _ = load_original(spec_of[image_id])
    rows = []
    for spec in LEARNED:
        codecs = {p: create_codec(f"{spec},precision={p}") for p in ("float32", "float64")}
        for codec in codecs.values():
            codec.apply(rgb[:64, :64].copy())  # load the weights outside the timing
        best = {p: float("inf") for p in codecs}
        for _ in range(repeats):
            for p, codec in codecs.items():
                out = codec.apply(rgb)
                best[p] = min(best[p], out.encode_seconds + out.decode_seconds)
        rows.append({"spec": spec, "image_id": image_id, **{f"{p}_s": round(t, 3) for p, t in best.items()},
                     "ratio": round(best["float64"] / best["float32"], 2)})  # fmt: skip
        print(rows[-1])
    total = {p: sum(r[f"{p}_s"] for r in rows) for p in ("float32", "float64")}
    return {"rows": rows, "ratio_all": round(total["float64"] / total["float32"], 2), **total}


GOLDEN = REPO / "tests" / "codecs" / "expected"
GOLDEN_SCENE = ("signs", 0, (slice(136, 200), slice(48, 144)))  # our own rendered scene, 64×96


def write_golden(folder: Path = GOLDEN) -> None:
    """The committed bitstreams tests/codecs/test_determinism.py decodes, and their pixels' sha256.
    Made once (in float64, the default) from a crop of a scene we render; re-run only when the codec's
    output is meant to change, and say so in the commit."""
    from miscomp.codecs import create_codec
    from miscomp.synth.text_scenes import render_scene

    kind, seed, (rows, cols) = GOLDEN_SCENE
    image = np.ascontiguousarray(render_scene(kind, seed).image[rows, cols])
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for spec in LEARNED:
        codec = create_codec(spec)
        data = codec.compress(image)
        rec = codec.decompress(data)
        name = f"{codec.tag}{codec.bitstream_suffix}"
        (folder / name).write_bytes(data)
        entries.append({"file": name, "spec": spec, "shape": list(rec.shape),
                        "pixels_sha256": hashlib.sha256(rec.tobytes()).hexdigest()})  # fmt: skip
    made = f"python -m benchmarks.realbed_repro golden: scene {kind} seed {seed}, "
    made += f"rows {rows.start}:{rows.stop}, cols {cols.start}:{cols.stop}, float64 on an AMD EPYC (AVX-512)"
    record = {"made_by": made, "bitstreams": entries}
    (folder / "determinism.json").write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "golden":
        write_golden()
    elif len(sys.argv) > 1 and sys.argv[1] == "speed":
        from benchmarks.harness import write_results

        found = speed()
        rows = found.pop("rows")
        print(found, write_results("realbed_repro_speed", found, rows))
    elif len(sys.argv) > 1 and sys.argv[1] == "worker":
        ap = argparse.ArgumentParser()
        ap.add_argument("worker")
        ap.add_argument("--images", type=Path, required=True)
        ap.add_argument("--out", type=Path, required=True)
        ap.add_argument("--codec", nargs="+", required=True)
        ap.add_argument("--decode-from", type=Path, default=None)
        a = ap.parse_args()
        worker(a.images, a.out, a.codec, a.decode_from)
    else:
        sys.exit(main())
