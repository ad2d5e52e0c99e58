"""Raster labels cleaned and traced: small regions sieved into their neighbours, a majority
filter, and the classes as polygons (:func:`class_polygons`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import rasterio
import rasterio.errors
import rasterio.features

from core.formats.vectors import ClassPolygons, ReprojectionError, polygonize
from core.inputs.geoarea import AreaBasis
from core.inputs.raster import GeoReference

__all__ = [
    "class_polygons",
    "class_vectors",
    "geojson_or_note",
    "majority_filter",
    "sieve_labels",
]


def sieve_labels(labels: np.ndarray, min_pixels: int, *, connectivity: int = 4) -> np.ndarray:
    """Merge every region smaller than `min_pixels` into its largest neighbour (GDAL sieve).

    Parameters
    ----------
    labels : (H, W) ndarray of int
        ``-1`` marks pixels that do not count; they stay ``-1`` and absorb nothing.
    min_pixels : int
        Regions of fewer pixels are merged; 1 changes nothing.
    connectivity : {4, 8}

    Returns
    -------
    (H, W) ndarray of int32

    Examples
    --------
    >>> labels = np.zeros((3, 3), dtype=np.int32); labels[1, 1] = 1
    >>> sieve_labels(labels, 2).tolist()
    [[0, 0, 0], [0, 0, 0], [0, 0, 0]]
    """
    if isinstance(min_pixels, bool) or not isinstance(min_pixels, (int, np.integer)):
        raise ValueError(f"min_pixels must be a positive integer, got {min_pixels!r}.")
    if min_pixels < 1 or connectivity not in (4, 8):
        raise ValueError("min_pixels must be >= 1 and connectivity 4 or 8.")
    labels = np.asarray(labels)
    valid = labels >= 0
    source = np.where(valid, labels, 0).astype(np.int32)
    if min_pixels == 1 or labels.size == 0:
        return np.where(valid, source, -1).astype(np.int32)
    # GDAL refuses a threshold as large as the image. Every region is smaller than
    # size + 1 pixels, so any larger threshold sieves the same way; a masked-out margin
    # makes the image larger than that threshold.
    threshold = min(int(min_pixels), labels.size + 1)
    height, width = source.shape
    margin = 0 if threshold < labels.size else -(-(threshold + 1) // height) - width
    if margin:
        source = np.pad(source, ((0, 0), (0, margin)))
        mask = np.pad(valid, ((0, 0), (0, margin)))
    else:
        mask = valid
    sieved = rasterio.features.sieve(source, threshold, mask=mask, connectivity=connectivity)
    return np.where(valid, sieved[:, :width], -1).astype(np.int32)


def majority_filter(labels: np.ndarray, size: int = 3) -> np.ndarray:
    """Replace every valid pixel's class by the most common class in its neighbourhood.

    Parameters
    ----------
    labels : (H, W) ndarray of int
        ``-1`` marks pixels that do not count: they neither vote nor change.
    size : int
        Odd window side (3 → 3 × 3). A tie keeps the pixel's own class when it is among
        the most common, else the lowest class.

    Returns
    -------
    (H, W) ndarray of int32

    Examples
    --------
    >>> labels = np.zeros((3, 3), dtype=np.int32); labels[1, 1] = 1; labels[0, 0] = -1
    >>> majority_filter(labels).tolist()
    [[-1, 0, 0], [0, 0, 0], [0, 0, 0]]
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise ValueError(f"size must be a positive odd integer, got {size!r}.")
    if size < 1 or size % 2 == 0:
        raise ValueError(f"size must be a positive odd integer, got {size!r}.")
    labels = np.asarray(labels).astype(np.int32)
    if labels.size == 0 or size == 1:
        return labels.copy()
    k = int(labels.max()) + 1
    best_count = np.full(labels.shape, -1.0, dtype=np.float32)
    best = labels.copy()
    own_count = np.zeros(labels.shape, dtype=np.float32)
    for c in range(k):
        votes = cv2.boxFilter(
            (labels == c).astype(np.float32),
            -1,
            (size, size),
            normalize=False,
            borderType=cv2.BORDER_CONSTANT,
        )
        better = votes > best_count
        best[better] = c
        best_count[better] = votes[better]
        own = labels == c
        own_count[own] = votes[own]
    keep = own_count >= best_count
    out = np.where(keep, labels, best)
    out[labels < 0] = -1
    return out.astype(np.int32)


def class_polygons(
    labels: np.ndarray,
    geo: GeoReference,
    *,
    palette: np.ndarray | None = None,
    min_pixels: int = 1,
    connectivity: int = 4,
    to_wgs84: bool = True,
    class_names: Sequence[str] | None = None,
    area_basis: AreaBasis = "ellipsoid",
) -> dict[str, Any]:
    """The regions of each class as GeoJSON polygons (see :func:`core.formats.vectors.polygonize`).

    Parameters
    ----------
    labels : (H, W) ndarray of int
        ``-1`` marks pixels that do not count (no polygon).
    geo : GeoReference
    palette : (k, 3) ndarray of uint8, optional
        Adds a ``"color"`` (``"#rrggbb"``) property per feature.
    min_pixels : int
        Sieve regions smaller than this first (:func:`sieve_labels`), so the file stays
        small; 1 keeps every region.
    connectivity : {4, 8}
    to_wgs84 : bool
        Reproject coordinates to longitude/latitude (EPSG:4326), as RFC 7946 asks: edges
        densified, polygons split at the antimeridian, every geometry valid. False keeps
        the scene's CRS and records it in a ``"crs"`` member (GDAL's convention).
    class_names : sequence of str, optional
        The ``name`` of each class; default ``"class 0"`` ….
    area_basis : {"ellipsoid", "plane"}
        Where ``area_m2`` is measured (:func:`core.inputs.geoarea.pixel_areas`).

    Returns
    -------
    dict
        A GeoJSON FeatureCollection; each feature has properties ``class``, ``name``,
        ``pixels`` (exact), ``area_m2`` (None without a CRS) and, with `palette`,
        ``color``. When the polygons cannot all reach WGS 84 (a geostationary view with
        pixel corners off the Earth) the collection stays in the scene's CRS, with its
        ``"crs"`` member and a one-line ``"note"`` saying so, instead of raising.
    """
    polygons = class_vectors(
        labels,
        geo,
        palette=palette,
        min_pixels=min_pixels,
        connectivity=connectivity,
        class_names=class_names,
        area_basis=area_basis,
    )
    return geojson_or_note(polygons, to_wgs84=to_wgs84)


def class_vectors(
    labels: np.ndarray,
    geo: GeoReference,
    *,
    palette: np.ndarray | None = None,
    min_pixels: int = 1,
    connectivity: int = 4,
    class_names: Sequence[str] | None = None,
    area_basis: AreaBasis = "ellipsoid",
) -> ClassPolygons:
    """The regions of each class, traced once: write them as GeoJSON
    (:func:`geojson_or_note`) and as a GeoPackage in the scene's CRS
    (:meth:`~core.formats.vectors.ClassPolygons.geopackage`). Parameters as for
    :func:`class_polygons`."""
    if min_pixels > 1:
        labels = sieve_labels(labels, min_pixels, connectivity=connectivity)
    return polygonize(
        labels,
        geo,
        palette=palette,
        class_names=class_names,
        connectivity=connectivity,
        area_basis=area_basis,
    )


def geojson_or_note(polygons: ClassPolygons, *, to_wgs84: bool = True) -> dict[str, Any]:
    """`polygons` as GeoJSON in WGS 84; when they cannot all reach it (a geostationary view
    with pixel corners off the Earth), in the scene's CRS with a one-line ``"note"``."""
    try:
        return polygons.geojson(to_wgs84=to_wgs84)
    except ReprojectionError as e:
        collection = polygons.geojson(to_wgs84=False)
        collection["note"] = str(e)
        return collection
