"""Deterministic scenes with small text, numerals and clock faces: the things a learned codec at a low
rate garbles (TAEF2 at 2-3 bits turned "ITALIANO" into "ITALIAND" on a real sign panel).

Every scene is rendered from a seed and returns the image together with the ground truth of what is in
it: each word, number and clock hand with its box in pixels. The real-codec test bed
(``datasets/realbed``) uses these truths to propose candidate miscompressions, which are then confirmed
by eye. Character heights are 6-20 px, the range where learned codecs at their lowest rates stop
keeping letter shapes (measured: large text survives TAEF2 bits=2, small text does not).

Fonts are matplotlib's bundled DejaVu faces, so the same seed gives the same pixels wherever matplotlib
is installed (the renderer is pure Pillow + NumPy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from miscomp.synth.scenes import font

SCENE_KINDS = ("table", "stickers", "signs", "clocks", "plates")

LANGUAGES = (
    "DEUTSCH", "ITALIANO", "ENGLISH", "FRANÇAIS", "ESPAÑOL", "NEDERLANDS", "PORTUGUÊS", "POLSKI",
    "SVENSKA", "DANSK", "SUOMI", "ČEŠTINA", "MAGYAR", "ROMÂNĂ", "NORSK", "TÜRKÇE",
)  # fmt: skip
ITEMS = (
    "Apfel", "Brot", "Milch", "Kaffee", "Tomaten", "Butter", "Käse", "Zucker", "Reis", "Nudeln",
    "Salz", "Honig", "Tee", "Eier", "Joghurt", "Mehl",
)  # fmt: skip
CAPTIONS = (
    "Ausgang Nord", "Platform 3", "Bitte nicht rauchen", "Open daily 9-18", "Kasse 4", "Exit only",
    "Gleis 12", "Parking 2h", "Info Point", "Level -1", "Staff only", "Zone B",
)  # fmt: skip
SIGN_WORDS = ("HOTEL", "APOTHEKE", "BAHNHOF", "MUSEUM", "TAXI", "BANK", "POST", "CAFE", "KINO")
CITIES = ("BERLIN", "HAMBURG", "MÜNCHEN", "SALVADOR", "BRASILIA", "LYON", "PORTO", "GENOVA", "TORINO")


@dataclass(frozen=True)
class TextItem:
    """One thing in a scene whose meaning a codec must keep: a word or number (``text``) or a clock hand.

    ``kind``: "word" (letters), "number" (digits, prices, plate numbers), "numeral" (a clock numeral),
    "hand" (a clock hand; ``text`` describes it, e.g. "hour hand 10:10"). Box in pixels (x, y, w, h).
    """

    text: str
    kind: str
    x: int
    y: int
    w: int
    h: int
    char_px: int  # rendered character height (cap height ~ font size × 0.73 for DejaVu)


@dataclass(frozen=True)
class Scene:
    name: str
    image: np.ndarray  # H×W×3 uint8
    items: tuple[TextItem, ...]


@cache
def _font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    return font(size, bold)


def sheet_font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    """The scenes' font, for labelling aids that write on images (review sheets)."""
    return _font(size, bold)


def _background(rng: np.random.Generator, h: int, w: int) -> Image.Image:
    """A photo-like backdrop: smooth colour gradients, low-frequency blobs and sensor-like noise."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = rng.uniform(60, 200, 3)
    tilt = rng.uniform(-60, 60, (2, 3))
    img = base + tilt[0] * (xx[..., None] / w - 0.5) + tilt[1] * (yy[..., None] / h - 0.5)
    for _ in range(4):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(40, 160)
        amp = rng.uniform(-40, 40, 3)
        img += amp * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))[..., None]
    img += rng.normal(0, 5, img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


class _Canvas:
    def __init__(self, rng: np.random.Generator, h: int, w: int) -> None:
        self.rng = rng
        self.im = _background(rng, h, w)
        self.draw = ImageDraw.Draw(self.im)
        self.items: list[TextItem] = []

    def text(self, xy: tuple[float, float], text: str, size: int, fill, kind: str, bold=False, anchor="la"):
        font = _font(size, bold)
        self.draw.text(xy, text, font=font, fill=fill, anchor=anchor)
        x0, y0, x1, y1 = self.draw.textbbox(xy, text, font=font, anchor=anchor)
        self.items.append(TextItem(text, kind, int(x0), int(y0), int(x1 - x0), int(y1 - y0), size))

    def scene(self, name: str) -> Scene:
        return Scene(name, np.asarray(self.im.convert("RGB")).copy(), tuple(self.items))


def _dark(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(0, 60, 3))


def _light(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(200, 256, 3))


def render_table(seed: int) -> Scene:
    """A printed table: language names or grocery items with prices, 8-14 px text, on a paper panel."""
    rng = np.random.default_rng(seed)
    c = _Canvas(rng, 384, 512)
    size = int(rng.integers(9, 15))
    rows = int(min(14, 300 // (size + 8)))
    x0, y0 = int(rng.integers(20, 60)), int(rng.integers(20, 40))
    c.draw.rectangle((x0 - 10, y0 - 10, x0 + 420, y0 + rows * (size + 8) + 10), fill=_light(rng))
    words = list(rng.permutation(LANGUAGES if seed % 2 else ITEMS))[:rows]
    ink = _dark(rng)
    for i, word in enumerate(words):
        y = y0 + i * (size + 8)
        c.text((x0, y), str(word), size, ink, "word")
        price = f"{rng.integers(0, 40)},{rng.integers(0, 100):02d}"
        c.text((x0 + 260, y), price, size, ink, "number")
        if i % 2 == 0:
            c.draw.line((x0, y + size + 5, x0 + 400, y + size + 5), fill=(150, 150, 150), width=1)
    return c.scene(f"table{seed}")


def render_stickers(seed: int) -> Scene:
    """Price stickers ("2x50 Cent / 1x1 €"), each a coloured label with two lines of 7-16 px text."""
    rng = np.random.default_rng(seed)
    c = _Canvas(rng, 384, 512)
    for k in range(4):
        x, y = 20 + (k % 2) * 250, 20 + (k // 2) * 180
        colour = tuple(int(v) for v in rng.choice([(250, 220, 40), (240, 240, 235), (255, 140, 60)]))
        c.draw.rounded_rectangle((x, y, x + 200, y + 130), radius=8, fill=colour, outline=(40, 40, 40))
        big, small = int(rng.integers(13, 21)), int(rng.integers(7, 11))
        n, cents = int(rng.integers(2, 10)), int(rng.integers(10, 99))
        c.text((x + 12, y + 12), f"{n}x{cents} Cent", big, (20, 20, 20), "number", bold=True)
        c.text((x + 12, y + 18 + big), f"1x{rng.integers(1, 9)} €", big, (180, 20, 20), "number", True)
        c.text((x + 12, y + 34 + 2 * big), str(rng.choice(ITEMS)), small + 3, (30, 30, 30), "word")
        c.text(
            (x + 12, y + 46 + 2 * big + small),
            f"{rng.integers(100, 999)} g",
            small + 1,
            (30, 30, 30),
            "number",
        )
    return c.scene(f"stickers{seed}")


def render_signs(seed: int) -> Scene:
    """Sign panels with a large word and a small caption above (the caption is what garbles first)."""
    rng = np.random.default_rng(seed)
    c = _Canvas(rng, 384, 512)
    for k in range(3):
        y = 15 + k * 122
        x = int(rng.integers(15, 120))
        small = int(rng.integers(8, 13))
        c.text((x, y), str(rng.choice(CAPTIONS)), small, _dark(rng), "word")
        panel = tuple(int(v) for v in rng.choice([(20, 90, 40), (20, 50, 140), (160, 20, 20)]))
        c.draw.rectangle((x - 5, y + small + 6, x + 330, y + small + 80), fill=panel)
        big = int(rng.integers(16, 21))
        c.text((x + 8, y + small + 14), str(rng.choice(SIGN_WORDS)), big, (255, 255, 255), "word", True)
        c.text((x + 8, y + small + 22 + big), str(rng.choice(CAPTIONS)), small + 1, (255, 255, 255), "word")
        c.text((x + 250, y + small + 14), f"{rng.integers(1, 999)} m", small + 3, (255, 255, 255), "number")
    return c.scene(f"signs{seed}")


def _clock(c: _Canvas, cx: int, cy: int, r: int, hour: int, minute: int) -> None:
    c.draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(245, 245, 240), outline=(30, 30, 30), width=3)
    size = max(7, r // 5)
    for n in range(1, 13):
        a = math.radians(n * 30 - 90)
        c.text((cx + 0.8 * r * math.cos(a), cy + 0.8 * r * math.sin(a)), str(n), size, (20, 20, 20),
               "numeral", anchor="mm")  # fmt: skip
    for length, width, angle, what in (
        (0.5 * r, 4, (hour % 12 + minute / 60) * 30, f"hour hand {hour}:{minute:02d}"),
        (0.75 * r, 2, minute * 6, f"minute hand {hour}:{minute:02d}"),
    ):
        a = math.radians(angle - 90)
        x1, y1 = cx + length * math.cos(a), cy + length * math.sin(a)
        c.draw.line((cx, cy, x1, y1), fill=(10, 10, 10), width=width)
        bx, by = min(cx, x1) - width, min(cy, y1) - width
        c.items.append(TextItem(what, "hand", int(bx), int(by), int(abs(x1 - cx) + 2 * width),
                                int(abs(y1 - cy) + 2 * width), 0))  # fmt: skip


def render_clocks(seed: int) -> Scene:
    """Clock faces with numerals (7-14 px) and hands, two or three per scene."""
    rng = np.random.default_rng(seed)
    c = _Canvas(rng, 384, 512)
    layouts = [((130, 130, 100), (380, 260, 80)), ((100, 100, 70), (260, 250, 90), (430, 110, 60))]
    for cx, cy, r in layouts[seed % 2]:
        _clock(c, cx, cy, r, int(rng.integers(1, 13)), int(rng.integers(0, 12)) * 5)
    return c.scene(f"clocks{seed}")


def render_plates(seed: int) -> Scene:
    """Two number plates with a small city line above the number (as on Brazilian plates)."""
    rng = np.random.default_rng(seed)
    c = _Canvas(rng, 384, 512)
    letters = "ABCDEFGHJKLMNPRSTUVWXYZ"
    for k in range(2):
        x, y = int(rng.integers(20, 160)), 40 + k * 170
        c.draw.rounded_rectangle((x, y, x + 300, y + 110), radius=8, fill=(235, 235, 228),
                                 outline=(20, 20, 20),
                                 width=3)  # fmt: skip
        c.draw.rectangle((x + 4, y + 4, x + 296, y + 26), fill=(30, 60, 160))
        city = f"{rng.choice(list('BSMRDP'))}{rng.choice(list('ARFSPE'))}-{rng.choice(CITIES)}"
        c.text((x + 150, y + 15), city, int(rng.integers(9, 13)), (255, 255, 255), "word", anchor="mm")
        plate = "".join(rng.choice(list(letters), 3)) + "".join(str(d) for d in rng.integers(0, 10, 4))
        c.text((x + 150, y + 68), plate, int(rng.integers(30, 44)), (20, 20, 25), "number", True, anchor="mm")
    return c.scene(f"plates{seed}")


RENDERERS = {
    "table": render_table,
    "stickers": render_stickers,
    "signs": render_signs,
    "clocks": render_clocks,
    "plates": render_plates,
}


def render_scene(kind: str, seed: int) -> Scene:
    """Render one scene; ``kind`` is one of :data:`SCENE_KINDS`."""
    if kind not in RENDERERS:
        raise ValueError(f"unknown scene kind {kind!r}; known: {', '.join(SCENE_KINDS)}")
    return RENDERERS[kind](seed)
