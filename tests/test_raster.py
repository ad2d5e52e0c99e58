"""core.inputs.raster: GeoTIFFs made here with rasterio (UTM 10 m; EPSG:4326 at two latitudes)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import rasterio
from affine import Affine
from helpers import ROOT, UTM, write_tif
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image
from rasterio.crs import CRS

from core.errors import ImageError
from core.features.bands import raster_features, spectral_index
from core.formats.geotiff import label_geotiff, rgb_geotiff
from core.formats.vectors import polygons_json
from core.inputs.display import band_positions, stretch_rgb
from core.inputs.raster import (
    LABEL_NODATA,
    GeoReference,
    class_areas,
    ellipsoid_zone_area,
    is_georeferenced,
    open_raster,
)
from core.results.raster_cleanup import class_polygons, majority_filter, sieve_labels

WGS84_A, WGS84_F = 6378137.0, 1 / 298.257223563


def scene(height=40, width=50, seed=0):
    """4 bands uint16 (blue, green, red, nir): water left, vegetation right, no-data border."""
    rng = np.random.default_rng(seed)
    data = np.empty((4, height, width), dtype=np.uint16)
    water = np.array([900, 1100, 700, 300])
    trees = np.array([400, 800, 500, 4000])
    for b in range(4):
        data[b, :, : width // 2] = water[b]
        data[b, :, width // 2 :] = trees[b]
    data = (data + rng.integers(0, 50, data.shape)).astype(np.uint16)
    data[:, :3, :] = 0  # no-data rows on top
    return data


NAMES = ["blue", "green", "red", "nir"]


@pytest.fixture
def utm_tif(tmp_path):
    return write_tif(tmp_path / "utm.tif", scene(), nodata=0, names=NAMES)


def zone_oracle(lat1, lat2, a=WGS84_A, f=WGS84_F, n=2001):
    """∫ M(φ) N(φ) cos φ dφ by Simpson's rule: the ellipsoid's area element per radian."""
    e2 = f * (2 - f)
    phi = np.linspace(lat1, lat2, n)
    s = np.sin(phi)
    m = a * (1 - e2) / (1 - e2 * s * s) ** 1.5
    nn = a / np.sqrt(1 - e2 * s * s)
    y = m * nn * np.cos(phi)
    h = (lat2 - lat1) / (n - 1)
    return h / 3 * (y[0] + y[-1] + 4 * y[1:-1:2].sum() + 2 * y[2:-1:2].sum())


# --- reading ---------------------------------------------------------------------------


def test_open_keeps_crs_transform_nodata_bands_and_dtype(utm_tif):
    raster = open_raster(utm_tif)
    assert raster.geo.crs == CRS.from_epsg(32633)
    assert raster.geo.transform == UTM
    assert raster.nodata == 0
    assert raster.dtype == "uint16" and raster.data.dtype == np.uint16
    assert raster.data.shape == (4, 40, 50)
    assert raster.band_names == tuple(NAMES)
    assert raster.geo.crs_name == "EPSG:32633"
    assert raster.geo.pixel_size == (10.0, 10.0)
    assert raster.geo.pixel_size_text == "10 × 10 m"
    assert not raster.valid[:3].any() and raster.valid[3:].all()
    assert raster.reduced_by == 1.0 and raster.note is None
    np.testing.assert_array_equal(raster.data, scene())


def test_open_from_bytes_and_file_object(utm_tif):
    data = utm_tif.read_bytes()
    from_bytes = open_raster(data)
    with open(utm_tif, "rb") as file:
        from_file = open_raster(file)
    for raster in (from_bytes, from_file):
        assert raster.geo.transform == UTM
        np.testing.assert_array_equal(raster.data, scene())
    assert from_file.name == "utm.tif"


def test_is_georeferenced(utm_tif, tmp_path):
    assert is_georeferenced(utm_tif)
    assert is_georeferenced(utm_tif.read_bytes())
    plain = tmp_path / "plain.tif"
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(plain)  # an ordinary TIFF
    assert not is_georeferenced(plain)
    assert not is_georeferenced(b"\x89PNG\r\n\x1a\n" + bytes(20))
    assert not is_georeferenced(b"II*\x00garbage")


def test_float_nan_is_invalid(tmp_path):
    data = np.ones((2, 5, 6), dtype=np.float32)
    data[1, 2, 3] = np.nan
    raster = open_raster(write_tif(tmp_path / "f.tif", data))
    assert raster.dtype == "float32"
    assert raster.valid.sum() == 29 and not raster.valid[2, 3]


def test_truncated_file_is_a_clear_error(utm_tif, tmp_path):
    data = utm_tif.read_bytes()
    broken = tmp_path / "broken.tif"
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match=r"'broken\.tif' is truncated or damaged"):
        open_raster(broken)
    with pytest.raises(ImageError, match="truncated or damaged"):
        open_raster(data[: len(data) // 2])


def test_not_a_raster_missing_and_empty(tmp_path):
    text = tmp_path / "notes.tif"
    text.write_text("hello, not a tiff")
    with pytest.raises(ImageError, match=r"'notes\.tif' is not a raster kseg can read"):
        open_raster(text)
    with pytest.raises(ImageError, match="was not found"):
        open_raster(tmp_path / "missing.tif")
    with pytest.raises(ImageError, match="empty"):
        open_raster(b"")
    with pytest.raises(TypeError, match="path, bytes or a binary file"):
        open_raster(3.5)  # type: ignore[arg-type]


def test_wrong_crs_latitude_beyond_90_is_a_clear_error(tmp_path):
    # UTM-like metre coordinates written with EPSG:4326: rows at "latitude" 4,200,000.
    path = write_tif(tmp_path / "wrong.tif", scene(), crs="EPSG:4326")
    with pytest.raises(ImageError, match=r"beyond ±90°.*EPSG:4326.*gdal_edit"):
        open_raster(path)


def test_over_the_cap_reads_reduced_with_a_note(utm_tif):
    raster = open_raster(utm_tif, max_pixels=500)
    assert raster.n_pixels <= 500
    assert raster.reduced_by == 2.0
    assert raster.data.shape == (4, 20, 25)
    assert raster.source_shape == (40, 50)
    assert "1/2 resolution" in raster.note and "gdal_translate" in raster.note
    # The transform spans the same ground: the scene's corners are unchanged.
    t = raster.geo.transform
    assert t @ (0, 0) == UTM @ (0, 0)
    assert t @ (25, 20) == pytest.approx(UTM @ (50, 40))
    assert raster.dtype == "uint16"


def test_over_the_cap_can_refuse(utm_tif):
    with pytest.raises(ImageError, match=r"over the limit of 500.*gdal_translate -outsize"):
        open_raster(utm_tif, max_pixels=500, on_large="error")
    with pytest.raises(ValueError, match="max_pixels"):
        open_raster(utm_tif, max_pixels=0)
    with pytest.raises(ValueError, match="on_large"):
        open_raster(utm_tif, on_large="crop")  # type: ignore[arg-type]


def test_window_read(utm_tif):
    raster = open_raster(utm_tif, window=(5, 10, 20, 30))
    assert raster.data.shape == (4, 20, 30)
    np.testing.assert_array_equal(raster.data, scene()[:, 5:25, 10:40])
    assert raster.geo.transform @ (0, 0) == UTM @ (10, 5)
    with pytest.raises(ImageError, match="does not fit"):
        open_raster(utm_tif, window=(30, 0, 20, 10))


def test_overviews_are_used_for_reduced_reads(tmp_path):
    path = write_tif(tmp_path / "cog.tif", scene(64, 64), nodata=0, tiled=True,
                     blockxsize=16, blockysize=16)  # fmt: skip
    with rasterio.open(path, "r+") as dst:
        dst.build_overviews([2, 4])
    raster = open_raster(path, max_pixels=32 * 32)
    assert raster.data.shape == (4, 32, 32)
    assert "overviews" in raster.note


# --- areas -------------------------------------------------------------------------------


def test_utm_area_is_pixels_times_100_m2(utm_tif):
    raster = open_raster(utm_tif)
    rows = raster.row_areas()
    np.testing.assert_array_equal(rows, np.full(40, 100.0))
    assert raster.valid_area_m2(basis="plane") == raster.n_valid * 100.0
    # On the ellipsoid a UTM pixel differs from its plane area by the scale factor only.
    assert raster.valid_area_m2() == pytest.approx(raster.n_valid * 100.0, rel=2e-3)
    labels = np.where(raster.valid, (np.arange(50) >= 25)[None, :].astype(int), -1)
    np.testing.assert_allclose(class_areas(labels, rows, 2), [37 * 25 * 100.0] * 2)


def test_projected_area_uses_the_linear_unit():
    # EPSG:2229 (California zone 5) is in US survey feet: 1 ft = 1200/3937 m.
    geo = GeoReference(CRS.from_epsg(2229), Affine(3.0, 0, 6.4e6, 0, -3.0, 1.9e6))
    foot = 1200 / 3937
    np.testing.assert_allclose(geo.row_areas(2), [9 * foot**2] * 2, rtol=1e-12)


def test_zone_area_formula_matches_integration_and_globe():
    for lat1, lat2 in [(0.0, 0.01), (1.0, 1.0001), (-0.7, 0.3)]:
        got = ellipsoid_zone_area(np.array(lat2), WGS84_A, WGS84_F) - ellipsoid_zone_area(
            np.array(lat1), WGS84_A, WGS84_F
        )
        assert got == pytest.approx(zone_oracle(lat1, lat2), rel=1e-9)
    # The whole WGS 84 ellipsoid: 510,065,621.72 km² (a published figure).
    total = 2 * math.pi * 2 * float(ellipsoid_zone_area(np.array(math.pi / 2), WGS84_A, WGS84_F))
    assert total / 1e6 == pytest.approx(510_065_621.72, rel=1e-9)
    # A sphere: 4πR².
    assert 4 * math.pi * ellipsoid_zone_area(np.array(math.pi / 2), 1.0, 0.0) == pytest.approx(
        4 * math.pi
    )


@pytest.mark.parametrize("top_lat", [0.05, 60.05])
def test_geographic_rows_have_their_true_area(tmp_path, top_lat):
    res = 0.001  # degrees: about 111 m × 111 m at the equator
    transform = Affine(res, 0, 10.0, 0, -res, top_lat)
    path = write_tif(tmp_path / "geo.tif", scene(50, 40), crs="EPSG:4326", transform=transform)
    raster = open_raster(path)
    rows = raster.row_areas()
    edges = np.radians(top_lat - res * np.arange(51))
    oracle = np.array([zone_oracle(edges[i + 1], edges[i]) for i in range(50)]) * math.radians(res)
    np.testing.assert_allclose(rows, oracle, rtol=1e-9)
    # Pixels shrink with latitude: about cos φ of the equator's (within the flattening).
    equator_cell = zone_oracle(0.0, math.radians(res)) * math.radians(res)
    ratio = rows[25] / equator_cell
    assert ratio == pytest.approx(math.cos(math.radians(top_lat - 0.025)), rel=0.015)
    assert rows[0] < rows[-1] if top_lat > 1 else True  # rows nearer the pole are smaller
    # Not degrees × a constant: the 60° rows are half the equator's.
    if top_lat > 1:
        assert 0.49 < ratio < 0.51


def test_no_crs_means_unknown_area(tmp_path):
    path = write_tif(tmp_path / "nocrs.tif", scene(10, 10), crs=None)
    raster = open_raster(path)
    assert raster.geo.crs is None and raster.row_areas() is None
    assert raster.valid_area_m2() is None


# --- bands, indices, features, display ------------------------------------------------------


def test_band_positions(utm_tif):
    raster = open_raster(utm_tif)
    assert band_positions(raster, None) == [0, 1, 2, 3]
    assert band_positions(raster, ["NIR", 2, "Red"]) == [3, 2, 2]
    assert band_positions(raster, "near-infrared") == [3]
    with pytest.raises(ValueError, match=r"Band 7 does not exist.*0 to 3.*blue, green"):
        band_positions(raster, [7])
    with pytest.raises(ValueError, match="No band is called 'swir'"):
        band_positions(raster, ["swir"])


def test_ndvi_and_ndwi_by_formula(utm_tif):
    raster = open_raster(utm_tif)
    data = raster.data.astype(np.float64)
    _, green, red, nir = data
    with np.errstate(invalid="ignore", divide="ignore"):
        ndvi = np.where(nir + red > 0, (nir - red) / (nir + red), 0)
        ndwi = np.where(green + nir > 0, (green - nir) / (green + nir), 0)
    np.testing.assert_allclose(spectral_index(raster, "ndvi"), ndvi, atol=1e-6)
    np.testing.assert_allclose(spectral_index(raster, "NDWI"), ndwi, atol=1e-6)
    assert spectral_index(raster, "ndvi")[:3].max() == 0  # no-data: 0/0 → 0
    assert spectral_index(raster, "ndvi")[10, 40] > 0.7  # trees
    assert spectral_index(raster, "ndwi")[10, 5] > 0.5  # water
    with pytest.raises(ValueError, match="Unknown index 'evi'"):
        spectral_index(raster, "evi")


def test_features_of_valid_pixels(utm_tif):
    raster = open_raster(utm_tif)
    features, valid, names = raster_features(raster, bands=["red", "nir"], indices=["ndvi"])
    assert names == ("red", "nir", "NDVI")
    assert features.dtype == np.float32 and features.shape == (37 * 50, 3)
    np.testing.assert_allclose(features.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(features.std(axis=0), 1, atol=1e-5)
    raw, _, _ = raster_features(raster, bands=[3], standardize=False)
    np.testing.assert_array_equal(raw[:, 0], raster.data[3][valid])
    with pytest.raises(ValueError, match="No pixel is valid"):
        raster_features(raster, valid=np.zeros((40, 50), bool))


def test_stretch_maps_percentiles_to_0_and_255(tmp_path):
    values = np.arange(100 * 100, dtype=np.uint16).reshape(1, 100, 100) * 3
    path = write_tif(tmp_path / "ramp.tif", np.concatenate([values] * 3))
    raster = open_raster(path)
    shown = stretch_rgb(raster)
    assert shown.shape == (100, 100, 3) and shown.dtype == np.uint8
    flat = shown[:, :, 0].ravel()
    low, high = np.percentile(values.astype(float), [2, 98])
    assert (flat[values.ravel() <= low] == 0).all()
    assert (flat[values.ravel() >= high] == 255).all()
    assert 120 <= flat[5000] <= 135  # the median is mid-grey
    single = stretch_rgb(raster, ["band 1", "band 1", "band 1"])
    np.testing.assert_array_equal(single[:, :, 0], single[:, :, 2])


def test_stretch_with_fixed_bounds(tmp_path):
    """Oracle: the bounds a raster's own percentiles give reproduce its default stretch;
    other bounds map linearly and clip; 8-bit bands with (0, 255) stay as they are."""
    values = np.arange(100 * 100, dtype=np.uint16).reshape(1, 100, 100) * 3
    raster = open_raster(write_tif(tmp_path / "ramp.tif", np.concatenate([values] * 3)))
    own = np.percentile(values.astype(float), [2, 98])
    np.testing.assert_array_equal(stretch_rgb(raster, bounds=[tuple(own)] * 3), stretch_rgb(raster))
    fixed = stretch_rgb(raster, bounds=[(0, 3000), (1500, 4500), (0, 30000)])
    expected = np.clip(np.rint((values[0].astype(float) - 1500) * 255 / 3000), 0, 255)
    np.testing.assert_array_equal(fixed[:, :, 1], expected)
    assert (fixed[values[0] >= 3000, 0] == 255).all()
    raw = np.arange(3 * 16 * 16, dtype=np.int64).reshape(3, 16, 16) % 256
    byte = open_raster(write_tif(tmp_path / "byte.tif", raw.astype(np.uint8)))
    np.testing.assert_array_equal(stretch_rgb(byte, bounds=[(0, 255)] * 3), np.moveaxis(raw, 0, 2))
    with pytest.raises(ValueError, match="three finite"):
        stretch_rgb(raster, bounds=[(0, 1)] * 2)


def test_stretch_uses_named_rgb_and_blacks_out_nodata(utm_tif):
    raster = open_raster(utm_tif)
    shown = stretch_rgb(raster)  # bands named red/green/blue, not 0/1/2
    assert (shown[:3] == 0).all()
    # The red channel shows the "red" band (position 2): water (700) darker than trees (500)?
    assert shown[10, 5, 0] > shown[10, 40, 0]


# --- writing -----------------------------------------------------------------------------


def test_label_geotiff_round_trip(utm_tif, tmp_path):
    raster = open_raster(utm_tif)
    labels = np.where(raster.valid, (np.arange(50) >= 25)[None, :].astype(np.int32), -1)
    palette = np.array([[20, 60, 200], [30, 160, 40]], dtype=np.uint8)
    out = tmp_path / "labels.tif"
    out.write_bytes(label_geotiff(labels, palette, raster.geo, class_names=["water", "trees"]))
    with rasterio.open(out) as src:
        assert src.crs == raster.geo.crs and src.transform == raster.geo.transform
        assert src.nodata == LABEL_NODATA and src.dtypes == ("uint8",)
        band = src.read(1)
        assert (band[:3] == 255).all()
        np.testing.assert_array_equal(band[3:], labels[3:])
        colormap = src.colormap(1)
        assert colormap[0] == (20, 60, 200, 255) and colormap[1] == (30, 160, 40, 255)
        assert colormap[255][3] == 0
        assert src.tags(1)["CLASS_1"] == "trees"
        assert src.descriptions[0] == "kseg classes (k=2)"
    with pytest.raises(ValueError, match="one name per class"):
        label_geotiff(labels, palette, raster.geo, class_names=["water"])


def test_rgb_geotiff_round_trip(utm_tif):
    raster = open_raster(utm_tif)
    rgb = stretch_rgb(raster)
    data = rgb_geotiff(rgb, raster.valid, raster.geo)
    back = open_raster(data)
    assert back.geo == raster.geo and back.n_bands == 4
    np.testing.assert_array_equal(np.moveaxis(back.data[:3], 0, 2), rgb)
    np.testing.assert_array_equal(back.valid, raster.valid)  # the alpha band


def test_sieve_merges_specks_and_keeps_nodata():
    labels = np.zeros((10, 10), dtype=np.int32)
    labels[:, 5:] = 1
    labels[2, 2] = 1  # a one-pixel speck inside class 0
    labels[7:9, 7:9] = 0  # a 4-pixel island inside class 1
    labels[0, :] = -1
    out = sieve_labels(labels, 5)
    assert out[2, 2] == 0 and (out[7:9, 7:9] == 1).all()
    assert (out[0] == -1).all()
    np.testing.assert_array_equal(sieve_labels(labels, 1), labels)
    np.testing.assert_array_equal(sieve_labels(labels, 4), np.where(
        (np.arange(10)[:, None] == 2) & (np.arange(10)[None, :] == 2), 0, labels))  # fmt: skip


def brute_majority(labels, size):
    h, w = labels.shape
    r = size // 2
    out = labels.copy()
    for i in range(h):
        for j in range(w):
            if labels[i, j] < 0:
                continue
            block = labels[max(0, i - r) : i + r + 1, max(0, j - r) : j + r + 1]
            counts = np.bincount(block[block >= 0], minlength=labels.max() + 1)
            if counts[labels[i, j]] < counts.max():
                out[i, j] = int(np.argmax(counts))
    return out


@settings(max_examples=40, deadline=None)
@given(
    arrays(np.int32, st.tuples(st.integers(1, 9), st.integers(1, 9)), elements=st.integers(-1, 3)),
    st.sampled_from([1, 3, 5]),
)
def test_majority_filter_matches_brute_force(labels, size):
    np.testing.assert_array_equal(majority_filter(labels, size), brute_majority(labels, size))


def test_majority_filter_rejects_even_size():
    with pytest.raises(ValueError, match="odd"):
        majority_filter(np.zeros((3, 3), int), 2)


def test_polygons_cover_each_class(utm_tif):
    raster = open_raster(utm_tif)
    labels = np.where(raster.valid, (np.arange(50) >= 25)[None, :].astype(np.int32), -1)
    labels[20, 10] = 1  # a speck, sieved away with min_pixels=2
    palette = np.array([[0, 0, 255], [0, 255, 0]], dtype=np.uint8)
    native = class_polygons(labels, raster.geo, palette=palette, to_wgs84=False, area_basis="plane")
    assert native["crs"]["properties"]["name"] == "EPSG:32633"
    by_class = {0: 0, 1: 0}
    for feature in native["features"]:
        by_class[feature["properties"]["class"]] += feature["properties"]["pixels"]
        assert feature["properties"]["area_m2"] == feature["properties"]["pixels"] * 100.0
    assert by_class == {0: 37 * 25 - 1, 1: 37 * 25 + 1}
    sieved = class_polygons(labels, raster.geo, min_pixels=2)
    assert len(sieved["features"]) == 2
    assert "crs" not in sieved
    lon, lat = sieved["features"][0]["geometry"]["coordinates"][0][0]
    assert 14 < lon < 16 and 37 < lat < 39  # UTM 33N, 4,200 km north: Sicily
    assert json.loads(polygons_json(sieved)) == json.loads(json.dumps(sieved))


def test_polygons_in_a_geographic_crs_have_true_areas(tmp_path):
    res = 0.001
    geo = GeoReference(CRS.from_epsg(4326), Affine(res, 0, 10.0, 0, -res, 60.0))
    labels = np.zeros((30, 20), dtype=np.int32)
    labels[10:, :] = 1
    collection = class_polygons(labels, geo)
    areas = {f["properties"]["class"]: f["properties"]["area_m2"] for f in collection["features"]}
    rows = geo.row_areas(30)
    assert areas[0] == pytest.approx(rows[:10].sum() * 20, rel=1e-9)
    assert areas[1] == pytest.approx(rows[10:].sum() * 20, rel=1e-9)


def test_bundled_sample_raster_is_the_scripts_scene():
    from core.inputs.samples import SCENE_BANDS, load_sample_raster, synthetic_scene

    raster = load_sample_raster()
    assert raster.n_bands == 4 and raster.dtype == "uint16"
    assert raster.band_names == SCENE_BANDS
    assert raster.geo.crs_name == "EPSG:32632" and raster.geo.pixel_size == (10.0, 10.0)
    assert 0.7 < raster.n_valid / raster.n_pixels < 0.95  # a tilted swath with no-data corners
    bands, _ = synthetic_scene(raster.height, raster.width, seed=2026)
    np.testing.assert_array_equal(raster.data[:, raster.valid], bands[:, raster.valid])
    assert raster.valid_area_m2(basis="plane") == raster.n_valid * 100.0


LABELS = st.integers(-1, 4)


@settings(max_examples=30, deadline=None)
@given(
    arrays(np.int32, st.tuples(st.integers(1, 12), st.integers(1, 12)), elements=LABELS),
    st.integers(0, 2**16),
)
def test_class_areas_match_a_pixel_by_pixel_sum(labels, seed):
    rows = np.random.default_rng(seed).random(labels.shape[0]) * 100
    expected = np.zeros(5)
    for (i, _), label in np.ndenumerate(labels):
        if label >= 0:
            expected[label] += rows[i]
    np.testing.assert_allclose(class_areas(labels, rows, 5), expected, rtol=1e-12, atol=1e-12)


def test_pixel_size_text_names_the_unit():
    from core.inputs.raster import GeoReference

    step = Affine(0.001, 0, 10, 0, -0.001, 50)
    assert GeoReference(CRS.from_epsg(4326), step).pixel_size_text == "0.001 × 0.001°"
    assert GeoReference(None, step).pixel_size_text == "0.001 × 0.001 CRS units"
    feet = CRS.from_epsg(2263)  # NAD83 / New York Long Island (US survey feet)
    assert "m" not in GeoReference(feet, Affine(3, 0, 0, 0, -3, 0)).pixel_size_text.split()[-1]


def test_sample_raster_script_help_writes_nothing_and_output_is_the_bundled_file(tmp_path):
    import subprocess
    import sys

    from core.inputs.samples import SAMPLE_RASTER

    script = ROOT / "scripts" / "make_sample_raster.py"
    shown = subprocess.run(
        [sys.executable, str(script), "--help"], cwd=tmp_path, capture_output=True, text=True
    )
    assert shown.returncode == 0 and "usage:" in shown.stdout
    assert list(tmp_path.iterdir()) == []
    out = tmp_path / "scene.tif"
    made = subprocess.run(
        [sys.executable, str(script), "-o", str(out)], capture_output=True, text=True
    )
    assert made.returncode == 0, made.stderr
    assert out.read_bytes() == SAMPLE_RASTER.read_bytes()  # deterministic: the same bytes
