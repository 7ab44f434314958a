"""``miscomp trace``: how likely an image went through a learned (neural) codec, with evidence.

A logistic regression over the interpretable tile features of :mod:`miscomp.forensics.features`,
trained by ``models/train_trace.py`` and shipped as JSON (``miscomp/data/trace-model.json``: feature
means/scales, weights, and the median feature values of originals and of learned-codec outputs, so the
evidence can say what is typical). An image is cut into up to six 256×256 tiles on its own grid; the
tiles' logits are averaged. What it can and cannot see is measured leave-one-codec-out
(``benchmarks/trace_loco.py``, model card ``models/trace-detector.md``).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from miscomp.errors import MiscompError
from miscomp.forensics.features import DESCRIPTIONS, FEATURES, tile_features, tiles

MODEL_FILE = "trace-model.json"
LIKELY, UNLIKELY = 0.7, 0.3  # verdict bands; between them: "uncertain"


@dataclass(frozen=True)
class Evidence:
    feature: str
    value: float
    contribution: float  # to the logit; > 0 points to a learned codec
    typical_original: float
    typical_learned: float
    description: str


@dataclass(frozen=True)
class TraceResult:
    path: str
    probability: float
    verdict: str
    tiles: int
    evidence: list[Evidence] = field(default_factory=list)
    model: str = ""
    notes: tuple[str, ...] = ()  # what reading the file changed (16-bit reduced to 8, EXIF orientation)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        top = "; ".join(
            f"{e.description} {e.value:.2f} "
            f"(original ~{e.typical_original:.2f}, learned ~{e.typical_learned:.2f})"
            for e in self.evidence[:2]
        )
        return f"p={self.probability:.2f} {self.verdict}: {top}"


@dataclass(frozen=True)
class TraceModel:
    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    typical_original: np.ndarray
    typical_learned: np.ndarray
    version: str

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TraceModel:
        feats = tuple(d["features"])
        if feats != FEATURES:
            raise MiscompError(
                f"trace model was trained on features {list(feats)}, this miscomp computes {list(FEATURES)}"
            )
        arr = {k: np.asarray(d[k], dtype=np.float64) for k in ("mean", "scale", "coef")}
        typ = d.get("typical", {})
        return cls(
            feats,
            arr["mean"],
            arr["scale"],
            arr["coef"],
            float(d["intercept"]),
            np.asarray(typ.get("original", arr["mean"]), dtype=np.float64),
            np.asarray(typ.get("learned", arr["mean"]), dtype=np.float64),
            str(d.get("version", "")),
        )

    def logits(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale) @ self.coef + self.intercept

    def contributions(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.scale * self.coef


@cache
def _packaged() -> TraceModel:
    text = resources.files("miscomp").joinpath("data", MODEL_FILE).read_text(encoding="utf-8")
    return TraceModel.from_dict(json.loads(text))


def load_model(path: Path | None = None) -> TraceModel:
    if path is None:
        return _packaged()
    try:
        return TraceModel.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise MiscompError(f"{path}: not a trace model ({type(err).__name__}: {err})") from None


# The smallest side traced: two periods of the longest grid the features look for (16 px, block16 and
# spec_p16). Below 17 px some features are undefined (NaN; under 8 px none are), and up to 31 px the
# 16-px features rest on a single period.
TRACE_MIN_SIDE = 32


def trace_rgb(rgb: np.ndarray, model: TraceModel | None = None, path: str = "") -> TraceResult:
    h, w = rgb.shape[:2]
    if min(h, w) < TRACE_MIN_SIDE:
        raise MiscompError(
            f"{path or 'image'}: {w}×{h} is too small to trace "
            f"(at least {TRACE_MIN_SIDE}×{TRACE_MIN_SIDE} pixels)"
        )
    model = model or load_model()
    feats = np.stack([tile_features(t) for t in tiles(rgb)])
    logit = float(model.logits(feats).mean())
    prob = 1.0 / (1.0 + math.exp(-max(min(logit, 50.0), -50.0)))
    mean_feats = feats.mean(axis=0)
    contrib = model.contributions(mean_feats)
    order = np.argsort(-np.abs(contrib))
    evidence = [
        Evidence(
            model.features[i],
            round(float(mean_feats[i]), 4),
            round(float(contrib[i]), 3),
            round(float(model.typical_original[i]), 4),
            round(float(model.typical_learned[i]), 4),
            DESCRIPTIONS[model.features[i]],
        )
        for i in order[:5]
    ]
    verdict = (
        "likely learned codec"
        if prob >= LIKELY
        else "no learned-codec trace"
        if prob <= UNLIKELY
        else "uncertain"
    )
    return TraceResult(path, round(prob, 4), verdict, len(feats), evidence, model.version)


def trace_file(path: Path, model: TraceModel | None = None, max_pixels: int | None = None) -> TraceResult:
    from miscomp.io import DEFAULT_MAX_PIXELS, read_image

    # 16-bit and CMYK files (a VVC decoder writes 16-bit PNG) are reduced to 8-bit RGB, as a codec's
    # 8-bit output would be, and the result says so. Unlike a scan, no comparison rests on the pixels
    # being unchanged, so there is nothing to refuse.
    image = read_image(
        path, max_pixels=max_pixels or DEFAULT_MAX_PIXELS, convert=True, min_side=TRACE_MIN_SIDE
    )
    return replace(trace_rgb(image.rgb, model, str(path)), notes=image.notes)


# ---- in a scan ------------------------------------------------------------------------------------

TRACE_DIR = "trace"  # one JSON per original in the run dir: crash-safe and resumable like parts/


def record_original_trace(run_dir: Path, image_id: str, rgb: np.ndarray, name: str = "") -> None:
    """Score one original and keep the result beside the run's parts (never raises: the trace is
    extra information and must not cost a pair)."""
    from miscomp.io import atomic_write_text

    try:
        r = trace_rgb(rgb)
        doc: dict[str, Any] = {"name": name, "probability": r.probability, "verdict": r.verdict,
                               "tiles": r.tiles, "model": r.model, "evidence": r.summary()}  # fmt: skip
    except Exception as err:  # noqa: BLE001 - a broken or missing model leaves a note, not an error
        doc = {"name": name, "error": f"{type(err).__name__}: {err}"}
    atomic_write_text(run_dir / TRACE_DIR / f"{image_id}.json", json.dumps(doc))


def collect_original_traces(run_dir: Path, image_ids: list[str]) -> tuple[dict[str, dict], list[str]]:
    """The recorded traces of these originals, and one warning per original that already looks
    neurally compressed (its "miscompressions" may be the earlier codec's, not this scan's)."""
    out: dict[str, dict] = {}
    warnings: list[str] = []
    for image_id in image_ids:
        path = run_dir / TRACE_DIR / f"{image_id}.json"
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        out[image_id] = doc
        if doc.get("probability", 0.0) >= LIKELY:
            warnings.append(
                f"original {doc.get('name') or image_id} already shows learned-codec traces "
                f"(p={doc['probability']:.2f}): it may have been neurally compressed before; "
                "findings may include that codec's changes"
            )
    return out, warnings
