"""Build the real-codec test bed (datasets/realbed): originals from Kodak, plate crops, scikit-image and
rendered text scenes, each through the test bed's codecs, into a work folder.

Only small text files are in the repository (``datasets/realbed/manifest.json``, ``labels.csv``); the
images are regenerated here from ``MISCOMP_SHARED`` (Kodak, plates), scikit-image and the scene
renderer, and every original and reconstruction is checked against the sha256 in the manifest, so a
codec that no longer reproduces the labelled output is reported instead of silently scored.

    python -m benchmarks.real_codecs build [--work DIR] [--reviewed-only] [--update-manifest] [--processes N]

Layout of the work folder::

    originals/<image_id>.png
    reconstructions/<codec_tag>/<image_id>.png
    truths/<image_id>.json        (rendered scenes and plates: the known strings and boxes)
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from miscomp.datasets.plates import read_plate_boxes

# A known string (or clock hand) in an original: what the proposal step reads on both sides.
from miscomp.synth.text_scenes import TextItem as Truth

REPO = Path(__file__).resolve().parents[1]
DATASET = REPO / "datasets" / "realbed"
MANIFEST = DATASET / "manifest.json"
LABELS = DATASET / "labels.csv"
# 0.2: the learned codecs' reconstructions are made in float64 (the codecs' default since issue 29), the
# same on every CPU setting measured; 0.1's float32 pixels depended on the CPU (README, "Reproducibility").
VERSION = "0.2"

# The lowest useful rates of the learned codecs we can run, and the ordinary-artefact references.
CODEC_SPECS = (
    "taef2:bits=2",
    "taef2:bits=3",
    "taef2:bits=4",
    "bmshj2018-factorized:q=1",
    "bmshj2018-factorized:q=2",
    "jpeg:quality=10",
    "webp:quality=5",
)
LEARNED_FAMILIES = ("taef2", "bmshj2018")
KODAK_IDS = ("kodim01", "kodim03", "kodim05", "kodim08", "kodim10", "kodim14", "kodim19", "kodim23")
SCENE_SEEDS = (0, 1, 2, 3)
PLATES_PER_REGION = 12
HELDOUT_PERCENT = 40


def shared_dir() -> Path:
    return Path(os.environ.get("MISCOMP_SHARED", REPO.parent / "shared"))


def split_of(image_id: str) -> str:
    """Deterministic split by image: about 40 % of images are held out (no threshold is tuned on them)."""
    h = int(hashlib.sha256(image_id.encode()).hexdigest()[:8], 16)
    return "heldout" if h % 100 < HELDOUT_PERCENT else "tune"


def pixel_sha256(rgb: np.ndarray) -> str:
    """sha256 of the decoded pixels (shape + raw bytes): independent of the PNG encoder's settings."""
    digest = hashlib.sha256(f"{rgb.shape}|{rgb.dtype}".encode())
    digest.update(np.ascontiguousarray(rgb).tobytes())
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------------
# sources


def _plate_rows() -> list[tuple[str, str, int, int, int, int, str]]:
    return [(p.region, p.name, *p.box, p.text) for p in read_plate_boxes(shared_dir() / "data" / "plates")]


def plate_crop(x: int, y: int, w: int, h: int, width: int, height: int) -> tuple[int, int, int, int]:
    """A crop around a plate box, 3× its width and 4× its height (at least 256×160), multiple of 16,
    shifted to stay inside the photo."""
    cw = min(width, max(256, 3 * w)) // 16 * 16
    ch = min(height, max(160, 4 * h)) // 16 * 16
    cx = min(max(0, x + w // 2 - cw // 2), width - cw)
    cy = min(max(0, y + h // 2 - ch // 2), height - ch)
    return cx, cy, cw, ch


def select_images() -> list[dict]:
    """The image list of a NEW manifest (deterministic). An existing manifest is the source of truth."""
    specs: list[dict] = [{"image_id": k, "source": "kodak", "ref": f"{k}.png"} for k in KODAK_IDS]
    specs += [{"image_id": f"skimage_{n}", "source": "skimage", "ref": n} for n in ("text", "page")]
    from miscomp.synth.text_scenes import SCENE_KINDS

    specs += [
        {"image_id": f"scene_{k}{s}", "source": "scene", "ref": k, "seed": s}
        for k in SCENE_KINDS
        for s in SCENE_SEEDS
    ]
    rows = [r for r in _plate_rows() if r[4] >= 70]  # narrower plates are unreadable even uncompressed
    from PIL import Image

    for region in ("us", "eu"):
        mine = sorted(
            (r for r in rows if r[0] == region), key=lambda r: hashlib.sha256(r[1].encode()).hexdigest()
        )
        for reg, name, x, y, w, h, text in mine[:PLATES_PER_REGION]:
            with Image.open(shared_dir() / "data" / "plates" / reg / name) as im:
                width, height = im.size
            crop = plate_crop(x, y, w, h, width, height)
            image_id = "plate_" + reg + "_" + Path(name).stem.replace("-", "_")
            specs.append(
                {"image_id": image_id, "source": "plates", "ref": f"{reg}/{name}", "crop": list(crop),
                 "plate": [x - crop[0], y - crop[1], w, h], "plate_text": text}
            )  # fmt: skip
    for s in specs:
        s["split"] = split_of(s["image_id"])
    return specs


def load_original(spec: dict) -> tuple[np.ndarray, list[Truth]]:
    """Regenerate one original from its manifest entry; returns (RGB uint8, known truths)."""
    from PIL import Image

    source = spec["source"]
    if source == "kodak":
        path = shared_dir() / "data" / "kodak" / spec["ref"]
        return np.asarray(Image.open(path).convert("RGB")), []
    if source == "plates":
        path = shared_dir() / "data" / "plates" / spec["ref"]
        x, y, w, h = spec["crop"]
        rgb = np.asarray(Image.open(path).convert("RGB"))[y : y + h, x : x + w]
        px, py, pw, ph = spec["plate"]
        return np.ascontiguousarray(rgb), [Truth(spec["plate_text"], "number", px, py, pw, ph, char_px=ph)]
    if source == "skimage":
        import skimage.data

        img = getattr(skimage.data, spec["ref"])()
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        return np.ascontiguousarray(img[..., :3]), []
    if source == "scene":
        from miscomp.synth.text_scenes import render_scene

        scene = render_scene(spec["ref"], int(spec["seed"]))
        return scene.image, list(scene.items)
    raise ValueError(f"unknown source {source!r}")


def _missing_source(spec: dict) -> str:
    if spec["source"] == "kodak":
        p = shared_dir() / "data" / "kodak" / spec["ref"]
    elif spec["source"] == "plates":
        p = shared_dir() / "data" / "plates" / spec["ref"]
    else:
        return ""
    return "" if p.exists() else str(p)


# ---------------------------------------------------------------------------------------------------
# build


def read_manifest(path: Path = MANIFEST) -> dict:
    return json.loads(path.read_text())


def learned_precision(manifest: dict) -> str:
    """The arithmetic the manifest's learned reconstructions were made in (0.1 predates the field and
    was made in float32, the codecs' arithmetic then)."""
    return manifest.get("learned_precision", "float32")


def default_work(manifest_path: Path = MANIFEST) -> Path:
    """One work folder per precision, so that a cached reconstruction is never one of the other kind."""
    precision = learned_precision(read_manifest(manifest_path)) if manifest_path.exists() else "float64"
    return REPO / ".work" / f"realbed-{precision}"


DEFAULT_WORK = default_work()


def learned_spec(spec: str, precision: str | None) -> str:
    """``spec`` with ``precision`` added when it names a learned codec (None: the codec's default)."""
    return f"{spec},precision={precision}" if precision and spec.startswith(LEARNED_FAMILIES) else spec


def build(
    work: Path | None = None,
    manifest_path: Path = MANIFEST,
    codecs: tuple[str, ...] | None = None,
    update_manifest: bool = False,
    log: Callable[[str], None] = print,
    pairs: set[tuple[str, str]] | None = None,
    precision: str | None = None,
) -> dict:
    """Write originals, reconstructions and bitstreams into ``work`` (default: .work/realbed-<precision>;
    cached: a pair whose PNG and bitstream exist is re-checked, not recomputed) and check every sha256
    against the manifest, in the manifest's precision. With
    ``update_manifest`` (or when the manifest does not exist yet) record the hashes instead; a manifest
    of an older version is then moved to this one, and the learned codecs' hashes it holds for pairs
    not rebuilt are dropped (they were made by other arithmetic). ``pairs`` ({(image_id, tag)}) limits
    the reconstructions made; ``precision`` runs the learned codecs in another precision (``float32``
    remakes version 0.1's pixels, on the machine that made them) under the default tag.
    Returns {"mismatches": [...], "missing": [...]}."""
    from miscomp.codecs import create_codec
    from miscomp.io import atomic_write_text, read_image, write_png

    os.environ.setdefault("MISCOMP_TAEF2_DIR", str(shared_dir() / "models" / "taef2"))
    new = not manifest_path.exists()
    manifest = (
        {"version": VERSION, "codecs": [], "images": select_images()} if new else read_manifest(manifest_path)
    )
    record = new or update_manifest
    # checking follows the manifest's arithmetic; recording uses the one asked for (default: the codecs')
    precision = precision or (None if record else learned_precision(manifest))
    from miscomp.codecs.base import DEFAULT_PRECISION

    used = precision or DEFAULT_PRECISION
    work = work or REPO / ".work" / f"realbed-{used}"
    stamp = work / "precision.txt"
    held = stamp.read_text().strip() if stamp.exists() else used
    if held != used:
        raise SystemExit(
            f"{work}: holds {held} reconstructions, this build makes {used} ones: pass another --work"
        )
    atomic_write_text(stamp, used + "\n")  # atomic: parallel builds read it while others write it
    specs = list(codecs or manifest.get("codec_specs") or CODEC_SPECS)
    tags = {s: create_codec(s).tag for s in specs}  # the default precision's tags name the labelled pairs
    manifest["codec_specs"] = specs
    manifest["codecs"] = tags
    if record and manifest.get("version") != VERSION:
        _drop_learned_hashes(manifest, tags, pairs)
        manifest["version"] = VERSION
    if record:
        manifest["learned_precision"] = used
    built = {s: create_codec(learned_spec(s, precision)) for s in specs}
    mismatches, missing = [], []
    # held-out images first: a build cut short has made what the held-out figures need
    for n, spec in enumerate(sorted(manifest["images"], key=lambda s: s["split"] != "heldout"), 1):
        image_id = spec["image_id"]
        if pairs is not None and not any(p[0] == image_id for p in pairs):
            continue
        gone = _missing_source(spec)
        if gone:
            missing.append(f"{image_id}: source not found: {gone} (set MISCOMP_SHARED)")
            continue
        rgb, truths = load_original(spec)
        sha = pixel_sha256(rgb)
        spec.update(width=int(rgb.shape[1]), height=int(rgb.shape[0]))
        if record:
            spec["sha256"] = sha
        elif spec.get("sha256") != sha:
            mismatches.append(f"{image_id}: original differs from the manifest")
        orig_path = work / "originals" / f"{image_id}.png"
        if not orig_path.exists():
            write_png(orig_path, rgb)
        if truths:
            (work / "truths").mkdir(parents=True, exist_ok=True)
            truth_rows = json.dumps([t.__dict__ for t in truths], indent=0, ensure_ascii=False)
            (work / "truths" / f"{image_id}.json").write_text(truth_rows)
        recs = spec.setdefault("reconstructions", {})
        for s, codec in built.items():
            tag = tags[s]
            if pairs is not None and (image_id, tag) not in pairs:
                continue
            rec_path = work / "reconstructions" / tag / f"{image_id}.png"
            bits_path = work / "bitstreams" / tag / f"{image_id}{codec.bitstream_suffix}"
            if rec_path.exists() and bits_path.exists():  # bytes: the bitstream's size
                rec, n_bytes = read_image(rec_path).rgb, bits_path.stat().st_size
            else:
                out = codec.apply(rgb)
                rec, n_bytes = out.reconstruction, out.n_bytes
                # the bitstream first, the PNG (written atomically) last: a PNG means both are whole.
                # Kept so that another machine can decode what this one coded.
                bits_path.parent.mkdir(parents=True, exist_ok=True)
                bits_path.write_bytes(out.bitstream or b"")
                write_png(rec_path, rec)
            rsha = pixel_sha256(rec)
            if record or not recs.get(tag, {}).get("sha256"):
                bpp = round(n_bytes * 8 / rgb[..., 0].size, 4)
                recs[tag] = {"sha256": rsha, "bytes": n_bytes, "bpp": bpp}
            elif recs[tag]["sha256"] != rsha:
                mismatches.append(f"{image_id} {tag}: reconstruction differs from the labelled one")
        log(f"[{n}/{len(manifest['images'])}] {image_id}")
    if record or update_manifest:
        manifest_path.parent.mkdir(parents=True, exist_ok=True)
        manifest_path.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    for line in missing + mismatches:
        log("WARNING " + line)
    return {"mismatches": mismatches, "missing": missing}


def build_parallel(processes: int, work: Path | None = None, manifest_path: Path = MANIFEST,
                   pairs: set[tuple[str, str]] | None = None, **kw) -> dict:  # fmt: skip
    """``build`` with the reconstructions made by ``processes`` worker processes (images dealt out in
    turn, held-out first), then one pass that checks or records them all from the cache."""
    from concurrent.futures import ProcessPoolExecutor

    from miscomp.codecs import create_codec
    from miscomp.codecs.base import DEFAULT_PRECISION

    manifest = read_manifest(manifest_path)
    specs = manifest["codec_specs"]
    record = kw.get("update_manifest", False)
    kw["precision"] = kw.get("precision") or (DEFAULT_PRECISION if record else learned_precision(manifest))
    work = work or REPO / ".work" / f"realbed-{kw['precision']}"

    tags = [create_codec(s).tag for s in specs]
    images = sorted(manifest["images"], key=lambda s: (s["split"] != "heldout", s["image_id"]))
    wanted = [
        {(s["image_id"], t) for t in tags if pairs is None or (s["image_id"], t) in pairs} for s in images
    ]
    parts = [set().union(*wanted[i::processes]) for i in range(processes)]
    with ProcessPoolExecutor(processes) as pool:
        jobs = [pool.submit(build, work, manifest_path, None, False, _quiet, part, kw["precision"])
                for part in parts if part]  # fmt: skip
        for job in jobs:
            job.result()
    return build(work, manifest_path, pairs=pairs, **kw)


def _quiet(line: str) -> None:
    pass


def _drop_learned_hashes(manifest: dict, tags: dict[str, str], keep: set[tuple[str, str]] | None) -> None:
    """Forget an older version's learned-codec hashes, except for the pairs about to be rebuilt; the
    next full ``build --update-manifest`` records the rest."""
    learned = {t for s, t in tags.items() if s.startswith(LEARNED_FAMILIES)}
    for spec in manifest["images"]:
        for tag in learned & set(spec.get("reconstructions", {})):
            if keep is None or (spec["image_id"], tag) in keep:
                continue
            spec["reconstructions"][tag] = {"sha256": None, "bytes": None, "bpp": None}


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use: python -m benchmarks.real_codecs build")
