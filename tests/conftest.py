"""Shared fixtures. Most tests build small images in memory; tests that need the shared data set
(Kodak, plates, TAEF2 weights) find it through MISCOMP_SHARED (default: ../shared beside the repo)
and skip, naming the missing file, only when it is genuinely absent."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]

# One thread: on these 2-core machines PyTorch's default spinning threads were 4x slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def shared_path(*parts: str) -> Path:
    return Path(os.environ.get("MISCOMP_SHARED", REPO.parent / "shared")).joinpath(*parts)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return shared_path()


@pytest.fixture
def require_shared():
    """``require_shared("data", "kodak", "kodim23.png")`` → the path, or skip naming what is missing."""

    def _require(*parts: str) -> Path:
        path = shared_path(*parts)
        if not path.exists():
            pytest.skip(f"shared file not found: {path} (set MISCOMP_SHARED to the shared/ folder)")
        return path

    return _require


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def textured_image(rng) -> np.ndarray:
    """A 128×192 RGB image with smooth gradients, shapes and noise: enough structure for codecs."""
    h, w = 128, 192
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy) * 127 / (w + h) + 64], axis=-1)
    img[30:70, 40:90] = [200, 40, 40]
    img[80:110, 120:170] = [30, 160, 60]
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)
