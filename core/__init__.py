"""kseg: exact, fast k-means image segmentation.

>>> import core
>>> image = core.load_image("photo.jpg")            # doctest: +SKIP
>>> result = core.segment(image, 6)                 # doctest: +SKIP
>>> result.palette, result.shares, result.mask(0)   # doctest: +SKIP
"""

from typing import TYPE_CHECKING

from core.arrays import as_rgb_image, resize_to_max_pixels
from core.classmodel import ClassModel
from core.colorspaces import AXIS_TITLES, COLOR_SPACE_NAMES, COLOR_SPACES
from core.elbow import Elbow, elbow
from core.engines import ENGINES
from core.errors import ImageError
from core.io import DEFAULT_MAX_PIXELS, LoadedImage, load_image, open_image
from core.kmeans import KMeansResult, kmeans, warm_up
from core.segmentation import Segmentation, segment
from core.validation import LIMITS, FitParams
from core.version import __version__

# Loaded on first use: rasters need rasterio (GDAL), about a second to import; collections
# (Dask, CSV, JSON) cost ~80 ms that a single-image session never needs.
_LAZY = {
    "Raster": "core.raster",
    "open_raster": "core.raster",
    "RasterSegmentation": "core.raster_segmentation",
    "segment_raster": "core.raster_segmentation",
    "kmeans_features": "core.kmeans_nd",
    "apply": "core.classify",
    "BandMapping": "core.collection",
    "CollectionResult": "core.collection",
    "ImageResult": "core.collection",
    "Palette": "core.collection",
    "apply_palette": "core.collection",
    "fit_collection": "core.collection",
    "local_client": "core.collection",
    "segment_collection": "core.collection",
}

if TYPE_CHECKING:  # type checkers and IDEs see the lazy names as what they are
    from core.classify import apply
    from core.collection import (
        BandMapping,
        CollectionResult,
        ImageResult,
        Palette,
        apply_palette,
        fit_collection,
        local_client,
        segment_collection,
    )
    from core.kmeans_nd import kmeans_features
    from core.raster import Raster, open_raster
    from core.raster_segmentation import RasterSegmentation, segment_raster


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'core' has no attribute {name!r}")


__all__ = [
    "AXIS_TITLES",
    "COLOR_SPACES",
    "COLOR_SPACE_NAMES",
    "DEFAULT_MAX_PIXELS",
    "ENGINES",
    "LIMITS",
    "BandMapping",
    "ClassModel",
    "CollectionResult",
    "Elbow",
    "FitParams",
    "ImageError",
    "ImageResult",
    "KMeansResult",
    "LoadedImage",
    "Palette",
    "Raster",
    "RasterSegmentation",
    "Segmentation",
    "__version__",
    "apply",
    "apply_palette",
    "as_rgb_image",
    "elbow",
    "fit_collection",
    "kmeans",
    "kmeans_features",
    "load_image",
    "local_client",
    "open_image",
    "open_raster",
    "resize_to_max_pixels",
    "segment",
    "segment_collection",
    "segment_raster",
    "warm_up",
]
