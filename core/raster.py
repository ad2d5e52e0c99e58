"""``core.raster``, the home of rasters before 0.2.0: the same names, from their homes now.

Reading is :mod:`core.inputs.raster`; bands shown as a picture :mod:`core.inputs.display`;
band features :mod:`core.features.bands`; the sieve :mod:`core.results.raster_cleanup`;
GeoTIFF writing :mod:`core.formats.geotiff`; polygons :mod:`core.formats.vectors`.
"""

from core.features.bands import raster_features, spectral_index
from core.formats.geotiff import label_geotiff, rgb_geotiff
from core.formats.vectors import polygons_json
from core.inputs.display import band_positions, default_rgb_bands, stretch_rgb
from core.inputs.geoarea import ellipsoid_zone_area
from core.inputs.raster import (
    DEFAULT_MAX_PIXELS,
    INDICES,
    LABEL_NODATA,
    GeoReference,
    Raster,
    class_areas,
    is_georeferenced,
    open_raster,
)
from core.results.raster_cleanup import class_polygons, majority_filter, sieve_labels

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "INDICES",
    "LABEL_NODATA",
    "GeoReference",
    "Raster",
    "band_positions",
    "class_areas",
    "class_polygons",
    "default_rgb_bands",
    "ellipsoid_zone_area",
    "is_georeferenced",
    "label_geotiff",
    "majority_filter",
    "open_raster",
    "polygons_json",
    "raster_features",
    "rgb_geotiff",
    "sieve_labels",
    "spectral_index",
    "stretch_rgb",
]
