"""The map steps of :mod:`core.results.blocks`: what one window task does, and where it runs.

Every task reads its window of the scene itself (:func:`core.inputs.raster.open_raster` with a
window), computes the features as :func:`core.inputs.raster.raster_features` does and returns
a small summary: the survey's statistics, sample candidates and histogram; a Lloyd pass's
sums and counts; or the window's labels. :class:`Runner` maps a task over the windows in this
process or on Dask, with a bounded number in flight, results as they complete.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from core.engine.kmeans_nd import partial_sums
from core.features.bands import feature_bands, raster_features
from core.inputs.display import stretch_rgb
from core.inputs.raster import LABEL_NODATA, Raster, class_areas, open_raster

if TYPE_CHECKING:
    from distributed import Client

__all__ = [
    "Labelled",
    "Partial",
    "Plan",
    "Runner",
    "Survey",
    "Window4",
    "farthest_window",
    "histogram_ids",
    "label_window",
    "lloyd_window",
    "open_runner",
    "raw_features",
    "read_window",
    "sample_keys",
    "standardize_rows",
    "survey_window",
    "window_valid",
]

# Window tasks in flight per worker (results come back as they finish; the rest wait).
_IN_FLIGHT_PER_WORKER: Final = 2

Window4 = tuple[int, int, int, int]  # (row, col, height, width) in file pixels


@dataclass(frozen=True)
class Plan:
    """The scene and the features: small, sent with every task (prior validation assumed)."""

    path: str
    width: int
    bands: tuple[int, ...]
    indices: tuple[str, ...]
    rgb: tuple[int, int, int]
    histogram_bands: tuple[int, ...] | None  # 8-bit bands of a histogram fit, else None
    seed: int
    sample_size: int


def read_window(plan: Plan, window: Window4) -> Raster:
    return open_raster(plan.path, window=window, max_pixels=window[2] * window[3], on_large="error")


def window_valid(plan: Plan, raster: Raster) -> np.ndarray:
    """The window's pixels where every band the features read holds data."""
    return raster.valid_for(feature_bands(raster, list(plan.bands), plan.indices))


def raw_features(plan: Plan, raster: Raster, valid: np.ndarray | None = None) -> np.ndarray:
    """(n, d) float32 features of the window's valid pixels (:func:`window_valid`), not
    standardised."""
    valid = window_valid(plan, raster) if valid is None else valid
    if not valid.any():
        return np.empty((0, len(plan.bands) + len(plan.indices)), dtype=np.float32)
    features, _, _ = raster_features(
        raster, bands=list(plan.bands), indices=plan.indices, standardize=False, valid=valid
    )
    return features


def standardize_rows(x: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """In place, as :func:`raster_features` does: float32 (x − mean) · scale."""
    x -= mean.astype(np.float32)
    x *= scale.astype(np.float32)
    return x


def histogram_ids(plan: Plan, raster: Raster, valid: np.ndarray | None = None) -> np.ndarray:
    """uint32 id of the valid pixels' histogram bands, 8 bits per band."""
    assert plan.histogram_bands is not None
    valid = window_valid(plan, raster) if valid is None else valid
    ids = np.zeros(int(np.count_nonzero(valid)), dtype=np.uint32)
    for j, position in enumerate(plan.histogram_bands):
        ids |= raster.data[position][valid].astype(np.uint32) << np.uint32(8 * j)
    return ids


def sample_keys(plan: Plan, window: Window4, valid: np.ndarray) -> np.ndarray:
    """SplitMix64 keys of the valid pixels of a window, from their place in the scene."""
    row, col, _, _ = window
    rows, cols = np.nonzero(valid)
    z = (rows.astype(np.uint64) + np.uint64(row)) * np.uint64(plan.width)
    z += cols.astype(np.uint64) + np.uint64(col)
    with np.errstate(over="ignore"):
        z += np.uint64(plan.seed & 0xFFFFFFFFFFFFFFFF) * np.uint64(0x9E3779B97F4A7C15)
        z ^= z >> np.uint64(30)
        z *= np.uint64(0xBF58476D1CE4E5B9)
        z ^= z >> np.uint64(27)
        z *= np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
    return z


@dataclass
class Survey:
    n: int
    sums: np.ndarray  # (d,) float64
    squares: np.ndarray  # (d,) float64
    keys: np.ndarray  # (s,) uint64, the window's smallest
    rows: np.ndarray  # (s, d) float32 raw features of those pixels
    rgb: np.ndarray  # (s, 3) float64 raw display bands of those pixels
    ids: np.ndarray | None = None  # distinct histogram ids, ascending
    id_counts: np.ndarray | None = None


def survey_window(plan: Plan, window: Window4) -> Survey:
    """Map step of the survey: statistics, sample candidates and histogram of one window."""
    raster = read_window(plan, window)
    valid = window_valid(plan, raster)
    keys = sample_keys(plan, window, valid)
    pick = np.arange(keys.shape[0])
    if keys.shape[0] > plan.sample_size:
        pick = np.sort(np.argpartition(keys, plan.sample_size - 1)[: plan.sample_size])
    rgb = np.column_stack([raster.data[p][valid][pick] for p in plan.rgb])
    ids = id_counts = None
    if plan.histogram_bands is not None:
        from core.features.colortable import sorted_counts

        all_ids = histogram_ids(plan, raster, valid)
        ids, id_counts = sorted_counts(all_ids) if all_ids.size else (all_ids, all_ids)
        # the features of a histogram fit come from the distinct values; the sample rows
        # are only for the display stretch here
        rows = np.empty((pick.shape[0], 0), dtype=np.float32)
        d = len(plan.bands) + len(plan.indices)
        sums = squares = np.zeros(d)
    else:
        x = raw_features(plan, raster, valid)
        x64 = x.astype(np.float64)
        sums, squares = x64.sum(axis=0), np.square(x64).sum(axis=0)
        del x64
        rows = x[pick]
    return Survey(
        int(keys.shape[0]),
        sums,
        squares,
        keys[pick],
        rows,
        rgb.astype(np.float64),
        ids,
        None if id_counts is None else id_counts.astype(np.int64),
    )


@dataclass
class Partial:
    sums: np.ndarray
    counts: np.ndarray
    squares: float
    inertia: float


def lloyd_window(
    plan: Plan, window: Window4, centers: np.ndarray, mean: np.ndarray, scale: np.ndarray
) -> Partial:
    """Map step of a Lloyd pass: the window's sums and counts for `centers`."""
    x = standardize_rows(raw_features(plan, read_window(plan, window)), mean, scale)
    k, d = centers.shape
    if x.shape[0] == 0:
        return Partial(np.zeros((k, d)), np.zeros(k, np.int64), 0.0, 0.0)
    _, sums, counts, inertia = partial_sums(x, centers)
    x64 = x.astype(np.float64)
    return Partial(sums, counts, float(np.einsum("ij,ij->", x64, x64)), inertia)


def farthest_window(
    plan: Plan,
    window: Window4,
    centers: np.ndarray,
    mean: np.ndarray,
    scale: np.ndarray,
    n: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The window's `n` pixels farthest from their centres: (distances, feature rows)."""
    x = standardize_rows(raw_features(plan, read_window(plan, window)), mean, scale)
    if x.shape[0] == 0:
        return np.empty(0), np.empty((0, centers.shape[1]))
    labels, _, _, _ = partial_sums(x, centers)
    far = np.square(x.astype(np.float64) - centers[labels]).sum(axis=1)
    top = np.argsort(-far, kind="stable")[:n]
    return far[top], x[top].astype(np.float64)


@dataclass
class Labelled:
    window: Window4
    labels: np.ndarray  # (h, w) uint8, LABEL_NODATA where not valid
    counts: np.ndarray  # (k,) int64
    colour_sums: np.ndarray  # (k, 3) float64: display colour sums
    areas: np.ndarray | None  # (k,) float64


def label_window(
    plan: Plan,
    window: Window4,
    model: np.ndarray,
    mean: np.ndarray,
    scale: np.ndarray,
    rank: np.ndarray,
    bounds: list[tuple[float, float]],
    row_areas: np.ndarray | None,
) -> Labelled:
    """Map step of the labelling: ranked uint8 labels of a window and its class summaries.

    `model` is the (k, d) centres, or the lookup table of histogram ids (already ranked).
    """
    raster = read_window(plan, window)
    valid = window_valid(plan, raster)
    k = rank.shape[0]
    if plan.histogram_bands is not None:
        flat = model[histogram_ids(plan, raster, valid)]
    else:
        x = standardize_rows(raw_features(plan, raster, valid), mean, scale)
        flat = np.empty(0, dtype=np.uint8)
        if x.shape[0]:
            nearest, _, _, _ = partial_sums(x, model)
            flat = rank[nearest].astype(np.uint8)
    labels = np.full(valid.shape, LABEL_NODATA, dtype=np.uint8)
    labels[valid] = flat
    counts = np.bincount(flat, minlength=k)[:k].astype(np.int64)
    display = stretch_rgb(raster, list(plan.rgb), bounds=bounds)[valid]
    colour_sums = np.column_stack(
        [np.bincount(flat, weights=display[:, c], minlength=k)[:k] for c in range(3)]
    )
    areas = None
    if row_areas is not None:
        signed = np.where(valid, labels.astype(np.int32), -1)
        areas = class_areas(signed, row_areas[window[0] : window[0] + window[2]], k)
    return Labelled(window, labels, counts, colour_sums, areas)


# --- where the passes run ----------------------------------------------------------------------


class Runner:
    """Maps a window task over the windows, here or on Dask, results as they complete."""

    def __init__(self, client: Client | None) -> None:
        self.client = client
        self.workers = 1
        if client is not None:
            self.workers = max(1, len(client.scheduler_info().get("workers", {})))

    def share(self, value: Any) -> Any:
        """A large argument every task needs: sent to each worker once."""
        if self.client is None:
            return value
        return self.client.scatter(value, broadcast=True, hash=False)

    def map(self, fn: Callable[..., Any], windows: Sequence[Window4], *args: Any) -> Iterator[Any]:
        if self.client is None:
            for window in windows:
                yield fn(args[0], window, *args[1:])
            return
        from distributed import as_completed

        pending = iter(windows)
        running = as_completed()
        for window in pending:
            running.add(self.client.submit(fn, args[0], window, *args[1:], pure=False))
            if running.count() >= _IN_FLIGHT_PER_WORKER * self.workers:
                break
        try:
            for future in running:
                result = future.result()
                future.release()
                nxt = next(pending, None)
                if nxt is not None:
                    running.add(self.client.submit(fn, args[0], nxt, *args[1:], pure=False))
                yield result
        finally:
            self.client.cancel(list(running.futures))


@contextlib.contextmanager
def open_runner(
    client: Client | str | None, n_workers: int | None, n_pixels: int, in_process_pixels: int
) -> Iterator[Runner]:
    """In process (small scene, no client), on a given client or address, or a local cluster."""
    if client is not None and not isinstance(client, str):
        if not hasattr(client, "submit") or not hasattr(client, "scatter"):
            raise TypeError(
                f"client must be a distributed.Client, a scheduler address or None, got "
                f"{type(client).__name__}."
            )
        yield Runner(client)
        return
    if client is None and n_pixels <= in_process_pixels and n_workers is None:
        yield Runner(None)
        return
    import dask
    from distributed import Client, LocalCluster

    if isinstance(client, str):
        with Client(client) as connected:
            yield Runner(connected)
        return
    settings = {
        # One thread per worker process for numba too: W workers on W cores.
        "distributed.nanny.pre-spawn-environ.NUMBA_NUM_THREADS": "1",
        "distributed.nanny.pre-spawn-environ.MALLOC_MMAP_THRESHOLD_": str(1 << 25),
    }
    with (
        dask.config.set(settings),
        LocalCluster(
            n_workers=n_workers or os.cpu_count() or 1,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as local,
    ):
        yield Runner(local)
