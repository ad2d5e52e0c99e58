"""The Classes editor through AppTest: rename, merge, drop, undo, the link, model files."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from helpers import APP
from PIL import Image
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

import core
from core.inputs.samples import sample_bytes
from dashboard import classes, pipeline
from dashboard.classes import Edit


def new_app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=60)


def classes_tab(at: AppTest) -> AppTest:
    at.session_state["view"] = "Classes"
    return at.run()


def clean(at: AppTest) -> bool:
    return not at.exception and not at.error


@pytest.fixture
def downloads(monkeypatch):
    """Every download's data callable, by file name, as the page registers them."""
    captured: dict[str, object] = {}
    original = MediaFileManager.add_deferred

    def add_deferred(self, data_callable, mimetype, coordinates, file_name=None, **kwargs):
        captured[file_name] = data_callable
        return original(self, data_callable, mimetype, coordinates, file_name, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", add_deferred)
    return captured


def load_sample(name: str) -> np.ndarray:
    """A sample as the page decodes it (its file's bytes)."""
    return core.open_image(io.BytesIO(sample_bytes(name))).rgb


def sample_seg() -> core.Segmentation:
    """The default page's result, computed here as the oracle (k = 6, CIELAB, seed 0)."""
    return core.segment(load_sample("China (temple)"), 6, color_space="lab", seed=0)


def names_in_editor(at: AppTest) -> list[str]:
    return [t.value for t in at.text_input if str(t.key).startswith("class_name_")]


def test_rename_merge_drop_and_undo_by_widget_keys(downloads):
    at = classes_tab(new_app().run())
    assert clean(at)
    assert names_in_editor(at) == [f"cluster {i}" for i in range(6)]
    # Rename in place.
    at.text_input(key="class_name_0").set_value("sky").run()
    assert clean(at)
    assert names_in_editor(at)[0] == "sky"
    assert at.query_params["classes"] == "sky:0"
    # Merge two clusters into one named class.
    at.multiselect(key="classes_selected").set_value([1, 2])
    at.text_input(key="classes_new_name").set_value("wood")
    at.button(key="classes_merge").click().run()
    assert clean(at)
    assert names_in_editor(at) == ["sky", "wood", "cluster 3", "cluster 4", "cluster 5"]
    assert at.query_params["classes"] == "sky:0;wood:1.2"
    # Drop a cluster: it leaves the shares and the downloads.
    at.multiselect(key="classes_selected").set_value([5])
    at.button(key="classes_drop").click().run()
    assert clean(at)
    assert names_in_editor(at) == ["sky", "wood", "cluster 3", "cluster 4"]
    assert at.query_params["drop"] == "5"
    oracle = sample_seg()
    expected = oracle.relabel(oracle.model.with_classes({"sky": [0], "wood": [1, 2]}, drop=[5]))
    at.session_state["view"] = "Clusters"
    at.run()
    table = at.dataframe[0].value
    assert table["name"].tolist() == ["sky", "wood", "cluster 3", "cluster 4"]
    assert table["pixels"].tolist() == expected.counts.tolist()
    assert sum(expected.counts) == oracle.counts.sum() - oracle.counts[5]
    assert table["share"].sum() == pytest.approx(100.0)
    # Every download names the classes; the dropped cluster has no row.
    at.session_state["view"] = "Segmentation"
    at.run()
    areas = downloads["china_4classes_lab_areas.csv"]()
    lines = areas.splitlines()
    assert lines[0].startswith("class,name,hex,pixels,share")
    assert [line.split(",")[1] for line in lines[1:]] == ["sky", "wood", "cluster 3", "cluster 4"]
    model = core.ClassModel.from_json(downloads["model.json"]())
    assert model.class_names == expected.class_names and model.dropped == (5,)
    recipe = json.loads(downloads["china_4classes_lab_recipe.json"]())
    assert [row["name"] for row in recipe["classes"]] == ["sky", "wood", "cluster 3", "cluster 4"]
    assert "--group wood=1,2" in recipe["classes_command"]
    labels = np.asarray(Image.open(io.BytesIO(downloads["china_4classes_lab_labels.png"]())))
    kept = expected.labels >= 0
    np.testing.assert_array_equal(labels[kept], expected.labels[kept])
    report = downloads["china_4classes_lab_report.html"]()
    assert "<td>wood</td>" in report and "data:image/jpeg;base64," in report
    # Undo, step by step.
    classes_tab(at)
    at.button(key="classes_undo").click().run()
    assert names_in_editor(at) == ["sky", "wood", "cluster 3", "cluster 4", "cluster 5"]
    assert "drop" not in at.query_params
    at.button(key="classes_undo").click().run()
    at.button(key="classes_undo").click().run()
    assert names_in_editor(at) == [f"cluster {i}" for i in range(6)]
    assert "classes" not in at.query_params


def test_a_link_reopens_the_same_named_classes():
    at = new_app()
    at.query_params["classes"] = "roof%3A tiles:0.3;trees:1"
    at.query_params["drop"] = "5"
    at.query_params["view"] = "Classes"
    at.run()
    assert clean(at)
    assert names_in_editor(at) == ["roof: tiles", "trees", "cluster 2", "cluster 4"]
    at.session_state["view"] = "Segmentation"
    at.run()
    legend = " ".join(h.proto.body for h in at.get("html"))
    assert "<b>roof: tiles</b>" in legend and "<b>trees</b>" in legend
    assert any("dropped cluster 5" in c.value for c in at.caption)


@pytest.mark.parametrize(
    ("key", "value"),
    [("classes", "a:0;b:0"), ("classes", "nameless"), ("drop", "1e3"), ("classes", "x:99")],
)
def test_a_bad_link_is_dropped_with_a_notice(key, value):
    at = new_app()
    at.query_params[key] = value
    at.run()
    assert clean(at)
    assert len(at.image) == 2  # the page, fully drawn
    assert key not in at.query_params
    assert at.toast  # said, not silently ignored
    classes_tab(at)
    assert names_in_editor(at) == [f"cluster {i}" for i in range(6)]


def test_a_downloaded_model_gives_the_same_classes_on_another_image(downloads):
    at = classes_tab(new_app().run())
    at.multiselect(key="classes_selected").set_value([0, 3])
    at.text_input(key="classes_new_name").set_value("pale")
    at.button(key="classes_merge").click().run()
    at.multiselect(key="classes_selected").set_value([4])
    at.button(key="classes_drop").click().run()
    at.session_state["view"] = "Segmentation"
    at.run()
    text = downloads["model.json"]()
    model = core.ClassModel.from_json(text)
    assert model.class_names == ("pale", "cluster 1", "cluster 2", "cluster 5")
    # Another visitor, another image, the same model.
    other = new_app()
    other.query_params["image"] = "Flower"
    other.run()
    upload = ("model.json", text.encode(), "application/json")
    other.file_uploader(key="model_upload").set_value(upload)
    classes_tab(other)
    assert clean(other)
    assert names_in_editor(other) == ["pale", "cluster 1", "cluster 2", "cluster 5"]
    # As the library applies it (the oracle): the same labels and shares.
    expected = core.apply(model, load_sample("Flower"))
    other.session_state["view"] = "Clusters"
    other.run()
    table = other.dataframe[0].value
    assert table["name"].tolist() == list(expected.class_names)
    assert table["pixels"].tolist() == expected.counts.tolist()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x89PNG not json", "not valid JSON"),
        (b'{"format": "kseg-class-model", "version": 99}', "newer than this kseg reads"),
        (
            core.ClassModel(
                core.results.classmodel.FeatureSpec(
                    "bands", bands=("red", "green", "blue", "nir"), mean=(0,) * 4, std=(1,) * 4
                ),
                np.eye(2, 4),
                np.zeros((2, 3), np.uint8),
            )
            .to_json()
            .encode(),
            "nir",
        ),
    ],
)
def test_a_bad_model_file_is_an_error_and_the_page_keeps_working(data, message):
    at = new_app().run()
    at.file_uploader(key="model_upload").set_value(("bad.json", data, "application/json"))
    at.run()
    assert not at.exception
    assert len(at.error) == 1 and message in at.error[0].value
    assert len(at.image) == 2  # the page fitted as usual
    assert any(m.label == "Iterations" for m in at.metric)


def test_suggested_merges_offer_the_close_colours_in_one_click():
    at = classes_tab(new_app().run())
    at.slider(key="merge_de").set_value(50.0).run()
    suggestions = [b for b in at.button if str(b.key).startswith("suggest_")]
    assert suggestions
    seg = sample_seg()
    pairs = core.features.ciede2000.close_pairs(seg.palette, 50.0)
    i, j, delta = pairs[0]
    assert suggestions[0].key == f"suggest_{i}_{j}"
    assert f"(ΔE00 {delta:.1f})" in suggestions[0].label
    suggestions[0].click().run()
    assert clean(at)
    merged = next(t for t in at.text_input if t.key == f"class_name_{i}")
    assert len(names_in_editor(at)) == 5
    assert merged.value == f"cluster {i}"
    assert at.query_params["classes"] == f"cluster {i}:{i}.{j}"


def test_edit_text_round_trip_and_model():
    base = sample_seg().model
    edit = Edit.parse("a%3Bb:0.3;forest:1", "5")
    assert edit.classes_text() == "a%3Bb:0.3;forest:1" and edit.drop_text() == "5"
    model = edit.model(base)
    assert model.class_names == ("a;b", "forest", "cluster 2", "cluster 4")
    assert model.class_of.tolist() == [0, 1, 2, 0, 3, -1]
    assert Edit.of(model) == edit
    with pytest.raises(ValueError):
        Edit.parse("a:0.0", "")
    with pytest.raises(ValueError):
        Edit.parse("a:1", "1")


@pytest.mark.parametrize(
    ("click", "shape", "expected"),
    [
        ({"x": 0, "y": 0, "width": 600, "height": 400}, (3000, 4500), (0, 0)),
        ({"x": 599.9, "y": 399.9, "width": 600, "height": 400}, (3000, 4500), (2999, 4499)),
        ({"x": 300, "y": 100, "width": 600, "height": 400}, (3000, 4500), (750, 2250)),
        ({"x": 650, "y": -3, "width": 600, "height": 400}, (30, 45), (0, 44)),
        ({"x": 1, "y": 1, "width": 0, "height": 0}, (30, 45), None),
    ],
)
def test_a_click_on_the_scaled_image_maps_to_its_full_resolution_pixel(click, shape, expected):
    assert classes.pixel_at(click, shape) == expected


def test_the_pick_preview_keeps_the_picked_cluster_and_washes_out_the_rest():
    image = np.zeros((40, 60, 3), np.uint8)
    image[:, 30:] = (200, 30, 30)
    seg = core.segment(image, 2, seed=0)
    red = int(np.argmax(seg.palette[:, 0]))
    preview = pipeline.previews.preview_bytes(image, format="png")
    out = pipeline.pick_preview.__wrapped__("k", preview, seg, None, None, "original", red)
    shown = np.asarray(Image.open(io.BytesIO(out)).convert("RGB")).astype(int)
    assert shown.shape == (40, 60, 3)
    assert np.abs(shown[:, 35:] - (200, 30, 30)).max() < 12  # kept
    assert shown[:, :25].min() > 140  # black, washed out to light grey
