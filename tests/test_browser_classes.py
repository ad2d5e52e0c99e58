"""The Classes tab in a real browser: click the image to pick a cluster, then name it.

Its own server on a port from 8570-8579 (``KSEG_BROWSER_PORT`` picks one; default the first
free), so that it can run beside other servers on a shared machine.
"""

from __future__ import annotations

import base64
import io
import os
import socket
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from PIL import Image

import core
from core.inputs.samples import sample_bytes
from devtools.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ROOT,
    NetworkLog,
    ServerFailed,
    full_page_screenshot,
    no_exception,
    streamlit_server,
    upload_button,
    wait_until_idle,
)

ARTIFACTS = ROOT / "tests" / "_artifacts"
TIMEOUT_MS = 180_000
PORTS = range(8570, 8580)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _port() -> int:
    if os.environ.get("KSEG_BROWSER_PORT"):
        return int(os.environ["KSEG_BROWSER_PORT"])
    for port in PORTS:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.skip("no free port in 8570-8579")


@pytest.fixture(scope="module")
def classes_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is not installed (apt-get install chromium).")
    log = tmp_path_factory.mktemp("streamlit") / "server.log"
    try:
        with streamlit_server(log, port=_port()) as url:
            yield url
    except ServerFailed as error:
        pytest.fail(str(error))


def _grid_labels(seg: core.Segmentation, height: int, width: int) -> np.ndarray:
    rows, cols = seg.shape
    r = np.minimum(((np.arange(height) + 0.5) * rows / height).astype(np.intp), rows - 1)
    c = np.minimum(((np.arange(width) + 0.5) * cols / width).astype(np.intp), cols - 1)
    return seg.labels_at(r, c)


def test_click_the_image_to_pick_a_cluster_then_name_it(classes_server, tmp_path):
    from playwright.sync_api import sync_playwright

    # The oracle: the page's result (the sample, k = 6, CIELAB, seed 0), computed here.
    image = core.open_image(io.BytesIO(sample_bytes("China (temple)"))).rgb
    seg = core.segment(image, 6, color_space="lab", seed=0)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.set_default_timeout(TIMEOUT_MS)
            network = NetworkLog(classes_server)
            network.watch(page)
            page.goto(f"{classes_server}/?view=Classes", timeout=TIMEOUT_MS)
            wait_until_idle(page, TIMEOUT_MS)
            frame_element = page.locator("iframe[title='dashboard.classes.kseg_image_coordinates']")
            frame_element.wait_for()
            frame = frame_element.content_frame
            picture = frame.locator("#image")
            picture.wait_for()
            # Pick on the original photo (the classes image works alike).
            classes_png = picture.get_attribute("src")
            page.locator("[data-testid='stButtonGroup']").get_by_text("original").click()
            page.wait_for_function(
                "([f, old]) => f.contentDocument.querySelector('#image').src !== old"
                " && f.contentDocument.querySelector('#image').naturalWidth > 0",
                arg=[frame_element.element_handle(), classes_png],
            )
            wait_until_idle(page, TIMEOUT_MS)
            box = picture.bounding_box()
            assert box is not None and box["width"] < image.shape[1] + 1  # shown scaled
            # Click the temple's roof: a point the oracle puts in the roof's cluster.
            x, y = 0.36 * box["width"], 0.35 * box["height"]
            row = int(y * image.shape[0] / box["height"])
            col = int(x * image.shape[1] / box["width"])
            picked = int(seg.labels[row, col])
            before = picture.get_attribute("src")
            picture.click(position={"x": x, "y": y})
            page.wait_for_function(
                "([f, old]) => f.contentDocument.querySelector('#image').src !== old",
                arg=[frame_element.element_handle(), before],
            )
            wait_until_idle(page, TIMEOUT_MS)
            assert no_exception(page)
            # The picked cluster is chosen in the list and marked beside its name.
            chosen = page.locator("[data-testid='stMultiSelect']", has_text="Clusters")
            assert chosen.get_by_text(f"{picked} · cluster {picked}").is_visible()
            assert page.get_by_text("picked").count() == 1
            # The image now shows that cluster as it is and every other pixel washed out.
            src = frame.locator("#image").get_attribute("src")
            assert src is not None and src.startswith("data:image/jpeg;base64,")
            shown = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
            shown_rgb = np.asarray(shown.convert("RGB")).astype(int)
            labels = _grid_labels(seg, shown.height, shown.width)
            in_cluster = labels == picked
            assert 0 < in_cluster.mean() < 1
            # Washed: each channel at least 3/4 of the way to 215 (a light grey).
            washed = shown_rgb[~in_cluster].min(axis=1)
            assert np.percentile(washed, 5) > 140
            assert shown_rgb[in_cluster].min(axis=1).mean() < washed.mean() - 40
            full_page_screenshot(page, ARTIFACTS / "classes_picked.png")

            # Name the picked cluster in place: the legend and the address carry it.
            field = page.get_by_label(f"Name of class {picked}")
            field.fill("roof")
            field.press("Enter")
            page.wait_for_function("() => location.search.includes('classes=')")
            wait_until_idle(page, TIMEOUT_MS)
            query = parse_qs(urlsplit(page.url).query)
            assert query["classes"] == [f"roof:{picked}"]
            page.get_by_role("tab", name="Segmentation").click()
            page.locator(".kseg-legend b", has_text="roof").wait_for()
            wait_until_idle(page, TIMEOUT_MS)
            assert page.locator(".kseg-legend b", has_text="roof").count() == 1
            assert no_exception(page)

            # Merge two other clusters, drop a third, by the list and the buttons.
            others = [i for i in range(6) if i != picked]
            merge, dropped = others[:2], others[2]
            page.get_by_role("tab", name="Classes").click()
            page.get_by_role("button", name="Merge").wait_for()
            wait_until_idle(page, TIMEOUT_MS)
            for cluster in merge:
                page.locator("[data-testid='stMultiSelect']", has_text="Clusters").click()
                page.get_by_role("option", name=f"{cluster} · cluster {cluster}").click()
                page.keyboard.press("Escape")  # close the list: it hides the page from roles
            page.get_by_label("Name for the merged class (optional)").fill("shade")
            page.get_by_role("button", name="Merge").click()
            wait_until_idle(page, TIMEOUT_MS)
            page.locator("[data-testid='stMultiSelect']", has_text="Clusters").click()
            page.get_by_role("option", name=f"{dropped} · cluster {dropped}").click()
            page.keyboard.press("Escape")
            page.get_by_role("button", name="Drop").click()
            page.wait_for_function("() => location.search.includes('drop=')")
            wait_until_idle(page, TIMEOUT_MS)
            assert no_exception(page)
            # Download the model: it holds the classes named here.
            page.get_by_role("tab", name="Segmentation").click()
            page.get_by_role("button", name="Model JSON").wait_for()
            wait_until_idle(page, TIMEOUT_MS)
            with page.expect_download() as download:
                page.get_by_role("button", name="Model JSON").click()
            model_path = tmp_path / download.value.suggested_filename  # model.json
            download.value.save_as(model_path)
            model = core.ClassModel.load(model_path)
            assert "roof" in model.class_names and "shade" in model.class_names
            assert model.dropped == (dropped,)
            full_page_screenshot(page, ARTIFACTS / "classes_named.png")

            # Another image, the same model: the same classes, no fit.
            page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").first.click()
            page.get_by_role("option", name="Flower").click()
            page.get_by_text("62,941", exact=True).wait_for()  # the flower's distinct colours
            wait_until_idle(page, TIMEOUT_MS)
            with page.expect_file_chooser() as chooser:
                upload_button(page, "Apply a model (optional)").click()
            chooser.value.set_files(model_path)
            page.get_by_text("Classified with the model").wait_for()
            wait_until_idle(page, TIMEOUT_MS)
            assert no_exception(page)
            legend = page.locator(".kseg-legend b").all_inner_texts()
            assert legend == list(model.class_names)
            assert network.problems == []  # nothing from outside 127.0.0.1, nothing missing
        finally:
            browser.close()
