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


# ---------------------------------------------------------------------------------------------------
# text crops with masks, for the miscompression-aware fine-tune (miscomp/training/aware.py)


@dataclass(frozen=True)
class TextCropConfig:
    """Where the aware fine-tune's text crops come from. Seeds are chosen away from the real-codec test
    bed's scenes (seeds 0-3) and from the evaluation's fresh scenes (``eval_seed0`` on), so nothing the
    result is measured on is trained on (defined)."""

    train_seed0: int = 1000
    scenes_per_kind: int = 12
    eval_seed0: int = 2000
    mask_pad: int = 2  # px around a text box: the stroke edges and anti-aliasing belong to the text
    centre_jitter: float = 0.35  # a crop's centre moves by up to this share of the patch around a box
    # Small text weighs more (0: every box weighs 1). A box of character height h weighs
    # clip(size_ref_px / h, 1/size_clip, size_clip) ** size_power, in the mask and in how often a crop
    # is centred on it. Tuned (docs/decisions/aware-training.md): on the bed's tune q1 items every
    # labelled symbol miscompression is text of <= 14 px (86 % of 10-12 px items, none of 15-40 px).
    size_ref_px: float = 0.0
    size_power: float = 2.0
    size_clip: float = 2.0
    # Plate photos are kept as a window of this many px around the plate (not the full frame: 200
    # full-size photos held most of the ~1.8 GB of the first run); defined, >= 3 patches of 128 px.
    plate_window: int = 384

    def box_weight(self, char_px: float) -> float:
        if self.size_ref_px <= 0:
            return 1.0
        r = min(max(self.size_ref_px / max(char_px, 1.0), 1 / self.size_clip), self.size_clip)
        return float(r**self.size_power)


# A weighted mask is stored as uint8 in steps of 1/MASK_STEPS (defined: weights up to 255/32 ~ 8, exact
# for the binary mask).
MASK_STEPS = 32


@dataclass
class TextCropSet:
    """Images with a text mask (H×W uint8, 1 inside text boxes: a quarter of float32's memory, which
    matters with 200 full-size plate photos); ``sample`` centres each crop on a
    random text box (jittered), so every crop holds text."""

    images: list[np.ndarray]
    masks: list[np.ndarray]
    boxes: list[list[tuple[int, int, int, int]]]
    names: list[str]
    jitter: float = 0.35
    # per box, its weight (TextCropConfig.box_weight): masks hold weight × MASK_STEPS, and a crop is
    # centred on a box with probability proportional to its weight; None: every box weighs 1
    weights: list[list[float]] | None = None

    def __post_init__(self) -> None:
        self._flat = [(k, j) for k, ws in enumerate(self.weights or []) for j in range(len(ws))]
        p = np.array([w for ws in self.weights or [] for w in ws], dtype=float)
        self._p = p / p.sum() if len(p) else p

    def _pick(self, rng: np.random.Generator) -> tuple[int, int]:
        if self.weights is None:
            k = int(rng.integers(len(self.images)))
            return k, int(rng.integers(len(self.boxes[k])))
        return self._flat[int(rng.choice(len(self._flat), p=self._p))]

    def sample(self, rng: np.random.Generator, batch: int, patch: int) -> tuple[np.ndarray, np.ndarray]:
        out = np.empty((batch, 3, patch, patch), dtype=np.float32)
        msk = np.empty((batch, 1, patch, patch), dtype=np.float32)
        scale = 1.0 if self.weights is None else 1.0 / MASK_STEPS
        for i in range(batch):
            k, b = self._pick(rng)
            img, mask = self.images[k], self.masks[k]
            x, y, w, h = self.boxes[k][b]
            j = self.jitter * patch
            cx = x + w / 2 + rng.uniform(-j, j)
            cy = y + h / 2 + rng.uniform(-j, j)
            x0 = int(np.clip(round(cx - patch / 2), 0, img.shape[1] - patch))
            y0 = int(np.clip(round(cy - patch / 2), 0, img.shape[0] - patch))
            crop = img[y0 : y0 + patch, x0 : x0 + patch]
            out[i] = crop.transpose(2, 0, 1) / 255.0
            msk[i, 0] = mask[y0 : y0 + patch, x0 : x0 + patch] * scale
        return out, msk


def box_mask(
    shape: tuple[int, int],
    boxes: list[tuple[int, int, int, int]],
    pad: int,
    values: list[int] | None = None,
) -> np.ndarray:
    """uint8 mask, 1 (or the box's ``values``; where boxes overlap, the larger) inside each padded box."""
    mask = np.zeros(shape, dtype=np.uint8)
    for i, (x, y, w, h) in enumerate(boxes):
        region = mask[max(0, y - pad) : y + h + pad, max(0, x - pad) : x + w + pad]
        np.maximum(region, 1 if values is None else values[i], out=region)
    return mask


def _weighted(cfg: TextCropConfig, char_px: list[float]) -> tuple[list[float] | None, list[int] | None]:
    if cfg.size_ref_px <= 0:
        return None, None
    w = [cfg.box_weight(c) for c in char_px]
    return w, [int(np.clip(round(v * MASK_STEPS), 1, 255)) for v in w]


def text_scene_crops(seeds: range, cfg: TextCropConfig, kinds: tuple[str, ...] | None = None) -> TextCropSet:
    """Rendered text scenes (``miscomp.synth.text_scenes``) with their ground-truth boxes as the mask."""
    from miscomp.synth.text_scenes import SCENE_KINDS, render_scene

    images, masks, boxes, names, weights = [], [], [], [], []
    for kind in kinds or SCENE_KINDS:
        for seed in seeds:
            scene = render_scene(kind, seed)
            items = [it for it in scene.items if it.kind != "hand"]
            b = [(it.x, it.y, it.w, it.h) for it in items]
            if not b:
                continue
            w, values = _weighted(cfg, [it.char_px for it in items])
            images.append(scene.image)
            masks.append(box_mask(scene.image.shape[:2], b, cfg.mask_pad, values))
            boxes.append(b)
            names.append(f"scene_{kind}{seed}")
            weights.append(w)
    return _crop_set(cfg, images, masks, boxes, names, weights)


def _crop_set(cfg: TextCropConfig, images, masks, boxes, names, weights) -> TextCropSet:
    """The set both sources build; the per-image size weights only when size weighting is on."""
    return TextCropSet(
        images,
        masks,
        boxes,
        names,
        jitter=cfg.centre_jitter,
        weights=weights if cfg.size_ref_px > 0 else None,
    )


def plate_text_crops(folder: Path, keep, cfg: TextCropConfig, min_side: int = 128) -> TextCropSet:
    """Plate photos (``shared/data/plates/<region>/*.jpg`` with ``<name>.txt``: name, x, y, w, h, text)
    whose reference ``<region>/<name>`` passes ``keep`` (the caller keeps the tune split only); the mask
    is the plate box. Photos are used at full size (the plate's characters keep their real size)."""
    from PIL import Image

    from miscomp.datasets.plates import read_plate_boxes

    images, masks, boxes, names, weights = [], [], [], [], []
    for plate in read_plate_boxes(folder):
        path = folder / plate.ref
        if not keep(plate.ref) or not path.exists():
            continue
        with Image.open(path) as im:
            rgb = np.asarray(im.convert("RGB"))
        if min(rgb.shape[:2]) < min_side:
            continue
        # a window around the plate (full size: the characters keep their real size)
        x, y, w, h = plate.box
        half = max(cfg.plate_window, w + 2 * min_side, h + 2 * min_side) // 2
        x0, y0 = max(0, x + w // 2 - half), max(0, y + h // 2 - half)
        rgb = np.ascontiguousarray(rgb[y0 : y0 + 2 * half, x0 : x0 + 2 * half])
        if min(rgb.shape[:2]) < min_side:
            continue
        box = (x - x0, y - y0, w, h)
        wt, values = _weighted(cfg, [h])  # a plate's box height stands for its character height
        images.append(rgb)
        masks.append(box_mask(rgb.shape[:2], [box], cfg.mask_pad, values))
        boxes.append([box])
        names.append(plate.ref)
        weights.append(wt)
    return _crop_set(cfg, images, masks, boxes, names, weights)


@dataclass
class AwareTrainingSet:
    """The ordinary training set (masks empty) mixed with text crops (masks set): each batch item is a
    text crop with probability ``text_share``. ``sample`` gives images only (the plain loop's API)."""

    base: TrainingSet
    text: list[TextCropSet]
    text_share: float = 0.5

    def summary(self) -> dict[str, dict[str, float]]:
        out = self.base.summary()
        for i, t in enumerate(self.text):
            out[f"text{i}"] = {"images": len(t.images), "megapixels": sum(m.size for m in t.masks) / 1e6}
        return out

    def sample_masked(
        self, rng: np.random.Generator, batch: int, patch: int
    ) -> tuple[np.ndarray, np.ndarray]:
        n_text = int(rng.binomial(batch, self.text_share))
        x = self.base.sample(rng, batch - n_text, patch)
        m = np.zeros((batch - n_text, 1, patch, patch), dtype=np.float32)
        parts = [(x, m)] + self._text_crops(rng, n_text, patch)
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def sample(self, rng: np.random.Generator, batch: int, patch: int) -> np.ndarray:
        return self.sample_masked(rng, batch, patch)[0]

    def sample_text(self, rng: np.random.Generator, n: int, patch: int) -> np.ndarray:
        """``n`` text crops only (picked as in ``sample_masked``): the rate controller's probe."""
        return np.concatenate([x for x, _ in self._text_crops(rng, n, patch)])

    def _text_crops(
        self, rng: np.random.Generator, n: int, patch: int
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """``n`` (image, mask) text crops, each from a text set with images picked at random."""
        sets = [t for t in self.text if t.images]
        return [sets[int(rng.integers(len(sets)))].sample(rng, 1, patch) for _ in range(n)]
