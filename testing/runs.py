"""Writes a small but real run directory for the report tests and benchmarks/report_size.py.

Real images go through a real codec; findings sit on the tiles where the reconstruction differs most
(a stand-in for the detectors), with real PNG crops, and the tables are written by the real
``ResultStore``, so the layout is exactly what ``miscomp scan`` writes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from miscomp.codecs import create_codec
from miscomp.crops import write_crops as scan_crops
from miscomp.findings import Category, Finding
from miscomp.metrics import ms_ssim, psnr
from miscomp.pairs import PairRecord, make_pair_id
from miscomp.store import ResultStore
from testing.records import pair_record

CATEGORIES = [c.value for c in Category]
DETECTORS = ("diff", "ocr", "flow")


def top_tiles(orig: np.ndarray, rec: np.ndarray, k: int, tile: int = 32) -> list[tuple[int, int, float]]:
    """The k tiles (x, y, mean abs difference) where the reconstruction differs most."""
    diff = np.abs(orig.astype(np.int16) - rec.astype(np.int16)).mean(axis=2)
    h, w = diff.shape
    tiles = [
        (x, y, float(diff[y : y + tile, x : x + tile].mean()))
        for y in range(0, h - tile + 1, tile)
        for x in range(0, w - tile + 1, tile)
    ]
    return sorted(tiles, key=lambda t: -t[2])[:k]


def write_crops(run_dir: Path, f: Finding, orig: np.ndarray, rec: np.ndarray) -> Finding:
    paths = scan_crops(run_dir, f, orig, rec)  # the crops miscomp scan writes
    return f.with_crops(paths.original, paths.reconstruction, paths.diff, paths.window)


def _pair_row(pair_id: str, image_id: str, original: Path, **kw) -> PairRecord:
    return pair_record(pair_id, image_id=image_id, original=str(original), **kw)


def write_run(
    run_dir: Path,
    originals: Sequence[Path],
    codecs: Sequence[str] = ("jpeg:quality=10", "jpeg:quality=40"),
    findings_per_pair: int = 3,
    external: bool = True,
    error: bool = True,
    drop_one_crop: bool = True,
) -> dict:
    """Write the run; returns what a test needs to check the report against."""
    run_dir.mkdir(parents=True, exist_ok=True)
    store = ResultStore(run_dir)
    expected: dict = {"finding_ids": [], "symbol_ids": [], "error_reasons": [], "pairs": 0}
    codec_meta = []
    loaded = [(p.stem, p, np.asarray(Image.open(p).convert("RGB"))) for p in originals]
    specs: list[tuple[str, object]] = [(s, create_codec(s)) for s in codecs]
    for _spec, codec in specs:
        codec_meta.append({"tag": codec.tag, "name": codec.name, "params": codec.params(), "info": {}})
    first = True
    for image_id, path, orig in loaded:
        h, w = orig.shape[:2]
        for _spec, codec in specs:
            out = codec.apply(orig)
            pair_id = make_pair_id(image_id, codec.tag)
            rec_rel = f"reconstructions/{codec.tag}/{image_id}.png"
            (run_dir / rec_rel).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(out.reconstruction).save(run_dir / rec_rel)
            findings = []
            for i, (x, y, score) in enumerate(top_tiles(orig, out.reconstruction, findings_per_pair)):
                symbol = first and i == 0
                f = Finding(pair_id, DETECTORS[i % len(DETECTORS)], x, y, 32, 32, CATEGORIES[i % 3], symbol,
                            min(1.0, score / 40), f"mean |Δ| {score:.1f} over the tile <b>&amp;</b>",
                            details={"mean_abs_diff": score})  # fmt: skip
                findings.append(write_crops(run_dir, f, orig, out.reconstruction))
            first = False
            store.commit(
                _pair_row(
                    pair_id,
                    image_id,
                    path,
                    reconstruction=rec_rel,
                    codec=codec.name,
                    codec_tag=codec.tag,
                    params=json.dumps(codec.params()),
                    width=w,
                    height=h,
                    bytes=out.n_bytes,
                    bpp=out.n_bytes * 8 / (w * h),
                    psnr=psnr(orig, out.reconstruction),
                    ms_ssim=ms_ssim(orig, out.reconstruction),
                    n_findings=len(findings),
                ),
                findings,
            )
            expected["finding_ids"] += [f.finding_id for f in findings]
            expected["symbol_ids"] += [f.finding_id for f in findings if f.symbol]
            expected["pairs"] += 1
    if external:
        # A reconstruction made elsewhere with no size known: bpp is null.
        image_id, path, orig = loaded[0]
        rec = np.clip(orig.astype(np.int16) + 12, 0, 255).astype(np.uint8)
        rec_rel = f"reconstructions/hific-lo/{image_id}.png"
        (run_dir / rec_rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rec).save(run_dir / rec_rel)
        pair_id = make_pair_id(image_id, "hific-lo")
        f = Finding(pair_id, "diff", 8, 8, 40, 24, "amplitude", False, 0.5, "brightness +12")
        f = write_crops(run_dir, f, orig, rec)
        store.commit(_pair_row(pair_id, image_id, path, reconstruction=rec_rel, codec="external",
                               codec_tag="hific-lo", params=json.dumps({"label": "hific-lo"}),
                               width=orig.shape[1], height=orig.shape[0], psnr=psnr(orig, rec),
                               ms_ssim=ms_ssim(orig, rec), n_findings=1), [f])  # fmt: skip
        expected["finding_ids"].append(f.finding_id)
        expected["pairs"] += 1
        codec_meta.append(
            {"tag": "hific-lo", "name": "external", "params": {"label": "hific-lo"}, "info": {}}
        )
    if error:
        reason = "cannot identify image file (truncated PNG)"
        bad = run_dir.parent / "broken.png"
        store.commit(
            _pair_row(
                make_pair_id("broken", specs[0][1].tag),
                "broken",
                bad,
                codec=specs[0][1].name,
                codec_tag=specs[0][1].tag,
                status="error",
                error=reason,
                n_findings=0,
            ),
            [],
        )
        expected["error_reasons"].append(reason)
        expected["pairs"] += 1
    store.consolidate()
    if drop_one_crop and expected["finding_ids"]:
        for p in (run_dir / "crops").rglob(f"{expected['finding_ids'][-1]}_rec.png"):
            p.unlink()
    skipped = [{"path": str(run_dir.parent / "notes.txt"), "reason": "not an image"}]
    expected["error_reasons"].append("not an image")
    (run_dir / "run.json").write_text(json.dumps({
        "versions": {"miscomp": "0.1.0"}, "arguments": {"codecs": list(codecs)}, "codecs": codec_meta,
        "detectors": list(DETECTORS), "skipped": skipped, "timings": {"total_s": 1.0},
    }, indent=1))  # fmt: skip
    expected["images"] = len(loaded) + (1 if error else 0)
    return expected
