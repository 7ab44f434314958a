"""Crops that let a person judge a finding at a glance: original | reconstruction | amplified
difference, cut around the finding with some context and enlarged when small."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from miscomp.findings import Finding
from miscomp.geometry import Box
from miscomp.io import write_png

MIN_SIDE = 96  # smaller crops are enlarged (nearest neighbour, so pixels stay honest)
DIFF_GAIN = 4.0


@dataclass(frozen=True)
class CropPaths:
    original: str
    reconstruction: str
    diff: str
    side_by_side: str
    window: Box  # where the crops were cut, in original-image pixels


def amplified_diff(original: np.ndarray, reconstruction: np.ndarray, gain: float = DIFF_GAIN) -> np.ndarray:
    """|original − reconstruction| × gain, as a heat map (black = identical)."""
    diff = np.abs(original.astype(np.int16) - reconstruction.astype(np.int16)).max(axis=2)
    amp = np.clip(diff * gain, 0, 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(amp, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)


def _enlarge(img: np.ndarray) -> np.ndarray:
    side = min(img.shape[:2])
    if side >= MIN_SIDE:
        return img
    factor = int(np.ceil(MIN_SIDE / max(side, 1)))
    return cv2.resize(img, None, fx=factor, fy=factor, interpolation=cv2.INTER_NEAREST)


def _outline(img: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    out = img.copy()
    x, y, w, h = box
    cv2.rectangle(out, (x, y), (x + w - 1, y + h - 1), (0, 200, 255), 1)
    return out


def write_crops(
    run_dir: Path, finding: Finding, original: np.ndarray, reconstruction: np.ndarray
) -> CropPaths:
    """Write the crop images of one finding; returns paths relative to ``run_dir``."""
    height, width = original.shape[:2]
    win = finding.box.crop_window(width, height)
    box = (finding.x - win.x, finding.y - win.y, finding.w, finding.h)
    o = original[win.y : win.y1, win.x : win.x1]
    r = reconstruction[win.y : win.y1, win.x : win.x1]
    d = amplified_diff(o, r)
    rel = Path("crops") / finding.pair_id
    names = {k: rel / f"{finding.finding_id}_{k}.png" for k in ("orig", "rec", "diff", "sbs")}
    o_big, r_big, d_big = (_enlarge(a) for a in (o, r, d))
    sep = np.full((o_big.shape[0], 6, 3), 255, np.uint8)
    scale = o_big.shape[0] / o.shape[0]
    sbox = tuple(int(round(v * scale)) for v in box)
    sbs = np.hstack([_outline(o_big, sbox), sep, _outline(r_big, sbox), sep, d_big])
    for key, img in (("orig", o_big), ("rec", r_big), ("diff", d_big), ("sbs", sbs)):
        write_png(run_dir / names[key], img)
    return CropPaths(str(names["orig"]), str(names["rec"]), str(names["diff"]), str(names["sbs"]), win)
