"""The fit step: exact weighted k-means on the summed histogram, and applying a kept palette."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from core.engine.assign import assign
from core.engine.engines import fit_colors
from core.errors import ImageError
from core.features.colorspaces import rgb_to_features
from core.features.colortable import ColorTable, ids_to_colors
from core.results.classmodel import FeatureSpec
from core.validation import (
    DEFAULT_COLOR_SPACE,
    DEFAULT_N_INIT,
    ColorSpace,
    Init,
)

if TYPE_CHECKING:
    from distributed import Client

from core.collection.bands import band_mapping
from core.collection.executors import InProcess, OnDask, make_executor
from core.collection.histograms import FAN_IN, Histogram, chunk_histogram, merge_histograms
from core.collection.label import check_palette_size
from core.collection.palette import BandMapping, CollectionModel
from core.collection.settings import N_IDS, UNKNOWN, Progress, check_fit_params
from core.collection.sources import ImageInfo, Source, as_sources
from core.validation import FitParams


def _palette_from_histogram(total: Histogram, params: FitParams) -> CollectionModel:
    """Fit step: exact weighted k-means on the summed histogram (prior validation assumed)."""
    return _fit_histogram(total, params, with_lookup=False)[0]


def _fit_with_lookup(
    total: Histogram, params: FitParams
) -> tuple[CollectionModel, np.ndarray | None]:
    """Fit step, plus the colour id -> cluster table of every colour of the collection."""
    return _fit_histogram(total, params, with_lookup=True)


def _item(pair: tuple[Any, ...], i: int) -> Any:
    return pair[i]


def _fit_histogram(
    total: Histogram, params: FitParams, *, with_lookup: bool
) -> tuple[CollectionModel, np.ndarray | None]:
    if total.ids.shape[0] == 0:  # every image read is empty (all transparent or no-data)
        raise ImageError(
            "No pixel of any image counts: every one is transparent or no-data, so there is "
            "nothing to fit. Check the files (or their no-data value)."
        )
    ids = total.ids.astype(np.int64)
    colors = ids_to_colors(ids)
    counts = total.counts.astype(np.int64)
    # fit_colors needs the ids and counts only; the "image" is the colours themselves.
    table = ColorTable(image=colors.reshape(-1, 1, 3), ids=ids, colors=colors, counts=counts)
    assert params.k is not None  # a collection's settings name their k
    k = params.k
    features = rgb_to_features(colors, params.color_space)
    fit = fit_colors(features, table, k, params)
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
    palette = CollectionModel(
        features=FeatureSpec("color", params.color_space),
        centers=np.asarray(fit.centers, dtype=np.float64)[order],
        cluster_colors=means,
        counts=cluster_counts,
        shares=cluster_counts / n_pixels,
        wcss=float(fit.wcss),
        n_iter=int(fit.n_iter),
        converged=bool(fit.converged),
        n_colors=int(ids.shape[0]),
        n_images=sum(1 for info in total.infos if info.error is None),
        n_pixels=n_pixels,
        **{key: value for key, value in vars(params).items() if key not in ("k", "color_space")},
    )
    lookup = None
    if with_lookup and k < UNKNOWN:
        # Every colour of the collection, labelled once with the rule apply_palette uses,
        # so the label step converts no colour again.
        nearest, _ = assign(
            features, np.einsum("ij,ij->i", features, features), np.asarray(palette.centers)
        )
        lookup = np.full(N_IDS, UNKNOWN, dtype=np.uint8)
        lookup[ids] = nearest
    return palette, lookup


def warm_up(params: FitParams) -> None:
    """Load the fit's compiled kernels in this process (numba and its registries), then
    run the fit's code path once on a tiny histogram (its first NumPy and BLAS calls)."""
    from core.accel import compiled as _accel

    _accel.compile_kernels()
    ids = np.arange(0, 1 << 24, 1 << 16, dtype=np.uint32)
    tiny = Histogram(ids, np.ones(ids.shape[0], np.int64), ())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        k = min(params.k or 1, ids.shape[0])
        _fit_histogram(tiny, replace(params, k=k), with_lookup=False)


def fit_palette(
    executor: InProcess | OnDask,
    sources: Sequence[Source],
    params: FitParams,
    progress: Progress | None,
    *,
    with_lookup: bool = False,
) -> tuple[CollectionModel | None, dict[int, ImageInfo], Any]:
    """Histograms (map), a streaming tree of merges (reduce), one fit; infos per image,
    and (a future of) the colour -> cluster table when asked."""
    worker = executor.fit_worker(functools.partial(warm_up, params))
    mapping = band_mapping(executor, sources, params.seed)
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
    executor: InProcess | OnDask,
    sources: Sequence[Source],
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
    for chunk, future in executor.map_completed(chunk_histogram, chunks, mapping):
        done += len(chunk)
        if progress is not None:
            progress("histograms", done, len(sources))
        _push(executor, levels, 0, future)
    remaining = [f for level in levels for f in level]
    while len(remaining) > 1:
        remaining = [
            executor.submit(merge_histograms, *remaining[i : i + FAN_IN], worker=worker)
            for i in range(0, len(remaining), FAN_IN)
        ]
    return remaining[0] if remaining else None


def _infos_of(total: Histogram) -> tuple[ImageInfo, ...]:
    return total.infos


def _push(executor: InProcess | OnDask, levels: list[list[Any]], level: int, item: Any) -> None:
    """Add a histogram to the reduction tree, merging a level once it holds FAN_IN parts."""
    while len(levels) <= level:
        levels.append([])
    levels[level].append(item)
    if len(levels[level]) == FAN_IN:
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
    items = as_sources(sources, max_pixels)
    executor = make_executor(client)
    total_future = _summed_histogram(executor, items, band_mapping(executor, items, 0))
    if total_future is None:
        return np.empty((0, 3), np.uint8), np.empty(0, np.int64)
    total = executor.gather(total_future)
    return ids_to_colors(total.ids), total.counts.astype(np.int64)


def fit_collection(
    sources: Iterable[Any] | Mapping[str, Any],
    k: int,
    *,
    color_space: ColorSpace = DEFAULT_COLOR_SPACE,
    seed: int | None = 0,
    init: Init = "k-means++",
    n_init: int = DEFAULT_N_INIT,
    max_iter: int = 300,
    tol: float = 1e-4,
    max_pixels: int | None = None,
    errors: Literal["raise", "skip"] = "raise",
    client: Client | None = None,
    progress: Progress | None = None,
) -> CollectionModel:
    """Fit one k-means model on every pixel of every image of a collection, exactly.

    The images' colour histograms are summed and k-means runs on the distinct colours of
    the collection weighted by their counts — the same as k-means on all pixels at once.
    GeoTIFFs are clustered on colours that mean the same in every tile
    (:func:`raster_rgb`): 8-bit ones as they are, deeper ones (uint16, int16, float) through
    one :class:`BandMapping` measured on a bounded sample of the whole collection first, and
    kept in :attr:`CollectionModel.band_mapping`.

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
    CollectionModel
        A :class:`core.ClassModel` (colour features) with the fit's ``wcss``, ``shares``,
        ``counts`` and record; name, merge and drop its clusters with
        :meth:`~core.ClassModel.with_classes`, apply it with :func:`core.apply` or
        :func:`segment_collection`.

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
    params = check_fit_params(k, color_space, seed, init, n_init, max_iter, tol)
    if errors not in ("raise", "skip"):
        raise ValueError(f"errors must be 'raise' or 'skip', got {errors!r}.")
    items = as_sources(sources, max_pixels)
    if not items:
        raise ValueError("sources is empty; pass at least one image.")
    executor = make_executor(client)
    palette, infos, _ = fit_palette(executor, items, params, progress)
    failed = [info for info in infos.values() if info.error is not None]
    if failed and (errors == "raise" or palette is None):
        first = min(failed, key=lambda info: info.index)
        more = ""
        if len(failed) > 1:
            more = f" ({len(failed) - 1} more images could not be read either.)"
        raise ImageError(f"{first.error}{more}")
    assert palette is not None
    check_palette_size(palette)
    return palette
