"""The "diff" detector: changes a codec's ordinary artefacts do not explain, ranked by what they mean.

Two kinds of evidence, both measured against this pair's own codec artefacts (:mod:`.artefacts`):

- **regions** (:mod:`.maps`): colour, structure and edge difference maps, normalised by the pair's
  noise model, thresholded into regions and classified by :mod:`miscomp.taxonomy`;
- **structures** (:mod:`.structure`): long coherent edges and lines of the original (clock hands,
  poles, window frames, outlines) compared as structures, so a line that dissolves into hallucinated
  texture is found even where the texture difference drowns it.

Scores (:mod:`.score`) rank by semantic impact — structure, shape and geometry above amplitude — and
push what the artefact model explains below :data:`miscomp.findings.DEFAULT_MIN_SCORE`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from miscomp.config import to_dict
from miscomp.detect.base import DETECTORS, Detector, PairImages
from miscomp.detect.diff.artefacts import ArtefactModel, codec_family, fit_artefacts, null_reconstruction
from miscomp.detect.diff.cache import OriginalCache
from miscomp.detect.diff.config import ARTEFACTS, DIFF, MAPS, SCORE, STRUCTURE
from miscomp.detect.diff.maps import (
    FLOORS,
    Candidate,
    PairMaps,
    _components,
    _patch,
    difference_maps,
    find_candidates,
    pair_maps,
    z_maps,
)
from miscomp.detect.diff.score import (
    COLOUR_MAPS,
    artefact_kind,
    artefact_score,
    region_score,
    structure_score,
)
from miscomp.detect.diff.structure import StructureChange, dissolved_structures
from miscomp.findings import Category, Finding, Region
from miscomp.geometry import Box

# The null model of Tsereh et al. (JPEG at the pair's rate) as a further explanation: off; "block"
# for JPEG-family and unnamed codecs; "jpeg" for every pair whose rate is known.
NULL_MODES = ("off", "block", "jpeg")

__all__ = [
    "FLOORS", "ArtefactModel", "Candidate", "DiffDetector", "PairMaps", "StructureChange", "_patch",
    "codec_family", "difference_maps", "dissolved_structures", "find_candidates", "fit_artefacts",
    "pair_maps",
]  # fmt: skip


@DETECTORS.register("diff", cost="cheap", needs_model=False, default=True)
class DiffDetector(Detector):
    """Local changes and dissolved structures beyond the pair's own codec artefacts, by taxonomy.

    Region limits (z thresholds, area as a fraction of the image) were tuned on the generated
    changes of ``benchmarks/detection_quality.py`` with seeds 7 and 11 (JPEG q ≥ 50; seed 2024 is
    held out). ``null_threshold`` 2.7 is the z threshold of pairs that have the null model (JPEG and
    unnamed codecs with a known rate; the others keep ``threshold`` 3.0), ``low`` 1.5 → 1.2 and
    ``min_area_fraction`` 0.0003 → 0.0002. They find texture-strength changes the artefact model
    half explains, and small rotated/scaled details and character swaps that split into fragments
    below the old minimum (seeds 7 / 11, with the explained z of
    :func:`~miscomp.detect.diff.maps.z_maps`: amplitude 0.88/0.84 → 0.94/0.90, geometry 0.95/0.95 →
    0.95/1.00, symbol 0.77/0.72 → 0.82/0.89), with no false finding on the 39 clean pairs (2.5: the
    same but symbol 0.94 on seed 11).

    Without a null model a threshold below 3.0 found ordinary artefacts: a "shape" at z 2.77 in a
    clean JPEG q75 scene passed without its codec tag, two regions in JPEG q10 + chroma bleeding from
    an "external" codec (tests/detect/test_diff*.py). Regions that only the colour maps see keep the
    old limits (``colour_threshold`` 3.0, ``colour_min_area_fraction`` 0.0003): with the new area
    limit alone, text-free Kodak through WebP q5 showed 0.9 chroma-bleeding blobs per pair, with the
    gate 0.3."""

    name = "diff"

    def __init__(
        self,
        cache_dir: Path | None = None,
        threshold: float = DIFF.threshold,
        null_threshold: float = DIFF.null_threshold,
        low: float = DIFF.low,
        min_area_fraction: float = DIFF.min_area_fraction,
        colour_threshold: float = DIFF.colour_threshold,
        colour_min_area_fraction: float = DIFF.colour_min_area_fraction,
        max_regions: int = DIFF.max_regions,
        structures: bool = DIFF.structures,
        explain: bool = DIFF.explain,
        null: str = DIFF.null,
    ) -> None:
        from miscomp.taxonomy import create_classifier

        # Resolved once, here: a taxonomy file that was asked for and is missing stops the run.
        self.classifier = create_classifier()
        self.threshold = float(threshold)
        self.null_threshold = float(null_threshold)
        self.low = float(low)
        self.min_area_fraction = float(min_area_fraction)
        self.colour_gate = (float(colour_threshold), float(colour_min_area_fraction))
        self.max_regions = int(max_regions)
        self.structures = _flag(structures)
        self.explain = _flag(explain)
        if null not in NULL_MODES:
            raise ValueError(f"diff: null must be one of {', '.join(NULL_MODES)}, got {null!r}")
        self.null = null
        # The config in force, whole (run.json): the defaults with this detector's parameters.
        self.config = dataclasses.replace(
            DIFF, threshold=self.threshold, null_threshold=self.null_threshold, low=self.low,
            min_area_fraction=self.min_area_fraction, colour_threshold=self.colour_gate[0],
            colour_min_area_fraction=self.colour_gate[1], max_regions=self.max_regions,
            structures=self.structures, explain=self.explain, null=null,
        )  # fmt: skip
        # What this detector keeps of the current original for its next codec (cache.py): a scan's
        # unit of work is one original with all its codecs.
        self._cache = OriginalCache(
            self.config.cache_max_pixels, self.config.digest_max_bytes, self.config.spill_max_bytes
        )

    def clear_cache(self) -> None:
        """Forget the cached original (benchmarks that time a pipeline without caches)."""
        self._cache.clear()

    def info(self) -> dict:
        """The configs in force, whole (run.json), and the taxonomy's."""
        return {
            **to_dict(self.config),
            "maps": to_dict(MAPS),
            "artefact_model": to_dict(ARTEFACTS),
            "structure": to_dict(STRUCTURE),
            "score": to_dict(SCORE),
            "floors": FLOORS,
            "explain_artefacts": self.explain,
            "null_model": self.null,
            "taxonomy": self.classifier.info(),
        }

    def detect(self, images: PairImages) -> list[Finding]:
        orig, rec = images.original, images.reconstruction
        if orig.shape != rec.shape:
            raise ValueError(
                f"{images.pair_id}: original {orig.shape} and reconstruction {rec.shape} differ in size"
            )
        null = None
        if self.null == "jpeg" or (self.null == "block" and codec_family(images.codec) in ("jpeg", "")):
            null = null_reconstruction(orig, images.codec, images.bpp)
        om = self._cache.maps(orig, images.original_sha256)
        pm = pair_maps(orig, rec, images.codec, explain=self.explain, null_reference=null, orig=om)
        zs, raw_zs = z_maps(pm)
        # With the null model (this codec family at this rate) the explained maps hold little but
        # the change, and a lower z is enough; without it the global artefact model leaves misfits.
        thr = self.null_threshold if null is not None else self.threshold
        findings = self._regions(images, pm, zs=zs, threshold=thr)
        if self.structures:
            findings = self._add_structures(images, pm, findings)
        if self.explain:
            findings += self._artefacts(images, pm, findings, zs, raw_zs, thr)
        self._cache.keep(om, orig, images.original_sha256)
        findings.sort(key=lambda f: -f.score)
        return findings

    def _regions(
        self,
        images: PairImages,
        pm: PairMaps,
        cands: list[Candidate] | None = None,
        zs: dict[str, np.ndarray] | None = None,
        threshold: float | None = None,
    ) -> list[Finding]:
        orig, rec = images.original, images.reconstruction
        thr = self.threshold if threshold is None else threshold
        ih, iw = images.image_size or orig.shape[:2]  # a tile's share is of the whole image
        total = ih * iw
        findings: list[Finding] = []
        if cands is None:
            cands = find_candidates(
                orig, rec, thr, self.low, self.min_area_fraction, self.max_regions, pm=pm, zs=zs,
                colour_gate=self.colour_gate,
            )  # fmt: skip
        for cand in cands:
            reg = cand.region
            if set(cand.maps) <= COLOUR_MAPS:
                # Only the colour maps see it: a brightness/colour change by construction. The full
                # taxonomy (optical flow, ECC) costs ~40 ms a region and most such regions are what is
                # left of chroma bleeding, so they get the amplitude evidence directly.
                category, confidence, evidence = Category.AMPLITUDE, 1.0, _colour_evidence(pm, cand)
            else:
                pad = max(8, int(0.25 * max(reg.w, reg.h)))
                po, (x0, y0) = _patch(orig, reg, pad)
                pr, _ = _patch(rec, reg, pad)
                mask = np.zeros(po.shape[:2], bool)
                mask[reg.y - y0 : reg.y - y0 + reg.h, reg.x - x0 : reg.x - x0 + reg.w] = cand.mask
                category, confidence, evidence = self.classifier.classify(
                    po, pr, mask, cand.mask.sum() / total
                )
            score, why = region_score(category.value, cand, thr)
            details = {
                "peak_z": round(cand.peak_z, 2),
                "maps": list(cand.maps),
                "confidence": round(confidence, 3),
                "strength": round(reg.score, 4),
                "score_reason": why,
                "artefacts": pm.model.info(),
            }
            if category is Category.AMPLITUDE and not set(cand.maps) & COLOUR_MAPS:
                # Texture strength changed, brightness and colour did not. Smoothing and hallucinated
                # texture are what codecs do; only a texture wiped out or more than doubled counts.
                ratio = texture_energy_ratio(pm, cand)
                details["texture_energy_ratio"] = round(ratio, 3)
                if 1 / self.config.texture_ratio < ratio < self.config.texture_ratio:
                    kind = "texture smoothing" if ratio < 1 else "texture hallucination"
                    score = artefact_score(0.5)
                    details.update(artefact=kind, score_reason="ordinary artefact")
                    evidence = f"ordinary codec artefact ({kind}, texture energy ×{ratio:.2f}); {evidence}"
            kind_ = category.value
            findings.append(self._finding(images, reg, kind_, score, evidence, details, pm, cand.maps))
        return findings

    def _finding(
        self, images: PairImages, box: Region | Box, category: str, score: float, evidence: str,
        details: dict, pm: PairMaps, maps: tuple[str, ...] = (),
    ) -> Finding:  # fmt: skip
        """A finding of this detector on ``box`` (the symbol flag is the OCR/combine step's to set)."""
        return Finding(
            pair_id=images.pair_id, detector=self.name, x=box.x, y=box.y, w=box.w, h=box.h,
            category=category, symbol=False, score=score, evidence=evidence, details=details,
            artefact_family=pm.model.family, maps=tuple(maps),
        )  # fmt: skip

    def _artefacts(
        self,
        images: PairImages,
        pm: PairMaps,
        found: list[Finding],
        zs: dict[str, np.ndarray],
        raw_zs: dict[str, np.ndarray],
        threshold: float | None = None,
    ) -> list[Finding]:
        """Regions the raw maps show and the artefact model explains: kept as low-score findings, so
        the tables record what the codec's ordinary artefacts did (research) and the report can count
        them, while report and pushes hide them (score < the default minimum)."""
        orig = images.original
        thr = self.threshold if threshold is None else threshold
        cands = _components(
            raw_zs, orig.shape[:2], thr, self.low, self.min_area_fraction, self.config.max_artefacts,
            self.colour_gate,
        )  # fmt: skip
        out, unexplained = [], []
        for cand in cands:
            reg = cand.region
            if any(f.box.overlaps(reg.box) for f in found):
                continue
            sl = (slice(reg.y, reg.y + reg.h), slice(reg.x, reg.x + reg.w))
            left = max(float(z[sl][cand.mask].max()) for z in zs.values())
            if left > thr:
                # The model leaves it above the threshold: not explained. (Its explained component
                # was too small or too broken up to be a region; the raw component stands in.)
                names = tuple(k for k, z in zs.items() if (z[sl][cand.mask] > thr).any())
                unexplained.append(replace(cand, peak_z=left, maps=names))
                continue
            explained = float(np.clip(1 - max(left, 0.0) / cand.peak_z, 0, 1))
            kind = artefact_kind(cand.maps, pm.model)
            score = artefact_score(explained)
            evidence = (
                f"ordinary codec artefact ({kind}): the pair's artefact model "
                f"({pm.model.family}, blur σ {pm.model.sigma_l:g}, chroma σ {pm.model.sigma_c:g}"
                f"{f', {pm.model.grid}-px grid' if pm.model.grid else ''}) "
                f"explains {100 * explained:.0f}% of it"
            )
            details = {"peak_z": round(cand.peak_z, 2), "maps": list(cand.maps), "artefact": kind,
                       "explained": round(explained, 3), "score_reason": "ordinary artefact",
                       "artefacts": pm.model.info()}  # fmt: skip
            out.append(self._finding(images, reg, "amplitude", score, evidence, details, pm, cand.maps))
        return out

    def _add_structures(self, images: PairImages, pm: PairMaps, findings: list[Finding]) -> list[Finding]:
        """Dissolved structures: raise an overlapping region's score, or add a finding of their own."""
        out = list(findings)
        for s in dissolved_structures(pm):
            score = structure_score(s)
            text = s.evidence()
            hit = [i for i, f in enumerate(out) if f.box.overlaps(s.box) and f.detector == self.name]
            if hit:
                i = max(hit, key=lambda j: out[j].score)
                f = out[i]
                if score > f.score:
                    details = {**f.details, "structure": s.info(), "score_reason": "dissolved structure"}
                    # A dissolved contour is geometry (Hofer & Böhme) even where the texture around it
                    # reads as an amplitude change; a changed shape stays shape.
                    category = "geometry" if f.category == "amplitude" else f.category
                    out[i] = replace(
                        f, score=score, category=category, evidence=f"{text}; {f.evidence}", details=details
                    )
                continue
            box = Box(*s.box)
            details = {
                "structure": s.info(),
                "score_reason": "dissolved structure",
                "artefacts": pm.model.info(),
            }
            out.append(self._finding(images, box, "geometry", score, text, details, pm))
        return out


def texture_energy_ratio(pm: PairMaps, cand: Candidate) -> float:
    """High-frequency energy of L* (σ 1.5 px high-pass), reconstruction over original, in the region."""
    r = cand.region
    sl = (slice(r.y, r.y + r.h), slice(r.x, r.x + r.w))
    lo, lr = pm.lab_o[sl][..., 0], pm.lab_r[sl][..., 0]
    hp_o = lo - cv2.GaussianBlur(lo, (0, 0), 1.5)
    hp_r = lr - cv2.GaussianBlur(lr, (0, 0), 1.5)
    e_o, e_r = float((hp_o[cand.mask] ** 2).mean()), float((hp_r[cand.mask] ** 2).mean())
    return (e_r + 0.05) / (e_o + 0.05)


def _colour_evidence(pm: PairMaps, cand: Candidate) -> str:
    r = cand.region
    sl = (slice(r.y, r.y + r.h), slice(r.x, r.x + r.w))
    d = (pm.lab_r[sl] - pm.lab_o[sl])[cand.mask]
    de = float(np.sqrt((d**2).sum(-1)).mean())
    dl, dab = float(d[:, 0].mean()), float(np.hypot(d[:, 1].mean(), d[:, 2].mean()))
    return f"colour changed: ΔE {de:.1f}, ΔL {dl:+.1f}, Δab {dab:.1f}; structure and edges in place"


def _flag(value: object) -> bool:
    """Detector params arrive as text from ``diff:structures=false`` specs."""
    if isinstance(value, str):
        return value.strip().lower() not in ("0", "false", "no", "off")
    return bool(value)
