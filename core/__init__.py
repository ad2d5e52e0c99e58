"""kseg: exact, fast k-means image segmentation.

>>> import core
>>> image = core.load_image("photo.jpg")            # doctest: +SKIP
>>> result = core.segment(image, 6)                 # doctest: +SKIP
>>> result.palette, result.shares, result.cluster_mask(0)   # doctest: +SKIP
"""

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
from typing import TYPE_CHECKING

from core.engine.engines import ENGINES
from core.engine.kmeans import KMeansResult, kmeans, warm_up
from core.errors import ImageError
from core.explore.elbow import Elbow, elbow
from core.features.colorspaces import AXIS_TITLES, COLOR_SPACE_NAMES, COLOR_SPACES
from core.inputs.arrays import as_rgb_image, resize_to_max_pixels
from core.inputs.io import DEFAULT_MAX_PIXELS, LoadedImage, load_image, open_image
from core.results.classmodel import ClassModel
from core.results.segmentation import Segmentation, segment
from core.validation import LIMITS, FitParams
from core.version import __version__

# Modules' homes before 0.2.0, each still importable (``import core.masking``,
# ``from core.kmeans import kmeans``): the old name is the same module object as the new
# one, loaded on first use. Code in kseg itself uses the new homes.
MOVED_MODULES = {
    "core.arrays": "core.inputs.arrays",
    "core.io": "core.inputs.io",
    "core.masking": "core.inputs.masking",
    "core.samples": "core.inputs.samples",
    "core.colorspaces": "core.features.colorspaces",
    "core.colortable": "core.features.colortable",
    "core.texture": "core.features.texture",
    "core.kmeans": "core.engine.kmeans",
    "core.kmeans_nd": "core.engine.kmeans_nd",
    "core.engines": "core.engine.engines",
    "core.segmentation": "core.results.segmentation",
    "core.raster_segmentation": "core.results.raster_segmentation",
    "core.cleanup": "core.results.cleanup",
    "core.png": "core.formats.png",
    "core.export": "core.outputs.export",
    "core.previews": "core.outputs.previews",
    "core.figures": "core.outputs.figures",
    "core.elbow": "core.explore.elbow",
    "core.sweep": "core.explore.sweep",
    "core.steps": "core.explore.steps",
    "core.compare": "core.explore.compare",
    "core.compression": "core.explore.compression",
    "core.cli_raster": "core.cli.raster",
    "core.batch": "core.cli.batch",
}


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports an old module path as the module at its new home (one object, two names)."""

    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MOVED_MODULES:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = importlib.import_module(MOVED_MODULES[spec.name])
        spec.loader_state = module.__spec__  # the import system is about to replace it
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        # Nothing to run (the module ran at its new home), but the import system has just
        # given it this alias's spec: give back its own, so it still names its real home.
        alias = module.__spec__
        if alias is not None and alias.loader_state is not None:
            module.__spec__ = alias.loader_state


if not any(isinstance(finder, _MovedModuleFinder) for finder in sys.meta_path):
    sys.meta_path.append(_MovedModuleFinder())
# A function of the package shares its name with an old module (core.elbow, core.kmeans):
# registered now, the old module name never rebinds the function on first import.
for _old, _new in MOVED_MODULES.items():
    if _new in sys.modules:
        sys.modules.setdefault(_old, sys.modules[_new])

# Loaded on first use: rasters need rasterio (GDAL), about a second to import; collections
# (Dask, CSV, JSON) cost ~80 ms that a single-image session never needs.
_LAZY = {
    "Raster": "core.inputs.raster",
    "open_raster": "core.inputs.raster",
    "RasterSegmentation": "core.results.raster_segmentation",
    "segment_raster": "core.results.raster_segmentation",
    "kmeans_features": "core.engine.kmeans_nd",
    "apply": "core.results.classify",
    "BlockSegmentation": "core.results.blocks",
    "segment_raster_blocks": "core.outputs.geotiff_blocks",
    "BandMapping": "core.collection",
    "CollectionModel": "core.collection",
    "CollectionResult": "core.collection",
    "ImageResult": "core.collection",
    "Palette": "core.collection",
    "apply_palette": "core.collection",
    "fit_collection": "core.collection",
    "local_client": "core.collection",
    "segment_collection": "core.collection",
}

if TYPE_CHECKING:  # type checkers and IDEs see the lazy names as what they are
    from core.collection import (
        BandMapping,
        CollectionModel,
        CollectionResult,
        ImageResult,
        Palette,
        apply_palette,
        fit_collection,
        local_client,
        segment_collection,
    )
    from core.engine.kmeans_nd import kmeans_features
    from core.inputs.raster import Raster, open_raster
    from core.outputs.geotiff_blocks import segment_raster_blocks
    from core.results.blocks import BlockSegmentation
    from core.results.classify import apply
    from core.results.raster_segmentation import RasterSegmentation, segment_raster


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if f"core.{name}" in MOVED_MODULES:  # core.masking, without importing it first
        return importlib.import_module(MOVED_MODULES[f"core.{name}"])
    raise AttributeError(f"module 'core' has no attribute {name!r}")


__all__ = [
    "AXIS_TITLES",
    "COLOR_SPACES",
    "COLOR_SPACE_NAMES",
    "DEFAULT_MAX_PIXELS",
    "ENGINES",
    "LIMITS",
    "BandMapping",
    "BlockSegmentation",
    "ClassModel",
    "CollectionModel",
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
    "segment_raster_blocks",
    "warm_up",
]
