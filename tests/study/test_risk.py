import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

from miscomp.errors import MiscompError
from miscomp.study.features import FEATURES, FeatureConfig, cell_features
from miscomp.study.risk import RiskModel, fit, risk_regions, top_cells

CFG = FeatureConfig(text_detect=False, text_prob=False)


def _page(seed: int, size=(256, 192)) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """Small text lines on the left half, smooth gradient on the right."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", size, (235, 235, 230))
    draw = ImageDraw.Draw(img)
    lines = []
    for i in range(8):
        y = 10 + i * 20
        draw.text((8, y), "".join(rng.choice(list("ABCDEFGH0123456789"), 12)), fill=(20, 20, 20))
        lines.append((6, y - 2, 80, 14))
    arr = np.asarray(img).copy()
    arr[:, 140:] = np.linspace(60, 200, size[1])[:, None, None].astype(np.uint8)
    return arr, lines


def _sample(seed, codec="taef2", bpp=0.3):
    rgb, lines = _page(seed)
    grid = cell_features(rgb, CFG, lines=lines)
    target = grid.flat()[:, FEATURES.index("text")] > 0.3  # text cells are the miscompressed ones
    return grid, codec, bpp, target


def test_features_see_the_text_lines():
    rgb, lines = _page(0)
    grid = cell_features(rgb, CFG, lines=lines)
    assert grid.values.shape == (12, 16, len(FEATURES))  # 192/16 × 256/16
    text = grid.values[..., FEATURES.index("text")]
    assert text[:, :5].mean() > 0.5 and text[:, 10:].max() == 0
    height = grid.values[..., FEATURES.index("text_height")]
    assert 4 < height[1, 1] < 6.5  # 14 px detector boxes: ~5 px lines
    assert grid.values[1, 1, FEATURES.index("small_text")] == 1
    edges = grid.values[..., FEATURES.index("edges")]
    assert edges[:, :5].mean() > 5 * edges[:, 10:].mean()


def test_context_features_average_neighbouring_cells():
    rgb, lines = _page(0)
    grid = cell_features(rgb, CFG, lines=lines)
    v = grid.values
    edges = v[..., FEATURES.index("edges")]
    r, c = 4, 6  # an interior cell: the windows lie inside the grid
    assert v[r, c, FEATURES.index("edges_line")] == pytest.approx(edges[r, c - 2 : c + 3].mean(), abs=1e-6)
    assert v[r, c, FEATURES.index("edges_area")] == pytest.approx(
        edges[r - 1 : r + 2, c - 1 : c + 2].mean(), abs=1e-6
    )
    assert FeatureConfig(face_detect=False, text_detect=False).face_detect is False


class _ProbEngine:
    """Stands in for the text detector: 'text-like' exactly where the page has its text lines."""

    def __init__(self, lines):
        self.lines, self.scales = lines, []

    def text_probability(self, rgb, scale):
        self.scales.append(scale)
        prob = np.zeros(rgb.shape[:2], np.float32)
        for x, y, w, h in self.lines:
            prob[y : y + h, x : x + w] = 1.0
        return prob


def test_text_probability_features_come_from_the_detectors_map():
    rgb, lines = _page(0)
    engine = _ProbEngine(lines)
    grid = cell_features(rgb, FeatureConfig(text_detect=False, text_prob_scale=0.5), lines=[], engine=engine)
    assert engine.scales[0] == 0.5  # the map at the configured scale (then the full-scale crops)
    assert set(engine.scales[1:]) <= {1.0}
    prob = grid.values[..., FEATURES.index("text_prob")]
    assert prob[:, :5].mean() > 0.5 and prob[:, 7:].max() == 0
    assert grid.values[..., FEATURES.index("text")].max() == 0  # no OCR boxes were asked for
    r, c = 4, 6
    line = grid.values[r, c, FEATURES.index("text_prob_line")]
    assert line == pytest.approx(prob[r, c - 2 : c + 3].mean(), abs=1e-6)
    n = len(engine.scales)
    off = cell_features(rgb, CFG, lines=[], engine=engine)
    assert len(engine.scales) == n and off.values[..., FEATURES.index("text_prob")].max() == 0


class _DarkAtFullScale:
    """A detector that sees text (dark pixels) only at full scale, and records what it was shown."""

    def __init__(self):
        self.shapes = []

    def text_probability(self, rgb, scale):
        self.shapes.append((scale, rgb.shape[:2]))
        if scale < 1.0:
            return np.zeros(rgb.shape[:2], np.float32)
        return (rgb.mean(axis=2) < 50).astype(np.float32)


def test_fine_text_probability_runs_at_full_scale_on_the_stroke_rich_blocks_only():
    from miscomp.study.features import _Cells, fine_cells

    rgb, _ = _page(0)
    engine = _DarkAtFullScale()
    cfg = FeatureConfig(text_detect=False, face_detect=False, fine_share=0.2, fine_block=4)
    grid = cell_features(rgb, cfg, lines=[], engine=engine)
    v = grid.values
    chosen = fine_cells(v[..., FEATURES.index("strokes_line")], 0.2, 4)
    assert chosen.sum() == 16 * 2  # 0.2 of the 3 × 4 blocks of 4 × 4 cells, rounded: 2 blocks
    assert chosen[:, :5].sum() > chosen[:, 9:].sum()  # the text side has the strokes
    fine = v[..., FEATURES.index("text_prob_fine")]
    dark = _Cells(*rgb.shape[:2], 16).mean((rgb.mean(axis=2) < 50).astype(np.float64))
    assert np.allclose(fine[chosen], dark[chosen], atol=1e-6)  # full scale where chosen
    assert fine[~chosen].max() == 0 and v[..., FEATURES.index("text_prob")].max() == 0  # half scale elsewhere
    assert fine[chosen].max() > 0.1
    crops = [shape for scale, shape in engine.shapes if scale == 1.0]
    assert crops and sum(h * w for h, w in crops) < rgb.shape[0] * rgb.shape[1]  # crops, not the image
    assert all(h % 32 == 0 and w % 32 == 0 for h, w in crops)  # seen at exactly full scale


def test_fine_cells_and_aligned_crops():
    from miscomp.study.features import _aligned, fine_cells

    score = np.zeros((5, 6))
    score[4, 5] = 3.0  # a partial block at the corner
    score[0, 0] = 2.0
    chosen = fine_cells(score, 0.5, 4)  # 2 × 2 blocks: the 2 best
    assert chosen.shape == (5, 6) and chosen[4, 5] and chosen[0, 0] and chosen[4:, 4:].all()
    assert not chosen[0, 4] and not chosen[4, 0]
    assert not fine_cells(score, 0.0, 4).any()
    assert _aligned(-16, 40, 500) == (0, 64)  # clipped, grown to 64
    assert _aligned(470, 500, 500) == (468, 500)  # grown backwards at the image's edge
    assert _aligned(0, 40, 20) == (0, 20)  # the image is smaller than a step


def test_wide_contrast_averages_seven_by_seven_cells():
    rgb, lines = _page(0)
    v = cell_features(rgb, CFG, lines=lines).values
    contrast = v[..., FEATURES.index("contrast")]
    assert v[5, 6, FEATURES.index("contrast_wide")] == pytest.approx(contrast[2:9, 3:10].mean(), rel=1e-5)


def test_cell_means_count_the_pixels_of_partial_cells():
    from miscomp.study.features import _Cells

    rng = np.random.default_rng(1)
    img = rng.random((37, 50))
    levels = rng.integers(0, 4, (37, 50))
    cells = _Cells(37, 50, 16)  # 3 × 4 cells, the last row 5 px high, the last column 2 px wide
    mean, hist = cells.mean(img), cells.histogram(levels, 4)
    assert mean.shape == (3, 4) and hist.shape == (3, 4, 4)
    assert mean[2, 3] == pytest.approx(img[32:, 48:].mean())
    assert mean[0, 0] == pytest.approx(img[:16, :16].mean())
    assert hist[2, 3] == pytest.approx(np.bincount(levels[32:, 48:].ravel(), minlength=4) / 10)
    assert np.allclose(hist.sum(axis=-1), 1.0)


def test_weights_decide_which_positives_the_model_learns():
    """Text cells and the smooth gradient's cells are both positive; the weights say which counts."""
    rgb, lines = _page(0)
    grid = cell_features(rgb, CFG, lines=lines)
    text = grid.flat()[:, FEATURES.index("text")] > 0.3
    cols = np.tile(np.arange(grid.shape[1]), grid.shape[0])
    gradient = cols >= 10
    target = text | gradient
    ranks = {}
    for heavy, light in ((text, gradient), (gradient, text)):
        w = np.where(light, 1e-3, 1.0)
        model = fit([grid.flat()] * 2, ["taef2", "jpeg"], [0.3, 0.8], [target, target], weights=[w, w])
        risk = model.predict(grid.flat(), "taef2", 0.3)
        ranks[bool(heavy is text)] = risk[text].mean() > risk[gradient].mean()
    assert ranks == {True: True, False: False}


def test_fit_predict_and_json_round_trip(tmp_path):
    samples = [_sample(s) for s in range(3)] + [_sample(9, "jpeg", 0.8)]
    model = fit(
        [g.flat() for g, *_ in samples],
        [c for _, c, _, _ in samples],
        [b for *_, b, _ in samples],
        [t for *_, t in samples],
        settings=["taef2:bits=2"] * 3 + ["jpeg:quality=10"],
    )
    grid, codec, bpp, target = _sample(5)
    risk = model.predict(grid.flat(), codec, bpp)
    assert risk[target].mean() > risk[~target].mean() + 0.2
    path = tmp_path / "m.json"
    path.write_text(model.to_json())
    again = RiskModel.load(path)
    assert np.allclose(again.predict(grid.flat(), codec, bpp), risk)
    assert again.typical_bpp == {"jpeg:quality=10": 0.8, "taef2:bits=2": 0.3}
    chosen = top_cells(grid, risk, 0.05)
    area = (grid.cell_boxes()[chosen, 2] * grid.cell_boxes()[chosen, 3]).sum()
    assert 0.05 * grid.width * grid.height <= area < 0.05 * grid.width * grid.height + 16 * 16
    regions = risk_regions(grid, risk, 0.05)
    assert regions and all(r.x < 96 for r in regions)  # on the text, not on the gradient


def test_bad_model_files_are_one_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(MiscompError, match="bad.json: not a risk model"):
        RiskModel.load(bad)
    good = json.loads(
        fit(
            [_sample(0)[0].flat(), _sample(1)[0].flat()], ["taef2", "jpeg"], [0.3, 0.8],
            [_sample(0)[3], _sample(1)[3]],
        ).to_json()
    )  # fmt: skip
    good["within_coef"] = good["within_coef"][:-1]
    bad.write_text(json.dumps(good))
    with pytest.raises(MiscompError, match="coefficients do not fit"):
        RiskModel.load(bad)
    with pytest.raises(MiscompError, match="does not exist"):
        RiskModel.load(tmp_path / "none.json")


def test_shipped_model_fits_this_versions_features():
    """A feature added without re-running `benchmarks.risk_map --ship` leaves a model `load` rejects."""
    from miscomp.study.risk import default_model_path

    model = RiskModel.load(default_model_path())
    assert "each label weighted once" in model.trained_on and model.typical_bpp
    grid, codec, bpp, _ = _sample(0)
    assert model.predict(grid.flat(), codec, bpp).shape == (grid.flat().shape[0],)


def test_edge_weight_adds_the_edge_density_rank_and_survives_the_file(tmp_path):
    """The edge-density baseline's within-image rank is added to the logit with the model's weight;
    files written before it existed load with weight 0 (the same scores as then)."""
    from dataclasses import replace

    from scipy.stats import rankdata

    samples = [_sample(s) for s in range(2)] + [_sample(9, "jpeg", 0.8)]
    model = fit(
        [g.flat() for g, *_ in samples], [c for _, c, _, _ in samples], [b for *_, b, _ in samples],
        [t for *_, t in samples],
    )  # fmt: skip
    assert model.edge_weight == 0.0
    grid, codec, bpp, _ = _sample(5)
    flat = grid.flat()
    edges = flat[:, FEATURES.index("edges")]
    assert len(np.unique(edges)) > 3  # the rank orders something
    weighted = replace(model, edge_weight=2.5)
    added = weighted.logit(flat, codec, bpp) - model.logit(flat, codec, bpp)
    assert np.allclose(added, 2.5 * rankdata(edges) / len(edges))
    path = tmp_path / "m.json"
    path.write_text(weighted.to_json())
    assert RiskModel.load(path).edge_weight == 2.5
    data = json.loads(path.read_text())
    del data["edge_weight"]  # a model file from before s37
    path.write_text(json.dumps(data))
    assert np.allclose(RiskModel.load(path).logit(flat, codec, bpp), model.logit(flat, codec, bpp))
    data["edge_weight"] = -1.0
    path.write_text(json.dumps(data))
    with pytest.raises(MiscompError, match="edge_weight"):
        RiskModel.load(path)
