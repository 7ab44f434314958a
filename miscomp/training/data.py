"""The training set for the in-house learned codecs: photos available offline that are NOT Kodak.

Three sources, read once into memory (a few hundred MB at most) and sampled as random crops:

- ``photos``: scikit-image's bundled images (public domain / CC0 / free licences, see models/README.md);
- ``plates``: the car photos in ``shared/data/plates`` (AGPL-3.0, openalpr/benchmarks), downscaled;
- ``rendered``: scenes drawn here with Pillow (text, digits, plate-like strings, shapes, gradients),
  because text and digits are exactly what a codec must not change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# Colour photos bundled with scikit-image (no download needed).
SKIMAGE_COLOUR = (
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "motorcycle_left",
    "motorcycle_right",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
)
# Grey-level photos and textures, replicated to RGB: fine detail and text (page, text).
SKIMAGE_GREY = ("camera", "coins", "moon", "page", "text", "brick", "grass", "gravel")

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")


@dataclass
class TrainingSet:
    """Images grouped by source; ``sample`` draws a batch of random crops with random flips."""

    groups: dict[str, list[np.ndarray]]
    weights: dict[str, float]
    names: dict[str, list[str]] = field(default_factory=dict)

    def summary(self) -> dict[str, dict[str, float]]:
        return {
            g: {"images": len(imgs), "megapixels": sum(i.shape[0] * i.shape[1] for i in imgs) / 1e6}
            for g, imgs in self.groups.items()
        }

    def sample(self, rng: np.random.Generator, batch: int, patch: int) -> np.ndarray:
        """``batch`` crops of ``patch``² as a float32 N×3×H×W array in [0, 1]."""
        groups = [g for g in self.groups if self.groups[g]]
        p = np.array([self.weights.get(g, 1.0) for g in groups], dtype=float)
        p /= p.sum()
        out = np.empty((batch, 3, patch, patch), dtype=np.float32)
        for i in range(batch):
            imgs = self.groups[groups[rng.choice(len(groups), p=p)]]
            img = imgs[rng.integers(len(imgs))]
            y = rng.integers(img.shape[0] - patch + 1)
            x = rng.integers(img.shape[1] - patch + 1)
            crop = img[y : y + patch, x : x + patch]
            if rng.random() < 0.5:
                crop = crop[:, ::-1]
            if rng.random() < 0.5:
                crop = crop[::-1]
            out[i] = crop.transpose(2, 0, 1) / 255.0
        return out


def _to_rgb(img: np.ndarray) -> np.ndarray:
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    img = img[..., :3]
    if img.dtype != np.uint8:
        img = np.clip(img * (255 if img.max() <= 1 else 1), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(img)


def skimage_photos(min_side: int) -> tuple[list[np.ndarray], list[str]]:
    from skimage import data

    imgs, names = [], []
    for name in SKIMAGE_COLOUR + SKIMAGE_GREY:
        try:
            img = _to_rgb(getattr(data, name)())
        except Exception:  # noqa: BLE001 - an image missing from this scikit-image build is skipped
            continue
        if min(img.shape[:2]) >= min_side:
            imgs.append(img)
            names.append(name)
    return imgs, names


def plate_photos(folder: Path, min_side: int, max_side: int = 640) -> tuple[list[np.ndarray], list[str]]:
    """Plate photos, downscaled so the long side is <= ``max_side``: that also averages away much of
    their JPEG blocking, which we do not want the codec to learn to reproduce."""
    from PIL import Image

    imgs, names = [], []
    for path in sorted(folder.glob("*/*.jpg")):
        with Image.open(path) as im:
            im = im.convert("RGB")
            scale = max_side / max(im.size)
            if scale < 1:
                size = (round(im.width * scale), round(im.height * scale))
                if min(size) >= min_side:
                    im = im.resize(size, Image.Resampling.LANCZOS)
            if min(im.size) < min_side:
                continue
            imgs.append(np.asarray(im))
            names.append(f"{path.parent.name}/{path.name}")
    return imgs, names


def rendered_scenes(n: int, seed: int = 0, size: tuple[int, int] = (384, 256)) -> list[np.ndarray]:
    """Synthetic scenes: gradient or noisy backgrounds, filled shapes, and lines of text/digits in
    DejaVu fonts at 10-56 px, some slightly blurred (as a camera would)."""
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    rng = np.random.default_rng(seed)
    fonts = sorted(FONT_DIR.glob("DejaVu*.ttf")) if FONT_DIR.exists() else []
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


def build_training_set(
    plates_dir: Path | None,
    n_rendered: int = 96,
    min_side: int = 128,
    weights: dict[str, float] | None = None,
    include_skimage: bool = True,
) -> TrainingSet:
    groups: dict[str, list[np.ndarray]] = {}
    names: dict[str, list[str]] = {}
    if include_skimage:
        groups["photos"], names["photos"] = skimage_photos(min_side)
    if plates_dir is not None and plates_dir.exists():
        groups["plates"], names["plates"] = plate_photos(plates_dir, min_side)
    groups["rendered"] = rendered_scenes(n_rendered)
    names["rendered"] = [f"rendered_{i:03d}" for i in range(n_rendered)]
    weights = weights or {"photos": 0.35, "plates": 0.4, "rendered": 0.25}
    return TrainingSet(groups=groups, weights=weights, names=names)
