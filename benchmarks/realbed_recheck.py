"""Which labels a rebuild of the test bed invalidates: each label's box, old reconstruction against new.

    python -m benchmarks.realbed_recheck OLD_WORK NEW_WORK [--out DIR]

For every label of a reviewed pair, the old and the new reconstruction are compared inside the label's
box (with ``PAD`` pixels around it, as a reader sees it): max abs difference, mean abs difference and
the share of pixels that moved by more than ``VISIBLE`` levels. A label whose region barely changed
(``barely_changed``) keeps its call; the others are put on sheets (original | old | new, upscaled) for
a person to look at again. Writes ``recheck.csv`` and ``recheck_*.png`` into ``--out``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

PAD = 2
VISIBLE = 8  # levels: below this, a difference between two reconstructions is not seen at 3× zoom
# A region "barely changed" when almost no pixel moved visibly and the mean change is a fraction of a
# level (definition, checked on the sheets of the 0.1 → 0.2 rebuild: README, "Reproducibility").
BARELY_SHARE, BARELY_MEAN = 0.01, 1.0


def compare_labels(old: Path, new: Path, labels: pd.DataFrame) -> pd.DataFrame:
    from miscomp.io import read_image

    cache: dict[Path, np.ndarray] = {}

    def img(path: Path) -> np.ndarray:
        if path not in cache:
            cache[path] = read_image(path).rgb.astype(np.int16)
        return cache[path]

    rows = []
    for lab in labels.itertuples(index=False):
        name = Path("reconstructions") / lab.codec_tag / f"{lab.image_id}.png"
        if not ((old / name).exists() and (new / name).exists()):
            continue  # a pair one of the builds has not made (yet): reported by main() as not compared
        a, b = img(old / name), img(new / name)
        y0, x0 = max(0, lab.y - PAD), max(0, lab.x - PAD)
        box = (slice(y0, lab.y + lab.h + PAD), slice(x0, lab.x + lab.w + PAD))
        d = np.abs(a[box] - b[box]).max(axis=2)
        visible = float((d > VISIBLE).mean())
        rows.append({"label_id": lab.label_id, "image_id": lab.image_id, "codec_tag": lab.codec_tag,
                     "kind": lab.kind, "note": lab.note, "split": lab.split, "max_abs": int(d.max()),
                     "mean_abs": round(float(d.mean()), 3), "visible_share": round(visible, 4),
                     "barely_changed": bool(visible <= BARELY_SHARE and d.mean() <= BARELY_MEAN)})  # noqa: E501  # fmt: skip
    return pd.DataFrame(rows)


def sheets(old: Path, new: Path, labels: pd.DataFrame, table: pd.DataFrame, out: Path,
           per_sheet: int = 8) -> list[Path]:  # fmt: skip
    """Per changed label: its id, note and numbers, then original | old | new around the box, 4× (at most)."""
    from PIL import Image, ImageDraw

    from benchmarks.realbed_label import crop_box
    from miscomp.io import read_image
    from miscomp.synth.text_scenes import sheet_font as _font

    changed = table[~table["barely_changed"]].merge(labels[["label_id", "x", "y", "w", "h"]], on="label_id")
    cell_w, cell_h, paths = 300, 120, []
    out.mkdir(parents=True, exist_ok=True)
    for s in range(0, len(changed), per_sheet):
        chunk = changed.iloc[s : s + per_sheet]
        sheet = Image.new("RGB", (3 * cell_w + 20, len(chunk) * (cell_h + 20)), (255, 255, 255))
        draw = ImageDraw.Draw(sheet)
        for i, r in enumerate(chunk.itertuples(index=False)):
            top = i * (cell_h + 20)
            head = f"#{s + i + 1} {r.label_id} {r.image_id} {r.codec_tag[:16]} {r.kind[:5]} {r.note[:60]}"
            head += f" | max {r.max_abs} mean {r.mean_abs} vis {r.visible_share}"
            draw.text((2, top + 1), head[:150], font=_font(11), fill=(0, 0, 0))
            rec = Path("reconstructions") / r.codec_tag / f"{r.image_id}.png"
            images = [old / "originals" / f"{r.image_id}.png", old / rec, new / rec]
            for j, path in enumerate(images):
                im = read_image(path).rgb
                x0, y0, x1, y1 = crop_box(im.shape, r.x, r.y, r.w, r.h, 8)
                scale = min(cell_w / (x1 - x0), cell_h / (y1 - y0), 4.0)
                tile = Image.fromarray(im[y0:y1, x0:x1])
                tile = tile.resize((max(1, int(tile.width * scale)), max(1, int(tile.height * scale))),
                                   Image.NEAREST)  # fmt: skip
                sheet.paste(tile, (j * (cell_w + 10), top + 16))
        path = out / f"recheck_{s // per_sheet:03d}.png"
        sheet.save(path)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    from benchmarks.realbed_score import load_labels, load_reviewed

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old", type=Path, help="work folder of the old build (e.g. build --precision float32)")
    ap.add_argument("new", type=Path, help="work folder of the new build")
    ap.add_argument("--out", type=Path, default=Path(".work/realbed-recheck"))
    args = ap.parse_args(argv)
    labels = load_labels()
    reviewed = load_reviewed()
    labels = labels[
        [(i, t) in reviewed for i, t in zip(labels["image_id"], labels["codec_tag"], strict=True)]
    ]
    table = compare_labels(args.old, args.new, labels)
    if table.empty:
        print("no reviewed pair is in both work folders")
        return 1
    left = len(labels) - len(table)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "recheck.csv", index=False)
    paths = sheets(args.old, args.new, labels, table, args.out)
    by = table.groupby("codec_tag")["barely_changed"].agg(["count", "sum"])
    print(by.rename(columns={"count": "labels", "sum": "barely_changed"}).to_string())
    n = int((~table["barely_changed"]).sum())
    print(f"{n} labels to look at again ({len(paths)} sheets in {args.out}); {left} labels not compared")
    return 0


if __name__ == "__main__":
    sys.exit(main())
