"""The diff detector's numbers, each with where it came from (:mod:`miscomp.config`).

One frozen config per part: the detector's region limits (:class:`DiffConfig`), the difference maps'
noise model (:class:`MapsConfig`), the codec artefact model (:class:`ArtefactConfig`), dissolved
structures (:class:`StructureConfig`) and the score bands (:class:`ScoreConfig`). The modules read
their defaults from the instances here; nothing else restates them.
"""

from __future__ import annotations

from dataclasses import dataclass

from miscomp.config import defined, measured, tuned

_DQ = "benchmarks/detection_quality.py, seeds 7 and 11 (JPEG q >= 50; seed 2024 held out)"
_DQ_RESULT = (
    "amplitude 0.88/0.84 -> 0.94/0.90, geometry 0.95/0.95 -> 0.95/1.00, symbol 0.77/0.72 -> 0.82/0.89 "
    "recall (seeds 7/11), no false finding on the 39 clean pairs"
)


@dataclass(frozen=True)
class DiffConfig:
    """Region limits of the diff detector: z thresholds and area as a fraction of the image."""

    threshold: float = tuned(
        3.0, _DQ + "; tests/detect/test_diff*.py for pairs without a null model",
        "below 3.0 without a null model ordinary artefacts passed (a 'shape' at z 2.77 in a clean JPEG q75 "
        "scene without its codec tag)",
    )  # fmt: skip
    null_threshold: float = tuned(
        2.7, _DQ, "z threshold of pairs with the null model; " + _DQ_RESULT + " (2.5: symbol 0.94 on seed 11)"
    )  # fmt: skip
    low: float = tuned(1.2, _DQ, "hysteresis z (1.5 -> 1.2): " + _DQ_RESULT)
    min_area_fraction: float = tuned(
        0.0002, _DQ, "0.0003 -> 0.0002: small rotated/scaled details and character swaps that split into "
        "fragments; " + _DQ_RESULT,
    )  # fmt: skip
    colour_threshold: float = tuned(
        3.0, "text-free Kodak through WebP q5 (benchmarks/kodak_artefacts.py)",
        "regions only the colour maps see keep the old limits: 0.9 chroma-bleeding blobs per pair with the "
        "new area limit alone, 0.3 with this gate",
    )  # fmt: skip
    colour_min_area_fraction: float = tuned(
        0.0003, "text-free Kodak through WebP q5 (benchmarks/kodak_artefacts.py)", "as colour_threshold"
    )  # fmt: skip
    max_regions: int = defined(20, "regions reported per pair, highest peak z first")
    structures: bool = defined(True, "dissolved structures compared as structures (structure.py)")
    explain: bool = defined(
        True, "the pair's codec artefact model explains ordinary artefacts (artefacts.py)"
    )
    null: str = defined(
        "block", "the JPEG null model for JPEG-family and unnamed codecs ('off', 'block', 'jpeg')"
    )
    texture_ratio: float = measured(
        2.0, "benchmarks/detection_quality.py injected texture changes",
        "injected changes (high-pass x0 or x2.4-2.9) change texture energy x0-0.01 or x5-8; codecs' "
        "smoothing and hallucination stay inside x1/2..x2",
    )  # fmt: skip
    max_artefacts: int = defined(10, "low-score artefact findings kept per pair (the largest first)")
    cache_max_pixels: int = measured(
        2_000_000, "peak RSS of a 24 MP scan (notes/measured.md)",
        "an original's 10 float32 map planes take ~80 MB at 2 MP; larger originals are tiled and not kept",
    )  # fmt: skip
    digest_max_bytes: int = measured(
        16 * 2**20, "benchmarks/throughput.py marginal (12 MP, 24 tiles of 1024 px); benchmarks/memory.py",
        "0.46 MB per 1024-px tile of kodim14 at 12 MP (all 24 tiles: ~11 MB). The digests stay through the "
        "later detectors: with 64 MiB a one-codec 24 MP text scan peaked at 1593 MiB (base 1547)",
    )  # fmt: skip
    spill_max_bytes: int = defined(
        2**30,
        "temporary disk for the tiles' per-pixel original maps between codecs (cache.py): 32 MB a "
        "1024-px tile, a 12 MP photo's 24 tiles 768 MB; 0 keeps none",
    )


@dataclass(frozen=True)
class MapsConfig:
    """The difference maps' noise model (maps.py)."""

    # Smallest deviation worth a finding, per map, whatever the noise level: ΔE units, 1−SSIM, L*/px.
    floor_lightness: float = defined(2.0, "ΔE 2: about one just-noticeable difference")
    floor_chroma: float = defined(2.0, "ΔE 2: about one just-noticeable difference")
    floor_structure: float = defined(0.08, "1 - SSIM below which structure counts as kept")
    floor_edges: float = defined(2.5, "L* per px of gradient change below which edges count as kept")
    bins: int = defined(12, "activity bins of the noise curve")
    spread_q: float = defined(
        0.9, "the spread quantile: a change filling a quarter of one activity bin cannot inflate it"
    )  # fmt: skip
    spread_cap: float = defined(4.0, "a bin's spread is capped at this many times the global spread")
    # The colour maps' whole-image spread is bounded by their upper quartile too: a recolouring covering
    # 10 % of the image sat on the global 90th percentile, inflated the cap 25-fold and hid itself (a
    # red square turned blue: chroma z 0). Only the colour maps: edge and structure maps are heavy-
    # tailed by nature (text and clock edges: (q90 - q50)/(q75 - q50) up to 9), the bound would bite.
    robust_maps: tuple[str, ...] = defined(("lightness", "chroma"), "maps whose global spread is bounded")
    global_q: float = defined(
        0.75, "global spread quantile: a change covering up to a quarter of the image cannot inflate it"
    )  # fmt: skip
    global_ratio: float = measured(
        4.0, "raw lightness/chroma maps of Kodak and the rendered text scenes (table, stickers, signs, "
        "clocks, plates; seeds 1-3) through JPEG q10, WebP q5, in-house q1 (117 pairs), TAEF2 bits 2/3 (53)",
        "(q90 - q50)/(q75 - q50) at most 3.66 on these clean pairs, so the bound never binds on them",
    )  # fmt: skip
    lut: int = defined(1024, "entries of the activity -> noise lookup table (numerical resolution)")

    def floors(self) -> dict[str, float]:
        return {
            "lightness": self.floor_lightness, "chroma": self.floor_chroma,
            "structure": self.floor_structure, "edges": self.floor_edges,
        }  # fmt: skip


@dataclass(frozen=True)
class ArtefactConfig:
    """The pair's codec artefact model (artefacts.py)."""

    # Tried σ values. Chroma needs the wider range: at JPEG q10 / WebP q5 the fitted chroma σ is 2–4 px.
    sigmas_l: tuple[float, ...] = defined(
        (0.0, 0.7, 1.0, 1.4, 2.0, 2.8), "blur σ values tried (a search grid)"
    )
    sigmas_c: tuple[float, ...] = measured(
        (0.0, 1.0, 2.0, 3.0, 4.5, 6.5), "fitted chroma σ on Kodak", "2-4 px at JPEG q10 / WebP q5"
    )  # fmt: skip
    grid_ratio: float = measured(
        1.25, "error at block-grid lines over the error between them, Kodak",
        "JPEG q10: 1.5-2.5; learned codecs and JPEG 2000: 0.95-1.1",
    )  # fmt: skip
    jpeg_qualities: tuple[int, ...] = defined(
        (2, 5, 10, 20, 35, 50, 70, 85, 95), "JPEG qualities the null model picks the pair's rate from"
    )  # fmt: skip


@dataclass(frozen=True)
class StructureConfig:
    """Dissolved structures (structure.py)."""

    min_contrast: float = defined(
        5.0, "L* per px of the original's edge: fainter edges are texture, not structure"
    )
    min_coherence: float = defined(
        0.55, "structure-tensor coherence: 1 for a straight edge, 0 for isotropic texture"
    )  # fmt: skip
    min_length: int = defined(30, "px of connected edge that make a structure")
    keep_below: float = defined(
        0.35, "a structure pixel is dissolved when it keeps less than this share of the expected contrast"
    )  # fmt: skip
    relative_to_pair: float = defined(
        0.5, "... and less than this share of what the pair's structures keep (median)"
    )  # fmt: skip
    pair_structure_px: int = defined(1000, "structure pixels needed before the pair's median is trusted")
    min_dissolved: int = defined(24, "px of dissolved structure that make a finding")
    along_sigma: float = defined(4.0, "support is averaged along the structure over this scale (px)")
    coh_sigma: float = defined(2.0, "structure-tensor integration scale (px)")


@dataclass(frozen=True)
class ScoreConfig:
    """Score bands by kind (score.py): rank by semantic impact."""

    # Bands by semantic impact: structure, shape and geometry above amplitude; all from the 0.5 minimum.
    structure: tuple[float, float] = defined(
        (0.55, 0.95), "a dissolved line or outline changes what is shown"
    )
    shape: tuple[float, float] = defined((0.5, 0.9), "changed contours")
    geometry: tuple[float, float] = defined((0.5, 0.9), "moved contours")
    amplitude: tuple[float, float] = defined(
        (0.5, 0.8), "brightness, colour, texture strength: below the rest"
    )
    # Peak z at which strength saturates, in multiples of the detection threshold.
    full_amplitude: float = defined(2.0, "an amplitude change is full strength at twice the threshold")
    full_contour: float = defined(3.0, "a shape or geometry change is full strength at three times it")

    def bands(self) -> dict[str, tuple[float, float]]:
        return {"structure": self.structure, "shape": self.shape, "geometry": self.geometry,
                "amplitude": self.amplitude}  # fmt: skip

    def full(self) -> dict[str, float]:
        return {"amplitude": self.full_amplitude, "shape": self.full_contour, "geometry": self.full_contour}


DIFF = DiffConfig()
MAPS = MapsConfig()
ARTEFACTS = ArtefactConfig()
STRUCTURE = StructureConfig()
SCORE = ScoreConfig()
