import numpy as np
import pytest

from benchmarks.risk_map import bed_weighted, bootstrap, label_weights, summarise


def test_label_weights_count_each_label_once():
    # cells × labels: a big label over 4 cells, a small one over 1 cell, then 2 unlabelled cells
    cover = np.array([[1, 0], [1, 0], [1, 0], [1, 1], [0, 1], [0, 0], [0, 0]], bool)
    cover[3, 1] = False  # the small label covers cell 4 only
    w = label_weights(cover)
    assert w.tolist() == pytest.approx([0.25, 0.25, 0.25, 0.25, 1.0, 1.0, 1.0])
    assert label_weights(np.zeros((3, 0), bool)).tolist() == [1.0, 1.0, 1.0]


def test_bed_weighted_scales_a_copy():
    bed = [{"image_id": "a", "weight": np.array([1.0, 0.25])}]
    out = bed_weighted(bed, 0.5)
    assert out[0]["weight"].tolist() == [0.5, 0.125] and out[0]["image_id"] == "a"
    assert bed[0]["weight"].tolist() == [1.0, 0.25]  # the bed itself is left as it was


def _pair(image, scores, target, hit, symbol):
    t = np.array(target, bool)
    sym = np.array(symbol, bool)
    return {"image_id": image, "score": np.array(scores, float), "all": t, "text": t & sym.any(),
            "nontext": t & ~sym.any(), "hit": np.array(hit, bool), "symbol": sym}  # fmt: skip


def test_summarise_and_bootstrap_over_images():
    good = [_pair(f"i{k}", [0.9, 0.1, 0.2, 0.3], [1, 0, 0, 0], [k % 2 == 0], [False]) for k in range(6)]
    res = summarise(good)
    assert res["auc_nontext"] == 1.0 and res["auc_text"] is None
    assert res["top5_nontext"] == pytest.approx(0.5) and res["labels_nontext"] == 6
    flat = [dict(p, score=np.full(4, 0.5)) for p in good]  # a scorer that ranks nothing
    ci = bootstrap(good, "nontext", base=flat, n=200)
    assert ci["auc_nontext_ci"] == [1.0, 1.0]
    assert ci["d_auc_nontext_ci"] == [0.5, 0.5]  # paired: every resample is 1.0 against 0.5
    lo, hi = ci["top5_nontext_ci"]
    assert 0 <= lo < 0.5 < hi <= 1  # half the images have their label covered


def test_pick_C_searches_the_edge_weight_without_refitting(monkeypatch):
    """With a model that ranks nothing, only the edge rank's weight can order the cells: the search
    tries every weight for every C and bed weight and picks one that uses the edge rank."""
    from benchmarks import risk_map
    from miscomp.study.features import FEATURES, CellGrid
    from miscomp.study.risk import WITHIN, RiskModel

    n_w, n_p = 2 * len(WITHIN) * 2, 3
    blank = RiskModel(("jpeg",), (0.0,) * n_w, (1.0,) * n_w, (0.0,) * n_w, 0.0, (0.0,) * n_p, 0.0)
    fits = []
    monkeypatch.setattr(risk_map, "train", lambda *a, **k: fits.append(a[1]) or blank)
    rng = np.random.default_rng(0)

    def sample(bed, k):
        values = rng.random((4, 4, len(FEATURES))).astype(np.float32)
        edges = values[..., FEATURES.index("edges")].ravel()
        target = edges >= np.quantile(edges, 0.75)
        return {"image_id": f"{bed}{k}", "grid": CellGrid(64, 64, 16, values), "codec": "jpeg", "bpp": 0.5,
                "spec": "jpeg:quality=10", "target": target, "cover": target[:, None],
                "symbol": np.array([k % 2 == 0]), "weight": np.ones(16)}  # fmt: skip

    beds = [[sample("a", k) for k in range(6)], [sample("b", k) for k in range(6)]]
    C, bed_w, edge_w, rows = risk_map.pick_C(beds, "target")
    grid = {(r["C"], r["bed_weight"], r["edge_weight"]) for r in rows}
    assert (
        len(grid)
        == len(rows)
        == len(risk_map.C_GRID) * len(risk_map.BED_WEIGHTS) * len(risk_map.EDGE_WEIGHTS)
    )
    assert (
        len(fits) == len(risk_map.C_GRID) * len(risk_map.BED_WEIGHTS) * 3
    )  # one fit per fold, not per weight
    assert edge_w > 0
    assert all(r["cv_score"] < max(x["cv_score"] for x in rows) for r in rows if r["edge_weight"] == 0)
