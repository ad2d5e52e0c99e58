"""core.results.blocks: full-resolution k-means of a file, window by window, against oracles."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine

from core.engine.kmeans import kmeans
from core.errors import ImageError
from core.features.bands import raster_features
from core.inputs.raster import LABEL_NODATA, open_raster
from core.inputs.samples import SCENE_BANDS, synthetic_scene
from core.results.blocks import scene_windows, segment_blocks

HEIGHT, WIDTH, TILE = 260, 300, 64
SMALL_WINDOWS = TILE * TILE * 2  # 2 tiles a window: 15 windows over the scene


def write_scene(path, *, dtype="uint16", count=4, seed=0, compress=None):
    bands, _ = synthetic_scene(HEIGHT, WIDTH, seed=seed)
    if dtype == "uint8":
        bands = np.clip(bands[[2, 1, 0]] / 24.0, 0, 255).astype(np.uint8)
    bands = bands[:count]
    bands[:, :7, :] = 0  # no-data rows
    profile = {
        "driver": "GTiff", "height": HEIGHT, "width": WIDTH, "count": count, "dtype": dtype,
        "tiled": True, "blockxsize": TILE, "blockysize": TILE, "nodata": 0,
        "crs": "EPSG:32632", "transform": Affine(10, 0, 600_000, 0, -10, 5_100_000),
    }  # fmt: skip
    if compress:
        profile["compress"] = compress
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(bands)
        if count == 4:
            dst.descriptions = SCENE_BANDS
    return path


def collect(result_shape=(HEIGHT, WIDTH)):
    labels = np.full(result_shape, -2, dtype=np.int32)
    windows = []

    def sink(window, part):
        row, col, height, width = window
        assert part.shape == (height, width) and part.dtype == np.uint8
        labels[row : row + height, col : col + width] = part
        windows.append(window)

    return labels, windows, sink


def in_memory(path, **kwargs):
    raster = open_raster(path)
    x, valid, _ = raster_features(raster, **kwargs)
    return x.astype(np.float64), valid


def nearest(x, centers):
    return np.argmin(((x[:, None, :] - centers[None]) ** 2).sum(axis=2), axis=1)


def numpy_lloyd(x, centers, max_iter, tol_abs):
    """Plain Lloyd on every pixel, the stopping rule of kmeans_features."""
    for _ in range(max_iter):
        labels = nearest(x, centers)
        new = np.array([x[labels == j].mean(axis=0) for j in range(centers.shape[0])])
        if ((new - centers) ** 2).sum() <= tol_abs:
            return labels, new
        centers = new
    return labels, new


def wcss(x, labels, k):
    return sum(((x[labels == j] - x[labels == j].mean(axis=0)) ** 2).sum() for j in range(k))


def test_windows_cover_the_scene_once_in_whole_blocks():
    covered = np.zeros((HEIGHT, WIDTH), dtype=int)
    windows = scene_windows(HEIGHT, WIDTH, (TILE, TILE), SMALL_WINDOWS)
    for row, col, height, width in windows:
        assert row % TILE == 0 and col % TILE == 0
        covered[row : row + height, col : col + width] += 1
    assert (covered == 1).all()
    assert len(windows) == 15
    strips = scene_windows(HEIGHT, WIDTH, (1, WIDTH), 10 * WIDTH)
    assert {w[2] for w in strips[:-1]} == {10} and sum(w[2] for w in strips) == HEIGHT


def test_lloyd_over_blocks_is_lloyd_on_every_pixel(tmp_path):
    path = write_scene(tmp_path / "scene.tif")
    labels, windows, sink = collect()
    result = segment_blocks(path, 5, sink=sink, window_pixels=SMALL_WINDOWS, tol=0, seed=3)
    assert result.method == "sample+lloyd" and result.converged
    assert len(windows) == result.n_windows == 15
    x, valid = in_memory(path)
    assert result.n_valid == valid.sum() == x.shape[0]
    assert (labels[~valid] == LABEL_NODATA).all() and (labels[valid] < 5).all()
    # A fixed point of Lloyd on every pixel: each label the nearest centre, each centre the
    # mean of its pixels, classes numbered by size; WCSS over every pixel.
    flat = labels[valid]
    np.testing.assert_array_equal(flat, nearest(x, result.centers))
    for j in range(5):
        np.testing.assert_allclose(result.centers[j], x[flat == j].mean(axis=0), atol=1e-6)
    assert (np.diff(result.counts) <= 0).all()
    np.testing.assert_array_equal(result.counts, np.bincount(flat, minlength=5))
    assert result.wcss == pytest.approx(wcss(x, flat, 5), rel=1e-6)
    assert result.areas_m2 == pytest.approx(result.counts * 100.0)
    # the same whatever the windows (the sample is keyed by position, not by window)
    again, _, sink_again = collect()
    one = segment_blocks(path, 5, sink=sink_again, window_pixels=HEIGHT * WIDTH * 2, tol=0, seed=3)
    assert one.n_windows == 1
    np.testing.assert_array_equal(again, labels)
    assert one.wcss == pytest.approx(result.wcss, rel=1e-9)


def test_lloyd_from_given_centres_matches_numpy_lloyd(tmp_path):
    path = write_scene(tmp_path / "scene.tif")
    x, _ = in_memory(path, indices=["ndvi"])
    rng = np.random.default_rng(1)
    init = x[rng.choice(x.shape[0], 4, replace=False)]
    result = segment_blocks(
        path, 4, indices=["ndvi"], init=init, max_iter=6, tol=1e-3, window_pixels=SMALL_WINDOWS
    )
    # the same number of passes, each an assignment to every pixel and a move to the means
    labels, centers = numpy_lloyd(x, init, max_iter=result.n_iter, tol_abs=-1.0)
    assert result.feature_names == (*SCENE_BANDS, "NDVI")
    assert result.wcss == pytest.approx(wcss(x, labels, 4), rel=1e-6)
    np.testing.assert_allclose(np.sort(result.centers, axis=0), np.sort(centers, axis=0), atol=1e-5)


def test_histogram_fit_is_exact_on_every_pixel(tmp_path):
    path = write_scene(tmp_path / "rgb.tif", dtype="uint8", count=3)
    labels, _, sink = collect()
    result = segment_blocks(path, 6, sink=sink, window_pixels=SMALL_WINDOWS, seed=0)
    assert result.method == "histogram"
    x, valid = in_memory(path)
    # the same weighted k-means as on the scene's distinct colours in memory
    distinct, inverse, counts = np.unique(x, axis=0, return_inverse=True, return_counts=True)
    full = kmeans(distinct, 6, sample_weight=counts, n_init=10, seed=0)
    assert result.wcss == pytest.approx(full.wcss, rel=1e-6)
    np.testing.assert_allclose(
        np.sort(result.centers, axis=0), np.sort(full.centers, axis=0), atol=1e-5
    )
    # and, pixel by pixel, its labels and WCSS
    flat = labels[valid]
    assert same_partition(flat, full.labels[inverse.ravel()])
    assert result.wcss == pytest.approx(wcss(x, flat, 6), rel=1e-6)
    np.testing.assert_array_equal(result.counts, np.bincount(flat, minlength=6))


def same_partition(a, b):
    pairs = set(zip(a.tolist(), b.tolist(), strict=True))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def test_on_a_dask_cluster_the_same_as_in_process(tmp_path):
    distributed = pytest.importorskip("distributed")
    path = write_scene(tmp_path / "scene.tif", compress="deflate")
    here, _, sink_here = collect()
    local = segment_blocks(path, 3, sink=sink_here, window_pixels=SMALL_WINDOWS, n_init=2)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):  # fmt: skip
        there, _, sink_there = collect()
        remote = segment_blocks(
            path, 3, sink=sink_there, window_pixels=SMALL_WINDOWS, n_init=2, client=client
        )
    np.testing.assert_array_equal(here, there)
    assert remote.wcss == pytest.approx(local.wcss, rel=1e-9)


def test_truncated_file_is_refused_before_any_work(tmp_path):
    path = write_scene(tmp_path / "scene.tif")
    data = path.read_bytes()
    cut = tmp_path / "cut.tif"
    cut.write_bytes(data[: len(data) * 2 // 3])
    called = []
    with pytest.raises(ImageError, match="truncated or damaged"):
        segment_blocks(cut, 3, sink=lambda *a: called.append(a))
    assert not called


def test_arguments_are_checked(tmp_path):
    path = write_scene(tmp_path / "scene.tif")
    with pytest.raises(ValueError, match="k must be an integer from 1 to 255"):
        segment_blocks(path, 0)
    with pytest.raises(ValueError, match="fit='histogram' needs 8-bit bands"):
        segment_blocks(path, 3, fit="histogram")
    with pytest.raises(ValueError, match="No band is called 'swir'"):
        segment_blocks(path, 3, bands=["swir"])
    with pytest.raises(ImageError, match="was not found"):
        segment_blocks(tmp_path / "missing.tif", 3)


def test_all_no_data_is_refused(tmp_path):
    path = tmp_path / "empty.tif"  # not georeferenced either: no warning leaks
    with (
        pytest.warns(rasterio.errors.NotGeoreferencedWarning),
        rasterio.open(
            path, "w", driver="GTiff", height=64, width=64, count=1, dtype="uint8", nodata=0
        ) as dst,
    ):
        dst.write(np.zeros((1, 64, 64), np.uint8))
    with pytest.raises(ImageError, match="nothing to cluster"):
        segment_blocks(path, 2)
