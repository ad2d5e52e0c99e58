"""Ground areas of pixels on the ellipsoid, in any coordinate reference system.

A map projection distorts areas: a Web Mercator pixel at 39.5° S covers 1/1.68 of the
ground its map-plane size says, a UTM pixel at the edge of its zone 0.2 % more. GIS tools
(QGIS by default) measure on the ellipsoid instead. :func:`pixel_areas` does the same for
every pixel of a grid:

* a north-up grid in a geographic CRS (EPSG:4326) gets the exact area of each cell's
  ellipsoidal quadrangle, one value per row (:func:`ellipsoid_zone_area`);
* a projected grid has the corners of its pixels taken to longitude/latitude with pyproj
  and each pixel's area measured in Lambert's cylindrical equal-area map of the CRS's own
  ellipsoid (an exact equal-area map, so the area of a pixel there *is* its area on the
  ellipsoid, to the second order of the pixel's size; coordinate differences are taken
  pixel by pixel, so the antimeridian and fine grids cost no precision). Where the area
  only depends on the row (Mercator, equal-area projections) one pixel per row is
  measured; elsewhere (UTM, rotated grids, geostationary views) a lattice of pixels is
  measured and interpolated, refined until interpolation is within 2·10⁻⁵ of the measured
  value at the lattice's midpoints, or every pixel is measured, block by block;
* pixels whose corners do not lie on the Earth (the corners of a geostationary full
  disk) have no area: NaN, and counted (:meth:`PixelAreas.class_sums`).

``basis="plane"`` keeps the map plane's area (``|det T|`` × unit², what the projection
says) for projected CRSs; a geographic CRS has no plane area in m², so it is always
measured on the ellipsoid. :attr:`PixelAreas.basis` says which one was used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
from affine import Affine

from core.errors import ImageError

__all__ = ["AREA_BASES", "AreaBasis", "PixelAreas", "ellipsoid_zone_area", "pixel_areas"]

AreaBasis = Literal["ellipsoid", "plane"]
#: The area bases :func:`pixel_areas` knows.
AREA_BASES: Final = ("ellipsoid", "plane")

_LATTICE: Final = 65  # pixels measured along each axis at first
_MAX_LATTICE: Final = 1025  # beyond this, every pixel is measured block by block
_TOLERANCE: Final = 2e-5  # largest relative interpolation error accepted
_ROWS_ONLY: Final = 1e-7  # relative spread along the rows under which one value per row
_BLOCK: Final = 1 << 20  # pixels per block when summing
_MAX_SPAN: Final = 0.25  # degrees a (sub-)pixel may span before it is subdivided


def ellipsoid_zone_area(latitude: np.ndarray, a: float, f: float) -> np.ndarray:
    """Area between the equator and `latitude`, per radian of longitude, on an ellipsoid.

    Parameters
    ----------
    latitude : ndarray of float
        Geodetic latitudes in radians.
    a : float
        Semi-major axis in metres.
    f : float
        Flattening (0 for a sphere).

    Returns
    -------
    ndarray of float64
        Signed area in m² (negative south of the equator). The area of a cell between
        latitudes φ1, φ2 and longitudes λ1, λ2 (radians) is ``|λ2 − λ1| · |S(φ2) − S(φ1)|``.
        The closed form of the authalic-latitude integral:
        ``S(φ) = b²/2 · (sin φ / (1 − e² sin² φ) + atanh(e sin φ) / e)``. ``(λ, S(φ))`` is
        Lambert's cylindrical equal-area map of the ellipsoid (in m² per radian).

    Examples
    --------
    >>> import math
    >>> total = 4 * math.pi * float(ellipsoid_zone_area(np.array(math.pi / 2), 6378137.0,
    ...                                                 1 / 298.257223563))
    >>> round(total / 1e6)  # the WGS 84 ellipsoid's surface, km²
    510065622
    """
    s = np.sin(np.asarray(latitude, dtype=np.float64))
    b = a * (1.0 - f)
    e2 = f * (2.0 - f)
    if e2 == 0:
        return a * a * s
    e = math.sqrt(e2)
    return 0.5 * b * b * (s / (1.0 - e2 * s * s) + np.arctanh(e * s) / e)


@dataclass(frozen=True, eq=False)
class PixelAreas:
    """The ground area of every pixel of a grid, in m², without holding an (H, W) array.

    Made by :func:`pixel_areas`. Read it by blocks of rows (:meth:`block`), or sum it per
    class (:meth:`class_sums`).

    Attributes
    ----------
    basis : {"ellipsoid", "plane"}
        Where the areas are measured: on the CRS's ellipsoid, or on the map plane.
    shape : (int, int)
        Height and width of the grid.
    rows : (H,) ndarray of float64, or None
        The area of a pixel in each row, when every pixel of a row has the same area
        (geographic grids, Mercator, equal-area projections, the plane basis); None when
        it varies along the rows.
    method : str
        How the areas were found: ``"rows"``, ``"lattice"`` (interpolated from a lattice
        of measured pixels) or ``"pixels"`` (every pixel measured).
    """

    basis: str
    shape: tuple[int, int]
    rows: np.ndarray | None
    method: str
    _lattice: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    _measure: Any = None

    def block(self, start: int, stop: int) -> np.ndarray:
        """Areas of the pixels of rows ``start … stop − 1``.

        Returns
        -------
        (stop − start, W) ndarray of float64
            m² per pixel; NaN where the pixel is not on the Earth.
        """
        height, width = self.shape
        start, stop = max(0, start), min(height, stop)
        if self.rows is not None:
            return np.repeat(self.rows[start:stop, None], width, axis=1)
        rows = np.arange(start, stop)
        if self._lattice is None:
            return self._measure(rows, np.arange(width))
        ys, xs, values = self._lattice
        columns = _interpolate(values, ys, rows, axis=0)
        return _interpolate(columns, xs, np.arange(width), axis=1)

    def class_sums(self, labels: np.ndarray, k: int) -> tuple[np.ndarray, int]:
        """Area of each class, and how many of its pixels have no area (off the Earth).

        Parameters
        ----------
        labels : (H, W) ndarray of int
            Class per pixel in ``0 … k − 1``; negative for pixels that do not count.
        k : int

        Returns
        -------
        areas : (k,) ndarray of float64
            m² per class (pixels without an area add nothing).
        off_earth : int
            Counted pixels without an area.
        """
        labels = np.asarray(labels)
        if labels.shape != self.shape:
            raise ValueError(f"labels must have shape {self.shape}, got {labels.shape}.")
        areas = np.zeros(k)
        off = 0
        step = max(1, _BLOCK // max(1, self.shape[1]))
        for start in range(0, self.shape[0], step):
            block = labels[start : start + step]
            counted = block >= 0
            if self.rows is not None:
                area = np.broadcast_to(self.rows[start : start + step, None], block.shape)
            else:
                area = self.block(start, start + block.shape[0])
            finite = np.isfinite(area)
            use = counted & finite
            areas += np.bincount(block[use], weights=area[use], minlength=k)[:k]
            off += int(np.count_nonzero(counted & ~finite))
        return areas, off

    def class_areas(self, labels: np.ndarray, k: int) -> np.ndarray:
        """:meth:`class_sums`'s areas alone: (k,) m² per class."""
        return self.class_sums(labels, k)[0]

    def total(self, mask: np.ndarray) -> float:
        """Area of the pixels where `mask` (H, W) is True, in m² (NaN areas add nothing)."""
        return float(self.class_areas(np.where(mask, 0, -1), 1)[0])


def pixel_areas(
    crs: Any, transform: Affine, shape: tuple[int, int], *, basis: AreaBasis = "ellipsoid"
) -> PixelAreas | None:
    """The ground area of every pixel of a grid.

    Parameters
    ----------
    crs : rasterio.crs.CRS, pyproj.CRS or None
        The grid's CRS; None gives None (areas unknown).
    transform : affine.Affine
        Pixel (col, row) → CRS coordinates of the pixel's upper-left corner.
    shape : (int, int)
        Height and width of the grid.
    basis : {"ellipsoid", "plane"}
        ``"ellipsoid"`` (default) measures on the CRS's ellipsoid (WGS 84 for WGS 84 and
        ETRS89 CRSs); ``"plane"`` takes the map plane's area in a projected CRS. A
        geographic CRS is always measured on the ellipsoid.

    Returns
    -------
    PixelAreas or None

    Raises
    ------
    ImageError
        If the grid is rotated in a geographic CRS, its rows lie beyond ±90° latitude,
        or the CRS is neither geographic nor projected, or has units that are not metres
        or a multiple.
    ValueError
        If `basis` is unknown.

    Examples
    --------
    >>> from rasterio.crs import CRS
    >>> areas = pixel_areas(CRS.from_epsg(3857), Affine(1000, 0, 0, 0, -1000, -4_795_000),
    ...                     (1, 1))
    >>> round(float(areas.rows[0]) / 1e6, 3)  # a 1 km Mercator pixel at 39.5° S, in km²
    0.594
    """
    if basis not in AREA_BASES:
        raise ValueError(f"basis must be 'ellipsoid' or 'plane', got {basis!r}.")
    height, width = (int(v) for v in shape)
    if crs is None:
        return None
    name = _crs_name(crs)
    if crs.is_geographic:
        return PixelAreas(
            "ellipsoid", (height, width), _geographic_rows(crs, transform, height, name), "rows"
        )
    if not crs.is_projected:
        raise ImageError(
            f"The raster's CRS ({name}) is neither projected nor geographic, so its "
            "pixel areas are unknown. Assign the right CRS (gdal_edit.py -a_srs EPSG:…)."
        )
    if basis == "plane":
        factor = _linear_factor(crs, name)
        det = abs(transform.a * transform.e - transform.b * transform.d)
        return PixelAreas("plane", (height, width), np.full(height, det * factor * factor), "rows")
    measure = _Measure(crs, transform)
    if height == 0 or width == 0:
        return PixelAreas("ellipsoid", (height, width), np.zeros(height), "rows")
    n = _LATTICE
    while True:
        ys, xs = _samples(height, n), _samples(width, n)
        values = measure(ys, xs)
        if ys.size == height and xs.size == width:  # every pixel measured
            if np.isfinite(values).all():
                spread = np.ptp(values, axis=1) / np.abs(values).mean(axis=1)
                if spread.max() <= _ROWS_ONLY:
                    return PixelAreas("ellipsoid", (height, width), values.mean(axis=1), "rows")
            return PixelAreas("ellipsoid", (height, width), None, "pixels", (ys, xs, values))
        if not np.isfinite(values).all():  # off the Earth somewhere: measure every pixel
            return PixelAreas("ellipsoid", (height, width), None, "pixels", None, measure)
        spread = np.ptp(values, axis=1) / np.abs(values).mean(axis=1)
        if spread.max() <= _ROWS_ONLY:
            rows = measure(np.arange(height), np.array([width // 2]))[:, 0]
            if np.isfinite(rows).all():
                return PixelAreas("ellipsoid", (height, width), rows, "rows")
        # Check the interpolation where it is worst: halfway between the measured pixels.
        my, mx = _midpoints(ys), _midpoints(xs)
        truth = measure(my, mx)
        guess = _interpolate(_interpolate(values, ys, my, axis=0), xs, mx, axis=1)
        error = np.abs(guess - truth) / np.abs(truth)
        if np.isfinite(error).all() and error.max() <= _TOLERANCE:
            return PixelAreas("ellipsoid", (height, width), None, "lattice", (ys, xs, values))
        if n >= _MAX_LATTICE:
            return PixelAreas("ellipsoid", (height, width), None, "pixels", None, measure)
        n = 2 * n - 1


class _Measure:
    """Measures the ellipsoidal area of chosen pixels of a projected grid."""

    def __init__(self, crs: Any, transform: Affine) -> None:
        import pyproj

        source = pyproj.CRS.from_user_input(crs.to_wkt() if hasattr(crs, "to_wkt") else crs)
        geodetic = source.geodetic_crs
        if geodetic is None:
            raise ImageError(
                f"The raster's CRS ({_crs_name(crs)}) has no datum, so its pixel areas on the "
                "ground are unknown. Assign the right CRS (gdal_edit.py -a_srs EPSG:…), or use "
                "the plane areas (area_basis='plane')."
            )
        self.transformer = pyproj.Transformer.from_crs(source, geodetic, always_xy=True)
        ellipsoid = geodetic.ellipsoid
        if ellipsoid is None:
            raise ImageError(
                f"The raster's CRS ({_crs_name(crs)}) has no ellipsoid, so its pixel areas on "
                "the ground are unknown. Use the plane areas (area_basis='plane')."
            )
        self.a = float(ellipsoid.semi_major_metre)
        inverse_f = float(ellipsoid.inverse_flattening or 0.0)
        self.f = 1.0 / inverse_f if inverse_f else 0.0
        self.unit = math.pi / 180  # pyproj's geodetic CRSs answer in degrees
        self.transform = transform
        self.sub: int | None = None

    def __call__(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Areas (len(rows), len(cols)) in m² of the pixels at those rows and columns."""
        rows = np.asarray(rows, dtype=np.float64)
        cols = np.asarray(cols, dtype=np.float64)
        if self.sub is None:
            self.sub = 1
            probe = self._areas(rows[:: max(1, rows.size // 8)], cols[:: max(1, cols.size // 8)])
            self.sub = probe[1]
        out = np.empty((rows.size, cols.size))
        step = max(1, (_BLOCK // 4) // max(1, cols.size * self.sub * self.sub))
        for start in range(0, rows.size, step):
            out[start : start + step] = self._areas(rows[start : start + step], cols)[0]
        return out

    def _areas(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, int]:
        sub = self.sub or 1
        steps = np.arange(sub + 1) / sub
        r = rows[:, None] + steps[None, :]  # (nr, s + 1) corner rows
        c = cols[:, None] + steps[None, :]
        cc = np.broadcast_to(c[None, None, :, :], (r.shape[0], sub + 1, c.shape[0], sub + 1))
        rr = np.broadcast_to(r[:, :, None, None], cc.shape)
        t = self.transform
        x = t.a * cc + t.b * rr + t.c
        y = t.d * cc + t.e * rr + t.f
        with np.errstate(invalid="ignore", over="ignore"):
            lon, lat = self.transformer.transform(x.ravel(), y.ravel(), errcheck=False)
            lon = np.asarray(lon, dtype=np.float64).reshape(cc.shape) * self.unit
            lat = np.asarray(lat, dtype=np.float64).reshape(cc.shape) * self.unit
            lat[~np.isfinite(lon) | (np.abs(lat) > math.pi / 2 + 1e-9)] = np.nan
            s = ellipsoid_zone_area(np.clip(lat, -math.pi / 2, math.pi / 2), self.a, self.f)
            # The quadrilateral p00 p01 p11 p10 has area |d1 × d2| / 2 with its diagonals
            # d1 = p11 − p00, d2 = p01 − p10; longitude differences wrap at ±π.
            dx1 = _wrap(lon[:, 1:, :, 1:] - lon[:, :-1, :, :-1])
            dy1 = s[:, 1:, :, 1:] - s[:, :-1, :, :-1]
            dx2 = _wrap(lon[:, :-1, :, 1:] - lon[:, 1:, :, :-1])
            dy2 = s[:, :-1, :, 1:] - s[:, 1:, :, :-1]
            quads = 0.5 * np.abs(dx1 * dy2 - dx2 * dy1)
            span = np.nanmax(np.hypot(dx1, lat[:, 1:, :, 1:] - lat[:, :-1, :, :-1]), initial=0.0)
        areas = quads.sum(axis=(1, 3))  # NaN when any corner is off the Earth
        wanted = int(min(16, max(1, math.ceil(math.degrees(span) * sub / _MAX_SPAN))))
        return areas, wanted


def _wrap(delta: np.ndarray) -> np.ndarray:
    return (delta + math.pi) % (2 * math.pi) - math.pi


def _samples(size: int, n: int) -> np.ndarray:
    """`n` pixel positions spread over ``0 … size − 1`` (all of them when size <= n)."""
    if size <= n:
        return np.arange(size)
    return np.unique(np.rint(np.linspace(0, size - 1, n)).astype(np.int64))


def _midpoints(positions: np.ndarray) -> np.ndarray:
    if positions.size < 2:
        return positions
    return (positions[:-1] + positions[1:]) // 2


def _interpolate(values: np.ndarray, at: np.ndarray, wanted: np.ndarray, axis: int) -> np.ndarray:
    """Linear interpolation of `values` (known at positions `at` along `axis`) at `wanted`."""
    if at.size == 1:
        return np.repeat(values, wanted.size, axis=axis)
    i = np.clip(np.searchsorted(at, wanted, side="right") - 1, 0, at.size - 2)
    w = (wanted - at[i]) / (at[i + 1] - at[i])
    low, high = np.take(values, i, axis=axis), np.take(values, i + 1, axis=axis)
    shape = [1, 1]
    shape[axis] = -1
    w = w.reshape(shape)
    return low * (1 - w) + high * w


def _crs_name(crs: Any) -> str:
    try:
        epsg = crs.to_epsg()
    except Exception:  # an unusual CRS object: its name is only for messages
        epsg = None
    return f"EPSG:{epsg}" if epsg else str(getattr(crs, "name", None) or crs)


def _linear_factor(crs: Any, name: str) -> float:
    import rasterio.errors

    try:
        _, factor = crs.linear_units_factor
    except (rasterio.errors.CRSError, AttributeError) as e:
        raise ImageError(
            f"The raster's CRS ({name}) has a linear unit kseg cannot turn "
            "into metres. Reproject it to a metric CRS (gdalwarp -t_srs …)."
        ) from e
    return float(factor)


def _angular_unit(crs: Any) -> float:
    """Radians per unit of a geographic CRS (degrees unless it says otherwise)."""
    import rasterio.errors

    try:
        _, factor = crs.units_factor
    except (rasterio.errors.CRSError, AttributeError):
        return math.pi / 180
    return float(factor) if factor else math.pi / 180


def _ellipsoid(crs: Any) -> tuple[float, float]:
    """Semi-major axis (m) and flattening of a CRS's ellipsoid (WGS 84 when unstated)."""
    import re

    match = re.search(
        r'(?:SPHEROID|ELLIPSOID)\["[^"]*",\s*([0-9.eE+-]+),\s*([0-9.eE+-]+)', crs.to_wkt()
    )
    if not match:
        return 6378137.0, 1 / 298.257223563
    a, inverse_f = float(match.group(1)), float(match.group(2))
    return a, (1.0 / inverse_f if inverse_f else 0.0)


def _geographic_rows(crs: Any, t: Affine, height: int, name: str) -> np.ndarray:
    """Exact area of a pixel of each row of a north-up grid in a geographic CRS."""
    if t.b != 0 or t.d != 0:
        raise ImageError(
            "The raster's grid is rotated in a geographic CRS, so kseg cannot compute "
            "its pixel areas. Warp it to a projected CRS first "
            "(e.g. `gdalwarp -t_srs EPSG:3857 in.tif out.tif`)."
        )
    unit = _angular_unit(crs)
    edges = (t.f + t.e * np.arange(height + 1)) * unit
    if np.abs(edges).max() > math.pi / 2 * (1 + 1e-9):
        raise ImageError(
            f"The raster's rows reach latitude {np.degrees(np.abs(edges).max()):.1f}°, "
            f"beyond ±90°: its transform does not fit its CRS ({name}). Check "
            "the georeference (gdalinfo) and assign the right CRS (gdal_edit.py -a_srs)."
        )
    a, f = _ellipsoid(crs)
    zone = ellipsoid_zone_area(np.clip(edges, -math.pi / 2, math.pi / 2), a, f)
    return np.abs(np.diff(zone)) * abs(t.a) * unit
