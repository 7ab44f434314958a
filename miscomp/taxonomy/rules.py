"""The decision, in the taxonomy's own terms: which model of change explains the region.

The rules are one ordered list of clauses (:data:`CLAUSES`); the first whose predicate holds decides.
Each predicate is written once, over a *feature frame* (a dict of numpy arrays, one entry per region:
:func:`feature_frame`), so :func:`decide` (one region, also giving confidence and evidence) and the
tuning benchmark (``benchmarks/taxonomy_loko.py``, thousands of threshold sets over hundreds of
regions: :func:`predict`) evaluate the same code. The thresholds are :class:`TaxonomyConfig`, each
with its provenance; ``docs/detectors/taxonomy.md`` is printed from the clauses by :func:`describe`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

import numpy as np

from miscomp.config import field_provenance
from miscomp.findings import Category
from miscomp.taxonomy.config import TaxonomyConfig
from miscomp.taxonomy.features import SCATTER_PX, RegionFeatures

Frame = dict[str, np.ndarray]
_LOW_FREEDOM = ("translation", "similarity", "affine")


# --- the feature frame -----------------------------------------------------------------------------


def _simplest(values: Sequence[np.ndarray]) -> np.ndarray:
    """Vectorised :attr:`RegionFeatures.low_freedom`: the least free model within 0.03 of the best."""
    t, s, a = values
    best = np.maximum.reduce([t, s, a])
    return np.where(t >= best - 0.03, t, np.where(s >= best - 0.03, s, a))


def frame_from_columns(columns: dict[str, np.ndarray], text_lost: np.ndarray | bool = False) -> Frame:
    """The frame from per-feature arrays (a table's columns: the :class:`RegionFeatures` scalars;
    ``bend`` NaN where not measured), with the derived terms the clauses read."""
    x = {k: np.asarray(v, dtype=float) for k, v in columns.items()}
    n = len(next(iter(x.values())))
    x["text_lost"] = np.broadcast_to(np.asarray(text_lost, dtype=bool), (n,))
    x["rigid"] = _simplest([x[k] for k in _LOW_FREEDOM])
    x["layered"] = _simplest([x[f"layered_{k}"] for k in _LOW_FREEDOM])
    x["motion"] = np.maximum(x["rigid"], x["nonrigid"])
    return x


def feature_frame(features: Sequence[RegionFeatures], text_lost: np.ndarray | bool = False) -> Frame:
    names = [f.name for f in fields(RegionFeatures) if f.name != "shift"]
    columns = {k: np.array([getattr(f, k) for f in features], dtype=float) for k in names}  # None → NaN
    return frame_from_columns(columns, text_lost)


# --- clauses ---------------------------------------------------------------------------------------


class _Only:
    """The config as one clause's predicate may read it: only the thresholds the clause declares
    (``uses``), so the benchmark can cache a predicate's result by those values alone."""

    def __init__(self, t: TaxonomyConfig, names: tuple[str, ...]) -> None:
        self._t, self._names = t, names

    def __getattr__(self, name: str) -> float:
        if name not in self._names:
            raise AttributeError(f"a clause reads threshold {name!r} without declaring it in `uses`")
        return getattr(self._t, name)


@dataclass(frozen=True)
class Clause:
    """One rule: if ``when`` holds (and no clause before it did), the region is ``category``."""

    name: str
    category: Category
    rule: str  # the rule in prose, naming its thresholds (the docs print it)
    uses: tuple[str, ...]  # the thresholds ``when`` reads
    when: Callable[[Frame, TaxonomyConfig], np.ndarray]
    confidence: Callable[[RegionFeatures, TaxonomyConfig], float]
    evidence: Callable[[RegionFeatures, TaxonomyConfig], str]

    def holds(self, x: Frame, t: TaxonomyConfig) -> np.ndarray:
        return np.asarray(self.when(x, _Only(t, self.uses)), dtype=bool)  # type: ignore[arg-type]


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _motion(f: RegionFeatures) -> float:
    return max(f.low_freedom[1], f.nonrigid)


def _moved(x: Frame, t) -> np.ndarray:
    return x["distribution_kept"] >= t.moved_kept  # a motion moves colours, it does not make new ones


def _bent_flow(x: Frame, t) -> np.ndarray:
    # The non-rigid field's gain over the rigid fit is ambiguous in 0.05-0.2 (a pinch's inner part is
    # nearly a uniform scale; a scaled detail's seam fits a smooth field better): there the fine flow
    # decides. A motion that changes across the detail (bend > bend_max) overrules the rigid fit. An
    # unmeasured bend (NaN) compares False: it never overrules.
    return (x["nonrigid"] - x["rigid"] > t.bent_gain) & (x["bend"] > t.bend_max)


def _low_freedom(x: Frame, t, explains: np.ndarray, gain_limit: float) -> np.ndarray:
    held = _moved(x, t) & (explains >= t.rigid_explains) & (x["nonrigid"] - explains <= gain_limit)
    return held & (x["nonaffine_energy"] <= t.nonaffine_energy) & ~_bent_flow(x, t)


def _kept_near(x: Frame, t) -> np.ndarray:
    return (x["distribution_kept"] >= t.dissolve_kept) & (x["scatter"] >= t.scatter_explains)


def _models(f: RegionFeatures) -> str:
    rigid_name, rigid = f.low_freedom
    return (
        f"colour {_pct(f.colour)} with contours kept {f.contours_kept:.2f}, {rigid_name} {_pct(rigid)}, "
        f"non-rigid {_pct(f.nonrigid)}"
    )


def _motion_text(f: RegionFeatures) -> str:
    parts = [f"shift ({f.shift[0]:.1f}, {f.shift[1]:.1f}) px"]
    if abs(f.rotation_deg) >= 1.0:
        parts.append(f"rotation {f.rotation_deg:.1f}°")
    if abs(f.scale - 1) >= 0.02:
        parts.append(f"scale {f.scale:.2f}")
    if abs(f.shear) >= 0.03:
        parts.append(f"shear {f.shear:.2f}")
    return ", ".join(parts)


def _bend_text(f: RegionFeatures) -> str:
    return "" if f.bend is None else f"; the inner half's motion misses the outer half's by {_pct(f.bend)}"


_MOTION_LIMITS = ("moved_kept", "rigid_explains", "nonaffine_energy", "bent_gain", "bend_max")

CLAUSES: tuple[Clause, ...] = (
    Clause(
        "blurred_text",
        Category.GEOMETRY,
        "For text that stopped reading only: a blur of the original explains at least `blur_explains` "
        "of the change, the band-pass energy fell by the texture factor (≤ 1 / `texture_ratio`) and what "
        "is left is not the same pattern weaker (correlation below `texture_pattern`): the strokes were "
        "smoothed away, contours dissolved (an MSE codec blurring small text illegible; the real-codec "
        "test bed's labelling rule). Not for other regions: to these measurements a stroke in-painted "
        "away looks the same (11 of 28 generated `stroke_removed` pass the test).",
        ("blur_explains", "texture_ratio", "texture_pattern"),
        lambda x, t: (
            x["text_lost"]
            & (x["blur"] >= t.blur_explains)
            & (x["texture_ratio"] <= 1 / t.texture_ratio)
            & (x["pattern_kept"] < t.texture_pattern)
        ),
        lambda f, t: 0.5 + min(f.blur - t.blur_explains, t.texture_pattern - f.pattern_kept, 0.49),
        lambda f, t: (
            f"a blur of the original (σ {f.blur_sigma:.1f} px) explains {_pct(f.blur)} of the change "
            f"and the strokes went with it (band-pass energy ×{f.texture_ratio:.2f}, pattern "
            f"correlation {f.pattern_kept:.2f}): contours dissolved"
        ),
    ),
    Clause(
        "colour",
        Category.AMPLITUDE,
        "The colour model (no motion) explains at least `colour_explains` of the change and more than "
        "any motion does, and the contours stayed (`contours_kept`: the edge profile at the original's "
        "edges, and at the reconstruction's, is still there, each side's gradient against its own "
        "contour strength nearby, so a contrast that changed along a contour still counts as kept): "
        "intensity or colour changed while the geometry held. Without the contour test an in-painted "
        "stroke would be 'pixels got brighter'. "
        "Never for text that stopped reading (nor the two amplitude clauses after this one): that the "
        "read changed is contour evidence at the glyph's own scale, which the contour measure misses "
        "at 10-14 px (issue 32: HiFiC garbled text read 100% colour, contours kept 0.95).",
        ("colour_explains", "contours_kept"),
        lambda x, t: (
            ~x["text_lost"]
            & (x["colour"] >= t.colour_explains)
            & (x["colour"] >= x["motion"])
            & (x["contours_kept"] >= t.contours_kept)
        ),
        lambda f, t: 0.5 + min(f.colour - t.colour_explains, f.colour - _motion(f), 0.49),
        lambda f, t: (
            f"colour model explains {_pct(f.colour)} of the change with the geometry held (best "
            f"motion {_pct(_motion(f))}), contours kept {f.contours_kept:.2f}; "
            f"ΔL {f.mean_dl:+.1f}, Δab {f.mean_dab:.1f}"
        ),
    ),
    Clause(
        "mapping",
        Category.AMPLITUDE,
        "A pointwise colour mapping (each pixel's new colour a function of its own old colour, the "
        "function varying smoothly over the region) explains at least `mapping_explains` of the change "
        "and no motion explains more, with an L* gain of at least `mapping_gain` (monotone: not every "
        "level mapped to one, as an in-painted stroke or an eroded shape is). Pixels the reconstruction "
        "clipped at the gamut's edge are left out: a strong soft-edged brightness, hue or saturation "
        "change that clips or flattens local contrast is still a colour mapping, though the contour "
        "measure of the clause before falls there (and the blend's ramp draws a soft new edge).",
        ("mapping_explains", "mapping_gain"),
        lambda x, t: (
            ~x["text_lost"]
            & (x["mapping"] >= t.mapping_explains)
            & (x["mapping_gain"] >= t.mapping_gain)
            & (x["mapping"] >= x["motion"])
        ),
        lambda f, t: 0.5 + min(f.mapping - t.mapping_explains, f.mapping - _motion(f), 0.49),
        lambda f, t: (
            f"a colour mapping of each pixel's own colour explains {_pct(f.mapping)} of the change (L* "
            f"gain {f.mapping_gain:.2f}, clipped pixels aside; best motion {_pct(_motion(f))}, contours "
            f"kept {f.contours_kept:.2f}): intensity or colour changed, no contour moved; "
            f"ΔL {f.mean_dl:+.1f}, Δab {f.mean_dab:.1f}"
        ),
    ),
    Clause(
        "texture",
        Category.AMPLITUDE,
        "The texture got stronger or weaker in place: the band-pass energy changed by at least "
        "`texture_ratio` (either way) while its pattern stayed (band-pass correlation ≥ "
        "`texture_pattern`) and no motion explains `rigid_explains` of the change. The colour model "
        "alone misses this (a median 52% of generated texture changes: the codec noise inside a "
        "texture is amplified with it).",
        ("texture_ratio", "texture_pattern", "rigid_explains"),
        lambda x, t: (
            ~x["text_lost"]
            & (np.maximum(x["texture_ratio"], 1 / np.maximum(x["texture_ratio"], 1e-6)) >= t.texture_ratio)
            & (x["pattern_kept"] >= t.texture_pattern)
            & (x["motion"] < t.rigid_explains)
        ),
        lambda f, t: (
            0.5
            + min(
                abs(np.log(max(f.texture_ratio, 1e-6))) - np.log(t.texture_ratio),
                t.rigid_explains - _motion(f),
                0.49,
            )
        ),
        lambda f, t: (
            f"texture {'stronger' if f.texture_ratio > 1 else 'weaker'} in place: band-pass energy "
            f"×{f.texture_ratio:.2f} with its pattern kept (correlation {f.pattern_kept:.2f}); no motion "
            f"explains it (best {_pct(_motion(f))}, colour model {_pct(f.colour)})"
        ),
    ),
    Clause(
        "one_motion",
        Category.GEOMETRY,
        "The core's colours were kept (distribution kept ≥ `moved_kept`: a motion moves colours, it "
        "makes no new ones), a low-freedom motion (translation, similarity or affine) explains at least "
        "`rigid_explains`, a smooth non-rigid field adds at most `nonrigid_gain` to it and the field's "
        "non-affine energy stays below `nonaffine_energy`: the detail moved, turned, scaled or sheared "
        "as a whole. Unless the fine flow says otherwise: when the non-rigid field adds more than "
        "`bent_gain` and the affine motion of the detail's inner half mispredicts its outer half by "
        "more than `bend_max` of the motion, the motion changes across the detail (not geometry).",
        (*_MOTION_LIMITS, "nonrigid_gain"),
        lambda x, t: _low_freedom(x, t, x["rigid"], t.nonrigid_gain),
        lambda f, t: (
            0.5
            + min(
                f.low_freedom[1] - t.rigid_explains, t.nonrigid_gain - (f.nonrigid - f.low_freedom[1]), 0.49
            )
        ),
        lambda f, t: (
            f"{f.low_freedom[0]} motion explains {_pct(f.low_freedom[1])} of the change (non-rigid "
            f"{_pct(f.nonrigid)}); non-affine energy {f.nonaffine_energy:.2f}; {_motion_text(f)}"
        ),
    ),
    Clause(
        "two_layers",
        Category.GEOMETRY,
        "On the same terms, a two-layer model: the detail moved by one low-freedom motion over "
        "surroundings that stayed (it explains at least `rigid_explains`, the non-rigid field adds at "
        "most `layer_gain`), the moved layer moved `layer_motion` px or more, and the two layers explain "
        "the change the other way round as well (the reconstruction moved back explains at least "
        "`layer_back`). One motion fitted over the whole region leaves the kept surroundings and the "
        "seam unexplained, and a scaled, sheared or moved-apart detail then looked bent.",
        (*_MOTION_LIMITS, "layer_gain", "layer_motion", "layer_back"),
        lambda x, t: (
            _low_freedom(x, t, x["layered"], t.layer_gain)
            & (x["layered_px"] >= t.layer_motion)
            & (x["layered_back"] >= t.layer_back)
        ),
        lambda f, t: (
            0.5 + min(f.layered[1] - t.rigid_explains, t.layer_gain - (f.nonrigid - f.layered[1]), 0.49)
        ),
        lambda f, t: (
            f"the detail moved over kept surroundings: a {f.layered[0]} motion of it explains "
            f"{_pct(f.layered[1])} of the change (one {f.low_freedom[0]} motion of the whole region "
            f"{_pct(f.low_freedom[1])}, non-rigid {_pct(f.nonrigid)}), moving it {f.layered_px:.1f} px; "
            f"non-affine energy {f.nonaffine_energy:.2f}; {_motion_text(f)}"
        ),
    ),
    Clause(
        "ghost",
        Category.GEOMETRY,
        "A detail shifted and blended in: the reconstruction is a soft blend of the original moved by one "
        "translation and the original in place (the ghost model: the blend weight varies smoothly, the "
        "translation is found by a photometric search, not read off the flow). It explains at least "
        "`ghost_explains` of the change and at least as much as the non-rigid field (where a free smooth "
        "field explains more, the contours bent: a bulge or pinch is locally a shift too), the "
        "translation is `ghost_motion` px or more (a blend of the original and the original moved by "
        "1 px is the original moved by a fraction of a pixel: a redrawn edge), and the model explains at "
        "least `layer_back` the other way round. A shift blended in with a soft mask leaves a ghost of "
        "the old position: the mixtures are new colours (the colour-distribution gate of the clauses "
        "above fails), the hard two layers leave the blend's ramp unexplained, and on fine texture "
        "(grass, water, branches) the flow does not follow the shift at all. Never for text that "
        "stopped reading: a blend weight free over a few pixels assembles new glyphs from parts of the "
        "old ones a glyph or two away (real-codec test bed, held out: three garbled lines, 'Reis' -> "
        "'HPIS', read as a ghost 80-100 %). Nor when the best translation lies beyond `ghost_reach` px "
        "(the search covers a square whose corners reach further only so that such a fit is seen): a "
        "change best explained by copying from farther than a detail moves is a fill, as an in-painted "
        "stroke draws the hole's colours from beyond its edge (an in-painted stroke 90 % explained by "
        "a blend with the original moved 12.8 px; the tuning kinds' shifts the clause calls fit at "
        "2-7 px).",
        ("ghost_explains", "ghost_motion", "layer_back", "ghost_reach"),
        lambda x, t: (
            ~x["text_lost"]
            & (x["ghost"] >= t.ghost_explains)
            & (x["ghost"] >= x["nonrigid"])
            & (x["ghost_px"] >= t.ghost_motion)
            & (x["ghost_px"] <= t.ghost_reach)
            & (x["ghost_back"] >= t.layer_back)
        ),
        lambda f, t: 0.5 + min(f.ghost - t.ghost_explains, f.ghost - f.nonrigid + 0.05, 0.49),
        lambda f, t: (
            f"the detail shifted by {f.ghost_px:.1f} px and blended in: a soft blend of the original moved "
            f"and in place explains {_pct(f.ghost)} of the change ({_pct(f.ghost_back)} the other way "
            f"round; one {f.low_freedom[0]} motion {_pct(f.low_freedom[1])}, non-rigid {_pct(f.nonrigid)}, "
            f"distribution kept {f.distribution_kept:.2f})"
        ),
    ),
    Clause(
        "bent",
        Category.SHAPE,
        "The colours were kept and only the non-rigid field explains at least `bent_explains`: "
        "contours bent, bulged, swirled.",
        ("moved_kept", "bent_explains"),
        lambda x, t: _moved(x, t) & (x["nonrigid"] >= t.bent_explains),
        lambda f, t: (
            0.5
            + min(
                f.nonrigid - t.bent_explains,
                max(f.nonrigid - f.low_freedom[1] - t.nonrigid_gain, 0.0) + 0.1,
                0.49,
            )
        ),
        lambda f, t: (
            f"only a non-rigid field explains the change ({_pct(f.nonrigid)} vs {f.low_freedom[0]} "
            f"{_pct(f.low_freedom[1])}); non-affine energy {f.nonaffine_energy:.2f}"
            + (
                ""
                if f.nonaffine_energy > t.nonaffine_energy
                else f", +{_pct(max(f.nonrigid - f.low_freedom[1], 0))} over {f.low_freedom[0]}"
            )
            + (
                f", the inner half's affine motion misses the outer half's by {_pct(f.bend)}"
                if f.nonrigid - f.low_freedom[1] > t.bent_gain and f.bend is not None and f.bend > t.bend_max
                else ""
            )
            + ": contours bent"
        ),
    ),
    Clause(
        "dissolved",
        Category.GEOMETRY,
        "No smooth model explains it, but the core's colour distribution is kept (≥ `dissolve_kept`), "
        f"every pixel finds its colour within {SCATTER_PX} px (scatter ≥ `scatter_explains`) with "
        "displacements that neighbours do not share (coherence ≤ `dissolve_coherence`) and without "
        "coherent motion (the smoothed flow moves the core by at most `dissolve_flow` px): the pixels "
        "only moved a little, independently, the contours dissolved.",
        ("dissolve_kept", "scatter_explains", "dissolve_coherence", "dissolve_flow"),
        lambda x, t: (
            _kept_near(x, t) & (x["coherence"] <= t.dissolve_coherence) & (x["flow_px"] <= t.dissolve_flow)
        ),
        lambda f, t: 0.5 + min(f.distribution_kept - t.dissolve_kept, 0.49),
        lambda f, t: (
            f"no smooth model explains the change ({_models(f)}) but the colours stayed "
            f"(distribution kept {f.distribution_kept:.2f}) within {SCATTER_PX} px (scatter "
            f"explains {_pct(f.scatter)}, coherence {f.coherence:.2f}) with no coherent motion "
            f"(flow {f.flow_px:.1f} px): contours dissolved"
        ),
    ),
    Clause(
        "moved_as_one",
        Category.GEOMETRY,
        "The colours stayed and moved coherently (flow above `dissolve_flow`, and at least `moved_flow` "
        "px: text a generative codec redrew moves its edges 0.5-1.3 px) yet no fitted model follows, and "
        "the affine motion of the detail's inner half predicts its outer half (bend ≤ `bend_max` of the "
        "motion): the detail moved as a whole and the fits only missed it (a part moved over a filled "
        "gap, a large rotation).",
        ("dissolve_kept", "scatter_explains", "dissolve_flow", "bend_max", "moved_flow"),
        lambda x, t: (
            _kept_near(x, t)
            & (x["flow_px"] > t.dissolve_flow)
            & (x["bend"] <= t.bend_max)
            & (x["flow_px"] >= t.moved_flow)
        ),
        lambda f, t: 0.5 + min(t.bend_max - (f.bend or 0.0), 0.49),
        lambda f, t: (
            f"no fitted model explains the change ({_models(f)}) but the colours stayed (distribution "
            f"kept {f.distribution_kept:.2f}) and moved as one (flow {f.flow_px:.1f} px; the inner half's "
            f"affine motion predicts the outer half's within {_pct(f.bend or 0.0)})"
        ),
    ),
    Clause(
        "bent_further",
        Category.SHAPE,
        "The colours stayed and moved coherently (flow above `dissolve_flow`) but the motion changes "
        "across the detail: a warp too strong for the fits (swirls of 40-60°), contours bent.",
        ("dissolve_kept", "scatter_explains", "dissolve_flow"),
        lambda x, t: _kept_near(x, t) & (x["flow_px"] > t.dissolve_flow),
        lambda f, t: 0.5 + min(f.flow_px - t.dissolve_flow, t.bent_explains - f.nonrigid, 0.49),
        lambda f, t: (
            f"no fitted model explains the change ({_models(f)}) but the colours stayed (distribution "
            f"kept {f.distribution_kept:.2f}) and moved coherently (flow {f.flow_px:.1f} px{_bend_text(f)}): "
            f"contours bent further than the fits follow"
        ),
    ),
    Clause(
        "text_strokes",
        Category.SHAPE,
        "Text that stopped reading, which no clause above explains: the read changed, so its strokes "
        "changed at the glyph's own scale (contours appeared or vanished), even where a colour model "
        "explains the pixels.",
        (),
        lambda x, t: x["text_lost"],
        lambda f, t: 0.5 + min(max(t.rigid_explains - _motion(f), 0.0) + 0.1, 0.49),
        lambda f, t: (
            f"the text stopped reading and no motion explains it ({_models(f)}): its strokes changed at "
            f"the glyph's scale, contours appeared or vanished"
        ),
    ),
    Clause(
        "appeared",
        Category.SHAPE,
        "Otherwise colours appeared or vanished with the contours: strokes added or removed, shapes "
        "eroded or grown.",
        (),
        lambda x, t: np.ones(len(x["colour"]), bool),
        lambda f, t: (
            0.5
            + min(t.rigid_explains - max(_motion(f), f.colour), t.dissolve_kept - f.distribution_kept, 0.49)
        ),
        lambda f, t: (
            f"no model explains the change ({_models(f)}; distribution kept {f.distribution_kept:.2f}): "
            f"contours appeared or vanished"
        ),
    ),
)
CATEGORIES = tuple(Category)


def decide(
    f: RegionFeatures, t: TaxonomyConfig = TaxonomyConfig(), text_lost: bool = False
) -> tuple[Category, float, str]:
    """(category, confidence in [0.5, 1), evidence naming the model terms that decided it).

    ``text_lost``: the region is a line of text that stopped reading (the OCR detector's illegible or
    misread lines); only there is a smoothing that took the strokes along read as dissolved contours."""
    x = feature_frame([f], text_lost)
    for clause in CLAUSES:
        if clause.holds(x, t)[0]:
            conf = float(np.clip(clause.confidence(f, t), 0.5, 0.99))
            return clause.category, conf, clause.evidence(f, t)
    raise AssertionError("the last clause always holds")


def predict(x: Frame, t: TaxonomyConfig, cache: dict | None = None) -> np.ndarray:
    """Category codes (indices into :data:`CATEGORIES`) of every region in ``x`` under ``t``: the first
    clause that holds, as :func:`decide`. ``cache`` (a dict kept across calls on the same frame) keeps
    each clause's result by the values of the thresholds it reads: a grid search re-evaluates only
    the clauses whose thresholds changed."""
    code = np.full(len(x["colour"]), -1)
    for clause in reversed(CLAUSES):  # the earlier clause wins: it is written last
        key = (clause.name, tuple(getattr(t, u) for u in clause.uses))
        held = cache.get(key) if cache is not None else None
        if held is None:
            held = clause.holds(x, t)
            if cache is not None:
                cache[key] = held
        code = np.where(held, _CODE[clause.category], code)
    return code


_CODE = {c: i for i, c in enumerate(CATEGORIES)}


_PAGE_HEAD = """# Taxonomy: which model of change explains a region

<!-- Generated by `python -m miscomp.taxonomy.rules > docs/detectors/taxonomy.md` from the clauses in
miscomp/taxonomy/rules.py and the thresholds in miscomp/taxonomy/config.py; a test checks it is in
sync. Edit those, not this page. -->

Every region a detector finds gets a category of Hofer & Böhme's taxonomy (amplitude, geometry,
shape). `miscomp/taxonomy/features.py` fits models of change to the region's *core* (the pixels that
changed strongly) and says what share of the change, above the codec's own noise floor, each explains:
a colour model with the geometry held, translation / similarity / affine motions fitted to the dense
optical flow, the same motions as a detail moved over surroundings that stayed (two layers), a smooth
non-rigid field, a per-pixel scatter, a blur of the original. The rules below read those shares; the
first clause that holds decides, and the finding's evidence text names the terms that decided.

## The clauses, in order
"""


def describe(t: TaxonomyConfig = TaxonomyConfig()) -> str:
    """The rules as a markdown page: each clause in order with the thresholds it reads, their values
    and where those came from (``docs/detectors/taxonomy.md`` is this text)."""
    prov = {f.name: field_provenance(f) for f in fields(TaxonomyConfig)}
    lines = [_PAGE_HEAD]
    for i, clause in enumerate(CLAUSES, 1):
        lines += [f"{i}. **{clause.category.value}** (`{clause.name}`): {clause.rule}", ""]
        for name in clause.uses:
            p = prov[name]
            result = f"; {p.result}" if p.result else ""
            lines.append(f"   - `{name}` = {getattr(t, name):g} ({p.kind}: {p.source}{result})")
        if clause.uses:
            lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(describe(), end="")
