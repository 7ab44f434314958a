"""Review sheets for the real-codec test bed: PNGs a person looks at to confirm or reject candidate
labels (``pair_sheet``: one image and codec, candidates numbered; ``image_sheet``: one small image
through every codec; ``contact_sheets``: candidate crops side by side) and to label the tool's findings
(``finding_sheets``: each finding's box on both images).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from benchmarks.realbed_label import crop_box, load_truths


def contact_sheets(
    work: Path, rows: list[dict], out: Path, per_sheet: int = 16, context: int = 12
) -> list[Path]:
    """PNG grids: per row the candidate id, original crop | reconstruction crop (upscaled), both reads."""
    from PIL import Image, ImageDraw

    from miscomp.io import read_image
    from miscomp.synth.text_scenes import sheet_font as _font

    out.mkdir(parents=True, exist_ok=True)
    paths = []
    cell_w, cell_h = 460, 110
    cache: dict[str, np.ndarray] = {}

    def img(path: Path) -> np.ndarray:
        if str(path) not in cache:
            cache[str(path)] = read_image(path).rgb
        return cache[str(path)]

    for s in range(0, len(rows), per_sheet):
        chunk = rows[s : s + per_sheet]
        sheet = Image.new("RGB", (2 * cell_w + 10, len(chunk) * (cell_h + 22)), (255, 255, 255))
        draw = ImageDraw.Draw(sheet)
        for i, r in enumerate(chunk):
            orig = img(work / "originals" / f"{r['image_id']}.png")
            rec = img(work / "reconstructions" / r["codec_tag"] / f"{r['image_id']}.png")
            x0, y0, x1, y1 = crop_box(orig.shape, r["x"], r["y"], r["w"], r["h"], context)
            top = i * (cell_h + 22)
            label = f"{r['candidate_id']} {r['image_id']} {r['codec_tag'][:14]} | "
            label += f"{r['orig_read']!r} -> {r['rec_read']!r}"
            draw.text((4, top + 2), label[:120], font=_font(13), fill=(0, 0, 0))
            for j, im in enumerate((orig, rec)):
                crop = Image.fromarray(im[y0:y1, x0:x1])
                scale = min(cell_w / crop.width, cell_h / crop.height)
                crop = crop.resize(
                    (max(1, int(crop.width * scale)), max(1, int(crop.height * scale))), Image.LANCZOS
                )
                sheet.paste(crop, (j * (cell_w + 10), top + 20))
        path = out / f"sheet_{s // per_sheet:03d}.png"
        sheet.save(path)
        paths.append(path)
    return paths


def pair_sheet(
    work: Path, image_id: str, tag: str, cands: list[dict], out: Path, max_w: int = 1000, whole: bool = True
) -> Path:
    """One (image, codec) for review: the region holding the candidates, original above the
    reconstruction, each upscaled; candidates numbered on the original; their reads listed below."""
    from PIL import Image, ImageDraw

    from miscomp.io import read_image
    from miscomp.synth.text_scenes import sheet_font as _font

    orig = read_image(work / "originals" / f"{image_id}.png").rgb
    rec = read_image(work / "reconstructions" / tag / f"{image_id}.png").rgb
    # the whole image when asked (so changes the reader missed are seen too), else the candidates' region
    boxes = cands + (load_truths(work, image_id) if whole else [])
    x0 = max(0, min(c["x"] for c in boxes) - 16)
    y0 = max(0, min(c["y"] for c in boxes) - 10)
    x1 = min(orig.shape[1], max(c["x"] + c["w"] for c in boxes) + 10)
    y1 = min(orig.shape[0], max(c["y"] + c["h"] for c in boxes) + 10)
    scale = max(1.0, min(3.0, max_w / (x1 - x0)))
    size = (int((x1 - x0) * scale), int((y1 - y0) * scale))
    top = Image.fromarray(orig[y0:y1, x0:x1]).resize(size, Image.LANCZOS)
    bottom = Image.fromarray(rec[y0:y1, x0:x1]).resize(size, Image.LANCZOS)
    draw = ImageDraw.Draw(top)
    for i, c in enumerate(cands, 1):
        bx, by = (c["x"] - x0) * scale, (c["y"] - y0) * scale
        draw.rectangle(
            (bx - 2, by - 2, bx + c["w"] * scale + 2, by + c["h"] * scale + 2), outline=(255, 0, 255)
        )
        draw.text((bx - 14, by), str(i), font=_font(12, True), fill=(255, 0, 255))
    lines = [f"{i} {c['truth']!r} -> {c['rec_read']!r} ({c['rec_score']})" for i, c in enumerate(cands, 1)]
    cols = 3 if len(lines) > 12 else 1
    text_h = 16 * math.ceil(len(lines) / cols) + 24
    sheet = Image.new("RGB", (max(size[0], 900), 2 * size[1] + 8 + text_h), (255, 255, 255))
    sheet.paste(top, (0, 0))
    sheet.paste(bottom, (0, size[1] + 8))
    d = ImageDraw.Draw(sheet)
    d.text((4, 2 * size[1] + 10), f"{image_id}  {tag}", font=_font(13, True), fill=(0, 0, 0))
    per_col = math.ceil(len(lines) / cols)
    for i, line in enumerate(lines):
        d.text((4 + (i // per_col) * 300, 2 * size[1] + 28 + 16 * (i % per_col)), line[:44], font=_font(11),
               fill=(0, 0, 0))  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"pair_{image_id}__{tag}.png"
    sheet.save(path)
    return path


def image_sheet(
    work: Path, image_id: str, tags: list[str], cands: list[dict], out: Path, scale: float = 2.0
) -> Path:
    """One small image through every codec (original first), upscaled, two panels per row, with the
    candidates numbered per codec: for reviewing all pairs of a plate crop at once."""
    from PIL import Image, ImageDraw

    from miscomp.io import read_image
    from miscomp.synth.text_scenes import sheet_font as _font

    panels = [("original", read_image(work / "originals" / f"{image_id}.png").rgb)]
    panels += [(t, read_image(work / "reconstructions" / t / f"{image_id}.png").rgb) for t in tags]
    h, w = panels[0][1].shape[:2]
    pw, ph = int(w * scale), int(h * scale)
    rows = math.ceil(len(panels) / 2)
    lines = [f"{t[:22]} #{i}: {c['truth']!r} -> {c['rec_read']!r} ({c['rec_score']})"
             for t in tags for i, c in enumerate((c for c in cands if c["codec_tag"] == t), 1)]  # fmt: skip
    sheet = Image.new("RGB", (2 * pw + 10, rows * (ph + 18) + 16 * len(lines) + 10), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for k, (name, rgb) in enumerate(panels):
        px, py = (k % 2) * (pw + 10), (k // 2) * (ph + 18)
        tile = Image.fromarray(rgb).resize((pw, ph), Image.LANCZOS)
        td = ImageDraw.Draw(tile)
        for i, c in enumerate((c for c in cands if c["codec_tag"] == name), 1):
            x0, y0 = c["x"] * scale, c["y"] * scale
            td.rectangle(
                (x0 - 2, y0 - 2, x0 + c["w"] * scale + 2, y0 + c["h"] * scale + 2), outline=(255, 0, 255)
            )
            td.text((x0 - 12, y0 - 12), str(i), font=_font(12, True), fill=(255, 0, 255))
        sheet.paste(tile, (px, py + 16))
        draw.text((px + 2, py), name, font=_font(12, True), fill=(0, 0, 0))
    for i, line in enumerate(lines):
        draw.text((4, rows * (ph + 18) + 4 + 16 * i), line[:110], font=_font(11), fill=(0, 0, 0))
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"image_{image_id}.png"
    sheet.save(path)
    return path


def finding_sheets(work: Path, findings: list[dict], out: Path, per_sheet: int = 10) -> list[Path]:
    """Review sheets for tool findings that match no label: per row the number, the finding's detector,
    category and evidence, and the original | reconstruction around its box (box drawn on both)."""
    from PIL import Image, ImageDraw

    from miscomp.io import read_image
    from miscomp.synth.text_scenes import sheet_font as _font

    out.mkdir(parents=True, exist_ok=True)
    cell_w, cell_h, paths = 440, 150, []
    for s in range(0, len(findings), per_sheet):
        chunk = findings[s : s + per_sheet]
        sheet = Image.new("RGB", (2 * cell_w + 10, len(chunk) * (cell_h + 34)), (255, 255, 255))
        draw = ImageDraw.Draw(sheet)
        for i, f in enumerate(chunk):
            top = i * (cell_h + 34)
            head = f"#{s + i + 1} {f['image_id']} {f['codec_tag'][:16]} {f['detector']}/{f['category']}"
            head += f"{' SYM' if f['symbol'] else ''} {f['evidence']}"
            draw.text((2, top + 1), head[:130], font=_font(11), fill=(0, 0, 0))
            orig = read_image(work / "originals" / f"{f['image_id']}.png").rgb
            rec = read_image(work / "reconstructions" / f["codec_tag"] / f"{f['image_id']}.png").rgb
            pad = max(20, int(0.5 * max(f["w"], f["h"])))
            x0, y0, x1, y1 = crop_box(orig.shape, f["x"], f["y"], f["w"], f["h"], pad)
            scale = min(cell_w / (x1 - x0), cell_h / (y1 - y0), 6.0)
            for j, im in enumerate((orig, rec)):
                tile = Image.fromarray(im[y0:y1, x0:x1])
                size = (max(1, int(tile.width * scale)), max(1, int(tile.height * scale)))
                tile = tile.resize(size, Image.LANCZOS)
                td = ImageDraw.Draw(tile)
                bx, by = (f["x"] - x0) * scale, (f["y"] - y0) * scale
                bx1, by1 = bx + f["w"] * scale + 1, by + f["h"] * scale + 1
                td.rectangle((bx - 1, by - 1, bx1, by1), outline=(255, 0, 255))
                sheet.paste(tile, (j * (cell_w + 10), top + 16))
        path = out / f"findings_{s // per_sheet:03d}.png"
        sheet.save(path)
        paths.append(path)
    return paths
