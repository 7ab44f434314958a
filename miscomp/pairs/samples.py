"""The bundled sample set: what ``miscomp scan`` runs on when given no input.

Made without any download: scikit-image's bundled photos plus two scenes rendered here with small text
(the things a miscompression changes). Fonts are matplotlib's bundled DejaVu faces.

The scenes are the test bed's renderers (:mod:`miscomp.synth.text_scenes`), chosen so that the demo
shows what the tool is for: the in-house bmshj2018-factorized q=1 codec, which ships in the package,
blurs their 9-13 px text until OCR cannot read it (the plates' city lines "BF-BRASILIA" and
"SP-TORINO", the signs' captions), while the large plate numbers survive. The scenes used before, with
32-60 px text, read identically under every bundled codec, so the demo showed no symbol finding.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from miscomp.io import write_png
from miscomp.synth.text_scenes import render_plates, render_signs

# Photos shipped inside scikit-image (public domain / CC0, see skimage.data docs).
SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


def sample_images() -> dict[str, np.ndarray]:
    import skimage.data

    images = {name: getattr(skimage.data, name)() for name in SKIMAGE_PHOTOS}
    # seeds picked by running the in-house codec over plates 0-1 and signs 0-3 (scan of 2026-12-07):
    # each of these loses text at q=1 (plates0: both city lines; signs1: captions, "MUSEUM" read
    # as "HUSEUN")
    images["plate_scene"] = render_plates(0).image
    images["sign_scene"] = render_signs(1).image
    return images


def materialize(folder: Path) -> Path:
    """Write the sample set as PNGs into ``folder`` (idempotent) and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, rgb in sample_images().items():
        path = folder / f"{name}.png"
        if not path.exists():
            write_png(path, np.ascontiguousarray(rgb[..., :3]))
    return folder
