"""dataset fetch against a local HTTP server on 127.0.0.1 (with Range support), and build's codec sweep."""

from __future__ import annotations

import hashlib
import http.server
import json
import re
import shutil
import threading
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from miscomp import datasets
from miscomp.datasets import ChecksumError, DatasetError, expand_codecs, fetch, image_folder, load_manifest

REPO = Path(__file__).resolve().parents[1]


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Static files with single-range support (http.server has none); logs the Range headers seen."""

    ranges: list[str | None] = []
    honour_range = True

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = Path(self.translate_path(self.path))
        rng = self.headers.get("Range")
        type(self).ranges.append(rng)
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        m = re.fullmatch(r"bytes=(\d+)-", rng or "")
        if m and self.honour_range:
            start = int(m.group(1))
            if start >= len(data):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            data = data[start:]
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def served(tmp_path):
    """A folder served on a free loopback port; yields (folder, base_url)."""
    folder = tmp_path / "www"
    folder.mkdir()
    _Handler.ranges = []
    _Handler.honour_range = True
    handler = lambda *a, **k: _Handler(*a, directory=str(folder), **k)  # noqa: E731
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def manifests(tmp_path, monkeypatch):
    folder = tmp_path / "manifests"
    folder.mkdir()
    monkeypatch.setenv(datasets.ENV_MANIFESTS, str(folder))

    def write(name: str, files: list[dict]) -> None:
        doc = {"name": name, "title": name, "base_url": "https://unreachable.invalid/", "files": files}
        (folder / f"{name}.json").write_text(json.dumps(doc))

    return write


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_real_manifests_are_complete():
    for name in ("kodak", "clic2020-professional-valid", "clic2020-mobile-valid", "div2k-valid"):
        man = load_manifest(name)
        assert man.base_url.startswith("https://") and man.files
        for f in man.files:
            assert f.sha256 and re.fullmatch(r"[0-9a-f]{64}", f.sha256), (name, f.path)
            assert f.size and f.size > 0
    assert len(load_manifest("kodak").files) == 24


def test_published_kodak_checksums_verify_real_files(require_shared, served, manifests, tmp_path):
    """The real manifest's SHA-256 values, checked against those shared copies that are byte-identical."""
    kodak = require_shared("data", "kodak")
    www, base = served
    real_doc = json.loads(
        (REPO / "miscomp" / "datasets" / "manifests" / "kodak.json").read_text()
    )  # `manifests` moved the dir
    real = {f["path"]: datasets.DatasetFile(f["path"], f["sha256"], f["size"]) for f in real_doc["files"]}
    same = [p for p in sorted(kodak.glob("*.png")) if real[p.name].sha256 == _sha(p)][:3]
    assert len(same) == 3
    for p in same:
        shutil.copy(p, www / p.name)
    manifests(
        "k3", [{"path": p.name, "sha256": real[p.name].sha256, "size": real[p.name].size} for p in same]
    )
    rep = fetch("k3", tmp_path / "k3", base_url=base)
    assert sorted(rep.verified) == [p.name for p in same] and not rep.unverified
    assert all((tmp_path / "k3" / p.name).read_bytes() == p.read_bytes() for p in same)
    again = fetch("k3", tmp_path / "k3", base_url=base)
    assert sorted(again.cached) == [p.name for p in same] and not again.downloaded


def test_corrupted_download_is_detected_and_removed(served, manifests, tmp_path, textured_image):
    from miscomp.io import write_png

    www, base = served
    write_png(www / "a.png", textured_image)
    good = _sha(www / "a.png")
    blob = bytearray((www / "a.png").read_bytes())
    blob[len(blob) // 2] ^= 0xFF  # one flipped byte, same size
    (www / "a.png").write_bytes(bytes(blob))
    manifests("bad", [{"path": "a.png", "sha256": good, "size": len(blob)}])
    with pytest.raises(ChecksumError, match="SHA-256 mismatch"):
        fetch("bad", tmp_path / "bad", base_url=base)
    assert not (tmp_path / "bad" / "a.png").exists()
    assert not (tmp_path / "bad" / "a.png.part").exists()  # a re-run starts clean


def test_partial_download_resumes_with_range(served, manifests, tmp_path, textured_image):
    from miscomp.io import write_png

    www, base = served
    write_png(www / "a.png", textured_image)
    data = (www / "a.png").read_bytes()
    manifests("part", [{"path": "a.png", "sha256": _sha(www / "a.png"), "size": len(data)}])
    dest = tmp_path / "part"
    dest.mkdir()
    (dest / "a.png.part").write_bytes(data[: len(data) // 3])  # an interrupted earlier fetch
    rep = fetch("part", dest, base_url=base)
    assert rep.resumed == ["a.png"] and rep.verified == ["a.png"]
    assert _Handler.ranges == [f"bytes={len(data) // 3}-"]
    assert (dest / "a.png").read_bytes() == data


def test_server_without_range_support_restarts_cleanly(served, manifests, tmp_path, textured_image):
    from miscomp.io import write_png

    www, base = served
    _Handler.honour_range = False
    write_png(www / "a.png", textured_image)
    data = (www / "a.png").read_bytes()
    manifests("norange", [{"path": "a.png", "sha256": _sha(www / "a.png"), "size": len(data)}])
    dest = tmp_path / "nr"
    dest.mkdir()
    (dest / "a.png.part").write_bytes(data[:100])
    rep = fetch("norange", dest, base_url=base)
    assert rep.downloaded == ["a.png"] and (dest / "a.png").read_bytes() == data  # not appended twice


def test_zip_is_unpacked_and_images_found(served, manifests, tmp_path, textured_image):
    from miscomp.io import write_png

    www, base = served
    src = tmp_path / "src"
    src.mkdir()
    for i in range(2):
        write_png(src / f"img{i}.png", textured_image)
    with zipfile.ZipFile(www / "set.zip", "w") as zf:
        for p in src.iterdir():
            zf.write(p, f"valid/{p.name}")
    manifests("zipped", [{"path": "set.zip", "sha256": _sha(www / "set.zip"), "unpack": True}])
    rep = fetch("zipped", tmp_path / "z", base_url=base)
    assert rep.unpacked == ["set.zip"]
    assert image_folder(tmp_path / "z") == tmp_path / "z" / "valid"
    assert fetch("zipped", tmp_path / "z", base_url=base).unpacked == []  # not unpacked twice


def test_zip_escaping_the_folder_is_refused(served, manifests, tmp_path):
    www, base = served
    with zipfile.ZipFile(www / "evil.zip", "w") as zf:
        zf.writestr("../../outside.txt", "x")
    manifests("evil", [{"path": "evil.zip", "sha256": _sha(www / "evil.zip"), "unpack": True}])
    with pytest.raises(DatasetError, match="escapes the dataset folder"):
        fetch("evil", tmp_path / "e", base_url=base)
    assert not (tmp_path / "outside.txt").exists()


def test_missing_checksum_is_reported_unverified_by_the_cli(served, manifests, tmp_path, monkeypatch):
    from miscomp.cli.data import dataset_app

    www, base = served
    (www / "x.bin").write_bytes(b"abc")
    manifests("nochk", [{"path": "x.bin", "sha256": None}])
    monkeypatch.setenv(datasets.ENV_BASE_URL, base)
    res = CliRunner().invoke(dataset_app, ["fetch", "nochk", "--dest", str(tmp_path / "n")])
    assert res.exit_code == 0, res.output
    assert "UNVERIFIED: x.bin" in res.output and "0 verified" in res.output
    assert json.loads((tmp_path / "n" / "fetch.json").read_text())["unverified"] == ["x.bin"]


def test_cli_errors_are_one_line(served, manifests, tmp_path):
    from miscomp.cli.data import dataset_app

    www, base = served
    manifests("gone", [{"path": "missing.png", "sha256": "0" * 64}])
    res = CliRunner().invoke(
        dataset_app, ["fetch", "gone", "--dest", str(tmp_path / "g"), "--base-url", base]
    )
    assert res.exit_code == 2 and "HTTP 404" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(dataset_app, ["fetch", "nope"])
    assert res.exit_code == 2 and "no such dataset manifest" in res.output


def test_expand_codecs():
    assert expand_codecs(["jpeg", "webp:method=4"], [5, 50]) == [
        "jpeg:quality=5", "jpeg:quality=50", "webp:method=4,quality=5", "webp:method=4,quality=50",
    ]  # fmt: skip
    assert expand_codecs(["jpeg:quality=9", "jpeg"], [2]) == ["jpeg:quality=9", "jpeg:quality=2"]
    assert expand_codecs(["taef2"], [2, 3], "bits") == ["taef2:bits=2", "taef2:bits=3"]
    assert expand_codecs(["jpeg"], []) == ["jpeg"]


def test_build_without_push_writes_a_manifest(tmp_path, textured_image):
    from miscomp.io import write_png

    src = tmp_path / "orig"
    src.mkdir()
    write_png(src / "a.png", textured_image)
    rec = datasets.build(str(src), tmp_path / "run", ["jpeg"], [5, 30], detectors=["diff"])
    manifest = json.loads((tmp_path / "run" / "build.json").read_text())
    assert manifest["codecs"] == ["jpeg:quality=5", "jpeg:quality=30"] == rec["codecs"]
    assert manifest["scan"]["pairs_total"] == 2 and manifest["push"] is None
    assert (tmp_path / "run" / "findings.parquet").exists()
    with pytest.raises(DatasetError, match="neither a folder"):
        datasets.build("no-such-thing", tmp_path / "r2", ["jpeg"])


def test_plate_boxes_are_read_in_order_and_malformed_lines_skipped(tmp_path):
    from miscomp.datasets.plates import PlateBox, read_plate_boxes

    (tmp_path / "us").mkdir()
    (tmp_path / "eu").mkdir()
    (tmp_path / "us" / "b.txt").write_text("b.jpg\t1\t2\t30\t10\tABC 123\n")
    (tmp_path / "eu" / "a.txt").write_text("a.jpg\t5\t6\t70\t20\tXY-99\nbroken line\na.jpg\t1\t2\n")
    plates = read_plate_boxes(tmp_path)
    assert plates == [
        PlateBox("eu", "a.jpg", 5, 6, 70, 20, "XY-99"),
        PlateBox("us", "b.jpg", 1, 2, 30, 10, "ABC 123"),
    ]
    assert plates[0].ref == "eu/a.jpg" and plates[1].box == (1, 2, 30, 10)
