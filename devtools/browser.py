"""Drive ``streamlit run streamlit_app.py`` in headless Chromium (Debian's, via Playwright).

Shared by the real-browser test (``tests/test_browser.py``) and the dashboard timing
benchmark (``benchmarks/bench_dashboard.py``), so it lives outside both.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
#: Flags for Chromium in this sandbox: no GPU, no sandbox (root), no calls home.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerFailed(RuntimeError):
    """``streamlit run`` exited or did not answer its health check in time."""


@contextmanager
def streamlit_server(
    log_path: Path,
    *,
    start_timeout: float = 120,
    poll_seconds: float = 0.5,
    port: int | None = None,
) -> Iterator[str]:
    """Run ``streamlit run streamlit_app.py`` on `port` (default: a free one); yield its URL
    once its health check answers (asked every `poll_seconds`); always stop it.

    Raises
    ------
    ServerFailed
        If the server exits or is not healthy within `start_timeout` seconds; the message
        ends with the tail of its log.
    """
    port = free_port() if port is None else port
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
            deadline = time.monotonic() + start_timeout
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                        if response.status == 200:
                            break
                except OSError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise ServerFailed(f"streamlit did not start:\n{log_path.read_text()[-3000:]}")
                time.sleep(poll_seconds)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=20)


class NetworkLog:
    """What the pages it watches ask for that they should not: any request to another host
    than the server (the page must work offline) and any answer of 400 or more, in
    ``problems``, one line each. Requests that failed (a host that does not resolve, or an
    image a rerun replaced before it arrived) are in ``failed``."""

    def __init__(self, server: str) -> None:
        self.host = urlsplit(server).netloc
        self.problems: list[str] = []
        self.failed: list[str] = []

    def watch(self, page) -> None:
        page.on("request", self._request)
        page.on("response", self._response)
        page.on("requestfailed", self._failed)

    def _request(self, request) -> None:
        url = urlsplit(request.url)
        if url.scheme in ("data", "blob"):
            return
        if url.netloc != self.host:
            self.problems.append(f"outside request: {request.url}")

    def _response(self, response) -> None:
        if response.status >= 400:
            self.problems.append(f"{response.status}: {response.url}")

    def _failed(self, request) -> None:
        self.failed.append(f"failed ({request.failure}): {request.url}")


def wait_until_idle(page, timeout_ms: float) -> None:
    """The script has run to the end: the app says it is not running and shows no spinner."""
    page.wait_for_selector(
        "[data-testid='stApp'][data-test-script-state='notRunning']", timeout=timeout_ms
    )
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidgetRunningIcon\"]')"
        " && !document.querySelector('[data-testid=\"stSpinner\"]')",
        timeout=timeout_ms,
    )


def no_exception(page) -> bool:
    """No Streamlit exception box on the page."""
    return page.locator("[data-testid='stException']").count() == 0


def file_uploader(page, label: str):
    """The file uploader labelled `label`: a page can hold several (the sidebar's image
    uploader and, once an image is segmented, its model uploader)."""
    return page.locator("[data-testid='stFileUploader']").filter(
        has=page.get_by_text(label, exact=True)
    )


def upload_button(page, label: str):
    """The button that opens the file chooser of the uploader labelled `label`."""
    return file_uploader(page, label).locator("[data-testid='stFileUploaderDropzone'] button")


def full_page_screenshot(page, path: Path) -> None:
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


def illegible_legend_labels(page) -> list[str]:
    """The palette legend's labels (hex and share) that are not fully shown: hidden, of
    zero size, or cut by their box. Empty when every label can be read."""
    return page.evaluate(
        """() => [...document.querySelectorAll('.kseg-legend span')].filter(label => {
            const box = label.getBoundingClientRect();
            return box.width < 1 || box.height < 1 || label.scrollWidth > label.clientWidth + 1
              || getComputedStyle(label).visibility !== 'visible';
        }).map(label => label.textContent)"""
    )
