"""The Collection page through AppTest: several uploads (a bad one among them), a ZIP, a kept
palette, areas with a pixel size, the cache."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from helpers import small_photo, write_tif
from PIL import Image
from streamlit.testing.v1 import AppTest

import core
from dashboard import collection_controls as controls
from dashboard import collection_pipeline as pipeline

SCRIPT = "from dashboard.collection import main\nmain()\n"


def png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def images() -> dict[str, np.ndarray]:
    return {
        "flower.png": small_photo("flower.jpg", 8),
        "china.png": small_photo("china.jpg", 8),
        "china_flipped.png": small_photo("china.jpg", 8)[::-1].copy(),
    }


@pytest.fixture(autouse=True)
def empty_cache():
    pipeline.store().runs.clear()
    yield
    pipeline.store().runs.clear()


def new_page() -> AppTest:
    return AppTest.from_string(SCRIPT, default_timeout=60)


def upload(at: AppTest, files: list[tuple[str, bytes]]) -> AppTest:
    at.file_uploader(key="coll_uploads").set_value([(n, d, "image/png") for n, d in files])
    return at.run()


def test_page_prompts_for_uploads():
    at = new_page().run()
    assert not at.exception
    assert "Upload images" in at.info[0].value


def test_several_uploads_with_a_bad_one(images):
    files = [(name, png(image)) for name, image in images.items()]
    files.insert(1, ("broken.png", b"\x89PNG\r\n\x1a\n not really"))
    at = upload(new_page().run(), files)
    assert not at.exception and not at.error
    assert "1 file(s) could not be read" in at.warning[0].value
    problems = at.dataframe[0].value
    assert list(problems["file"]) == ["broken.png"]
    assert "broken.png" in problems["problem"][0]
    assert len(at.image) == 3  # the good ones are kept
    assert at.image[0].captions[0].startswith("flower.png")
    expected = core.fit_collection(list(images.values()), controls.DEFAULT_K)
    areas = at.dataframe[1].value
    assert len(areas) == 3 * controls.DEFAULT_K
    assert list(areas["hex"][: controls.DEFAULT_K]) == expected.hex_colors
    flower = core.apply(expected, images["flower.png"])
    assert list(areas["pixels"][: controls.DEFAULT_K]) == flower.counts.tolist()
    assert "area_m2" not in areas.columns
    chart = at.get("plotly_chart")[0]
    assert chart is not None
    labels = [button.proto.label for button in at.get("download_button")]
    assert labels == ["Areas (CSV)", "Palette (JSON)", "Outputs (ZIP)", "Model (JSON)"]
    assert at.subheader[0].value.startswith("Shared palette (k = 6, CIELAB) over 3 image(s)")


def test_shares_figure_has_one_trace_per_cluster(images):
    result = core.segment_collection(images, 4)
    figure = core.collection.shares_figure(result)
    assert [trace.type for trace in figure.data] == ["bar"] * 4
    assert list(figure.data[0].y) == list(images)
    total = np.sum([np.asarray(trace.x) for trace in figure.data], axis=0)
    np.testing.assert_allclose(total, 100.0)


def test_pixel_size_adds_areas_without_recomputing(images, monkeypatch):
    at = upload(new_page().run(), [(n, png(i)) for n, i in images.items()])
    assert not at.exception
    monkeypatch.setattr(core, "segment_collection", None)  # a second run would fail
    at.number_input(key="coll_pixel_size").set_value(10.0)
    at.run()
    assert not at.exception
    areas = at.dataframe[0].value
    assert float(areas["area_m2"][0]) == pytest.approx(int(areas["pixels"][0]) * 100.0)


def test_zip_of_images_and_a_bad_zip(images):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, image in images.items():
            archive.writestr(f"scans/{name}", png(image))
        archive.writestr("__MACOSX/._flower.png", b"junk")
        archive.writestr("readme.txt", b"hello")
    at = new_page().run()
    at.file_uploader(key="coll_uploads").set_value(
        [
            ("scans.zip", buffer.getvalue(), "application/zip"),
            ("other.zip", b"PK not a zip", "application/zip"),
        ]
    )
    at.run()
    assert not at.exception and not at.error
    assert len(at.image) == 3
    assert "other.zip" in at.dataframe[0].value["file"][0]


def test_a_kept_palette_is_applied(images):
    kept = core.fit_collection([images["flower.png"]], 3, color_space="rgb")
    at = new_page().run()
    at.file_uploader(key="coll_palette").set_value(
        ("kept.json", kept.to_json().encode(), "application/json")
    )
    at = upload(at, [("china.png", png(images["china.png"]))])
    assert not at.exception and not at.error
    assert at.number_input(key="coll_k").disabled
    assert "applied model" in at.subheader[0].value
    areas = at.dataframe[0].value
    assert list(areas["pixels"]) == core.apply(kept, images["china.png"]).counts.tolist()


def test_a_file_that_is_not_a_model_is_an_error_and_the_page_fits_as_usual(images):
    at = new_page().run()
    at.file_uploader(key="coll_palette").set_value(("kept.json", b'{"a": 1}', "application/json"))
    at = upload(at, [("china.png", png(images["china.png"]))])
    assert not at.exception
    assert "not a kseg class model" in at.error[0].value
    assert len(at.image) == 1  # fitted as usual
    assert not at.number_input(key="coll_k").disabled


def test_a_model_with_named_classes_is_applied_with_its_names(images):
    seg = core.segment(images["flower.png"], 4, color_space="rgb", seed=0)
    model = seg.model.with_classes({"petals": [0, 2]}, drop=[3])
    at = new_page().run()
    at.file_uploader(key="coll_palette").set_value(
        ("model.json", model.to_json().encode(), "application/json")
    )
    at = upload(at, [("china.png", png(images["china.png"]))])
    assert not at.exception and not at.error
    areas = at.dataframe[0].value
    assert list(areas["name"]) == ["petals", "cluster 1"]
    # The oracle: the library applies the same model to the same image.
    expected = core.apply(model, images["china.png"])
    assert list(areas["pixels"]) == expected.counts.tolist()
    assert float(areas["share"].sum()) == pytest.approx(100.0)


def test_the_app_has_both_pages():
    from pathlib import Path

    at = AppTest.from_file(
        str(Path(__file__).resolve().parents[1] / "streamlit_app.py"), default_timeout=120
    ).run()
    assert not at.exception
    assert len(at.image) == 2  # the single-image page is still the default


def test_geotiff_uploads_get_areas_from_their_crs_and_geotiffs_in_the_zip(tmp_path):
    rng = np.random.default_rng(0)
    files = []
    for name in ("north.tif", "south.tif"):
        data = rng.integers(1, 255, (3, 24, 32)).astype(np.uint8)
        data[:, :4, :] = 0  # no-data rows
        files.append((name, write_tif(tmp_path / name, data, nodata=0).read_bytes()))
    at = upload(new_page().run(), files)
    assert not at.exception and not at.error
    assert len(at.image) == 2
    areas = at.dataframe[0].value
    assert areas["pixels"][: controls.DEFAULT_K].sum() == 20 * 32  # no-data left out
    # UTM 10 m: 100 m² a pixel on the map, on the ground within UTM's scale factor.
    np.testing.assert_allclose(areas["area_m2"], areas["pixels"] * 100.0, rtol=2e-3)
    (run,) = pipeline.store().runs.values()
    names = zipfile.ZipFile(io.BytesIO(run.outputs_zip)).namelist()
    assert {"labels/north.tif", "labels/south.tif"} <= set(names)
    # Thumbnails are clear where the GeoTIFF has no data, as the downloaded files are.
    for thumbnail in run.thumbnails.values():
        alpha = np.asarray(Image.open(io.BytesIO(thumbnail)).convert("RGBA"))[..., 3]
        assert alpha.shape == (24, 32)
        assert (alpha[:4] == 0).all() and (alpha[4:] == 255).all()


def test_settings_come_from_the_address_and_shares_are_percentages(images):
    at = new_page()
    at.query_params["coll_k"] = "3"
    at.query_params["coll_space"] = "OKLab"  # a display label works too
    at.query_params["coll_seed"] = "1e9"  # not a whole number: dropped, with a notice
    at.run()
    assert at.number_input(key="coll_k").value == 3
    assert at.selectbox(key="coll_space").value == "oklab"
    assert at.number_input(key="coll_seed").value == 0
    at = upload(at, [(n, png(i)) for n, i in images.items()])
    assert not at.exception and not at.error
    assert at.subheader[0].value.startswith("Shared palette (k = 3, OKLab)")
    areas = at.dataframe[0].value
    expected = core.fit_collection(list(images.values()), 3, color_space="oklab")
    flower = core.apply(expected, images["flower.png"])
    np.testing.assert_allclose(areas["share"][:3], 100 * flower.shares, atol=1e-4)
    at.number_input(key="coll_k").set_value(4).run()
    assert at.query_params["coll_k"] == "4"
