"""Multiband collections: one band model over every valid pixel of every GeoTIFF tile.

The colour collection sums 8-bit colour histograms; bands of more than 8 bits, NIR and
spectral indices have no such histogram, so a band collection is fitted by exact Lloyd over
the tiles, as :mod:`core.results.blocks` does over one scene's windows:

1. **statistics** — each tile sends the sums and sums of squares of its features (bands by
   name, then indices) and a seeded sample of its rows; the sums give *one* scaling for
   the collection (mean and standard deviation over every valid pixel of every tile);
2. **seeding** — k-means (k-means++ and restarts) on the pooled, standardised sample;
3. **Lloyd** — each iteration maps tiles → per-tile sums and counts per cluster for the
   current centres (:func:`core.engine.kmeans_nd.partial_sums`), reduces them and moves the
   centres, until they move less than `tol` (or `max_iter`); an empty cluster is moved
   onto one of the pixels farthest from their centres;
4. **final pass** — every pixel to its nearest final centre: the WCSS, the shares and the
   clusters' mean display colours; clusters numbered largest first.

The result is a :class:`core.ClassModel` of kind ``"bands"`` with the collection's scaling:
:func:`core.apply` labels every tile (or any new one) with it, so identical band values get
the same class in every tile. :func:`label_band_tiles` writes batch's layout for a model
(``labels/NAME.tif``, ``segmented/NAME.tif``, one ``areas.csv``, ``model.json``,
``errors.csv`` when some tiles failed, and ``labels.vrt``, a mosaic of the label tiles).
Tiles with no valid pixel are listed as empty (zero pixels in ``areas.csv``), not as errors.

Every step runs in this process (``client=None``) or as Dask tasks on a
``distributed.Client`` (:mod:`core.collection.executors`); both give the same model.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from core.collection.executors import InProcess, OnDask, make_executor
from core.collection.sources import Source, as_sources, output_stems
from core.results.classmodel import ClassModel, FeatureSpec

if TYPE_CHECKING:
    from distributed import Client

    from core.inputs.raster import Raster

__all__ = [
    "BandCollectionResult",
    "TileRow",
    "check_model",
    "fit_band_collection",
    "label_band_tiles",
    "segment_band_collection",
]

#: Rows of the pooled seeding sample (each tile sends its share, at least _SAMPLE_MIN).
SAMPLE_SIZE: Final = 1 << 16
_SAMPLE_MIN: Final = 256
#: What an empty tile's row says.
EMPTY_NOTE: Final = "empty: every pixel is no-data"


# --------------------------------------------------------------------------------------------
# Tasks (run in process or on a Dask worker; each reads its tile itself)


_TIFF_MAGIC: Final = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def _is_tiff(data: Any) -> bool:
    """A TIFF by its first bytes (a path that cannot be opened counts: open_raster says why)."""
    if isinstance(data, bytes | bytearray):
        return bytes(data[:4]) in _TIFF_MAGIC
    try:
        with open(data, "rb") as file:
            return file.read(4) in _TIFF_MAGIC
    except (OSError, TypeError):
        return True


def check_model(model: ClassModel, source: str | os.PathLike[str] | bytes) -> None:
    """Raise the error :func:`core.apply` would give if `model` cannot classify `source`
    (a band or index it needs missing), without classifying it; an empty tile passes.

    Raises
    ------
    ValueError
        Naming what the model needs that the input lacks (ImageError if unreadable).
    """
    from core.inputs.raster import open_raster
    from core.results.classify import apply

    if not _is_tiff(source):
        apply(model, source)
        return
    raster = open_raster(source)
    valid = np.zeros(raster.valid.shape, dtype=bool)
    valid.flat[0] = True
    from core.results.classmodel import band_features

    band_features(raster, valid=valid, spec=model.features)


def _open(source: Source, payload: Any) -> Raster:
    from core.inputs.raster import open_raster

    data = payload if payload is not None else source.data
    if source.max_pixels is None:
        return open_raster(data)
    return open_raster(data, max_pixels=source.max_pixels)


@dataclass(frozen=True)
class _Stats:
    index: int
    names: tuple[str, ...] = ()
    n: int = 0
    sums: np.ndarray | None = None  # (d,) float64
    squares: np.ndarray | None = None  # (d,) float64
    sample: np.ndarray | None = None  # (m, d) float32, unscaled
    error: str | None = None


def _stats_task(
    source: Source,
    payload: Any,
    bands: Sequence[int | str] | None,
    indices: Sequence[str],
    per_tile: int,
    seed: int,
) -> _Stats:
    """Sums, sums of squares and a seeded sample of a tile's unscaled features."""
    from core.results.classmodel import band_features

    try:
        raster = _open(source, payload)
        if not raster.valid.any():  # an empty tile: its bands still resolved, by a pixel
            valid = np.zeros(raster.valid.shape, dtype=bool)
            valid.flat[0] = True
            _, _, spec = band_features(
                raster, bands=bands, indices=indices, standardize=False, valid=valid
            )
            names = (*spec.bands, *(f"index:{i}" for i in spec.indices))
            return _Stats(source.index, names)
        x, _, spec = band_features(raster, bands=bands, indices=indices, standardize=False)
    except Exception as e:  # listed in errors.csv, the run goes on
        return _Stats(source.index, error=" ".join(str(e).split()) or type(e).__name__)
    names = (*spec.bands, *(f"index:{i}" for i in spec.indices))
    sums = np.zeros(x.shape[1])
    squares = np.zeros(x.shape[1])
    for start in range(0, x.shape[0], 1 << 20):  # float64 in bounded chunks
        chunk = x[start : start + (1 << 20)].astype(np.float64)
        sums += chunk.sum(axis=0)
        squares += np.square(chunk).sum(axis=0)
    rng = np.random.default_rng([seed, source.index])
    take = x if x.shape[0] <= per_tile else x[np.sort(rng.choice(x.shape[0], per_tile, False))]
    return _Stats(source.index, names, int(x.shape[0]), sums, squares, np.array(take))


def _features(source: Source, payload: Any, spec: FeatureSpec) -> tuple[Raster, np.ndarray]:
    from core.results.classmodel import band_features

    raster = _open(source, payload)
    x, _, _ = band_features(raster, spec=spec)
    return raster, x


def _lloyd_task(
    source: Source, payload: Any, spec: FeatureSpec, centers: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float]:
    """One Lloyd assignment of a tile: sums and counts per cluster, and its inertia."""
    from core.engine.kmeans_nd import partial_sums

    _, x = _features(source, payload, spec)
    if x.shape[0] == 0:
        return np.zeros(centers.shape), np.zeros(centers.shape[0], np.int64), 0.0
    _, sums, counts, inertia = partial_sums(x, centers)
    return sums, counts, float(inertia)


def _farthest_task(
    source: Source, payload: Any, spec: FeatureSpec, centers: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """The `n` rows of a tile farthest from their nearest centre, and their distances."""
    from core.engine.kmeans_nd import label_features

    _, x = _features(source, payload, spec)
    if x.shape[0] == 0:
        return np.empty(0), np.empty((0, centers.shape[1]))
    labels, _ = label_features(x, centers)
    distances = np.square(x.astype(np.float64) - centers[labels]).sum(axis=1)
    top = np.argsort(-distances, kind="stable")[:n]
    return distances[top], x[top].astype(np.float64)


def _final_task(
    source: Source, payload: Any, spec: FeatureSpec, centers: np.ndarray
) -> tuple[np.ndarray, float, np.ndarray]:
    """Counts per final centre, the tile's WCSS and the display colour sums per cluster."""
    from core.engine.kmeans_nd import partial_sums
    from core.inputs.display import stretch_rgb

    raster, x = _features(source, payload, spec)
    k = centers.shape[0]
    if x.shape[0] == 0:
        return np.zeros(k, np.int64), 0.0, np.zeros((k, 3))
    labels, _, counts, inertia = partial_sums(x, centers)
    display = stretch_rgb(raster)[raster.valid].astype(np.float64)  # rows as band_features
    colors = np.zeros((k, 3))
    np.add.at(colors, labels, display)
    return counts, float(inertia), colors


# --------------------------------------------------------------------------------------------
# The fit


@dataclass
class _Fit:
    model: ClassModel
    n_iter: int
    converged: bool
    errors: dict[int, str]
    empty: list[int]


def fit_band_collection(
    sources: Sequence[str | os.PathLike[str]],
    k: int,
    *,
    bands: Sequence[int | str] | None = None,
    indices: Sequence[str] = (),
    seed: int = 0,
    n_init: int = 4,
    max_iter: int = 300,
    tol: float = 1e-4,
    init: Any = None,
    sample_size: int = SAMPLE_SIZE,
    client: Client | None = None,
    max_pixels: int | None = None,
) -> ClassModel:
    """One band model over every valid pixel of every tile, fitted by exact Lloyd.

    Parameters
    ----------
    sources : sequence of path
        GeoTIFF tiles (any raster :func:`core.open_raster` reads), with the same bands.
    k : int
        Number of clusters.
    bands : sequence of int or str, optional
        Bands by name (``"red"``, ``"nir"``) or 0-based position; default every band.
    indices : sequence of str
        Spectral indices appended as features (``"ndvi"``, ``"ndwi"``).
    seed : int
        Seeds the sample and the seeding restarts: the same seed, the same model.
    n_init : int
        Seeding restarts on the pooled sample (the lowest WCSS starts Lloyd).
    max_iter : int
        Cap on Lloyd iterations over the tiles.
    tol : float
        Stop when the centres' summed squared movement is at most ``tol`` times the mean
        variance of the standardised features (scikit-learn's rule); 0: until no change.
    init : (k, d) array_like, optional
        Start Lloyd from these centres (in the standardised feature space); no seeding.
    sample_size : int
        Rows of the pooled seeding sample.
    client : distributed.Client, optional
        Run the tile tasks on this Dask cluster; default in this process.
    max_pixels : int, optional
        As :func:`core.open_raster`'s (larger tiles are read reduced).

    Returns
    -------
    ClassModel
        Kind ``"bands"``: the bands by name, the indices, the collection's mean and std per
        feature, the k centres (largest cluster first), the clusters' mean display colour,
        shares and WCSS over every valid pixel of every tile.

    Raises
    ------
    ValueError
        If no tile can be read, the tiles' bands differ, there are fewer valid pixels than
        `k`, or an argument is out of range.
    """
    fit = _fit(
        list(sources),
        k,
        bands=bands,
        indices=indices,
        seed=seed,
        n_init=n_init,
        max_iter=max_iter,
        tol=tol,
        init=init,
        sample_size=sample_size,
        executor=make_executor(client),
        max_pixels=max_pixels,
    )
    if fit.errors:
        first = min(fit.errors)
        raise ValueError(
            f"{len(fit.errors)} tile(s) could not be used; the first, "
            f"'{os.fspath(list(sources)[first])}': {fit.errors[first]}"
        )
    return fit.model


def _fit(
    sources: list[Any],
    k: int,
    *,
    bands: Sequence[int | str] | None,
    indices: Sequence[str],
    seed: int,
    n_init: int,
    max_iter: int,
    tol: float,
    init: Any,
    sample_size: int,
    executor: InProcess | OnDask,
    max_pixels: int | None,
    progress: Callable[[str, int, int], None] | None = None,
) -> _Fit:
    from core.engine.kmeans_nd import kmeans_features

    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}.")
    if not (isinstance(tol, int | float) and math.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a finite number of at least 0, got {tol!r}.")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}.")
    tiles = as_sources(sources, max_pixels)
    if not tiles:
        raise ValueError("No tiles were given: pass a list of GeoTIFF paths.")
    per_tile = max(sample_size // len(tiles), _SAMPLE_MIN)
    stats = _map(executor, _stats_task, tiles, bands, list(indices), per_tile, seed)
    errors = {s.index: s.error for s in stats if s.error is not None}
    good = [s for s in stats if s.error is None]
    if not good:
        first = min(errors)
        raise ValueError(
            f"No tile could be read; the first, '{tiles[first].name}': {errors[first]}"
        )
    names = good[0].names
    for s in good[1:]:
        if s.names != names:
            errors[s.index] = (
                f"its bands ({', '.join(s.names)}) differ from the first tile's "
                f"({', '.join(names)}); a collection needs the same bands in every tile"
            )
    good = [s for s in good if s.index not in errors]
    empty = sorted(s.index for s in good if s.n == 0)
    counted = [s for s in good if s.n > 0]
    n = sum(s.n for s in counted)
    if n < k:
        raise ValueError(
            f"The tiles hold {n} valid pixel(s) in all, fewer than k={k}; lower k "
            "(or check the tiles' no-data)."
        )
    total = sum(s.sums for s in counted if s.sums is not None)
    squares = sum(s.squares for s in counted if s.squares is not None)
    mean = np.asarray(total) / n
    std = np.sqrt(np.maximum(np.asarray(squares) / n - mean * mean, 0.0))
    n_bands = sum(1 for name in names if not name.startswith("index:"))
    spec = FeatureSpec(
        "bands",
        bands=names[:n_bands],
        indices=tuple(name.removeprefix("index:") for name in names[n_bands:]),
        mean=tuple(float(v) for v in mean),
        std=tuple(float(v) for v in std),
    )
    used = [t for t in tiles if t.index in {s.index for s in counted}]
    d = mean.shape[0]
    if init is not None:
        centers = np.array(init, dtype=np.float64)
        if centers.shape != (k, d) or not np.isfinite(centers).all():
            raise ValueError(f"init must be a finite ({k}, {d}) array, got shape {centers.shape}.")
    else:
        sample = np.concatenate([s.sample for s in counted if s.sample is not None])
        sample = _standardize(sample, spec)
        seeded = kmeans_features(
            sample, min(k, sample.shape[0]), n_init=n_init, max_iter=max_iter, tol=tol, seed=seed
        )
        centers = seeded.centers
        if centers.shape[0] < k:  # a sample of fewer rows than k: the rest start empty
            centers = np.vstack([centers, np.repeat(centers[:1], k - centers.shape[0], 0)])
    # The standardised features have variance 1 (0 for a constant feature) over every pixel.
    tol_abs = tol * float(np.mean(std > 0))
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        if progress is not None:
            progress("fit", n_iter, max_iter)
        sums, counts = np.zeros((k, d)), np.zeros(k, np.int64)
        for part_sums, part_counts, _ in _map(executor, _lloyd_task, used, spec, centers):
            sums += part_sums
            counts += part_counts
        empty_clusters = counts == 0
        if empty_clusters.any() and n_iter < max_iter:
            centers = _reseed(executor, used, spec, centers, empty_clusters)
            continue
        new = centers.copy()
        new[~empty_clusters] = sums[~empty_clusters] / counts[~empty_clusters, None]
        shift = float(np.square(new - centers).sum())
        centers = new
        if shift <= tol_abs:
            converged = True
            break
    # Final pass: every pixel to its nearest final centre.
    counts, wcss, colors = np.zeros(k, np.int64), 0.0, np.zeros((k, 3))
    for part_counts, part_wcss, part_colors in _map(executor, _final_task, used, spec, centers):
        counts += part_counts
        wcss += part_wcss
        colors += part_colors
    order = np.argsort(-counts, kind="stable")
    mean_colors = np.where(counts[:, None] > 0, colors / np.maximum(counts, 1)[:, None], 0.0)
    model = ClassModel(
        spec,
        centers[order],
        np.clip(np.rint(mean_colors[order]), 0, 255).astype(np.uint8),
        shares=counts[order] / n,
        wcss=wcss,
    )
    return _Fit(model, n_iter, converged, errors, empty)


def _standardize(x: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """Rows scaled with the same float32 steps as :func:`core.results.classmodel.band_features`."""
    x = np.array(x, dtype=np.float32)
    assert spec.mean is not None and spec.std is not None
    for j, (mean_j, std_j) in enumerate(zip(spec.mean, spec.std, strict=True)):
        column = x[:, j]
        column -= np.float32(mean_j)
        if std_j > 0:
            column *= np.float32(1.0 / std_j)
    return x


def _reseed(
    executor: InProcess | OnDask,
    tiles: Sequence[Source],
    spec: FeatureSpec,
    centers: np.ndarray,
    empty: np.ndarray,
) -> np.ndarray:
    """Move each empty centre onto one of the pixels farthest from their centres."""
    n = int(empty.sum())
    far, rows = np.empty(0), np.empty((0, centers.shape[1]))
    for distances, points in _map(executor, _farthest_task, tiles, spec, centers, n):
        far, rows = np.concatenate([far, distances]), np.concatenate([rows, points])
        top = np.argsort(-far, kind="stable")[:n]
        far, rows = far[top], rows[top]
    rows = rows[far > 0]  # a pixel on its centre would only empty another cluster
    if rows.shape[0] == 0:
        k = centers.shape[0]
        raise ValueError(
            f"k={k} is more than the distinct feature values of the tiles ({k - n} found): "
            "every pixel already sits on a centre. Lower k."
        )
    centers = centers.copy()
    centers[np.flatnonzero(empty)[: rows.shape[0]]] = rows
    return centers


def _map(
    executor: InProcess | OnDask, fn: Callable[..., Any], tiles: Sequence[Source], *shared: Any
) -> list[Any]:
    """``fn`` over the tiles, results in the tiles' order (sums then add up in one order
    whatever the executor, so in process and on Dask give the same floats)."""
    done = {
        item.index: executor.gather(future)
        for item, future in executor.map_completed(fn, tiles, *shared)
    }
    return [done[t.index] for t in tiles]


# --------------------------------------------------------------------------------------------
# Labelling and outputs


@dataclass(frozen=True)
class TileRow:
    """What labelling one tile gave.

    Attributes
    ----------
    index : int
    name : str
        The tile, as named in ``areas.csv``.
    rows : list of dict
        Its rows of ``areas.csv`` (one per class; zero pixels for an empty tile).
    error : str or None
        Why it could not be labelled (a row of ``errors.csv``).
    note : str or None
        :data:`EMPTY_NOTE` for a tile with no valid pixel.
    files : list of str
        Files written, relative to the output folder.
    geo : tuple or None
        ``(crs_wkt, transform, width, height)`` of its label GeoTIFF, when it has a CRS.
    """

    index: int
    name: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    note: str | None = None
    files: list[str] = field(default_factory=list)
    geo: tuple[str, tuple[float, ...], int, int] | None = None


@dataclass(frozen=True)
class BandCollectionResult:
    """A band collection run: the model and a row per tile.

    Attributes
    ----------
    model : ClassModel
    tiles : tuple of TileRow
    n_iter : int
        Lloyd iterations (0 for a kept model).
    converged : bool
    vrt_note : str
        Why no ``labels.vrt`` was written, or ``""``.
    """

    model: ClassModel
    tiles: tuple[TileRow, ...]
    n_iter: int = 0
    converged: bool = True
    vrt_note: str = ""

    @property
    def errors(self) -> list[TileRow]:
        return [t for t in self.tiles if t.error is not None]

    @property
    def empty(self) -> list[TileRow]:
        return [t for t in self.tiles if t.note is not None]

    @property
    def labelled(self) -> list[TileRow]:
        return [t for t in self.tiles if t.error is None and t.note is None]


def _label_task(
    source: Source,
    payload: Any,
    model: ClassModel,
    out: str,
    stem: str,
    polygons: bool,
    polygon_min_pixels: int,
    pixel_size: float | None,
) -> TileRow:
    """Classify a tile with `model` (:func:`core.apply`) and write its label GeoTIFFs."""
    from core.formats import tables
    from core.results.classify import apply

    try:
        data = payload if payload is not None else source.data
        if not _is_tiff(data):  # a photo, seen as three bands red, green, blue
            return _label_result(source, apply(model, data), out, stem, polygons,
                                 polygon_min_pixels, pixel_size)  # fmt: skip
        raster = _open(source, payload)
        if not raster.valid.any():
            rows = tables.area_rows(
                [0] * model.n_classes,
                model.hex_colors,
                names=model.class_names,
                file=source.name,
            )
            return TileRow(source.index, source.name, rows, note=EMPTY_NOTE)
        result: Any = apply(model, raster)
    except Exception as e:  # listed in errors.csv, the run goes on
        return TileRow(source.index, source.name, error=" ".join(str(e).split()) or repr(e))
    return _label_result(source, result, out, stem, polygons, polygon_min_pixels, pixel_size)


def _label_result(
    source: Source,
    result: Any,
    out: str,
    stem: str,
    polygons: bool,
    polygon_min_pixels: int,
    pixel_size: float | None,
) -> TileRow:
    """Write a tile's label GeoTIFFs (and polygons); its rows of areas.csv."""
    from core.formats.files import write_atomic
    from core.formats.vectors import polygons_json

    files = {
        f"labels/{stem}.tif": result.label_geotiff(),
        f"segmented/{stem}.tif": result.segmented_geotiff(),
    }
    if polygons and result.geo.crs is not None:
        vectors = result.class_polygons(min_pixels=polygon_min_pixels)
        files[f"polygons/{stem}.geojson"] = polygons_json(vectors.geojson())
    for name, data in files.items():  # an OSError here stops the run: the disk is the problem
        (Path(out) / name).parent.mkdir(parents=True, exist_ok=True)
        write_atomic(Path(out) / name, data)
    table = result.area_table()
    if pixel_size is not None:
        for row in table:
            row["area_m2"] = row["pixels"] * pixel_size * pixel_size
            row["area_ha"] = row["area_m2"] / 10_000
            row["area_basis"] = "pixel size"
    geo = None
    if result.geo is not None and result.geo.crs is not None:
        transform = tuple(float(v) for v in tuple(result.geo.transform)[:6])
        height, width = result.labels.shape
        geo = (str(result.geo.crs.to_wkt()), transform, int(width), int(height))
    return TileRow(
        source.index,
        source.name,
        [{"file": source.name, **row} for row in table],
        files=list(files),
        geo=geo,
    )


def label_band_tiles(
    model: ClassModel,
    sources: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    client: Client | None = None,
    polygons: bool = False,
    polygon_min_pixels: int = 1,
    pixel_size: float | None = None,
    max_pixels: int | None = None,
) -> BandCollectionResult:
    """Classify every tile with a band `model` (:func:`core.apply`) and write batch's layout.

    Writes into `out`: ``labels/NAME.tif`` and ``segmented/NAME.tif`` per tile (and
    ``polygons/NAME.geojson`` with `polygons`), one ``areas.csv`` with a ``file`` column
    (an empty tile: its classes at zero pixels), ``model.json``, ``errors.csv`` when some
    tiles failed (a stale one is removed), and ``labels.vrt``: a mosaic of the label
    GeoTIFFs when they share a CRS and pixel grid (else none, and
    :attr:`BandCollectionResult.vrt_note` says why).

    Parameters
    ----------
    model : ClassModel
        A band model (:func:`fit_band_collection`, a raster result's ``model``, or a kept
        ``model.json``); applied with its fitted scaling.
    sources : sequence of path
    out : path
        Output folder, created if missing.
    client : distributed.Client, optional
        Label on this Dask cluster (the workers write into `out`); default in this process.
    polygons : bool
        Also write each tile's classes as GeoJSON polygons.
    polygon_min_pixels : int
        Regions under this many pixels are merged into a neighbour before polygonizing.
    pixel_size : float, optional
        Metres per pixel side, for tiles without a CRS.
    max_pixels : int, optional

    Returns
    -------
    BandCollectionResult
    """
    return _label(model, list(sources), Path(out), make_executor(client), polygons=polygons,
                  polygon_min_pixels=polygon_min_pixels, pixel_size=pixel_size,
                  max_pixels=max_pixels)  # fmt: skip


def _label(
    model: ClassModel,
    sources: list[Any],
    out: Path,
    executor: InProcess | OnDask,
    *,
    polygons: bool,
    polygon_min_pixels: int,
    pixel_size: float | None,
    max_pixels: int | None,
    fit: _Fit | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> BandCollectionResult:
    from core.formats import tables
    from core.formats.files import write_atomic
    from core.formats.vrt import VrtTile, mosaic_vrt

    if model.features.kind != "bands":
        raise ValueError(
            f"label_band_tiles needs a band model, got one of {model.features.describe()}."
        )
    out.mkdir(parents=True, exist_ok=True)
    tiles = as_sources(sources, max_pixels)
    stems = dict(zip((t.index for t in tiles), output_stems(tiles), strict=True))
    skip = set() if fit is None else set(fit.errors)
    todo = [t for t in tiles if t.index not in skip]
    done: dict[int, TileRow] = {}
    if fit is not None:
        done.update({i: TileRow(i, tiles[i].name, error=e) for i, e in fit.errors.items()})
    jobs = [_TileJob(t, stems[t.index]) for t in todo]
    for job, future in executor.map_completed(
        _label_one, jobs, model, str(out), polygons, polygon_min_pixels, pixel_size
    ):
        row = executor.gather(future)
        done[job.source.index] = row
        if progress is not None:
            progress("labels", len(done), len(tiles))
    rows = tuple(done[t.index] for t in tiles)
    area_rows = [r for row in rows if row.error is None for r in row.rows]
    outputs = {
        "areas.csv": tables.areas_csv(area_rows).encode("utf-8"),
        "model.json": (model.to_json() + "\n").encode("utf-8"),
    }
    failed = [row for row in rows if row.error is not None]
    if failed:
        import csv
        import io

        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["file", "error"])
        writer.writerows([(row.name, row.error) for row in failed])
        outputs["errors.csv"] = buffer.getvalue().encode("utf-8")
    elif (out / "errors.csv").exists():
        (out / "errors.csv").unlink()  # a stale list from an earlier run would mislead
    vrt_tiles = [
        VrtTile(f"labels/{stems[row.index]}.tif", row.geo[0], row.geo[1], row.geo[2], row.geo[3])  # type: ignore[arg-type]
        for row in rows
        if row.geo is not None
    ]
    note = "no tile with a CRS was labelled"
    if vrt_tiles:
        xml, note = mosaic_vrt(vrt_tiles, palette=model.class_colors, class_names=model.class_names)
        if xml is not None:
            outputs["labels.vrt"] = xml.encode("utf-8")
    if "labels.vrt" not in outputs and (out / "labels.vrt").exists():
        (out / "labels.vrt").unlink()
    for name, data in outputs.items():
        write_atomic(out / name, data)
    return BandCollectionResult(
        model,
        rows,
        n_iter=0 if fit is None else fit.n_iter,
        converged=True if fit is None else fit.converged,
        vrt_note=note if "labels.vrt" not in outputs else "",
    )


@dataclass(frozen=True)
class _TileJob:
    """A tile to label and its output stem (a job: the executors split its payload off)."""

    source: Source
    stem: str


def _label_one(
    job: _TileJob,
    payload: Any,
    model: ClassModel,
    out: str,
    polygons: bool,
    polygon_min_pixels: int,
    pixel_size: float | None,
) -> TileRow:
    return _label_task(
        job.source, payload, model, out, job.stem, polygons, polygon_min_pixels, pixel_size
    )


def segment_band_collection(
    sources: Sequence[str | os.PathLike[str]],
    k: int,
    out: str | os.PathLike[str],
    *,
    bands: Sequence[int | str] | None = None,
    indices: Sequence[str] = (),
    seed: int = 0,
    n_init: int = 4,
    max_iter: int = 300,
    tol: float = 1e-4,
    init: Any = None,
    client: Client | None = None,
    polygons: bool = False,
    polygon_min_pixels: int = 1,
    pixel_size: float | None = None,
    max_pixels: int | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> BandCollectionResult:
    """:func:`fit_band_collection`, then :func:`label_band_tiles` with the model.

    Tiles that cannot be read (or whose bands differ from the first tile's) are left out of
    the fit and listed in ``errors.csv``; empty tiles are listed in ``areas.csv`` at zero
    pixels. Parameters as for those two functions.

    Raises
    ------
    ValueError
        If no tile can be read, or the tiles hold fewer valid pixels than `k`.
    """
    executor = make_executor(client)
    paths = list(sources)
    fit = _fit(
        paths,
        k,
        bands=bands,
        indices=indices,
        seed=seed,
        n_init=n_init,
        max_iter=max_iter,
        tol=tol,
        init=init,
        sample_size=SAMPLE_SIZE,
        executor=executor,
        max_pixels=max_pixels,
        progress=progress,
    )
    return _label(
        fit.model,
        paths,
        Path(out),
        executor,
        polygons=polygons,
        polygon_min_pixels=polygon_min_pixels,
        pixel_size=pixel_size,
        max_pixels=max_pixels,
        fit=fit,
        progress=progress,
    )
