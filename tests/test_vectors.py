"""Class polygons (core.formats.vectors): exact pixels, valid GeoJSON, GeoPackage in the CRS."""

import json

import numpy as np
import pyogrio
import pytest
import rasterio
import shapely
from affine import Affine
from pyproj import CRS as ProjCRS
from pyproj import Geod
from rasterio.crs import CRS

from core.formats.vectors import ReprojectionError, polygonize, polygons_json
from core.inputs.raster import GeoReference, open_raster
from core.results.raster_cleanup import class_polygons, sieve_labels

GEOD = Geod(ellps="WGS84")
GEOS = "+proj=geos +h=35786023 +lon_0=-75 +sweep=x +ellps=GRS80 +units=m +no_defs"


def blobs(height, width, k, seed=0, cell=4):
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, k, size=(height // cell + 1, width // cell + 1))
    labels = np.kron(coarse, np.ones((cell, cell), dtype=np.int64))[:height, :width]
    labels = labels.astype(np.int32)
    labels[rng.random((height, width)) < 0.05] = -1  # scattered no-data
    return labels


def scene_geo(tmp_path, crs, transform, labels):
    path = tmp_path / "labels.tif"
    with rasterio.open(path, "w", driver="GTiff", height=labels.shape[0],
                       width=labels.shape[1], count=1, dtype="int16", nodata=-1,
                       crs=CRS.from_user_input(crs), transform=transform) as dst:  # fmt: skip
        dst.write(labels.astype(np.int16), 1)
    return open_raster(path).geo


def region_counts(labels, connectivity=4):
    """Pixels per connected region of each class, sorted (the oracle: scipy's labelling)."""
    from scipy import ndimage

    structure = ndimage.generate_binary_structure(2, 1 if connectivity == 4 else 2)
    counts = []
    for c in range(int(labels.max()) + 1):
        regions, _ = ndimage.label(labels == c, structure=structure)
        counts += np.bincount(regions.ravel())[1:].tolist()
    return sorted(counts)


@pytest.mark.parametrize(
    ("crs", "transform"),
    [
        ("EPSG:32633", Affine(10, 0, 500_000, 0, -10, 5_500_000)),
        ("EPSG:3035", Affine(1000, 0, 4e6, 0, -1000, 3.5e6)),
        ("EPSG:3857", Affine(500, 0, 1e6, 0, -500, -4.7e6)),
    ],
)
def test_polygons_are_exact_valid_and_in_both_files(tmp_path, crs, transform):
    labels = blobs(60, 80, 3)
    geo = scene_geo(tmp_path, crs, transform, labels)
    polygons = polygonize(labels, geo)
    # One polygon per connected region, each with its exact pixel count.
    assert sorted(polygons.pixels.tolist()) == region_counts(labels)
    assert polygons.pixels.sum() == np.count_nonzero(labels >= 0)
    for c in range(3):
        assert polygons.pixels[polygons.classes == c].sum() == np.count_nonzero(labels == c)
    # Areas from the pixels: the class sums equal the pixel areas' class sums.
    per_class = geo.pixel_areas(60, 80).class_areas(labels, 3)
    for c in range(3):
        got = polygons.areas_m2[polygons.classes == c].sum()
        assert got == pytest.approx(per_class[c], rel=1e-9)
    # Pixel edges kept: each polygon's area on the map plane is its pixel count × |det T|.
    np.testing.assert_allclose(
        shapely.area(polygons.geometries), polygons.pixels * abs(transform.determinant)
    )
    assert shapely.is_valid(polygons.geometries).all()
    # WGS 84 GeoJSON: valid, densified (the ground area of every feature follows its
    # pixels' within 0.1 %), with the properties a GIS expects.
    collection = json.loads(polygons_json(polygons.geojson()))
    features = collection["features"]
    assert len(features) == len(polygons)
    for feature in features:
        assert set(feature["properties"]) == {"class", "name", "pixels", "area_m2"}
        geometry = shapely.geometry.shape(feature["geometry"])
        assert geometry.is_valid
        area = abs(GEOD.geometry_area_perimeter(geometry)[0])
        assert area == pytest.approx(feature["properties"]["area_m2"], rel=1e-3)
    # GeoPackage in the raster's own CRS, read back with pyogrio.
    path = tmp_path / "classes.gpkg"
    path.write_bytes(polygons.geopackage())
    info = pyogrio.read_info(path)
    assert ProjCRS.from_user_input(info["crs"]) == ProjCRS.from_user_input(crs)
    assert info["features"] == len(polygons)
    meta, _, geometry, fields = pyogrio.raw.read(path)
    assert meta["fields"].tolist() == ["class", "name", "pixels", "area_m2"]
    np.testing.assert_array_equal(fields[2], polygons.pixels)
    read = shapely.from_wkb(geometry)
    assert shapely.equals_exact(read, polygons.geometries, tolerance=1e-6).all()


def test_laea_polygons_do_not_grow_when_reprojected(tmp_path):
    # One large class over a 2000 km LAEA scene: densified edges keep its area.
    labels = np.zeros((20, 20), dtype=np.int32)
    labels[5:15, 5:15] = 1
    geo = scene_geo(tmp_path, "EPSG:3035", Affine(100_000, 0, 3e6, 0, -100_000, 4.5e6), labels)
    polygons = polygonize(labels, geo)
    for feature in polygons.geojson()["features"]:
        geometry = shapely.geometry.shape(feature["geometry"])
        assert geometry.is_valid
        assert abs(GEOD.geometry_area_perimeter(geometry)[0]) == pytest.approx(
            feature["properties"]["area_m2"], rel=1e-3
        )


def test_polygons_split_at_the_antimeridian_share_their_pixels(tmp_path):
    # A UTM zone 60 scene straddling 180°: one class crosses it.
    transform = Affine(1000, 0, 780_000, 0, -1000, 8_100_000)  # 180° is near 819 km
    labels = np.zeros((20, 60), dtype=np.int32)
    labels[:, 20:] = 1
    geo = scene_geo(tmp_path, "EPSG:32760", transform, labels)
    polygons = polygonize(labels, geo)
    features = polygons.geojson()["features"]
    assert len(features) > len(polygons)  # something was split
    for c in range(2):
        parts = [f for f in features if f["properties"]["class"] == c]
        assert sum(f["properties"]["pixels"] for f in parts) == np.count_nonzero(labels == c)
        area = sum(f["properties"]["area_m2"] for f in parts)
        assert area == pytest.approx(polygons.areas_m2[polygons.classes == c].sum(), rel=1e-6)
    for feature in features:
        geometry = shapely.geometry.shape(feature["geometry"])
        assert geometry.is_valid
        minx, _, maxx, _ = geometry.bounds
        assert -180 <= minx and maxx <= 180 and maxx - minx < 180
        share = abs(GEOD.geometry_area_perimeter(geometry)[0])
        assert share == pytest.approx(feature["properties"]["area_m2"], rel=1e-3)


def test_geographic_scene_beyond_180_is_split(tmp_path):
    transform = Affine(0.01, 0, 179.9, 0, -0.01, 10.0)  # columns from 179.9° to 180.2°
    labels = np.zeros((10, 30), dtype=np.int32)
    geo = GeoReference(CRS.from_epsg(4326), transform)
    features = polygonize(labels, geo).geojson()["features"]
    assert len(features) == 2
    assert sorted(f["properties"]["pixels"] for f in features) == [100, 200]
    assert all(shapely.geometry.shape(f["geometry"]).bounds[2] <= 180 for f in features)


def test_geostationary_gets_a_geopackage_and_a_note_not_an_exception(tmp_path):
    transform = Affine(200_000, 0, -5.6e6, 0, -200_000, 5.6e6)
    labels = blobs(56, 56, 3, cell=8)
    geo = scene_geo(tmp_path, GEOS, transform, labels)
    polygons = polygonize(labels, geo)
    assert sorted(polygons.pixels.tolist()) == region_counts(labels)
    with pytest.raises(ReprojectionError, match="off the Earth"):
        polygons.geojson()
    gpkg = polygons.geopackage()
    path = tmp_path / "geos.gpkg"
    path.write_bytes(gpkg)
    method = ProjCRS.from_user_input(pyogrio.read_info(path)["crs"]).coordinate_operation
    assert "geostationary" in method.method_name.lower()
    # The old entry point does not raise either: the scene's CRS and a note.
    collection = class_polygons(labels, geo)
    assert "off the Earth" in collection["note"] and "crs" in collection


def test_polygonize_is_fast(tmp_path):
    import time

    labels = blobs(800, 800, 5, seed=3, cell=4)
    geo = GeoReference(CRS.from_epsg(32633), Affine(10, 0, 500_000, 0, -10, 5_500_000))
    started = time.process_time()
    polygons = polygonize(labels, geo)
    elapsed = time.process_time() - started
    assert len(polygons) > 15_000
    assert elapsed < 3.0  # about 0.3 s here; generous for a shared machine


def test_eight_connectivity_and_repairs(tmp_path):
    labels = np.zeros((4, 4), dtype=np.int32)
    labels[0, 0] = labels[1, 1] = labels[2, 2] = 1  # touching at corners only
    geo = GeoReference(CRS.from_epsg(32633), Affine(10, 0, 500_000, 0, -10, 5_500_000))
    polygons = polygonize(labels, geo, connectivity=8)
    assert sorted(polygons.pixels.tolist()) == region_counts(labels, connectivity=8)
    assert shapely.is_valid(polygons.geometries).all()
    four = polygonize(labels, geo, connectivity=4)
    assert sorted(four.pixels.tolist()) == [1, 1, 1, 13]


def test_sieve_larger_than_a_tiny_window():
    labels = np.zeros((3, 3), dtype=np.int32)
    labels[1, 1] = 1
    # GDAL refuses a threshold >= the image size; every region is smaller, so none grows.
    for size in (9, 10, 1000):
        np.testing.assert_array_equal(sieve_labels(labels, size), labels)
    labels[0, 0] = -1
    assert sieve_labels(labels, 50)[0, 0] == -1


def test_geopackage_without_features_or_crs(tmp_path):
    labels = np.full((3, 3), -1, dtype=np.int32)
    polygons = polygonize(labels, GeoReference(None, Affine.identity()))
    assert len(polygons) == 0 and polygons.areas_m2 is None
    assert polygons.geojson()["features"] == []
    path = tmp_path / "empty.gpkg"
    path.write_bytes(polygons.geopackage())
    info = pyogrio.read_info(path)
    assert info["features"] == 0
