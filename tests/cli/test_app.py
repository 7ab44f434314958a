"""The command line as a user meets it: help, listings, clear one-line errors, JSON output."""

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from miscomp.cli import app

runner = CliRunner()


def test_help_and_listings():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0 and "scan" in result.output
    result = runner.invoke(app, ["codecs"])
    assert result.exit_code == 0 and "jpeg2000" in result.output and "external" not in result.output
    assert runner.invoke(app, ["detectors"]).exit_code == 0
    assert "parameters" in result.output and "quality=75" in result.output  # the README promises it
    assert "threshold=3.0" in runner.invoke(app, ["detectors"]).output
    assert runner.invoke(app, ["--version"]).output.startswith("miscomp ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--originals", "/no/such/dir", "--codec", "jpeg:quality=5"],
            "/no/such/dir: originals folder does not exist",
        ),
        (["--codec", "jpg:quality=5"], "unknown codec 'jpg'"),
        (["--codec", "jpeg:quality"], "expected key=value"),
        (["--codec", "jpeg:quality=500"], "quality must be in"),
        (["--codec", "jpeg:qualty=5"], "qualty"),
        (["--codec", "jpeg:quality=abc"], "codec jpeg: parameter quality expects a whole number"),
        (["--codec", "taef2:bits=2.5"], "codec taef2: parameter bits expects a whole number"),
        (
            ["--codec", "jpeg:quality=5", "--detector", "diff:threshold=high"],
            "parameter threshold expects a number",
        ),
        (["--codec", "jpeg:quality=5", "--out", "FILE"], "--out is a file, not a folder"),
        (["--codec", "jpeg:quality=5", "--detector", "nosuch"], "unknown detector 'nosuch'"),
        (["--reconstructions", "/no/recs"], "/no/recs: reconstructions folder does not exist"),
    ],
)
def test_bad_arguments_give_one_clear_line(tmp_path, textured_image, args, message):
    orig = tmp_path / "o"
    orig.mkdir()
    Image.fromarray(textured_image).save(orig / "a.png")
    (tmp_path / "FILE").write_text("not a folder")
    args = [str(tmp_path / "FILE") if a == "FILE" else a for a in args]
    base = ["scan", "--quiet"] + ([] if "--out" in args else ["--out", str(tmp_path / "run")])
    if "--originals" not in args:
        base += ["--originals", str(orig)]
    result = runner.invoke(app, base + args)
    assert result.exit_code == 2, result.output
    assert message in result.output.replace("\n", "")
    assert "Traceback" not in result.output


def test_scan_json_summary(tmp_path, textured_image):
    orig = tmp_path / "o"
    orig.mkdir()
    for i in range(2):
        Image.fromarray(np.roll(textured_image, 9 * i, axis=0)).save(orig / f"im{i}.png")
    args = ["scan", "--originals", str(orig), "--codec", "jpeg:quality=30", "--detector", "none",
            "--out", str(tmp_path / "run"), "--json", "--no-report"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["pairs_total"] == 2 and summary["pairs_done"] == 2 and summary["errors"] == 0
    again = json.loads(runner.invoke(app, args).stdout)
    assert again["pairs_done"] == 0 and again["pairs_skipped"] == 2


def test_report_on_a_non_run_directory(tmp_path):
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2 and "not a miscomp run directory" in result.output


def test_exit_code_1_when_the_scan_finishes_with_error_rows(tmp_path, textured_image):
    orig = tmp_path / "o"
    orig.mkdir()
    Image.fromarray(textured_image).save(orig / "good.png")
    args = ["scan", "--originals", str(orig), "--codec", "jpeg:quality=30", "--detector", "none",
            "--out", str(tmp_path / "run"), "--no-report"]  # fmt: skip
    assert runner.invoke(app, [*args, "--quiet"]).exit_code == 0
    (orig / "bad.png").write_bytes(b"not an image")
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "1 pair(s) could not be measured" in result.output.replace("\n", " ")
    assert runner.invoke(app, [*args, "--json"]).exit_code == 1


def test_device_cuda_without_a_gpu_is_one_clear_line(tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    result = runner.invoke(
        app, ["scan", "--codec", "jpeg:quality=5", "--device", "cuda", "--out", str(tmp_path / "r"), "-q"]
    )
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert result.exit_code != 0 and len(lines) == 1, result.output
    assert "--device cuda" in lines[0] and "no CUDA device" in lines[0] and "Traceback" not in result.output


def _commands(group, path=()):
    """Every (path, click command) under the root app, groups included."""
    yield path, group
    if hasattr(group, "commands"):  # a group (typer vendors its own click)
        for name, cmd in group.commands.items():
            yield from _commands(cmd, (*path, name))


def test_help_keeps_every_help_text_whole():
    """Square brackets ("[env LABEL_STUDIO_URL]", "'miscomp[ray]'") survive in --help, and flags
    show no "<bool>" metavar (both were lost or added by rich markup)."""
    import typer.main

    root = typer.main.get_command(app)
    checked = 0
    for path, cmd in _commands(root):
        result = runner.invoke(app, [*path, "--help"], terminal_width=200)
        assert result.exit_code == 0, (path, result.output)
        text = " ".join(result.output.split())
        assert "<bool>" not in text, path
        for param in cmd.params:
            help_text = " ".join((getattr(param, "help", None) or "").split())
            if "[" in help_text:
                assert help_text in text, (path, help_text)
                checked += 1
    assert checked >= 8  # --url, --api-key, --document-root, --venv, --base-url, scan's [ray] ...


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--codec", "jpg:quality=5"], "unknown codec 'jpg'"),
        (["--codec", "jpeg:quality=5", "--executor", "dask"], "--executor 'dask'"),
        (["--codec", "jpeg:quality=5", "--detector", "nosuch"], "unknown detector 'nosuch'"),
        (["--codec", "jpeg:quality=5", "--workers", "-3"], "greater than or equal to 1"),
        (["--codec", "jpeg:quality=5", "--workers", "0"], "greater than or equal to 1"),
    ],
)
def test_a_refused_scan_leaves_no_run_folder(tmp_path, textured_image, args, message):
    orig = tmp_path / "o"
    orig.mkdir()
    Image.fromarray(textured_image).save(orig / "a.png")
    result = runner.invoke(
        app, ["scan", "-q", "--originals", str(orig), "--out", str(tmp_path / "run"), *args]
    )
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "run").exists()  # no .lock, parts/ or run.json left behind


def test_a_refused_scan_into_an_existing_run_keeps_it(tmp_path, textured_image):
    orig = tmp_path / "o"
    orig.mkdir()
    Image.fromarray(textured_image).save(orig / "a.png")
    base = ["scan", "-q", "--originals", str(orig), "--out", str(tmp_path / "run"), "--no-report"]
    assert runner.invoke(app, [*base, "--codec", "jpeg:quality=5", "-d", "none"]).exit_code == 0
    assert runner.invoke(app, [*base, "--codec", "jpg"]).exit_code == 2
    assert (tmp_path / "run" / "pairs.parquet").is_file()


def test_a_file_as_originals_says_it_is_a_file(tmp_path, textured_image):
    Image.fromarray(textured_image).save(tmp_path / "a.png")
    result = runner.invoke(app, ["scan", "-q", "--originals", str(tmp_path / "a.png"), "-c", "jpeg"])
    assert result.exit_code == 2
    assert "is a file; --originals takes a folder" in " ".join(result.output.split())


def test_a_requested_detector_that_cannot_run_is_an_error(tmp_path, textured_image, monkeypatch):
    """Offline, `--detector caption` fails at once in one line (no hub retries), exit 2."""
    pytest.importorskip("transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty hub cache
    monkeypatch.delenv("MISCOMP_CAPTION_MODEL", raising=False)
    orig = tmp_path / "o"
    orig.mkdir()
    Image.fromarray(textured_image).save(orig / "a.png")
    result = runner.invoke(app, ["scan", "-q", "--originals", str(orig), "-c", "jpeg", "-d", "caption",
                                 "--out", str(tmp_path / "run")])  # fmt: skip
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert "detector caption cannot run" in lines[0] and "HF_HUB_OFFLINE" in lines[0]
    assert "Retry" not in result.output


def test_scan_lists_the_first_errors(tmp_path, textured_image):
    orig = tmp_path / "o"
    orig.mkdir()
    Image.fromarray(textured_image).save(orig / "good.png")
    for i in range(7):
        (orig / f"bad{i}.png").write_bytes(b"not an image")
    result = runner.invoke(app, ["scan", "--originals", str(orig), "-c", "jpeg", "-d", "none",
                                 "--out", str(tmp_path / "run"), "--no-report"])  # fmt: skip
    text = result.output
    assert result.exit_code == 1
    assert sum(ln.startswith("error: bad") for ln in text.splitlines()) == 5, text
    assert "7 pair(s) could not be measured (2 more not listed)" in " ".join(text.split())


def test_codecs_say_which_run_offline(monkeypatch):
    monkeypatch.setenv("MISCOMP_TAEF2_DIR", "/nonexistent")
    text = runner.invoke(app, ["codecs"], terminal_width=80).output
    rows = {
        ln.split("│")[1].strip(): ln.split("│")[3].strip() for ln in text.splitlines() if ln.count("│") > 4
    }
    assert rows["bmshj2018-factorized"] == "q=1,2 only"  # the shipped weights
    assert rows["bmshj2018-hyperprior"].startswith("no") and rows["jpeg"] == "yes"
    assert "cheng2020-anchor" in rows  # whole names at 80 columns


def test_dataset_build_before_fetch_says_how_to_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv("MISCOMP_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["dataset", "build", "kodak", "--out", str(tmp_path / "run"), "-c", "jpeg"])
    assert result.exit_code == 2 and "miscomp dataset fetch kodak" in result.output


def test_terminal_counts_equal_the_report(tmp_path):
    """`scan` prints the findings the report shows (score >= min-score) and the low-score count apart;
    `dataset build` says the same numbers."""
    import re

    import skimage.data

    orig = tmp_path / "o"
    orig.mkdir()
    Image.fromarray(skimage.data.astronaut()[::2, ::2]).save(orig / "a.png")
    Image.fromarray(skimage.data.coffee()[::2, ::2]).save(orig / "b.png")
    args = [
        "scan",
        "--originals",
        str(orig),
        "-c",
        "jpeg:quality=5",
        "-d",
        "diff",
        "--out",
        str(tmp_path / "run"),
    ]
    result = runner.invoke(app, [*args, "--no-trace"], terminal_width=200)
    assert result.exit_code == 0, result.output
    shown = int(re.search(r"│ findings\s+│ (\d+) ", result.output).group(1))
    low = int(re.search(r"│ low-score\s+│ (\d+) ", result.output).group(1))
    html = (tmp_path / "run" / "report.html").read_text()
    tiles = {label: int(n) for n, label in re.findall(r'<div class="tile[^"]*"><b>(\d+)</b>([\w-]+)', html)}
    assert (shown, low) == (tiles["findings"], tiles["low-score"])
    assert low > 0  # JPEG q=5 artefacts: the split is exercised
    built = runner.invoke(app, ["dataset", "build", str(orig), "--out", str(tmp_path / "run"), "-c",
                                "jpeg:quality=5", "-d", "diff"], terminal_width=200)  # fmt: skip
    assert f"{shown} findings ({low} low-score, not pushed)" in built.output, built.output
