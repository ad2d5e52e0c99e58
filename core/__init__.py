"""kseg: exact, fast k-means image segmentation.

>>> import core
>>> image = core.load_image("photo.jpg")            # doctest: +SKIP
>>> result = core.segment(image, 6, color_space="lab")  # doctest: +SKIP
>>> result.palette, result.fractions, result.mask(0)    # doctest: +SKIP
"""

from core.collection import (
    CollectionResult,
    ImageResult,
    Palette,
    apply_palette,
    fit_collection,
    local_client,
    segment_collection,
)
from core.colorspaces import AXIS_TITLES, COLOR_SPACES
from core.elbow import Elbow, elbow
from core.errors import ImageError
from core.io import DEFAULT_MAX_PIXELS, LoadedImage, load_image, open_image, resize_to_max_pixels
from core.kmeans import KMeansResult, kmeans
from core.segmentation import ENGINES, Segmentation, segment

__version__ = "0.1.0"

__all__ = [
    "AXIS_TITLES",
    "COLOR_SPACES",
    "DEFAULT_MAX_PIXELS",
    "ENGINES",
    "CollectionResult",
    "Elbow",
    "ImageError",
    "ImageResult",
    "KMeansResult",
    "LoadedImage",
    "Palette",
    "Segmentation",
    "apply_palette",
    "elbow",
    "fit_collection",
    "kmeans",
    "load_image",
    "local_client",
    "open_image",
    "resize_to_max_pixels",
    "segment",
    "segment_collection",
]
