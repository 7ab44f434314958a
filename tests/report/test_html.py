"""The HTML report of a run: content, images, robustness, no network (miscomp/report.py)."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import urllib.parse
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from miscomp.errors import MiscompError
from miscomp.findings import DEFAULT_MIN_SCORE
from miscomp.report import load_run_dir, render_report
from miscomp.report.rdplot import rd_figure_png, rd_points
from miscomp.report.refs import kodak_image_ids, kodak_refs, ref_for_codec
from testing.runs import write_run


class _Page(HTMLParser):
    """Collects what the checks need: every src/href, element ids, the finding cards' data."""

    def __init__(self) -> None:
        super().__init__()
        self.srcs: list[str] = []
        self.hrefs: list[str] = []
        self.ids: list[str] = []
        self.cards: list[dict[str, str]] = []

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if "src" in a:
            self.srcs.append(a["src"])
        if "href" in a:
            self.hrefs.append(a["href"])
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "article" and "data-finding" in a:
            self.cards.append(a)


def parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def _photo(name: str, size: tuple[int, int]) -> np.ndarray:
    from skimage import data

    return np.asarray(Image.fromarray(getattr(data, name)()).convert("RGB").resize(size))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Two real photos, named like Kodak files so the reference curves are drawn, through real JPEG."""
    root = tmp_path_factory.mktemp("report")
    originals = []
    for stem, name in (("kodim01", "astronaut"), ("kodim02", "coffee")):
        path = root / f"{stem}.png"
        Image.fromarray(_photo(name, (256, 192))).save(path)
        originals.append(path)
    expected = write_run(root / "run", originals, codecs=("jpeg:quality=10", "jpeg:quality=40"))
    return root / "run", expected


def _decode_data_uri(src: str) -> Image.Image:
    header, payload = src.split(",", 1)
    assert header.endswith(";base64"), header
    return Image.open(io.BytesIO(base64.b64decode(payload, validate=True)))


def _check_images(page: _Page, page_dir: Path) -> int:
    for src in page.srcs:
        if src.startswith("data:"):
            _decode_data_uri(src).load()  # raises on a corrupt image
        else:
            target = page_dir / urllib.parse.unquote(src)
            assert target.is_file(), f"src {src} does not resolve from {page_dir}"
    return len(page.srcs)


def _assert_offline(html: str) -> None:
    # No URL of any scheme but data:, no protocol-relative URL, no stylesheet or font fetched.
    assert not re.search(r"(?i)\b(?:https?|ftp)://", html), re.search(r"(?i)\b(?:https?|ftp)://.{0,60}", html)
    assert not re.search(r"""(?i)(?:src|href)\s*=\s*["']//""", html)
    assert not re.search(r"(?i)<link\b|@import|url\(", html)


def test_report_lists_every_finding_and_counts(run):
    run_dir, expected = run
    out = render_report(run_dir, min_score=0.0)
    assert out == run_dir / "report.html"
    html = out.read_text(encoding="utf-8")
    page = parse(html)
    card_ids = [c["id"].removeprefix("f-") for c in page.cards]
    assert sorted(card_ids) == sorted(expected["finding_ids"])
    # symbol findings first, then by score
    assert card_ids[: len(expected["symbol_ids"])] == expected["symbol_ids"]
    findings = pd.read_parquet(run_dir / "findings.parquet").set_index("finding_id")
    rest = [findings.loc[i, "score"] for i in card_ids[len(expected["symbol_ids"]) :]]
    assert rest == sorted(rest, reverse=True)
    tiles = dict(
        (label, int(n)) for n, label in re.findall(r'<div class="tile[^"]*"><b>(\d+)</b>(\w+)', html)
    )
    assert tiles["images"] == expected["images"]
    assert tiles["findings"] == len(expected["finding_ids"])
    assert tiles["symbol"] == len(expected["symbol_ids"])
    for reason in expected["error_reasons"]:
        assert reason in html
    # every finding has a box in the per-image view that links back to its card
    for fid in expected["finding_ids"]:
        assert f'href="#f-{fid}"' in html
    # per-image anchors exist for every card's image link
    for href in page.hrefs:
        if href.startswith("#"):
            assert href[1:] in page.ids, href


def test_report_images_resolve_and_stay_offline(run):
    run_dir, expected = run
    html = render_report(run_dir, images="embed", min_score=0.0).read_text(encoding="utf-8")
    page = parse(html)
    n = _check_images(page, run_dir)
    # 3 crops per finding minus the one deleted crop, one view per pair with findings, the RD figure
    assert sum(s.startswith("data:image/png") for s in page.srcs) >= 3 * len(expected["finding_ids"]) - 1
    assert n == sum(s.startswith("data:") for s in page.srcs)
    assert "reconstruction crop not available" in html
    _assert_offline(html)


def test_linked_report_elsewhere_resolves_relative_paths(run, tmp_path):
    run_dir, expected = run
    out = render_report(run_dir, tmp_path / "elsewhere" / "r.html", images="link", min_score=0)
    html = out.read_text(encoding="utf-8")
    page = parse(html)
    linked = [s for s in page.srcs if not s.startswith("data:")]
    assert len(linked) >= 3 * len(expected["finding_ids"]) - 1
    assert all('loading="lazy"' in m for m in re.findall(r"<img [^>]*>", html) if "data:image/png" not in m)
    _check_images(page, out.parent)
    _assert_offline(html)


def test_evidence_is_escaped(run):
    run_dir, _ = run
    html = render_report(run_dir, images="link").read_text(encoding="utf-8")
    assert "<b>&amp;</b>" not in html
    assert "&lt;b&gt;&amp;amp;&lt;/b&gt;" in html


def test_rd_plot_overlays_compressai_on_kodak(run):
    run_dir, _ = run
    data = load_run_dir(run_dir)
    ok = data.pairs[data.pairs["status"] == "ok"]
    png, notes = rd_figure_png(ok, data.findings, data.meta)
    assert png is not None and png.startswith("data:image/png;base64,")
    assert _decode_data_uri(png).size[0] > 800
    assert any("CompressAI" in n and "2 of the 24" in n for n in notes)
    assert any("hific-lo" in n for n in notes)  # the external codec without bpp is named, not plotted
    renamed = ok.assign(original=ok["original"].str.replace("kodim", "photo"))
    _, notes = rd_figure_png(renamed, data.findings, data.meta)
    assert not any("CompressAI" in n for n in notes)


def test_rd_points_are_means_per_setting(run):
    run_dir, _ = run
    data = load_run_dir(run_dir)
    ok = data.pairs[data.pairs["status"] == "ok"]
    pts = rd_points(ok, data.findings).set_index("codec_tag")
    g = ok[ok["codec_tag"] == "jpeg-quality10-subsampling2"]
    assert pts.loc["jpeg-quality10-subsampling2", "bpp"] == pytest.approx(g["bpp"].mean())
    assert pts.loc["jpeg-quality10-subsampling2", "per_image"] == pytest.approx(3.0)
    assert pts.loc["jpeg-quality10-subsampling2", "curve"] == pts.loc["jpeg-quality40-subsampling2", "curve"]
    assert np.isnan(pts.loc["hific-lo", "bpp"])


def test_zero_findings_and_no_run_json(tmp_path):
    src = tmp_path / "kodim05.png"
    Image.fromarray(_photo("chelsea", (160, 128))).save(src)
    write_run(tmp_path / "run", [src], codecs=("jpeg:quality=90",), findings_per_pair=0, external=False,
              error=False, drop_one_crop=False)  # fmt: skip
    (tmp_path / "run" / "run.json").unlink()
    html = render_report(tmp_path / "run").read_text(encoding="utf-8")
    assert "No findings" in html and "run.json is missing" in html
    assert parse(html).cards == []


def test_interrupted_run_is_reported_from_parts(run, tmp_path):
    run_dir, expected = run
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    for name in ("pairs.parquet", "findings.parquet"):
        (copy / name).unlink()
    html = render_report(copy, images="link", min_score=0.0).read_text(encoding="utf-8")
    assert "interrupted" in html
    assert len(parse(html).cards) == len(expected["finding_ids"])


def test_not_a_run_dir_is_a_clear_error(tmp_path):
    with pytest.raises(MiscompError, match="not a miscomp run directory"):
        render_report(tmp_path)
    with pytest.raises(MiscompError, match="does not exist"):
        render_report(tmp_path / "nope")
    (tmp_path / "pairs.parquet").write_bytes(b"not parquet")
    with pytest.raises(MiscompError, match="pairs.parquet: cannot read"):
        render_report(tmp_path)


def test_reference_table():
    refs = kodak_refs()
    assert {"jpeg", "webp", "bmshj2018-factorized", "mbt2018-mean"} <= set(refs)
    jpeg = refs["jpeg"]
    assert len(jpeg.bpp) == len(jpeg.psnr) == len(jpeg.ms_ssim) == 19
    assert list(jpeg.bpp) == sorted(jpeg.bpp)
    assert ref_for_codec("jpeg") is jpeg
    assert ref_for_codec("compressai", {"model": "bmshj2018-factorized"}).key == "bmshj2018-factorized"
    assert ref_for_codec("taef2") is None
    assert kodak_image_ids(["kodim01", "kodim24"]) == {"kodim01", "kodim24"}
    assert kodak_image_ids(["kodim01", "kodim25"]) is None
    assert kodak_image_ids([]) is None


def test_reference_numbers_match_shared_copy(require_shared):
    import json

    for key, name in (("jpeg", "jpeg"), ("bmshj2018-factorized", "bmshj2018-factorized-mse-cpu")):
        src = json.loads(require_shared("refs", f"compressai-kodak-{name}.json").read_text())["results"]
        ours = kodak_refs()[key]
        assert ours.bpp == pytest.approx(src["bpp"], abs=1e-4)
        assert ours.psnr == pytest.approx(src["psnr-rgb"], abs=1e-4)


def test_filters_work_in_a_real_browser(run, tmp_path):
    """The inline JS filter, run by headless Chromium (skipped where Chromium is not installed)."""
    pytest.importorskip("playwright.sync_api")
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("/usr/bin/chromium not installed (apt-get install -y chromium)")

    from playwright.sync_api import sync_playwright

    from testing.screenshot import open_page

    run_dir, expected = run
    out = render_report(run_dir, tmp_path / "r.html", images="link", min_score=0.0)
    findings = pd.read_parquet(run_dir / "findings.parquet")
    with sync_playwright() as p:
        context, page, blocked = open_page(p, 1280, 900, tmp_path / "profile")
        page.goto(out.as_uri(), wait_until="load")
        visible = "document.querySelectorAll('article.card:not([hidden])').length"
        assert page.evaluate(visible) == len(findings)
        page.select_option("#f-category", "shape")
        assert page.evaluate(visible) == int((findings["category"] == "shape").sum())
        page.select_option("#f-category", "")
        page.check("#f-symbol")
        assert page.evaluate(visible) == len(expected["symbol_ids"])
        assert page.inner_text("#f-count").startswith(f"{len(expected['symbol_ids'])} of {len(findings)}")
        context.close()
    assert blocked == []


def test_report_of_a_real_scan(tmp_path):
    """End to end: miscomp.run writes the run (real codec, real diff detector, real crops) and the report."""
    scan = pytest.importorskip("miscomp.run")
    originals = tmp_path / "originals"
    originals.mkdir()
    for stem, name in (("kodim03", "astronaut"), ("kodim04", "rocket")):
        Image.fromarray(_photo(name, (256, 192))).save(originals / f"{stem}.png")
    (originals / "kodim05.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    summary = scan.run_scan(scan.ScanConfig(out=tmp_path / "run", originals=originals,
                                            codecs=["jpeg:quality=5", "webp:quality=5"], detectors=["diff"],
                                            quiet=True, report=False))  # fmt: skip
    out = render_report(tmp_path / "run")
    html = out.read_text(encoding="utf-8")
    page = parse(html)
    findings = pd.read_parquet(tmp_path / "run" / "findings.parquet")
    # The tables keep every finding; the report shows those at or above the scan's minimum score.
    assert json.loads((tmp_path / "run" / "run.json").read_text())["min_score"] == DEFAULT_MIN_SCORE
    shown = findings[findings["score"] >= DEFAULT_MIN_SCORE]
    assert len(findings) > len(shown)
    assert {c["id"].removeprefix("f-") for c in page.cards} == set(shown["finding_id"])
    # One definition of a finding: the scan's summary (the terminal) counts what the report shows.
    assert summary.findings == _tiles(html)["findings"] == len(shown)
    assert summary.low_score == _tiles(html)["low"] == len(findings) - len(shown)
    assert summary.errors == 2 and "kodim05" in html
    assert _check_images(page, out.parent) >= 3 * len(shown)
    _assert_offline(html)
    _assert_crop_boxes(html, shown)


def _tiles(html: str) -> dict[str, int]:
    return {label: int(n) for n, label in re.findall(r'<div class="tile[^"]*"><b>(\d+)</b>(\w+)', html)}


def _assert_crop_boxes(html: str, findings: pd.DataFrame) -> None:
    """Every crop of every card carries an outline of the finding's box, in crop-window pixels."""
    for f in findings.itertuples():
        card = html.split(f'id="f-{f.finding_id}"', 1)[1].split("</article>", 1)[0]
        boxes = re.findall(r'<svg viewBox="0 0 (\d+) (\d+)"[^>]*data-box="(-?\d+),(-?\d+),(\d+),(\d+)"', card)
        want = (f.crop_w, f.crop_h, f.x - f.crop_x, f.y - f.crop_y, f.w, f.h)
        n_crops = 3 - card.count("crop not available")  # one fixture crop is deleted on purpose
        assert [tuple(map(int, b)) for b in boxes] == [want] * n_crops, (f.finding_id, boxes, want)
        assert card.count("<rect ") == 2 * n_crops  # outline and halo on original, reconstruction, diff


def test_min_score_hides_low_findings_from_the_report_only(run, tmp_path):
    run_dir, expected = run
    findings = pd.read_parquet(run_dir / "findings.parquet")
    cut = float(findings["score"].median())
    html = render_report(run_dir, tmp_path / "r.html", min_score=cut).read_text(encoding="utf-8")
    shown = {c["id"].removeprefix("f-") for c in parse(html).cards}
    assert shown == set(findings.loc[findings["score"] >= cut, "finding_id"])
    assert 0 < len(shown) < len(findings)
    assert _tiles(html)["findings"] == len(shown) and _tiles(html)["low"] == len(findings) - len(shown)
    assert len(pd.read_parquet(run_dir / "findings.parquet")) == len(findings)  # the table is untouched
    _assert_crop_boxes(html, findings[findings["score"] >= cut].dropna(subset=["crop_original"]))


def test_prevalence_section_counts_shown_findings_per_setting(run):
    run_dir, expected = run
    html = render_report(run_dir, images="link", min_score=0.0).read_text(encoding="utf-8")
    assert 'id="prevalence"' in html and 'alt="miscompressions per megapixel' in html
    section = html.split('id="prevalence"', 1)[1].split('id="findings"', 1)[0]
    findings = pd.read_parquet(run_dir / "findings.parquet")
    pairs = pd.read_parquet(run_dir / "pairs.parquet")
    ok = pairs[pairs.status.isin(["ok", "partial"])]
    per_tag = findings.merge(ok[["pair_id", "codec_tag"]], on="pair_id").groupby("codec_tag").size()
    for tag, n in per_tag.items():
        images = int((ok.codec_tag == tag).sum())
        row = re.search(
            rf"<tr><td>{re.escape(tag)}</td><td>[^<]*</td><td>{images}</td><td>([\d.]+) ", section
        )
        assert row, tag
        assert float(row.group(1)) == pytest.approx(n / images, abs=0.006)
