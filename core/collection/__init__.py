"""Collections: one palette over many images, fitted exactly, applied to each.

The 24-bit colour histogram is additive: the sum of the images' histograms is the histogram
of the collection, so weighted k-means on the summed distinct colours *is* k-means on every
pixel of every image. A collection run is therefore a map → reduce → fit → map job:

1. **map** — read each image where it lives and count its distinct colours (a sparse
   histogram: colour ids and counts);
2. **reduce** — sum the histograms in a tree (dense 2**24 accumulator per merge);
3. **fit** — one weighted k-means on the summed distinct colours (≤ 16.7 M, whatever the
   number of images), clusters numbered by collection-wide size: a :class:`CollectionModel`
   (a :class:`core.ClassModel` with the fit's record);
4. **map** — label each image with the palette's centres, write its outputs, return a small
   row of pixels per cluster (:class:`ImageResult`).

With ``client=None`` every step runs in this process, one image at a time (for small jobs
such as the dashboard's uploads). With a ``dask.distributed.Client`` the same functions run
as Dask tasks: workers read the files themselves, pixel arrays never travel, histograms
travel sparse, and a worker lost mid-run has its tasks recomputed by Dask, so no row is lost
or duplicated.

.. warning::
   Starting a local cluster (:func:`local_client`, or ``kseg batch``) spawns worker
   processes that re-import your script. Call it under ``if __name__ == "__main__":``;
   :func:`local_client` refuses to start from a spawned child with a message saying so.

The package, by job: :mod:`~core.collection.palette` (the fitted model and its JSON),
:mod:`~core.collection.sources` (where images come from), :mod:`~core.collection.histograms`
and :mod:`~core.collection.bands` (the map and reduce steps), :mod:`~core.collection.fit`,
:mod:`~core.collection.label`, :mod:`~core.collection.results`,
:mod:`~core.collection.executors` (in process or on Dask) and :mod:`~core.collection.run`
(the resumable run).
"""

from typing import TYPE_CHECKING

from core.collection.band_tiles import (
    BandCollectionResult,
    fit_band_collection,
    label_band_tiles,
    segment_band_collection,
)
from core.collection.executors import local_client
from core.collection.fit import collection_histogram, fit_collection
from core.collection.histograms import merge_histograms
from core.collection.label import apply_palette, read_segmented
from core.collection.palette import BandMapping, CollectionModel
from core.collection.results import (
    CollectionResult,
    ImageResult,
    area_records,
    areas_csv,
    errors_csv,
    outputs_zip,
    shares_figure,
)
from core.collection.run import remember_fit, segment_collection
from core.collection.sources import ZIP_IMAGE_SUFFIXES, images_from_zip, raster_rgb

__all__ = [
    "ZIP_IMAGE_SUFFIXES",
    "BandCollectionResult",
    "BandMapping",
    "CollectionModel",
    "CollectionResult",
    "ImageResult",
    "apply_palette",
    "area_records",
    "areas_csv",
    "collection_histogram",
    "errors_csv",
    "fit_band_collection",
    "fit_collection",
    "images_from_zip",
    "label_band_tiles",
    "local_client",
    "merge_histograms",
    "outputs_zip",
    "raster_rgb",
    "read_segmented",
    "remember_fit",
    "segment_band_collection",
    "segment_collection",
    "shares_figure",
]

if TYPE_CHECKING:
    Palette = CollectionModel


def __getattr__(name: str) -> object:
    # core.Palette (before 0.2.0): the collection's model, now a core.ClassModel.
    if name == "Palette":
        from core.deprecation import warn_deprecated

        warn_deprecated("core.Palette", "core.ClassModel (fit_collection returns one)")
        return CollectionModel
    raise AttributeError(f"module 'core.collection' has no attribute {name!r}")
