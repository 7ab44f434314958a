"""Face channel: identity kept / changed / lost / appeared on scikit-image's astronaut (a real face,
public domain), the null model's veto, and the one-line skip without the ``[faces]`` extra."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from miscomp.detect import DetectorUnavailable, PairImages, build_detectors
from miscomp.detect import faces as faces_mod


def test_missing_extra_is_one_line_skip(monkeypatch):
    monkeypatch.setattr(faces_mod.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(faces_mod, "_MODELS", {})
    with pytest.raises(DetectorUnavailable, match=r"miscomp\[faces\]"):
        faces_mod.model_dir()
    built, skipped = build_detectors(["face"], None)
    assert built == []
    assert len(skipped) == 1 and "detector face skipped" in skipped[0] and "\n" not in skipped[0]


def test_model_paths_never_name_the_68_point_model():
    assert all("68" not in name for name in faces_mod.MODEL_FILES.values())


def test_every_number_has_provenance():
    from miscomp.config import check_provenance

    assert check_provenance(faces_mod.FaceConfig) == []


pytest.importorskip("dlib")


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


@pytest.fixture(scope="module")
def detector():
    try:
        return faces_mod.FaceDetector()
    except DetectorUnavailable as err:
        pytest.skip(str(err))


def _jpeg(rgb: np.ndarray, q: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, q])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]


def _pair(orig, rec, codec="", bpp=None, sha="astronaut") -> PairImages:
    return PairImages("p", orig, rec, sha, codec, bpp)


def _blur_around(rgb: np.ndarray, box, margin: int, sigma: float) -> np.ndarray:
    """``rgb`` with the face box and ``margin`` px around it blurred away (σ ``sigma``)."""
    x, y, w, h = box
    out = rgb.copy()
    win = (slice(y - margin, y + h + margin), slice(x - margin, x + w + margin))
    out[win] = cv2.GaussianBlur(rgb, (0, 0), sigma)[win]
    return out


def test_original_face_found_and_kept_at_jpeg_q50(detector, astronaut):
    faces, _ = detector.original_faces(_pair(astronaut, astronaut))
    assert len(faces) == 1
    box = faces[0].box
    assert 150 < box.x + box.w / 2 < 260 and 60 < box.y + box.h / 2 < 160  # the astronaut's face
    found, counts = detector.detect_counted(_pair(astronaut, _jpeg(astronaut, 50), "jpeg-quality50", 0.85))
    assert found == [] and counts["faces"] == 1


def test_face_lost_is_reported_high_when_the_null_model_keeps_it(detector, astronaut):
    (face,), _ = detector.original_faces(_pair(astronaut, astronaut))
    rec = _blur_around(astronaut, face.box, 10, 12)
    found, counts = detector.detect_counted(_pair(astronaut, rec, "learned", 0.5))
    assert [f.details["kind"] for f in found] == ["lost"]
    assert found[0].score >= 0.9 and found[0].details["null_keeps_face"] is True
    assert counts["faces_lost"] == 1
    assert found[0].category in {"amplitude", "geometry", "shape"}


def test_face_lost_that_jpeg_also_loses_stays_below_the_report(detector, astronaut):
    rec = _jpeg(astronaut, 3)
    found, _ = detector.detect_counted(_pair(astronaut, rec, "jpeg-quality3", 0.2))
    assert all(f.score < 0.5 for f in found)


def test_someone_else_is_an_identity_finding(detector, astronaut, require_shared):
    from PIL import Image

    other = np.asarray(Image.open(require_shared("data", "kodak", "kodim18.png")).convert("RGB"))
    (face,), _ = detector.original_faces(_pair(astronaut, astronaut))
    theirs = detector.models.detect(other, 1, 0.5)[0].box
    x, y, w, h = face.box
    rec = astronaut.copy()
    patch = other[theirs.y : theirs.y1, theirs.x : theirs.x1]
    rec[y : y + h, x : x + w] = cv2.resize(patch, (w, h), interpolation=cv2.INTER_CUBIC)
    found = detector.detect(_pair(astronaut, rec, "learned", 0.5))
    identity = [f for f in found if f.details["kind"] == "identity"]
    assert len(identity) == 1
    assert identity[0].details["identity_distance"] >= 0.6 and identity[0].score >= 0.9
    assert identity[0].details["null_distance"] < identity[0].details["identity_distance"] - 0.1


def test_info_records_model_hashes(detector):
    models = detector.info()["models"]
    assert set(models) == {"aligner", "recognizer"}
    assert all(len(m["sha256"]) == 64 for m in models.values())


def test_a_face_only_the_reconstruction_shows_has_appeared(detector, astronaut):
    (face,), _ = detector.original_faces(_pair(astronaut, astronaut))
    blank = _blur_around(astronaut, face.box, 20, 20)
    found, counts = detector.detect_counted(_pair(blank, astronaut, "learned", 0.5, sha="blank"))
    appeared = [f for f in found if f.details["kind"] == "appeared"]
    assert len(appeared) == 1 and counts["faces_appeared"] == 1 and appeared[0].score == 0.8
    assert appeared[0].box.iou(face.box) > 0.5


def test_the_reconstruction_scan_floor_keeps_every_face_that_is_read(detector, astronaut):
    """The reconstruction is scanned down to the looser of its two uses, not to the original's -0.5:
    the faces at or above that floor are the same either way."""
    cfg = detector.cfg
    floor = min(cfg.min_face_score - 0.5, cfg.appear_score)
    for rec in (astronaut, _jpeg(astronaut, 10), _jpeg(astronaut, 3)):
        low = [f for f in detector.models.detect(rec, 1, -0.5) if f.score >= floor]
        assert detector.models.detect(rec, 1, floor) == low


def test_a_large_pair_seen_whole_gives_the_findings_of_its_tiles_where_no_face_crosses_an_edge(
    detector, astronaut
):
    """TilesConfig.face_whole_max_pixels: a 1200×2600 pair is seen whole instead of as two 2048-px
    tiles (x 0 and 552). Its one face lies in the first tile only, whose origin is the image's, so the
    null model's JPEG blocks and the taxonomy's crop are the same either way. Two things differ, as
    they should: the HOG score (dlib's pyramid levels are sized from the image, so a face scores a
    little differently in a 2048-px tile; 1.448 vs 1.48 here) and the region's share, which the tile
    gave of the tile and the whole view gives of the image."""
    import re
    from dataclasses import replace

    from miscomp.tiles import TILES, detect_tiled, tile_boxes
    from testing.shapes import ramp

    orig = ramp(1200, 2600, seed=3)
    orig[:512, :512] = astronaut
    (face,), _ = detector.original_faces(_pair(astronaut, astronaut))
    rec = _jpeg(_blur_around(orig, face.box, 10, 12), 50)
    tiles = tile_boxes(1200, 2600, TILES.tile, TILES.overlap)
    assert [(b.x, b.w) for b in tiles] == [(0, 2048), (552, 2048)] and face.box.x1 < 552
    pair = _pair(orig, rec, "jpeg-quality50", 1.0, sha="large-astronaut")
    tiled = detect_tiled(detector, pair, config=replace(TILES, face_whole_max_pixels=0))
    whole = detect_tiled(detector, pair)
    assert [f.details["kind"] for f in whole] == ["lost"]

    def share(f) -> float:
        return float(re.search(r"\(region ([0-9.e-]+)% of image\)", f.evidence).group(1))

    def same(f):
        return replace(
            f, evidence=re.sub(r" \(region [^)]*\)", "", f.evidence),
            details={k: v for k, v in f.details.items() if k != "face_score"}, finding_id="",
        )  # fmt: skip

    assert [same(f) for f in whole] == [same(f) for f in tiled]
    assert abs(whole[0].details["face_score"] - tiled[0].details["face_score"]) < 0.1
    ratio = share(tiled[0]) / share(whole[0])  # the tile's share was of 2048×1200, not 2600×1200
    assert ratio == pytest.approx(2600 / 2048, rel=0.05)
