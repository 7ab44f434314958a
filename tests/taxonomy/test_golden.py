"""Taxonomy features and decisions on 65 generated regions against tests/expected (golden files).

The regions are generated changes on scikit-image's photos as the shipped diff detector found them
(``tests/taxonomy/golden.py`` wrote the file); the pairs are regenerated from the seed and the
detector's masks read from the file, so only the taxonomy is under test. A failure here means the
features or the rules changed behaviour: if that was the intent, regenerate the file and say which
decisions changed."""

from __future__ import annotations

import json
import re

import pytest

from miscomp.taxonomy.features import region_features
from miscomp.taxonomy.rules import decide
from tests.taxonomy.golden import (
    GOLDEN,
    GOLDEN_ISA,
    MOTION,
    crop,
    opencv_isa,
    pairs,
    unpack_mask,
    variant_path,
)

# Float features may move in their last digits between machines (OpenCV builds); decisions may not.
TOL = 1e-3
# Where no values are recorded for this kind of CPU: the share of decisions whose category must still
# be the recorded one (SSE only, measured: 128 of 130).
UNRECORDED_AGREEMENT = 0.95


def _recorded() -> dict | None:
    """This kind of CPU's features and decisions by pair id, None where none are recorded."""
    isa = opencv_isa()
    if isa == GOLDEN_ISA:
        return {}
    path = variant_path(isa)
    return json.loads(path.read_text())["cases"] if path.is_file() else None


@pytest.fixture(scope="module")
def golden():
    data = json.loads(GOLDEN.read_text())
    generated = pairs()
    here = _recorded()
    out = []
    for case in data["cases"]:
        pair = generated[case["pair_id"]]
        mask = unpack_mask(case["mask"], (case["box"][3], case["box"][2]))
        if here:
            case = case | here[case["pair_id"]]
        out.append((case, region_features(*crop(pair, case["box"]), mask)))
    return out


def _numbers_masked(text: str) -> str:
    return re.sub(r"[-+]?\d+(\.\d+)?", "#", text)


def test_golden_file_covers_every_category_and_about_fifty_regions(golden):
    assert len(golden) >= 50
    assert {case["truth"] for case, _ in golden} == {"amplitude", "geometry", "shape"}
    assert {case["decisions"]["region"]["category"] for case, _ in golden} == {
        "amplitude", "geometry", "shape"
    }  # fmt: skip


def test_features_match_the_golden_file(golden):
    recorded = _recorded() is not None
    for case, features in golden:
        for name, want in case["features"].items():
            if name in MOTION and not recorded:
                continue  # fitted along OpenCV's SIMD path, and none recorded for this one
            got = getattr(features, name)
            if want is None or isinstance(want, list):
                assert got == pytest.approx(want if want is None else tuple(want), abs=TOL), (
                    case["pair_id"], name)  # fmt: skip
            else:
                assert got == pytest.approx(want, abs=TOL, rel=TOL), (case["pair_id"], name)


def test_decisions_match_the_golden_file(golden):
    if _recorded() is None:
        same = [
            decide(features, text_lost=text_lost)[0].value == case["decisions"][name]["category"]
            for case, features in golden
            for name, text_lost in (("region", False), ("text_lost", True))
        ]
        assert sum(same) >= UNRECORDED_AGREEMENT * len(same), f"{sum(same)} of {len(same)} categories"
        return
    for case, features in golden:
        for name, text_lost in (("region", False), ("text_lost", True)):
            want = case["decisions"][name]
            category, confidence, evidence = decide(features, text_lost=text_lost)
            assert category.value == want["category"], (case["pair_id"], name, evidence)
            assert confidence == pytest.approx(want["confidence"], abs=0.01), (case["pair_id"], name)
            assert _numbers_masked(evidence) == _numbers_masked(want["evidence"]), (case["pair_id"], name)


def test_the_vectorised_rules_are_decide(golden):
    """The tuning benchmark's evaluation (:func:`predict`, cached by clause) gives decide's categories."""
    from miscomp.taxonomy.config import TaxonomyConfig
    from miscomp.taxonomy.rules import CATEGORIES, feature_frame, predict

    features = [f for _, f in golden]
    for text_lost in (False, True):
        x = feature_frame(features, text_lost)
        cache: dict = {}
        for t in (TaxonomyConfig(), TaxonomyConfig(moved_kept=-1.0, bent_gain=1.0), TaxonomyConfig()):
            got = [CATEGORIES[c] for c in predict(x, t, cache)]
            assert got == [decide(f, t, text_lost)[0] for f in features]


@pytest.mark.parametrize("path", sorted(GOLDEN.parent.glob(f"{GOLDEN.stem}.*.json")), ids=lambda p: p.name)
def test_each_recorded_cpu_kind_covers_every_region(path):
    main = {case["pair_id"] for case in json.loads(GOLDEN.read_text())["cases"]}
    variant = json.loads(path.read_text())
    assert path == variant_path(variant["isa"]) and variant["isa"] != GOLDEN_ISA
    assert set(variant["cases"]) == main
