"""The report's layout in headless Chromium at 1400 and 800 px: no sideways scroll, every column of the
codec table in view, and a symbol finding on a text line shown large enough to read.

Skipped where Chromium (Debian ``chromium``) or playwright is missing. Set MISCOMP_LAYOUT_SHOTS to a
folder to keep the screenshots and look at them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from miscomp.crops import write_crops
from miscomp.findings import Finding
from miscomp.report import render_report
from miscomp.synth.text_scenes import render_scene
from testing.runs import write_run

LONG_TAG = "vvc-vtm-23.4-intra-qp47-ctu128-gop1-lambda0.00431-external-decoder-output"


@pytest.fixture(scope="module")
def line_report(tmp_path_factory) -> tuple[Path, dict]:
    """A text scene through JPEG, plus a symbol finding on one table row (as the ocr detector reports a
    line) and a long codec tag: what widened the page and shrank the thumbnails."""
    root = tmp_path_factory.mktemp("layout")
    scene = render_scene("table", 1)
    Image.fromarray(scene.image).save(root / "table1.png")
    run_dir = root / "run"
    write_run(run_dir, [root / "table1.png"], codecs=("jpeg:quality=10",), findings_per_pair=3,
              external=False, error=False, drop_one_crop=False)  # fmt: skip
    pairs = pd.read_parquet(run_dir / "pairs.parquet")
    findings = pd.read_parquet(run_dir / "findings.parquet")
    pair = pairs.iloc[0]
    word, price = scene.items[0], scene.items[1]  # the first row: "word ... price"
    x, y = word.x, min(word.y, price.y)
    w, h = price.x + price.w - x, max(word.y + word.h, price.y + price.h) - y
    rec = np.asarray(Image.open(run_dir / pair["reconstruction"]).convert("RGB"))
    line = Finding(pair["pair_id"], "ocr", x, y, w, h, "shape", True, 0.9,
                   f"read {word.text} {price.text!r} → {word.text} '0,00'")  # fmt: skip
    c = write_crops(run_dir, line, scene.image, rec)
    line = line.with_crops(c.original, c.reconstruction, c.diff, c.window)
    findings = pd.concat([findings, pd.DataFrame([line.to_row()])], ignore_index=True)
    findings.to_parquet(run_dir / "findings.parquet")
    pairs["codec_tag"] = LONG_TAG
    pairs.to_parquet(run_dir / "pairs.parquet")
    out = render_report(run_dir, root / "report.html", images="link", min_score=0.0)
    return out, {"id": line.finding_id, "w": w, "h": h}


@pytest.mark.parametrize("width", [1400, 800])
def test_layout_in_chromium(line_report, width, tmp_path):
    pytest.importorskip("playwright.sync_api")
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("/usr/bin/chromium not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    from testing.screenshot import open_page

    html, line = line_report
    with sync_playwright() as p:
        context, page, blocked = open_page(p, width, 900, tmp_path / "profile")
        page.goto(html.as_uri(), wait_until="load")
        page.evaluate("document.querySelectorAll('img[loading=lazy]').forEach(i => i.loading = 'eager')")
        page.wait_for_load_state("networkidle")
        m = page.evaluate(
            """id => {
            const doc = document.documentElement;
            const th = [...document.querySelectorAll('th')].find(t => t.textContent.trim() === 'low-score');
            const card = document.getElementById('f-' + id);
            const stages = [...card.querySelectorAll('.cropstage')].map(s => s.getBoundingClientRect());
            const img = card.querySelector('.cropstage img').getBoundingClientRect();
            return {scroll: doc.scrollWidth, inner: window.innerWidth,
                    lowRight: th.getBoundingClientRect().right,
                    tableRight: th.closest('.scroll').getBoundingClientRect().right,
                    card: card.getBoundingClientRect().width,
                    stages: stages.map(r => [r.width, r.height]), imgHeight: img.height};
        }""",
            line["id"],
        )
        shots = os.environ.get("MISCOMP_LAYOUT_SHOTS")
        if shots:
            Path(shots).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=f"{shots}/report-{width}.png", full_page=False)
            page.locator(f"#f-{line['id']}").screenshot(path=f"{shots}/line-card-{width}.png")
        context.close()
    assert blocked == []
    assert m["scroll"] <= m["inner"], f"the page scrolls sideways at {width} px: {m}"
    assert m["lowRight"] <= m["tableRight"], "the codec table's low-score column is out of view"
    # the line's three crops: stacked at (nearly) the card's width, the line magnified, not shrunk
    assert len(m["stages"]) == 3
    for stage_w, stage_h in m["stages"]:
        assert stage_w >= 0.8 * m["card"]
        view_h = max(3 * line["h"], 48)
        assert stage_h / view_h >= 1.0, m  # at least one screen pixel per image pixel
    assert json.dumps(m)  # keeps the measurements in the failure message readable
