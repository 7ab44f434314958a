import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from miscomp.cli import app
from miscomp.codecs import create_codec
from miscomp.errors import MiscompError
from miscomp.forensics.features import FEATURES
from miscomp.forensics.trace import load_model, trace_rgb
from miscomp.run import ScanConfig, run_scan

runner = CliRunner()


@pytest.fixture(scope="module")
def heldout_plates(require_shared_module) -> list[np.ndarray]:
    """Plate photos that are not in the training corpus (which samples 30 with seed 1): 256² regions."""
    from models.trace_corpus import plate_sample

    folder = require_shared_module("data", "plates")
    used = set(plate_sample(folder.parents[1]))
    photos = [p for p in sorted(folder.glob("us/*.jpg")) if p not in used][:4]
    return [np.ascontiguousarray(np.asarray(Image.open(p).convert("RGB"))[200:456, 400:656]) for p in photos]


@pytest.fixture(scope="module")
def require_shared_module():
    from tests.conftest import shared_path

    def _require(*parts: str):  # noqa: ANN202
        path = shared_path(*parts)
        if not path.exists():
            pytest.skip(f"shared file not found: {path} (set MISCOMP_SHARED to the shared/ folder)")
        return path

    return _require


def test_packaged_model_matches_the_features():
    model = load_model()
    assert model.features == FEATURES and model.coef.shape == (len(FEATURES),)


def test_a_model_for_other_features_is_refused(tmp_path):
    bad = json.loads(json.dumps({"features": ["x"], "mean": [0], "scale": [1], "coef": [1], "intercept": 0}))
    path = tmp_path / "m.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(MiscompError, match="trained on features"):
        load_model(path)
    path.write_text("{broken")
    with pytest.raises(MiscompError, match="not a trace model"):
        load_model(path)


def test_heldout_photos_score_higher_after_the_inhouse_learned_codec(heldout_plates):
    pytest.importorskip("compressai")
    codec = create_codec("bmshj2018-factorized:q=1")
    originals = [trace_rgb(p).probability for p in heldout_plates]
    learned = [trace_rgb(codec.apply(p).reconstruction).probability for p in heldout_plates]
    jpeg = [
        trace_rgb(create_codec("jpeg:quality=30").apply(p).reconstruction).probability for p in heldout_plates
    ]
    assert np.mean(originals) < 0.5 and np.mean(jpeg) < 0.5
    assert min(learned) > max(originals) and np.mean(learned) > 0.5
    r = trace_rgb(codec.apply(heldout_plates[0]).reconstruction)
    assert r.evidence and r.evidence[0].description and r.verdict


def test_trace_cli_json_and_bad_file(tmp_path, textured_image):
    img = tmp_path / "a.png"
    Image.fromarray(textured_image).save(img)
    res = runner.invoke(app, ["trace", str(img), "--json"])
    assert res.exit_code == 0, res.output
    (r,) = json.loads(res.stdout)
    assert 0.0 <= r["probability"] <= 1.0 and r["tiles"] == 1 and len(r["evidence"]) == 5
    res = runner.invoke(app, ["trace", str(tmp_path / "missing.png")])
    assert res.exit_code == 2 and "does not exist" in res.output and "Traceback" not in res.output


def test_scan_records_each_originals_trace(tmp_path, textured_image):
    orig = tmp_path / "orig"
    orig.mkdir()
    Image.fromarray(textured_image).save(orig / "a.png")
    bmshj = create_codec("bmshj2018-factorized:q=1") if _has_compressai() else None
    if bmshj is not None:  # an "original" that already went through a learned codec
        big = np.tile(textured_image, (3, 2, 1))[:384, :384]
        Image.fromarray(bmshj.apply(big).reconstruction).save(orig / "b.png")
    cfg = ScanConfig(out=tmp_path / "run", originals=orig, codecs=("jpeg:quality=50",), detectors=("none",),
                     quiet=True, report=False)  # fmt: skip
    summary = run_scan(cfg)
    by_id = json.loads((tmp_path / "run" / "run.json").read_text())["original_trace"]
    traces = {Path(t["name"]).stem: t for t in by_id.values()}
    assert 0.0 <= traces["a"]["probability"] <= 1.0 and traces["a"]["verdict"]
    if bmshj is not None:
        assert traces["b"]["probability"] > traces["a"]["probability"]
        warned = [
            n for n in summary.notes if n.startswith("original b.png already shows learned-codec traces")
        ]
        assert warned == ([warned[0]] if traces["b"]["probability"] >= 0.7 else [])


def _has_compressai() -> bool:
    try:
        import compressai  # noqa: F401
    except ImportError:
        return False
    return True


def test_tiny_and_16_bit_images_in_one_call(tmp_path):
    """Tiny images are one line each and do not stop the others; a 16-bit PNG (a VVC decoder's usual
    output) is reduced to 8 bits and traced, and the result says so."""
    import skimage.data

    rgb = skimage.data.astronaut()[:96, :96]
    paths = []
    for side in (4, 12, 31):
        paths.append(tmp_path / f"tiny{side}.png")
        Image.fromarray(rgb[:side, :side]).save(paths[-1])
    deep = tmp_path / "deep.png"
    Image.fromarray(rgb[..., 0].astype(np.uint16) * 257).save(deep)  # 16-bit grey (mode I;16)
    deep_rgb = tmp_path / "deep_rgb.png"
    cv2.imwrite(str(deep_rgb), rgb[..., ::-1].astype(np.uint16) * 257)  # 16-bit RGB, as VVC writes
    paths += [deep, deep_rgb]
    Image.fromarray(rgb).save(tmp_path / "ok.png")
    paths.append(tmp_path / "ok.png")
    result = runner.invoke(app, ["trace", *map(str, paths), "--json"])
    assert result.exit_code == 2  # some files failed
    assert (
        "Traceback" not in result.output
        and result.exception is None
        or isinstance(result.exception, SystemExit)
    )
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 3 and all("too small" in e or "smaller than" in e for e in errors), result.stderr
    traced = {Path(r["path"]).name: r for r in json.loads(result.stdout)}
    assert set(traced) == {"deep.png", "deep_rgb.png", "ok.png"}
    assert all(np.isfinite(r["probability"]) for r in traced.values())
    for name in ("deep.png", "deep_rgb.png"):
        assert any("16" in n and "8 bits" in n for n in traced[name]["notes"]), traced[name]
    # the 16-bit RGB file holds the 8-bit image exactly (×257): reduced, it traces the same
    assert traced["deep_rgb.png"]["probability"] == traced["ok.png"]["probability"]


def test_trace_rgb_refuses_what_it_cannot_measure():
    with pytest.raises(MiscompError, match="too small to trace"):
        trace_rgb(np.zeros((20, 300, 3), np.uint8))
