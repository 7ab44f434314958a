import json

import pandas as pd
import pytest

from miscomp.errors import MiscompError
from miscomp.study.prevalence import ReviewEvidence, frame, load_evidence, prevalence, save_evidence


def _tables():
    pairs = pd.DataFrame(
        {
            "pair_id": ["a-j", "b-j", "a-t", "b-t", "c-t"],
            "codec": ["jpeg", "jpeg", "taef2", "taef2", "taef2"],
            "codec_tag": ["j10", "j10", "t2", "t2", "t2"],
            "status": ["ok", "ok", "ok", "ok", "error"],
            "width": [1000, 500, 1000, 500, None],
            "height": [1000, 1000, 1000, 1000, None],
            "bpp": [0.4, 0.5, 0.2, 0.3, None],
        }
    )
    findings = pd.DataFrame(
        {
            "pair_id": ["a-t", "a-t", "b-t", "a-j", "a-t"],
            "category": ["shape", "shape", "geometry", "amplitude", "shape"],
            "symbol": [True, True, False, False, True],
            "score": [0.9, 0.8, 0.7, 0.2, 0.3],  # the last two are hidden below min-score 0.5
        }
    )
    return pairs, findings


def test_counts_per_image_and_megapixel():
    pairs, findings = _tables()
    df = frame(prevalence(pairs, findings, 0.5, n_boot=200))
    row = df[(df.codec_tag == "t2") & (df.group == "all")].iloc[0]
    assert row["images"] == 2  # the error row is not a measured image
    assert row["count"] == 3 and row["per_image"] == 1.5
    assert row["per_mp"] == pytest.approx(3 / 1.5)
    assert row["per_image_lo"] <= 1.5 <= row["per_image_hi"]
    shape = df[(df.codec_tag == "t2") & (df.group == "shape")].iloc[0]
    assert shape["count"] == 2
    jpeg = df[(df.codec_tag == "j10") & (df.group == "all")].iloc[0]
    assert jpeg["count"] == 0 and jpeg["per_image_hi"] == 0  # the 0.2 finding is not shown


def test_review_correction_scales_by_precision_over_recall():
    pairs, findings = _tables()
    ev = {"all": ReviewEvidence("all", flagged=10, confirmed=8, labelled=20, found=10)}
    df = frame(prevalence(pairs, findings, 0.5, ev, n_boot=500))
    raw = df[(df.codec_tag == "t2") & (df.group == "all") & (df.basis == "raw")].iloc[0]
    cor = df[(df.codec_tag == "t2") & (df.group == "all") & (df.basis == "corrected")].iloc[0]
    assert cor["per_image"] == pytest.approx(raw["per_image"] * 0.8 / 0.5)
    assert cor["precision"] == 0.8 and cor["recall"] == 0.5
    # review uncertainty widens the interval beyond the raw one's scaled width
    assert cor["per_image_hi"] - cor["per_image_lo"] > (raw["per_image_hi"] - raw["per_image_lo"]) * 1.6
    assert set(df[df.group == "shape"].basis) == {"raw"}  # no evidence for shape: raw only


def test_evidence_files(tmp_path):
    path = tmp_path / "ev.json"
    save_evidence({"all": ReviewEvidence("all", 4, 3, 5, 4, source="test")}, path)
    assert load_evidence(path)["all"].precision == 0.75
    path.write_text(json.dumps([{"group": "all", "flagged": 1, "confirmed": 2, "labelled": 1, "found": 1}]))
    with pytest.raises(MiscompError, match="confirmed <= flagged"):
        load_evidence(path)
    path.write_text("{not json")
    with pytest.raises(MiscompError, match="ev.json: not a review evidence list"):
        load_evidence(path)
    with pytest.raises(MiscompError, match="does not exist"):
        load_evidence(tmp_path / "missing.json")


def test_no_measured_pairs_is_one_error():
    pairs, findings = _tables()
    with pytest.raises(MiscompError, match="no measured pairs"):
        prevalence(pairs.assign(status="error"), findings, 0.5)


def test_prevalence_figure_has_one_line_per_curve():
    # two models of one family at the same rates: two legend entries, as in the RD plot
    from miscomp.study.run import prevalence_figure

    bm = "bmshj2018-factorized"
    gan = '"weights": "ganlite"'
    pairs = pd.DataFrame({
        "pair_id": ["a1", "a2", "g1", "g2"], "codec": [bm] * 4, "codec_tag": ["q1", "q2", "g1", "g2"],
        "params": ['{"q": 1}', '{"q": 2}', '{"q": 1, ' + gan + "}", '{"q": 2, ' + gan + "}"],
        "status": ["ok"] * 4, "width": [100] * 4, "height": [100] * 4, "bpp": [0.15, 0.3, 0.15, 0.3],
    })  # fmt: skip
    findings = pd.DataFrame({"pair_id": ["g1"], "category": ["shape"], "symbol": [True], "score": [0.9]})
    df = frame(prevalence(pairs, findings, 0.5, n_boot=50))
    assert set(df["curve"]) == {bm, f"{bm} (weights=ganlite)"}
    fig = prevalence_figure(df)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == [bm, f"{bm} (weights=ganlite)"]
    # a table from before rows carried their curve still plots, one line per family
    old = prevalence_figure(df.drop(columns="curve"))
    assert [t.get_text() for t in old.axes[0].get_legend().get_texts()] == [bm]
    import matplotlib.pyplot as plt

    plt.close(fig)
    plt.close(old)
