"""Class polygons a GIS accepts: GeoJSON in WGS 84 and GeoPackage in the raster's own CRS.

:func:`polygonize` traces every connected region of each class once (GDAL's polygonizer
through :func:`rasterio.features.shapes`, on region ids from OpenCV's connected
components) and gives each region its exact pixel count and ground area from the pixels
themselves (not from the polygon's coordinates). The polygons keep every pixel edge.

* :meth:`ClassPolygons.geopackage` writes them in the raster's own CRS, unchanged;
* :meth:`ClassPolygons.geojson` reprojects them to longitude/latitude (RFC 7946): edges are
  densified first so that they follow the curve a straight edge becomes, polygons crossing
  the antimeridian are split there (the parts share the region's pixels and area in
  proportion to their geodesic areas), and every geometry is valid (shapely's
  ``make_valid`` only for the few that are not, counted in :attr:`ClassPolygons.repaired`).
  A projection whose polygons cannot all be taken to WGS 84 (a geostationary view whose
  pixel corners lie off the Earth) raises :class:`ReprojectionError` with a one-line
  message, which callers show instead of writing the GeoJSON.
"""

from __future__ import annotations

import io
import itertools
import json
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from core.errors import ImageError

__all__ = [
    "ClassPolygons",
    "ReprojectionError",
    "polygonize",
    "polygons_json",
]

#: Densified edges are at most this many pixels long, or 1/_SEGMENTS of the scene's side.
_SEGMENTS: Final = 256


class ReprojectionError(ImageError):
    """The polygons cannot all be taken to WGS 84 (their CRS reaches beyond the Earth)."""


@dataclass(frozen=True, eq=False)
class ClassPolygons:
    """The regions of each class, as polygons in the raster's CRS.

    Attributes
    ----------
    geometries : (n,) ndarray of shapely Polygon
        One polygon (with its holes) per connected region, in the raster's CRS, vertices
        on pixel corners.
    classes : (n,) ndarray of int32
    pixels : (n,) ndarray of int64
        Pixels of each region (exact).
    areas_m2 : (n,) ndarray of float64, or None
        Ground area of each region (None without a CRS); pixels off the Earth add nothing.
    names : tuple of str
        The name of each class (``"class 0"`` … unless given).
    colors : tuple of str, or None
        ``#rrggbb`` of each class, when a palette was given.
    crs : rasterio.crs.CRS or None
    area_basis : {"ellipsoid", "plane"} or None
    shape : (int, int)
        Height and width of the label grid.
    repaired : int
        Polygons that were invalid as traced and went through ``make_valid``.
    transform : affine.Affine or None
        The grid's transform (pixel → CRS), used to densify along the pixel grid.
    """

    geometries: np.ndarray
    classes: np.ndarray
    pixels: np.ndarray
    areas_m2: np.ndarray | None
    names: tuple[str, ...]
    colors: tuple[str, ...] | None
    crs: Any
    area_basis: str | None
    shape: tuple[int, int]
    repaired: int = 0
    transform: Any = None

    def __len__(self) -> int:
        return int(self.classes.size)

    def _properties(self, i: int, pixels: int, area: float | None) -> dict[str, Any]:
        cls = int(self.classes[i])
        properties: dict[str, Any] = {
            "class": cls,
            "name": self.names[cls] if cls < len(self.names) else f"class {cls}",
            "pixels": int(pixels),
            "area_m2": None if area is None else round(float(area), 3),
        }
        if self.colors is not None and cls < len(self.colors):
            properties["color"] = self.colors[cls]
        return properties

    def _area(self, i: int) -> float | None:
        return None if self.areas_m2 is None else float(self.areas_m2[i])

    def geojson(self, *, to_wgs84: bool = True) -> dict[str, Any]:
        """A GeoJSON FeatureCollection of the polygons.

        Parameters
        ----------
        to_wgs84 : bool
            Longitude/latitude (RFC 7946; densified, split at the antimeridian, valid);
            False keeps the raster's CRS, recorded in a ``"crs"`` member (GDAL's
            convention).

        Returns
        -------
        dict
            Features with properties ``class``, ``name``, ``pixels``, ``area_m2`` (and
            ``color`` with a palette).

        Raises
        ------
        ReprojectionError
            If some polygons cannot be taken to WGS 84 (pixel corners off the Earth).
        """
        import shapely

        if not to_wgs84 or self.crs is None or (_is_wgs84(self.crs) and not self._beyond_180()):
            features = [
                _feature(g, self._properties(i, p, self._area(i)))
                for i, (g, p) in enumerate(
                    zip(_geojson_geometries(self.geometries), self.pixels, strict=True)
                )
            ]
            collection: dict[str, Any] = {"type": "FeatureCollection", "features": features}
            if self.crs is not None and not to_wgs84:
                collection["crs"] = {"type": "name", "properties": {"name": _crs_text(self.crs)}}
            return collection
        lonlat, repaired = self._to_wgs84()
        whole = [i for i, g in enumerate(lonlat) if not isinstance(g, list)]
        mapped = dict(
            zip(whole, _geojson_geometries(np.array([lonlat[i] for i in whole])), strict=True)
        )
        features = []
        for i, geometry in enumerate(lonlat):
            area = self._area(i)
            if not isinstance(geometry, list):
                features.append(_feature(mapped[i], self._properties(i, self.pixels[i], area)))
                continue
            shares = _shares(geometry)
            pixels = _split_counts(int(self.pixels[i]), shares)
            for piece, share, count in zip(geometry, shares, pixels, strict=True):
                features.append(
                    _feature(
                        shapely.geometry.mapping(piece),
                        self._properties(i, count, None if area is None else area * share),
                    )
                )
        collection = {"type": "FeatureCollection", "features": features}
        if repaired:
            collection["repaired"] = repaired
        return collection

    def _beyond_180(self) -> bool:
        import shapely

        if not len(self):
            return False
        bounds = shapely.total_bounds(self.geometries)
        return bool(bounds[0] < -180 or bounds[2] > 180)

    def _to_wgs84(self) -> tuple[list[Any], int]:
        import pyproj
        import shapely

        geoms = self.geometries
        if not _is_wgs84(self.crs):
            # Densify along the pixel grid first, so straight edges follow their curves.
            height, width = self.shape
            inverse = _affine_inverse(self.transform)
            pixel = shapely.transform(geoms, inverse) if inverse is not None else None
            segment = max(1.0, max(height, width) / _SEGMENTS)
            if pixel is not None:
                dense = shapely.transform(
                    shapely.segmentize(pixel, segment), _affine_apply(self.transform)
                )
            else:
                dense = geoms
            source = pyproj.CRS.from_user_input(_crs_text(self.crs, wkt=True))
            transformer = pyproj.Transformer.from_crs(source, "EPSG:4326", always_xy=True)

            def to_lonlat(xy: np.ndarray) -> np.ndarray:
                with np.errstate(invalid="ignore", over="ignore"):
                    lon, lat = transformer.transform(xy[:, 0], xy[:, 1], errcheck=False)
                return np.column_stack([lon, lat])

            geoms = shapely.transform(dense, to_lonlat)
            coords = shapely.get_coordinates(geoms)
            if not np.isfinite(coords).all():
                bad = int(np.count_nonzero(~np.isfinite(coords).all(axis=1)))
                raise ReprojectionError(
                    f"No WGS 84 GeoJSON: {bad:,} polygon vertices of this "
                    f"{_crs_text(self.crs)} scene lie off the Earth; the GeoPackage keeps "
                    "the polygons in the scene's own CRS."
                )
        out: list[Any] = list(geoms)
        bounds = shapely.bounds(geoms)
        wide = np.flatnonzero(
            (bounds[:, 2] - bounds[:, 0] > 180) | (bounds[:, 0] < -180) | (bounds[:, 2] > 180)
        )
        for i in wide:
            pieces = _split_antimeridian(out[i])
            out[i] = pieces if len(pieces) > 1 else pieces[0]
        flat = [g for g in out if not isinstance(g, list)]
        repaired = 0
        if flat:
            valid = shapely.is_valid(np.array(flat, dtype=object))
            if not valid.all():
                for j, g in enumerate(out):
                    if not isinstance(g, list) and not shapely.is_valid(g):
                        out[j] = _polygonal(shapely.make_valid(g))
                        repaired += 1
        return out, repaired

    def geopackage(self, *, layer: str = "classes") -> bytes:
        """The polygons as a GeoPackage in the raster's own CRS (pyogrio).

        Returns
        -------
        bytes
            One layer (`layer`) with fields ``class``, ``name``, ``pixels``, ``area_m2``
            (and ``color``), polygon or multipolygon geometries, the raster's CRS.
        """
        import pyogrio.raw
        import shapely

        geoms = self.geometries
        kinds = shapely.get_type_id(geoms) if len(self) else np.array([], dtype=int)
        geometry_type = "Polygon"
        if (kinds == 6).any():  # some are multipolygons: promote all
            geometry_type = "MultiPolygon"
            geoms = np.array(
                [
                    g if k == 6 else shapely.multipolygons([g])
                    for g, k in zip(geoms, kinds, strict=True)
                ],
                dtype=object,
            )
        names = np.array(
            [self.names[c] if c < len(self.names) else f"class {c}" for c in self.classes],
            dtype=object,
        )
        fields = ["class", "name", "pixels", "area_m2"]
        data: list[np.ndarray] = [
            self.classes.astype(np.int32),
            names,
            self.pixels.astype(np.int64),
            (
                np.full(len(self), np.nan)
                if self.areas_m2 is None
                else np.round(self.areas_m2.astype(np.float64), 3)
            ),
        ]
        if self.colors is not None:
            fields.append("color")
            data.append(np.array([self.colors[c] for c in self.classes], dtype=object))
        buffer = io.BytesIO()
        crs = None if self.crs is None else _crs_text(self.crs, wkt=True)
        with warnings.catch_warnings():
            # A raster without a CRS gives a layer without one: pyogrio says so, we know.
            warnings.filterwarnings("ignore", "'crs' was not provided", UserWarning)
            pyogrio.raw.write(
                buffer,
                shapely.to_wkb(geoms) if len(self) else np.array([], dtype=object),
                data,
                fields,
                crs=crs,
                driver="GPKG",
                layer=layer,
                geometry_type=geometry_type,
            )
        return buffer.getvalue()


def polygonize(
    labels: np.ndarray,
    geo: Any,
    *,
    palette: np.ndarray | None = None,
    class_names: Sequence[str] | None = None,
    connectivity: int = 4,
    areas: Any = None,
    area_basis: str = "ellipsoid",
) -> ClassPolygons:
    """Trace the connected regions of each class as polygons, with exact pixels and areas.

    Parameters
    ----------
    labels : (H, W) ndarray of int
        Class per pixel; ``-1`` marks pixels that do not count (no polygon).
    geo : core.inputs.raster.GeoReference
        CRS and transform of the grid.
    palette : (k, 3) ndarray of uint8, optional
        Adds a ``color`` per feature.
    class_names : sequence of str, optional
        One name per class; default ``"class 0"`` ….
    connectivity : {4, 8}
        Which pixels touch: by an edge (4) or also by a corner (8).
    areas : core.inputs.geoarea.PixelAreas, optional
        The pixels' ground areas, when already known; else measured on `area_basis`.
    area_basis : {"ellipsoid", "plane"}

    Returns
    -------
    ClassPolygons
    """
    import cv2
    import rasterio.features
    import shapely

    if connectivity not in (4, 8):
        raise ValueError(f"connectivity must be 4 or 8, got {connectivity!r}.")
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must be a 2-D (H, W) array, got shape {labels.shape}.")
    height, width = labels.shape
    valid = labels >= 0
    k = int(labels.max()) + 1 if valid.any() else 0
    # One id per connected region of one class: OpenCV's components, class by class.
    regions = np.full(labels.shape, -1, dtype=np.int32)
    region_class: list[np.ndarray] = []
    next_id = 0
    for cls in range(k):
        mask = (labels == cls).astype(np.uint8)
        if not mask.any():
            continue
        n, ids = cv2.connectedComponents(mask, connectivity=connectivity, ltype=cv2.CV_32S)
        inside = ids > 0
        regions[inside] = ids[inside] + (next_id - 1)
        region_class.append(np.full(n - 1, cls, dtype=np.int32))
        next_id += n - 1
    classes = np.concatenate(region_class) if region_class else np.zeros(0, dtype=np.int32)
    pixels = np.bincount(regions[valid], minlength=next_id).astype(np.int64)
    # GDAL traces; the rings are gathered into one array and made into shapely polygons
    # at once (a polygon per region is ten times slower).
    points: list[Any] = []
    ring_sizes: list[int] = []
    ring_polygon: list[int] = []
    order: list[float] = []
    for shape, value in rasterio.features.shapes(
        np.where(valid, regions, 0), mask=valid, connectivity=connectivity
    ):
        polygon = len(order)
        order.append(value)
        for ring in shape["coordinates"]:
            points.extend(ring)
            ring_sizes.append(len(ring))
            ring_polygon.append(polygon)
    geoms = np.empty(next_id, dtype=object)
    if order:
        xy = _affine_apply(geo.transform)(np.asarray(points, dtype=np.float64))
        rings = shapely.linearrings(xy, indices=np.repeat(np.arange(len(ring_sizes)), ring_sizes))
        geoms[np.asarray(order, dtype=np.int64)] = shapely.polygons(
            rings, indices=np.asarray(ring_polygon)
        )
    if areas is None and geo.crs is not None:
        areas = geo.pixel_areas(height, width, basis=area_basis)
    region_areas = None if areas is None else areas.class_areas(regions, next_id)
    colors = None
    if palette is not None:
        colors = tuple("#{:02x}{:02x}{:02x}".format(*map(int, c)) for c in np.asarray(palette))
    names = (
        tuple(class_names)
        if class_names is not None
        else tuple(f"class {i}" for i in range(max(k, 0 if palette is None else len(palette))))
    )
    repaired = 0
    invalid = ~shapely.is_valid(geoms) if next_id else np.zeros(0, dtype=bool)
    for i in np.flatnonzero(invalid):
        geoms[i] = _polygonal(shapely.make_valid(geoms[i]))
        repaired += 1
    result = ClassPolygons(
        geometries=geoms,
        classes=classes,
        pixels=pixels,
        areas_m2=region_areas,
        names=names,
        colors=colors,
        crs=geo.crs,
        area_basis=None if areas is None else areas.basis,
        shape=(height, width),
        repaired=repaired,
        transform=geo.transform,
    )
    return result


# --- helpers ---------------------------------------------------------------------------------


def _geojson_geometries(geoms: np.ndarray) -> list[dict[str, Any]]:
    """GeoJSON geometry dicts of polygons, from one ragged array (no per-ring objects)."""
    import shapely

    if geoms.size == 0:
        return []
    kind, coords, offsets = shapely.to_ragged_array(geoms)
    points = coords.tolist()
    rings_at = offsets[0].tolist()
    rings = [points[a:b] for a, b in itertools.pairwise(rings_at)]
    polygons_at = offsets[1].tolist()
    polygons = [rings[a:b] for a, b in itertools.pairwise(polygons_at)]
    if kind == shapely.GeometryType.POLYGON:
        return [{"type": "Polygon", "coordinates": p} for p in polygons]
    multi_at = offsets[2].tolist()
    out = []
    for a, b in itertools.pairwise(multi_at):
        if b - a == 1:
            out.append({"type": "Polygon", "coordinates": polygons[a]})
        else:
            out.append({"type": "MultiPolygon", "coordinates": polygons[a:b]})
    return out


def _feature(geometry: Any, properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def _affine_apply(t: Any) -> Any:
    def apply(xy: np.ndarray) -> np.ndarray:
        x, y = xy[:, 0], xy[:, 1]
        return np.column_stack([t.a * x + t.b * y + t.c, t.d * x + t.e * y + t.f])

    return apply


def _affine_inverse(t: Any) -> Any:
    if t is None or t.determinant == 0:
        return None
    return _affine_apply(~t)


def _is_wgs84(crs: Any) -> bool:
    try:
        return crs.to_epsg() == 4326
    except Exception:  # an unusual CRS object: not WGS 84 as far as we know
        return False


def _crs_text(crs: Any, *, wkt: bool = False) -> str:
    if wkt:
        return str(crs.to_wkt())
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else str(crs.to_string())


def _polygonal(geometry: Any) -> Any:
    """The polygons of a geometry (make_valid may add lines or points where rings touch)."""
    import shapely

    if shapely.get_type_id(geometry) in (3, 6):
        return geometry
    parts = [g for g in shapely.get_parts(geometry) if shapely.get_type_id(g) in (3, 6)]
    polygons = []
    for part in parts:
        polygons.extend(shapely.get_parts(part))
    if len(polygons) == 1:
        return polygons[0]
    return shapely.multipolygons(polygons)


def _split_antimeridian(geometry: Any) -> list[Any]:
    """A lon/lat polygon whose edges jump across ±180° as parts within [−180, 180]."""
    import shapely

    polygons = shapely.get_parts(geometry)
    unwrapped = []
    for polygon in polygons:
        shell = _unwrap(np.asarray(shapely.get_coordinates(polygon.exterior)))
        holes = []
        for ring in polygon.interiors:
            hole = _unwrap(np.asarray(shapely.get_coordinates(ring)))
            shift = 360.0 * round((shell[:, 0].mean() - hole[:, 0].mean()) / 360.0)
            hole[:, 0] += shift
            holes.append(hole)
        unwrapped.append(shapely.polygons(shell, holes=holes or None))
    whole = shapely.union_all(unwrapped) if len(unwrapped) > 1 else unwrapped[0]
    if not shapely.is_valid(whole):
        whole = _polygonal(shapely.make_valid(whole))
    minx, _, maxx, _ = shapely.bounds(whole)
    parts = []
    for turn in range(math.floor((minx + 180) / 360), math.floor((maxx + 180) / 360) + 1):
        offset = 360.0 * turn
        window = shapely.box(-180 + offset, -90, 180 + offset, 90)
        piece = _polygonal(shapely.intersection(whole, window))
        if piece.is_empty or shapely.area(piece) == 0:
            continue
        parts.append(shapely.affinity.translate(piece, xoff=-offset))
    return parts or [geometry]


def _unwrap(ring: np.ndarray) -> np.ndarray:
    lon = ring[:, 0]
    steps = (np.diff(lon) + 180.0) % 360.0 - 180.0
    out = ring.copy()
    out[1:, 0] = lon[0] + np.cumsum(steps)
    return out


def _shares(pieces: list[Any]) -> list[float]:
    if len(pieces) == 1:
        return [1.0]
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    areas = [abs(geod.geometry_area_perimeter(p)[0]) for p in pieces]
    total = sum(areas)
    return [a / total if total else 1.0 / len(pieces) for a in areas]


def _split_counts(total: int, shares: list[float]) -> list[int]:
    """`total` split in proportion to `shares`, whole numbers that add up (largest remainder)."""
    raw = [total * s for s in shares]
    counts = [math.floor(r) for r in raw]
    for i in sorted(range(len(raw)), key=lambda i: counts[i] - raw[i])[: total - sum(counts)]:
        counts[i] += 1
    return counts


def polygons_json(collection: dict[str, Any]) -> bytes:
    """A GeoJSON collection as UTF-8 bytes (compact, for downloads)."""
    return json.dumps(collection, separators=(",", ":")).encode("utf-8")
