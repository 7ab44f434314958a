"""Rendered scenes whose meaning is structure, not text: dials and gauges (ticks, numerals, a needle),
pictograms and arrows on signs, and counts of small objects (dots, window grids, railing bars).

An evaluation generator (beside the benchmarks, as kornia keeps its generators out of the package):
the structure channel is measured on these through learned codecs, with Kodak nature photos as the
negatives. Every item carries its box and what it means (``kind``: dial, gauge, needle, arrow,
pictogram, dots, windows, bars, clock). Clocks come from :mod:`miscomp.synth.text_scenes`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import ImageDraw

from miscomp.synth.text_scenes import _background, _font, render_clocks


@dataclass(frozen=True)
class Item:
    kind: str
    what: str  # e.g. "needle at 37", "arrow left", "7 dots"
    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True)
class StructureScene:
    name: str
    image: np.ndarray
    items: tuple[Item, ...]


def _gauge(draw: ImageDraw.ImageDraw, cx: int, cy: int, r: int, value: float, items: list[Item]) -> None:
    """A 270° gauge with 11 major ticks, numerals 0..100 and a needle at ``value`` (0..100)."""
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(240, 240, 235), outline=(25, 25, 25), width=3)
    font = _font(max(7, r // 6))
    for k in range(11):
        a = math.radians(135 + 27 * k)
        x0, y0 = cx + 0.92 * r * math.cos(a), cy + 0.92 * r * math.sin(a)
        x1, y1 = cx + 0.78 * r * math.cos(a), cy + 0.78 * r * math.sin(a)
        draw.line((x0, y0, x1, y1), fill=(20, 20, 20), width=2)
        if k % 2 == 0:
            draw.text((cx + 0.6 * r * math.cos(a), cy + 0.6 * r * math.sin(a)), str(10 * k), font=font,
                      fill=(20, 20, 20), anchor="mm")  # fmt: skip
        for m in range(1, 5):
            if k < 10:
                b = math.radians(135 + 27 * k + 5.4 * m)
                outer = (cx + 0.92 * r * math.cos(b), cy + 0.92 * r * math.sin(b))
                inner = (cx + 0.85 * r * math.cos(b), cy + 0.85 * r * math.sin(b))
                draw.line((*outer, *inner), fill=(40, 40, 40), width=1)
    a = math.radians(135 + 2.7 * value)
    x1, y1 = cx + 0.8 * r * math.cos(a), cy + 0.8 * r * math.sin(a)
    draw.line((cx, cy, x1, y1), fill=(200, 20, 20), width=3)
    draw.ellipse((cx - 5, cy - 5, cx + 5, cy + 5), fill=(30, 30, 30))
    items.append(Item("gauge", f"gauge {r}px", cx - r, cy - r, 2 * r, 2 * r))
    items.append(Item("needle", f"needle at {value:.0f}", int(min(cx, x1)) - 3, int(min(cy, y1)) - 3,
                      int(abs(x1 - cx)) + 6, int(abs(y1 - cy)) + 6))  # fmt: skip


def _arrow(
    draw: ImageDraw.ImageDraw, x: int, y: int, s: int, direction: str, fill, items: list[Item]
) -> None:
    """A sign (rounded square) with an arrow pointing left/right/up/down."""
    draw.rounded_rectangle((x, y, x + s, y + s), radius=s // 8, fill=(20, 90, 170))
    pts = [
        (0.2, 0.5),
        (0.5, 0.2),
        (0.5, 0.38),
        (0.8, 0.38),
        (0.8, 0.62),
        (0.5, 0.62),
        (0.5, 0.8),
    ]  # points left
    turn = {"left": 0, "up": 1, "right": 2, "down": 3}[direction]
    for _ in range(turn):
        pts = [(1 - py, px) for px, py in pts]  # rotate 90° clockwise about the centre
    draw.polygon([(x + px * s, y + py * s) for px, py in pts], fill=fill)
    items.append(Item("arrow", f"arrow {direction}", x, y, s, s))


def _pictogram(draw: ImageDraw.ImageDraw, x: int, y: int, s: int, which: str, items: list[Item]) -> None:
    """A white-on-green pictogram: a walking figure, a cross or a bike (simple strokes)."""
    draw.rectangle((x, y, x + s, y + s), fill=(20, 130, 60))
    w = max(2, s // 12)
    white = (250, 250, 250)
    if which == "person":
        draw.ellipse((x + 0.42 * s, y + 0.12 * s, x + 0.58 * s, y + 0.28 * s), fill=white)
        for a, b in (((0.5, 0.3), (0.5, 0.6)), ((0.5, 0.6), (0.35, 0.88)), ((0.5, 0.6), (0.65, 0.88)),
                     ((0.5, 0.38), (0.3, 0.52)), ((0.5, 0.38), (0.7, 0.5))):  # fmt: skip
            draw.line((x + a[0] * s, y + a[1] * s, x + b[0] * s, y + b[1] * s), fill=white, width=w)
    elif which == "cross":
        draw.rectangle((x + 0.4 * s, y + 0.15 * s, x + 0.6 * s, y + 0.85 * s), fill=white)
        draw.rectangle((x + 0.15 * s, y + 0.4 * s, x + 0.85 * s, y + 0.6 * s), fill=white)
    else:  # bike
        for cx in (0.28, 0.72):
            draw.ellipse(
                (x + (cx - 0.17) * s, y + 0.5 * s, x + (cx + 0.17) * s, y + 0.84 * s), outline=white, width=w
            )
        for a, b in (((0.28, 0.67), (0.45, 0.42)), ((0.45, 0.42), (0.72, 0.67)), ((0.45, 0.42), (0.62, 0.42)),
                     ((0.62, 0.42), (0.72, 0.67)), ((0.45, 0.42), (0.42, 0.32))):  # fmt: skip
            draw.line((x + a[0] * s, y + a[1] * s, x + b[0] * s, y + b[1] * s), fill=white, width=w)
    items.append(Item("pictogram", which, x, y, s, s))


def _dots(
    draw: ImageDraw.ImageDraw, rng: np.random.Generator, x: int, y: int, n: int, r: int, items: list[Item]
) -> None:
    """``n`` dots of radius ``r`` px on a light card, in a loose row (a count that can change)."""
    w = n * 4 * r + 2 * r
    draw.rectangle((x, y, x + w, y + 6 * r), fill=(235, 232, 220))
    for k in range(n):
        cx, cy = x + 3 * r + 4 * r * k, y + 3 * r + int(rng.integers(-r // 2, r // 2 + 1))
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(30, 30, 30))
    items.append(Item("dots", f"{n} dots", x, y, w, 6 * r))


def _windows(
    draw: ImageDraw.ImageDraw, x: int, y: int, cols: int, rows: int, cell: int, items: list[Item]
) -> None:
    """A façade with a grid of dark windows and light mullions."""
    draw.rectangle((x, y, x + cols * cell + 4, y + rows * cell + 4), fill=(190, 170, 140))
    for i in range(cols):
        for j in range(rows):
            x0, y0 = x + 4 + i * cell, y + 4 + j * cell
            draw.rectangle((x0, y0, x0 + cell - 5, y0 + cell - 5), fill=(40, 50, 70))
            draw.line(
                (x0 + (cell - 5) / 2, y0, x0 + (cell - 5) / 2, y0 + cell - 5), fill=(220, 220, 210), width=1
            )
    items.append(Item("windows", f"{cols}x{rows} windows", x, y, cols * cell + 4, rows * cell + 4))


def _bars(draw: ImageDraw.ImageDraw, x: int, y: int, n: int, gap: int, h: int, items: list[Item]) -> None:
    """A railing: ``n`` thin vertical bars between two rails."""
    w = (n - 1) * gap + 4
    draw.line((x, y, x + w, y), fill=(25, 25, 25), width=3)
    draw.line((x, y + h, x + w, y + h), fill=(25, 25, 25), width=3)
    for k in range(n):
        draw.line((x + 2 + k * gap, y, x + 2 + k * gap, y + h), fill=(25, 25, 25), width=2)
    items.append(Item("bars", f"{n} bars", x, y - 2, w, h + 4))


def _dial(
    draw: ImageDraw.ImageDraw,
    cx: int,
    cy: int,
    r: int,
    scale: tuple[int, int],
    value: float,
    dark: bool,
    items: list[Item],
) -> None:
    """A 270° dial reading 0..``top`` with a numeral every ``step``: speedometers (0-240), rev
    counters (0-8), pressure (0-16), thermometers (0-120); light or dark face, needle at ``value``."""
    top, step = scale
    face, ink = ((25, 28, 32), (235, 235, 230)) if dark else ((240, 240, 232), (20, 20, 20))
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=face, outline=(90, 90, 90), width=3)
    font = _font(max(8, r // 5))
    n = top // step
    for k in range(n + 1):
        a = math.radians(135 + 270 * k / n)
        draw.line((cx + 0.93 * r * math.cos(a), cy + 0.93 * r * math.sin(a),
                   cx + 0.78 * r * math.cos(a), cy + 0.78 * r * math.sin(a)), fill=ink, width=2)  # fmt: skip
        draw.text((cx + 0.6 * r * math.cos(a), cy + 0.6 * r * math.sin(a)), str(k * step), font=font,
                  fill=ink, anchor="mm")  # fmt: skip
        if k < n:
            b = math.radians(135 + 270 * (k + 0.5) / n)
            minor = (cx + 0.93 * r * math.cos(b), cy + 0.93 * r * math.sin(b))
            draw.line((*minor, cx + 0.86 * r * math.cos(b), cy + 0.86 * r * math.sin(b)), fill=ink, width=1)
    a = math.radians(135 + 270 * value / top)
    x1, y1 = cx + 0.82 * r * math.cos(a), cy + 0.82 * r * math.sin(a)
    draw.line((cx, cy, x1, y1), fill=(230, 60, 20), width=3)
    draw.ellipse((cx - 4, cy - 4, cx + 4, cy + 4), fill=(120, 120, 120))
    items.append(Item("dial", f"dial 0-{top} at {value:.0f}", cx - r, cy - r, 2 * r, 2 * r))


def _icon(draw: ImageDraw.ImageDraw, x: int, y: int, s: int, which: str, items: list[Item]) -> None:
    """A small app/road icon of side ``s``: warning triangle, no-entry, house, battery or signal
    level (a count of bars), check mark, or the arrows and pictograms of the signs scene."""
    white, black = (250, 250, 250), (25, 25, 25)
    w = max(2, s // 10)
    if which.startswith("arrow"):
        _arrow(draw, x, y, s, which.split()[1], white, [])
    elif which in ("person", "cross", "bike"):
        _pictogram(draw, x, y, s, which, [])
    elif which == "warning":
        draw.polygon([(x + s / 2, y + 0.05 * s), (x + 0.97 * s, y + 0.92 * s), (x + 0.03 * s, y + 0.92 * s)],
                     fill=(240, 200, 20), outline=(200, 20, 20), width=w)  # fmt: skip
        draw.rectangle((x + 0.46 * s, y + 0.35 * s, x + 0.54 * s, y + 0.66 * s), fill=black)
        draw.ellipse((x + 0.455 * s, y + 0.72 * s, x + 0.545 * s, y + 0.81 * s), fill=black)
    elif which == "no entry":
        draw.ellipse((x, y, x + s, y + s), fill=(200, 20, 20))
        draw.rectangle((x + 0.18 * s, y + 0.42 * s, x + 0.82 * s, y + 0.58 * s), fill=white)
    elif which == "house":
        draw.rectangle((x, y, x + s, y + s), fill=(40, 110, 190))
        draw.polygon([(x + 0.5 * s, y + 0.15 * s), (x + 0.88 * s, y + 0.5 * s), (x + 0.12 * s, y + 0.5 * s)],
                     fill=white)  # fmt: skip
        draw.rectangle((x + 0.22 * s, y + 0.5 * s, x + 0.78 * s, y + 0.85 * s), fill=white)
        draw.rectangle((x + 0.43 * s, y + 0.62 * s, x + 0.57 * s, y + 0.85 * s), fill=(40, 110, 190))
    elif which == "check":
        draw.rounded_rectangle((x, y, x + s, y + s), radius=s // 6, fill=(30, 150, 70))
        draw.line((x + 0.22 * s, y + 0.52 * s, x + 0.42 * s, y + 0.72 * s, x + 0.8 * s, y + 0.28 * s),
                  fill=white, width=w + 1, joint="curve")  # fmt: skip
    elif which.startswith("battery"):
        n = int(which.split()[1])
        draw.rectangle(
            (x, y + 0.25 * s, x + 0.9 * s, y + 0.75 * s), fill=(235, 235, 230), outline=black, width=w
        )
        draw.rectangle((x + 0.9 * s, y + 0.4 * s, x + s, y + 0.6 * s), fill=black)
        for k in range(n):
            x0 = x + 0.1 * s + k * 0.19 * s
            draw.rectangle((x0, y + 0.34 * s, x0 + 0.13 * s, y + 0.66 * s), fill=(30, 150, 70))
    else:  # "signal n": n of 5 rising bars filled
        n = int(which.split()[1])
        draw.rectangle((x, y, x + s, y + s), fill=(235, 235, 230))
        for k in range(5):
            x0, top = x + 0.08 * s + k * 0.18 * s, y + (0.8 - 0.14 * (k + 1)) * s
            draw.rectangle((x0, top, x0 + 0.12 * s, y + 0.9 * s), fill=black if k < n else (190, 190, 185))
    items.append(Item("icon", which, x, y, s, s))


ICONS = ("arrow left", "arrow right", "arrow up", "arrow down", "person", "cross", "bike", "warning",
         "no entry", "house", "check", "battery 1", "battery 2", "battery 3", "battery 4", "signal 1",
         "signal 2", "signal 3", "signal 4")  # fmt: skip
DIAL_SCALES = ((100, 20), (240, 40), (8, 1), (16, 2), (120, 20), (60, 10), (300, 50))


def render_structure(kind: str, seed: int) -> StructureScene:
    """One 384×512 scene: ``gauges``, ``signs`` (arrows + pictograms), ``counts``, ``clocks``, ``dials``
    (six dials of mixed scales) or ``icons`` (twelve small icons). Deterministic from kind + seed."""
    rng = np.random.default_rng(seed)
    if kind == "clocks":
        s = render_clocks(seed)
        items = tuple(
            Item("clock" if t.kind == "hand" else t.kind, t.text, t.x, t.y, t.w, t.h) for t in s.items
        )
        return StructureScene(s.name, s.image, items)
    im = _background(rng, 384, 512)
    draw = ImageDraw.Draw(im)
    items: list[Item] = []
    if kind == "gauges":
        layout = [(120, 130, 95), (370, 140, 75), (250, 300, 60)]
        for cx, cy, r in layout[: 2 + seed % 2]:
            _gauge(draw, cx, cy, r, float(rng.uniform(5, 95)), items)
    elif kind == "signs":
        dirs = ("left", "right", "up", "down")
        for k in range(3):
            _arrow(
                draw,
                30 + 160 * k,
                40,
                int(rng.integers(50, 90)),
                dirs[int(rng.integers(0, 4))],
                (250, 250, 250),
                items,
            )
        for k, which in enumerate(("person", "cross", "bike")):
            _pictogram(draw, 30 + 160 * k, 210, int(rng.integers(50, 100)), which, items)
    elif kind == "counts":
        _dots(draw, rng, 20, 30, int(rng.integers(4, 9)), int(rng.integers(3, 6)), items)
        _dots(draw, rng, 20, 110, int(rng.integers(5, 10)), int(rng.integers(2, 4)), items)
        _windows(
            draw, 280, 20, int(rng.integers(3, 6)), int(rng.integers(3, 5)), int(rng.integers(14, 24)), items
        )
        _bars(draw, 30, 240, int(rng.integers(8, 16)), int(rng.integers(7, 12)), 80, items)
    elif kind == "dials":
        for k in range(6):  # a 3x2 panel of dials of mixed scales and sizes
            r = int(rng.integers(54, 80))
            scale = DIAL_SCALES[int(rng.integers(0, len(DIAL_SCALES)))]
            cx, cy = (
                88 + 168 * (k % 3) + int(rng.integers(-6, 7)),
                98 + 190 * (k // 3) + int(rng.integers(-8, 9)),
            )
            _dial(
                draw,
                cx,
                cy,
                r,
                scale,
                float(rng.uniform(0.05, 0.95)) * scale[0],
                bool(rng.random() < 0.4),
                items,
            )
    elif kind == "icons":
        for k in range(12):  # a 4x3 grid of small icons, 36-76 px
            s = int(rng.integers(36, 77))
            x, y = (
                14 + 124 * (k % 4) + int(rng.integers(0, 100 - s + 10)),
                14 + 124 * (k // 4) + int(rng.integers(0, 100 - s + 10)),
            )
            _icon(draw, x, y, s, ICONS[int(rng.integers(0, len(ICONS)))], items)
    else:
        raise ValueError(f"unknown structure scene {kind!r}; known: {', '.join(BED_KINDS)}")
    return StructureScene(f"{kind}{seed}", np.asarray(im.convert("RGB")).copy(), tuple(items))


STRUCTURE_KINDS = ("clocks", "gauges", "signs", "counts")
# the non-text test bed's kinds: the structure benchmark's four and two denser ones added for it
BED_KINDS = (*STRUCTURE_KINDS, "dials", "icons")
