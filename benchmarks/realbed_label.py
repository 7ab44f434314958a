"""Labelling aids for the real-codec test bed: candidate proposals read by a strong OCR engine, and
the rules for recording what was confirmed by eye.

A candidate is a text region that the reader reads correctly on the original (the known string of a
rendered scene or plate, or a confident read of text it detected) and differently, or not at all, on a
reconstruction. Clock hands are candidates when their ink contrast drops below 60 % of the original's.
Candidates are NOT labels: every label in ``datasets/realbed/labels.csv`` was confirmed by looking at
the sheet (see the datasheet for the rules).

    python -m benchmarks.real_codecs propose [--work .work/realbed]   → <work>/candidates.csv + sheets/

The sheets themselves are drawn by ``benchmarks/realbed_sheets.py``.

Needs ``rapidocr`` + ``onnxruntime`` (``pip install 'miscomp[ocr]'``).
"""

from __future__ import annotations

import hashlib
import json
import math
import unicodedata
from pathlib import Path

import numpy as np

READ_SCALE = 3  # small text (5-8 px) became readable after 3× upscaling (shared/notes/measured.md)
MIN_DETECTED_SCORE = 0.85  # a detected (not rendered) text line counts as legible above this score
HAND_CONTRAST_DROP = 0.6


def _engine():
    try:
        from rapidocr import RapidOCR
    except ImportError as err:  # pragma: no cover - depends on the install
        raise SystemExit(
            "rapidocr is not installed: pip install 'miscomp[ocr]' (rapidocr + onnxruntime)"
        ) from err
    import logging

    logging.getLogger("RapidOCR").setLevel(logging.WARNING)
    return RapidOCR(
        params={
            "Global.text_score": 0.0,  # the default 0.5 silently drops weak reads; we decide ourselves
            "Global.log_level": "warning",
            "EngineConfig.onnxruntime.intra_op_num_threads": 1,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        }
    )


def norm(text: str) -> str:
    """Compare reads without case, spaces, accents and comma/dot: on clean originals the reader confuses
    these, and by eye they were never what a codec changed."""
    text = unicodedata.normalize("NFKD", text).replace(".", ",")
    return "".join(c for c in text if c.isalnum() or c in "€$,:-").upper()


def crop_box(shape: tuple[int, ...], x: int, y: int, w: int, h: int, pad: int) -> tuple[int, int, int, int]:
    H, W = shape[:2]
    x0, y0 = max(0, x - pad), max(0, y - pad)
    return x0, y0, min(W, x + w + pad), min(H, y + h + pad)


def read_crop(engine, rgb: np.ndarray, box: tuple[int, int, int, int]) -> tuple[str, float]:
    import cv2

    x, y, w, h = box
    pad = max(3, int(0.3 * h))
    x0, y0, x1, y1 = crop_box(rgb.shape, x, y, w, h, pad)
    crop = np.ascontiguousarray(rgb[y0:y1, x0:x1, ::-1])
    scale = max(READ_SCALE, math.ceil(48 / max(1, y1 - y0)))
    crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    out = engine(crop, use_det=False, use_cls=False)
    if not out.txts:
        return "", 0.0
    return " ".join(out.txts), float(np.mean(out.scores))


def detect_text(
    engine, rgb: np.ndarray, scale: float = 1.0
) -> list[tuple[str, float, tuple[int, int, int, int]]]:
    """Text lines the reader finds in an image (optionally upscaled first): (text, score, box)."""
    import cv2

    bgr = np.ascontiguousarray(rgb[..., ::-1])
    if scale != 1.0:
        bgr = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    out = engine(bgr, use_det=True, use_cls=True)  # rapidocr keeps the last call's flags: reset them
    lines = []
    if out.boxes is None or out.txts is None:
        return lines
    for box, txt, score in zip(out.boxes, out.txts, out.scores, strict=True):
        pts = np.asarray(box) / scale
        x0, y0 = pts.min(0)
        x1, y1 = pts.max(0)
        lines.append(
            (txt, float(score), (int(x0), int(y0), int(math.ceil(x1 - x0)), int(math.ceil(y1 - y0))))
        )
    return lines


def _iou(a, b) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union else 0.0


def hand_contrast(rgb: np.ndarray, box: tuple[int, int, int, int], text: str) -> float:
    """Mean darkness along a clock hand's outer 70 % relative to the face (hands start at the centre,
    which is one corner of the box; the hand's end is the opposite corner)."""
    gray = rgb.astype(np.float32).mean(2)
    x, y, w, h = box
    corners = [(x, y), (x + w, y), (x, y + h), (x + w, y + h)]
    # the hand runs along one diagonal of its box, from either end: take the darkest of the four
    best = 0.0
    for (ax, ay), (bx, by) in ((corners[0], corners[3]), (corners[1], corners[2])):
        for sx, sy, ex, ey in ((ax, ay, bx, by), (bx, by, ax, ay)):
            ts = np.linspace(0.3, 0.95, 24)
            px = np.clip((sx + ts * (ex - sx)).astype(int), 0, rgb.shape[1] - 1)
            py = np.clip((sy + ts * (ey - sy)).astype(int), 0, rgb.shape[0] - 1)
            best = max(best, float(np.mean(245 - gray[py, px])))
    return best


def load_truths(work: Path, image_id: str) -> list[dict]:
    path = work / "truths" / f"{image_id}.json"
    return json.loads(path.read_text()) if path.exists() else []


def candidate_id(image_id: str, tag: str, box: tuple[int, int, int, int]) -> str:
    return hashlib.sha1(f"{image_id}|{tag}|{box}".encode()).hexdigest()[:8]


def propose(work: Path, manifest: dict, log=print) -> list[dict]:
    """Read every known or detected text region on the original and on each reconstruction."""
    from miscomp.io import read_image

    engine = _engine()
    cache_path = work / "reads.json"
    cache: dict[str, list] = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    tags = list(manifest["codecs"].values())
    rows: list[dict] = []
    for n, spec in enumerate(manifest["images"], 1):
        image_id = spec["image_id"]
        orig = read_image(work / "originals" / f"{image_id}.png").rgb
        regions = [dict(t, origin="truth") for t in load_truths(work, image_id)]
        if spec["source"] != "scene":  # photos, pages and plate crops: let the reader find the text
            key = f"det|{image_id}"
            if key not in cache:
                scale = 2.0 if max(orig.shape[:2]) <= 600 else 1.0
                cache[key] = detect_text(engine, orig, scale)
            for txt, score, box in cache[key]:
                if score < MIN_DETECTED_SCORE or len(norm(txt)) < 2:
                    continue
                if any(_iou(box, (r["x"], r["y"], r["w"], r["h"])) > 0.3 for r in regions):
                    continue
                regions.append({"text": txt, "kind": "detected", "x": box[0], "y": box[1], "w": box[2],
                                "h": box[3], "origin": "detected"})  # fmt: skip
        for r in regions:
            box = (r["x"], r["y"], r["w"], r["h"])
            if r["kind"] == "hand":
                base = hand_contrast(orig, box, r["text"])
            else:
                key = f"orig|{image_id}|{box}"
                if key not in cache:
                    cache[key] = list(read_crop(engine, orig, box))
                orig_read, orig_score = cache[key]
                if norm(orig_read) != norm(r["text"]):
                    continue  # the original itself is not read as what it says: no candidate
            for tag in tags:
                rec = read_image(work / "reconstructions" / tag / f"{image_id}.png").rgb
                cand = {"candidate_id": candidate_id(image_id, tag, box), "image_id": image_id,
                        "codec_tag": tag, "x": box[0], "y": box[1], "w": box[2], "h": box[3],
                        "truth": r["text"], "kind": r["kind"],
                        "split": spec["split"]}  # fmt: skip
                if r["kind"] == "hand":
                    ratio = hand_contrast(rec, box, r["text"]) / max(base, 1.0)
                    if ratio < HAND_CONTRAST_DROP:
                        rows.append(cand | {"orig_read": r["text"], "rec_read": f"contrast {ratio:.2f}",
                                            "rec_score": ratio})  # fmt: skip
                    continue
                key = f"rec|{image_id}|{tag}|{box}"
                if key not in cache:
                    cache[key] = list(read_crop(engine, rec, box))
                rec_read, rec_score = cache[key]
                if norm(rec_read) != norm(r["text"]):
                    rows.append(
                        cand
                        | {"orig_read": orig_read, "rec_read": rec_read, "rec_score": round(rec_score, 3)}
                    )
        log(
            f"[{n}/{len(manifest['images'])}] {image_id}: {len(regions)} regions, "
            f"{len(rows)} candidates so far"
        )
        cache_path.write_text(json.dumps(cache))
    return rows


# ---------------------------------------------------------------------------------------------------
# recording decisions made on the sheets

LABEL_HEADER = "label_id,image_id,codec_tag,x,y,w,h,kind,category,symbol,note,split\n"


def _append_csv(path: Path, header: str, rows: list[list]) -> None:
    import csv

    new = not path.exists()
    with open(path, "a", newline="", encoding="utf-8") as fh:
        if new:
            fh.write(header)
        csv.writer(fh).writerows(rows)


def accept(
    candidates: list[dict],
    labels_path: Path,
    category: str,
    symbol: bool = True,
    kind: str = "miscompression",
    note: str | None = None,
) -> int:
    """Append confirmed candidates to labels.csv (id ``c-<candidate_id>``); skips ids already there."""
    import pandas as pd

    have = set(pd.read_csv(labels_path, dtype=str)["label_id"]) if labels_path.exists() else set()
    rows = []
    for c in candidates:
        lid = f"c-{c['candidate_id']}"
        if lid in have:
            continue
        text = note or f"{c['orig_read']!r} -> {c['rec_read']!r}"
        rows.append([lid, c["image_id"], c["codec_tag"], c["x"], c["y"], c["w"], c["h"], kind, category,
                     symbol, text, c["split"]])  # fmt: skip
    _append_csv(labels_path, LABEL_HEADER, rows)
    return len(rows)


def reject(candidates: list[dict], path: Path, reason: str) -> None:
    """Record candidates looked at and rejected (so a re-run of the proposal shows only new ones)."""
    rows = [[c["candidate_id"], c["image_id"], c["codec_tag"], reason] for c in candidates]
    _append_csv(path, "candidate_id,image_id,codec_tag,reason\n", rows)


REVIEW_HEADER = "image_id,codec_tag,candidates,accepted,rejected_ids,comment\n"


def review_pair(
    cands: list[dict],
    dataset: Path,
    reject: tuple[int, ...] = (),
    category: str | None = None,
    overrides: dict[int, str] | None = None,
    comment: str = "",
    pair: tuple[str, str] | None = None,
) -> int:
    """Record the eye review of one (image, codec) pair from its sheet (candidates numbered from 1):
    accept all but ``reject`` as symbol miscompressions, append them to labels.csv and the pair to
    review.csv (the list of pairs whose labels are complete). Default category: ``shape`` where the
    reader still reads letters (a different string), ``geometry`` where it reads nothing or almost
    nothing (dissolved); ``overrides`` maps a candidate number to a category."""
    overrides = overrides or {}
    n = 0
    for i, c in enumerate(cands, 1):
        if i in reject:
            continue
        cat = (
            overrides.get(i)
            or category
            or ("shape" if c["rec_score"] >= 0.5 and norm(c["rec_read"]) else "geometry")
        )
        kind = "garbled" if cat == "shape" else "illegible"
        n += accept([c], dataset / "labels.csv", cat, note=f"[{kind}] {c['truth']!r} -> {c['rec_read']!r}")
    image_id, tag = pair or (cands[0]["image_id"], cands[0]["codec_tag"])
    rejected = " ".join(cands[i - 1]["candidate_id"] for i in reject)
    _append_csv(
        dataset / "review.csv",
        REVIEW_HEADER,
        [[image_id, tag, len(cands), len(cands) - len(reject), rejected, comment]],
    )
    return n
