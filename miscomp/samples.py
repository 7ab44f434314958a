"""The bundled sample set: what ``miscomp scan`` runs on when given no input.

Made without any download: scikit-image's bundled photos plus scenes rendered here with text, digits
and shapes (the things a miscompression changes). Fonts are matplotlib's bundled DejaVu faces.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from miscomp.imageio import write_png

# Photos shipped inside scikit-image (public domain / CC0, see skimage.data docs).
SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


def _font(size: int, bold: bool = True) -> ImageFont.FreeTypeFont:
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
    draw.text((250, 156), text, font=_font(52), fill=(20, 20, 25), anchor="mm")
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
    draw.text((110, 110), "30", font=_font(60), fill=(10, 10, 10), anchor="mm")
    draw.regular_polygon((360, 110, 80), n_sides=8, fill=(190, 10, 10))
    draw.text((360, 110), "STOP", font=_font(40), fill=(255, 255, 255), anchor="mm")
    draw.rectangle((40, 240, 470, 350), fill=(20, 90, 40))
    draw.text((255, 270), "Exit 14  Main St", font=_font(32), fill=(255, 255, 255), anchor="mm")
    draw.text((255, 320), "$1,284.50", font=_font(30, bold=False), fill=(255, 230, 90), anchor="mm")
    return np.asarray(im)


def sample_images() -> dict[str, np.ndarray]:
    import skimage.data

    images = {name: getattr(skimage.data, name)() for name in SKIMAGE_PHOTOS}
    images["plate_scene"] = render_plate_scene()
    images["sign_scene"] = render_sign_scene()
    return images


def materialize(folder: Path) -> Path:
    """Write the sample set as PNGs into ``folder`` (idempotent) and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, rgb in sample_images().items():
        path = folder / f"{name}.png"
        if not path.exists():
            write_png(path, np.ascontiguousarray(rgb[..., :3]))
    return folder
