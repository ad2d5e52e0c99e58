"""One real-browser test: ``streamlit run`` on a free port, driven in headless Chromium.

Screenshots land in ``tests/_artifacts/`` (git-ignored). To refresh the README's screenshot:
``KSEG_SCREENSHOT=docs/screenshot.png python -m pytest -m browser``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "tests" / "_artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 180_000  # CI machines have two cores; the first run also compiles kernels

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``streamlit run streamlit_app.py`` on a free port; always terminated."""
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run the browser test: /usr/bin/chromium is missing (see .ci/run).")
        pytest.skip("/usr/bin/chromium is not installed (apt-get install chromium).")
    port = _free_port()
    log_path = tmp_path_factory.mktemp("streamlit") / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "streamlit_app.py",
                "--server.port",
                str(port),
                "--server.headless",
                "true",
                "--server.address",
                "127.0.0.1",
                "--browser.gatherUsageStats",
                "false",
            ],
            cwd=ROOT,
            stdout=log,  # a file, not a pipe: a full pipe would block the server
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 120
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                        if response.status == 200:
                            break
                except OSError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"streamlit did not start:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.5)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=20)


def _wait_until_idle(page) -> None:
    """The script has run to the end: the app says it is not running and shows no spinner."""
    page.wait_for_selector(
        "[data-testid='stApp'][data-test-script-state='notRunning']", timeout=TIMEOUT_MS
    )
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidgetRunningIcon\"]')"
        " && !document.querySelector('[data-testid=\"stSpinner\"]')",
        timeout=TIMEOUT_MS,
    )


def _no_exception(page) -> bool:
    return page.locator("[data-testid='stException']").count() == 0


def _full_page_screenshot(page, path: Path) -> None:
    """Streamlit scrolls inside its main container, so grow the viewport to fit it first."""
    height = page.evaluate(
        "() => Math.max(...['stMain', 'stAppViewContainer', 'stMainBlockContainer']"
        ".map(id => document.querySelector(`[data-testid=${id}]`)?.scrollHeight ?? 0))"
    )
    width = page.viewport_size["width"]
    page.set_viewport_size({"width": width, "height": max(800, int(height) + 40)})
    page.wait_for_timeout(1_500)  # let Plotly and images re-layout
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size({"width": width, "height": 1000})


def test_upload_a_photo_in_a_real_browser(server, tmp_path, photo):
    from playwright.sync_api import sync_playwright

    upload = tmp_path / "my_photo.png"
    Image.fromarray(np.ascontiguousarray(photo[:, ::-1])).save(upload)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS)

            # First visit: the sample photo, original and segmented side by side.
            page.goto(server, timeout=TIMEOUT_MS)
            page.wait_for_selector("[data-testid='stImage'] img >> nth=1")
            _wait_until_idle(page)
            assert page.locator("[data-testid='stImage'] img").count() == 2
            assert page.get_by_text("Segmented: k = 6 in CIELAB").is_visible()
            assert _no_exception(page)
            _full_page_screenshot(page, ARTIFACTS / "first_visit.png")
            if os.environ.get("KSEG_SCREENSHOT"):
                _full_page_screenshot(page, Path(os.environ["KSEG_SCREENSHOT"]))

            # Downloads are built on click (a callable `data`): the recipe arrives and parses.
            with page.expect_download() as download:
                page.get_by_role("button", name="Recipe").click()
            recipe = json.loads(Path(download.value.path()).read_text())
            assert recipe["command"].startswith("kseg segment china.jpg -k 6 --color-space lab")

            # Switch the source to an upload and send a photo through the file chooser.
            page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").first.click()
            page.get_by_role("option", name="Upload your own…").click()
            _wait_until_idle(page)
            with page.expect_file_chooser() as chooser:
                page.locator("[data-testid='stFileUploaderDropzone'] button").click()
            chooser.value.set_files(upload)
            size = f"{photo.shape[1]} × {photo.shape[0]}"
            page.get_by_text(size, exact=True).wait_for()
            _wait_until_idle(page)
            assert page.locator("[data-testid='stImage'] img").count() == 2
            assert page.get_by_text("Segmented: k = 6 in CIELAB").is_visible()
            assert _no_exception(page)

            # The 3D chart renders in its tab.
            page.get_by_role("tab", name="Colour space").click()
            page.wait_for_selector(".js-plotly-plot .main-svg")
            page.wait_for_selector(".js-plotly-plot .gl-container canvas", state="attached")
            _wait_until_idle(page)
            assert page.locator(".js-plotly-plot").count() == 1
            assert page.get_by_text("Pixels in CIELAB space, k = 6").is_visible()
            assert _no_exception(page)
            _full_page_screenshot(page, ARTIFACTS / "upload_colour_space.png")
        finally:
            browser.close()
