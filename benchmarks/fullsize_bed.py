"""The full-size part of the real-codec test bed (``datasets/realbed/fullsize``): whole car photos,
larger than one 768-px OCR tile, scanned whole.

    python -m benchmarks.fullsize_bed build  [--work .work/fullsize] [--update-manifest]
    python -m benchmarks.fullsize_bed run    [--work ...] [--split all|tune|heldout] [--out DIR]
    python -m benchmarks.fullsize_bed score  RUN_DIR [--out DIR]

The images and codecs are built by ``benchmarks.realbed_build.build`` (the version-1 builder) from this
folder's own manifest: a plate photo is a version-1 ``plates`` entry whose crop is the whole photo. Image
ids are the version-1 plate ids, so a photo falls on the same side of the split (sha256 of the id,
40 % held out) in both parts of the bed. Scoring is version 1's (``benchmarks.realbed_score``) with this
folder's labels and review list.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.realbed_build import REPO, _plate_rows, build, shared_dir, split_of

DATASET = REPO / "datasets" / "realbed" / "fullsize"
MANIFEST = DATASET / "manifest.json"
LABELS = DATASET / "labels.csv"
REVIEW = DATASET / "review.csv"
DEFAULT_WORK = REPO / ".work" / "fullsize"
VERSION = "0.1"
# The codecs that make symbol miscompressions on real photos (datasets/realbed README: TAEF2 garbles
# small text, the in-house MSE codec blurs it away).
CODEC_SPECS = ("taef2:bits=2", "taef2:bits=3", "bmshj2018-factorized:q=1")
OCR_TILE = 768  # miscomp.tiles.DETECTOR_TILE["ocr"]: a photo must need more than one of them
N_PHOTOS = 32


def select_images(n: int = N_PHOTOS) -> list[dict]:
    """Every plate photo of at least 1.5 MP, then photos larger than one OCR tile in sha256 order of
    their id, alternating US and EU, up to ``n``. Deterministic; an existing manifest is the truth."""
    from PIL import Image

    by_photo: dict[tuple[str, str], list] = {}
    for reg, name, x, y, w, h, text in _plate_rows():
        by_photo.setdefault((reg, name), []).append((x, y, w, h, text))
    candidates = []
    for (reg, name), plates in by_photo.items():
        with Image.open(shared_dir() / "data" / "plates" / reg / name) as im:
            width, height = im.size
        if max(width, height) <= OCR_TILE:
            continue
        image_id = "plate_" + reg + "_" + Path(name).stem.replace("-", "_")
        x, y, w, h, text = plates[0]
        candidates.append(
            {"image_id": image_id, "source": "plates", "ref": f"{reg}/{name}", "crop": [0, 0, width, height],
             "plate": [x, y, w, h], "plate_text": text, "_mp": width * height / 1e6, "_reg": reg}
        )  # fmt: skip
    key = lambda s: hashlib.sha256(s["image_id"].encode()).hexdigest()  # noqa: E731
    chosen = sorted((s for s in candidates if s["_mp"] >= 1.5), key=key)
    rest = {
        r: sorted((s for s in candidates if s["_mp"] < 1.5 and s["_reg"] == r), key=key) for r in ("eu", "us")
    }
    turn = 0
    while len(chosen) < n and any(rest.values()):
        region = ("eu", "us")[turn % 2]
        if rest[region]:
            chosen.append(rest[region].pop(0))
        turn += 1
    for s in chosen:
        s.pop("_reg")
        s["split"] = split_of(s["image_id"])
    # held-out photos first, small ones first: a partial build is still a usable held-out bed
    chosen.sort(key=lambda s: (s["split"] != "heldout", s.pop("_mp")))
    return chosen


def _build_part(args: tuple[Path, Path, bool]) -> dict:
    work, part, update = args
    return build(work, part, CODEC_SPECS, update_manifest=update, log=lambda m: print(m, flush=True))


def build_bed(
    work: Path = DEFAULT_WORK, update_manifest: bool = False, processes: int = 1, split: str = "all"
) -> dict:
    """Build (or check) the full-size bed into ``work``; a missing manifest is created first. With
    ``processes`` > 1 the photos are split over that many processes (one thread each), each building
    its share from a part of the manifest; their hashes are merged back into the manifest."""
    from multiprocessing import Pool

    if not MANIFEST.exists():
        MANIFEST.parent.mkdir(parents=True, exist_ok=True)
        manifest = {
            "version": VERSION,
            "codec_specs": list(CODEC_SPECS),
            "codecs": {},
            "images": select_images(),
        }
        MANIFEST.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
        update_manifest = True
    manifest = json.loads(MANIFEST.read_text())
    mine = [s for s in manifest["images"] if split in ("all", s["split"])]
    n = max(1, min(processes, len(mine)))
    parts = []
    for i in range(n):
        part = work / f"manifest-{split}-part{i}.json"
        part.parent.mkdir(parents=True, exist_ok=True)
        part.write_text(json.dumps(manifest | {"images": mine[i::n]}, ensure_ascii=False))
        parts.append(part)
    with Pool(n) as pool:
        results = pool.map(_build_part, [(work, p, update_manifest) for p in parts])
    if update_manifest:
        manifest = json.loads(MANIFEST.read_text())  # another split's build may have merged meanwhile
        done = {}
        for part in parts:
            built = json.loads(part.read_text())
            manifest["codecs"] = built["codecs"]
            done |= {s["image_id"]: s for s in built["images"]}
        manifest["images"] = [done.get(s["image_id"], s) for s in manifest["images"]]
        MANIFEST.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    return {k: [m for r in results for m in r[k]] for k in ("mismatches", "missing")}


def _text_areas(spec: dict, shape: tuple[int, ...]) -> list[tuple[int, int, int, int]]:
    """Where small text is likely on a car photo: around the plate (city line, state name, slogan,
    dealer frame), the plate box grown 1.5 widths sideways and 2 heights up and down."""
    x, y, w, h = spec["plate"]
    x0, y0 = max(0, x - w // 2), max(0, y - 2 * h)
    x1, y1 = min(shape[1], x + w + w // 2), min(shape[0], y + 3 * h)
    return [(x0, y0, x1 - x0, y1 - y0)]


def codec_tags(work: Path, manifest: dict) -> list[str]:
    """The bed's codec tags: the manifest's, or while its first build runs, the work folder's."""
    if manifest.get("codecs"):
        return list(manifest["codecs"].values())
    return sorted(p.name for p in (work / "reconstructions").iterdir() if p.is_dir())


def built_images(work: Path, manifest: dict) -> list[dict]:
    """The manifest's images whose original and every reconstruction are in ``work`` (a partial build
    can be labelled and scanned while the rest is still building)."""
    tags = codec_tags(work, manifest)
    return [
        s
        for s in manifest["images"]
        if (work / "originals" / f"{s['image_id']}.png").exists()
        and all((work / "reconstructions" / t / f"{s['image_id']}.png").exists() for t in tags)
    ]


def propose(work: Path, manifest: dict, split: str = "all", log=print) -> list[dict]:
    """Candidates like version 1's ``propose`` (benchmarks/realbed_label.py), for whole photos: the
    plate's known text, the lines rapidocr finds on the whole photo at scales 1 and 2 (the tool's own
    multi-scale search, ``miscomp.detect.ocr.reading.detect_text``) and at scale 3 around the plate,
    each read on a crop upscaled >= 3x on both sides; a candidate is a line read confidently on the
    original (score >= 0.85, or the known plate text) and differently on a reconstruction."""
    from benchmarks.realbed_label import MIN_DETECTED_SCORE, _iou, candidate_id, norm, read_crop
    from benchmarks.realbed_label import _engine as label_engine
    from miscomp.detect.ocr.engines import create_engine
    from miscomp.detect.ocr.reading import detect_text
    from miscomp.geometry import Box
    from miscomp.io import read_image

    engine, det = label_engine(), create_engine("rapidocr")
    cache_path = work / "reads.json"
    cache: dict[str, list] = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    tags = codec_tags(work, manifest)
    rows: list[dict] = []
    specs = [s for s in built_images(work, manifest) if split == "all" or s["split"] == split]
    for n, spec in enumerate(specs, 1):
        image_id = spec["image_id"]
        orig = read_image(work / "originals" / f"{image_id}.png").rgb
        key = f"det|{image_id}"
        if key not in cache:
            boxes = [b for b, _ in detect_text(det, orig, (1.0, 2.0))]
            for ax, ay, aw, ah in _text_areas(spec, orig.shape):
                area = np.ascontiguousarray(orig[ay : ay + ah, ax : ax + aw])
                boxes += [Box(b.x + ax, b.y + ay, b.w, b.h) for b, _ in detect_text(det, area, (3.0,))]
            cache[key] = [list(map(int, b)) for b in boxes]
        px, py, pw, ph = spec["plate"]
        regions = [{"text": spec["plate_text"], "box": (px, py, pw, ph), "origin": "truth"}]
        for box in map(tuple, cache[key]):
            if any(_iou(box, r["box"]) > 0.3 for r in regions):
                continue
            okey = f"orig|{image_id}|{box}"
            if okey not in cache:
                cache[okey] = list(read_crop(engine, orig, box))
            text, score = cache[okey]
            if score >= MIN_DETECTED_SCORE and len(norm(text)) >= 2:
                regions.append({"text": text, "box": box, "origin": "detected"})
        for r in regions:
            box = r["box"]
            okey = f"orig|{image_id}|{box}"
            if okey not in cache:
                cache[okey] = list(read_crop(engine, orig, box))
            orig_read = cache[okey][0]
            if r["origin"] == "truth" and norm(orig_read) != norm(r["text"]):
                continue  # the plate is not read as what it says even on the original
            for tag in tags:
                rkey = f"rec|{image_id}|{tag}|{box}"
                if rkey not in cache:
                    rec = read_image(work / "reconstructions" / tag / f"{image_id}.png").rgb
                    cache[rkey] = list(read_crop(engine, rec, box))
                rec_read, rec_score = cache[rkey]
                if norm(rec_read) != norm(r["text"]):
                    rows.append({"candidate_id": candidate_id(image_id, tag, box), "image_id": image_id,
                                 "codec_tag": tag, "x": box[0], "y": box[1], "w": box[2], "h": box[3],
                                 "truth": r["text"], "kind": r["origin"], "split": spec["split"],
                                 "orig_read": orig_read, "rec_read": rec_read,
                                 "rec_score": round(rec_score, 3)})  # fmt: skip
        log(f"[{n}/{len(specs)}] {image_id}: {len(regions)} regions, {len(rows)} candidates so far")
        cache_path.write_text(json.dumps(cache))
    return rows


def record_built(work: Path = DEFAULT_WORK, split: str = "all") -> int:
    """Record in the manifest the pixel sha256 of every photo of ``split`` built in ``work`` whose
    hashes it lacks or that ``work`` holds other pixels of (original and each reconstruction), for a
    build cut short before its parts merged: the labels are then tied to the pixels they were made
    on. Byte counts come from the bitstreams the build keeps beside the PNGs (null where there is
    none). Photos of the other split are left alone: two people may build and label the two splits at
    once. Returns the number of photos recorded."""
    from benchmarks.realbed_build import learned_precision, pixel_sha256
    from miscomp.io import read_image

    manifest = json.loads(MANIFEST.read_text())
    stamp = work / "precision.txt"  # the builder's: the arithmetic the learned reconstructions were made in
    held = stamp.read_text().strip() if stamp.exists() else None
    want = learned_precision(manifest)
    if held and held != want:
        raise SystemExit(f"{work}: holds {held} reconstructions, the manifest's are {want}")
    n = 0
    for spec in built_images(work, manifest):
        if split not in ("all", spec["split"]):
            continue
        rgb = read_image(work / "originals" / f"{spec['image_id']}.png").rgb
        name = f"{spec['image_id']}.png"
        tags = codec_tags(work, manifest)
        recs = {t: pixel_sha256(read_image(work / "reconstructions" / t / name).rgb) for t in tags}
        known = spec.get("reconstructions") or {}
        if spec.get("sha256") == pixel_sha256(rgb) and all(
            known.get(t, {}).get("sha256") == h and known[t].get("bytes") is not None for t, h in recs.items()
        ):
            continue
        spec.update(width=int(rgb.shape[1]), height=int(rgb.shape[0]), sha256=pixel_sha256(rgb))
        spec["reconstructions"] = {}
        for t, sha in recs.items():
            bits = sorted((work / "bitstreams" / t).glob(f"{spec['image_id']}.*"))
            n_bytes = bits[0].stat().st_size if bits else None
            bpp = round(n_bytes * 8 / (rgb.shape[0] * rgb.shape[1]), 4) if n_bytes is not None else None
            spec["reconstructions"][t] = {"sha256": sha, "bytes": n_bytes, "bpp": bpp}
        n += 1
    MANIFEST.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    return n


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_build = sub.add_parser("build", help="regenerate originals + reconstructions, verify sha256")
    p_build.add_argument("--work", type=Path, default=DEFAULT_WORK)
    p_build.add_argument("--update-manifest", action="store_true")
    p_build.add_argument("--processes", type=int, default=1, help="build photos in this many processes")
    p_build.add_argument("--split", choices=("tune", "heldout", "all"), default="all")
    p_build.add_argument("--record-built", action="store_true", help="only record the hashes of built photos")
    p_run = sub.add_parser("run", help="scan the reviewed pairs with the default detectors and score")
    p_run.add_argument("--work", type=Path, default=DEFAULT_WORK)
    p_run.add_argument("--run-dir", type=Path, default=None)
    p_run.add_argument("--split", choices=("tune", "heldout", "all"), default="all")
    p_run.add_argument("--detector", dest="detectors", action="append", default=None)
    p_run.add_argument("--out", type=Path, default=None)
    p_prop = sub.add_parser("propose", help="OCR candidates + review sheets for labelling")
    p_prop.add_argument("--work", type=Path, default=DEFAULT_WORK)
    p_prop.add_argument("--split", choices=("tune", "heldout", "all"), default="all")
    p_score = sub.add_parser("score", help="score an existing run dir")
    p_score.add_argument("run_dir", type=Path)
    p_score.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    if args.cmd == "build":
        if args.record_built:
            print(f"{record_built(args.work, args.split)} photos recorded")
            return 0
        res = build_bed(args.work, args.update_manifest, args.processes, args.split)
        return 1 if res["mismatches"] or res["missing"] else 0

    from benchmarks.real_codecs import print_table, run_tool
    from benchmarks.realbed_build import read_manifest

    if args.cmd == "propose":
        import pandas as pd

        from benchmarks.realbed_sheets import contact_sheets

        rows = propose(args.work, read_manifest(MANIFEST), args.split)
        pd.DataFrame(rows).to_csv(args.work / f"candidates-{args.split}.csv", index=False)
        sheets = contact_sheets(args.work, rows, args.work / "sheets" / args.split)
        print(f"{len(rows)} candidates, {len(sheets)} sheets in {args.work / 'sheets' / args.split}")
        return 0
    from benchmarks.realbed_score import load_labels, load_reviewed, score

    manifest = read_manifest(MANIFEST)
    reviewed = load_reviewed(REVIEW) if REVIEW.exists() else None
    meta: dict = {"labels": str(LABELS.relative_to(REPO)), "version": manifest["version"]}
    if args.cmd == "run":
        run_dir = args.run_dir or args.work / "runs" / f"default-{args.split}"
        t0 = time.perf_counter()
        built = manifest | {"images": built_images(args.work, manifest)}
        run_tool(args.work, run_dir, args.detectors, args.split, built, reviewed)
        meta |= {"scan_wall_seconds": round(time.perf_counter() - t0, 1)}
    else:
        run_dir = args.run_dir
    result = score(run_dir, load_labels(LABELS), manifest, reviewed=reviewed)
    meta |= {"run_dir": str(run_dir), "load_average_1min": round(os.getloadavg()[0], 2)}
    if args.out:
        from benchmarks.real_codecs import write_results

        crops, meta["crop_results"] = beside_crops(args.out)
        result["table"] = result["table"] + crops
        write_results(result, args.out, meta, stem="fullsize")
    print_table(result["table"])
    return 0


def beside_crops(results: Path) -> tuple[list[dict], dict]:
    """The version-1 bed's rows over all pairs of each split (crops and scenes, the same default
    detectors; ``real_codecs.json`` in ``results``), as rows of group ``crop_bed``, to be read beside
    the full-size rows (the issue asks for both side by side), and where they come from."""
    path = results / "real_codecs.json"
    if not path.exists():
        return [], {"source": None}
    data = json.loads(path.read_text())
    rows = [r | {"group": "crop_bed", "name": "crops (version 1)"} for r in data["rows"]
            if r.get("group") == "all" and r.get("split") in ("tune", "heldout")]  # fmt: skip
    source = {"source": f"{path.name}", "git_commit": data["metadata"].get("git_commit"),
              "version": data["summary"].get("version")}  # fmt: skip
    return rows, source


if __name__ == "__main__":
    sys.exit(main())
