"""The risk map at encoding time: from the original alone, without running the codec, how likely each
cell is to be miscompressed by a given codec at a given rate.

The model (:class:`RiskModel`) adds two logistic parts over the original's cell features
(:mod:`miscomp.study.features`): where in the image (ranks and levels of edges, strokes, small text…,
per codec) and how prone this codec is at this rate. It is plain numbers in a JSON file (no pickle:
a model file is data from outside and is validated like any other).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from miscomp.errors import MiscompError
from miscomp.study.features import FEATURES, CellGrid, FeatureConfig

# The cell features the within-image part uses: what a search by cross-validation on the tune split
# kept (docs/decisions/risk-map.md): the cell's own edges, strokes, detail, contrast and coherence;
# edges, strokes and detail around it (along its row and in its 3×3 neighbourhood), which is how a
# line of small text differs from one busy cell; the text detector's probability map and around the
# cell (what tells a grille from a plate), at half scale except on the 8 % of the image with the most
# thin strokes in a row, where it runs at full scale (small numerals the half-scale map misses);
# saturation and entropy (colour panels); contrast over a wide neighbourhood (dial faces, signs). The
# OCR boxes (text share, line height) are left out on purpose: a full detection costs 2× the map's
# whole budget of 0.5 s CPU per megapixel; the probability map as computed here about half of it.
WITHIN = (
    "edges", "strokes", "detail", "contrast", "coherence",
    "edges_line", "edges_area", "strokes_line", "strokes_area", "detail_line", "detail_area",
    "text_prob_fine", "text_prob_fine_line", "text_prob_fine_area", "saturation", "entropy", "contrast_wide",
)  # fmt: skip
MAP_FEATURES = FeatureConfig(text_detect=False, face_detect=False)  # what `miscomp risk` computes


# within_design's column of the cells' edge density ranks within the image (the ranks follow the logged
# features): the edge-density baseline's own ordering, which RiskModel.edge_weight adds to the logit
EDGE_RANK_COLUMN = len(WITHIN) + WITHIN.index("edges")


def within_design(flat: np.ndarray, codec: str, codecs: tuple[str, ...]) -> np.ndarray:
    """Per cell: the WITHIN features log-scaled and as ranks within the image, each also per codec.

    Ranks: what a codec garbles first is what stands out in *this* image (the densest small text of a
    page of text), which absolute values alone rank poorly."""
    from scipy.stats import rankdata

    f = flat[:, [FEATURES.index(n) for n in WITHIN]].astype(np.float64)
    logged, ranks = np.log1p(np.maximum(f, 0.0)), rankdata(f, axis=0) / max(len(f), 1)
    onehot = _onehot(len(f), codec, codecs)
    per_codec = [m * onehot[:, [i]] for i in range(len(codecs)) for m in (logged, ranks)]
    return np.hstack([logged, ranks, *per_codec])


def prior_design(n: int, codec: str, bpp: float, codecs: tuple[str, ...]) -> np.ndarray:
    """Per cell, the same for all cells of an image: log bpp, the codec, and log bpp per codec."""
    if not np.isfinite(bpp) or bpp <= 0:
        raise MiscompError(f"bpp must be a positive number, got {bpp}")
    lb = np.full((n, 1), np.log(bpp))
    onehot = _onehot(n, codec, codecs)
    return np.hstack([lb, onehot, lb * onehot])


def _onehot(n: int, codec: str, codecs: tuple[str, ...]) -> np.ndarray:
    out = np.zeros((n, len(codecs)))
    if codec in codecs:
        out[:, codecs.index(codec)] = 1.0
    return out


@dataclass(frozen=True)
class RiskModel:
    """Two logistic parts whose logits add: *within* ranks the cells of one image (fitted on the pairs
    that have a miscompression, so it learns where in an image, not which image); *prior* says how
    prone the codec at this rate is (constant over an image); ``edge_weight`` times the cell's edge
    density rank within its image is added to the within part. The score is the sigmoid of the sum: a
    ranking score, not a calibrated probability (the within part is fitted class-balanced)."""

    codecs: tuple[str, ...]
    within_mean: tuple[float, ...]
    within_scale: tuple[float, ...]
    within_coef: tuple[float, ...]
    within_intercept: float
    prior_coef: tuple[float, ...]
    prior_intercept: float
    features: tuple[str, ...] = FEATURES
    within: tuple[str, ...] = WITHIN
    typical_bpp: dict[str, float] = field(default_factory=dict)  # codec spec -> mean bpp in training
    trained_on: str = ""
    # the edge-density baseline's own score (the cell's rank of `edges` within its image, 0..1) added to
    # the logit with this weight: chosen with C by cross-validation on what the map is judged by (AUC,
    # riskiest 5 %), which the fit's log-loss does not optimise (docs/decisions/risk-map.md, s37)
    edge_weight: float = 0.0

    def logit(self, flat: np.ndarray, codec: str, bpp: float) -> np.ndarray:
        design = within_design(flat, codec, self.codecs)
        x = (design - np.array(self.within_mean)) / np.array(self.within_scale)
        w = x @ np.array(self.within_coef) + self.within_intercept
        if self.edge_weight:  # the rank within_design already made, not ranked a second time
            w = w + self.edge_weight * design[:, EDGE_RANK_COLUMN]
        p = (
            prior_design(len(flat), codec, bpp, self.codecs) @ np.array(self.prior_coef)
            + self.prior_intercept
        )
        return w + p

    def predict(self, flat: np.ndarray, codec: str, bpp: float) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logit(flat, codec, bpp)))

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1) + "\n"

    @classmethod
    def load(cls, path: Path) -> RiskModel:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise TypeError("not a JSON object")
            floats = ("within_mean", "within_scale", "within_coef", "prior_coef")
            model = cls(
                codecs=tuple(str(c) for c in data["codecs"]),
                **{k: tuple(float(v) for v in data[k]) for k in floats},
                within_intercept=float(data["within_intercept"]),
                prior_intercept=float(data["prior_intercept"]),
                features=tuple(data["features"]),
                within=tuple(data["within"]),
                typical_bpp={str(k): float(v) for k, v in data.get("typical_bpp", {}).items()},
                trained_on=str(data.get("trained_on", "")),
                edge_weight=float(data.get("edge_weight", 0.0)),  # files before s37: none
            )
        except FileNotFoundError:
            raise MiscompError(f"{path}: risk model file does not exist") from None
        except (ValueError, KeyError, TypeError) as err:
            raise MiscompError(f"{path}: not a risk model ({type(err).__name__}: {err})") from None
        if not np.isfinite(model.edge_weight) or model.edge_weight < 0:
            raise MiscompError(f"{path}: risk model's edge_weight must be a number >= 0")
        if model.features != FEATURES or model.within != WITHIN:
            raise MiscompError(f"{path}: risk model was made for other features than this version's")
        n_w = 2 * len(WITHIN) * (1 + len(model.codecs))
        n_p = 1 + 2 * len(model.codecs)
        sizes = (
            len(model.within_coef),
            len(model.within_mean),
            len(model.within_scale),
            len(model.prior_coef),
        )
        if sizes != (n_w, n_w, n_w, n_p):
            raise MiscompError(f"{path}: risk model coefficients do not fit its {len(model.codecs)} codecs")
        return model


def fit(
    flats: list[np.ndarray],
    codecs_of: list[str],
    bpps: list[float],
    targets: list[np.ndarray],
    settings: list[str] | None = None,
    C: float = 0.01,
    trained_on: str = "",
    weights: list[np.ndarray] | None = None,
    edge_weight: float = 0.0,
) -> RiskModel:
    """Fit on samples: per (image, codec setting) its cell features, codec name, bpp and 0/1 targets;
    ``settings`` (codec specs) name the typical rates the model keeps for `miscomp risk` without --bpp.
    ``weights`` (per cell, default 1) weigh the within part's cells, e.g. so that every labelled
    miscompression counts once however many cells it covers; either way its positive cells together
    weigh as much as its negative cells (miscompressed cells are a few % even of pairs that have any).
    ``edge_weight`` is not fitted: the model keeps it (:attr:`RiskModel.edge_weight`)."""
    from sklearn.linear_model import LogisticRegression

    if not flats:
        raise MiscompError("no training samples")
    codecs = tuple(sorted(set(codecs_of)))
    has = [i for i, t in enumerate(targets) if np.any(t)]
    if not has or all(np.all(targets[i]) for i in has):
        raise MiscompError("training targets are all one class: nothing to learn")
    xw = np.vstack([within_design(flats[i], codecs_of[i], codecs) for i in has])
    yw = np.concatenate([targets[i] for i in has]).astype(int)
    sw = np.concatenate([weights[i] if weights is not None else np.ones(len(targets[i])) for i in has])
    sw = sw.astype(np.float64)
    pos = yw == 1
    sw[pos] *= sw[~pos].sum() / sw[pos].sum()
    sw *= len(sw) / sw.sum()  # mean weight 1: C means what it meant unweighted
    mean, scale = xw.mean(0), xw.std(0) + 1e-6
    within = LogisticRegression(C=C, max_iter=3000).fit((xw - mean) / scale, yw, sample_weight=sw)
    xp = np.vstack(
        [prior_design(len(f), c, b, codecs) for f, c, b in zip(flats, codecs_of, bpps, strict=True)]
    )
    prior = LogisticRegression(C=1.0, max_iter=3000).fit(xp, np.concatenate(targets).astype(int))
    typical: dict[str, list[float]] = {}
    for spec, b in zip(settings or codecs_of, bpps, strict=True):
        typical.setdefault(spec, []).append(b)
    return RiskModel(
        codecs=codecs,
        within_mean=tuple(float(v) for v in mean),
        within_scale=tuple(float(v) for v in scale),
        within_coef=tuple(float(v) for v in within.coef_[0]),
        within_intercept=float(within.intercept_[0]),
        prior_coef=tuple(float(v) for v in prior.coef_[0]),
        prior_intercept=float(prior.intercept_[0]),
        typical_bpp={c: round(float(np.mean(v)), 4) for c, v in sorted(typical.items())},
        trained_on=trained_on,
        edge_weight=float(edge_weight),
    )


@dataclass(frozen=True)
class RiskRegion:
    """A connected group of the riskiest cells, in original-image pixels."""

    x: int
    y: int
    w: int
    h: int
    score: float  # the highest cell risk inside


def risk_regions(grid: CellGrid, risk: np.ndarray, top_share: float = 0.05) -> list[RiskRegion]:
    """Connected groups of the cells that make up the riskiest ``top_share`` of the image's area."""
    import cv2

    rows, cols = grid.shape
    r = risk.reshape(rows, cols)
    chosen = top_cells(grid, risk, top_share).reshape(rows, cols)
    n, lab = cv2.connectedComponents(chosen.astype(np.uint8), connectivity=8)
    out = []
    for i in range(1, n):
        ys, xs = np.nonzero(lab == i)
        x0, y0 = xs.min() * grid.cell, ys.min() * grid.cell
        x1 = min((xs.max() + 1) * grid.cell, grid.width)
        y1 = min((ys.max() + 1) * grid.cell, grid.height)
        out.append(
            RiskRegion(int(x0), int(y0), int(x1 - x0), int(y1 - y0), round(float(r[lab == i].max()), 4))
        )
    return sorted(out, key=lambda g: -g.score)


def top_cells(grid: CellGrid, risk: np.ndarray, top_share: float) -> np.ndarray:
    """Boolean per cell: the riskiest cells until they cover ``top_share`` of the image's area."""
    boxes = grid.cell_boxes()
    area = boxes[:, 2] * boxes[:, 3]
    order = np.argsort(-risk, kind="stable")
    covered = np.cumsum(area[order])
    k = int(np.searchsorted(covered, top_share * grid.width * grid.height, side="left")) + 1
    chosen = np.zeros(len(risk), bool)
    chosen[order[: min(k, len(order))]] = True
    return chosen


def overlay(rgb: np.ndarray, grid: CellGrid, risk: np.ndarray, regions: list[RiskRegion]) -> np.ndarray:
    """The original, darkened where risk is low, with the risk as a heat tint and the regions outlined."""
    import cv2

    rows, cols = grid.shape
    heat = risk.reshape(rows, cols).astype(np.float32)
    heat = heat / max(float(heat.max()), 1e-6)
    heat = cv2.resize(heat, (cols * grid.cell, rows * grid.cell), interpolation=cv2.INTER_NEAREST)
    heat = heat[: grid.height, : grid.width]
    tint = cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)[..., ::-1]
    out = (rgb.astype(np.float32) * (0.45 + 0.55 * heat[..., None]) * 0.6 + tint * 0.4).clip(0, 255)
    out = out.astype(np.uint8)
    for g in regions:
        cv2.rectangle(out, (g.x, g.y), (g.x + g.w - 1, g.y + g.h - 1), (0, 255, 255), 2)
    return out


def default_model_path() -> Path:
    return Path(__file__).resolve().parent.parent / "data" / "risk-model.json"
