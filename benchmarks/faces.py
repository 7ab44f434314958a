"""The face channel on real faces available offline, through learned and classical codecs.

    python -m benchmarks.faces [--codecs taef2:bits=2 ...] [--out benchmarks/results]

Faces: scikit-image's astronaut and matplotlib's Grace Hopper (public domain photos shipped inside
those wheels), the Kodak photos with a face (kodim04, 15, 17 (a statue), 18) and the two plate photos
with a person (us/car8, us/us2; the survey of all 24 Kodak and 330 plate photos with dlib's HOG at
upsample 1 found no other face scoring >= 0.3; the two below it were a coin-operated binocular and a
tail light). Every original face goes through every codec; per face and codec the row holds the
identity distance at the same place in the reconstruction and under JPEG at the pair's rate (the
null model), whether the reconstruction still shows a face there, and the detector's findings.

Summary (the issue 26 criteria): every identity finding's distance >= 0.6; no face finding at JPEG
q >= 50; face lost reported; CPU seconds per face (the detector's own process time, original's faces
found once per image as in a scan, divided by the face-pairs checked).
"""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

import numpy as np

from benchmarks.harness import RESULTS, set_threads, shared_dir, write_results

DEFAULT_CODECS = (
    "taef2:bits=2", "taef2:bits=3", "taef2:bits=4",
    "bmshj2018-factorized:q=1", "bmshj2018-factorized:q=2",
    "jpeg:quality=10", "jpeg:quality=50",
)  # fmt: skip
KODAK_FACES = ("kodim04", "kodim15", "kodim17", "kodim18")
PLATE_FACES = ("us/car8.jpg", "us/us2.jpg")


def face_images() -> list[tuple[str, np.ndarray]]:
    import matplotlib.cbook
    from PIL import Image
    from skimage import data

    shared = shared_dir("data/kodak")
    out = [("astronaut", data.astronaut())]
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as fh:
        out.append(("grace_hopper", np.asarray(Image.open(fh).convert("RGB"))))
    out += [
        (k, np.asarray(Image.open(shared / "data/kodak" / f"{k}.png").convert("RGB"))) for k in KODAK_FACES
    ]
    out += [
        (Path(p).stem, np.asarray(Image.open(shared / "data/plates" / p).convert("RGB"))) for p in PLATE_FACES
    ]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codecs", nargs="+", default=list(DEFAULT_CODECS))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    set_threads(1)

    from miscomp.codecs import CODECS
    from miscomp.detect.base import PairImages
    from miscomp.detect.diff.artefacts import null_reconstruction
    from miscomp.detect.faces import FACE_CONFIG, FaceDetector, identity_distance
    from miscomp.registry import parse_spec

    det = FaceDetector()
    codecs = [CODECS.create(name, **params) for name, params in map(parse_spec, args.codecs)]
    rows, t_start = [], time.perf_counter()
    for image_name, img in face_images():
        sha = hashlib.sha256(img.tobytes()).hexdigest()
        for codec in codecs:
            out = codec.apply(img)
            bpp = out.n_bytes * 8 / img.shape[0] / img.shape[1]
            pair = PairImages(f"{image_name}/{codec.tag}", img, out.reconstruction, sha, codec.tag, bpp)
            findings = det.detect(pair)
            faces, _ = det.original_faces(pair)
            null = null_reconstruction(img, codec.tag, bpp)
            rec_faces = det.models.detect(out.reconstruction, det._upsample(img.shape), -0.2)
            dist = lambda img, box, d: identity_distance(d.descriptor, det.models.descriptor(img, box))  # noqa: E731
            for face in faces:
                hits = [f for f in findings if f.box == face.box]
                rows.append({
                    "image": image_name, "codec": codec.tag, "bpp": round(bpp, 4),
                    "face": list(face.box), "face_px": face.box.w,
                    "distance": round(dist(out.reconstruction, face.box, face), 4),
                    "null_distance": round(dist(null, face.box, face), 4),
                    "still_found": any(r.box.iou(face.box) >= FACE_CONFIG.match_iou for r in rec_faces),
                    "finding": hits[0].details["kind"] if hits else "",
                    "finding_score": hits[0].score if hits else None,
                    "finding_category": hits[0].category if hits else "",
                })  # fmt: skip
            for f in findings:
                if f.details.get("kind") == "appeared":
                    rows.append({
                        "image": image_name, "codec": codec.tag, "bpp": round(bpp, 4), "face": list(f.box),
                        "finding": "appeared", "finding_score": f.score, "finding_category": f.category,
                    })  # fmt: skip
            print(
                image_name,
                codec.tag,
                f"{bpp:.3f} bpp",
                [(r["distance"], r["finding"]) for r in rows[-len(faces) :]],
            )
    shown = [r for r in rows if r.get("finding") and (r["finding_score"] or 0) >= 0.5]
    identity = [r for r in shown if r["finding"] == "identity"]
    jpeg_hi = [
        r
        for r in shown
        if r["codec"].startswith("jpeg-quality") and int(r["codec"].split("quality")[1].split("-")[0]) >= 50
    ]
    timing = det.info()["timing"]
    summary = {
        "images": len({r["image"] for r in rows}),
        "faces": len({(r["image"], tuple(r["face"])) for r in rows if "distance" in r}),
        "face_pairs": sum("distance" in r for r in rows),
        "identity_findings": len(identity),
        "identity_min_distance": min((r["distance"] for r in identity), default=None),
        "lost_findings_shown": sum(r["finding"] == "lost" for r in shown),
        "lost_findings_all": sum(r.get("finding") == "lost" for r in rows),
        "appeared_findings": sum(r.get("finding") == "appeared" for r in shown),
        "face_findings_jpeg_q50_plus": len(jpeg_hi),
        "distance_over_threshold_pairs": sum(
            r.get("distance", 0) >= FACE_CONFIG.identity_threshold for r in rows
        ),
        "cpu_s_per_face": timing["seconds_per_face"],
        "wall_s": round(time.perf_counter() - t_start, 1),
    }
    path = write_results("faces", summary, rows, configs=[FACE_CONFIG], results_dir=args.out)
    print(summary, "->", path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
