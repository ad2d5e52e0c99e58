"""core.collection: one exact palette over many images, applied to each."""

from __future__ import annotations

import dataclasses
import json
import warnings

import numpy as np
import pytest
from helpers import small_photo
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import core
from core import collection
from core.collection import (
    CollectionModel,
    bands,
    executors,
    fit_collection,
    histograms,
    run,
    segment_collection,
    sources,
)
from core.results.segmentation import segment

Palette = CollectionModel


def apply_palette(image, model):
    """The deprecated core.apply_palette (same results as core.apply)."""
    with pytest.deprecated_call():
        return collection.apply_palette(image, model)


def old_palette_json(model: CollectionModel) -> str:
    """The palette.json kseg wrote before 0.2.0 ("kseg-palette" version 1), built by hand
    as core.collection.Palette.to_json wrote it."""
    data = {
        "format": "kseg-palette",
        "version": 1,
        **model.params,
        "centers": model.centers.tolist(),
        "palette": model.cluster_colors.tolist(),
        "hex": model.cluster_hex,
        "counts": model.counts.tolist(),
        "fractions": model.shares.tolist(),
        "inertia": model.wcss,
        "n_iter": model.n_iter,
        "converged": model.converged,
        "n_colors": model.n_colors,
        "n_images": model.n_images,
        "n_pixels": model.n_pixels,
        "band_mapping": None if model.band_mapping is None else model.band_mapping.to_dict(),
    }
    return json.dumps(data, indent=1)


def assert_same_palette(a: Palette, b: Palette) -> None:
    """Two fits of the same pixels: the same clusters; sums equal up to rounding (kernels
    or NumPy, thread counts)."""
    assert a.params == b.params
    assert a.hex_colors == b.hex_colors
    assert a.counts.tolist() == b.counts.tolist()
    np.testing.assert_allclose(a.centers, b.centers, rtol=1e-9, atol=1e-12)
    assert a.wcss == pytest.approx(b.wcss, rel=1e-9)


@pytest.fixture
def client():
    """A Dask client on an in-process cluster of two one-thread workers (closed after)."""
    distributed = pytest.importorskip("distributed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with (
            distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
            ) as cluster,
            distributed.Client(cluster) as dask_client,
        ):
            yield dask_client


@pytest.fixture(scope="module")
def trio() -> list[np.ndarray]:
    """Three small photos of different sizes (same width, so they stack into one image)."""
    a = small_photo("flower.jpg", 4)  # 106 x 160
    b = small_photo("china.jpg", 4)  # 106 x 160
    c = small_photo("china.jpg", 8)[:, :80]  # 53 x 80
    c = np.concatenate([c, small_photo("flower.jpg", 8)[:, :80]], axis=1)  # 53 x 160
    return [a, b, c]


@pytest.mark.parametrize("space", ["rgb", "hsv", "lab", "oklab"])
def test_fit_collection_is_segment_of_the_concatenation(trio, space):
    """The oracle: the summed histogram is the concatenation's, so the fit is the same."""
    whole = segment(np.concatenate(trio, axis=0), 6, color_space=space, seed=3)
    palette = fit_collection(trio, 6, color_space=space, seed=3)
    assert palette.wcss == pytest.approx(whole.wcss, rel=1e-12)
    np.testing.assert_allclose(palette.centers, whole.centers, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(palette.cluster_colors, whole.palette)
    np.testing.assert_array_equal(palette.counts, whole.counts)
    np.testing.assert_allclose(palette.shares, whole.shares)
    assert palette.n_colors == whole.n_colors
    assert palette.n_images == 3
    assert palette.n_pixels == sum(image.shape[0] * image.shape[1] for image in trio)


def test_clusters_are_numbered_by_collection_size(trio):
    palette = fit_collection(trio, 5)
    assert (np.diff(palette.counts) <= 0).all()
    assert palette.shares.sum() == pytest.approx(1.0)
    assert palette.counts.sum() == palette.n_pixels


@pytest.mark.parametrize("space", ["rgb", "lab"])
def test_segment_equals_apply_of_a_one_image_palette(space):
    """At a fixed point of Lloyd (tol=0) the two are the same result, label for label."""
    image = small_photo("flower.jpg", 4)
    expected = segment(image, 5, color_space=space, tol=0)
    result = apply_palette(image, fit_collection([image], 5, color_space=space, tol=0))
    np.testing.assert_array_equal(result.labels, expected.labels)
    np.testing.assert_array_equal(result.segmented, expected.segmented)
    np.testing.assert_array_equal(result.palette, expected.palette)
    np.testing.assert_array_equal(result.counts, expected.counts)
    np.testing.assert_allclose(result.centers, expected.centers, rtol=1e-14)
    assert result.wcss == pytest.approx(expected.wcss, rel=1e-12)


def test_apply_with_a_tolerance_labels_by_the_reported_centres():
    """With tol > 0, segment labels every pixel with its nearest final centre (a last
    assignment pass), as applying the fitted centres does: the same labels."""
    image = small_photo("china.jpg", 4)
    expected = segment(image, 5, color_space="lab")
    result = apply_palette(image, fit_collection([image], 5, color_space="lab"))
    np.testing.assert_allclose(result.centers, expected.centers, rtol=1e-14)
    np.testing.assert_array_equal(result.palette, expected.palette)
    np.testing.assert_array_equal(result.labels, expected.labels)
    assert result.wcss <= expected.wcss * (1 + 1e-12)


def test_apply_palette_keeps_the_clusters_meaning(blocks):
    palette = fit_collection([blocks], 4, color_space="rgb")
    # A different image of the same colours: cluster i must still be colour i.
    other = np.zeros((10, 10, 3), dtype=np.uint8)
    other[:, :5] = (240, 240, 240)
    other[:, 5:] = (201, 31, 29)
    result = apply_palette(other, palette)
    white = int(np.flatnonzero((palette.cluster_colors == (240, 240, 240)).all(axis=1))[0])
    red = int(np.flatnonzero((palette.cluster_colors == (200, 30, 30)).all(axis=1))[0])
    assert (result.labels[:, :5] == white).all()
    assert (result.labels[:, 5:] == red).all()
    assert result.counts.tolist() == [50 if i in (white, red) else 0 for i in range(4)]
    np.testing.assert_array_equal(result.palette, palette.cluster_colors)
    # 50 pixels off by (1, 1, 1) / 255 from the red centre.
    assert result.wcss == pytest.approx(50 * 3 / 255**2, rel=1e-9)


def test_apply_palette_wcss_is_exact(blocks):
    palette = fit_collection([blocks], 2, color_space="rgb")
    result = apply_palette(blocks, palette)
    pixels = blocks.reshape(-1, 3) / 255.0
    centers = np.asarray(palette.centers)
    expected = ((pixels - centers[result.labels.ravel()]) ** 2).sum()
    assert result.wcss == pytest.approx(expected, rel=1e-9)


def test_palette_is_immutable_and_round_trips_through_json(trio):
    palette = fit_collection(trio, 4, color_space="oklab", seed=7)
    with pytest.raises(dataclasses.FrozenInstanceError):
        palette.k = 5  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        palette.centers[0, 0] = 1.0
    again = Palette.from_json(palette.to_json())
    assert again == palette
    np.testing.assert_array_equal(again.centers, palette.centers)  # bit for bit
    assert again.params == palette.params
    assert again.hex_colors == palette.hex_colors
    for image in trio:
        np.testing.assert_array_equal(
            apply_palette(image, again).labels, apply_palette(image, palette).labels
        )


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("not json", "not valid JSON"),
        ('{"a": 1}', "not a kseg class model"),
        ('{"format": "kseg-palette", "version": 9}', "version 9"),
        ('{"format": "kseg-palette", "version": 1, "k": 2}', "no 'centers' field"),
    ],
)
def test_palette_from_json_refuses_what_is_not_a_palette(text, match):
    with pytest.raises(ValueError, match=match):
        Palette.from_json(text)


def test_palette_from_json_refuses_inconsistent_shapes(blocks):
    data = json.loads(old_palette_json(fit_collection([blocks], 3)))
    data["centers"] = data["centers"][:2]
    with pytest.raises(ValueError, match="inconsistent"):
        Palette.from_json(json.dumps(data))
    data = json.loads(old_palette_json(fit_collection([blocks], 3)))
    data["color_space"] = "cmyk"
    with pytest.raises(ValueError, match="malformed"):
        Palette.from_json(json.dumps(data))
    data = json.loads(fit_collection([blocks], 3).to_json())
    data["fit"]["counts"] = [1, 2]
    with pytest.raises(ValueError, match="counts"):
        Palette.from_json(json.dumps(data))


def test_an_old_palette_json_loads_as_the_same_model(trio):
    """A palette.json written before 0.2.0 ("kseg-palette" v1, lab centres in (a*, b*, L*)
    order) loads as the model it was: same centres, colours, record; the same labels."""
    model = fit_collection(trio, 4, color_space="lab", seed=3)
    text = old_palette_json(model)
    assert json.loads(text)["format"] == "kseg-palette"
    again = CollectionModel.from_json(text)
    assert again == model
    assert again.axes == ("a*", "b*", "L*")
    plain = core.ClassModel.from_json(text)  # the library's own reader agrees
    np.testing.assert_array_equal(plain.centers, model.centers)
    for image in trio:
        np.testing.assert_array_equal(
            core.apply(plain, image).labels, core.apply(model, image).labels
        )


def test_fit_collection_reads_paths_bytes_and_named_images(tmp_path, trio):
    path = tmp_path / "a.png"
    Image.fromarray(trio[0]).save(path)
    buffer = path.read_bytes()
    from_arrays = fit_collection(trio[:2], 4)
    assert_same_palette(fit_collection([path, trio[1]], 4), from_arrays)
    assert_same_palette(fit_collection({"a.png": buffer, "b": trio[1]}, 4), from_arrays)


def test_fit_collection_errors(tmp_path, trio):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image at all")
    with pytest.raises(core.ImageError, match=r"bad\.png"):
        fit_collection([trio[0], bad], 3)
    assert_same_palette(
        fit_collection([trio[0], bad], 3, errors="skip"), fit_collection([trio[0]], 3)
    )
    with pytest.raises(core.ImageError, match=r"bad\.png.*1 more"):
        fit_collection([bad, tmp_path / "missing.png"], 3, errors="skip")
    with pytest.raises(ValueError, match="k must be a positive integer"):
        fit_collection(trio, 0)
    with pytest.raises(ValueError, match="Unknown colour space"):
        fit_collection(trio, 3, color_space="cmyk")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="errors must be"):
        fit_collection(trio, 3, errors="ignore")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty"):
        fit_collection([], 3)
    with pytest.raises(TypeError, match="wrap one image in a list"):
        fit_collection(trio[0], 3)
    with pytest.raises(TypeError, match="Client"):
        fit_collection(trio, 3, client=object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="more than the number of pixels"):
        fit_collection([np.zeros((1, 2, 3), np.uint8)], 3)


def test_fewer_colours_than_k_warns(blocks):
    with pytest.warns(UserWarning, match="only 4 distinct colour"):
        palette = fit_collection([blocks, blocks], 6)
    assert (palette.counts[4:] == 0).all()


def test_fit_collection_reports_progress(trio):
    calls = []
    fit_collection(trio, 3, progress=lambda *a: calls.append(a))
    assert calls == [("histograms", 1, 3), ("histograms", 2, 3), ("histograms", 3, 3)]


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        # Small ids too, so that parts share colours (what a merge has to add up).
        st.lists(
            st.integers(0, 40) | st.integers(0, (1 << 24) - 1), min_size=0, max_size=40, unique=True
        ),
        min_size=1,
        max_size=6,
    ),
    st.booleans(),
)
def test_merge_histograms_sums_counts(id_lists, dense):
    """Sparse and dense merges agree with a plain dictionary sum, whatever the grouping."""
    rng = np.random.default_rng(len(id_lists))
    parts, expected = [], {}
    for i, ids in enumerate(id_lists):
        ids_array = np.array(sorted(ids), dtype=np.uint32)
        counts = rng.integers(1, 1000, size=ids_array.shape[0]).astype(np.uint32)
        parts.append(histograms.Histogram(ids_array, counts, (sources.ImageInfo(i, 1, 1),)))
        for key, count in zip(ids_array.tolist(), counts.tolist(), strict=True):
            expected[key] = expected.get(key, 0) + count
    threshold = histograms._DENSE_ABOVE
    try:
        histograms._DENSE_ABOVE = -1 if dense else threshold
        merged = collection.merge_histograms(*parts)
    finally:
        histograms._DENSE_ABOVE = threshold
    assert merged.ids.tolist() == sorted(expected)
    assert merged.counts.tolist() == [expected[key] for key in sorted(expected)]
    assert [info.index for info in merged.infos] == list(range(len(id_lists)))


def test_segment_collection_table(tmp_path, trio):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    sources = {"a": trio[0], "broken.jpg": str(bad), "c": trio[2]}
    result = segment_collection(sources, 4, pixel_size=10.0)
    assert [row.file for row in result.rows] == ["a", "broken.jpg", "c"]
    assert [row.ok for row in result.rows] == [True, False, True]
    assert "broken.jpg" in result.errors[0].error
    expected = fit_collection([trio[0], trio[2]], 4)
    assert_same_palette(result.palette, expected)
    for row, image in zip(result.ok, (trio[0], trio[2]), strict=True):
        seg = apply_palette(image, expected)
        assert row.counts == tuple(seg.counts.tolist())
        assert (row.width, row.height) == (image.shape[1], image.shape[0])
        assert sum(row.shares) == pytest.approx(1.0)
        assert row.hex_colors == tuple(expected.hex_colors)
    records = result.areas()
    assert len(records) == 2 * 4
    first = records[0]
    assert first["area_m2"] == pytest.approx(first["pixels"] * 100.0)
    assert first["area_ha"] == pytest.approx(first["pixels"] * 100.0 / 10_000)
    header = "file,class,name,hex,pixels,share,area_m2,area_ha,area_basis"
    assert result.areas_csv().splitlines()[0] == header
    assert first["area_basis"] == "pixel size"
    assert "e-" not in result.areas_csv()  # plain decimals, never 4.3e-05
    assert result.errors_csv().splitlines()[1].startswith("broken.jpg,")


def test_segment_collection_with_a_kept_palette_does_not_fit(trio, monkeypatch):
    palette = fit_collection(trio[:1], 3)
    monkeypatch.setattr(run, "fit_palette", None)  # any fit would fail
    result = segment_collection(trio, palette)
    assert result.palette is palette
    for row, image in zip(result.rows, trio, strict=True):
        assert row.counts == tuple(apply_palette(image, palette).counts.tolist())


def test_segment_collection_per_image(trio):
    result = segment_collection(trio, 3, per_image=True, color_space="rgb")
    assert result.palette is None
    for row, image in zip(result.rows, trio, strict=True):
        own = segment(image, 3, color_space="rgb")
        assert row.counts == tuple(own.counts.tolist())
        assert row.hex_colors == tuple(own.hex_colors)


def test_segment_collection_writes_outputs_and_resumes(tmp_path, trio):
    out = tmp_path / "out"
    sources = {"a.png": trio[0], "b.png": trio[1]}
    first = segment_collection(sources, 3, out=out, masks=True)
    row = first.rows[0]
    with Image.open(row.outputs["labels"]) as labels:
        assert labels.mode == "P"
        colors = np.array(labels.getpalette()[: 3 * 3]).reshape(3, 3)
        seg = apply_palette(trio[0], first.palette)
        np.testing.assert_array_equal(np.asarray(labels), seg.labels)
    np.testing.assert_array_equal(colors, first.palette.cluster_colors)
    with Image.open(row.outputs["segmented"]) as painted:
        np.testing.assert_array_equal(np.asarray(painted), seg.segmented)
    with Image.open(out / "masks" / "a" / "mask_01.png") as mask:
        np.testing.assert_array_equal(np.asarray(mask) == 255, seg.labels == 1)
    # Resume with the same palette: nothing is read again (the sources are now garbage).
    again = segment_collection(
        {"a.png": b"gone", "b.png": b"gone"}, first.palette, out=out, masks=True, resume=True
    )
    assert [r.counts for r in again.rows] == [r.counts for r in first.rows]
    # Another palette: the kept rows do not apply, the images are read (and fail here).
    other = fit_collection(trio, 4)
    redone = segment_collection({"a.png": b"gone"}, other, out=out, resume=True)
    assert not redone.rows[0].ok


def test_segment_collection_validates(trio):
    with pytest.raises(ValueError, match="per_image=True"):
        segment_collection(trio, fit_collection(trio, 2), per_image=True)
    with pytest.raises(ValueError, match="pixel_size"):
        segment_collection(trio, 3, pixel_size=0)
    with pytest.raises(TypeError, match="ClassModel"):
        segment_collection(trio, "six")  # type: ignore[arg-type]


def test_segment_collection_all_unreadable(tmp_path):
    result = segment_collection([tmp_path / "x.png", tmp_path / "y.png"], 3)
    assert result.palette is None
    assert len(result.errors) == 2
    assert "not found" in result.errors[0].error


def test_same_results_on_a_threaded_dask_client(trio, client):
    """In-memory images on a client are scattered to workers; the results do not change."""
    on_dask = segment_collection({f"{i}": im for i, im in enumerate(trio)}, 4, client=client)
    palette = fit_collection(trio, 4, client=client)
    here = segment_collection({f"{i}": im for i, im in enumerate(trio)}, 4)
    assert_same_palette(on_dask.palette, here.palette)
    assert_same_palette(palette, here.palette)
    assert on_dask.rows == tuple(
        dataclasses.replace(r, elapsed=o.elapsed)
        for r, o in zip(here.rows, on_dask.rows, strict=True)
    )


def test_histograms_in_chunks_on_dask_match_one_per_image(tmp_path, client):
    """On a cluster, a task sums a few images' histograms: the same palette, rows and
    errors as one image at a time, and progress still counts every image."""
    rng = np.random.default_rng(5)
    sources: dict[str, object] = {}
    for i in range(22):
        image = rng.integers(0, 256, (12, 20, 3), dtype=np.uint8)
        image[:, :10] = (i * 11) % 256  # a block shared by many images
        if i % 2:
            path = tmp_path / f"{i:02d}.png"
            Image.fromarray(image).save(path)
            sources[f"{i:02d}"] = str(path)
        else:
            sources[f"{i:02d}"] = image
    sources["07"] = b"not an image"  # an error inside a chunk
    executor = executors.make_executor(client)
    assert executor.chunk_size(len(sources)) > 1
    seen: list[tuple[str, int, int]] = []
    on_dask = segment_collection(
        sources, 5, client=client, progress=lambda *step: seen.append(step)
    )
    here = segment_collection(sources, 5)
    assert_same_palette(on_dask.palette, here.palette)
    assert [row.error for row in on_dask.rows] == [row.error for row in here.rows]
    assert [row.counts for row in on_dask.rows] == [row.counts for row in here.rows]
    assert on_dask.rows[7].error is not None
    assert [done for stage, done, total in seen if stage == "histograms"][-1] == 22
    colors, counts = collection.collection_histogram(sources, client=client)
    assert int(counts.sum()) == 21 * 12 * 20
    assert colors.shape[0] == len(np.unique(colors, axis=0))


def test_local_client_refuses_to_start_in_a_spawned_child(monkeypatch):
    class Child:
        name = "SpawnProcess-1"

    monkeypatch.setattr(executors.multiprocessing, "parent_process", lambda: Child())
    monkeypatch.setattr(executors.multiprocessing, "current_process", lambda: Child())
    with (
        pytest.raises(RuntimeError, match="if __name__ == "),
        collection.local_client(1),
    ):
        pass


def test_collection_histogram_is_the_concatenations(trio):
    colors, counts = collection.collection_histogram(trio)
    stacked = np.concatenate(trio, axis=0).reshape(-1, 3)
    expected, expected_counts = np.unique(stacked, axis=0, return_counts=True)
    order = np.lexsort(colors.T[::-1])
    np.testing.assert_array_equal(colors[order], expected)
    np.testing.assert_array_equal(counts[order], expected_counts)


def test_images_from_zip_and_outputs_zip(tmp_path, trio):
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("tiles/a.PNG", b"png bytes")
        archive.writestr("tiles/.hidden.png", b"x")
        archive.writestr("__MACOSX/tiles/._a.png", b"x")
        archive.writestr("notes.txt", b"x")
    assert collection.images_from_zip(buffer.getvalue()) == {"tiles/a.PNG": b"png bytes"}
    with pytest.raises(core.ImageError, match="not a ZIP file"):
        collection.images_from_zip(b"PK garbage", name="x.zip")
    empty = io.BytesIO()
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("notes.txt", b"x")
    with pytest.raises(core.ImageError, match="holds no image files"):
        collection.images_from_zip(empty.getvalue(), name="x.zip")
    out = tmp_path / "out"
    segment_collection({"a.png": trio[0]}, 3, out=out)
    with zipfile.ZipFile(io.BytesIO(collection.outputs_zip(out))) as archive:
        assert sorted(archive.namelist()) == ["labels/a.png", "segmented/a.png"]


# --- GeoTIFF collections: one band mapping for every tile --------------------------------

#: Reflectances (uint16, per band) of three land covers: shadow, water, field.
_COVERS = {"shadow": (90, 110, 100), "water": (700, 800, 900), "field": (1500, 1700, 1400)}


def _tile(layout: dict[str, int], seed: int, width: int = 30) -> np.ndarray:
    """(3, H, W) uint16: one cover per block of rows, `layout[cover]` rows each, a little noise."""
    rng = np.random.default_rng(seed)
    blocks = [np.tile(np.array(_COVERS[cover])[:, None, None], (1, rows, width))
              for cover, rows in layout.items()]  # fmt: skip
    data = np.concatenate(blocks, axis=1) + rng.integers(-15, 16, (3, sum(layout.values()), width))
    return data.astype(np.uint16)


@pytest.fixture
def water_tiles(tmp_path):
    """Two uint16 tiles with different value ranges and the same water: `dark` is mostly
    water (with some field), `bright` has shadow, water and field."""
    from helpers import write_tif

    dark = write_tif(tmp_path / "dark.tif", _tile({"water": 14, "field": 6}, 0))
    bright = write_tif(tmp_path / "bright.tif", _tile({"shadow": 6, "water": 6, "field": 8}, 1))
    return dark, bright


def _label_tif(path) -> np.ndarray:
    import rasterio

    with rasterio.open(path) as labels:
        return labels.read(1)


def test_water_is_one_cluster_in_every_tile_of_a_uint16_collection(water_tiles, tmp_path):
    """The point of a shared palette: the same reflectance is the same class everywhere.
    A 2–98 % stretch per tile paints the dark tile's water like the bright tile's shadow."""
    result = segment_collection(list(water_tiles), 3, out=tmp_path / "out")
    dark = _label_tif(tmp_path / "out" / "labels" / "dark.tif")
    bright = _label_tif(tmp_path / "out" / "labels" / "bright.tif")
    water = set(np.unique(dark[:14]).tolist()) | set(np.unique(bright[6:12]).tolist())
    field = set(np.unique(dark[14:]).tolist()) | set(np.unique(bright[12:]).tolist())
    shadow = set(np.unique(bright[:6]).tolist())
    assert len(water) == len(field) == len(shadow) == 1
    assert len(water | field | shadow) == 3
    assert result.palette is not None and result.palette.band_mapping is not None


def _valid_bands(path) -> np.ndarray:
    """(n, 3) float64 values of a raster's RGB bands at its valid pixels."""
    raster = core.open_raster(path)
    return raster.data[:3][:, raster.valid].T.astype(np.float64)


def test_the_band_mapping_is_2_to_98_percent_of_the_pooled_pixels(water_tiles):
    """Oracle: tiles this small are read whole and sampled whole, so the bounds are the
    percentiles of every valid pixel of the collection."""
    mapping = fit_collection(list(water_tiles), 3).band_mapping
    assert mapping is not None
    pooled = np.concatenate([_valid_bands(path) for path in water_tiles])
    low, high = np.percentile(pooled, [2, 98], axis=0, method="inverted_cdf")
    assert mapping.low == tuple(low.tolist()) and mapping.high == tuple(high.tolist())
    assert (mapping.bands, mapping.dtype) == ((0, 1, 2), "uint16")


def test_the_band_sample_is_bounded_and_seeded(water_tiles, monkeypatch):
    """Each raster is read decimated and sends at most `size` pixels, the same each time;
    pooled samples weigh each raster by its valid pixels, not by its sample's size."""
    monkeypatch.setattr(bands, "_SAMPLE_READ", 150)  # a 20 x 30 tile is read at 1/2
    source = sources.as_sources([water_tiles[0]], None)[0]
    sample = bands._band_sample(source, None, 40, 7)
    again = bands._band_sample(source, None, 40, 7)
    assert sample is not None and again is not None
    assert sample.values.shape == (40, 3) and sample.values.dtype == np.uint16
    np.testing.assert_array_equal(sample.values, again.values)
    assert sample.weight == pytest.approx(20 * 30 / 40)
    other = bands._band_sample(source, None, 40, 8)
    assert other is not None and not np.array_equal(other.values, sample.values)


def test_uint8_tiles_are_clustered_on_their_raw_values(tmp_path):
    """Oracle: an 8-bit tile (a narrow range a stretch would widen) fits exactly as
    segment() on the same bands as an (H, W, 3) array; no band mapping is needed."""
    from helpers import write_tif

    rng = np.random.default_rng(3)
    bands = rng.integers(100, 140, (3, 24, 32)).astype(np.uint8)
    bands[:, :, :10] += 60
    path = write_tif(tmp_path / "aerial.tif", bands)
    palette = fit_collection([path], 4, seed=2)
    assert palette.band_mapping is None
    whole = segment(np.moveaxis(bands, 0, 2), 4, seed=2)
    assert palette.wcss == pytest.approx(whole.wcss, rel=1e-12)
    np.testing.assert_allclose(palette.centers, whole.centers, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(palette.cluster_colors, whole.palette)
    np.testing.assert_array_equal(palette.counts, whole.counts)


def test_a_kept_palette_maps_a_new_tile_as_the_fit_did(water_tiles, tmp_path):
    """The mapping survives palette.json, and apply_palette / segment_collection use it:
    a new tile of water and field only (another value range) gets the fit's water class."""
    from helpers import write_tif

    fitted = segment_collection(list(water_tiles), 3, out=tmp_path / "fit")
    water_class = int(_label_tif(tmp_path / "fit" / "labels" / "dark.tif")[0, 0])
    field_class = int(_label_tif(tmp_path / "fit" / "labels" / "dark.tif")[-1, 0])
    kept = Palette.from_json(fitted.palette.to_json())
    assert kept == fitted.palette and kept.band_mapping == fitted.palette.band_mapping
    new = write_tif(tmp_path / "new.tif", _tile({"water": 3, "field": 17}, 5))
    seg = apply_palette(new, kept)
    assert set(np.unique(seg.labels[:3]).tolist()) == {water_class}
    assert set(np.unique(seg.labels[3:]).tolist()) == {field_class}
    # The same as labelling the tile's bands mapped with the kept bounds, by hand.
    from core.inputs.display import stretch_rgb

    assert kept.band_mapping is not None
    by_hand = stretch_rgb(core.open_raster(new), bounds=kept.band_mapping.bounds)
    np.testing.assert_array_equal(seg.labels, apply_palette(by_hand, kept).labels)
    applied = segment_collection([new], kept, out=tmp_path / "apply")
    np.testing.assert_array_equal(_label_tif(tmp_path / "apply" / "labels" / "new.tif"), seg.labels)
    assert applied.rows[0].counts == tuple(seg.counts.tolist())


def test_apply_palette_on_a_file_leaves_no_data_out(water_tiles, tmp_path):
    from helpers import write_tif

    palette = fit_collection(list(water_tiles), 3)
    data = _tile({"water": 10, "field": 10}, 6)
    data[:, :2] = 0
    seg = apply_palette(write_tif(tmp_path / "holes.tif", data, nodata=0), palette)
    assert (seg.labels[:2] == -1).all() and (seg.labels[2:] >= 0).all()
    assert int(seg.counts.sum()) == 18 * 30


def test_a_palette_file_without_a_band_mapping_still_loads(trio):
    """Palettes written before band mappings existed: they load, with no mapping."""
    palette = fit_collection(trio, 3)
    data = json.loads(old_palette_json(palette))
    assert data["band_mapping"] is None  # photos only: nothing to map
    del data["band_mapping"]
    old = Palette.from_json(json.dumps(data))
    assert old.band_mapping is None and old == palette


def test_a_malformed_band_mapping_is_refused(water_tiles):
    data = json.loads(old_palette_json(fit_collection(list(water_tiles), 3)))
    data["band_mapping"]["low"] = [1.0, "x", 2.0]
    with pytest.raises(ValueError, match="malformed"):
        Palette.from_json(json.dumps(data))
    data = json.loads(fit_collection(list(water_tiles), 3).to_json())
    data["fit"]["band_mapping"]["low"] = [1.0, "x", 2.0]
    with pytest.raises(ValueError, match="malformed"):
        Palette.from_json(json.dumps(data))


def test_the_band_mapping_is_the_same_on_dask(water_tiles, client):
    on_dask = fit_collection([str(p) for p in water_tiles], 3, client=client)
    assert on_dask == fit_collection([str(p) for p in water_tiles], 3)
    assert on_dask.band_mapping is not None


def test_a_decimated_band_sample_keeps_the_spread_of_the_values(tmp_path, monkeypatch):
    """Read at 1/3 resolution, a noisy raster's bounds stay near its full-resolution 2–98 %
    (an average of 3 x 3 pixels would pull them towards the mean: about 1 700–3 300)."""
    from helpers import write_tif

    monkeypatch.setattr(bands, "_SAMPLE_READ", 400)
    data = np.random.default_rng(9).integers(0, 5000, (3, 60, 60)).astype(np.uint16)
    mapping = fit_collection([write_tif(tmp_path / "noise.tif", data)], 2).band_mapping
    assert mapping is not None
    low, high = np.percentile(data.reshape(3, -1), [2, 98], axis=1)
    np.testing.assert_allclose(mapping.low, low, atol=150)
    np.testing.assert_allclose(mapping.high, high, atol=150)


def test_a_mixed_collection_maps_only_its_deeper_rasters(water_tiles, tmp_path):
    """Photos and 8-bit tiles as they are, uint16 tiles through the mapping (measured on
    them alone); a palette without a mapping shows a uint16 tile with its own stretch."""
    from helpers import png, write_tif

    photo = small_photo("china.jpg", 8)[:20, :30]
    byte = np.moveaxis(photo, 2, 0).copy()
    sources = {
        "photo.png": png(photo),
        "byte.tif": write_tif(tmp_path / "byte.tif", byte).read_bytes(),
        **{p.name: p.read_bytes() for p in water_tiles},
    }
    mixed = fit_collection(sources, 4)
    assert mixed.band_mapping == fit_collection(list(water_tiles), 4).band_mapping
    assert mixed.n_images == 4 and mixed.n_pixels == 4 * 20 * 30
    for name in ("photo.png", "byte.tif"):  # the same pixels as the photo's array
        np.testing.assert_array_equal(
            apply_palette(sources[name], mixed).labels, apply_palette(photo, mixed).labels
        )
    photos_only = fit_collection([photo], 4)
    assert photos_only.band_mapping is None
    own_stretch = core.open_image(water_tiles[0]).rgb
    np.testing.assert_array_equal(
        apply_palette(water_tiles[0], photos_only).labels,
        apply_palette(own_stretch, photos_only).labels,
    )
