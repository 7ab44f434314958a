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
