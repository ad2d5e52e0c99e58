"""Band mappings for rasters in a collection: one 8-bit display stretch pooled over every raster."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final

import numpy as np

if TYPE_CHECKING:
    from core.collection.executors import InProcess, OnDask
from core.collection.palette import BandMapping
from core.collection.sources import PHOTO_SUFFIXES, TIFF_MAGIC, Source, fetched_data

# The band mapping's first pass: pixels read per raster (decimated), and the pooled sample's
# size over the whole collection (each raster sends its share, at least _SAMPLE_MIN).
_SAMPLE_READ: Final = 1 << 16
_SAMPLE_POOL: Final = 1 << 18
_SAMPLE_MIN: Final = 1 << 10


@dataclass(frozen=True)
class _BandSample:
    """A seeded random sample of one raster's valid pixels in its RGB bands."""

    index: int
    dtype: str
    bands: tuple[int, int, int]
    values: np.ndarray  # (n, 3) in the raster's dtype
    weight: float  # the raster's valid pixels per sampled pixel


def _band_sample(source: Source, payload: Any, size: int, seed: int) -> _BandSample | None:
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
        data = fetched_data(replace(source, data=data))
        if isinstance(data, bytes):
            head = data[:4]
        else:
            with open(data, "rb") as file:
                head = file.read(4)
        if not head.startswith(TIFF_MAGIC):
            return None
        from core.inputs.display import default_rgb_bands
        from core.inputs.raster import is_georeferenced, open_raster

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


def band_mapping(
    executor: InProcess | OnDask, sources: Sequence[Source], seed: int | None
) -> BandMapping | None:
    """First pass over the sources that may be rasters: one mapping for the collection.

    Photos (arrays, bytes that are no TIFF, paths named .png, .jpg …) are not opened.
    Bounded: each raster is read at most ``_SAMPLE_READ`` pixels and sends at most
    ``max(_SAMPLE_POOL / n, _SAMPLE_MIN)`` sampled pixels.
    """
    candidates = [
        s
        for s in sources
        if (isinstance(s.data, str) and not s.data.lower().endswith(PHOTO_SUFFIXES))
        or (isinstance(s.data, bytes) and s.data.startswith(TIFF_MAGIC))
    ]
    if not candidates:
        return None
    size = min(_SAMPLE_READ, max(_SAMPLE_POOL // len(candidates), _SAMPLE_MIN))
    seed = 0 if seed is None else seed
    samples = executor.map_completed(_band_sample, candidates, size, seed)
    return _pooled_mapping(executor.gather(future) for _, future in samples)
