"""Full-resolution k-means of a raster on disk, window by window, in bounded memory.

A scene of any size the disk holds is clustered and labelled at full resolution without ever
being in memory whole. It is read in windows made of the file's own blocks (grouped up to
about `window_pixels` pixels each), each window's features computed exactly as
:func:`core.inputs.raster.raster_features` computes them, and only small summaries travel:

1. **Survey** (one pass). Per window: the count, sum and sum of squares of every feature
   (for the standardisation), and the documented sample below; when every band the features
   need is 8-bit and there are at most three of them, the window's histogram of distinct
   band values instead.
2. **Fit.**

   * *Exact histogram fit* (8-bit, ≤ 3 bands): the windows' histograms are summed into the
     scene's, and weighted k-means (:func:`core.engine.kmeans.kmeans`, `n_init` restarts)
     runs on its distinct values: the same k-means as on every valid pixel, since equal
     pixels are equal feature vectors.
   * *Sample, then exact Lloyd over the blocks* (otherwise): k-means++ and `n_init`
     restarts on the sample, then Lloyd's iterations on every valid pixel, each pass a map
     over the windows (per window: the sums and counts of its pixels for the current
     centres, :func:`core.engine.kmeans_nd.partial_sums`) and a sum. The result is exact
     Lloyd on all pixels from the sample's centres, with the stopping rule of
     :func:`core.engine.kmeans_nd.kmeans_features`.

3. **Label** (one pass): every valid pixel gets its nearest centre (through a lookup table
   of the distinct values in the histogram fit); classes are numbered by size, largest
   first; each labelled window goes to a `sink` (e.g. a GeoTIFF writer) as it is done.

**The sample** is the `sample_size` valid pixels with the smallest keys, where a pixel's key
is the SplitMix64 hash of ``seed`` and its position ``row × width + col`` in the scene: a
uniform sample without replacement, the same whatever the windows or the order in which
they finish.

The passes run in this process for small scenes and on Dask otherwise: a given
``distributed.Client`` (or a scheduler's address), else a local cluster of worker processes.
Memory per process is bounded by the window size (about 60 bytes per pixel of a window plus
the sample), not by the scene.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt

from core.engine.kmeans import kmeans
from core.engine.kmeans_nd import DEFAULT_SAMPLE_SIZE
from core.errors import ImageError
from core.features.bands import raster_features
from core.inputs.display import band_positions, default_rgb_bands
from core.inputs.raster import INDICES, LABEL_NODATA, GeoReference, Raster, open_raster
from core.results.block_tasks import (
    Partial,
    Plan,
    Runner,
    Survey,
    Window4,
    farthest_window,
    label_window,
    lloyd_window,
    open_runner,
    standardize_rows,
    survey_window,
)

if TYPE_CHECKING:
    from distributed import Client

__all__ = [
    "DEFAULT_WINDOW_PIXELS",
    "IN_PROCESS_PIXELS",
    "BlockSegmentation",
    "scene_info",
    "scene_windows",
    "segment_blocks",
]

#: Pixels per window task (about 250 MB of working memory for 4 bands and NDVI).
DEFAULT_WINDOW_PIXELS: Final = 1 << 22
#: Scenes up to this many pixels run in this process when no client is given.
IN_PROCESS_PIXELS: Final = 1 << 24
# Bands a histogram fit can combine into one 24-bit id.
_HISTOGRAM_BANDS: Final = 3

Sink = Callable[[Window4, np.ndarray], None]


@dataclass(frozen=True, eq=False)
class BlockSegmentation:
    """The result of a block-wise segmentation: the model and the summaries, not the pixels.

    Classes are numbered by size, largest first, as in :func:`core.segment_raster`.

    Attributes
    ----------
    path : Path
        The scene.
    shape : (int, int)
        Height and width of the scene (every pixel labelled).
    k : int
    centers : (k, d) ndarray of float64
        Class centres in feature space (standardised unless ``standardize=False``): the
        means of the classes' pixels.
    feature_names : tuple of str
    mean, scale : (d,) ndarray of float64
        The standardisation: a feature row ``x`` is clustered as ``(x − mean) · scale``.
    palette : (k, 3) ndarray of uint8
        Mean display colour (2–98 % stretch of the RGB bands) of each class.
    counts : (k,) ndarray of int64
    shares : (k,) ndarray of float64
    areas_m2 : (k,) ndarray of float64, or None
        Ground area per class (None without a CRS).
    wcss : float
        WCSS of the labels in feature space, over every valid pixel.
    n_iter : int
        Lloyd passes over the scene (over the distinct values for a histogram fit).
    converged : bool
    method : {"histogram", "sample+lloyd"}
        How the model was fitted (see the module's notes).
    n_valid : int
        Valid (clustered) pixels.
    n_windows : int
        Windows each pass read.
    sample_pixels : int
        Pixels in the sample (seeding and display stretch).
    geo : GeoReference
    files : tuple of Path
        Files written (filled in by :func:`core.outputs.geotiff_blocks.segment_raster_blocks`).
    params : dict
    elapsed : float
        Seconds.
    """

    path: Path
    shape: tuple[int, int]
    k: int
    centers: np.ndarray
    feature_names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    palette: np.ndarray
    counts: np.ndarray
    shares: np.ndarray
    areas_m2: np.ndarray | None
    wcss: float
    n_iter: int
    converged: bool
    method: str
    n_valid: int
    n_windows: int
    sample_pixels: int
    geo: GeoReference
    files: tuple[Path, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    elapsed: float = 0.0

    @property
    def hex_colors(self) -> list[str]:
        """Palette as ``#rrggbb`` strings."""
        return ["#{:02x}{:02x}{:02x}".format(*map(int, c)) for c in self.palette]

    def area_table(self) -> list[dict[str, Any]]:
        """One row per class: class, color, pixels, share, area_m2, area_ha."""
        rows = []
        for i in range(self.k):
            area = None if self.areas_m2 is None else float(self.areas_m2[i])
            rows.append(
                {
                    "class": i,
                    "color": self.hex_colors[i],
                    "pixels": int(self.counts[i]),
                    "share": float(self.shares[i]),
                    "area_m2": area,
                    "area_ha": None if area is None else area / 10_000,
                }
            )
        return rows


# --- windows ---------------------------------------------------------------------------------


def scene_windows(
    height: int, width: int, block_shape: tuple[int, int], window_pixels: int
) -> list[Window4]:
    """Windows of whole blocks covering a scene, each of at most about `window_pixels`.

    Parameters
    ----------
    height, width : int
        The scene.
    block_shape : (int, int)
        The file's block (rows, columns), e.g. ``(512, 512)`` tiles or ``(16, width)`` strips.
    window_pixels : int
        Target pixels per window; a window holds at least one block.

    Returns
    -------
    list of (row, col, height, width)
        Row-major, edges clipped to the scene.

    Examples
    --------
    >>> scene_windows(300, 260, (64, 64), 64 * 128)[:3]
    [(0, 0, 64, 128), (0, 128, 64, 128), (0, 256, 64, 4)]
    """
    block_h, block_w = max(1, min(block_shape[0], height)), max(1, min(block_shape[1], width))
    n_blocks = max(1, window_pixels // (block_h * block_w))
    across = min(math.ceil(width / block_w), n_blocks)
    down = max(1, n_blocks // across)
    win_h, win_w = down * block_h, across * block_w
    return [
        (row, col, min(win_h, height - row), min(win_w, width - col))
        for row in range(0, height, win_h)
        for col in range(0, width, win_w)
    ]


# --- what every window task needs --------------------------------------------------------------


# --- the driver -----------------------------------------------------------------------------------


def scene_info(
    path: str | os.PathLike[str],
) -> tuple[tuple[int, int], tuple[int, int], GeoReference]:
    """Shape, block shape and georeference of a scene, once its first and last blocks read.

    Raises
    ------
    ImageError
        If the file is missing, not a raster, truncated or damaged.
    """
    first, shape, block = _check_readable(Path(path))
    return shape, block, first.geo


def _check_readable(path: Path) -> tuple[Raster, tuple[int, int], tuple[int, int]]:
    """Open the scene: read its first and last blocks (refuses truncated files now)."""
    import rasterio
    import rasterio.errors

    label = f"'{path.name}'"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            src = rasterio.open(path)
        with src:
            height, width = int(src.height), int(src.width)
            block_h, block_w = (int(v) for v in src.block_shapes[0])
    except (rasterio.errors.RasterioError, OSError) as e:
        # open_raster says what is wrong in the words of the rest of kseg
        open_raster(path, window=(0, 0, 1, 1))
        raise ImageError(f"{label} could not be opened as a raster.") from e
    last_row = (height - 1) // block_h * block_h
    last_col = (width - 1) // block_w * block_w
    first = open_raster(
        path, window=(0, 0, min(block_h, height), min(block_w, width)), on_large="error"
    )
    open_raster(
        path,
        window=(last_row, last_col, height - last_row, width - last_col),
        on_large="error",
    )
    return first, (height, width), (block_h, block_w)


def _histogram_bands(
    first: Raster, bands: list[int], indices: Sequence[str]
) -> tuple[int, ...] | None:
    needed = set(bands)
    for key in indices:
        needed.update(band_positions(first, list(INDICES[key])))
    if first.dtype != "uint8" or len(needed) > _HISTOGRAM_BANDS:
        return None
    return tuple(sorted(needed))


def segment_blocks(
    path: str | os.PathLike[str],
    k: int,
    *,
    sink: Sink | None = None,
    bands: Sequence[int | str] | None = None,
    indices: Sequence[str] = (),
    rgb: Sequence[int | str] | None = None,
    standardize: bool = True,
    seed: int = 0,
    n_init: int = 10,
    max_iter: int = 300,
    tol: float = 1e-4,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
    fit: str = "auto",
    init: npt.ArrayLike | None = None,
    client: Client | str | None = None,
    n_workers: int | None = None,
    window_pixels: int = DEFAULT_WINDOW_PIXELS,
    tile: int | None = None,
) -> BlockSegmentation:
    """Cluster every valid pixel of a raster file at full resolution, window by window.

    Parameters
    ----------
    path : str or path-like
        A GeoTIFF / COG (any raster GDAL reads) on disk.
    k : int
        Number of classes, 1 … 255.
    sink : callable, optional
        Called as ``sink((row, col, height, width), labels)`` for every window, with
        (height, width) uint8 labels (255 = no-data), in the order windows finish.
    bands, indices, rgb, standardize
        As in :func:`core.segment_raster`.
    seed : int
        Seeds the sample (see the module's notes) and the restarts.
    n_init, max_iter, tol
        Restarts on the sample (or the histogram), and Lloyd's cap and tolerance
        (scikit-learn's relative convention, on the sample's mean feature variance;
        ``tol=0`` iterates to a fixed point).
    sample_size : int
        Pixels in the sample.
    fit : {"auto", "histogram", "lloyd"}
        ``"auto"``: the exact histogram fit where the bands allow (8-bit, ≤ 3 bands),
        else the sample and exact Lloyd passes over the blocks.
    init : (k, d) array_like, optional
        Start Lloyd on every pixel from these centres (in feature space) instead of the
        sample's fit.
    client : distributed.Client or str, optional
        Where the passes run (a client, or a scheduler's address such as
        ``"tcp://10.0.0.5:8786"``); default: in this process for scenes up to
        :data:`IN_PROCESS_PIXELS`, else a local cluster of `n_workers` processes.
    n_workers : int, optional
        Workers of the local cluster (default: the CPUs); given, a local cluster is used
        whatever the scene's size.
    window_pixels : int
        Pixels per window (whole blocks of the file; at least one block).
    tile : int, optional
        The tile side of an output written through `sink`: when the file's blocks are not
        ``tile × tile`` tiles, windows are made of such tiles instead, so that every output
        tile is written once, whole.

    Returns
    -------
    BlockSegmentation

    Raises
    ------
    ImageError
        If the file is missing, not a raster, truncated or damaged (its first and last
        blocks are read before anything else), or no pixel is valid.
    ValueError
        If an argument is out of range, a band or index does not exist, or `k` exceeds
        the valid pixels.

    Warns
    -----
    UserWarning
        When the features have fewer distinct values than `k`: the fit stops as soon as
        that is certain and `k` is lowered to their number (:attr:`BlockSegmentation.k`);
        no class is ever empty.
    """
    started = time.perf_counter()
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= 255:
        raise ValueError(f"k must be an integer from 1 to 255 for a raster, got {k!r}.")
    for name, value in (
        ("n_init", n_init),
        ("max_iter", max_iter),
        ("sample_size", sample_size),
        ("window_pixels", window_pixels),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a non-negative number, got {tol!r}.")
    if fit not in ("auto", "histogram", "lloyd"):
        raise ValueError(f"fit must be 'auto', 'histogram' or 'lloyd', got {fit!r}.")
    k = int(k)
    path = Path(path)
    first, (height, width), block = _check_readable(path)
    positions = band_positions(first, bands)
    keys = [str(i).lower() for i in indices]
    for key in keys:
        if key not in INDICES:
            raise ValueError(f"Unknown index {key!r}; choose one of {', '.join(INDICES)}.")
        band_positions(first, list(INDICES[key]))  # the index's bands exist
    if not positions and not keys:
        raise ValueError("Choose at least one band or index.")
    display = band_positions(first, rgb) if rgb is not None else list(default_rgb_bands(first))
    if len(display) != 3:
        raise ValueError(f"rgb must name three bands, got {len(display)}.")
    histogram_bands = _histogram_bands(first, positions, keys)
    if fit == "histogram" and histogram_bands is None:
        raise ValueError(
            "fit='histogram' needs 8-bit bands, at most three of them (those clustered and "
            "those the indices use); use fit='auto'."
        )
    if fit == "lloyd" or init is not None:
        histogram_bands = None
    plan = Plan(
        str(path),
        width,
        tuple(positions),
        tuple(keys),
        (display[0], display[1], display[2]),
        histogram_bands,
        int(seed),
        int(sample_size),
    )
    names = tuple(first.band_names[p] for p in positions) + tuple(key.upper() for key in keys)
    if tile is not None and block != (tile, tile):
        block = (tile, tile)
    windows = scene_windows(height, width, block, window_pixels)
    geo = GeoReference(first.geo.crs, first.geo.transform)
    row_areas = geo.row_areas(height)

    with open_runner(client, n_workers, height * width, IN_PROCESS_PIXELS) as runner:
        survey = _survey(runner, plan, windows)
        n_valid = survey.n
        if n_valid == 0:
            raise ImageError(
                f"Every pixel of '{path.name}' is no-data: there is nothing to cluster. "
                "Check the no-data value (gdalinfo)."
            )
        if k > n_valid:
            raise ValueError(f"k={k} is more than the valid pixels ({n_valid}); lower k.")
        bounds = _stretch_bounds(survey.rgb)
        if histogram_bands is not None:
            model = _histogram_fit(plan, first, survey, k, standardize, seed, n_init, max_iter, tol)
        else:
            model = _lloyd_fit(
                runner, plan, windows, survey, k, standardize, seed, n_init, max_iter, tol, init
            )
        if model.rank.shape[0] < k:
            fewer = model.rank.shape[0]
            if model.few_values:
                why = (
                    f"The features of '{path.name}' have only {fewer} distinct value(s), "
                    f"fewer than k={k}: {k - fewer} class(es) would be empty"
                )
            else:
                why = f"{k - fewer} of the k={k} classes were still empty after {max_iter} passes"
            warnings.warn(f"{why}, so k was lowered to {fewer}.", UserWarning, stacklevel=2)
            k = fewer
        counts = np.zeros(k, np.int64)
        colour_sums = np.zeros((k, 3))
        areas = None if row_areas is None else np.zeros(k)
        shared = runner.share(model.lookup if model.lookup is not None else model.label_centers)
        for part in runner.map(
            label_window,
            windows,
            plan,
            shared,
            model.mean,
            model.scale,
            model.rank,
            bounds,
            row_areas,
        ):
            counts += part.counts
            colour_sums += part.colour_sums
            if areas is not None and part.areas is not None:
                areas += part.areas
            if sink is not None:
                sink(part.window, part.labels)
    palette = np.zeros((k, 3), dtype=np.uint8)
    filled = counts > 0
    palette[filled] = np.rint(colour_sums[filled] / counts[filled, None]).astype(np.uint8)
    params = {
        "k": k,
        "bands": None if bands is None else list(bands),
        "indices": list(indices),
        "standardize": standardize,
        "seed": seed,
        "n_init": n_init,
        "max_iter": max_iter,
        "tol": tol,
        "sample_size": sample_size,
        "window_pixels": window_pixels,
    }
    return BlockSegmentation(
        path=path,
        shape=(height, width),
        k=k,
        centers=model.centers,
        feature_names=names,
        mean=model.mean,
        scale=model.scale,
        palette=palette,
        counts=counts,
        shares=counts / counts.sum(),
        areas_m2=areas,
        wcss=model.wcss,
        n_iter=model.n_iter,
        converged=model.converged,
        method="histogram" if histogram_bands is not None else "sample+lloyd",
        n_valid=n_valid,
        n_windows=len(windows),
        sample_pixels=int(survey.keys.shape[0]),
        geo=geo,
        params=params,
        elapsed=time.perf_counter() - started,
    )


def _survey(runner: Runner, plan: Plan, windows: Sequence[Window4]) -> Survey:
    """The reduce step of the survey: totals, the scene's sample, the summed histogram."""
    d = len(plan.bands) + len(plan.indices)
    total = Survey(
        0,
        np.zeros(d),
        np.zeros(d),
        np.empty(0, np.uint64),
        np.empty((0, 0 if plan.histogram_bands else d), np.float32),
        np.empty((0, 3)),
    )
    dense = None
    if plan.histogram_bands is not None:
        dense = np.zeros(1 << (8 * len(plan.histogram_bands)), dtype=np.int64)
    for part in runner.map(survey_window, windows, plan):
        total.n += part.n
        total.sums += part.sums
        total.squares += part.squares
        keys = np.concatenate([total.keys, part.keys])
        rows = np.concatenate([total.rows, part.rows])
        rgb = np.concatenate([total.rgb, part.rgb])
        if keys.shape[0] > plan.sample_size:
            keep = np.argpartition(keys, plan.sample_size - 1)[: plan.sample_size]
            keys, rows, rgb = keys[keep], rows[keep], rgb[keep]
        total.keys, total.rows, total.rgb = keys, rows, rgb
        if dense is not None and part.ids is not None and part.id_counts is not None:
            dense[part.ids] += part.id_counts
    order = np.argsort(total.keys, kind="stable")  # the sample in key order: deterministic
    total.keys, total.rows, total.rgb = total.keys[order], total.rows[order], total.rgb[order]
    if dense is not None:
        total.ids = np.flatnonzero(dense).astype(np.uint32)
        total.id_counts = dense[total.ids]
    return total


def _stretch_bounds(rgb: np.ndarray) -> list[tuple[float, float]]:
    """The 2–98 % display stretch of the sample's RGB bands (as :func:`stretch_rgb`)."""
    if rgb.shape[0] == 0:
        return [(0.0, 1.0)] * 3
    low, high = np.percentile(rgb, [2.0, 98.0], axis=0)
    return [(float(a), float(b)) for a, b in zip(low, high, strict=True)]


@dataclass
class _Model:
    centers: np.ndarray  # reported: means of the final classes, ranked
    label_centers: np.ndarray  # what the labels are assigned to (unranked)
    lookup: np.ndarray | None  # histogram fit: ranked label per id
    rank: np.ndarray  # (k,) class index → rank
    mean: np.ndarray
    scale: np.ndarray
    wcss: float
    n_iter: int
    converged: bool
    few_values: bool = False  # clusters dropped: fewer distinct feature values than k


def _scaling(
    n: float, sums: np.ndarray, squares: np.ndarray, standardize: bool
) -> tuple[np.ndarray, np.ndarray]:
    d = sums.shape[0]
    if not standardize:
        return np.zeros(d), np.ones(d)
    mean = sums / n
    std = np.sqrt(np.maximum(squares / n - mean * mean, 0.0))
    scale = np.ones(d)
    scale[std > 0] = 1.0 / std[std > 0]
    return mean, scale


def _ranking(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(-counts, kind="stable")
    rank = np.empty(counts.shape[0], dtype=np.int32)
    rank[order] = np.arange(counts.shape[0], dtype=np.int32)
    return order, rank


def _histogram_fit(
    plan: Plan,
    first: Raster,
    survey: Survey,
    k: int,
    standardize: bool,
    seed: int,
    n_init: int,
    max_iter: int,
    tol: float,
) -> _Model:
    """Weighted k-means on the scene's distinct values: exact on every valid pixel."""
    assert plan.histogram_bands is not None and survey.ids is not None
    assert survey.id_counts is not None
    ids, weights = survey.ids, survey.id_counts
    asked, k = k, min(k, ids.shape[0])  # fewer distinct values than k: segment_blocks warns
    # The distinct values as a one-row raster: the features come out exactly as per pixel.
    data = np.zeros((first.n_bands, 1, ids.shape[0]), dtype=np.uint8)
    for j, position in enumerate(plan.histogram_bands):
        data[position, 0] = (ids >> np.uint32(8 * j)) & np.uint32(0xFF)
    distinct = Raster(
        data,
        np.ones((1, ids.shape[0]), dtype=bool),
        first.geo,
        None,
        first.band_names,
        "uint8",
    )
    x, _, _ = raster_features(
        distinct, bands=list(plan.bands), indices=plan.indices, standardize=False
    )
    del data, distinct
    w = weights.astype(np.float64)
    x64 = x.astype(np.float64)
    mean, scale = _scaling(float(w.sum()), w @ x64, w @ np.square(x64), standardize)
    points = standardize_rows(x, mean, scale).astype(np.float64)
    result = kmeans(
        points, k, sample_weight=w, n_init=n_init, max_iter=max_iter, tol=tol, seed=seed
    )
    counts = np.bincount(result.labels, weights=w, minlength=k)
    centers, labels, counts = _without_empty(result.centers, result.labels, counts)
    order, rank = _ranking(counts)
    lookup = np.full(1 << (8 * len(plan.histogram_bands)), LABEL_NODATA, dtype=np.uint8)
    lookup[ids] = rank[labels]
    return _Model(
        centers=centers[order],
        label_centers=centers,
        lookup=lookup,
        rank=rank,
        mean=mean,
        scale=scale,
        wcss=float(result.wcss),
        n_iter=result.n_iter,
        converged=result.converged,
        # the weighted k-means leaves a cluster empty only when the values run out
        few_values=centers.shape[0] < asked,
    )


def _without_empty(
    centers: np.ndarray, labels: np.ndarray, counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centres, labels (renumbered) and counts of the clusters that hold pixels."""
    filled = counts > 0
    if filled.all():
        return centers, labels, counts
    renumber = (np.cumsum(filled) - 1).astype(np.int32)
    return centers[filled], renumber[labels], counts[filled]


def _lloyd_fit(
    runner: Runner,
    plan: Plan,
    windows: Sequence[Window4],
    survey: Survey,
    k: int,
    standardize: bool,
    seed: int,
    n_init: int,
    max_iter: int,
    tol: float,
    init: npt.ArrayLike | None,
) -> _Model:
    """Seeds and restarts on the sample, then exact Lloyd passes over the windows."""
    mean, scale = _scaling(float(survey.n), survey.sums, survey.squares, standardize)
    sample = standardize_rows(survey.rows.copy(), mean, scale).astype(np.float64)
    d = sample.shape[1]
    if init is not None:
        centers = np.array(init, dtype=np.float64)
        if centers.shape != (k, d) or not np.isfinite(centers).all():
            raise ValueError(f"init must be a finite ({k}, {d}) array, got shape {centers.shape}.")
    else:
        rng = np.random.default_rng(seed)
        seeded = kmeans(
            sample,
            min(k, sample.shape[0]),
            n_init=n_init,
            max_iter=max_iter,
            tol=tol,
            seed=int(rng.integers(2**31)),
        )
        centers = seeded.centers
        if centers.shape[0] < k:  # fewer sample pixels than k: the rest start empty
            centers = np.vstack([centers, np.repeat(centers[:1], k - centers.shape[0], 0)])
    tol_abs = float(np.mean(sample.var(axis=0)) * tol) if tol and sample.shape[0] else 0.0
    converged = few_values = False
    n_iter = 0
    total = Partial(np.zeros((k, d)), np.zeros(k, np.int64), 0.0, 0.0)
    for n_iter in range(1, max_iter + 1):
        total = Partial(np.zeros((k, d)), np.zeros(k, np.int64), 0.0, 0.0)
        for part in runner.map(lloyd_window, windows, plan, centers, mean, scale):
            total.sums += part.sums
            total.counts += part.counts
            total.squares += part.squares
            total.inertia += part.inertia
        empty = total.counts == 0
        if empty.any() and n_iter < max_iter:
            reseeded = _reseed(runner, plan, windows, centers, mean, scale, empty)
            if reseeded is None:  # every pixel on its centre: fewer distinct values than k
                converged = few_values = True
                break
            centers = reseeded
            continue
        new = centers.copy()
        new[~empty] = total.sums[~empty] / total.counts[~empty, None]
        shift = float(np.square(new - centers).sum())
        if shift <= tol_abs:
            converged = True
            break
        if n_iter == max_iter:
            break
        centers = new
    filled = total.counts > 0
    means = centers.copy()
    means[filled] = total.sums[filled] / total.counts[filled, None]
    between = float((total.sums[filled] ** 2).sum(axis=1) @ (1.0 / total.counts[filled]))
    # An empty centre is nobody's nearest: labelling without it changes no label.
    centers, means, counts = centers[filled], means[filled], total.counts[filled]
    order, rank = _ranking(counts)
    return _Model(
        centers=means[order],
        label_centers=centers,
        lookup=None,
        rank=rank,
        mean=mean,
        scale=scale,
        wcss=max(total.squares - between, 0.0),
        n_iter=n_iter,
        converged=converged,
        few_values=few_values,
    )


def _reseed(
    runner: Runner,
    plan: Plan,
    windows: Sequence[Window4],
    centers: np.ndarray,
    mean: np.ndarray,
    scale: np.ndarray,
    empty: np.ndarray,
) -> np.ndarray | None:
    """Move each empty centre onto one of the pixels farthest from their centres; None
    when every pixel sits on its centre (the scene has fewer distinct values than k)."""
    n = int(empty.sum())
    far = np.empty(0)
    rows = np.empty((0, centers.shape[1]))
    for distances, points in runner.map(farthest_window, windows, plan, centers, mean, scale, n):
        far, rows = np.concatenate([far, distances]), np.concatenate([rows, points])
        top = np.argsort(-far, kind="stable")[:n]
        far, rows = far[top], rows[top]
    if not (far > 0).any():
        return None
    rows = rows[far > 0]
    centers = centers.copy()
    centers[np.flatnonzero(empty)[: rows.shape[0]]] = rows
    return centers
