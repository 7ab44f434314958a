"""Structure channel: replaced / blurred / texture told apart against the null model (JPEG at the rate)."""

from __future__ import annotations

import cv2
import numpy as np

from miscomp.detect import DETECTORS, PairImages
from miscomp.detect.structure import (
    OriginalSides,
    StructureDetector,
    candidate_windows,
    classify_windows,
    original_side,
    window_stats,
)


def _dial(size: int = 256) -> np.ndarray:
    """A light dial with 12 ticks and two hands on a smooth grey background."""
    img = np.full((size, size, 3), 120, np.uint8)
    c = size // 2
    cv2.circle(img, (c, c), 100, (240, 240, 235), -1)
    cv2.circle(img, (c, c), 100, (20, 20, 20), 3)
    for k in range(12):
        a = np.deg2rad(30 * k)
        p0 = (int(c + 92 * np.cos(a)), int(c + 92 * np.sin(a)))
        p1 = (int(c + 75 * np.cos(a)), int(c + 75 * np.sin(a)))
        cv2.line(img, p0, p1, (20, 20, 20), 3)
    cv2.line(img, (c, c), (c + 60, c - 20), (10, 10, 10), 4)
    cv2.line(img, (c, c), (c - 10, c - 80), (10, 10, 10), 2)
    return img


def _pair(orig, rec, bpp=2.0) -> PairImages:
    return PairImages("p", orig, rec, "sha", "learned", bpp)


def test_registered_with_metadata():
    meta = DETECTORS.get("structure").meta
    assert meta["cost"] == "cheap" and meta["needs_model"] is False


def test_kept_structure_makes_no_finding():
    orig = _dial()
    ok, buf = cv2.imencode(".jpg", orig, [cv2.IMWRITE_JPEG_QUALITY, 90])
    rec = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    assert StructureDetector().detect(_pair(orig, rec)) == []


def test_rotated_structure_is_replaced():
    orig = _dial()
    m = cv2.getRotationMatrix2D((128, 128), 40, 1.0)
    rec = cv2.warpAffine(orig, m, (256, 256), borderMode=cv2.BORDER_REPLICATE)
    found = StructureDetector().detect(_pair(orig, rec))
    assert found and {f.details["kind"] for f in found} == {"replaced"}
    f = found[0]
    assert f.details["orientation_agreement"] < f.details["orientation_agreement_null"] - 0.22
    assert 0.5 <= f.score <= 0.9 and "orientation agreement" in f.evidence


def test_dissolved_structure_is_blurred_when_jpeg_keeps_it():
    orig = _dial()
    rec = orig.copy()
    rec[28:228, 28:228] = cv2.GaussianBlur(orig, (0, 0), 6)[28:228, 28:228]
    found = StructureDetector().detect(_pair(orig, rec))
    assert found and "blurred" in {f.details["kind"] for f in found}


def test_resynthesised_texture_is_not_a_finding(rng):
    def grass(seed: int) -> np.ndarray:
        noise = np.random.default_rng(seed).normal(0, 1, (256, 256)).astype(np.float32)
        g = cv2.GaussianBlur(noise, (0, 0), 1.0)
        g = np.clip(110 + 60 * g / g.std(), 0, 255).astype(np.uint8)
        return np.stack([g // 2, g, g // 3], axis=-1)

    orig, rec = grass(1), grass(2)
    st = window_stats(orig, rec, orig)
    kinds = classify_windows(st)
    assert (kinds == 3).sum() > 0.5 * kinds.size  # the windows are texture
    assert StructureDetector().detect(_pair(orig, rec)) == []


def test_every_number_has_provenance():
    from miscomp.config import check_provenance
    from miscomp.detect.structure import StructureConfig

    assert check_provenance(StructureConfig) == []


def test_near_is_the_chamfer_distance_within_tolerance(rng):
    """_near (a dilation) marks the pixels distanceTransform (DIST_L2, mask 3) puts within the tolerance."""
    from miscomp.detect.structure import _near

    for tolerance in (1, 2, 3):
        for density in (0.0, 0.002, 0.05, 0.3):
            edges = rng.random((67, 91)) < density
            edges[0, 5] = edges[-1, -1] = density > 0  # edges on the border too
            want = cv2.distanceTransform((~edges).astype(np.uint8), cv2.DIST_L2, 3) <= tolerance
            assert np.array_equal(_near(edges, tolerance), want)


def _window_stats_plain(original, reconstruction, null, tolerance=2):
    """window_stats as first written (every map made anew, float copies, distanceTransform): the
    reference that the faster one must match bit for bit."""
    from miscomp.detect.structure import CELL, _edges, _gray, _windows

    def grad(gray):
        g = gray.astype(np.float32)
        return cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)

    def tensor(gx, gy):
        jxx = cv2.GaussianBlur(gx * gx, (0, 0), 2.0)
        jyy = cv2.GaussianBlur(gy * gy, (0, 0), 2.0)
        jxy = cv2.GaussianBlur(gx * gy, (0, 0), 2.0)
        a, b = jxx - jyy, 2 * jxy
        mag = np.sqrt(a * a + b * b)
        return a / (mag + 1e-6), b / (mag + 1e-6), mag / (jxx + jyy + 1e-3)

    def cells(x):
        h, w = x.shape[0] // CELL, x.shape[1] // CELL
        return x[: h * CELL, : w * CELL].reshape(h, CELL, w, CELL).sum(axis=(1, 3), dtype=np.float64)

    near = lambda e: cv2.distanceTransform((~e).astype(np.uint8), cv2.DIST_L2, 3) <= tolerance  # noqa: E731
    W = lambda x: _windows(cells(x.astype(np.float32)))  # noqa: E731
    go = _gray(original)
    eo = _edges(go)
    gxo, gyo = grad(go)
    co, so, coh = tensor(gxo, gyo)
    mag_o = np.hypot(gxo, gyo)
    n_o = W(eo)
    e_o = W(mag_o) + 1e-3
    out = {"edge_px": n_o, "density": n_o / (4 * CELL * CELL), "coherence": W(mag_o * coh) / e_o}
    for tag, img in (("rec", reconstruction), ("null", original if null is None else null)):
        g = _gray(img)
        e = _edges(g)
        gx, gy = grad(g)
        c, s, _ = tensor(gx, gy)
        out[f"recall_{tag}"] = W(eo & near(e)) / np.maximum(n_o, 1)
        out[f"energy_{tag}"] = W(np.hypot(gx, gy)) / e_o
        out[f"orient_{tag}"] = W(mag_o * (co * c + so * s)) / e_o
        if tag == "rec":
            out["precision_rec"] = W(e & near(eo)) / np.maximum(W(e), 1)
    return out


def test_window_stats_match_the_plain_formulas_bit_for_bit():
    """The in-place tensor, the dilation for the distance, integer edge counts and the original's
    sums reused as the null model's (no null image) change no value."""
    orig = _dial(320)[:300]
    m = cv2.getRotationMatrix2D((128, 128), 25, 1.0)
    rec = cv2.warpAffine(orig, m, (320, 300), borderMode=cv2.BORDER_REPLICATE)
    ok, buf = cv2.imencode(".jpg", orig, [cv2.IMWRITE_JPEG_QUALITY, 20])
    null = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    for ref in (None, null):
        st = window_stats(orig, rec, ref)
        want = _window_stats_plain(orig, rec, ref)
        for name, value in want.items():
            got = getattr(st, name)
            assert got.dtype == value.dtype and np.array_equal(got, value), name


def test_original_sides_kept_on_disk_give_the_same_window_stats(tmp_path):
    orig = _dial(320)[:300]
    m = cv2.getRotationMatrix2D((128, 128), 25, 1.0)
    rec = cv2.warpAffine(orig, m, (320, 300), borderMode=cv2.BORDER_REPLICATE)
    ok, buf = cv2.imencode(".jpg", orig, [cv2.IMWRITE_JPEG_QUALITY, 20])
    null = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    sides = OriginalSides(1 << 30)
    first = sides.get(orig, "sha@0,0,320,300", 2)  # made
    again = sides.get(orig, "sha@0,0,320,300", 2)  # read back from the file
    assert again is not first and sides._spill.nbytes > 0
    for name in ("edges", "near", "mag", "cos", "sin", "edge_px", "energy", "coherent"):
        a, b = getattr(first, name), getattr(again, name)
        assert a.dtype == b.dtype and np.array_equal(a, b), name
    for ref in (None, null):
        want = window_stats(orig, rec, ref)
        got = window_stats(orig, rec, ref, side=again)
        for name in want.__dataclass_fields__:
            assert np.array_equal(getattr(got, name), getattr(want, name)), name
    folder = sides._spill.folder
    assert folder is not None and any(folder.iterdir())
    sides.get(orig, "other@0,0,320,300", 2)  # a new original: the first one's file is gone
    assert len(list(folder.iterdir())) == 1 and list(sides._small) == [
        ("other@0,0,320,300", (300, 320, 3), 2)
    ]
    del sides
    assert not folder.exists()  # the folder goes with the cache
    nothing = OriginalSides(0)
    nothing.get(orig, "sha@0,0,320,300", 2)
    assert nothing._spill.folder is None and original_side(orig).mag.dtype == np.float32


def test_a_second_codec_finds_what_a_fresh_detector_finds():
    orig = _dial()
    det = StructureDetector()
    for angle in (40, 25):  # two "codecs" of one original: the second reads the kept original side
        m = cv2.getRotationMatrix2D((128, 128), angle, 1.0)
        rec = cv2.warpAffine(orig, m, (256, 256), borderMode=cv2.BORDER_REPLICATE)
        pair = PairImages("p", orig, rec, "sha@0,0,256,256", "learned", 2.0)
        assert det.detect(pair) == StructureDetector().detect(pair)
    assert det._sides._spill.nbytes > 0


def test_candidate_windows_are_the_only_ones_classify_windows_can_flag(rng):
    """The gate is computed from the original alone; a window outside it is never replaced or blurred,
    whatever the reconstruction (here: rotated, blurred, noise)."""
    dial = _dial()
    flat = np.full((256, 256, 3), 128, np.uint8)
    grass = np.clip(128 + 60 * rng.standard_normal((256, 256, 3)), 0, 255).astype(np.uint8)
    m = cv2.getRotationMatrix2D((128, 128), 40, 1.0)
    for orig in (dial, flat, grass):
        gate = candidate_windows(original_side(orig))
        recs = (
            cv2.warpAffine(orig, m, (256, 256), borderMode=cv2.BORDER_REPLICATE),
            cv2.GaussianBlur(orig, (0, 0), 6),
            dial,
        )
        for rec in recs:
            for null in (None, orig):
                kind = classify_windows(window_stats(orig, rec, null))
                assert not ((kind == 1) | (kind == 2))[~gate].any()
    assert candidate_windows(original_side(dial)).any()
    assert not candidate_windows(original_side(flat)).any()


def test_a_tile_without_candidate_windows_makes_no_maps(monkeypatch):
    from miscomp.detect import structure

    flat = np.full((256, 256, 3), 128, np.uint8)
    made = []
    monkeypatch.setattr(structure, "window_stats", lambda *a, **k: made.append(1))
    det = StructureDetector()
    assert det.detect(_pair(flat, _dial())) == [] and made == []
    assert det.info()["timing"]["skipped"] == 1


def test_gray_reads_tile_views_and_bgr_decodes_in_place_with_the_same_bits():
    from miscomp.detect.diff.artefacts import _jpeg
    from miscomp.detect.structure import _gray

    rng = np.random.default_rng(5)
    whole = rng.integers(0, 256, (300, 500, 3), dtype=np.uint8)
    decoded = _jpeg(whole, 20)[0]  # the null model's image: a BGR decode seen as RGB
    for img in (whole[40:240, 100:420], decoded, decoded[10:200, 30:300], whole[..., ::-1]):
        want = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2GRAY)
        assert np.array_equal(_gray(img), want)
