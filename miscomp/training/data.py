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

from miscomp.synth.scenes import rendered_scenes

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
