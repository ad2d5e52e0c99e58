"""The dashboard with a GeoTIFF and with transparency (AppTest)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from core.inputs.samples import SAMPLE_RASTER
from dashboard.controls import SCENE_SAMPLE, UPLOAD

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")


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


@pytest.fixture
def scene_app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90).run()
    at.selectbox(key="image").set_value(SCENE_SAMPLE).run()
    assert not at.exception and not at.error
    return at


def test_scene_sample_shows_its_georeference_and_leaves_no_data_out(scene_app):
    captions = " ".join(c.value for c in scene_app.caption)
    assert "GeoTIFF, 4 bands uint16 (blue, green, red, nir), EPSG:32632" in captions
    # 69,873 pixels of 10 m × 10 m on the map plane (698.73 ha), measured on the ellipsoid
    assert "699.11 ha with data" in captions
    assert "no-data" in captions and "left out" in captions
    labels = [b.label for b in scene_app.get("download_button")]
    assert "Label GeoTIFF (display colours)" in labels
    assert "GeoJSON (display colours)" in labels
    assert len(labels) == len(set(labels))  # no two downloads share a name


def test_scene_clusters_tab_fills_in_areas(scene_app):
    scene_app.session_state["view"] = "Clusters"
    scene_app.run()
    assert not scene_app.exception and not scene_app.error
    assert not [n for n in scene_app.number_input if n.key == "pixel_size"]  # nothing to type
    table = scene_app.dataframe[0].value
    assert "area_ha" in table.columns
    assert table["area_m2"].sum() == pytest.approx(69_873 * 100.0, rel=2e-3)


def test_upload_of_a_geotiff_and_of_a_transparent_logo():
    at = AppTest.from_file(APP, default_timeout=90).run()
    at.selectbox(key="image").set_value(UPLOAD).run()
    at.file_uploader(key="upload").set_value(
        ("scene.tif", SAMPLE_RASTER.read_bytes(), "image/tiff")
    )
    at.run()
    assert not at.exception and not at.error
    assert "EPSG:32632" in " ".join(c.value for c in at.caption)
    rgba = np.zeros((40, 60, 4), np.uint8)
    rgba[5:35, 5:30] = (200, 30, 40, 255)
    rgba[5:35, 32:55] = (20, 60, 180, 255)
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG")
    at.file_uploader(key="upload").set_value(("logo.png", buffer.getvalue(), "image/png"))
    at.slider(key="k").set_value(2).run()
    assert not at.exception and not at.error
    assert "are left out of the clusters" in " ".join(c.value for c in at.caption)


def test_scene_classes_on_bands_and_ndvi(scene_app):
    assert scene_app.multiselect(key="raster_bands").value == ["blue", "green", "red", "nir"]
    scene_app.checkbox(key="raster_ndvi").check().run()
    assert not scene_app.exception and not scene_app.error
    # The Segmentation tab's tables: the classes, then their statistics
    table = scene_app.dataframe[0].value
    assert len(table) == 6  # k from the sidebar
    assert table["area_m2"].sum() == pytest.approx(69_873 * 100.0, rel=2e-3)
    assert "Exact k-means on 69,873 pixels with data" in " ".join(
        c.value for c in scene_app.caption
    )
    labels = [b.label for b in scene_app.get("download_button")]
    assert {"Segmented GeoTIFF (band classes)", "Areas CSV (band classes)"} <= set(labels)
    scene_app.multiselect(key="raster_bands").set_value([]).run()
    scene_app.checkbox(key="raster_ndvi").uncheck().run()
    assert not scene_app.exception
    assert any("at least one band" in i.value for i in scene_app.info)


def test_elbow_tab_leaves_no_data_out(scene_app):
    scene_app.session_state["view"] = "Choosing k"
    scene_app.run()
    assert not scene_app.exception and not scene_app.error
    from core.inputs.masking import MaskOptions
    from dashboard import pipeline

    loaded = pipeline.load(pipeline.sample_file(SCENE_SAMPLE).key, SAMPLE_RASTER.read_bytes())
    work = pipeline.counted_image("scene", loaded, 1_000_000, MaskOptions())
    assert work.shape[2] == 4 and (work[:, :, 3] == 0).sum() == 81_920 - 69_873


def test_summary_counts_only_the_pixels_that_count(scene_app):
    summary = scene_app.caption[0].value
    assert "Exact k-means on all **69,873 pixels that count**" in summary


def test_band_classes_statistics_are_numpy_means_over_each_class(downloads, scene_app):
    import rasterio

    scene_app.checkbox(key="raster_ndvi").check().run()
    assert not scene_app.exception and not scene_app.error
    stats = scene_app.dataframe[1].value
    assert len(stats) == 6
    assert list(stats.columns[:3]) == ["class", "name", "pixels"]
    bands = ["blue", "green", "red", "nir"]
    assert list(stats.columns[3:-1]) == [
        f"{f} {s}" for f in [*bands, "NDVI"] for s in ("mean", "std")
    ]
    # The oracle: the scene read with rasterio and the labels from the page's own download.
    name = "sample_scene_k6_bands"
    with rasterio.open(io.BytesIO(downloads[f"{name}_labels.tif"]())) as src:
        labels = src.read(1, masked=True)
    with rasterio.open(SAMPLE_RASTER) as src:
        data = src.read().astype(np.float64)
    counted = ~np.ma.getmaskarray(labels)
    for _, row in stats.iterrows():
        where = counted & (labels.data == row["class"])
        assert row["pixels"] == where.sum() > 0
        for b, band in enumerate(bands):
            values = data[b][where]
            assert row[f"{band} mean"] == pytest.approx(values.mean())
            assert row[f"{band} std"] == pytest.approx(values.std())
        nir, red = data[3][where], data[2][where]
        assert row["NDVI mean"] == pytest.approx(((nir - red) / (nir + red)).mean(), abs=1e-9)
    csv_text = downloads[f"{name}_stats.csv"]().decode()
    assert csv_text.splitlines()[0] == "class,feature,pixels,mean,std"
    assert "Statistics CSV (band classes)" in [b.label for b in scene_app.get("download_button")]
