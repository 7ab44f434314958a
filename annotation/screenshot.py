"""Screenshot a task's labeling view in a real headless Chromium: proof that the crops render.

Usage (server started by `miscomp annotate serve`, a run pushed with `miscomp annotate push`):

    .venv/bin/python annotation/screenshot.py --url http://127.0.0.1:8089 \
        --project "miscomp review" --data-dir .label-studio --out annotation/docs/labeling-view.png

Needs pip `playwright` (in the dev extra) and Debian `chromium` (`apt-get install -y chromium`);
playwright's own browser download is not needed. Logs in with the admin credentials that
`miscomp annotate serve` keeps in DATA_DIR/miscomp-credentials.json (or --username/--password from
LABEL_STUDIO_USERNAME / LABEL_STUDIO_PASSWORD), opens the first task (or --task) and waits until
both crop images have loaded and the pre-annotated region is drawn before saving the PNG.
Exit status 1 if an image did not load.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic",
]  # fmt: skip


def _credentials(args: argparse.Namespace) -> tuple[str, str]:
    user = args.username or os.environ.get("LABEL_STUDIO_USERNAME")
    password = args.password or os.environ.get("LABEL_STUDIO_PASSWORD")
    if (not user or not password) and args.data_dir:
        raw = json.loads((Path(args.data_dir) / "miscomp-credentials.json").read_text())
        user, password = raw["username"], raw["password"]
    if not user or not password:
        sys.exit("error: no login: pass --data-dir, or --username/--password")
    return user, password


def _first_task(url: str, token: str, project: str, task: int | None) -> tuple[int, int]:
    from miscomp.review.client import LabelStudioClient
    from miscomp.review.config import Connection

    client = LabelStudioClient(Connection(url, token))
    pid = client.require_project(project)
    if task is None:  # an unreviewed task opens with the tool's prediction pre-filled
        tasks = client.tasks(pid, with_annotations=True)
        fresh = [t["id"] for t in tasks if not t.get("annotations")]
        task = min(fresh or [t["id"] for t in tasks])
    return pid, task


def screenshot(url: str, user: str, password: str, pid: int, task: int, out: Path, chromium: str) -> dict:
    from playwright.sync_api import sync_playwright

    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as pw:
        # A fresh profile every time (playwright passes it as --user-data-dir).
        browser = pw.chromium.launch_persistent_context(
            profile, executable_path=chromium, args=CHROMIUM_FLAGS, viewport={"width": 1400, "height": 1100}
        )
        try:
            page = browser.new_page()
            page.goto(f"{url}/user/login/")
            page.fill("input[name=email]", user)
            page.fill("input[name=password]", password)
            page.click("button[type=submit]")
            page.wait_for_url(lambda u: "/user/login" not in u, timeout=30_000)
            page.goto(f"{url}/projects/{pid}/data?task={task}")
            # Both crops are <img> in the labeling view; wait until the browser has decoded them.
            page.wait_for_function(
                """() => { const imgs = [...document.querySelectorAll('img')]
                          .filter(i => i.src.includes('/data/'));
                          return imgs.length >= 2 && imgs.every(i => i.complete && i.naturalWidth > 0); }""",
                timeout=60_000,
            )
            page.wait_for_timeout(1500)  # let the region layer draw the pre-annotation
            loaded = page.evaluate(
                """() => [...document.querySelectorAll('img')].filter(i => i.src.includes('/data/'))
                          .map(i => ({src: i.src, w: i.naturalWidth, h: i.naturalHeight}))"""
            )
            page.screenshot(path=str(out), full_page=False)
        finally:
            browser.close()
    return {"task": task, "project": pid, "images": loaded, "out": str(out)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default=os.environ.get("LABEL_STUDIO_URL", "http://127.0.0.1:8089"))
    ap.add_argument("--project", default="miscomp review")
    ap.add_argument("--task", type=int)
    ap.add_argument("--data-dir", help="the serve data dir holding miscomp-credentials.json")
    ap.add_argument("--username")
    ap.add_argument("--password")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "docs" / "labeling-view.png")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()
    user, password = _credentials(args)
    token = os.environ.get("LABEL_STUDIO_API_KEY")
    if not token and args.data_dir:
        token = json.loads((Path(args.data_dir) / "miscomp-credentials.json").read_text())["token"]
    if not token:
        sys.exit("error: no API key: set LABEL_STUDIO_API_KEY or pass --data-dir")
    pid, task = _first_task(args.url.rstrip("/"), token, args.project, args.task)
    info = screenshot(args.url.rstrip("/"), user, password, pid, task, args.out, args.chromium)
    print(json.dumps({k: v for k, v in info.items() if k != "images"} | {"images": len(info["images"])}))


if __name__ == "__main__":
    main()
