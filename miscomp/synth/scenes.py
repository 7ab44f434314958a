"""Every scene miscomp renders, in one place: the bundled sample scenes (a plate, street signs), random
text-and-shape scenes for training, text boxes and glyph swaps for injected symbol changes.

Fonts are matplotlib's bundled DejaVu faces (always installed with miscomp), except for the training
scenes, which were generated with the system's DejaVu folder when the in-house weights were trained
and keep that source so the training set stays reproducible.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# The training scenes' font folder (Debian's fonts-dejavu-core); see the module docstring.
SYSTEM_FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
# Glyphs a swapped plate character is drawn from (no I/O/Q: plates avoid them).
PLATE_ALPHABET = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"


def font(size: int, bold: bool = True) -> ImageFont.FreeTypeFont:
    import matplotlib

    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name
    return ImageFont.truetype(str(path), size)


def render_plate_scene(text: str = "KX7 3B48", seed: int = 0) -> np.ndarray:
    """A car-plate-like scene: textured background, a white plate with dark characters."""
    rng = np.random.default_rng(seed)
    h, w = 320, 480
    yy, xx = np.mgrid[0:h, 0:w]
    bg = np.stack([60 + 40 * np.sin(xx / 37.0), 70 + 30 * np.cos(yy / 23.0), 90 + 0 * xx], axis=-1)
    bg += rng.normal(0, 8, bg.shape)
    im = Image.fromarray(np.clip(bg, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(im)
    draw.rounded_rectangle(
        (70, 110, 410, 200), radius=10, fill=(235, 235, 225), outline=(20, 20, 20), width=4
    )
    draw.rectangle((78, 118, 104, 192), fill=(30, 60, 160))
    draw.text((250, 156), text, font=font(52), fill=(20, 20, 25), anchor="mm")
    return np.asarray(im)


def render_sign_scene(seed: int = 1) -> np.ndarray:
    """A street-sign-like scene: shapes with sharp contours, a price and a word."""
    rng = np.random.default_rng(seed)
    h, w = 384, 512
    base = rng.normal(128, 10, (h, w, 3)).clip(0, 255).astype(np.uint8)
    im = Image.fromarray(base)
    draw = ImageDraw.Draw(im)
    draw.ellipse((30, 30, 190, 190), fill=(200, 20, 20))
    draw.ellipse((55, 55, 165, 165), fill=(245, 245, 245))
    draw.text((110, 110), "30", font=font(60), fill=(10, 10, 10), anchor="mm")
    draw.regular_polygon((360, 110, 80), n_sides=8, fill=(190, 10, 10))
    draw.text((360, 110), "STOP", font=font(40), fill=(255, 255, 255), anchor="mm")
    draw.rectangle((40, 240, 470, 350), fill=(20, 90, 40))
    draw.text((255, 270), "Exit 14  Main St", font=font(32), fill=(255, 255, 255), anchor="mm")
    draw.text((255, 320), "$1,284.50", font=font(30, bold=False), fill=(255, 230, 90), anchor="mm")
    return np.asarray(im)


def rendered_scenes(n: int, seed: int = 0, size: tuple[int, int] = (384, 256)) -> list[np.ndarray]:
    """Synthetic scenes: gradient or noisy backgrounds, filled shapes, and lines of text/digits in
    DejaVu fonts at 10-56 px, some slightly blurred (as a camera would)."""
    from PIL import ImageFilter

    rng = np.random.default_rng(seed)
    fonts = sorted(SYSTEM_FONT_DIR.glob("DejaVu*.ttf")) if SYSTEM_FONT_DIR.exists() else []
    alphabet = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
    words = ["EXIT", "STOP", "km/h", "$1,284.50", "No. 38", "Tel. 0171 555 0199", "B-MW 3812", "OPEN 24h"]
    w, h = size
    scenes = []
    for _ in range(n):
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        c0, c1 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        t = (xx * rng.uniform(-1, 1) + yy * rng.uniform(-1, 1)) / (w + h) + 0.5
        bg = c0 * (1 - t[..., None]) + c1 * t[..., None] + rng.normal(0, rng.uniform(0, 12), (h, w, 3))
        im = Image.fromarray(np.clip(bg, 0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(im)
        for _ in range(rng.integers(2, 8)):
            box = sorted(rng.integers(0, w, 2)), sorted(rng.integers(0, h, 2))
            xy = [box[0][0], box[1][0], box[0][1] + 2, box[1][1] + 2]
            fill = tuple(int(v) for v in rng.integers(0, 256, 3))
            kind = rng.integers(3)
            if kind == 0:
                draw.rectangle(xy, fill=fill)
            elif kind == 1:
                draw.ellipse(xy, fill=fill)
            else:
                pts = [(int(rng.integers(w)), int(rng.integers(h))) for _ in range(3)]
                draw.polygon(pts, fill=fill)
        for _ in range(rng.integers(2, 7)):
            if rng.random() < 0.5:
                text = "".join(rng.choice(list(alphabet), rng.integers(3, 9)))
            else:
                text = str(rng.choice(words))
            px = int(rng.integers(10, 57))
            font = ImageFont.truetype(str(fonts[rng.integers(len(fonts))]), px) if fonts else None
            colour = tuple(int(v) for v in rng.integers(0, 256, 3))
            draw.text(
                (int(rng.integers(0, w - 40)), int(rng.integers(0, h - 20))), text, fill=colour, font=font
            )
        if rng.random() < 0.3:
            im = im.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 1.2)))
        scenes.append(np.asarray(im))
    return scenes


def render_text_box(img: np.ndarray, text: str, x: int, y: int, size: int) -> np.ndarray:
    im = Image.fromarray(img)
    draw = ImageDraw.Draw(im)
    font = ImageFont.load_default(size=size)
    left, top, right, bottom = draw.textbbox((x, y), text, font=font)
    pad = size // 4
    draw.rectangle(
        (left - pad, top - pad, right + pad, bottom + pad), fill=(236, 232, 220), outline=(30, 30, 30)
    )
    draw.text((x, y), text, font=font, fill=(20, 20, 28))
    return np.asarray(im)


def swap_glyph(crop: np.ndarray, cbox: tuple, old: str, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """Erase the glyph in ``cbox`` with the local background and render a different character."""
    x, y, w, h = cbox
    region = crop[y : y + h, x : x + w].reshape(-1, 3).astype(float)
    lum = region.mean(axis=1)
    bg = np.median(region[lum >= np.median(lum)], axis=0)
    fg = np.median(region[lum < np.median(lum)], axis=0)
    if np.median(crop[max(0, y - 3) : y, x : x + w]) < lum.mean():  # light glyph on dark plate
        bg, fg = fg, bg
    new = old
    while new == old:
        new = PLATE_ALPHABET[rng.integers(len(PLATE_ALPHABET))]
    out = Image.fromarray(crop.copy())
    draw = ImageDraw.Draw(out)
    draw.rectangle([x - 1, y - 1, x + w + 1, y + h + 1], fill=tuple(int(v) for v in bg))
    face = font(max(8, int(h * 1.3)))
    gx0, gy0, gx1, gy1 = draw.textbbox((0, 0), new, font=face)
    glyph = Image.new("L", (gx1 - gx0, gy1 - gy0), 0)
    ImageDraw.Draw(glyph).text((-gx0, -gy0), new, fill=255, font=face)
    glyph = glyph.resize((max(2, w), max(2, h)))  # fit the old glyph's cell exactly
    out.paste(Image.new("RGB", glyph.size, tuple(int(v) for v in fg)), (x, y), glyph)
    return np.asarray(out), new
