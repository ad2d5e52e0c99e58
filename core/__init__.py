"""kseg: exact, fast k-means image segmentation.

>>> import core
>>> image = core.load_image("photo.jpg")            # doctest: +SKIP
>>> result = core.segment(image, 6, color_space="lab")  # doctest: +SKIP
>>> result.palette, result.fractions, result.mask(0)    # doctest: +SKIP
"""

from core.colorspaces import AXIS_TITLES, COLOR_SPACES
from core.elbow import Elbow, elbow
from core.errors import ImageError
from core.io import DEFAULT_MAX_PIXELS, LoadedImage, load_image, open_image, resize_to_max_pixels
from core.kmeans import KMeansResult, kmeans
from core.segmentation import ENGINES, Segmentation, segment

__version__ = "0.1.0"

# Rasters need rasterio (GDAL), about a second to import: loaded on first use.
_LAZY = {
    "Raster": "core.raster",
    "open_raster": "core.raster",
    "RasterSegmentation": "core.raster_segmentation",
    "segment_raster": "core.raster_segmentation",
    "kmeans_features": "core.kmeans_nd",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'core' has no attribute {name!r}")


__all__ = [
    "AXIS_TITLES",
    "COLOR_SPACES",
    "DEFAULT_MAX_PIXELS",
    "ENGINES",
    "Elbow",
    "ImageError",
    "KMeansResult",
    "LoadedImage",
    "Raster",
    "RasterSegmentation",
    "Segmentation",
    "elbow",
    "kmeans",
    "kmeans_features",
    "load_image",
    "open_image",
    "open_raster",
    "resize_to_max_pixels",
    "segment",
    "segment_raster",
]
