"""No-data as GIS users mean it (issue 23, item 5) and k above the distinct values (item 7).

Every scene is a small GeoTIFF (or VRT) written here with rasterio. The oracle of validity is
computed independently from the bands written: a pixel counts when every band used holds data.
"""

from __future__ import annotations

import io
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
import rasterio
from helpers import ROOT, write_tif
from PIL import Image
from rasterio.enums import ColorInterp

from core.engine.kmeans_nd import kmeans_features
from core.features.bands import feature_bands, raster_features
from core.inputs.display import band_positions, default_rgb_bands, stretch_rgb
from core.inputs.raster import LABEL_NODATA, open_raster
from core.results.blocks import segment_blocks
from core.results.raster_segmentation import segment_raster

NAMES = ["blue", "green", "red", "nir"]


def two_covers(height=30, width=40, seed=0):
    """4 bands uint16: water left, vegetation right, noise; values never 0."""
    rng = np.random.default_rng(seed)
    water = np.array([900, 1100, 700, 300])[:, None, None]
    trees = np.array([400, 800, 500, 4000])[:, None, None]
    data = np.where(np.arange(width)[None, None, :] < width // 2, water, trees)
    data = data + rng.integers(1, 50, (4, height, width))
    return data.astype(np.uint16)


@pytest.fixture
def nir_gaps(tmp_path):
    """Rows 0–1 no-data in every band, row 5 no-data in NIR only, pixel (8, 3) in red only."""
    data = two_covers()
    data[:, :2] = 0
    data[3, 5] = 0
    data[2, 8, 3] = 0
    return write_tif(tmp_path / "gaps.tif", data, nodata=0, names=NAMES), data


# --- 1. a pixel is no-data when any band used is --------------------------------------------


def test_valid_means_every_band_holds_data(nir_gaps):
    path, data = nir_gaps
    raster = open_raster(path)
    np.testing.assert_array_equal(raster.valid, (data != 0).all(axis=0))
    assert raster.n_valid == 30 * 40 - 2 * 40 - 40 - 1  # (8, 3) is not on row 5
    # bands not used do not matter
    np.testing.assert_array_equal(raster.valid_for([0, 1, 2]), (data[:3] != 0).all(axis=0))
    np.testing.assert_array_equal(raster.valid_for([3]), data[3] != 0)
    assert raster.valid_for([0, 1]).sum() == 30 * 40 - 2 * 40


def test_an_index_is_no_data_where_its_input_band_is(nir_gaps):
    path, data = nir_gaps
    raster = open_raster(path)
    assert feature_bands(raster, ["red"], ["ndvi"]) == [2, 3]
    x, valid, names = raster_features(raster, bands=["red"], indices=["ndvi"], standardize=False)
    np.testing.assert_array_equal(valid, (data[[2, 3]] != 0).all(axis=0))
    assert names == ("red", "NDVI")
    assert x[:, 1].min() > -0.9  # no NIR = 0 pixel gives NDVI = −1
    # without the index, a pixel with no NIR is a pixel like any other
    _, valid, _ = raster_features(raster, bands=["blue", "green"])
    assert not valid[:2].any() and valid[5].all() and valid[8, 3]


def test_segment_raster_leaves_out_pixels_no_data_in_a_band_used(nir_gaps):
    path, data = nir_gaps
    with_index = segment_raster(path, 2, indices=["ndvi"])
    expected = (data != 0).all(axis=0)
    np.testing.assert_array_equal(with_index.valid, expected)
    assert (with_index.labels[~expected] == -1).all()
    assert with_index.counts.sum() == expected.sum()
    rgb_only = segment_raster(path, 2, bands=["blue", "green", "red"])
    np.testing.assert_array_equal(rgb_only.valid, (data[:3] != 0).all(axis=0))
    assert rgb_only.valid[5].all()  # NIR no-data: does not matter for these bands
    # the two covers are the two classes, whichever pixels count
    left = rgb_only.labels[10, :20]
    assert len(set(left.tolist())) == 1 and left[0] != rgb_only.labels[10, 30]


def test_per_band_nodata_values(tmp_path):
    """A VRT gives each band its own no-data value (a GeoTIFF has one for all bands)."""
    data = np.full((2, 6, 8), 7, dtype=np.int16)
    data[0, 1, 1] = -1  # band 1's no-data
    data[1, 2, 2] = 99  # band 2's no-data
    data[0, 3, 3] = 99  # band 2's no-data value, in band 1: data there
    tif = write_tif(tmp_path / "src.tif", data)
    bands = "".join(
        f'<VRTRasterBand dataType="Int16" band="{b}"><NoDataValue>{nodata}</NoDataValue>'
        f"<SimpleSource><SourceFilename>{tif}</SourceFilename><SourceBand>{b}</SourceBand>"
        "</SimpleSource></VRTRasterBand>"
        for b, nodata in ((1, -1), (2, 99))
    )
    vrt = tmp_path / "bands.vrt"
    vrt.write_text(f'<VRTDataset rasterXSize="8" rasterYSize="6">{bands}</VRTDataset>')
    raster = open_raster(vrt)
    expected = np.ones((6, 8), bool)
    expected[1, 1] = expected[2, 2] = False
    np.testing.assert_array_equal(raster.valid, expected)
    assert raster.valid_for([0])[2, 2] and not raster.valid_for([0])[1, 1]
    assert raster.valid_for([1])[1, 1] and raster.valid_for([1])[3, 3]


def test_internal_mask_and_nodata_value_both_count(tmp_path):
    """GDAL lets an internal mask shadow the no-data value: kseg applies both."""
    data = two_covers(8, 10)[:3]
    data[:, 0, 0] = 0  # the no-data value, under a valid mask
    mask = np.full((8, 10), 255, np.uint8)
    mask[4, 4] = 0
    path = tmp_path / "masked.tif"
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        write_tif(path, data, nodata=0)
        with rasterio.open(path, "r+") as dst:
            dst.write_mask(mask)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        raster = open_raster(path)
        seg = segment_raster(raster, 2)
    assert not raster.valid[0, 0] and not raster.valid[4, 4]
    assert raster.n_valid == 80 - 2 and seg.counts.sum() == 78


def test_nan_in_one_band_leaves_the_others(tmp_path):
    data = np.random.default_rng(1).normal(100, 10, (3, 10, 12)).astype(np.float32)
    data[2, 4, 5] = np.nan
    data[1, 6, 6] = np.inf
    raster = open_raster(write_tif(tmp_path / "f.tif", data))
    assert raster.n_valid == 120 - 2
    assert raster.valid_for([0]).all()
    assert raster.valid_for([0, 2]).sum() == 119 and not raster.valid_for([0, 2])[4, 5]


# --- 2. alpha bands are a mask -----------------------------------------------------------------


def write_rgba(path, *, nodata=None):
    data = np.concatenate([two_covers(12, 16)[:3] // 20, np.full((1, 12, 16), 255)])
    data = data.astype(np.uint8)
    data[3, :2] = 0  # transparent rows
    data[3, 5, 5] = 128  # half transparent: data
    if nodata is not None:
        data[:3, 9, 9] = nodata
    write_tif(path, data, nodata=nodata)
    with rasterio.open(path, "r+") as dst:
        dst.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha]
    return path


def test_alpha_band_is_a_mask_never_a_feature(tmp_path):
    raster = open_raster(write_rgba(tmp_path / "rgba.tif"))
    assert raster.alpha_bands == (3,) and raster.band_names[3] == "alpha"
    assert not raster.valid[:2].any() and raster.valid[2:].all()
    assert band_positions(raster, None) == [0, 1, 2]
    assert default_rgb_bands(raster) == (0, 1, 2)
    seg = segment_raster(raster, 2)
    assert seg.feature_names == ("red", "green", "blue")
    assert seg.counts.sum() == 12 * 16 - 2 * 16
    for asked in ([3], ["alpha"], [0, 3]):
        with pytest.raises(ValueError, match="alpha band: a mask"):
            segment_raster(raster, 2, bands=asked)


def test_alpha_band_is_applied_beside_a_nodata_value(tmp_path):
    """GDAL and rasterio keep only the no-data value (NodataShadowWarning): kseg both."""
    path = write_rgba(tmp_path / "rgba_nodata.tif", nodata=0)
    with rasterio.open(path) as src, pytest.warns(rasterio.errors.NodataShadowWarning):
        src.dataset_mask()  # the warning the library must not let out
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        raster = open_raster(path)
        seg = segment_raster(raster, 2)
    assert not raster.valid[:2].any() and not raster.valid[9, 9] and raster.valid[5, 5]
    assert seg.counts.sum() == 12 * 16 - 2 * 16 - 1


# --- 3. paletted rasters are clustered on their colours ------------------------------------


def write_paletted(path, indices, colours, nodata=None):
    write_tif(path, indices[None].astype(np.uint8), nodata=nodata)
    with rasterio.open(path, "r+") as dst:
        dst.write_colormap(1, colours)
    return path


def test_paletted_raster_is_clustered_on_its_colours(tmp_path):
    # indices 0 and 9 are the same red, 1 is near-red, 200 is blue: by index, 0 and 1 go
    # together and 9 and 200; by colour, 0, 1 and 9 are red and 200 is blue.
    colours = {0: (250, 0, 0, 255), 1: (240, 10, 0, 255), 9: (250, 0, 0, 255), 200: (0, 0, 250)}
    indices = np.tile(np.array([0, 1, 9, 200, 7]), (6, 4))  # 7: the no-data index
    path = write_paletted(tmp_path / "pal.tif", indices, colours, nodata=7)
    with rasterio.open(path) as src:
        assert src.colorinterp == (ColorInterp.palette,)
    raster = open_raster(path)
    assert raster.colortable and raster.band_names == ("red", "green", "blue")
    assert raster.data.shape == (3, 6, 20) and raster.dtype == "uint8"
    np.testing.assert_array_equal(raster.data[:, 0, 2], [250, 0, 0])
    np.testing.assert_array_equal(raster.valid, indices != 7)
    seg = segment_raster(raster, 2)
    labels = seg.labels[0, :5]
    assert labels[0] == labels[1] == labels[2] != labels[3] and labels[4] == -1
    blue = seg.palette[labels[3]]
    assert blue[2] > blue[0] and seg.palette[labels[0]][0] > seg.palette[labels[0]][2]


def test_paletted_raster_read_reduced_keeps_table_colours(tmp_path):
    colours = {0: (250, 0, 0), 1: (0, 250, 0), 2: (0, 0, 250)}
    indices = np.random.default_rng(0).integers(0, 3, (64, 64))
    raster = open_raster(write_paletted(tmp_path / "pal.tif", indices, colours), max_pixels=900)
    assert raster.reduced_by > 1  # never averaged into colours the table does not hold
    seen = {tuple(c) for c in raster.data.reshape(3, -1).T.tolist()}
    assert seen <= {(250, 0, 0), (0, 250, 0), (0, 0, 250)}


def test_transparent_palette_entry_is_no_data():
    """A paletted PNG whose index 0 is transparent (tRNS): those pixels hold no data."""
    indices = np.zeros((4, 5), dtype=np.uint8)
    indices[1:] = 1
    image = Image.fromarray(indices, mode="P")
    image.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", transparency=0)
    raster = open_raster(buffer.getvalue())
    assert raster.colortable
    np.testing.assert_array_equal(raster.valid, indices == 1)
    np.testing.assert_array_equal(raster.data[:, 1, 0], [200, 100, 50])


# --- 4. k above the distinct values -------------------------------------------------------


def test_one_value_scene_with_k_2_warns_lowers_k_and_stops_early(tmp_path):
    path = write_tif(tmp_path / "one.tif", np.full((1, 200, 300), 7, np.uint16))
    started = time.perf_counter()
    with pytest.warns(UserWarning, match=r"only 1 distinct value.*k=2.*lowered to 1"):
        seg = segment_raster(path, 2)
    assert time.perf_counter() - started < 5  # was 300 idle Lloyd passes
    assert seg.k == 1 and seg.counts.tolist() == [60_000] and seg.n_iter <= 2
    assert seg.palette.shape == (1, 3) and seg.centers.shape == (1, 1)


def test_few_values_scene_gets_one_class_per_value_and_no_black_impostors(tmp_path):
    data = np.repeat(np.array([100, 2000, 9000], np.uint16), 50 * 40).reshape(1, 150, 40)
    path = write_tif(tmp_path / "three.tif", np.concatenate([data, data // 2, data // 3]))
    with pytest.warns(UserWarning, match=r"only 3 distinct value.*k=6.*lowered to 3"):
        seg = segment_raster(path, 6)
    assert seg.k == 3 and sorted(seg.counts.tolist()) == [2000, 2000, 2000]
    assert (seg.counts > 0).all() and len(set(seg.hex_colors)) == 3
    for value in range(3):  # each value is one class
        assert len(np.unique(seg.labels[value * 50 : (value + 1) * 50])) == 1
    np.testing.assert_allclose(seg.wcss, 0.0, atol=1e-9)
    assert seg.model.k == 3  # the model has no empty class either


def test_kmeans_features_stops_as_soon_as_values_run_out():
    x = np.repeat(np.array([[0.0, 1.0], [5.0, 5.0]], np.float32), 50_000, axis=0)
    for k in (3, 7):
        result = kmeans_features(x, k)
        counts = np.bincount(result.labels, minlength=k)
        assert sorted(counts.tolist())[-2:] == [50_000, 50_000] and counts.sum() == 100_000
        assert result.converged and result.n_iter <= 3 and result.wcss == 0.0


def test_segment_raster_with_enough_values_does_not_warn(nir_gaps):
    path, _ = nir_gaps
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert segment_raster(path, 4).k == 4


def write_blocky(path, dtype, values):
    data = np.repeat(np.asarray(values, dtype=dtype), 64 * 128 // len(values)).reshape(1, 64, 128)
    data[:, :4] = 0  # no-data rows
    profile = {"tiled": True, "blockxsize": 32, "blockysize": 32}
    return write_tif(path, np.concatenate([data, data, data]), nodata=0, **profile)


@pytest.mark.parametrize(("dtype", "fit"), [("uint8", "auto"), ("uint16", "lloyd")])
def test_blocks_lower_k_to_the_distinct_values(tmp_path, dtype, fit):
    path = write_blocky(tmp_path / f"few_{dtype}.tif", dtype, [40, 90])
    labels = np.full((64, 128), -2, np.int32)

    def sink(window, part):
        row, col, height, width = window
        labels[row : row + height, col : col + width] = part

    with pytest.warns(UserWarning, match=r"only 2 distinct value.*k=5.*lowered to 2"):
        result = segment_blocks(path, 5, fit=fit, sink=sink, window_pixels=32 * 32)
    assert result.k == 2 and result.centers.shape[0] == 2 and (result.counts > 0).all()
    # 4,096 pixels of each value, 512 of the 40s in the no-data rows
    assert result.n_valid == 60 * 128 and sorted(result.counts.tolist()) == [3584, 4096]
    assert (labels[:4] == LABEL_NODATA).all() and set(np.unique(labels[4:]).tolist()) == {0, 1}
    assert result.n_iter <= 3


def test_blocks_leave_out_pixels_no_data_in_an_index_band(nir_gaps):
    path, data = nir_gaps
    labels = np.full((30, 40), -2, np.int32)

    def sink(window, part):
        row, col, height, width = window
        labels[row : row + height, col : col + width] = part

    result = segment_blocks(path, 2, bands=["red"], indices=["ndvi"], sink=sink)
    expected = (data[[2, 3]] != 0).all(axis=0)
    assert result.n_valid == expected.sum()
    np.testing.assert_array_equal(labels != LABEL_NODATA, expected)
    labels[:] = -2
    result = segment_blocks(path, 2, bands=["blue", "green"], sink=sink)
    np.testing.assert_array_equal(labels != LABEL_NODATA, (data[:2] != 0).all(axis=0))


# --- 5. warnings stay inside the library ---------------------------------------------------


def float_scene(path, nodata=None):
    data = two_covers(20, 24).astype(np.float32)
    data[:, :3] = np.nan
    data[1, 10, 10] = np.nan
    if nodata is not None:
        data[:, 5] = nodata  # an extreme no-data value: overflows when stretched
    return write_tif(path, data, nodata=nodata, names=NAMES)


@pytest.mark.parametrize("nodata", [None, -3.4028234663852886e38])
def test_float_scene_with_nan_warns_nothing(tmp_path, nodata):
    path = float_scene(tmp_path / "f.tif", nodata)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        raster = open_raster(path)
        stretch_rgb(raster)
        stretch_rgb(raster, bounds=[(0, 1000)] * 3)
        seg = segment_raster(raster, 2, indices=["ndvi", "ndwi"])
        seg.write(tmp_path / "out", "f", polygons=False)
    nodata_row = 0 if nodata is None else 24
    assert seg.counts.sum() == raster.n_valid == 20 * 24 - 3 * 24 - 1 - nodata_row


def test_uint16_with_nodata_warns_nothing(tmp_path, nir_gaps):
    path, _ = nir_gaps
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        seg = segment_raster(path, 3, indices=["ndvi"])
        seg.write(tmp_path / "out", "u", polygons=False)
        segment_blocks(path, 3, indices=["ndwi"])


def test_cli_stderr_stays_clean(tmp_path):
    """The CLI user sees kseg's words only: no NumPy or rasterio warnings on stderr."""
    scenes = [
        float_scene(tmp_path / "f.tif", -3.4028234663852886e38),
        write_rgba(tmp_path / "rgba.tif", nodata=0),
        write_tif(tmp_path / "one.tif", np.full((1, 30, 30), 5, np.uint16)),
    ]
    for scene in scenes:
        done = subprocess.run(
            [sys.executable, "-m", "core", "segment", str(scene), "-k", "3", "--no-polygons",
             "-o", str(tmp_path / scene.stem)],
            cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        for leak in ("RuntimeWarning", "NodataShadowWarning", "invalid value", "overflow"):
            assert leak not in done.stderr, done.stderr


def test_a_class_emptied_by_a_sieve_is_marked_empty_not_black(tmp_path):
    data = np.full((3, 20, 20), 100, np.uint16)
    data[:, 10:] = 3000
    data[:, 4, 4] = 60000  # a 1-pixel class
    seg = segment_raster(write_tif(tmp_path / "speck.tif", data), 3)
    assert seg.k == 3 and seg.counts.tolist() == [200, 199, 1] and not seg.empty.any()
    cleaned = seg.cleaned(min_pixels=4)
    assert cleaned.empty.tolist() == [False, False, True]
    assert cleaned.hex_colors[2] == seg.hex_colors[2] != "#000000"
