import json

import numpy as np
import pandas as pd
from PIL import Image
from typer.testing import CliRunner

from miscomp.cli.app import app
from miscomp.study.features import FEATURES
from miscomp.study.risk import fit

runner = CliRunner()


def _model(tmp_path):
    rng = np.random.default_rng(0)
    flats = [rng.random((40, len(FEATURES))) for _ in range(2)]
    targets = [f[:, FEATURES.index("edges")] > 0.7 for f in flats]
    model = fit(flats, ["jpeg", "taef2"], [0.5, 0.3], targets, settings=["jpeg:quality=10", "taef2:bits=2"])
    path = tmp_path / "risk.json"
    path.write_text(model.to_json())
    return path


def test_risk_command_writes_overlay_and_regions(tmp_path):
    img = tmp_path / "photo.png"
    rgb = np.full((96, 128, 3), 200, np.uint8)
    rgb[30:60, 20:90:3] = 0  # a patch of thin strokes
    Image.fromarray(rgb).save(img)
    model = _model(tmp_path)
    res = runner.invoke(
        app,
        [
            "risk",
            str(img),
            "-c",
            "jpeg:quality=10",
            "--model",
            str(model),
            "-o",
            str(tmp_path / "r"),
            "--json",
        ],
    )  # noqa: E501
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["bpp"] == 0.5 and out["bpp_source"].startswith("typical for jpeg:quality=10")
    assert out["regions"] and (tmp_path / "r" / "photo.risk.png").exists()
    assert (tmp_path / "r" / "photo.risk.json").exists()


def test_risk_bad_inputs_are_one_line(tmp_path):
    img = tmp_path / "photo.png"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(img)
    model = _model(tmp_path)
    for args, msg in (
        (["-c", "nosuch"], "unknown codec 'nosuch'"),
        (["-c", "jpeg:quality=55"], "no rate for jpeg:quality=55: pass --bpp"),
        (["-c", "jpeg:qualty=5", "--bpp", "0.3"], "has no parameter 'qualty'"),
    ):
        res = runner.invoke(app, ["risk", str(img), "--model", str(model), *args])
        assert res.exit_code == 2 and msg in res.output and "Traceback" not in res.output
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    res = runner.invoke(app, ["risk", str(broken), "-c", "jpeg:quality=10", "--model", str(model)])
    assert res.exit_code == 2 and "broken.png" in res.output


def test_study_command_on_a_run(tmp_path, textured_image):
    from testing.runs import write_run

    originals = []
    for i in range(3):
        originals.append(tmp_path / f"o{i}.png")
        Image.fromarray(np.roll(textured_image, 17 * i, axis=1)).save(originals[-1])
    run = tmp_path / "run"
    write_run(run, originals, codecs=("jpeg:quality=10", "jpeg:quality=40"), error=False)
    res = runner.invoke(app, ["study", str(run), "--bootstrap", "200"])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(run / "study" / "prevalence.csv")
    assert {"per_image", "per_mp_lo", "per_mp_hi", "basis"} <= set(table.columns)
    assert (run / "study" / "prevalence.png").exists()
    res = runner.invoke(app, ["study", str(tmp_path / "nope")])
    assert res.exit_code == 2 and "does not exist" in res.output
