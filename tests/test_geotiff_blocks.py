"""core.outputs.geotiff_blocks: the label GeoTIFF, recoloured COG and areas of a scene by blocks."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
import rasterio
from test_blocks import SMALL_WINDOWS, TILE, write_scene

from core.errors import ImageError
from core.features.bands import raster_features
from core.inputs.raster import LABEL_NODATA, open_raster
from core.outputs.geotiff_blocks import output_block_size, segment_raster_blocks
from core.results.raster_segmentation import segment_raster


def memory_features(raster):
    x, _, _ = raster_features(raster)
    return x.astype(np.float64)


def test_outputs_are_tiled_compressed_with_overviews_in_the_scene_georeference(tmp_path):
    scene = write_scene(tmp_path / "scene.tif")
    result = segment_raster_blocks(
        scene, 4, out_dir=tmp_path / "out", window_pixels=SMALL_WINDOWS, tol=0
    )
    labels_path, cog_path, csv_path = result.files
    assert [p.name for p in result.files] == [
        "scene_labels.tif", "scene_segmented.tif", "scene_areas.csv"
    ]  # fmt: skip
    raster = open_raster(scene)
    memory = segment_raster(raster, 4, tol=0)
    with rasterio.open(labels_path) as src:
        assert src.crs == raster.geo.crs and src.transform == raster.geo.transform
        assert src.profile["tiled"] and src.block_shapes[0] == (TILE, TILE)
        assert src.compression.name == "deflate" and src.nodata == LABEL_NODATA
        assert src.overviews(1) == [2]
        assert src.tags(ns="rio_overview")["resampling"] == "mode"
        labels = src.read(1)
        colormap = src.colormap(1)
    assert (labels[~raster.valid] == LABEL_NODATA).all()
    # every label is the nearest of the result's centres (brute force, in memory)
    x = memory_features(raster)
    distances = ((x[:, None, :] - result.centers[None]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(labels[raster.valid], np.argmin(distances, axis=1))
    assert result.wcss == pytest.approx(distances.min(axis=1).sum(), rel=1e-6)
    assert result.wcss == pytest.approx(memory.wcss, rel=1e-3)  # the in-memory fit's
    for i, colour in enumerate(result.palette):
        assert colormap[i] == (*map(int, colour), 255)
    with rasterio.open(cog_path) as src:
        assert src.count == 4 and src.crs == raster.geo.crs
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        rgba = src.read()
    valid = labels != LABEL_NODATA
    np.testing.assert_array_equal(np.moveaxis(rgba[:3], 0, 2)[valid], result.palette[labels[valid]])
    assert (rgba[3][valid] == 255).all() and (rgba[3][~valid] == 0).all()
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    assert [int(r["pixels"]) for r in rows] == result.counts.tolist()
    assert sum(int(r["pixels"]) for r in rows) == raster.n_valid
    assert float(rows[0]["area_m2"]) == pytest.approx(result.counts[0] * 100.0)


def test_a_damaged_scene_leaves_no_output(tmp_path):
    scene = write_scene(tmp_path / "scene.tif")
    cut = tmp_path / "cut.tif"
    cut.write_bytes(scene.read_bytes()[:2000])
    with pytest.raises(ImageError, match="truncated or damaged"):
        segment_raster_blocks(cut, 3, out_dir=tmp_path / "out")
    assert not list((tmp_path / "out").glob("*"))


def test_block_size_of_the_outputs():
    assert output_block_size((64, 64)) == 64
    assert output_block_size((1, 8000)) == 512
    assert output_block_size((100, 100)) == 512


def test_segment_raster_on_large(tmp_path):
    scene = write_scene(tmp_path / "scene.tif")
    small = segment_raster(scene, 3, n_init=2)
    assert small.labels.shape == (260, 300)
    with pytest.raises(ImageError, match="segment_raster_blocks"):
        segment_raster(scene, 3, max_pixels=10_000)
    reduced = segment_raster(scene, 3, max_pixels=10_000, on_large="reduce", n_init=2)
    assert reduced.labels.size <= 10_000
    with pytest.raises(ValueError, match="on_large must be 'full' or 'reduce'"):
        segment_raster(scene, 3, on_large="error")
