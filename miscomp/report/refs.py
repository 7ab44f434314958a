"""CompressAI's published rate–distortion results on Kodak, the reference a run is compared with.

The numbers live in ``miscomp/data/compressai_kodak_refs.json``, copied from CompressAI's
``results/image/kodak`` (BSD 3-Clause Clear, InterDigital); they are means over all 24 Kodak images,
so a run on a subset of Kodak is comparable only approximately.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

REFS_FILE = Path(__file__).resolve().parents[1] / "data" / "compressai_kodak_refs.json"
KODAK_STEM = re.compile(r"^kodim(0[1-9]|1[0-9]|2[0-4])$")
# Shown as context on every Kodak run, even when the run has no codec of that family: the classical
# baseline everyone knows and the best learned model CompressAI publishes for CPU inference here.
CONTEXT_KEYS = ("jpeg", "mbt2018-mean")


@dataclass(frozen=True)
class RefCurve:
    key: str
    label: str
    codec_names: tuple[str, ...]
    bpp: tuple[float, ...]
    psnr: tuple[float, ...]
    ms_ssim: tuple[float, ...]


@cache
def _load() -> tuple[dict[str, RefCurve], str]:
    doc = json.loads(REFS_FILE.read_text(encoding="utf-8"))
    curves = {
        key: RefCurve(
            key=key,
            label=c["label"],
            codec_names=tuple(c["codec_names"]),
            bpp=tuple(c["bpp"]),
            psnr=tuple(c["psnr_rgb"]),
            ms_ssim=tuple(c["ms_ssim_rgb"]),
        )
        for key, c in doc["curves"].items()
    }
    return curves, f"{doc['source']}. {doc['license']}"


def kodak_refs() -> dict[str, RefCurve]:
    """All reference curves by key (``jpeg``, ``webp``, ``bmshj2018-factorized`` …)."""
    return dict(_load()[0])


def refs_citation() -> str:
    return _load()[1]


def kodak_image_ids(original_stems: Iterable[str]) -> set[str] | None:
    """The Kodak ids (kodim01..24) when every original is a Kodak image, else None."""
    stems = {s.lower() for s in original_stems}
    if not stems or not all(KODAK_STEM.match(s) for s in stems):
        return None
    return stems


def ref_for_codec(name: str, params: Mapping[str, Any] | None = None) -> RefCurve | None:
    """The reference curve of a codec, matched by registry name or by a ``model``/``arch`` parameter
    (how a CompressAI zoo codec names its architecture)."""
    params = params or {}
    candidates = {str(name).lower()} | {str(params[k]).lower() for k in ("model", "arch") if k in params}
    for curve in kodak_refs().values():
        if candidates & set(curve.codec_names):
            return curve
    return None
