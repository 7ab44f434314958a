"""Screenshot an HTML report with headless Chromium (Debian ``chromium`` driven by pip ``playwright``).

    .venv/bin/python -m testing.screenshot RUN_DIR/report.html docs/report-screenshot.png \
        [--width 1280] [--height 2400] [--full-page] [--scroll-to findings]

Network is blocked for the page (every request that is not file: or data: is aborted and counted),
so the screenshot also proves the report is self-contained. Chromium: ``apt-get install -y chromium``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
# Flags that work in this sandboxed environment (see shared/notes/labelstudio.md).
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic",
]  # fmt: skip


def open_page(playwright, width: int, height: int, user_data_dir: Path):
    """A persistent context on a fresh profile; returns (context, page, list of blocked URLs)."""
    if not Path(CHROMIUM).exists():
        sys.exit(f"{CHROMIUM} not found: apt-get install -y chromium")
    context = playwright.chromium.launch_persistent_context(
        str(user_data_dir),
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS,
        headless=True,
        viewport={"width": width, "height": height},
    )
    blocked: list[str] = []

    def route(r):
        url = r.request.url
        if url.startswith(("file:", "data:")):
            r.continue_()
        else:
            blocked.append(url)
            r.abort()

    context.route("**/*", route)
    page = context.pages[0] if context.pages else context.new_page()
    return context, page, blocked


def load_time(html: Path, width: int = 1280, height: int = 900, repeats: int = 3) -> dict:
    """Seconds from navigation start to the load event (median of ``repeats`` fresh page loads)."""
    from playwright.sync_api import sync_playwright

    times, dcl = [], []
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        context, page, blocked = open_page(p, width, height, Path(profile))
        for _ in range(repeats):
            page.goto("about:blank")
            page.goto(html.resolve().as_uri(), wait_until="load", timeout=120_000)
            nav = page.evaluate("JSON.stringify(performance.getEntriesByType('navigation')[0])")
            import json

            entry = json.loads(nav)
            times.append(entry["loadEventStart"] / 1000)
            dcl.append(entry["domContentLoadedEventEnd"] / 1000)
        context.close()
    times.sort()
    dcl.sort()
    return {"load_s": times[len(times) // 2], "dom_content_loaded_s": dcl[len(dcl) // 2], "runs": repeats,
            "blocked_requests": len(blocked)}  # fmt: skip


def screenshot(
    html: Path, out: Path, width: int, height: int, full_page: bool, scroll_to: str | None
) -> list[str]:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        context, page, blocked = open_page(p, width, height, Path(profile))
        page.goto(html.resolve().as_uri(), wait_until="load", timeout=120_000)
        if scroll_to:
            page.evaluate(f"document.getElementById({scroll_to!r}).scrollIntoView()")
        # Lazy images below the fold load only once scrolled near: let them arrive before the shot.
        page.wait_for_load_state("networkidle")
        time.sleep(0.5)
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out), full_page=full_page)
        context.close()
    return blocked


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("html", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=2400)
    ap.add_argument("--full-page", action="store_true")
    ap.add_argument("--scroll-to", default=None, help="id of an element to scroll to first (e.g. findings)")
    args = ap.parse_args()
    if not args.html.is_file():
        sys.exit(f"{args.html}: no such file")
    blocked = screenshot(args.html, args.out, args.width, args.height, args.full_page, args.scroll_to)
    size_kib = args.out.stat().st_size / 1024
    print(f"wrote {args.out} ({size_kib:.0f} KiB); blocked network requests: {len(blocked)}")
    for url in blocked:
        print("  blocked:", url)


if __name__ == "__main__":
    main()
