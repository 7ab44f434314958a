"""Gold tasks: synthetic changes with known answers, deterministic per index, spread through the queue."""

from __future__ import annotations

import numpy as np
import pytest

from miscomp.io import read_image
from miscomp.review.gold import CATEGORIES, gold_finding_id, interleave, make_gold
from miscomp.synth.changes import KINDS


def test_gold_items_carry_a_visible_change_inside_their_known_box(tmp_path):
    items = make_gold(tmp_path, [0, 1, 2], seed=3)
    assert [a["category"] for _, _, a in items] == list(CATEGORIES)  # the categories take turns
    for finding, pair, answer in items:
        assert KINDS[answer["kind"]] == answer["category"] and answer["symbol"] is False
        assert finding.finding_id == gold_finding_id(3, answer["index"])
        assert (finding.x, finding.y, finding.w, finding.h) == tuple(answer["box"])
        assert pair["bpp"] > 0 and pair["codec_tag"] in finding.pair_id
        orig = read_image(tmp_path / finding.crop_original).rgb.astype(int)
        rec = read_image(tmp_path / finding.crop_reconstruction).rgb.astype(int)
        # The crop window holds the box; the change is where the answer says: the difference inside the
        # box is larger than the codec's own error around it. Crops may be enlarged by an integer factor.
        k = rec.shape[0] // finding.crop_h
        bx, by = k * (finding.x - finding.crop_x), k * (finding.y - finding.crop_y)
        diff = np.abs(orig - rec).sum(-1)
        inside = np.zeros(diff.shape, bool)
        inside[by : by + k * finding.h, bx : bx + k * finding.w] = True
        assert diff[inside].mean() > 1.5 * diff[~inside].mean()


def test_gold_item_depends_only_on_seed_and_index(tmp_path):
    ((_, _, a),) = make_gold(tmp_path / "a", [4], seed=1)
    ((_, _, b),) = make_gold(tmp_path / "b", [4], seed=1)
    ((_, _, c),) = make_gold(tmp_path / "c", [4], seed=2)
    assert a == b and a["box"] != c["box"]
    assert gold_finding_id(1, 4) != gold_finding_id(2, 4)


@pytest.mark.parametrize(("n_real", "n_gold"), [(10, 2), (0, 2), (1, 3), (5, 0)])
def test_interleave_keeps_both_orders_and_spreads_gold(n_real, n_gold):
    real, gold = list(range(n_real)), [f"g{i}" for i in range(n_gold)]
    out = interleave(real, gold)
    assert [x for x in out if isinstance(x, int)] == real and [x for x in out if isinstance(x, str)] == gold
    if n_real >= 10 and n_gold:
        assert out[0] == 0 and out.index("g0") >= 2  # not at the top of the queue
