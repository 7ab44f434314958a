"""Build the real-codec test bed (datasets/realbed): originals from Kodak, plate crops, scikit-image and
rendered text scenes, each through the test bed's codecs, into a work folder.

Only small text files are in the repository (``datasets/realbed/manifest.json``, ``labels.csv``); the
images are regenerated here from ``MISCOMP_SHARED`` (Kodak, plates), scikit-image and the scene
renderer, and every original and reconstruction is checked against the sha256 in the manifest, so a
codec that no longer reproduces the labelled output is reported instead of silently scored.

    python -m benchmarks.real_codecs build [--out .work/realbed]

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

# A known string (or clock hand) in an original: what the proposal step reads on both sides.
from miscomp.synth.text_scenes import TextItem as Truth

REPO = Path(__file__).resolve().parents[1]
DATASET = REPO / "datasets" / "realbed"
MANIFEST = DATASET / "manifest.json"
LABELS = DATASET / "labels.csv"
DEFAULT_WORK = REPO / ".work" / "realbed"
VERSION = "0.1"

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
    rows = []
    for txt in sorted((shared_dir() / "data" / "plates").glob("*/*.txt")):
        for line in txt.read_text().splitlines():
            parts = line.strip().split("\t")
            if len(parts) == 6:
                name, x, y, w, h, text = parts
                rows.append((txt.parent.name, name, int(x), int(y), int(w), int(h), text))
    return rows


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


def build(
    work: Path = DEFAULT_WORK,
    manifest_path: Path = MANIFEST,
    codecs: tuple[str, ...] | None = None,
    update_manifest: bool = False,
    log: Callable[[str], None] = print,
) -> dict:
    """Write originals + reconstructions into ``work`` (cached: existing files are re-checked, not
    recomputed) and check every sha256 against the manifest. With ``update_manifest`` (or when the
    manifest does not exist yet) record the hashes instead. Returns {"mismatches": [...], "missing": [...]}.
    """
    from miscomp.codecs import create_codec
    from miscomp.io import read_image, write_png

    os.environ.setdefault("MISCOMP_TAEF2_DIR", str(shared_dir() / "models" / "taef2"))
    new = not manifest_path.exists()
    manifest = (
        {"version": VERSION, "codecs": [], "images": select_images()} if new else read_manifest(manifest_path)
    )
    specs = list(codecs or manifest.get("codec_specs") or CODEC_SPECS)
    built = {s: create_codec(s) for s in specs}
    manifest["codec_specs"] = specs
    manifest["codecs"] = {s: c.tag for s, c in built.items()}
    record = new or update_manifest
    mismatches, missing = [], []
    for n, spec in enumerate(manifest["images"], 1):
        image_id = spec["image_id"]
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
        for codec in built.values():
            rec_path = work / "reconstructions" / codec.tag / f"{image_id}.png"
            n_bytes = recs.get(codec.tag, {}).get("bytes")
            if rec_path.exists() and n_bytes is not None:
                rec = read_image(rec_path).rgb
            else:
                out = codec.apply(rgb)
                rec, n_bytes = out.reconstruction, out.n_bytes
                write_png(rec_path, rec)
            rsha = pixel_sha256(rec)
            if record or codec.tag not in recs:
                bpp = round(n_bytes * 8 / rgb[..., 0].size, 4)
                recs[codec.tag] = {"sha256": rsha, "bytes": n_bytes, "bpp": bpp}
            elif recs[codec.tag]["sha256"] != rsha:
                mismatches.append(f"{image_id} {codec.tag}: reconstruction differs from the labelled one")
        log(f"[{n}/{len(manifest['images'])}] {image_id}")
    if record or update_manifest:
        manifest_path.parent.mkdir(parents=True, exist_ok=True)
        manifest_path.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    for line in missing + mismatches:
        log("WARNING " + line)
    return {"mismatches": mismatches, "missing": missing}


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use: python -m benchmarks.real_codecs build")
