"""core.results.raster_segmentation: classes of a multiband scene, masked pixels, GIS outputs."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS

import core
from core.engine.kmeans_nd import kmeans_features
from core.errors import ImageError
from core.features.bands import raster_features
from core.inputs.raster import LABEL_NODATA, GeoReference, Raster
from core.inputs.samples import SCENE_BANDS, load_sample_raster, synthetic_scene
from core.results.raster_segmentation import segment_raster


def make_raster(height=60, width=80, seed=0, nodata_rows=5):
    bands, cover = synthetic_scene(height, width, seed=seed)
    valid = np.ones((height, width), dtype=bool)
    valid[:nodata_rows] = False
    bands[:, ~valid] = 0
    geo = GeoReference(CRS.from_epsg(32632), Affine(10, 0, 600_000, 0, -10, 5_100_000))
    raster = Raster(bands, valid, geo, 0.0, SCENE_BANDS, "uint16", source_shape=(height, width))
    return raster, cover


def same_partition(a, b):
    pairs = set(zip(a.ravel().tolist(), b.ravel().tolist(), strict=True))
    return len(pairs) == len(set(a.ravel().tolist())) == len(set(b.ravel().tolist()))


def _ground_oracle(raster, labels, k):
    from pyproj import CRS as ProjCRS
    from pyproj import Proj, Transformer

    rows, cols = np.nonzero(labels >= 0)
    x, y = raster.geo.transform @ (cols + 0.5, rows + 0.5)
    crs = ProjCRS.from_wkt(raster.geo.crs.to_wkt())
    lon, lat = Transformer.from_crs(crs, crs.geodetic_crs, always_xy=True).transform(x, y)
    scale = Proj(crs).get_factors(lon, lat).areal_scale
    return np.bincount(labels[rows, cols], weights=100.0 / np.asarray(scale), minlength=k)


def test_classes_of_the_sample_scene():
    raster = load_sample_raster()
    seg = segment_raster(raster, 5, indices=["ndvi"])
    assert seg.feature_names == (*SCENE_BANDS, "NDVI")
    assert (seg.labels[~raster.valid] == -1).all() and (seg.labels[raster.valid] >= 0).all()
    assert seg.counts.sum() == raster.n_valid
    assert list(seg.counts) == sorted(seg.counts, reverse=True)  # largest first
    np.testing.assert_allclose(seg.shares.sum(), 1.0)
    # Ground areas: each 10 m pixel covers 100 m² / the projection's areal scale there
    # (pyproj's own scale factors at the pixel centres, an independent oracle).
    assert seg.area_basis == "ellipsoid"
    np.testing.assert_allclose(seg.areas_m2, _ground_oracle(raster, seg.labels, 5), rtol=1e-6)
    plane = segment_raster(raster, 5, indices=["ndvi"], area_basis="plane")
    assert plane.area_basis == "plane"
    np.testing.assert_allclose(plane.areas_m2, seg.counts * 100.0)
    assert seg.segmented[~raster.valid].max() == 0
    for i in range(5):  # the palette is the mean display colour of each class
        np.testing.assert_allclose(
            seg.palette[i], seg.display[seg.cluster_mask(i)].mean(axis=0), atol=0.5 + 1e-9
        )


def test_distinct_covers_are_recovered():
    raster, cover = make_raster(nodata_rows=0)
    seg = segment_raster(raster, 6)
    assert same_partition(seg.labels, cover)


def test_masked_pixels_never_change_the_centres():
    raster, _ = make_raster()
    seg = segment_raster(raster, 4, seed=3)
    # Oracle: k-means on the valid pixels alone, with the same seed.
    features, _, _ = raster_features(raster)
    alone = kmeans_features(features, 4, seed=3)
    by_row = np.lexsort(seg.centers.T), np.lexsort(alone.centers.T)
    np.testing.assert_allclose(seg.centers[by_row[0]], alone.centers[by_row[1]])
    assert seg.wcss == pytest.approx(alone.wcss)
    # Whatever the no-data pixels hold, the result is the same.
    noisy = np.array(raster.data)
    noisy[:, ~raster.valid] = np.random.default_rng(0).integers(
        0, 65535, noisy[:, ~raster.valid].shape
    )
    other = segment_raster(
        Raster(noisy, raster.valid, raster.geo, 0.0, raster.band_names, "uint16"), 4, seed=3
    )
    np.testing.assert_array_equal(other.labels, seg.labels)
    np.testing.assert_array_equal(other.centers, seg.centers)


def test_extra_mask_and_no_mask():
    raster, _ = make_raster()
    extra = np.ones(raster.valid.shape, dtype=bool)
    extra[:, :10] = False
    seg = segment_raster(raster, 3, mask=extra)
    assert (seg.labels[:, :10] == -1).all() and seg.counts.sum() == 55 * 70
    everything = segment_raster(raster, 3, mask=None)
    assert (everything.labels >= 0).all()
    with pytest.raises(ValueError, match="boolean array of shape"):
        segment_raster(raster, 3, mask=np.ones((2, 2), bool))


def test_errors():
    raster, _ = make_raster()
    with pytest.raises(ImageError, match="nothing to cluster"):
        segment_raster(raster, 3, mask=np.zeros(raster.valid.shape, bool))
    with pytest.raises(ValueError, match="from 1 to 255"):
        segment_raster(raster, 256)
    with pytest.raises(ValueError, match="No band is called"):
        segment_raster(raster, 3, bands=["swir"])


def test_outputs_written_and_read_back(tmp_path):
    raster, _ = make_raster()
    seg = segment_raster(raster, 4)
    files = seg.write(tmp_path / "out", "scene", polygon_min_pixels=4)
    assert [f.name for f in files] == [
        "scene_labels.tif",
        "scene_labels.tif.aux.xml",
        "scene_labels.qml",
        "scene_segmented.tif",
        "scene_areas.csv",
        "scene_model.json",
        "scene_classes.geojson",
        "scene_classes.gpkg",
        "scene_stats.csv",
    ]
    with rasterio.open(files[0]) as src:
        assert src.crs == raster.geo.crs and src.transform == raster.geo.transform
        assert src.nodata == LABEL_NODATA
        band = src.read(1)
        np.testing.assert_array_equal(band[:5], LABEL_NODATA)
        np.testing.assert_array_equal(band[5:], seg.labels[5:])
        assert src.colormap(1)[0][:3] == tuple(seg.palette[0])
    by_name = {f.name: f for f in files}
    with rasterio.open(by_name["scene_segmented.tif"]) as src:
        assert src.count == 4 and src.read(4)[:5].max() == 0
    rows = list(csv.DictReader(io.StringIO(by_name["scene_areas.csv"].read_text())))
    assert [int(r["pixels"]) for r in rows] == seg.counts.tolist()
    # A 10 m UTM grid: on the ellipsoid, within the projection's scale factor of 100 m².
    assert float(rows[0]["area_ha"]) == pytest.approx(seg.counts[0] * 100 / 10_000, rel=2e-3)
    assert {r["area_basis"] for r in rows} == {"ellipsoid"}
    collection = json.loads(by_name["scene_classes.geojson"].read_text())
    assert collection["type"] == "FeatureCollection" and collection["features"]
    assert {f["properties"]["class"] for f in collection["features"]} <= set(range(4))
    assert {f["properties"]["name"] for f in collection["features"]} <= set(seg.names)
    assert core.ClassModel.load(by_name["scene_model.json"]) == seg.model
    # Without a stem: the names kseg segment writes.
    plain = seg.write(tmp_path / "plain", polygons=False)
    assert [f.name for f in plain][:6] == [
        "labels.tif",
        "labels.tif.aux.xml",
        "labels.qml",
        "segmented.tif",
        "areas.csv",
        "model.json",
    ]


def test_cleaned_sieves_and_keeps_totals():
    raster, _ = make_raster(seed=1)
    noisy = np.array(raster.data, dtype=np.float64)
    noisy += np.random.default_rng(1).normal(0, 400, noisy.shape)
    noisy = np.clip(noisy, 1, 65535).astype(np.uint16)
    noisy[:, ~raster.valid] = 0
    seg = segment_raster(
        Raster(noisy, raster.valid, raster.geo, 0.0, raster.band_names, "uint16"), 5
    )
    clean = seg.cleaned(min_pixels=10, majority_size=3)
    assert clean.cleanup == "sieve 10 px, majority 3×3"
    assert clean.counts.sum() == seg.counts.sum()
    assert (clean.labels[:5] == -1).all()
    changed = np.count_nonzero(clean.labels != seg.labels)
    assert changed > 0
    assert clean.areas_m2.sum() == pytest.approx(seg.areas_m2.sum())
    assert seg.cleaned() is seg


def test_class_statistics_are_in_original_units(tmp_path):
    raster, _ = make_raster()
    seg = segment_raster(raster, 3, indices=["ndvi"])
    rows = seg.class_statistics()
    assert len(rows) == 3 * len(seg.feature_names)
    assert [r["feature"] for r in rows[: len(seg.feature_names)]] == list(seg.feature_names)
    for row in rows:  # the oracle: NumPy over each class's raw pixels
        mask = seg.labels == row["class"]
        if row["feature"] == "NDVI":
            from core.features.bands import spectral_index

            values = spectral_index(raster, "ndvi")[mask]
        else:
            values = raster.data[raster.band_names.index(row["feature"])][mask]
        assert row["pixels"] == mask.sum()
        assert row["mean"] == pytest.approx(values.astype(np.float64).mean(), rel=1e-9)
        assert row["std"] == pytest.approx(values.astype(np.float64).std(), rel=1e-6, abs=1e-9)
    table = list(csv.DictReader(io.StringIO(seg.stats_csv().decode())))
    assert list(table[0]) == ["class", "feature", "pixels", "mean", "std"]
    assert len(table) == len(rows)
