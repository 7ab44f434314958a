"""The bundled sample set: what ``miscomp scan`` runs on when given no input.

Made without any download: scikit-image's bundled photos plus scenes rendered here with text, digits
and shapes (the things a miscompression changes). Fonts are matplotlib's bundled DejaVu faces.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from miscomp.io import write_png
from miscomp.synth.scenes import render_plate_scene, render_sign_scene

# Photos shipped inside scikit-image (public domain / CC0, see skimage.data docs).
SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


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
