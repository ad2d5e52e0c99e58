"""Sparse colour histograms: counted per image, summed in a tree (the map and reduce steps)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from core.features.colortable import sorted_counts

if TYPE_CHECKING:
    pass
from core.collection.palette import BandMapping
from core.collection.settings import N_IDS
from core.collection.sources import ImageInfo, Source, failure_message, read_pixels

# Histograms merged per reduce task (the tree's fan-in).
FAN_IN: Final = 8
# Merges with fewer entries than this sort; larger ones use a dense 2**24 accumulator.
_DENSE_ABOVE: Final = 1 << 20


@dataclass(frozen=True)
class Histogram:
    """Sparse colour histogram of one or more images, and what was learnt about them."""

    ids: np.ndarray  # (m,) uint32, ascending
    counts: np.ndarray  # (m,) uint32 for one image, int64 after a merge
    infos: tuple[ImageInfo, ...]


def chunk_histogram(
    chunk: tuple[Source, ...], payloads: Sequence[Any] | None, mapping: BandMapping | None
) -> Histogram:
    """Map step on Dask: the summed histogram of a few images (errors are infos, as one)."""
    parts = [
        _histogram(source, None if payloads is None else payloads[i], mapping)
        for i, source in enumerate(chunk)
    ]
    return parts[0] if len(parts) == 1 else merge_histograms(*parts)


def _histogram(
    source: Source, payload: Any = None, mapping: BandMapping | None = None
) -> Histogram:
    """Map step: the sparse colour histogram of one image (an error never raises)."""
    if payload is not None:
        source = replace(source, data=payload)
    try:
        pixels = read_pixels(source, mapping, allow_empty=True)  # empty: no colour to add
    except Exception as e:
        return Histogram(
            np.empty(0, np.uint32),
            np.empty(0, np.uint32),
            (ImageInfo(source.index, 0, 0, failure_message(source, e)),),
        )
    # A sort of the pixels' colour ids: faster than a 2**24-bin histogram at camera sizes.
    ids, counts = sorted_counts(pixels.valid_ids())
    height, width = pixels.rgb.shape[:2]
    return Histogram(
        ids.astype(np.uint32),
        counts.astype(np.uint32),
        (ImageInfo(source.index, int(width), int(height)),),
    )


def merge_histograms(*parts: Histogram) -> Histogram:
    """Reduce step: the sum of sparse histograms (ids ascending, counts int64)."""
    infos = tuple(info for part in parts for info in part.infos)
    filled = [part for part in parts if part.ids.shape[0]]
    total = sum(part.ids.shape[0] for part in filled)
    if not filled:
        return Histogram(np.empty(0, np.uint32), np.empty(0, np.int64), infos)
    if total <= _DENSE_ABOVE:
        ids = np.concatenate([part.ids for part in filled])
        counts = np.concatenate([part.counts.astype(np.int64) for part in filled])
        distinct, inverse = np.unique(ids, return_inverse=True)
        summed = np.bincount(inverse.ravel(), weights=counts, minlength=distinct.shape[0])
        return Histogram(distinct.astype(np.uint32), np.rint(summed).astype(np.int64), infos)
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
    return Histogram(distinct.astype(np.uint32), summed, infos)


# Per process: one dense 2**24 uint32 accumulator (64 MiB) reused by every merge, zeroed
# where it was used. A fresh one per merge costs more than the merge itself (its pages are
# faulted in and zeroed each time).
_dense_counts: list[np.ndarray] = []
_accumulator_lock = threading.Lock()


def _accumulator(total: int) -> np.ndarray:
    """A zeroed dense counts array for a merge of `total` pixels (caller holds the lock)."""
    if total >= 1 << 32:  # more pixels than uint32 counts: a one-off int64 array
        return np.zeros(N_IDS, dtype=np.int64)
    if not _dense_counts:
        _dense_counts.append(np.zeros(N_IDS, dtype=np.uint32))
    return _dense_counts[0]
