"""kseg: exact, fast k-means image segmentation.

>>> import core
>>> image = core.load_image("photo.jpg")            # doctest: +SKIP
>>> result = core.segment(image, 6)                 # doctest: +SKIP
>>> result.palette, result.shares, result.mask(0)   # doctest: +SKIP
"""

from core.arrays import as_rgb_image, resize_to_max_pixels
from core.colorspaces import AXIS_TITLES, COLOR_SPACE_NAMES, COLOR_SPACES
from core.elbow import Elbow, elbow
from core.engines import ENGINES
from core.errors import ImageError
from core.io import DEFAULT_MAX_PIXELS, LoadedImage, load_image, open_image
from core.kmeans import KMeansResult, kmeans, warm_up
from core.segmentation import Segmentation, segment
from core.validation import LIMITS, FitParams
from core.version import __version__

__all__ = [
    "AXIS_TITLES",
    "COLOR_SPACES",
    "COLOR_SPACE_NAMES",
    "DEFAULT_MAX_PIXELS",
    "ENGINES",
    "LIMITS",
    "Elbow",
    "FitParams",
    "ImageError",
    "KMeansResult",
    "LoadedImage",
    "Segmentation",
    "__version__",
    "as_rgb_image",
    "elbow",
    "kmeans",
    "load_image",
    "open_image",
    "resize_to_max_pixels",
    "segment",
    "warm_up",
]
