"""Take the debugger screenshots of docs/ and the README, from the support desk example.

    .venv/bin/python docs/screenshots.py

Seeds examples/support_desk.py on a temporary SQLite file, serves it with uvicorn and takes the
pictures in Debian's headless Chromium, into docs/images/.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import tasquencer as tq  # noqa: E402
from examples import support_desk  # noqa: E402

IMAGES = ROOT / "docs" / "images"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]


def main() -> None:
    IMAGES.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        app = tq.App(f"sqlite:///{Path(folder) / 'desk.db'}", auth=support_desk.AUTH)
        api = support_desk.build(app)
        cases = support_desk.seed(api)
        with tq.testing.serve(tq.web.create_app(app)) as url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
            )
            page = browser.new_page(
                viewport={"width": 1400, "height": 900}, extra_http_headers={"X-User": "ada"}
            )
            page.goto(f"{url}/debugger")
            page.screenshot(path=IMAGES / "debugger-cases.png", full_page=True)
            page.goto(f"{url}/debugger/cases/{cases['escalated']}")
            page.locator('#graph .node[data-name="withdraw"]').hover()
            page.screenshot(path=IMAGES / "debugger-case.png", full_page=True)
            page.goto(f"{url}/debugger/cases/{cases['withdrawn']}")
            page.locator("#tl-slider").fill("1")  # triage taken on, not yet decided
            page.locator("#past").wait_for()
            page.screenshot(path=IMAGES / "debugger-timeline.png", full_page=True)
            browser.close()
        app.close()
    print(f"written: {', '.join(p.name for p in sorted(IMAGES.glob('debugger-*.png')))}")


if __name__ == "__main__":
    main()
