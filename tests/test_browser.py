"""One real-browser test: `streamlit run` on a free port, driven in headless Chromium."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "tests" / "_artifacts"

pytestmark = [
    pytest.mark.browser,
    # Playwright's driver process leaves a pipe for the garbage collector to close.
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run the browser test: install Debian's chromium (see .ci/run).")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium).")
    port = _free_port()
    log_path = tmp_path_factory.mktemp("streamlit") / "server.log"
    log = log_path.open("wb")
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
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                output = log_path.read_text(errors="replace")
                pytest.fail(f"streamlit did not start:\n{output[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_for_idle(page, timeout_ms: int = 180_000) -> None:
    """Wait until the script has finished: the app is mounted and no status widget shows."""
    page.wait_for_selector("[data-testid='stApp']", timeout=timeout_ms)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
        timeout=timeout_ms,
    )


def test_upload_a_photo_in_a_real_browser(server, tmp_path, photo):
    from playwright.sync_api import sync_playwright

    upload = tmp_path / "my_photo.png"
    Image.fromarray(np.ascontiguousarray(photo[:, ::-1])).save(upload)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(server, timeout=120_000)
            _wait_for_idle(page)
            page.wait_for_selector("[data-testid='stImage'] img", timeout=180_000)
            assert page.locator("[data-testid='stException']").count() == 0
            page.screenshot(path=str(ARTIFACTS / "first_visit.png"), full_page=True)
            if os.environ.get("KSEG_SCREENSHOT"):
                page.screenshot(path=os.environ["KSEG_SCREENSHOT"], full_page=True)

            # Switch the source to an upload and send a photo through the file chooser.
            page.locator("[data-testid='stSelectbox']").first.click()
            page.get_by_role("option", name="Upload your own…").click()
            _wait_for_idle(page)
            page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(upload)
            page.wait_for_selector("text=160 × 106", timeout=180_000)  # width × height metric
            _wait_for_idle(page)
            images = page.locator("[data-testid='stImage'] img")
            assert images.count() == 2  # original and segmented
            assert page.locator("[data-testid='stException']").count() == 0

            # The 3D chart renders in its tab.
            page.get_by_role("tab", name="Colour space").click()
            page.wait_for_selector(
                ".js-plotly-plot .gl-container, .js-plotly-plot", timeout=120_000
            )
            _wait_for_idle(page)
            assert page.locator(".js-plotly-plot").count() >= 1
            assert page.locator("[data-testid='stException']").count() == 0
            page.screenshot(path=str(ARTIFACTS / "upload_scatter.png"), full_page=True)
        finally:
            browser.close()
