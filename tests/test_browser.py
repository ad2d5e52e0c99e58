"""One real-browser test: ``streamlit run`` on a free port, driven in headless Chromium.

Screenshots land in ``tests/_artifacts/`` (git-ignored). To refresh the README's screenshot:
``KSEG_SCREENSHOT=docs/screenshot.png python -m pytest -m browser``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from devtools.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ROOT,
    NetworkLog,
    file_uploader,
    full_page_screenshot,
    illegible_legend_labels,
    no_exception,
    upload_button,
    wait_until_idle,
)

ARTIFACTS = ROOT / "tests" / "_artifacts"
TIMEOUT_MS = 180_000  # CI machines have two cores; the first run also compiles kernels

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_upload_a_photo_in_a_real_browser(server, tmp_path, photo):
    from playwright.sync_api import sync_playwright

    upload = tmp_path / "my_photo.png"
    Image.fromarray(np.ascontiguousarray(photo[:, ::-1])).save(upload)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS)
            network = NetworkLog(server)
            network.watch(page)

            # First visit: the sample photo, original and segmented side by side.
            page.goto(server, timeout=TIMEOUT_MS)
            page.wait_for_selector("[data-testid='stImage'] img >> nth=1")
            wait_until_idle(page, TIMEOUT_MS)
            assert page.locator("[data-testid='stImage'] img").count() == 2
            assert page.get_by_text("Segmented: k = 6 in CIELAB").is_visible()
            assert no_exception(page)
            # Every colour of the palette keeps its hex and share legible, however narrow.
            assert page.locator(".kseg-legend span").count() == 6
            assert illegible_legend_labels(page) == []
            # The WCSS tile shows its whole value, with its unit.
            wcss = page.locator("[data-testid='stMetric']", has_text="WCSS (CIELAB units²)")
            value = wcss.locator("[data-testid='stMetricValue'] > div")
            assert value.evaluate("e => e.scrollWidth <= e.clientWidth")
            full_page_screenshot(page, ARTIFACTS / "first_visit.png")
            if os.environ.get("KSEG_SCREENSHOT"):
                full_page_screenshot(page, Path(os.environ["KSEG_SCREENSHOT"]))

            # Downloads are built on click (a callable `data`): the recipe arrives and parses.
            with page.expect_download() as download:
                page.get_by_role("button", name="Recipe").click()
            recipe = json.loads(Path(download.value.path()).read_text())
            assert recipe["command"].startswith("kseg segment china.jpg -k 6 --color-space lab")

            # Switch the source to an upload and send a photo through the file chooser.
            page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").first.click()
            page.get_by_role("option", name="Upload your own…").click()
            wait_until_idle(page, TIMEOUT_MS)
            with page.expect_file_chooser() as chooser:
                upload_button(page, "Your image").click()
            chooser.value.set_files(upload)
            size = f"{photo.shape[1]} × {photo.shape[0]}"
            page.get_by_text(size, exact=True).wait_for()
            wait_until_idle(page, TIMEOUT_MS)
            assert page.locator("[data-testid='stImage'] img").count() == 2
            assert page.get_by_text("Segmented: k = 6 in CIELAB").is_visible()
            assert no_exception(page)

            # The 3D chart renders in its tab.
            page.get_by_role("tab", name="Colour space").click()
            page.wait_for_selector(".js-plotly-plot .main-svg")
            page.wait_for_selector(".js-plotly-plot .gl-container canvas", state="attached")
            wait_until_idle(page, TIMEOUT_MS)
            assert page.locator(".js-plotly-plot").count() == 1
            assert page.get_by_text("Pixels in CIELAB space, k = 6").is_visible()
            assert no_exception(page)
            full_page_screenshot(page, ARTIFACTS / "upload_colour_space.png")
            # The page needed nothing but its server (no Material icon from
            # fonts.gstatic.com), and nothing it asked for was missing.
            assert network.problems == []
        finally:
            browser.close()


def test_concurrent_sessions_each_see_only_their_own_image(server, tmp_path, photo):
    """Three visitors upload different photos at the same moment: each page shows its own
    image (its own size) and nobody else's."""
    from playwright.sync_api import sync_playwright

    shapes = [(photo.shape[0] - 10 * i, photo.shape[1] - 7 * i) for i in range(3)]
    files = []
    for i, (height, width) in enumerate(shapes):
        path = tmp_path / f"visitor_{i}.png"
        Image.fromarray(np.ascontiguousarray(np.roll(photo, 9 * i, axis=1)[:height, :width])).save(
            path
        )
        files.append(path)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            pages = []
            for _ in files:  # one browser context each: separate sessions, like visitors
                page = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
                page.set_default_timeout(TIMEOUT_MS)
                page.goto(f"{server}/?image=Upload%20your%20own%E2%80%A6", timeout=TIMEOUT_MS)
                upload_button(page, "Your image").wait_for()
                pages.append(page)
            for page, path in zip(pages, files, strict=True):  # all at once, then wait
                with page.expect_file_chooser() as chooser:
                    upload_button(page, "Your image").click()
                chooser.value.set_files(path)
            sizes = [f"{width} × {height}" for height, width in shapes]
            for i, page in enumerate(pages):
                page.get_by_text(sizes[i], exact=True).wait_for()
                wait_until_idle(page, TIMEOUT_MS)
                assert no_exception(page)
                text = page.locator("[data-testid='stMain']").inner_text()
                assert sum(size in text for size in sizes) == 1  # its own, no one else's
        finally:
            browser.close()


def test_a_very_tall_image_is_drawn_no_taller_than_one_and_a_half_screens(server, tmp_path):
    """A 2 x 20,000 strip stretched to the column's width would be ~4 million px tall."""
    from playwright.sync_api import sync_playwright

    strip = np.zeros((20_000, 2, 3), np.uint8)
    strip[:, :, 0] = np.linspace(0, 255, 20_000).astype(np.uint8)[:, None]
    strip[:, 1, 2] = 200
    upload = tmp_path / "strip.png"
    Image.fromarray(strip).save(upload)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(f"{server}/?image=Upload%20your%20own%E2%80%A6", timeout=TIMEOUT_MS)
            # On a phone the sidebar (and its uploader) starts closed: send the file to it.
            chooser = file_uploader(page, "Your image").locator("input[type=file]")
            chooser.wait_for(state="attached")
            chooser.set_input_files(str(upload))
            page.get_by_text("Segmented: k = 6 in CIELAB").wait_for()
            wait_until_idle(page, TIMEOUT_MS)
            assert no_exception(page)
            images = page.locator("[data-testid='stImage'] img")
            assert images.count() == 2
            for i in range(2):
                box = images.nth(i).bounding_box()
                assert box is not None and 0 < box["height"] <= 1.5 * 844 + 1
            # On a phone too, the palette's hex labels stay legible (the legend wraps).
            assert illegible_legend_labels(page) == []
        finally:
            browser.close()
