"""The decision's clauses on hand-made measurements: each says in model terms why it chose."""

from __future__ import annotations

from dataclasses import replace

from miscomp.config import from_dict, to_dict
from miscomp.findings import Category
from miscomp.taxonomy.config import TaxonomyConfig
from miscomp.taxonomy.features import RegionFeatures
from miscomp.taxonomy.rules import decide

# Nothing explains this change: colours new, nothing moved (a stroke drawn).
_BASE = RegionFeatures(
    raw_error=12.0, noise_floor=3.0, colour=0.3, translation=0.1, similarity=0.1, affine=0.1,
    nonrigid=0.2, nonaffine_energy=0.1, motion_px=0.5, shift=(0.0, 0.0), rotation_deg=0.0, scale=1.0,
    shear=0.0, distribution_kept=0.1, scatter=0.4, coherence=0.5, contours_kept=0.5, mean_dl=0.0,
    mean_dab=0.0, flow_px=0.1, texture_ratio=1.0, pattern_kept=0.2,
)  # fmt: skip


def test_new_colours_and_contours_are_shape():
    cat, _, evidence = decide(_BASE)
    assert cat is Category.SHAPE and "appeared or vanished" in evidence


def test_texture_stronger_or_weaker_with_its_pattern_kept_is_amplitude():
    for ratio in (2.2, 0.4):
        cat, conf, evidence = decide(replace(_BASE, texture_ratio=ratio, pattern_kept=0.9))
        assert cat is Category.AMPLITUDE and 0.5 <= conf < 1
        assert "band-pass energy" in evidence and ("stronger" if ratio > 1 else "weaker") in evidence


def test_texture_change_with_a_new_pattern_or_a_motion_is_not_amplitude():
    turned = replace(_BASE, texture_ratio=2.2, pattern_kept=0.3)
    moved = replace(_BASE, texture_ratio=2.2, pattern_kept=0.9, affine=0.8, nonrigid=0.82)
    small = replace(_BASE, texture_ratio=1.3, pattern_kept=0.9)
    for f in (turned, moved, small):
        assert decide(f)[0] is not Category.AMPLITUDE


def test_kept_colours_without_coherent_motion_dissolved_with_it_bent():
    kept = replace(_BASE, distribution_kept=0.95, scatter=0.95, coherence=0.25)
    cat, _, evidence = decide(replace(kept, flow_px=0.2))
    assert cat is Category.GEOMETRY and "no coherent motion" in evidence and "dissolved" in evidence
    cat, _, evidence = decide(replace(kept, flow_px=2.5))
    assert cat is Category.SHAPE and "moved coherently (flow 2.5 px)" in evidence


def test_new_thresholds_round_trip_through_a_file_dict():
    t = TaxonomyConfig(texture_ratio=1.8, dissolve_flow=0.7)
    assert from_dict(TaxonomyConfig, to_dict(t)) == t


def test_no_fit_but_one_coherent_motion_is_geometry_else_bent():
    kept = replace(_BASE, distribution_kept=0.95, scatter=0.95, coherence=0.25, flow_px=2.0)
    cat, _, evidence = decide(replace(kept, bend=0.2))
    assert cat is Category.GEOMETRY and "moved as one" in evidence and "within 20%" in evidence
    cat, _, evidence = decide(replace(kept, bend=0.9))
    assert cat is Category.SHAPE and "misses the outer half's by 90%" in evidence
    assert decide(replace(kept, bend=None))[0] is Category.SHAPE  # not measured: no "one motion"


def test_a_redrawn_stroke_is_not_a_detail_that_moved_as_one():
    # Text a generative codec redrew moves its edges by 0.5-1.3 px: below moved_flow the coherent
    # motion that no fit follows is a bent contour (shape), however well the halves agree.
    kept = replace(_BASE, distribution_kept=0.95, scatter=0.95, coherence=0.25, bend=0.2)
    assert decide(replace(kept, flow_px=1.0))[0] is Category.SHAPE
    assert decide(replace(kept, flow_px=TaxonomyConfig().moved_flow))[0] is Category.GEOMETRY


def test_text_strokes_smoothed_away_are_dissolved_a_weaker_texture_stays_amplitude():
    # MSE-codec text blurred illegible (real-codec test bed): a blur explains it, the band-pass energy
    # fell to ~0.2 and what is left is not the same pattern.
    blurred = replace(_BASE, blur=1.0, blur_sigma=1.8, texture_ratio=0.2, pattern_kept=0.37, colour=1.0)
    cat, _, evidence = decide(blurred, text_lost=True)
    assert cat is Category.GEOMETRY and "blur of the original (σ 1.8 px)" in evidence
    assert "contours dissolved" in evidence
    # only for text that stopped reading: elsewhere a vanished contour is not read as dissolved
    assert "blur of the original" not in decide(blurred)[2]
    # the same pattern, only weaker: texture strength (amplitude) elsewhere, but on text whose read
    # changed the read is contour evidence (issue 32): shape; garbled text a blur does not explain
    weaker = replace(blurred, pattern_kept=0.9)
    assert decide(weaker)[0] is Category.AMPLITUDE
    assert decide(weaker, text_lost=True)[0] is Category.SHAPE
    assert "blur" not in decide(replace(blurred, blur=0.38), text_lost=True)[2]
    assert "blur" not in decide(replace(blurred, texture_ratio=0.94), text_lost=True)[2]


def test_a_rigid_fit_is_overruled_when_the_fine_flow_bends_across_the_detail():
    # A pinch on a small region: its inner part is nearly one scale, so an affine fit explains 70% and
    # the non-rigid field only 12 points more (under nonrigid_gain); the fine flow tells them apart.
    fitted = replace(
        _BASE, translation=0.5, similarity=0.6, affine=0.7, nonrigid=0.82, distribution_kept=1.0,
        scatter=1.0, coherence=0.4, flow_px=1.5, pattern_kept=0.9,
    )  # fmt: skip
    cat, _, evidence = decide(replace(fitted, bend=0.9))
    assert cat is Category.SHAPE and "misses the outer half's by 90%" in evidence
    for one_motion in (replace(fitted, bend=0.2), replace(fitted, bend=None)):  # None: not measured
        assert decide(one_motion)[0] is Category.GEOMETRY
    # Without a gain of the non-rigid field the rigid fit stands, whatever the flow says.
    assert decide(replace(fitted, nonrigid=0.72, bend=0.9))[0] is Category.GEOMETRY
    assert decide(replace(fitted, bend=0.9), TaxonomyConfig(bent_gain=1.0))[0] is Category.GEOMETRY


def test_a_detail_moved_over_kept_surroundings_is_geometry_by_its_two_layers():
    # A scaled detail: one affine motion of the whole region explains 45%, the non-rigid field 30
    # points more (over nonrigid_gain), two layers (the detail scaled, the surroundings kept) 72%.
    scaled = replace(
        _BASE, translation=0.3, similarity=0.4, affine=0.45, nonrigid=0.75, distribution_kept=1.0,
        layered_translation=0.5, layered_similarity=0.72, layered_affine=0.74, layered_px=2.5,
        layered_back=0.7,
    )  # fmt: skip
    cat, _, evidence = decide(scaled)
    assert cat is Category.GEOMETRY
    assert "moved over kept surroundings" in evidence and "similarity motion of it explains 72%" in evidence
    assert "moving it 2.5 px" in evidence
    # Not two layers: a redrawn edge (moved under a pixel), a change the layers do not explain back
    # (a glyph swapped), a non-rigid field that explains clearly more, a motion that bends across the
    # detail, or new colours.
    for not_moved in (
        replace(scaled, layered_px=0.6),
        replace(scaled, layered_back=0.25),
        replace(scaled, nonrigid=0.95),
        replace(scaled, bend=0.9),
        replace(scaled, distribution_kept=0.0),
    ):
        assert decide(not_moved)[0] is Category.SHAPE, not_moved
    assert decide(scaled, TaxonomyConfig(layer_gain=0.0))[0] is Category.SHAPE


def test_a_pointwise_colour_mapping_is_amplitude_where_the_contour_measure_fell():
    # Issue 32: a strong soft-edged brightness change that clipped (contours kept 0.64 < 0.9).
    clipped = replace(_BASE, colour=0.86, contours_kept=0.64, mapping=0.93, mapping_gain=1.2)
    cat, _, evidence = decide(clipped)
    assert cat is Category.AMPLITUDE and "colour mapping of each pixel's own colour" in evidence
    # Everything mapped to one level (an in-painted stroke) is no monotone mapping; a motion that
    # explains more than the mapping wins.
    assert decide(replace(clipped, mapping_gain=0.1))[0] is not Category.AMPLITUDE
    moved = replace(
        clipped, translation=0.97, similarity=0.97, affine=0.97, nonrigid=0.97, distribution_kept=0.9
    )
    assert decide(moved)[0] is Category.GEOMETRY


def test_text_that_stopped_reading_is_never_amplitude():
    amplitude = [
        replace(_BASE, colour=1.0, contours_kept=0.95),  # issue 32's HiFiC town name
        replace(_BASE, colour=0.9, mapping=0.95, mapping_gain=1.0),
        replace(_BASE, texture_ratio=2.2, pattern_kept=0.9),
    ]
    for f in amplitude:
        assert decide(f)[0] is Category.AMPLITUDE
        cat, _, evidence = decide(f, text_lost=True)
        assert cat is Category.SHAPE and "stopped reading" in evidence


def test_a_shift_blended_in_is_geometry_by_the_ghost_model():
    # A soft-edged shift: the blend's mixtures are new colours (distribution kept 0.02), one motion
    # and the hard two layers leave the ramp (66 %, 72 %); a blend of the moved and the kept original
    # explains it both ways round.
    blended = replace(
        _BASE, distribution_kept=0.02, translation=0.66, nonrigid=0.68, layered_translation=0.72,
        layered_px=4.4, layered_back=0.67, ghost=0.95, ghost_px=7.8, ghost_back=0.74,
    )  # fmt: skip
    cat, _, evidence = decide(blended)
    assert cat is Category.GEOMETRY and "shifted by 7.8 px and blended in" in evidence
    # not when the moved original explains it only one way round (a glyph swapped), nor by a 1 px
    # "shift" (a blend with it is a sub-pixel motion: an edge redrawn), nor when a free smooth field
    # explains more (a bulge is locally a shift too)
    t = TaxonomyConfig()
    assert decide(replace(blended, ghost_back=t.layer_back - 0.05))[0] is Category.SHAPE
    assert decide(replace(blended, ghost_px=0.5 * t.ghost_motion))[0] is Category.SHAPE
    assert decide(replace(blended, ghost=0.9, nonrigid=0.95))[0] is Category.SHAPE
    # nor when the best translation lies beyond the reach: an in-painted stroke, a fill that a blend
    # with the original moved 12.8 px explains 90 % (73 % back)
    in_painted = replace(blended, ghost=0.9, ghost_px=12.8, ghost_back=0.73, nonrigid=0.74)
    assert decide(replace(in_painted, ghost_px=t.ghost_reach - 0.5))[0] is Category.GEOMETRY
    assert decide(in_painted)[0] is Category.SHAPE and in_painted.ghost_px > t.ghost_reach
    # nor for text that stopped reading: parts of neighbouring glyphs blended in make new glyphs
    assert decide(blended, text_lost=True)[0] is Category.SHAPE
