"""The Streamlit app through AppTest: renders, reruns, uploads, errors, laziness, caching."""

from __future__ import annotations

import io
import os
from types import SimpleNamespace

import numpy as np
import pytest
from helpers import APP, png, run_python
from PIL import Image
from streamlit.testing.v1 import AppTest

import core
from dashboard import pipeline
from dashboard.app import TABS
from dashboard.controls import Params

UPLOAD = "Upload your own…"


def new_app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=60)


@pytest.fixture
def app() -> AppTest:
    at = new_app().run()
    assert not at.exception
    return at


def open_tab(at: AppTest, label: str) -> AppTest:
    at.session_state["view"] = label
    return at.run()


def upload(at: AppTest, name: str, data: bytes) -> AppTest:
    if at.selectbox(key="image").value != UPLOAD:
        at.selectbox(key="image").set_value(UPLOAD).run()
    at.file_uploader(key="upload").set_value((name, data, "image/png"))
    return at.run()


def command(at: AppTest) -> str:
    """The `kseg` command under "Reproduce from the command line", opening it if closed."""
    if not at.code:
        at.session_state["reproduce"] = True
        at.run()
    return at.code[0].value


def clean(at: AppTest) -> bool:
    return not at.exception and not at.error


def test_default_page_shows_the_sample_original_and_segmented(app):
    assert clean(app)
    assert len(app.image) == 2  # original and segmented, side by side
    assert [m.label for m in app.metric] == [
        "Image, 0.3 MP",
        "Distinct colours",
        "WCSS (CIELAB units²)",  # with its unit (issue 24)
        "Iterations",
        "Computed in",
    ]
    assert app.metric[0].value == "640 × 427"
    assert len(app.get("download_button")) == 11  # with areas, labels, model, report
    assert app.slider(key="k").value == 6
    assert app.selectbox(key="color_space").value == "lab"
    assert "Exact k-means on all **273,280 pixels**" in app.caption[0].value
    assert not app.code  # the command is drawn when its expander is opened
    assert "kseg segment china.jpg -k 6 --color-space lab" in command(app)


def test_only_the_open_tab_runs(app):
    tabs = app.get("tab")
    assert [tab.label for tab in tabs] == TABS
    assert len(tabs[0].children) > 0
    assert all(len(tab.children) == 0 for tab in tabs[1:])
    assert not app.get("plotly_chart")  # no figure is built for a closed tab


@pytest.mark.parametrize("label", [tab for tab in TABS[1:] if tab != "Classes"])
def test_each_tab_renders_its_charts(app, label):
    open_tab(app, label)
    assert clean(app)
    assert len(app.get("plotly_chart")) == 1
    if label == "Clusters":
        assert len(app.image) == 2 * 6  # a mask and a cut-out per cluster
        assert len(app.dataframe) == 1
    if label == "Colour space":  # centroids outlined and numbered in a grey both themes show
        import plotly.io

        centroids = plotly.io.from_json(app.get("plotly_chart")[0].proto.spec).data[1]
        assert centroids.marker.line.color == pipeline.CENTROID_OUTLINE
        assert centroids.textfont.color == pipeline.CENTROID_OUTLINE


def test_pixel_size_adds_areas_to_the_table(app):
    open_tab(app, "Clusters")
    app.number_input(key="pixel_size").set_value(10.0).run()
    assert clean(app)
    table = app.dataframe[0].value
    assert {"area_m2", "area_ha"} <= set(table.columns)
    assert table["area_m2"].sum() == pytest.approx(640 * 427 * 100)


def test_changing_k_colour_space_and_sample_reruns_cleanly(app):
    app.slider(key="k").set_value(3).run()
    assert clean(app) and len(app.image) == 2
    for space in ["rgb", "hsv", "oklab"]:
        app.selectbox(key="color_space").set_value(space).run()
        assert clean(app) and len(app.image) == 2
    app.selectbox(key="image").set_value("Flower").run()
    assert clean(app) and len(app.image) == 2
    assert "flower.jpg -k 3 --color-space oklab" in command(app)


def test_use_suggested_k_button_sets_k(app):
    open_tab(app, "Choosing k")
    assert clean(app)
    [button] = [b for b in app.button if b.key == "use_knee"]
    suggested = int(button.label.split("=")[1])
    button.click().run()
    assert clean(app)
    assert app.slider(key="k").value == suggested
    assert not [b for b in app.button if b.key == "use_knee"]  # it is in use now


def huge_png() -> bytes:
    """A 20,000 x 10,000 (200 MP) PNG of a few kilobytes: over core's 100 MP limit."""
    buffer = io.BytesIO()
    Image.new("1", (20_000, 10_000)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_uploads_good_then_bad_then_good(app, photo):
    app.selectbox(key="image").set_value(UPLOAD).run()
    assert clean(app) and any("Choose an image file" in i.value for i in app.info)
    upload(app, "small.png", png(photo))
    assert clean(app)
    assert app.metric[0].value == f"{photo.shape[1]} × {photo.shape[0]}"
    for name, data, message in [
        ("broken.jpg", b"\xff\xd8\xff\xe0 not really a jpeg", "'broken.jpg'"),
        ("empty.png", b"", "'empty.png' is empty"),
        ("page.png", b"<!DOCTYPE html><html></html>", "web page"),
        ("cut.png", png(photo)[:300], "'cut.png'"),
        ("huge.png", huge_png(), "so large"),
    ]:
        upload(app, name, data)
        assert not app.exception
        assert len(app.error) == 1 and message in app.error[0].value
        assert "Traceback" not in app.error[0].value
        assert not app.image and not app.metric
    upload(app, "again.png", png(np.ascontiguousarray(photo[::-1])))
    assert clean(app) and len(app.image) == 2


def test_tiny_upload_with_k_above_its_pixels_uses_the_largest_k_it_allows(app):
    tiny = np.arange(12, dtype=np.uint8).reshape(2, 2, 3) * 20
    upload(app, "tiny.png", png(tiny))
    assert clean(app) and len(app.image) == 2
    assert any("k = 4 was used instead of k = 6" in w.value for w in app.warning)


def test_few_colours_warn_instead_of_failing(app, blocks):
    upload(app, "blocks.png", png(blocks))  # four flat colours, k = 6
    assert clean(app) and len(app.image) == 2
    assert app.warning and "fewer than k=6" in app.warning[0].value


def test_large_upload_is_labelled_in_full_with_centres_fitted_at_working_size(app, photo):
    big = np.ascontiguousarray(np.tile(photo, (4, 4, 1)))  # 640 x 424 = 0.27 MP
    app.select_slider(key="working_size").set_value("0.25 MP")
    upload(app, "big.png", png(big))
    assert clean(app)
    summary = app.caption[0].value
    assert f"All **{big.shape[0] * big.shape[1]:,} pixels** labelled exactly" in summary
    assert "--fit-pixels 250000" in command(app)


def test_cache_key_follows_content_not_file_name(photo):
    a, b = png(photo), png(np.ascontiguousarray(photo[:, ::-1]))
    assert pipeline.digest(a) == pipeline.digest(bytes(a)) != pipeline.digest(b)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline.st, "session_state", {})
        files = [
            pipeline.uploaded_file(SimpleNamespace(getvalue=lambda d=d: d, name=n, file_id=i))
            for i, (n, d) in enumerate([("one.png", a), ("two.png", a), ("one.png", b)])
        ]
    assert files[0].key == files[1].key != files[2].key
    assert [f.name for f in files] == ["one.png", "two.png", "one.png"]
    # The same content under two names hits one cache entry.
    first = pipeline.load(files[0].key, files[0].data, "one.png")
    assert pipeline.load(files[1].key, files[1].data, "two.png") is first
    assert pipeline.load(files[2].key, files[2].data, "one.png") is not first


def test_only_a_big_image_waits_for_the_compiled_engine(monkeypatch, photo):
    waits = []
    monkeypatch.setattr(pipeline, "wait_for_engine", lambda: waits.append(True))
    small = core.LoadedImage(rgb=photo, alpha=None, format="PNG", mode="RGB")
    pipeline.segmentation("wait-small", small, Params(k=2))
    assert waits == []
    side = int(pipeline.WAIT_FOR_ENGINE_PIXELS**0.5) + 1
    flat = np.zeros((side, side, 3), np.uint8)
    flat[:, side // 2 :] = 255
    big = core.LoadedImage(rgb=flat, alpha=None, format="PNG", mode="RGB")
    seg, _ = pipeline.segmentation("wait-big", big, Params(k=2))
    assert waits == [True] and seg.shape == (side, side)


def test_the_engine_warms_up_once_the_first_page_is_drawn(monkeypatch):
    calls = []
    segment = core.segment

    def recorded(*args, **kwargs):
        calls.append("segment")
        return segment(*args, **kwargs)

    monkeypatch.setattr(core, "warm_up", lambda: calls.append("warm up"))
    monkeypatch.setattr(core, "segment", recorded)
    monkeypatch.setattr(pipeline, "WARM_UP_DELAY_S", 0.0)
    for cached in (pipeline.warm_up_engine, pipeline.segmentation, pipeline._stored_segmentation):
        cached.clear()
    try:
        assert clean(new_app().run())
        pipeline.warm_up_engine().join(timeout=60)
        assert calls == ["segment", "warm up"]  # k-means did not compete with the loading
    finally:
        pipeline.warm_up_engine.clear()


def test_wait_for_engine_returns_once_the_warm_up_is_done():
    pipeline.wait_for_engine()
    thread = pipeline.warm_up_engine()
    assert not thread.is_alive()


def test_the_warm_up_waits_its_delay_unless_a_big_job_hurries_it(monkeypatch):
    started = []
    monkeypatch.setattr(core, "warm_up", lambda: started.append(True))
    monkeypatch.setattr(pipeline, "WARM_UP_DELAY_S", 600.0)
    pipeline.warm_up_engine.clear()
    try:
        thread = pipeline.warm_up_engine()
        thread.join(timeout=0.5)
        assert thread.is_alive() and started == []  # still waiting out its delay
        pipeline.wait_for_engine()  # a big job: no delay
        assert not thread.is_alive() and started == [True]
    finally:
        pipeline.warm_up_engine.clear()


def test_the_app_lets_idle_openmp_threads_sleep():
    environment = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    code = "import os, dashboard.app; print(os.environ['OMP_WAIT_POLICY'])"
    assert run_python(code, env=environment).strip() == "PASSIVE"
    kept = run_python(code, env={**environment, "OMP_WAIT_POLICY": "ACTIVE"})
    assert kept.strip() == "ACTIVE"  # an explicit setting wins


def test_the_app_keeps_what_its_imports_made_out_of_garbage_collection():
    # Streamlit collects garbage after every run: without the freeze, each collection walks
    # every object of the imports while the browser waits for the run's last messages.
    code = "import gc, dashboard.app; print(gc.get_freeze_count())"
    assert int(run_python(code).strip()) > 50_000


def test_a_link_reopens_an_explore_panel():
    # The panels' settings are declared when dashboard.explore is imported: before the
    # address is read, or the link's panel would be dropped as unknown.
    at = new_app()
    at.query_params["view"] = "Understand k-means"
    at.query_params["explore"] = "engines"
    at.run()
    assert clean(at)
    assert at.toggle(key="run_engines").value is False  # the engines panel, not the sweep


def test_query_string_reopens_the_same_view():
    at = new_app()
    at.query_params["k"] = "4"
    at.query_params["color_space"] = "OKLab"  # the URL carries the label people see
    at.query_params["image"] = "Flower"
    at.query_params["seed"] = "3"
    at.query_params["view"] = "Colour space"
    at.run()
    assert clean(at)
    assert at.slider(key="k").value == 4
    assert at.selectbox(key="color_space").value == "oklab"
    assert at.selectbox(key="image").value == "Flower"
    assert at.number_input(key="seed").value == 3
    assert len(at.get("plotly_chart")) == 1 and not at.image  # the Colour space tab
