"""The diff detector's codec-artefact model, structure comparison and scores (miscomp/detect/diff/).

Ordinary artefacts (blocking, blur, chroma bleeding) must score below the default minimum; a line
that dissolves inside hallucinated texture must score above it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from miscomp.codecs import create_codec
from miscomp.detect import PairImages
from miscomp.detect.diff import DiffDetector, codec_family, fit_artefacts
from miscomp.findings import DEFAULT_MIN_SCORE, Region
from testing.shapes import scene


def _shown(
    original: np.ndarray, reconstruction: np.ndarray, codec: str = "", bpp: float | None = None
) -> list:
    found = DiffDetector().detect(PairImages("t", original, reconstruction, codec=codec, bpp=bpp))
    return [f for f in found if f.score >= DEFAULT_MIN_SCORE]


def _coded(spec: str):
    """What a scan passes: the codec's output, its spec and its rate."""

    def make(img: np.ndarray) -> tuple[np.ndarray, float]:
        out = create_codec(spec).apply(img)
        return out.reconstruction, out.n_bytes * 8 / (img.shape[0] * img.shape[1])

    return make


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def _chroma_bleed(rgb: np.ndarray, sigma: float) -> np.ndarray:
    """4:2:0-style bleeding: chroma smeared across edges, luminance untouched."""
    ycc = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb).astype(np.float32)
    ycc[..., 1:] = cv2.GaussianBlur(ycc[..., 1:], (0, 0), sigma)
    return cv2.cvtColor(np.clip(ycc, 0, 255).astype(np.uint8), cv2.COLOR_YCrCb2RGB)


@pytest.mark.parametrize(
    ("name", "make", "codec"),
    [
        ("jpeg q8 blocking", _coded("jpeg:quality=8"), "jpeg:quality=8"),
        ("jpeg q8, external: family and quality from the rate", _coded("jpeg:quality=8"), "external"),
        ("webp q5", _coded("webp:quality=5"), "webp:quality=5"),
        ("blur", lambda img: (cv2.GaussianBlur(img, (0, 0), 1.6), None), ""),
        ("chroma bleeding", lambda img: (_chroma_bleed(img, 4.0), None), ""),
        ("bleeding + blocking", lambda img: (create_codec("jpeg:quality=10").apply(_chroma_bleed(img, 3.0))
         .reconstruction, None), "external"),
    ],
)  # fmt: skip
def test_ordinary_artefacts_score_below_the_default(name, make, codec):
    img = scene()
    rec, bpp = make(img)
    assert _shown(img, rec, codec, bpp) == [], name


def test_a_real_change_among_artefacts_still_scores_above_the_default():
    img = scene()
    changed = img.copy()
    cv2.circle(changed, (120, 90), 14, (250, 240, 30), -1)  # a new yellow disc
    rec, bpp = _coded("jpeg:quality=10")(changed)
    shown = _shown(img, rec, "jpeg:quality=10", bpp)
    assert any(f.region.contains_point(120, 90) for f in shown), [(f.box, f.score) for f in shown]


def _textured_line(keep_line: bool, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """An original with a dark line over noisy texture; a 'generative' reconstruction whose texture is
    hallucinated anew (other noise) and which keeps or drops the line."""
    rng = np.random.default_rng(seed)
    h, w = 192, 288
    tex = lambda: cv2.GaussianBlur(rng.normal(0, 25, (h, w)).astype(np.float32), (0, 0), 1.2)  # noqa: E731
    orig = 150 + np.repeat(tex()[..., None], 3, axis=2)
    rec = 150 + np.repeat(tex()[..., None], 3, axis=2)
    cv2.line(orig, (40, 150), (230, 40), (30, 30, 30), 3)
    if keep_line:
        cv2.line(rec, (40, 150), (230, 40), (30, 30, 30), 3)
    return np.clip(orig, 0, 255).astype(np.uint8), np.clip(rec, 0, 255).astype(np.uint8)


def test_a_line_dissolved_in_hallucinated_texture_is_a_finding():
    orig, rec = _textured_line(keep_line=False)
    shown = _shown(orig, rec, "taef2-bits2")
    line = [f for f in shown if "structure" in f.details]
    assert line, [(f.box, f.score, f.evidence) for f in shown]
    f = line[0]
    assert f.category == "geometry" and "dissolved" in f.evidence
    assert f.region.iou(Region(40, 40, 190, 110)) > 0.2


def test_a_kept_line_in_hallucinated_texture_is_not_dissolved():
    orig, rec = _textured_line(keep_line=True)
    found = DiffDetector().detect(PairImages("t", orig, rec, codec="taef2-bits2"))
    assert not [f for f in found if "structure" in f.details]


def test_codec_family_from_tags_and_specs():
    assert codec_family("jpeg-quality10-subsampling2") == "jpeg"
    assert codec_family("jpeg:quality=10") == "jpeg"
    assert codec_family("jpeg2000:ratio=30") == "jpeg2000"
    assert codec_family("webp-method4-quality5") == "webp"
    assert codec_family("taef2-bits2") == "learned"
    assert codec_family("external") == ""


def test_artefact_model_fits_the_pair():
    img = scene()
    blurred = cv2.GaussianBlur(img, (0, 0), 1.4)
    model = fit_artefacts(_lab(img), _lab(blurred))
    assert 1.0 <= model.sigma_l <= 2.0 and model.grid == 0
    jpeg = create_codec("jpeg:quality=8").apply(img).reconstruction
    model = fit_artefacts(_lab(img), _lab(jpeg))  # family estimated from the error
    assert model.grid in (8, 16) and model.family == "estimated-block"
    assert model.sigma_c >= 2.0  # 4:2:0 chroma


def test_ordinary_artefacts_are_kept_as_low_scores_with_their_kind():
    # Research keeps them: the tables hold what the codec did, scored below the default minimum.
    img = scene()
    found = DiffDetector().detect(PairImages("t", img, _chroma_bleed(img, 6.0)))
    low = [f for f in found if "artefact" in f.details]
    assert low and all(f.score < DEFAULT_MIN_SCORE for f in low)
    assert {f.details["artefact"] for f in low} <= {
        "chroma bleeding",
        "brightness drift",
        "blur, ringing or texture smoothing",
        "blocking",
    }


def test_null_ladders_give_the_same_null_and_make_each_ladder_once(monkeypatch):
    from miscomp.detect.diff import artefacts

    img = scene()
    made = []
    real = artefacts.jpeg_ladder
    monkeypatch.setattr(artefacts, "jpeg_ladder", lambda o: made.append(o.shape) or real(o))
    ladders = artefacts.NullLadders()
    for bpp in (0.3, 1.2, 0.3):  # three codecs of one original: the ladder is made once
        want = artefacts.null_reconstruction(img, "webp:quality=5", bpp)
        got = artefacts.null_reconstruction(img, "webp:quality=5", bpp, ladders, "abc@0,0,64,64")
        assert np.array_equal(got, want)
    assert len(made) == 3 + 1
    artefacts.null_reconstruction(img[:64], "webp", 0.3, ladders, "abc@0,64,64,64")  # another tile
    artefacts.null_reconstruction(img, "webp", 0.3, ladders, "def@0,0,64,64")  # another original
    artefacts.null_reconstruction(img, "webp", 0.3, ladders, "abc@0,0,64,64")  # the first is gone
    artefacts.null_reconstruction(img, "webp", 0.3, ladders, "")  # no key: never kept
    artefacts.null_reconstruction(img, "webp", 0.3, ladders, "")
    assert len(made) == 3 + 1 + 5


def test_the_ladder_reads_encoded_sizes_only_the_same_rates_as_a_full_jpeg_round_trip():
    from miscomp.detect.diff import artefacts

    img = scene()
    for view in (img, img[7:, 13:]):  # a whole image and a tile view of it
        h, w = view.shape[:2]
        small = cv2.resize(view, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        want = tuple(
            artefacts._jpeg(small, q)[1] * 8 / small.shape[0] / small.shape[1]
            for q in artefacts.ARTEFACTS.jpeg_qualities
        )
        assert artefacts.jpeg_ladder(view) == want
