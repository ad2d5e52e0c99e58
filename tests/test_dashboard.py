"""The Streamlit app through AppTest: renders, reruns, uploads, errors, laziness, caching."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from dashboard import pipeline

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")
from dashboard.app import TABS  # noqa: E402


def png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    assert not at.exception
    return at


def open_tab(at: AppTest, label: str) -> AppTest:
    at.session_state["view"] = label
    return at.run()


def test_default_page_shows_sample_original_and_segmented(app):
    assert not app.error
    images = app.get("image")
    assert len(images) == 2  # original and segmented, side by side
    assert [m.label for m in app.metric] == [
        "Image",
        "Distinct colours",
        "WCSS",
        "Iterations",
        "Time",
    ]
    assert app.metric[0].value == "640 × 427"
    assert len(app.get("download_button")) == 7
    assert app.slider(key="k").value == 6


def test_only_the_open_tab_runs(app):
    tabs = app.get("tab")
    assert len(tabs) == 4
    assert len(tabs[0].children) > 0
    assert all(len(tab.children) == 0 for tab in tabs[1:])


@pytest.mark.parametrize("label", TABS[1:])
def test_each_tab_renders_its_charts(app, label):
    open_tab(app, label)
    assert not app.exception and not app.error
    assert len(app.get("plotly_chart")) >= 1
    if label == TABS[1]:
        assert len(app.get("image")) == 2 * 6  # a mask and a cut-out per cluster
        assert len(app.dataframe) == 1


def test_changing_k_colour_space_and_sample_reruns_cleanly(app):
    app.slider(key="k").set_value(3).run()
    assert not app.exception and not app.error
    assert len(app.get("image")) == 2
    for space in ["hsv", "lab", "oklab"]:
        app.selectbox(key="color_space").set_value(space).run()
        assert not app.exception and not app.error
    app.selectbox(key="image").set_value("Flower").run()
    assert not app.exception and len(app.get("image")) == 2
    assert app.metric[0].value == "640 × 427"


def test_use_suggested_k_button_sets_k(app):
    open_tab(app, TABS[3])
    buttons = [b for b in app.button if b.key == "use_knee"]
    assert buttons, "the flower and temple samples both have a knee"
    suggested = int(buttons[0].label.split("=")[1])
    buttons[0].click().run()
    assert app.slider(key="k").value == suggested


def test_uploads_good_then_bad_then_good(app, photo):
    app.selectbox(key="image").set_value("Upload your own…").run()
    assert not app.exception
    assert any("Choose an image" in i.value for i in app.info)
    uploader = app.get("file_uploader")[0]
    uploader.upload("small.png", png(photo), "image/png").run()
    assert not app.exception and not app.error
    assert app.metric[0].value == f"{photo.shape[1]} × {photo.shape[0]}"
    for name, data, message in [
        ("broken.jpg", b"\xff\xd8\xff\xe0 not really a jpeg", "'broken.jpg' is truncated"),
        ("empty.png", b"", "'empty.png' is empty"),
        ("page.png", b"<!DOCTYPE html><html></html>", "web page"),
    ]:
        app.get("file_uploader")[0].upload(name, data, "image/png").run()
        assert not app.exception
        assert len(app.error) == 1 and message in app.error[0].value
        assert "Traceback" not in app.error[0].value
    app.get("file_uploader")[0].upload("again.png", png(photo[::-1]), "image/png").run()
    assert not app.exception and not app.error and len(app.get("image")) == 2


def test_tiny_upload_with_k_above_its_pixels_is_an_error_not_a_crash(app):
    app.selectbox(key="image").set_value("Upload your own…").run()
    app.get("file_uploader")[0].upload("tiny.png", png(np.zeros((2, 2, 3), np.uint8)), "image/png")
    app.run()
    assert not app.exception
    assert "more than the number of pixels" in app.error[0].value


def test_cache_key_follows_content_not_file_name(photo):
    a, b = png(photo), png(photo[:, ::-1])
    assert pipeline.digest(a) == pipeline.digest(bytes(a))  # same content, any name
    assert pipeline.digest(a) != pipeline.digest(b)
    # Same content uploaded under two names hits one cache entry.
    first = pipeline.load(pipeline.digest(a), a)
    assert pipeline.load(pipeline.digest(bytes(a)), bytes(a)) is first
    assert pipeline.load(pipeline.digest(b), b) is not first


def test_query_string_reopens_the_same_view():
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params["k"] = "4"
    at.query_params["color_space"] = "CIELAB"  # the URL carries the label shown
    at.query_params["image"] = "Flower"
    at.run()
    assert not at.exception
    assert at.slider(key="k").value == 4
    assert at.selectbox(key="color_space").value == "lab"
    assert at.selectbox(key="image").value == "Flower"
