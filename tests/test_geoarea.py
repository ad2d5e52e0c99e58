"""Ground areas on the ellipsoid (core.inputs.geoarea) against pyproj.Geod, on real GeoTIFFs."""

import math

import numpy as np
import pytest
import rasterio
from affine import Affine
from pyproj import CRS as ProjCRS
from pyproj import Geod, Transformer
from rasterio.crs import CRS

from core.inputs.geoarea import pixel_areas
from core.inputs.raster import GeoReference, open_raster

GEOD = Geod(ellps="WGS84")
GEOS = "+proj=geos +h=35786023 +lon_0=-75 +sweep=x +ellps=GRS80 +units=m +no_defs"

# name: (CRS, transform, height, width)
SCENES = {
    "utm": ("EPSG:32633", Affine(300, 0, 200_000, 0, -300, 5_600_000), 40, 60),
    "utm_rotated": ("EPSG:32633", Affine(300, 60, 200_000, 60, -300, 5_600_000), 40, 40),
    "mercator_39S": ("EPSG:3857", Affine(500, 0, 1e6, 0, -500, -4.7e6), 30, 30),
    "mercator_25N": ("EPSG:3857", Affine(500, 0, 1e6, 0, -500, 2.9e6), 30, 30),
    "laea": ("EPSG:3035", Affine(1000, 0, 4e6, 0, -1000, 3.5e6), 50, 50),
    "wgs84_antimeridian": ("EPSG:4326", Affine(0.01, 0, 179.8, 0, -0.01, -16.0), 30, 40),
    "geostationary": (GEOS, Affine(20_000, 0, -1e6, 0, -20_000, 3e6), 20, 20),
}


def write_scene(path, crs, transform, height, width):
    data = np.arange(height * width, dtype=np.uint16).reshape(1, height, width)
    with rasterio.open(path, "w", driver="GTiff", height=height, width=width, count=1,
                       dtype="uint16", crs=CRS.from_user_input(crs),
                       transform=transform) as dst:  # fmt: skip
        dst.write(data)
    return path


def geod_area(crs, transform, cols, rows):
    """Geodesic area of a ring given in pixel coordinates, densified in the CRS."""
    x, y = transform @ (np.asarray(cols, float), np.asarray(rows, float))
    source = ProjCRS.from_user_input(crs)
    lon, lat = Transformer.from_crs(source, "EPSG:4326", always_xy=True).transform(x, y)
    return abs(GEOD.polygon_area_perimeter(lon, lat)[0])


def ring(col0, row0, col1, row1, n=50):
    s = np.linspace(0, 1, n, endpoint=False)
    cols = np.concatenate([col0 + s * (col1 - col0), np.full(n, col1),
                           col1 - s * (col1 - col0), np.full(n, col0)])  # fmt: skip
    rows = np.concatenate([np.full(n, row0), row0 + s * (row1 - row0),
                           np.full(n, row1), row1 - s * (row1 - row0)])  # fmt: skip
    return cols, rows


@pytest.mark.parametrize("name", sorted(SCENES))
def test_ground_areas_match_geod_on_every_projection(tmp_path, name):
    crs, transform, height, width = SCENES[name]
    raster = open_raster(write_scene(tmp_path / f"{name}.tif", crs, transform, height, width))
    areas = raster.pixel_areas()
    assert areas.basis == "ellipsoid"
    whole = areas.block(0, height)
    assert whole.shape == (height, width) and np.isfinite(whole).all()
    # The whole scene, and a few single pixels and blocks, against Geod (0.1 %).
    assert whole.sum() == pytest.approx(
        geod_area(crs, raster.geo.transform, *ring(0, 0, width, height)), rel=1e-3
    )
    assert raster.valid_area_m2() == pytest.approx(whole.sum(), rel=1e-12)
    for r0, c0, r1, c1 in [(0, 0, 1, 1), (height - 1, width - 1, height, width), (3, 5, 9, 17)]:
        expected = geod_area(crs, raster.geo.transform, *ring(c0, r0, c1, r1, n=8))
        assert whole[r0:r1, c0:c1].sum() == pytest.approx(expected, rel=1e-3)


def test_mercator_plane_areas_are_the_projections_not_the_grounds():
    crs, transform, height, width = SCENES["mercator_39S"]
    geo = GeoReference(CRS.from_user_input(crs), transform)
    ground = geo.pixel_areas(height, width)
    plane = geo.pixel_areas(height, width, basis="plane")
    assert plane.basis == "plane" and ground.basis == "ellipsoid"
    np.testing.assert_array_equal(plane.rows, np.full(height, 500.0 * 500.0))
    # About 1 / cos² φ (the sphere's figure; the 1.68 at 39.5° S): φ ≈ 38.9° here.
    _, lat = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True).transform(
        *(transform @ (width / 2, height / 2))
    )
    ratio = plane.rows.mean() / ground.rows.mean()
    assert ratio == pytest.approx(1 / math.cos(math.radians(lat)) ** 2, rel=5e-3)
    # Mercator's areas vary only from row to row: one value per row, as row_areas gives.
    np.testing.assert_allclose(geo.row_areas(height, width), ground.rows)
    # UTM's vary along a row: row_areas says to use pixel_areas, plane rows stay available.
    utm = GeoReference(CRS.from_epsg(32633), SCENES["utm"][1])
    with pytest.raises(ValueError, match="pixel_areas"):
        utm.row_areas(40, 60)
    np.testing.assert_array_equal(utm.row_areas(40), np.full(40, 300.0 * 300.0))


def test_large_grids_are_interpolated_within_the_tolerance():
    # 3000 × 20000 UTM pixels spanning the zone: a lattice, checked against Geod.
    transform = Affine(30, 0, 200_000, 0, -30, 5_600_000)
    areas = pixel_areas(CRS.from_epsg(32633), transform, (3000, 20_000))
    assert areas.method == "lattice"
    labels = np.zeros((3000, 20_000), dtype=np.int8)
    labels[:, 10_000:] = 1
    got, off = areas.class_sums(labels, 2)
    assert off == 0
    left = geod_area("EPSG:32633", transform, *ring(0, 0, 10_000, 3000, n=400))
    right = geod_area("EPSG:32633", transform, *ring(10_000, 0, 20_000, 3000, n=400))
    np.testing.assert_allclose(got, [left, right], rtol=1e-4)


def test_off_the_earth_pixels_have_no_area_and_are_counted():
    # A geostationary full disk at 200 km: its corners see space.
    transform = Affine(200_000, 0, -5.6e6, 0, -200_000, 5.6e6)
    areas = pixel_areas(CRS.from_user_input(GEOS), transform, (56, 56))
    block = areas.block(0, 56)
    assert np.isnan(block[0, 0]) and np.isfinite(block[28, 28])
    got, off = areas.class_sums(np.zeros((56, 56), dtype=np.int32), 1)
    assert off == int(np.isnan(block).sum()) > 0
    # The visible cap is 42 % of the Earth; the whole on-disk 200 km pixels, most of it.
    earth = 510_065_621.7e6
    assert 0.25 < got[0] / earth < (1 - 6378.137 / 42_164.2) / 2


def test_geographic_rows_are_exact_and_cross_the_antimeridian():
    _, transform, height, width = SCENES["wgs84_antimeridian"]
    areas = pixel_areas(CRS.from_epsg(4326), transform, (height, width))
    assert areas.method == "rows"
    # One cell: the ellipsoidal quadrangle, via Geod with densified parallels.
    lat0 = -16.0
    lons = np.concatenate([np.linspace(179.8, 179.81, 20), np.linspace(179.81, 179.8, 20)])
    lats = np.concatenate([np.full(20, lat0), np.full(20, lat0 - 0.01)])
    assert areas.rows[0] == pytest.approx(abs(GEOD.polygon_area_perimeter(lons, lats)[0]),
                                          rel=1e-5)  # fmt: skip


def test_unknown_basis_is_refused():
    with pytest.raises(ValueError, match="basis"):
        pixel_areas(CRS.from_epsg(32633), Affine(1, 0, 0, 0, -1, 0), (2, 2), basis="flat")
    assert pixel_areas(None, Affine.identity(), (2, 2)) is None
