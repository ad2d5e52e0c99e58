"""The Collection page in a real browser: navigate to it, upload three files (one broken)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import small_photo
from PIL import Image

from devtools.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ROOT,
    NetworkLog,
    full_page_screenshot,
    illegible_legend_labels,
    no_exception,
    upload_button,
    wait_until_idle,
)

ARTIFACTS = ROOT / "tests" / "_artifacts"
TIMEOUT_MS = 180_000

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_collection_page_in_a_real_browser(server, tmp_path):
    from playwright.sync_api import sync_playwright

    files = []
    for name, image in (
        ("flower.png", small_photo("flower.jpg", 4)),
        ("china.png", small_photo("china.jpg", 4)),
    ):
        Image.fromarray(np.ascontiguousarray(image)).save(tmp_path / name)
        files.append(tmp_path / name)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not a photo")
    files.append(broken)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS)
            network = NetworkLog(server)
            network.watch(page)
            page.goto(server, timeout=TIMEOUT_MS)
            wait_until_idle(page, TIMEOUT_MS)
            # The navigation leads from the single-image page (the default) to the new one.
            page.get_by_role("link", name="Collection").first.click()
            page.get_by_text("Collection: one palette over many images").wait_for()
            wait_until_idle(page, TIMEOUT_MS)
            assert "/collection" in page.url
            with page.expect_file_chooser() as chooser:
                upload_button(page, "Images, or a ZIP of images").click()
            chooser.value.set_files([str(f) for f in files])
            page.get_by_text("Shared palette (k = 6, CIELAB) over 2 image(s)").wait_for()
            page.wait_for_selector(".js-plotly-plot .main-svg")
            wait_until_idle(page, TIMEOUT_MS)
            assert page.locator("[data-testid='stImage'] img").count() == 2
            assert page.get_by_text("1 file(s) could not be read").is_visible()
            assert page.get_by_text("flower.png · 160 × 106").is_visible()
            assert no_exception(page)
            # The image page's conventions: a legible legend, shares in per cent.
            assert page.locator(".kseg-legend span").count() == 6
            assert illegible_legend_labels(page) == []
            assert page.locator(".kseg-legend span").first.inner_text().endswith(" %")
            # Settings live in the address, as on the image page.
            seed = page.get_by_role("spinbutton", name="Seed")
            seed.fill("3")
            seed.press("Enter")
            page.wait_for_url("**/collection?coll_seed=3")
            wait_until_idle(page, TIMEOUT_MS)
            assert no_exception(page)
            assert network.problems == []
            full_page_screenshot(page, ARTIFACTS / "collection.png")
        finally:
            browser.close()
