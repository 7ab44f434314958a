"""Hostile files at scale: >= 500 mutated PNG/JPEG/WebP/TIFF files (truncated, bytes flipped, huge
declared sizes, decompression bombs) through `scan` and `trace`. Each is an error row or one line,
never a traceback or an internal error, none hangs (a 10 s watchdog per file ends the test with the
stacks of a hang), and the pairs committed before are kept as they were.

Small on purpose (64x48 images, the jpeg codec, the diff detector, --max-pixels 1000000): the scan is
the real one (run_scan, serial, in this process), the trace is the CLI."""

from __future__ import annotations

import faulthandler
import io
import json
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from miscomp.cli import app
from miscomp.run import ScanConfig, run_scan

N_MUTANTS = 520
HANG_S = 10  # the issue's limit per file: a watchdog, not a timing check


def _base_images() -> dict[str, bytes]:
    import skimage.data

    rgb = np.ascontiguousarray(np.asarray(Image.fromarray(skimage.data.astronaut()).resize((64, 48))))
    out = {}
    for fmt, ext, kw in (("PNG", "png", {}), ("JPEG", "jpg", {"quality": 80}), ("WEBP", "webp", {}),
                         ("TIFF", "tif", {"compression": "tiff_deflate"})):  # fmt: skip
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format=fmt, **kw)
        out[ext] = buf.getvalue()
    return out


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _huge_png(w: int, h: int) -> bytes:
    """A valid PNG header declaring w x h, with one tiny IDAT: the size is a lie."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def _bomb_png(side: int) -> bytes:
    """A real decompression bomb: side x side grey zeros, a few KB on disk."""
    raw = zlib.compressobj(9)
    row = b"\0" + b"\0" * side
    body = b"".join(raw.compress(row) for _ in range(side)) + raw.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", body)
        + _png_chunk(b"IEND", b"")
    )


def _huge_declared(ext: str, data: bytes) -> bytes:
    b = bytearray(data)
    if ext == "jpg":  # SOF0/SOF2: height and width after the precision byte
        for marker in (b"\xff\xc0", b"\xff\xc2"):
            i = b.find(marker)
            if i >= 0:
                b[i + 5 : i + 9] = struct.pack(">HH", 65500, 65500)
    elif ext == "webp":  # VP8 keyframe: 14-bit width/height after the start code
        i = b.find(b"\x9d\x01\x2a")
        if i >= 0:
            b[i + 3 : i + 7] = struct.pack("<HH", 0x3FFF, 0x3FFF)
    elif ext == "tif":  # the ImageWidth/ImageLength tags' values
        for tag in (256, 257):
            i = b.find(struct.pack("<HH", tag, 3))
            if i >= 0:
                b[i + 8 : i + 10] = struct.pack("<H", 0xFFFF)
    return bytes(b)


def mutants(n: int, seed: int = 0) -> dict[str, bytes]:
    """``n`` mutated files, name -> bytes, deterministic for a seed."""
    rng = np.random.default_rng(seed)
    bases = _base_images()
    out: dict[str, bytes] = {
        "bomb-4k.png": _bomb_png(4096),  # 16.8 MP: over --max-pixels, refused from the header
        "bomb-1k.png": _bomb_png(1000),  # 1 MP: under it, decoded (a real, dull image)
        "huge-png.png": _huge_png(1 << 30, 1 << 30),
        "huge-png-wide.png": _huge_png(10**6, 1),
    }
    kinds = ("truncate", "flip", "flip", "huge", "zero-run", "swap-chunk")
    while len(out) < n:
        ext = list(bases)[len(out) % len(bases)]
        data = bytearray(bases[ext])
        kind = kinds[int(rng.integers(len(kinds)))]
        if kind == "truncate":
            data = data[: int(rng.integers(1, len(data)))]
        elif kind == "flip":
            for i in rng.integers(0, len(data), int(rng.integers(1, 9))):
                data[i] ^= int(rng.integers(1, 256))
        elif kind == "huge":
            data = bytearray(_huge_declared(ext, bytes(data)))
            for i in rng.integers(0, len(data), int(rng.integers(0, 3))):
                data[i] ^= int(rng.integers(1, 256))
        elif kind == "zero-run":
            i = int(rng.integers(0, len(data)))
            data[i : i + int(rng.integers(1, 200))] = b"\0" * len(data[i : i + 200])
        else:  # a block of the file copied over another place
            i, j, k = (int(v) for v in rng.integers(0, len(data), 3))
            block = data[i : i + 1 + k % 64]
            data[j : j + len(block)] = block
        out[f"m{len(out):04d}-{kind}.{ext}"] = bytes(data)
    return out


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("fuzz")
    good = root / "originals"
    good.mkdir()
    for ext, data in _base_images().items():
        (good / f"good.{ext}").write_bytes(data)
    bad = root / "mutants"
    bad.mkdir()
    for name, data in mutants(N_MUTANTS).items():
        (bad / name).write_bytes(data)
    return good, bad


def _watchdog(*_: object) -> None:
    """Each pair resets it: a file that hangs past HANG_S ends the run with every thread's stack."""
    faulthandler.dump_traceback_later(HANG_S, exit=True)


@pytest.mark.slow
def test_scan_takes_hostile_files_without_losing_committed_pairs(fuzz_dir, tmp_path, capfd):
    good, bad = fuzz_dir
    run = tmp_path / "run"
    cfg = ScanConfig(out=run, originals=good, codecs=("jpeg:quality=30",), detectors=("diff",), quiet=True,
                     report=False, trace=False, workers=1, max_pixels=1_000_000)  # fmt: skip
    first = run_scan(cfg)
    assert first.errors == 0 and first.pairs_done == 4
    before = pd.read_parquet(run / "pairs.parquet").set_index("pair_id")
    for path in bad.iterdir():  # the mutants join the originals: the same run folder goes on
        (good / path.name).write_bytes(path.read_bytes())
    _watchdog()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            summary = run_scan(cfg, progress=_watchdog)
    finally:
        faulthandler.cancel_dump_traceback_later()
    assert [str(w.message) for w in caught if issubclass(w.category, UserWarning)] == []
    pairs = pd.read_parquet(run / "pairs.parquet").set_index("pair_id")
    assert summary.pairs_total == 4 + N_MUTANTS and len(pairs) == 4 + N_MUTANTS
    # committed pairs kept: not redone, rows unchanged
    assert summary.pairs_skipped == 4
    pd.testing.assert_frame_equal(pairs.loc[before.index, before.columns], before, check_dtype=False)
    errors = pairs[pairs["status"] == "error"]
    assert len(errors) >= N_MUTANTS // 2  # most mutants are broken; some still decode
    assert not errors["error"].str.contains("internal error|Traceback").any(), errors["error"].head()
    assert (errors["error"].str.count("\n") == 0).all()  # one line each
    assert not (run / "errors.log").exists()
    assert pairs.loc[pairs["status"] != "error", "status"].isin(["ok"]).all()
    # a quiet scan prints nothing: no Pillow warning, no libtiff message on file descriptor 2
    assert capfd.readouterr().err == ""


@pytest.mark.slow
def test_trace_takes_hostile_files_one_line_each(fuzz_dir, capfd):
    _, bad = fuzz_dir
    files = sorted(bad.iterdir())
    _watchdog()
    try:
        with warnings.catch_warnings(record=True) as caught:  # printed, each would be two more lines
            warnings.simplefilter("always")
            result = CliRunner().invoke(app, ["trace", "--json", *map(str, files)])
    finally:
        faulthandler.cancel_dump_traceback_later()
    assert [str(w.message) for w in caught if issubclass(w.category, UserWarning)] == []
    assert result.exit_code == 2  # some files failed
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    errors = result.stderr.splitlines()
    assert all(e.startswith("error: ") for e in errors), [e for e in errors if not e.startswith("error: ")][
        :5
    ]
    traced = json.loads(result.stdout)
    assert len(errors) + len(traced) == len(files)  # each file: one result or one error line
    assert not [e for e in errors if "could not be traced" in e]  # no unexpected exception
    assert all(any(f.name in e for f in files) for e in errors)  # each names its file
    assert capfd.readouterr().err == ""  # nothing on file descriptor 2 besides (libtiff's messages)
