"""Collections: one palette over many images, fitted exactly, applied to each.

The 24-bit colour histogram is additive: the sum of the images' histograms is the histogram
of the collection, so weighted k-means on the summed distinct colours *is* k-means on every
pixel of every image. A collection run is therefore a map → reduce → fit → map job:

1. **map** — read each image where it lives and count its distinct colours (a sparse
   histogram: colour ids and counts);
2. **reduce** — sum the histograms in a tree (dense 2**24 accumulator per merge);
3. **fit** — one weighted k-means on the summed distinct colours (≤ 16.7 M, whatever the
   number of images), clusters numbered by collection-wide size: a :class:`Palette`;
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
"""

from __future__ import annotations

import contextlib
import csv
import functools
import hashlib
import io
import json
import logging
import math
import multiprocessing
import os
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np
import numpy.typing as npt

from core.arrays import as_rgb_image
from core.colorspaces import rgb_to_features
from core.colortable import ColorTable, ids_to_colors, pixel_ids, recolor, sorted_counts
from core.engines import fit_colors
from core.errors import ImageError
from core.kmeans import assign
from core.segmentation import Segmentation
from core.validation import (
    DEFAULT_N_INIT,
    FitParams,
    check_color_space,
    check_k,
    check_positive_int,
    check_seed,
)

if TYPE_CHECKING:
    from distributed import Client

    from core.io import LoadedImage
    from core.raster import GeoReference, Raster

__all__ = [
    "BandMapping",
    "CollectionResult",
    "ImageResult",
    "Palette",
    "apply_palette",
    "collection_histogram",
    "fit_collection",
    "local_client",
    "raster_rgb",
    "read_segmented",
    "segment_collection",
]

_FORMAT: Final = "kseg-palette"
_VERSION: Final = 1
_N_IDS: Final = 1 << 24
# Histograms merged per reduce task (the tree's fan-in).
_FAN_IN: Final = 8
# Merges with fewer entries than this sort; larger ones use a dense 2**24 accumulator.
_DENSE_ABOVE: Final = 1 << 20
# On Dask, images per histogram task: up to this many, and small enough that every worker
# gets about _CHUNKS_PER_WORKER tasks. A task sums its images' histograms in place, which
# costs a fraction of a merge task per image (and of the scheduler's work per task).
_CHUNK_MAX: Final = 8
_CHUNKS_PER_WORKER: Final = 4
# The band mapping's first pass: pixels read per raster (decimated), and the pooled sample's
# size over the whole collection (each raster sends its share, at least _SAMPLE_MIN).
_SAMPLE_READ: Final = 1 << 16
_SAMPLE_POOL: Final = 1 << 18
_SAMPLE_MIN: Final = 1 << 10
_TIFF_MAGIC: Final = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
# Paths with these suffixes are photos: the first pass does not open them.
_PHOTO_SUFFIXES: Final = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")

#: Progress callback: ``progress(stage, done, total)``; stage is "histograms" or "labels".
Progress = Callable[[str, int, int], None]


# --------------------------------------------------------------------------------------------
# Palette


@dataclass(frozen=True)
class BandMapping:
    """How a collection's rasters become 8-bit RGB: one linear map per band for every tile.

    Rasters of more than 8 bits (uint16, int16, float) are mapped with these bounds
    (:func:`core.raster.stretch_rgb` with ``bounds``), measured once on the whole collection,
    so the same value is the same colour, hence the same cluster, in every tile. 8-bit
    rasters are used as they are.

    Attributes
    ----------
    bands : (int, int, int)
        0-based positions of the bands shown as red, green and blue: the first raster's
        (by name when the file says, else the first three), used for every raster.
    low, high : (float, float, float)
        Per band, the values mapped to 0 and 255 (the 2 % and 98 % percentiles of the
        collection's valid pixels); values beyond are clipped.
    dtype : str
        The rasters' dtype(s) the bounds were measured on, e.g. ``"uint16"``.
    """

    bands: tuple[int, int, int]
    low: tuple[float, float, float]
    high: tuple[float, float, float]
    dtype: str

    @property
    def bounds(self) -> list[tuple[float, float]]:
        """``[(low, high)]`` per channel, as :func:`core.raster.stretch_rgb` takes them."""
        return list(zip(self.low, self.high, strict=True))

    def to_dict(self) -> dict[str, Any]:
        """The mapping as plain JSON values (for :meth:`Palette.to_json`)."""
        return {
            "bands": list(self.bands),
            "low": list(self.low),
            "high": list(self.high),
            "dtype": self.dtype,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BandMapping:
        """Read :meth:`to_dict`'s output.

        Raises
        ------
        ValueError
            If a field is missing or malformed.
        """
        try:
            bands = tuple(int(b) for b in data["bands"])
            low = tuple(float(v) for v in data["low"])
            high = tuple(float(v) for v in data["high"])
            dtype = str(data["dtype"])
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"the band mapping is malformed ({e!r})") from e
        if not (len(bands) == len(low) == len(high) == 3) or min(bands) < 0:
            raise ValueError("the band mapping needs three bands, lows and highs")
        if not (np.isfinite(low).all() and np.isfinite(high).all()):
            raise ValueError("the band mapping's bounds must be finite numbers")
        return cls(bands, low, high, dtype)


@dataclass(frozen=True, eq=False)
class Palette:
    """A k-means palette fitted on a whole collection: the shared classes of every image.

    Clusters are numbered by their size over the whole collection, largest first. All
    arrays are read-only. Two palettes are equal when their JSON is.

    Attributes
    ----------
    centers : (k, 3) ndarray of float64
        Cluster centres in the feature space of `color_space`.
    palette : (k, 3) ndarray of uint8
        Mean RGB colour of each cluster's pixels over the collection.
    counts : (k,) ndarray of int64
        Pixels per cluster over the collection.
    fractions : (k,) ndarray of float64
        Share of the collection's pixels per cluster; sums to 1.
    inertia : float
        Within-cluster sum of squares over every pixel of every image.
    n_iter, converged
        Lloyd iterations of the final run and whether it converged.
    n_colors : int
        Distinct colours in the collection.
    n_images, n_pixels : int
        Images and pixels the palette was fitted on.
    k, color_space, seed, init, n_init, max_iter, tol
        The parameters used.
    band_mapping : BandMapping or None
        How rasters of more than 8 bits were mapped to RGB for the fit, applied the same way
        to every image labelled with this palette; None when the collection had none
        (photos and 8-bit rasters are used as they are).
    """

    centers: np.ndarray
    palette: np.ndarray
    counts: np.ndarray
    fractions: np.ndarray
    inertia: float
    n_iter: int
    converged: bool
    n_colors: int
    n_images: int
    n_pixels: int
    k: int
    color_space: str
    seed: int | None
    init: str
    n_init: int
    max_iter: int
    tol: float
    band_mapping: BandMapping | None = None

    def __post_init__(self) -> None:
        for array in (self.centers, self.palette, self.counts, self.fractions):
            array.setflags(write=False)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Palette) and self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(self.to_json())

    @property
    def wcss(self) -> float:
        """:attr:`inertia` by the name :class:`core.Segmentation` uses."""
        return self.inertia

    @property
    def shares(self) -> np.ndarray:
        """:attr:`fractions` by the name :class:`core.Segmentation` uses."""
        return self.fractions

    @property
    def hex_colors(self) -> list[str]:
        """Palette as ``#rrggbb`` strings."""
        return [_hex(c) for c in self.palette]

    @property
    def params(self) -> dict[str, Any]:
        """The keyword arguments of :func:`fit_collection` that reproduce this palette."""
        return {
            "k": self.k,
            "color_space": self.color_space,
            "seed": self.seed,
            "init": self.init,
            "n_init": self.n_init,
            "max_iter": self.max_iter,
            "tol": self.tol,
        }

    @property
    def key(self) -> str:
        """A short hash of the palette (centres and parameters), for file names and caches."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    def to_json(self) -> str:
        """The palette as JSON text, to keep and reuse with :meth:`from_json`.

        Centres are written with full float precision, so a palette read back labels every
        pixel exactly as the original.
        """
        data = {
            "format": _FORMAT,
            "version": _VERSION,
            **self.params,
            "centers": self.centers.tolist(),
            "palette": self.palette.tolist(),
            "hex": self.hex_colors,
            "counts": self.counts.tolist(),
            "fractions": self.fractions.tolist(),
            "inertia": self.inertia,
            "n_iter": self.n_iter,
            "converged": self.converged,
            "n_colors": self.n_colors,
            "n_images": self.n_images,
            "n_pixels": self.n_pixels,
            "band_mapping": None if self.band_mapping is None else self.band_mapping.to_dict(),
        }
        return json.dumps(data, indent=1)

    @classmethod
    def from_json(cls, text: str | bytes) -> Palette:
        """Read a palette written by :meth:`to_json`.

        Parameters
        ----------
        text : str or bytes
            The JSON text (e.g. ``Path("palette.json").read_text()``).

        Returns
        -------
        Palette

        Raises
        ------
        ValueError
            If the text is not a kseg palette, or its fields are missing or inconsistent.
        """
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(
                f"This is not a kseg palette file (not valid JSON: {e}). "
                "Use the palette.json written by kseg batch or the dashboard."
            ) from e
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise ValueError(
                'This JSON is not a kseg palette (no \'"format": "kseg-palette"\'). '
                "Use the palette.json written by kseg batch or the dashboard."
            )
        if data.get("version") != _VERSION:
            raise ValueError(
                f"This palette is version {data.get('version')!r}; this kseg reads version "
                f"{_VERSION}. Refit it with this version of kseg."
            )
        try:
            k = int(data["k"])
            centers = np.asarray(data["centers"], dtype=np.float64)
            palette = np.asarray(data["palette"], dtype=np.int64)
            counts = np.asarray(data["counts"], dtype=np.int64)
            fractions = np.asarray(data["fractions"], dtype=np.float64)
            space = check_color_space(data["color_space"])
            mapping = data.get("band_mapping")  # absent from older palette files
            result = cls(
                centers=centers,
                palette=palette.astype(np.uint8),
                counts=counts,
                fractions=fractions,
                inertia=float(data["inertia"]),
                n_iter=int(data["n_iter"]),
                converged=bool(data["converged"]),
                n_colors=int(data["n_colors"]),
                n_images=int(data["n_images"]),
                n_pixels=int(data["n_pixels"]),
                k=k,
                color_space=space,
                seed=check_seed(data["seed"]),
                init=str(data["init"]),
                n_init=int(data["n_init"]),
                max_iter=int(data["max_iter"]),
                tol=float(data["tol"]),
                band_mapping=None if mapping is None else BandMapping.from_dict(mapping),
            )
        except KeyError as e:
            raise ValueError(
                f"The palette file has no {e.args[0]!r} field. Use the palette.json written "
                "by kseg batch or the dashboard, unedited."
            ) from e
        except (TypeError, ValueError) as e:
            raise ValueError(
                f"The palette file has a malformed field ({e}). Use the palette.json written "
                "by kseg batch or the dashboard, unedited."
            ) from e
        if (
            k < 1
            or centers.shape != (k, 3)
            or palette.shape != (k, 3)
            or counts.shape != (k,)
            or fractions.shape != (k,)
            or not np.isfinite(centers).all()
            or palette.min() < 0
            or palette.max() > 255
        ):
            raise ValueError(
                f"The palette file is inconsistent: k={k} but centres {centers.shape}, "
                f"colours {palette.shape}, counts {counts.shape}; each needs k rows of 3 "
                "(counts: k values). Use the palette.json written by kseg, unedited."
            )
        return result


def _hex(color: Sequence[int] | np.ndarray) -> str:
    return "#{:02x}{:02x}{:02x}".format(*map(int, color))


# --------------------------------------------------------------------------------------------
# Sources and histograms (run on workers; prior validation assumed)


@dataclass(frozen=True)
class _Source:
    """One image to read: where it is (a path/URL, bytes, or pixels) and what to call it."""

    index: int
    name: str
    data: Any  # str path or URL | bytes | (H, W, 3) ndarray
    max_pixels: int | None = None


@dataclass(frozen=True)
class _ImageInfo:
    index: int
    width: int
    height: int
    error: str | None = None


@dataclass(frozen=True)
class _Histogram:
    """Sparse colour histogram of one or more images, and what was learnt about them."""

    ids: np.ndarray  # (m,) uint32, ascending
    counts: np.ndarray  # (m,) uint32 for one image, int64 after a merge
    infos: tuple[_ImageInfo, ...]


@dataclass(frozen=True)
class _Pixels:
    """One image as read: its colours, the pixels that count, and where it lies."""

    rgb: np.ndarray  # (H, W, 3) uint8
    valid: np.ndarray | None  # (H, W) bool; None: every pixel counts
    geo: GeoReference | None  # a georeferenced raster's CRS and transform

    def valid_ids(self) -> np.ndarray:
        """Colour ids of the pixels that count, flat (n,) uint32."""
        ids = pixel_ids(self.rgb)
        return ids if self.valid is None else ids[self.valid.ravel()]


def _read(source: _Source, mapping: BandMapping | None) -> _Pixels:
    """Pixels of one source; raises ImageError (or ValueError) for anything unusable.

    The pixels that count follow ``mask="auto"`` of :func:`core.segment`: fully transparent
    pixels and a raster's no-data are left out. A raster's colours follow
    :func:`raster_rgb` with `mapping`.
    """
    data = source.data
    if isinstance(data, np.ndarray):
        return _Pixels(as_rgb_image(data, name=source.name), None, None)
    loaded = _open(source, functools.partial(raster_rgb, mapping=mapping))
    valid: np.ndarray | None = None
    if loaded.alpha is not None and not loaded.alpha.all():
        valid = loaded.alpha > 0
        if not valid.any():
            raise ImageError(
                f"Every pixel of '{Path(source.name).name}' is transparent or no-data: there "
                "is nothing to segment. Check the file (or its no-data value)."
            )
    geo = None if loaded.raster is None else loaded.raster.geo
    return _Pixels(loaded.rgb, valid, geo)


def raster_rgb(raster: Raster, mapping: BandMapping | None) -> np.ndarray:
    """The 8-bit RGB a collection clusters for a raster: comparable from tile to tile.

    8-bit rasters are used as they are (their default RGB bands, like a photo). Others are
    mapped linearly with `mapping`, the collection's one mapping; without one (a palette
    fitted on photos only, or written before band mappings existed), each raster gets its
    own 2–98 % display stretch, as :func:`core.open_image` shows it.

    Parameters
    ----------
    raster : core.raster.Raster
    mapping : BandMapping or None

    Returns
    -------
    (H, W, 3) ndarray of uint8
        No-data pixels are black.

    Raises
    ------
    ValueError
        If the raster lacks one of the mapping's bands.
    """
    from core.raster import default_rgb_bands, stretch_rgb

    if raster.dtype == "uint8":
        return stretch_rgb(raster, default_rgb_bands(raster), bounds=[(0.0, 255.0)] * 3)
    if mapping is None:
        return stretch_rgb(raster)
    return stretch_rgb(raster, mapping.bands, bounds=mapping.bounds)


def _fetched(source: _Source) -> Any:
    """The source's data, with a URL read into bytes (fsspec)."""
    data = source.data
    if isinstance(data, str) and "://" in data and not os.path.exists(data):
        import fsspec

        try:
            with fsspec.open(data, "rb") as handle:
                raw = handle.read()
        except Exception as e:  # any backend failure is one unreadable file
            raise ImageError(
                f"'{source.name}' could not be read ({type(e).__name__}: {e}). "
                "Check the URL and that the workers can reach it."
            ) from e
        return raw
    return data


def _open(source: _Source, bands_to_rgb: Callable[[Raster], np.ndarray]) -> LoadedImage:
    """The file of a path, URL or bytes source, through core's one loading funnel."""
    from core.io import DEFAULT_MAX_PIXELS, open_image

    limit = source.max_pixels or DEFAULT_MAX_PIXELS
    data = _fetched(source)
    if isinstance(data, bytes):
        # A named buffer, so that the error messages name the file.
        buffer = io.BytesIO(data)
        buffer.name = source.name
        return open_image(buffer, max_pixels=limit, bands_to_rgb=bands_to_rgb)
    return open_image(data, max_pixels=limit, bands_to_rgb=bands_to_rgb)


def _failure_message(source: _Source, error: BaseException) -> str:
    if isinstance(error, ValueError | TypeError):  # ImageError is a ValueError
        message = str(error)
    else:
        message = f"'{source.name}' could not be read ({type(error).__name__}: {error})."
    return " ".join(message.split())


def _chunk_histogram(
    chunk: tuple[_Source, ...], payloads: Sequence[Any] | None, mapping: BandMapping | None
) -> _Histogram:
    """Map step on Dask: the summed histogram of a few images (errors are infos, as one)."""
    parts = [
        _histogram(source, None if payloads is None else payloads[i], mapping)
        for i, source in enumerate(chunk)
    ]
    return parts[0] if len(parts) == 1 else merge_histograms(*parts)


def _histogram(
    source: _Source, payload: Any = None, mapping: BandMapping | None = None
) -> _Histogram:
    """Map step: the sparse colour histogram of one image (an error never raises)."""
    if payload is not None:
        source = replace(source, data=payload)
    try:
        pixels = _read(source, mapping)
    except Exception as e:
        return _Histogram(
            np.empty(0, np.uint32),
            np.empty(0, np.uint32),
            (_ImageInfo(source.index, 0, 0, _failure_message(source, e)),),
        )
    # A sort of the pixels' colour ids: faster than a 2**24-bin histogram at camera sizes.
    ids, counts = sorted_counts(pixels.valid_ids())
    height, width = pixels.rgb.shape[:2]
    return _Histogram(
        ids.astype(np.uint32),
        counts.astype(np.uint32),
        (_ImageInfo(source.index, int(width), int(height)),),
    )


@dataclass(frozen=True)
class _BandSample:
    """A seeded random sample of one raster's valid pixels in its RGB bands."""

    index: int
    dtype: str
    bands: tuple[int, int, int]
    values: np.ndarray  # (n, 3) in the raster's dtype
    weight: float  # the raster's valid pixels per sampled pixel


def _band_sample(source: _Source, payload: Any, size: int, seed: int) -> _BandSample | None:
    """First pass, on a worker: a sample of a raster of more than 8 bits (None for photos,
    8-bit rasters and unreadable files, whose errors the histogram pass reports).

    The raster is read decimated (at most ``_SAMPLE_READ`` pixels, through its overviews
    when it has them; one file pixel per pixel read, not an average, so that the values
    keep their spread), then at most `size` valid pixels are drawn with a generator seeded
    by `seed` and the source's position.
    """
    data = payload if payload is not None else source.data
    if isinstance(data, np.ndarray):
        return None
    try:
        data = _fetched(replace(source, data=data))
        if isinstance(data, bytes):
            head = data[:4]
        else:
            with open(data, "rb") as file:
                head = file.read(4)
        if not head.startswith(_TIFF_MAGIC):
            return None
        from core.raster import default_rgb_bands, is_georeferenced, open_raster

        if not is_georeferenced(data):
            return None
        raster = open_raster(data, max_pixels=_SAMPLE_READ, resampling="nearest")
    except Exception:  # the histogram pass reads it again and reports the error
        return None
    if raster.dtype == "uint8" or not raster.valid.any():
        return None
    bands = default_rgb_bands(raster)
    values = raster.data[list(bands)][:, raster.valid].T  # (n, 3)
    rng = np.random.default_rng([seed, source.index])
    if values.shape[0] > size:
        values = values[np.sort(rng.choice(values.shape[0], size, replace=False))]
    n_valid = raster.n_valid * raster.reduced_by**2
    return _BandSample(
        source.index, raster.dtype, bands, np.ascontiguousarray(values), n_valid / len(values)
    )


def _weighted_percentiles(
    values: np.ndarray, weights: np.ndarray, q: Sequence[float]
) -> list[float]:
    """Percentiles `q` (0–100) of `values` (n,) each counted `weights` (n,) times
    (the inverted CDF: the smallest value whose cumulative weight reaches q %)."""
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    at = np.searchsorted(cumulative, np.asarray(q) / 100 * cumulative[-1], side="left")
    return [float(v) for v in values[order][np.minimum(at, len(values) - 1)]]


def _pooled_mapping(samples: Iterable[_BandSample | None]) -> BandMapping | None:
    """The collection's mapping: 2–98 % of the pooled samples, each raster weighted by
    its valid pixels; bands of the first raster. None when no raster needs one."""
    kept = sorted((s for s in samples if s is not None), key=lambda s: s.index)
    if not kept:
        return None
    values = np.concatenate([s.values for s in kept]).astype(np.float64)
    weights = np.concatenate([np.full(len(s.values), s.weight) for s in kept])
    bounds = [_weighted_percentiles(values[:, c], weights, (2.0, 98.0)) for c in range(3)]
    return BandMapping(
        bands=kept[0].bands,
        low=tuple(low for low, _ in bounds),  # type: ignore[arg-type]
        high=tuple(high for _, high in bounds),  # type: ignore[arg-type]
        dtype=", ".join(sorted({s.dtype for s in kept})),
    )


def _band_mapping(
    executor: _InProcess | _OnDask, sources: Sequence[_Source], seed: int | None
) -> BandMapping | None:
    """First pass over the sources that may be rasters: one mapping for the collection.

    Photos (arrays, bytes that are no TIFF, paths named .png, .jpg …) are not opened.
    Bounded: each raster is read at most ``_SAMPLE_READ`` pixels and sends at most
    ``max(_SAMPLE_POOL / n, _SAMPLE_MIN)`` sampled pixels.
    """
    candidates = [
        s
        for s in sources
        if (isinstance(s.data, str) and not s.data.lower().endswith(_PHOTO_SUFFIXES))
        or (isinstance(s.data, bytes) and s.data.startswith(_TIFF_MAGIC))
    ]
    if not candidates:
        return None
    size = min(_SAMPLE_READ, max(_SAMPLE_POOL // len(candidates), _SAMPLE_MIN))
    seed = 0 if seed is None else seed
    samples = executor.map_completed(_band_sample, candidates, size, seed)
    return _pooled_mapping(executor.gather(future) for _, future in samples)


def merge_histograms(*parts: _Histogram) -> _Histogram:
    """Reduce step: the sum of sparse histograms (ids ascending, counts int64)."""
    infos = tuple(info for part in parts for info in part.infos)
    filled = [part for part in parts if part.ids.shape[0]]
    total = sum(part.ids.shape[0] for part in filled)
    if not filled:
        return _Histogram(np.empty(0, np.uint32), np.empty(0, np.int64), infos)
    if total <= _DENSE_ABOVE:
        ids = np.concatenate([part.ids for part in filled])
        counts = np.concatenate([part.counts.astype(np.int64) for part in filled])
        distinct, inverse = np.unique(ids, return_inverse=True)
        summed = np.bincount(inverse.ravel(), weights=counts, minlength=distinct.shape[0])
        return _Histogram(distinct.astype(np.uint32), np.rint(summed).astype(np.int64), infos)
    with _accumulator_lock:
        dense = _accumulator(sum(int(part.counts.sum()) for part in filled))
        fresh = []
        for part in filled:
            # ids are distinct within a part, so a gather and a scatter add exactly; the
            # ids still at zero are new to this merge. Collecting them gives the distinct
            # ids without scanning all 2**24 bins (60 ms, more than the adds themselves).
            seen = dense[part.ids]
            fresh.append(part.ids[seen == 0])
            dense[part.ids] = seen + part.counts.astype(dense.dtype, copy=False)
        distinct = np.sort(np.concatenate(fresh))
        summed = dense[distinct].astype(np.int64)
        dense[distinct] = 0  # clean for the next merge in this process
    return _Histogram(distinct.astype(np.uint32), summed, infos)


# Per process: one dense 2**24 uint32 accumulator (64 MiB) reused by every merge, zeroed
# where it was used. A fresh one per merge costs more than the merge itself (its pages are
# faulted in and zeroed each time).
_dense_counts: list[np.ndarray] = []
_accumulator_lock = threading.Lock()


def _accumulator(total: int) -> np.ndarray:
    """A zeroed dense counts array for a merge of `total` pixels (caller holds the lock)."""
    if total >= 1 << 32:  # more pixels than uint32 counts: a one-off int64 array
        return np.zeros(_N_IDS, dtype=np.int64)
    if not _dense_counts:
        _dense_counts.append(np.zeros(_N_IDS, dtype=np.uint32))
    return _dense_counts[0]


@dataclass(frozen=True)
class _FitParams:
    k: int
    color_space: str
    seed: int | None
    init: str
    n_init: int
    max_iter: int
    tol: float

    @property
    def fit(self) -> FitParams:
        """The settings in core's one form (:class:`core.validation.FitParams`)."""
        return FitParams(
            seed=0 if self.seed is None else self.seed,
            init=self.init,  # type: ignore[arg-type]
            n_init=self.n_init,
            max_iter=self.max_iter,
            tol=self.tol,
        )


def _palette_from_histogram(total: _Histogram, params: _FitParams) -> Palette:
    """Fit step: exact weighted k-means on the summed histogram (prior validation assumed)."""
    return _fit_histogram(total, params, with_lookup=False)[0]


def _fit_with_lookup(total: _Histogram, params: _FitParams) -> tuple[Palette, np.ndarray | None]:
    """Fit step, plus the colour id -> cluster table of every colour of the collection."""
    return _fit_histogram(total, params, with_lookup=True)


def _item(pair: tuple[Any, ...], i: int) -> Any:
    return pair[i]


def _fit_histogram(
    total: _Histogram, params: _FitParams, *, with_lookup: bool
) -> tuple[Palette, np.ndarray | None]:
    ids = total.ids.astype(np.int64)
    colors = ids_to_colors(ids)
    counts = total.counts.astype(np.int64)
    # fit_colors needs the ids and counts only; the "image" is the colours themselves.
    table = ColorTable(image=colors.reshape(-1, 1, 3), ids=ids, colors=colors, counts=counts)
    k = params.k
    features = rgb_to_features(colors, params.color_space)
    fit = fit_colors(features, table, k, params.fit)
    # Number clusters by collection-wide size, as segment() does for one image.
    cluster_counts = np.bincount(fit.labels, weights=counts, minlength=k).astype(np.int64)
    sums = np.column_stack(
        [np.bincount(fit.labels, weights=colors[:, j] * counts, minlength=k) for j in range(3)]
    )
    order = np.argsort(-cluster_counts, kind="stable")
    cluster_counts = cluster_counts[order]
    filled = cluster_counts > 0
    means = np.zeros((k, 3), dtype=np.uint8)
    means[filled] = np.rint(sums[order][filled] / cluster_counts[filled, None]).astype(np.uint8)
    n_pixels = int(counts.sum())
    palette = Palette(
        centers=np.asarray(fit.centers, dtype=np.float64)[order],
        palette=means,
        counts=cluster_counts,
        fractions=cluster_counts / n_pixels,
        inertia=float(fit.inertia),
        n_iter=int(fit.n_iter),
        converged=bool(fit.converged),
        n_colors=int(ids.shape[0]),
        n_images=sum(1 for info in total.infos if info.error is None),
        n_pixels=n_pixels,
        **vars(params),
    )
    lookup = None
    if with_lookup and k < _UNKNOWN:
        # Every colour of the collection, labelled once with the rule apply_palette uses,
        # so the label step converts no colour again.
        nearest, _ = assign(
            features, np.einsum("ij,ij->i", features, features), np.asarray(palette.centers)
        )
        lookup = np.full(_N_IDS, _UNKNOWN, dtype=np.uint8)
        lookup[ids] = nearest
    return palette, lookup


# --------------------------------------------------------------------------------------------
# Executors: the same steps in process or on Dask


class _Ready:
    """A computed value with the interface of a Dask future (for the in-process path)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def result(self) -> Any:
        return self.value


class _InProcess:
    """Runs every task here, at once; map results come in submission order."""

    def submit(self, fn: Callable[..., Any], *args: Any, worker: str | None = None) -> _Ready:
        return _Ready(fn(*(a.value if isinstance(a, _Ready) else a for a in args)))

    def fit_worker(self, params: _FitParams) -> str | None:
        """Nothing to prepare in process (the fit loads its kernels when it runs)."""
        return None

    def chunk_size(self, n_items: int) -> int:
        """One image per histogram step in process: progress counts every image."""
        return 1

    def map_completed(
        self, fn: Callable[..., Any], items: Sequence[Any], *shared: Any
    ) -> Iterator[tuple[Any, _Ready]]:
        """``(item, result)`` pairs, in order."""
        for item in items:  # lazily, so that only one image is in memory at a time
            yield item, self.submit(fn, item, None, *shared)

    def gather(self, future: Any) -> Any:
        return future.value


def _payload(item: Any) -> tuple[Any, Any]:
    """Split a task's in-memory pixels or bytes off it (paths stay: workers read them)."""
    if isinstance(item, tuple):  # a chunk of sources: a list of payloads, or None
        split = [_payload(source) for source in item]
        if all(payload is None for _, payload in split):
            return item, None
        return tuple(task for task, _ in split), [payload for _, payload in split]
    source = item.source if isinstance(item, _LabelJob) else item
    if isinstance(source.data, str):
        return item, None
    stripped = replace(source, data=None)
    return (
        replace(item, source=stripped) if isinstance(item, _LabelJob) else stripped
    ), source.data


class _OnDask:
    """Runs tasks on a ``distributed.Client``; yields futures as they complete.

    Counts the pickled bytes of the tasks it sends (through the scheduler) and of the
    results it gathers, for :attr:`CollectionResult.traffic`.
    """

    def __init__(self, client: Client) -> None:
        self.client = client
        self.task_bytes = 0
        self.result_bytes = 0
        self._warm_up: Any = None  # held, so that Dask runs it

    def _count(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        import pickle

        plain = tuple(a for a in args if not hasattr(a, "key"))  # futures are references
        self.task_bytes += len(pickle.dumps((fn, plain), protocol=pickle.HIGHEST_PROTOCOL))

    def submit(self, fn: Callable[..., Any], *args: Any, worker: str | None = None) -> Any:
        """Run ``fn(*args)`` on the cluster; preferably on `worker` (any other if it is lost)."""
        self._count(fn, args)
        if worker is None:
            return self.client.submit(fn, *args, pure=False)
        return self.client.submit(fn, *args, pure=False, workers=[worker], allow_other_workers=True)

    def fit_worker(self, params: _FitParams) -> str | None:
        """A worker to run the fit on, told now to load the fit's compiled kernels.

        Loading them (numba and its registries) takes about a second the first time in a
        process; done while the other workers count colours, it is off the fit's path.
        """
        workers = sorted(self.client.scheduler_info()["workers"])
        if not workers:
            return None
        self._warm_up = self.submit(_warm_up, params, worker=workers[0])
        return workers[0]

    def chunk_size(self, n_items: int) -> int:
        """Images per histogram task for `n_items` images on this cluster."""
        workers = max(1, len(self.client.scheduler_info()["workers"]))
        return max(1, min(_CHUNK_MAX, n_items // (_CHUNKS_PER_WORKER * workers)))

    def map_completed(
        self, fn: Callable[..., Any], items: Sequence[Any], *shared: Any
    ) -> Iterator[tuple[Any, Any]]:
        """``(item, future)`` pairs as the futures complete."""
        from distributed import as_completed

        if not items:
            return
        futures = []
        for item in items:
            task, payload = _payload(item)
            if payload is not None:
                # In-memory images go straight to a worker, not through the task graph.
                payload = self.client.scatter(payload, hash=False)
            self._count(fn, (task,))
            futures.append(self.client.submit(fn, task, payload, *shared, pure=False))
        item_of = {future.key: item for future, item in zip(futures, items, strict=True)}
        try:
            for future in as_completed(futures):
                yield item_of[future.key], future
        finally:
            # Interrupted (Ctrl-C) or done: release what is still running.
            self.client.cancel([f for f in futures if not f.done()])

    def gather(self, future: Any) -> Any:
        import pickle

        value = future.result()
        self.result_bytes += len(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        return value

    def worker_stats(self) -> dict[str, dict[str, int]]:
        """Per worker: bytes sent to other workers so far, and peak resident memory."""
        return self.client.run(_worker_stats)


def _warm_up(params: _FitParams) -> None:
    """Load the fit's compiled kernels in this process (numba and its registries), then
    run the fit's code path once on a tiny histogram (its first NumPy and BLAS calls)."""
    from core import _accel

    _accel.compile_kernels()
    ids = np.arange(0, 1 << 24, 1 << 16, dtype=np.uint32)
    tiny = _Histogram(ids, np.ones(ids.shape[0], np.int64), ())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _fit_histogram(tiny, replace(params, k=min(params.k, ids.shape[0])), with_lookup=False)


def _worker_stats(dask_worker: Any = None) -> dict[str, int]:
    import resource

    return {
        "sent_to_workers": int(getattr(dask_worker, "transfer_outgoing_bytes_total", 0)),
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


def _executor(client: Client | None) -> _InProcess | _OnDask:
    if client is None:
        return _InProcess()
    if not hasattr(client, "submit") or not hasattr(client, "map"):
        raise TypeError(
            f"client must be a dask.distributed.Client or None, got {type(client).__name__}. "
            "Connect with distributed.Client('tcp://HOST:8786') or use core.local_client()."
        )
    return _OnDask(client)


@contextlib.contextmanager
def local_client(n_workers: int | None = None) -> Iterator[Client]:
    """A ``LocalCluster`` of worker processes (one thread each) and a client, closed after.

    Parameters
    ----------
    n_workers : int, optional
        Worker processes; default: the number of CPUs.

    Yields
    ------
    distributed.Client

    Raises
    ------
    RuntimeError
        If called while a spawned worker process re-imports the calling script, i.e. the
        script does not guard it with ``if __name__ == "__main__":``.
    """
    import dask
    from distributed import Client, LocalCluster

    if (
        multiprocessing.parent_process() is not None
        and multiprocessing.current_process().name != "MainProcess"
    ):
        raise RuntimeError(
            "core.local_client() was called while a worker process imported your script. "
            "Put the code that starts the cluster under 'if __name__ == \"__main__\":'."
        )
    workers = n_workers or os.cpu_count() or 1
    with (
        # One thread per worker process for numba too (Dask already pins BLAS and OpenMP):
        # W workers on W cores, not W x cores threads fighting over them.
        dask.config.set(
            {
                "distributed.nanny.pre-spawn-environ.NUMBA_NUM_THREADS": "1",
                # Dask sets MALLOC_TRIM_THRESHOLD_, which also fixes glibc's mmap threshold
                # at 128 KiB: every image-sized array is then mapped and faulted in afresh
                # (about 25 % more CPU per image). Arrays up to 32 MiB come from the heap.
                "distributed.nanny.pre-spawn-environ.MALLOC_MMAP_THRESHOLD_": str(1 << 25),
            }
        ),
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


# --------------------------------------------------------------------------------------------
# Public API


def _check_fit_params(
    k: object,
    color_space: object,
    seed: object,
    init: object,
    n_init: object,
    max_iter: object,
    tol: object,
) -> _FitParams:
    """Validate with core's checks (:mod:`core.validation`); a None seed is drawn here, so
    the palette records the seed that reproduces it."""
    fit = FitParams.checked(seed=seed, init=init, n_init=n_init, max_iter=max_iter, tol=tol)
    return _FitParams(
        k=check_k(k),
        color_space=check_color_space(color_space),
        seed=fit.seed,
        init=fit.init,
        n_init=fit.n_init,
        max_iter=fit.max_iter,
        tol=fit.tol,
    )


def _as_sources(sources: object, max_pixels: int | None) -> list[_Source]:
    """Name every source: paths by their path, arrays and bytes by position or mapping key."""
    if isinstance(sources, str | os.PathLike | bytes | np.ndarray):
        raise TypeError(
            "sources must be a list of paths or images (or a dict name -> image), not a single "
            f"{type(sources).__name__}; wrap one image in a list: [image]."
        )
    if isinstance(sources, Mapping):
        pairs = [(str(name), data) for name, data in sources.items()]
    else:
        try:
            items = list(sources)  # type: ignore[call-overload]
        except TypeError:
            raise TypeError(
                f"sources must be a list of paths or images, got {type(sources).__name__}."
            ) from None
        pairs = []
        for i, data in enumerate(items):
            if isinstance(data, str | os.PathLike):
                name = os.fspath(data)
            else:
                name = getattr(data, "name", None) or f"image {i + 1}"
            pairs.append((str(name), data))
    result = []
    for i, (name, data) in enumerate(pairs):
        if isinstance(data, os.PathLike):
            data = os.fspath(data)
        elif hasattr(data, "read"):
            data = data.getvalue() if hasattr(data, "getvalue") else data.read()
        elif isinstance(data, bytearray | memoryview):
            data = bytes(data)
        elif not isinstance(data, str | bytes):
            data = np.asarray(data)
        result.append(_Source(index=i, name=name, data=data, max_pixels=max_pixels))
    return result


def _fit(
    executor: _InProcess | _OnDask,
    sources: Sequence[_Source],
    params: _FitParams,
    progress: Progress | None,
    *,
    with_lookup: bool = False,
) -> tuple[Palette | None, dict[int, _ImageInfo], Any]:
    """Histograms (map), a streaming tree of merges (reduce), one fit; infos per image,
    and (a future of) the colour -> cluster table when asked."""
    worker = executor.fit_worker(params)
    mapping = _band_mapping(executor, sources, params.seed)
    total_future = _summed_histogram(executor, sources, mapping, progress, worker)
    if total_future is None:
        return None, {}, None
    # The summed histogram stays where it was reduced; only infos and the palette travel.
    infos_future = executor.submit(_infos_of, total_future)
    infos = {info.index: info for info in executor.gather(infos_future)}
    if all(info.error is not None for info in infos.values()):
        return None, infos, None
    if not with_lookup:
        palette = executor.gather(
            executor.submit(_palette_from_histogram, total_future, params, worker=worker)
        )
        return replace(palette, band_mapping=mapping), infos, None
    pair = executor.submit(_fit_with_lookup, total_future, params, worker=worker)
    palette = replace(executor.gather(executor.submit(_item, pair, 0)), band_mapping=mapping)
    # The table stays on the cluster; each worker fetches it once for its label tasks.
    return palette, infos, executor.submit(_item, pair, 1)


def _summed_histogram(
    executor: _InProcess | _OnDask,
    sources: Sequence[_Source],
    mapping: BandMapping | None,
    progress: Progress | None = None,
    worker: str | None = None,
) -> Any:
    """(A future of) the collection's histogram: histograms per image, or per chunk of
    images on Dask (map), merged in a streaming tree as they complete (reduce), the last
    merges on `worker`. None without sources."""
    levels: list[list[Any]] = []
    done = 0
    size = executor.chunk_size(len(sources))
    chunks = [tuple(sources[i : i + size]) for i in range(0, len(sources), size)]
    for chunk, future in executor.map_completed(_chunk_histogram, chunks, mapping):
        done += len(chunk)
        if progress is not None:
            progress("histograms", done, len(sources))
        _push(executor, levels, 0, future)
    remaining = [f for level in levels for f in level]
    while len(remaining) > 1:
        remaining = [
            executor.submit(merge_histograms, *remaining[i : i + _FAN_IN], worker=worker)
            for i in range(0, len(remaining), _FAN_IN)
        ]
    return remaining[0] if remaining else None


def _infos_of(total: _Histogram) -> tuple[_ImageInfo, ...]:
    return total.infos


def _push(executor: _InProcess | _OnDask, levels: list[list[Any]], level: int, item: Any) -> None:
    """Add a histogram to the reduction tree, merging a level once it holds _FAN_IN parts."""
    while len(levels) <= level:
        levels.append([])
    levels[level].append(item)
    if len(levels[level]) == _FAN_IN:
        parts, levels[level] = levels[level], []
        _push(executor, levels, level + 1, executor.submit(merge_histograms, *parts))


def collection_histogram(
    sources: Iterable[Any] | Mapping[str, Any],
    *,
    max_pixels: int | None = None,
    client: Client | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The distinct colours of a whole collection and their pixel counts (the summed
    histogram :func:`fit_collection` clusters). Unreadable images are left out.

    Returns
    -------
    colors : (m, 3) ndarray of uint8
    counts : (m,) ndarray of int64
        Pixels of each colour over every image.
    """
    items = _as_sources(sources, max_pixels)
    executor = _executor(client)
    total_future = _summed_histogram(executor, items, _band_mapping(executor, items, 0))
    if total_future is None:
        return np.empty((0, 3), np.uint8), np.empty(0, np.int64)
    total = executor.gather(total_future)
    return ids_to_colors(total.ids), total.counts.astype(np.int64)


def fit_collection(
    sources: Iterable[Any] | Mapping[str, Any],
    k: int,
    *,
    color_space: Literal["rgb", "hsv", "lab", "oklab"] = "lab",
    seed: int | None = 0,
    init: Literal["k-means++", "random"] = "k-means++",
    n_init: int = DEFAULT_N_INIT,
    max_iter: int = 300,
    tol: float = 1e-4,
    max_pixels: int | None = None,
    errors: Literal["raise", "skip"] = "raise",
    client: Client | None = None,
    progress: Progress | None = None,
) -> Palette:
    """Fit one k-means palette on every pixel of every image of a collection, exactly.

    The images' colour histograms are summed and k-means runs on the distinct colours of
    the collection weighted by their counts — the same as k-means on all pixels at once.
    GeoTIFFs are clustered on colours that mean the same in every tile
    (:func:`raster_rgb`): 8-bit ones as they are, deeper ones (uint16, int16, float) through
    one :class:`BandMapping` measured on a bounded sample of the whole collection first, and
    kept in :attr:`Palette.band_mapping`.

    Parameters
    ----------
    sources : iterable of path, URL, bytes or (H, W, 3) array of uint8, or mapping
        The images: file paths (or fsspec URLs the workers can read), encoded file bytes,
        or pixel arrays; a mapping ``{name: image}`` names them.
    k : int
        Number of clusters.
    color_space : {"rgb", "hsv", "lab", "oklab"}
        Space in which distances are measured (default "lab": perceptual).
    seed, init, n_init, max_iter, tol
        As for :func:`core.segment`.
    max_pixels : int, optional
        Refuse images larger than this (default: :data:`core.DEFAULT_MAX_PIXELS`).
    errors : {"raise", "skip"}
        What to do with an image that cannot be read: raise its :class:`ImageError`
        (default), or leave it out of the fit.
    client : distributed.Client, optional
        Run the histograms, their sum and the fit on this Dask cluster. Default: here.
    progress : callable, optional
        Called as ``progress("histograms", done, total)`` after each image.

    Returns
    -------
    Palette

    Raises
    ------
    ImageError
        If an image cannot be read and ``errors="raise"``, or if no image can be read.
    ValueError
        If a parameter is out of range, or `k` exceeds the collection's pixels.
    TypeError
        If `sources` is not a collection of images, or `client` is not a Dask client.

    Warns
    -----
    UserWarning
        When the collection has fewer distinct colours than `k`.
    """
    params = _check_fit_params(k, color_space, seed, init, n_init, max_iter, tol)
    if errors not in ("raise", "skip"):
        raise ValueError(f"errors must be 'raise' or 'skip', got {errors!r}.")
    items = _as_sources(sources, max_pixels)
    if not items:
        raise ValueError("sources is empty; pass at least one image.")
    executor = _executor(client)
    palette, infos, _ = _fit(executor, items, params, progress)
    failed = [info for info in infos.values() if info.error is not None]
    if failed and (errors == "raise" or palette is None):
        first = min(failed, key=lambda info: info.index)
        more = ""
        if len(failed) > 1:
            more = f" ({len(failed) - 1} more images could not be read either.)"
        raise ImageError(f"{first.error}{more}")
    assert palette is not None
    _check_palette_size(palette)
    return palette


def _check_palette_size(palette: Palette) -> None:
    if palette.k > palette.n_pixels:
        raise ValueError(
            f"k={palette.k} is more than the number of pixels in the collection "
            f"({palette.n_pixels}); lower k."
        )
    n_empty = int((palette.counts == 0).sum())
    if n_empty:
        warnings.warn(
            f"The collection has only {palette.n_colors} distinct colour(s), fewer than "
            f"k={palette.k}: {n_empty} cluster(s) are empty. Lower k to at most "
            f"{palette.n_colors}.",
            UserWarning,
            stacklevel=3,
        )


def apply_palette(
    image: npt.ArrayLike | str | os.PathLike | bytes, palette: Palette
) -> Segmentation:
    """Label an image with a kept palette: each pixel goes to its exact nearest centre.

    No refit: the centres, colours and cluster numbers are the palette's, so cluster ``i``
    means the same thing in every image. With the same options, ``segment(image, k, ...)``
    equals ``apply_palette(image, fit_collection([image], k, ...))``: label for label
    at ``tol=0``; at a positive `tol` the centres and palette agree, and ``segment``'s labels
    come from its last assignment, before the centres' final move, so a few boundary colours
    may differ (this function's WCSS is then the lower).

    Parameters
    ----------
    image : (H, W, 3) array_like of uint8, or path, URL or bytes of an image file
        RGB image (see :func:`core.segmentation.as_rgb_image` for other layouts), or a file
        read as :func:`segment_collection` reads it: a GeoTIFF's bands mapped to RGB with
        the palette's :attr:`Palette.band_mapping` (so a new tile maps as the fit did), and
        transparent or no-data pixels left out (label ``-1``, as ``mask="auto"``).
    palette : Palette

    Returns
    -------
    Segmentation
        `palette` and `centers` are the palette's; `counts`, `fractions` and `inertia`
        (WCSS against the palette's centres) are this image's.

    Raises
    ------
    TypeError
        If `palette` is not a :class:`Palette` or `image` not a numeric array.
    ValueError
        If the image is empty, of the wrong shape, or contains NaN.
    ImageError
        If a file cannot be read, or none of its pixels count.
    """
    started = time.perf_counter()
    if not isinstance(palette, Palette):
        raise TypeError(
            f"palette must be a core.Palette, got {type(palette).__name__}; read a kept one "
            "with core.Palette.from_json(Path('palette.json').read_text())."
        )
    if not isinstance(image, str | os.PathLike | bytes):
        return _apply(ColorTable.from_image(as_rgb_image(image)), palette, started)
    source = _as_sources([image], None)[0]
    pixels = _read(source, palette.band_mapping)
    if pixels.valid is None:
        return _apply(ColorTable.from_image(pixels.rgb), palette, started)
    from core.masking import scatter

    # The pixels that count as a (1, n) strip, put back on the grid after (as segment does).
    strip = np.ascontiguousarray(pixels.rgb[pixels.valid])[None]
    result = scatter(_apply(ColorTable.from_image(strip), palette, started), pixels.valid)
    return replace(result, elapsed=time.perf_counter() - started)


def _apply(table: ColorTable, palette: Palette, started: float) -> Segmentation:
    features = rgb_to_features(table.colors, palette.color_space)
    x_sq = np.einsum("ij,ij->i", features, features)
    color_labels, distances = assign(features, x_sq, np.asarray(palette.centers))
    weights = table.counts
    k = palette.k
    labels, segmented = table.paint(color_labels, palette.palette)
    counts = np.bincount(color_labels, weights=weights, minlength=k).astype(np.int64)
    shares = counts / counts.sum()
    for array in (labels, segmented, counts, shares):
        array.setflags(write=False)
    return Segmentation(
        labels=labels,
        palette=palette.palette,
        segmented=segmented,
        centers=palette.centers,
        counts=counts,
        shares=shares,
        wcss=float(weights @ distances),
        n_iter=palette.n_iter,
        converged=palette.converged,
        n_colors=table.n_colors,
        k=k,
        color_space=palette.color_space,
        fit=FitParams(
            seed=0 if palette.seed is None else palette.seed,
            init=palette.init,  # type: ignore[arg-type]
            n_init=palette.n_init,
            max_iter=palette.max_iter,
            tol=palette.tol,
        ),
        engine="kseg",
        fit_shape=table.shape,
        elapsed=time.perf_counter() - started,
    )


@dataclass(frozen=True)
class ImageResult:
    """One image of a collection run: its size, pixels per cluster, outputs, or its error.

    Attributes
    ----------
    index : int
        Position of the image in the sources.
    file : str
        Its path or name.
    width, height : int
        Size in pixels (0 when it could not be read).
    counts : tuple of int
        Pixels per cluster, in palette order (empty on error).
    hex_colors : tuple of str
        The cluster colours these counts refer to (the shared palette's, or the image's
        own with ``per_image=True``).
    error : str or None
        Why the image could not be used, for a person; None on success.
    areas_m2 : tuple of float
        Ground area per cluster in m², from a georeferenced raster's CRS and transform
        (each row's own pixel area in a geographic CRS); empty for other images.
    outputs : dict of str to str
        Files written for this image (``segmented``, ``labels``, ``masks``, ``polygons``).
    elapsed : float
        Seconds spent on the image (reading, labelling, writing).
    """

    index: int
    file: str
    width: int
    height: int
    counts: tuple[int, ...] = ()
    hex_colors: tuple[str, ...] = ()
    error: str | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    elapsed: float = 0.0
    areas_m2: tuple[float, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the image was read and labelled."""
        return self.error is None

    @property
    def n_pixels(self) -> int:
        return self.width * self.height

    @property
    def fractions(self) -> tuple[float, ...]:
        """Share of the image's pixels per cluster."""
        total = sum(self.counts)
        return tuple(c / total for c in self.counts) if total else ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "file": self.file,
            "width": self.width,
            "height": self.height,
            "counts": list(self.counts),
            "hex_colors": list(self.hex_colors),
            "error": self.error,
            "outputs": dict(self.outputs),
            "elapsed": self.elapsed,
            "areas_m2": list(self.areas_m2),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ImageResult:
        return cls(
            index=int(data["index"]),
            file=str(data["file"]),
            width=int(data["width"]),
            height=int(data["height"]),
            counts=tuple(int(c) for c in data["counts"]),
            hex_colors=tuple(str(h) for h in data["hex_colors"]),
            error=data["error"],
            outputs={str(a): str(b) for a, b in data["outputs"].items()},
            elapsed=float(data["elapsed"]),
            areas_m2=tuple(float(a) for a in data.get("areas_m2", ())),
        )


@dataclass(frozen=True)
class CollectionResult:
    """The table a collection run produces: a palette and one row per image, in input order.

    Attributes
    ----------
    palette : Palette or None
        The shared palette (None with ``per_image=True`` or when no image could be read).
    rows : tuple of ImageResult
        One per source, in the order given, errors included.
    pixel_size : float or None
        Ground size of a pixel in metres, when given: areas are then reported.
    elapsed : float
        Seconds for the whole run.
    timings : dict of str to float
        Seconds per stage (``fit``, ``labels``).
    traffic : dict
        On a Dask cluster: ``task_bytes`` (tasks sent through the scheduler),
        ``result_bytes`` (results gathered by the client), ``between_workers_bytes``
        (histograms moved from worker to worker during the run) and ``peak_rss_per_worker``
        (bytes, each worker's peak resident memory so far). Empty in process.
    """

    palette: Palette | None
    rows: tuple[ImageResult, ...]
    pixel_size: float | None = None
    elapsed: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    traffic: dict[str, Any] = field(default_factory=dict)

    @property
    def errors(self) -> tuple[ImageResult, ...]:
        """Rows of the images that could not be used."""
        return tuple(row for row in self.rows if not row.ok)

    @property
    def ok(self) -> tuple[ImageResult, ...]:
        """Rows of the images that were labelled."""
        return tuple(row for row in self.rows if row.ok)

    def areas(self) -> list[dict[str, Any]]:
        """One record per (image, cluster): file, cluster, hex, pixels, share, areas."""
        return area_records(self.ok, self.pixel_size)

    def areas_csv(self) -> str:
        """:meth:`areas` as CSV text (``area_m2``/``area_ha`` only with a pixel size)."""
        return areas_csv(self.ok, self.pixel_size)

    def errors_csv(self) -> str:
        """``file,error`` CSV of the images that could not be used."""
        return errors_csv(self.errors)


def area_records(rows: Iterable[ImageResult], pixel_size: float | None) -> list[dict[str, Any]]:
    """Long table of areas: one record per (image, cluster), images in the order given.

    Parameters
    ----------
    rows : iterable of ImageResult
        Successful rows (error rows are skipped).
    pixel_size : float or None
        Side of a pixel in metres; adds ``area_m2`` and ``area_ha``. Without it, the
        areas of georeferenced rasters (:attr:`ImageResult.areas_m2`) fill those columns
        (blank for the other images).
    """
    rows = list(rows)
    with_areas = _has_areas(rows, pixel_size)
    records = []
    for row in rows:
        if not row.ok:
            continue
        total = sum(row.counts)
        for cluster, (count, color) in enumerate(zip(row.counts, row.hex_colors, strict=True)):
            record: dict[str, Any] = {
                "file": row.file,
                "cluster": cluster,
                "hex": color,
                "pixels": count,
                "share": round(count / total, 6) if total else 0.0,
            }
            if with_areas:
                area = _area_m2(row, cluster, pixel_size)
                record["area_m2"] = None if area is None else round(area, 3)
                record["area_ha"] = None if area is None else round(area / 10_000, 6)
            records.append(record)
    return records


def _has_areas(rows: Sequence[ImageResult], pixel_size: float | None) -> bool:
    """Whether the table has area columns: a pixel size, or a georeferenced image."""
    return pixel_size is not None or any(row.areas_m2 for row in rows if row.ok)


def _area_m2(row: ImageResult, cluster: int, pixel_size: float | None) -> float | None:
    """Ground area of a cluster in an image: pixels × the given pixel size, else the
    raster's own areas, else unknown."""
    if pixel_size is not None:
        return row.counts[cluster] * pixel_size * pixel_size
    if row.areas_m2:
        return row.areas_m2[cluster]
    return None


def areas_csv(rows: Iterable[ImageResult], pixel_size: float | None) -> str:
    """CSV text of :func:`area_records`."""
    rows = list(rows)
    columns = ["file", "cluster", "hex", "pixels", "share"]
    if _has_areas(rows, pixel_size):
        columns += ["area_m2", "area_ha"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(area_records(rows, pixel_size))
    return buffer.getvalue()


def errors_csv(rows: Iterable[ImageResult]) -> str:
    """``file,error`` CSV text of the rows that failed."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["file", "error"])
    for row in rows:
        if not row.ok:
            writer.writerow([row.file, row.error])
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------
# Labelling one image (map step 2, on a worker)


@dataclass(frozen=True)
class _LabelJob:
    source: _Source
    palette: Palette | None  # None: fit this image on its own (per_image)
    fit: _FitParams | None
    out: str | None
    stem: str
    outputs: _Outputs
    run_key: str  # outputs written under this key are reused by resume
    resume: bool


@dataclass(frozen=True)
class _Outputs:
    """Which optional files to write per image."""

    masks: bool = False  # one black-and-white PNG per cluster
    polygons: bool = False  # GeoJSON polygons of each cluster, for georeferenced rasters
    polygon_min_pixels: int = 1  # regions smaller than this are sieved before polygons


def _sidecar(out: str, stem: str) -> Path:
    return Path(out) / "rows" / f"{stem}.json"


def _write_atomic(path: Path, data: bytes) -> None:
    # A worker killed mid-write leaves a temporary file, never a truncated output.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _label(job: _LabelJob, payload: Any = None, lookup: np.ndarray | None = None) -> ImageResult:
    """Map step 2: read, label, write outputs; an unreadable image becomes an error row."""
    started = time.perf_counter()
    if lookup is not None and job.palette is not None:
        _seed_lookup(job.palette, lookup)
    if payload is not None:
        job = replace(job, source=replace(job.source, data=payload))
    source = job.source
    if job.resume and job.out is not None:
        kept = _resumed(job)
        if kept is not None:
            return kept
    try:
        pixels = _read(source, None if job.palette is None else job.palette.band_mapping)
    except Exception as e:
        return ImageResult(source.index, source.name, 0, 0, error=_failure_message(source, e))
    rgb = pixels.rgb
    if job.palette is None:
        # Per image: exactly what segment() gives for this image on its own.
        from core.segmentation import segment

        assert job.fit is not None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # fewer colours than k: empty
                seg = segment(rgb, **vars(job.fit), mask=pixels.valid)
        except ValueError as e:  # k above this image's pixel count
            return ImageResult(source.index, source.name, 0, 0, error=f"'{source.name}': {e}")
        labels, segmented, counts = seg.labels, seg.segmented, seg.counts
        palette_colors, hex_colors = seg.palette, seg.hex_colors
    else:
        labels, segmented, counts = _label_pixels(pixels, job.palette)
        palette_colors, hex_colors = job.palette.palette, job.palette.hex_colors
    areas: tuple[float, ...] = ()
    row_areas = None if pixels.geo is None else pixels.geo.row_areas(rgb.shape[0])
    if row_areas is not None:
        from core.raster import class_areas

        counted = _counted_labels(labels, pixels.valid)
        areas = tuple(float(a) for a in class_areas(counted, row_areas, len(counts)))
    outputs = {}
    if job.out is not None:
        outputs = _write_outputs(
            Path(job.out), job.stem, labels, segmented, palette_colors, pixels, job.outputs
        )
    row = ImageResult(
        index=source.index,
        file=source.name,
        width=int(rgb.shape[1]),
        height=int(rgb.shape[0]),
        counts=tuple(int(c) for c in counts),
        hex_colors=tuple(hex_colors),
        areas_m2=areas,
        outputs=outputs,
        elapsed=time.perf_counter() - started,
    )
    if job.out is not None:
        record = {"key": job.run_key, "row": row.to_dict()}
        _write_atomic(_sidecar(job.out, job.stem), json.dumps(record).encode())
    return row


# Per process: a 2**24-entry table colour id -> cluster for the palette in use, filled as
# colours are met, so each distinct colour of a collection is converted and assigned once
# (images of one collection share most of their colours). 255 marks "not yet known".
_UNKNOWN: Final = 255
_lookups: OrderedDict[str, np.ndarray] = OrderedDict()
_lookups_lock = threading.Lock()


def _lookup(palette: Palette) -> np.ndarray:
    with _lookups_lock:
        table = _lookups.get(palette.key)
        if table is None:
            table = np.full(_N_IDS, _UNKNOWN, dtype=np.uint8)
            _lookups[palette.key] = table
            while len(_lookups) > 2:  # 16 MiB each
                _lookups.popitem(last=False)
        return table


def _seed_lookup(palette: Palette, lookup: np.ndarray) -> None:
    """Start this process's table for `palette` from the one the fit built."""
    with _lookups_lock:
        if palette.key not in _lookups:
            _lookups[palette.key] = np.array(lookup, dtype=np.uint8)  # a writable copy
            while len(_lookups) > 2:
                _lookups.popitem(last=False)


def _label_pixels(pixels: _Pixels, palette: Palette) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels (H, W), painted image (H, W, 3) and pixels per cluster (k,) of one image.

    The same nearest-centre rule as :func:`apply_palette` (the colour's features in the
    palette's space, assigned with :func:`core.kmeans.assign`), through the lookup table.
    Pixels that do not count (``pixels.valid``) are labelled too, but not counted.
    """
    rgb = pixels.rgb
    if palette.k >= _UNKNOWN:  # labels do not fit the uint8 table: the direct path
        seg = _apply(ColorTable.from_image(rgb), palette, 0.0)
        counts = seg.counts
        if pixels.valid is not None:
            counts = np.bincount(seg.labels[pixels.valid], minlength=palette.k).astype(np.int64)
        return seg.labels, seg.segmented, counts
    ids = pixel_ids(rgb)
    table = _lookup(palette)
    labels = table[ids]
    missing = labels == _UNKNOWN
    if missing.any():
        new = np.unique(ids[missing])
        features = rgb_to_features(ids_to_colors(new), palette.color_space)
        nearest, _ = assign(
            features, np.einsum("ij,ij->i", features, features), np.asarray(palette.centers)
        )
        table[new] = nearest
        labels[missing] = table[ids[missing]]
    counted = labels if pixels.valid is None else labels[pixels.valid.ravel()]
    counts = np.bincount(counted, minlength=palette.k).astype(np.int64)
    labels = labels.reshape(rgb.shape[:2])
    return labels, recolor(labels, palette.palette), counts


def _resumed(job: _LabelJob) -> ImageResult | None:
    assert job.out is not None
    path = _sidecar(job.out, job.stem)
    try:
        record = json.loads(path.read_text())
        if record.get("key") != job.run_key:
            return None
        row = ImageResult.from_dict(record["row"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if row.file != job.source.name or not all(Path(p).exists() for p in row.outputs.values()):
        return None
    return ImageResult(
        index=job.source.index,
        file=row.file,
        width=row.width,
        height=row.height,
        counts=row.counts,
        hex_colors=row.hex_colors,
        outputs=row.outputs,
        elapsed=0.0,
        areas_m2=row.areas_m2,
    )


def _write_outputs(
    out: Path,
    stem: str,
    labels: np.ndarray,
    segmented: np.ndarray,
    palette: np.ndarray,
    pixels: _Pixels,
    options: _Outputs,
) -> dict[str, str]:
    """The files of one image: segmented and label images, optional masks and polygons.

    A georeferenced raster gets GeoTIFFs in its CRS and transform (:mod:`core.raster`'s
    writers: uint8 labels with no-data 255 and a colour table, the segmented RGB with an
    alpha band); anything else PNGs (an indexed label PNG whose palette is the cluster
    colours). Pixels that do not count are no-data / transparent in both.
    """
    from core.png import encode_png

    k = int(palette.shape[0])
    valid = pixels.valid
    outputs = {}
    if pixels.geo is not None:
        from core.raster import label_geotiff, rgb_geotiff

        counted = _counted_labels(labels, valid)
        files = {
            "segmented": (
                out / "segmented" / f"{stem}.tif",
                # RGBA like kseg segment's, whether or not the scene has no-data.
                rgb_geotiff(segmented, counted >= 0, pixels.geo),
            ),
            "labels": (
                out / "labels" / f"{stem}.tif",
                label_geotiff(counted, palette, pixels.geo),
            ),
        }
        if options.polygons:
            from core.raster import class_polygons, polygons_json

            collection = class_polygons(
                counted, pixels.geo, palette=palette, min_pixels=options.polygon_min_pixels
            )
            (out / "polygons").mkdir(exist_ok=True)
            files["polygons"] = (out / "polygons" / f"{stem}.geojson", polygons_json(collection))
        for name, (path, data) in files.items():
            _write_atomic(path, data)
            outputs[name] = str(path)
    else:
        path = out / "segmented" / f"{stem}.png"
        painted = segmented
        if valid is not None:  # transparent where the pixel does not count
            painted = np.dstack([painted, np.where(valid, 255, 0).astype(np.uint8)])
        _write_atomic(path, encode_png(painted))
        outputs["segmented"] = str(path)
        path = out / "labels" / f"{stem}.png"
        _write_atomic(path, _label_png(labels, palette, valid))
        outputs["labels"] = str(path)
    if options.masks:
        folder = out / "masks" / stem
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(k):
            mask = labels == i
            if valid is not None:
                mask &= valid
            _write_atomic(folder / f"mask_{i:02d}.png", encode_png(mask.view(np.uint8) * 255))
        outputs["masks"] = str(folder)
    return outputs


def _counted_labels(labels: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    """(H, W) int32 labels with -1 where the pixel does not count (core's convention)."""
    counted = labels.astype(np.int32)
    if valid is not None:
        counted[~valid] = -1
    return counted


def _label_png(labels: np.ndarray, palette: np.ndarray, valid: np.ndarray | None) -> bytes:
    """Indexed PNG of the clusters (PNG palette = cluster colours; 255 = does not count,
    transparent); 16-bit grey above 255 clusters."""
    from core.png import encode_png

    k = int(palette.shape[0])
    if k >= _UNKNOWN:
        return encode_png(labels.astype(np.uint16))
    indexed = labels.astype(np.uint8)
    colors = np.zeros((256, 3), dtype=np.uint8)
    colors[:k] = palette
    if valid is None:
        return encode_png(indexed, palette=colors)
    indexed = np.where(valid, indexed, np.uint8(_UNKNOWN))
    alpha = np.full(256, 255, dtype=np.uint8)
    alpha[_UNKNOWN] = 0
    return encode_png(indexed, palette=colors, alpha=alpha)


def read_segmented(path: str | os.PathLike) -> np.ndarray:
    """The painted image an output file holds, colours as written (no display stretch).

    Parameters
    ----------
    path : path
        A ``segmented/`` output of :func:`segment_collection`: a PNG, or the RGB(A)
        GeoTIFF written for a georeferenced raster.

    Returns
    -------
    (H, W, 3) ndarray of uint8
    """
    if Path(path).suffix.lower() in (".tif", ".tiff"):
        from core.raster import open_raster

        return np.ascontiguousarray(np.moveaxis(open_raster(path).data[:3], 0, 2))
    from core.io import load_image

    return load_image(path)


def _stems(sources: Sequence[_Source]) -> list[str]:
    """Output file stems, unique within the run (``name``, ``name-2``, …)."""
    seen: dict[str, int] = {}
    stems = []
    for source in sources:
        base = Path(source.name).stem if source.name else f"image_{source.index + 1}"
        base = "".join(c if c.isalnum() or c in "-_." else "_" for c in base) or "image"
        n = seen.get(base, 0) + 1
        seen[base] = n
        stems.append(base if n == 1 else f"{base}-{n}")
    return stems


def segment_collection(
    sources: Iterable[Any] | Mapping[str, Any],
    k: int | Palette,
    *,
    color_space: Literal["rgb", "hsv", "lab", "oklab"] = "lab",
    seed: int | None = 0,
    init: Literal["k-means++", "random"] = "k-means++",
    n_init: int = DEFAULT_N_INIT,
    max_iter: int = 300,
    tol: float = 1e-4,
    per_image: bool = False,
    out: str | os.PathLike | None = None,
    masks: bool = False,
    polygons: bool = False,
    polygon_min_pixels: int = 1,
    pixel_size: float | None = None,
    max_pixels: int | None = None,
    resume: bool = False,
    client: Client | None = None,
    progress: Progress | None = None,
    on_row: Callable[[ImageResult], None] | None = None,
) -> CollectionResult:
    """Segment every image of a collection with one shared palette; a table of areas.

    Fits a :class:`Palette` on the whole collection (:func:`fit_collection`), or uses the
    one given, then labels each image with it. An image that cannot be read becomes an
    error row with its :class:`ImageError` message; it never stops the run.

    Parameters
    ----------
    sources : iterable of path, URL, bytes or (H, W, 3) array of uint8, or mapping
        As for :func:`fit_collection`.
    k : int or Palette
        Number of clusters to fit, or a kept palette to apply (no fit).
    color_space, seed, init, n_init, max_iter, tol
        As for :func:`fit_collection` (ignored when `k` is a palette).
    per_image : bool
        Fit every image on its own palette instead of a shared one, for comparison.
    out : path, optional
        Folder for the outputs per image: ``segmented/<name>.png``, ``labels/<name>.png``
        (indexed PNG whose palette is the cluster colours), ``masks/<name>/mask_NN.png``
        with `masks`, and ``rows/<name>.json`` (the row, for `resume`). A georeferenced
        raster gets ``segmented/<name>.tif`` (RGB + alpha) and ``labels/<name>.tif``
        (uint8, no-data 255, colour table) in its CRS and transform instead, and
        ``polygons/<name>.geojson`` with `polygons`. Workers write there, so on a cluster
        it must be a folder they share.
    masks : bool
        Also write one black-and-white mask per cluster.
    polygons : bool
        Also write each georeferenced raster's clusters as GeoJSON polygons (WGS 84).
    polygon_min_pixels : int
        Regions smaller than this are merged into a neighbour before the polygons are
        traced (:func:`core.raster.sieve_labels`); the label files keep every pixel.
    pixel_size : float, optional
        Side of one pixel in metres; the table then reports areas. Without it, the areas
        of georeferenced rasters come from their CRS and transform.

    Pixels that do not count are left out of the fit, the counts and the areas, as with
    ``mask="auto"`` in :func:`core.segment`: fully transparent pixels and a raster's
    no-data.
    max_pixels : int, optional
        Refuse images larger than this.
    resume : bool
        Reuse the outputs already in `out` for images written with the same palette and
        options, without reading them again.
    client : distributed.Client, optional
        Run on this Dask cluster. Default: in this process.
    progress : callable, optional
        ``progress(stage, done, total)`` after every image of each stage.
    on_row : callable, optional
        Called with each :class:`ImageResult` as it completes (any order), e.g. to save
        what is done if the run is interrupted.

    Returns
    -------
    CollectionResult
        The palette and one row per source, in input order.

    Raises
    ------
    ValueError
        If a parameter is out of range.
    TypeError
        If `sources`, `k` or `client` has the wrong type.
    """
    started = time.perf_counter()
    if pixel_size is not None and (
        isinstance(pixel_size, bool)
        or not isinstance(pixel_size, int | float)
        or not (math.isfinite(pixel_size) and pixel_size > 0)
    ):
        raise ValueError(f"pixel_size must be a positive number of metres, got {pixel_size!r}.")
    kept = k if isinstance(k, Palette) else None
    if kept is not None and per_image:
        raise ValueError(
            "per_image=True fits each image on its own palette; pass a number of clusters "
            "as k, not a kept Palette."
        )
    if kept is None and per_image is False and not isinstance(k, int | np.integer):
        raise TypeError(
            f"k must be a number of clusters or a core.Palette, got {type(k).__name__}."
        )
    params = (
        None
        if kept is not None
        else _check_fit_params(k, color_space, seed, init, n_init, max_iter, tol)
    )
    items = _as_sources(sources, max_pixels)
    executor = _executor(client)
    before = executor.worker_stats() if isinstance(executor, _OnDask) else {}
    timings: dict[str, float] = {}
    infos: dict[int, _ImageInfo] = {}
    lookup: Any = None
    palette = kept
    out_dir = None if out is None else Path(out)
    if out_dir is not None:
        for sub in ("segmented", "labels", "rows"):
            (out_dir / sub).mkdir(parents=True, exist_ok=True)
    if palette is None and not per_image and items:
        assert params is not None
        t0 = time.perf_counter()
        palette = _kept_palette(out_dir, params, items) if resume else None
        if palette is None:
            palette, infos, lookup = _fit(executor, items, params, progress, with_lookup=True)
            if palette is not None:
                _check_palette_size(palette)
        timings["fit"] = time.perf_counter() - t0
    rows: dict[int, ImageResult] = {
        i: ImageResult(i, items[i].name, 0, 0, error=info.error)
        for i, info in infos.items()
        if info.error is not None
    }
    for i in rows:
        if on_row is not None:
            on_row(rows[i])
    stems = _stems(items)
    options = _Outputs(
        masks=masks,
        polygons=polygons,
        polygon_min_pixels=check_positive_int(polygon_min_pixels, "polygon_min_pixels"),
    )
    run_key = _run_key(palette, params if per_image else None, options)
    jobs = [
        _LabelJob(
            source=source,
            palette=palette,
            fit=params if per_image else None,
            out=None if out_dir is None else str(out_dir),
            stem=stem,
            outputs=options,
            run_key=run_key,
            resume=resume,
        )
        for source, stem in zip(items, stems, strict=True)
        if source.index not in rows
    ]
    if per_image or palette is not None:
        t0 = time.perf_counter()
        total = len(jobs)
        for done, (_, future) in enumerate(executor.map_completed(_label, jobs, lookup), start=1):
            row = executor.gather(future)
            rows[row.index] = row
            if on_row is not None:
                on_row(row)
            if progress is not None:
                progress("labels", done, total)
        timings["labels"] = time.perf_counter() - t0
    else:  # nothing could be read: every row is an error
        for job in jobs:
            rows[job.source.index] = ImageResult(
                job.source.index, job.source.name, 0, 0, error="not read"
            )
    traffic: dict[str, Any] = {}
    if isinstance(executor, _OnDask):
        after = executor.worker_stats()
        traffic = {
            "task_bytes": executor.task_bytes,
            "result_bytes": executor.result_bytes,
            "between_workers_bytes": sum(
                stats["sent_to_workers"] - before.get(worker, {}).get("sent_to_workers", 0)
                for worker, stats in after.items()
            ),
            "peak_rss_per_worker": {w: stats["peak_rss"] for w, stats in after.items()},
        }
    return CollectionResult(
        palette=None if per_image else palette,
        rows=tuple(rows[i] for i in sorted(rows)),
        pixel_size=None if pixel_size is None else float(pixel_size),
        elapsed=time.perf_counter() - started,
        timings=timings,
        traffic=traffic,
    )


def _run_key(palette: Palette | None, fit: _FitParams | None, options: _Outputs) -> str:
    text = json.dumps(
        {
            "palette": None if palette is None else palette.key,
            "per_image": None if fit is None else vars(fit),
            "masks": options.masks,
            **({"polygons": options.polygon_min_pixels} if options.polygons else {}),
        },
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _sources_key(params: _FitParams, items: Sequence[_Source]) -> str:
    names = [item.name if isinstance(item.data, str) else None for item in items]
    text = json.dumps({"fit": vars(params), "sources": names}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _kept_palette(out: Path | None, params: _FitParams, items: Sequence[_Source]) -> Palette | None:
    """The palette a previous run fitted with the same parameters on the same files."""
    if out is None or any(not isinstance(item.data, str) for item in items):
        return None
    try:
        record = json.loads((out / "rows" / "fit.json").read_text())
        if record.get("key") != _sources_key(params, items):
            return None
        return Palette.from_json((out / "palette.json").read_text())
    except (OSError, ValueError, KeyError):
        return None


def remember_fit(out: str | os.PathLike, palette: Palette, sources: Iterable[Any]) -> None:
    """Record that `palette` was fitted on these sources, for ``resume`` (writes files)."""
    params = _check_fit_params(**palette.params)
    items = _as_sources(sources, None)
    folder = Path(out)
    (folder / "rows").mkdir(parents=True, exist_ok=True)
    _write_atomic(folder / "palette.json", palette.to_json().encode())
    _write_atomic(
        folder / "rows" / "fit.json",
        json.dumps({"key": _sources_key(params, items)}).encode(),
    )


# --------------------------------------------------------------------------------------------
# Helpers for front ends (the dashboard's Collection page)

#: File suffixes taken from a ZIP of images.
ZIP_IMAGE_SUFFIXES: Final = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif")


def images_from_zip(data: bytes, *, name: str = "archive.zip") -> dict[str, bytes]:
    """The image files inside a ZIP, by their path in it (folders and hidden files skipped).

    Raises
    ------
    ImageError
        If `data` is not a readable ZIP or holds no image file.
    """
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = [
                info
                for info in archive.infolist()
                if not info.is_dir()
                and info.filename.lower().endswith(ZIP_IMAGE_SUFFIXES)
                and not any(part.startswith((".", "__MACOSX")) for part in info.filename.split("/"))
            ]
            files = {info.filename: archive.read(info) for info in members}
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise ImageError(
            f"'{name}' is not a ZIP file we can read ({e}). Upload the images themselves, "
            "or a ZIP made with your system's 'compress' command."
        ) from e
    if not files:
        raise ImageError(
            f"'{name}' holds no image files ({', '.join(ZIP_IMAGE_SUFFIXES)}). "
            "Put the images in the ZIP, or upload them directly."
        )
    return files


def outputs_zip(out: str | os.PathLike) -> bytes:
    """The files of a run's output folder (written by :func:`segment_collection`) as a ZIP.

    The ``rows/`` bookkeeping for `resume` is left out.
    """
    import zipfile

    folder = Path(out)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(folder)
            if path.is_file() and relative.parts[0] != "rows" and not path.name.startswith("."):
                archive.write(path, relative.as_posix())
    return buffer.getvalue()


def shares_figure(result: CollectionResult) -> Any:
    """Stacked horizontal bars: each image's share of every cluster (Plotly figure).

    One trace per cluster, coloured with the palette, one bar per readable image, in input
    order from the top.
    """
    import plotly.graph_objects as go

    rows = result.ok
    names = [Path(row.file).name for row in rows]
    n_clusters = max((len(row.counts) for row in rows), default=0)
    figure = go.Figure()
    for cluster in range(n_clusters):
        shares = [100 * row.fractions[cluster] for row in rows]
        colors = [row.hex_colors[cluster] for row in rows]
        figure.add_trace(
            go.Bar(
                x=shares,
                y=names,
                orientation="h",
                name=f"cluster {cluster}",
                marker={"color": colors, "line": {"color": "#444", "width": 0.5}},
                hovertemplate="%{y}: %{x:.1f} %<extra>cluster " + str(cluster) + "</extra>",
            )
        )
    figure.update_layout(
        barmode="stack",
        xaxis={"title": "share of the image's pixels (%)", "range": [0, 100]},
        yaxis={"autorange": "reversed", "type": "category"},
        height=120 + 28 * len(rows),
        margin={"l": 10, "r": 10, "t": 30, "b": 40},
        showlegend=False,
        title="Cluster shares per image",
    )
    return figure
