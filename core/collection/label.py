"""The label step: each image labelled with the palette's centres, its outputs written safely."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final, cast

import numpy as np
import numpy.typing as npt

from core.collection.palette import CollectionModel
from core.collection.results import ImageResult
from core.collection.settings import N_IDS, UNKNOWN
from core.collection.sources import Pixels, Source, as_sources, failure_message, read_pixels
from core.engine.assign import assign
from core.features.colorspaces import rgb_to_features
from core.features.colortable import ColorTable, ids_to_colors, pixel_ids, recolor
from core.formats.files import TEMP_SUFFIX, write_all
from core.outputs.export import label_png
from core.results.classmodel import ClassModel
from core.results.segmentation import Segmentation
from core.validation import (
    FitParams,
)


def check_palette_size(palette: CollectionModel) -> None:
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
    image: npt.ArrayLike | str | os.PathLike | bytes, palette: ClassModel
) -> Segmentation:
    """Deprecated: :func:`core.apply` ``(model, image)`` (same results).

    Label an image with a kept model: each pixel goes to its exact nearest centre, then to
    its class. A file is read as :func:`segment_collection` reads it: a GeoTIFF's bands
    mapped to RGB with the model's :attr:`CollectionModel.band_mapping` (so a new tile maps
    as the fit did), transparent or no-data pixels left out (label ``-1``).

    Parameters
    ----------
    image : (H, W, 3) array_like of uint8, or path, URL or bytes of an image file
    palette : ClassModel
        A colour model, e.g. from :func:`fit_collection`.

    Returns
    -------
    Segmentation
        As :func:`core.apply` gives it.

    Raises
    ------
    TypeError
        If `palette` is not a :class:`core.ClassModel`.
    ValueError, ImageError
        As :func:`core.apply`.
    """
    from core.deprecation import warn_deprecated
    from core.results.classify import apply

    warn_deprecated("core.apply_palette(image, palette)", "core.apply(model, image)")
    if not isinstance(palette, ClassModel):
        raise TypeError(
            f"palette must be a core.ClassModel, got {type(palette).__name__}; read a kept one "
            "with core.ClassModel.load('model.json')."
        )
    if not isinstance(image, str | os.PathLike | bytes):
        return cast(Segmentation, apply(palette, image))
    mapping = palette.band_mapping if isinstance(palette, CollectionModel) else None
    pixels = read_pixels(as_sources([image], None)[0], mapping)
    return cast(Segmentation, apply(palette, pixels.rgb, mask=pixels.valid))


def _apply(table: ColorTable, palette: CollectionModel, started: float) -> Segmentation:
    features = rgb_to_features(table.colors, str(palette.color_space))
    x_sq = np.einsum("ij,ij->i", features, features)
    color_labels, distances = assign(features, x_sq, np.asarray(palette.centers))
    weights = table.counts
    k = palette.k
    labels, segmented = table.paint(color_labels, palette.cluster_colors)
    counts = np.bincount(color_labels, weights=weights, minlength=k).astype(np.int64)
    shares = counts / counts.sum()
    for array in (labels, segmented, counts, shares):
        array.setflags(write=False)
    return Segmentation(
        labels=labels,
        palette=palette.cluster_colors,
        segmented=segmented,
        centers=palette.centers,
        counts=counts,
        shares=shares,
        wcss=float(weights @ distances),
        n_iter=palette.n_iter,
        converged=palette.converged,
        n_colors=table.n_colors,
        k=k,
        color_space=str(palette.color_space),
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


# --------------------------------------------------------------------------------------------
# Labelling one image (map step 2, on a worker)


@dataclass(frozen=True)
class LabelJob:
    source: Source
    palette: CollectionModel | None  # None: fit this image on its own (per_image)
    fit: FitParams | None
    out: str | None
    stem: str
    outputs: Outputs
    run_key: str  # outputs written under this key are reused by resume
    resume: bool


@dataclass(frozen=True)
class Outputs:
    """Which optional files to write per image."""

    masks: bool = False  # one black-and-white PNG per cluster
    polygons: bool = False  # GeoJSON polygons of each cluster, for georeferenced rasters
    polygon_min_pixels: int = 1  # regions smaller than this are sieved before polygons


def _sidecar(out: str, stem: str) -> Path:
    return Path(out) / "rows" / f"{stem}.json"


# The folders of an output folder that hold per-image files.
_OUTPUT_FOLDERS: Final = ("segmented", "labels", "rows", "polygons", "masks")


def remove_leftovers(out: str | os.PathLike) -> int:
    """Remove the temporary files an interrupted run left in `out` (a killed worker, a full
    disk); returns how many. Only ``.NAME....tmp`` files are touched, in `out` and its
    output folders (``masks/NAME/`` too)."""
    folder = Path(out)
    places = [folder]
    for name in _OUTPUT_FOLDERS:
        sub = folder / name
        if sub.is_dir():
            places.append(sub)
            if name == "masks":
                places.extend(p for p in sub.iterdir() if p.is_dir())
    removed = 0
    for place in places:
        for leftover in place.glob(f".*{TEMP_SUFFIX}"):
            with contextlib.suppress(OSError):
                leftover.unlink()
                removed += 1
    return removed


@dataclass(frozen=True)
class WriteFailure:
    """An image's outputs could not be written (disk full, no permission): the run stops.

    Returned by :func:`label_job` instead of raised, so that a Dask worker does not log the
    task and its arguments; :func:`core.collection.segment_collection` raises :meth:`error`.
    """

    index: int
    path: str
    errno: int | None
    strerror: str

    def error(self) -> OSError:
        return OSError(self.errno, self.strerror, self.path)


def label_job(
    job: LabelJob, payload: Any = None, lookup: np.ndarray | None = None
) -> ImageResult | WriteFailure:
    """Map step 2: read, label, write outputs; an unreadable image becomes an error row,
    an output that cannot be written a :class:`WriteFailure`."""
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
        mapping = None if job.palette is None else job.palette.band_mapping
        # A shared model lists an empty tile at zero pixels; a fit of its own needs pixels.
        pixels = read_pixels(source, mapping, allow_empty=job.palette is not None)
    except Exception as e:
        return ImageResult(source.index, source.name, 0, 0, error=failure_message(source, e))
    rgb = pixels.rgb
    if job.palette is None:
        # Per image: exactly what segment() gives for this image on its own.
        from core.results.segmentation import segment

        assert job.fit is not None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # fewer colours than k: empty
                seg = segment(rgb, **vars(job.fit), mask=pixels.valid)
        except ValueError as e:  # k above this image's pixel count
            return ImageResult(source.index, source.name, 0, 0, error=f"'{source.name}': {e}")
        labels, segmented, counts = seg.labels, seg.segmented, seg.counts
        palette_colors, hex_colors = seg.palette, seg.hex_colors
        names: tuple[str, ...] = ()
    else:
        labels, segmented, counts = _label_pixels(pixels, job.palette)
        labels, segmented, counts, pixels = _in_classes(
            job.palette, labels, segmented, counts, pixels
        )
        palette_colors, hex_colors = job.palette.class_colors, job.palette.hex_colors
        names = job.palette.class_names
    areas: tuple[float, ...] = ()
    area_basis = None
    ground = None if pixels.geo is None else pixels.geo.pixel_areas(*rgb.shape[:2])
    if ground is not None:  # on the ellipsoid, whatever the projection
        counted = _counted_labels(labels, pixels.valid)
        areas = tuple(float(a) for a in ground.class_sums(counted, len(counts))[0])
        area_basis = ground.basis
    outputs: dict[str, str] = {}
    files: dict[Path, bytes] = {}
    if job.out is not None:
        try:
            files, outputs = _write_outputs(
                Path(job.out),
                job.stem,
                labels,
                segmented,
                palette_colors,
                pixels,
                job.outputs,
                names=names or None,
            )
        except OSError as e:  # a folder that cannot be made
            return _failure(source.index, e, job.out)
    row = ImageResult(
        index=source.index,
        file=source.name,
        width=int(rgb.shape[1]),
        height=int(rgb.shape[0]),
        counts=tuple(int(c) for c in counts),
        hex_colors=tuple(hex_colors),
        names=tuple(names),
        areas_m2=areas,
        area_basis=area_basis,
        outputs=outputs,
        elapsed=time.perf_counter() - started,
    )
    if job.out is not None:
        record = {"key": job.run_key, "row": row.to_dict()}
        # The row last: its images are complete whenever it exists (and resume trusts it).
        files[_sidecar(job.out, job.stem)] = json.dumps(record).encode()
        try:
            write_all(files)
        except OSError as e:
            return _failure(source.index, e, job.out)
    return row


def _failure(index: int, error: OSError, out: str) -> WriteFailure:
    return WriteFailure(
        index, str(error.filename or out), error.errno, error.strerror or str(error)
    )


_lookups: OrderedDict[str, np.ndarray] = OrderedDict()
_lookups_lock = threading.Lock()


def _lookup(palette: CollectionModel) -> np.ndarray:
    with _lookups_lock:
        table = _lookups.get(palette.key)
        if table is None:
            table = np.full(N_IDS, UNKNOWN, dtype=np.uint8)
            _lookups[palette.key] = table
            while len(_lookups) > 2:  # 16 MiB each
                _lookups.popitem(last=False)
        return table


def _seed_lookup(palette: CollectionModel, lookup: np.ndarray) -> None:
    """Start this process's table for `palette` from the one the fit built."""
    with _lookups_lock:
        if palette.key not in _lookups:
            _lookups[palette.key] = np.array(lookup, dtype=np.uint8)  # a writable copy
            while len(_lookups) > 2:
                _lookups.popitem(last=False)


def _label_pixels(
    pixels: Pixels, palette: CollectionModel
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels (H, W), painted image (H, W, 3) and pixels per cluster (k,) of one image.

    The same nearest-centre rule as :func:`apply_palette` (the colour's features in the
    palette's space, assigned with :func:`core.engine.kmeans.assign`), through the lookup table.
    Pixels that do not count (``pixels.valid``) are labelled too, but not counted.
    """
    rgb = pixels.rgb
    if palette.k >= UNKNOWN:  # labels do not fit the uint8 table: the direct path
        seg = _apply(ColorTable.from_image(rgb), palette, 0.0)
        counts = seg.counts
        if pixels.valid is not None:
            counts = np.bincount(seg.labels[pixels.valid], minlength=palette.k).astype(np.int64)
        return seg.labels, seg.segmented, counts
    ids = pixel_ids(rgb)
    table = _lookup(palette)
    labels = table[ids]
    missing = labels == UNKNOWN
    if missing.any():
        new = np.unique(ids[missing])
        features = rgb_to_features(ids_to_colors(new), str(palette.color_space))
        nearest, _ = assign(
            features, np.einsum("ij,ij->i", features, features), np.asarray(palette.centers)
        )
        table[new] = nearest
        labels[missing] = table[ids[missing]]
    counted = labels if pixels.valid is None else labels[pixels.valid.ravel()]
    counts = np.bincount(counted, minlength=palette.k).astype(np.int64)
    labels = labels.reshape(rgb.shape[:2])
    return labels, recolor(labels, palette.cluster_colors), counts


def _in_classes(
    model: ClassModel,
    labels: np.ndarray,
    segmented: np.ndarray,
    counts: np.ndarray,
    pixels: Pixels,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, Pixels]:
    """Cluster labels, painted image and counts in `model`'s classes (as
    :meth:`core.Segmentation.relabel`): a dropped cluster's pixels no longer count."""
    if model.is_identity:
        return labels, segmented, counts, pixels
    class_of = model.class_of
    kept = class_of >= 0
    n = model.n_classes
    class_counts = np.bincount(class_of[kept], weights=counts[kept], minlength=n)
    lookup = np.append(class_of, -1).astype(np.int32)
    class_labels = lookup[labels]
    counted = class_labels >= 0
    valid = counted if pixels.valid is None else pixels.valid & counted
    painted = np.full(segmented.shape, 255, dtype=np.uint8)
    painted[counted] = model.class_colors[class_labels[counted]]
    if not valid.all() or pixels.valid is not None:
        pixels = replace(pixels, valid=valid)
    return class_labels, painted, np.rint(class_counts).astype(np.int64), pixels


def resumed_row(job: LabelJob) -> ImageResult | None:
    """The row a previous run wrote for this job with the same palette and options, when
    every output it names is still there; None otherwise. A resumed row has ``elapsed``
    0.0: nothing was done for it in this run."""
    if not job.resume or job.out is None:
        return None
    return _resumed(job)


def _resumed(job: LabelJob) -> ImageResult | None:
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
        names=row.names,
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
    pixels: Pixels,
    options: Outputs,
    *,
    names: Sequence[str] | None = None,
) -> tuple[dict[Path, bytes], dict[str, str]]:
    """The files of one image, encoded: segmented and label images, optional masks and
    polygons; ``(bytes by path, path by kind)``. Nothing is written but folders.

    A georeferenced raster gets GeoTIFFs in its CRS and transform (:mod:`core.inputs.raster`'s
    writers: uint8 labels with no-data 255 and a colour table, the segmented RGB with an
    alpha band); anything else PNGs (an indexed label PNG whose palette is the cluster
    colours). Pixels that do not count are no-data / transparent in both.
    """
    from core.formats.png import encode_png

    k = int(palette.shape[0])
    valid = pixels.valid
    outputs = {}
    written: dict[Path, bytes] = {}
    if pixels.geo is not None:
        from core.formats.geotiff import label_geotiff, rgb_geotiff

        counted = _counted_labels(labels, valid)
        files = {
            "segmented": (
                out / "segmented" / f"{stem}.tif",
                # RGBA like kseg segment's, whether or not the scene has no-data.
                rgb_geotiff(segmented, counted >= 0, pixels.geo),
            ),
            "labels": (
                out / "labels" / f"{stem}.tif",
                label_geotiff(counted, palette, pixels.geo, class_names=names),
            ),
        }
        if options.polygons:
            from core.formats.vectors import polygons_json
            from core.results.raster_cleanup import class_vectors, geojson_or_note

            vectors = class_vectors(
                counted,
                pixels.geo,
                palette=palette,
                min_pixels=options.polygon_min_pixels,
                class_names=names,
            )
            (out / "polygons").mkdir(exist_ok=True)
            files["polygons"] = (
                out / "polygons" / f"{stem}.geojson",
                polygons_json(geojson_or_note(vectors)),
            )
            files["polygons_gpkg"] = (out / "polygons" / f"{stem}.gpkg", vectors.geopackage())
        for name, (path, data) in files.items():
            written[path] = data
            outputs[name] = str(path)
    else:
        path = out / "segmented" / f"{stem}.png"
        painted = segmented
        if valid is not None:  # transparent where the pixel does not count
            painted = np.dstack([painted, np.where(valid, 255, 0).astype(np.uint8)])
        written[path] = encode_png(painted)
        outputs["segmented"] = str(path)
        path = out / "labels" / f"{stem}.png"
        written[path] = label_png(labels, palette, valid)
        outputs["labels"] = str(path)
    if options.masks:
        folder = out / "masks" / stem
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(k):
            mask = labels == i
            if valid is not None:
                mask &= valid
            written[folder / f"mask_{i:02d}.png"] = encode_png(mask.view(np.uint8) * 255)
        outputs["masks"] = str(folder)
    return written, outputs


def _counted_labels(labels: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    """(H, W) int32 labels with -1 where the pixel does not count (core's convention)."""
    counted = labels.astype(np.int32)
    if valid is not None:
        counted[~valid] = -1
    return counted


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
        from core.inputs.raster import open_raster

        return np.ascontiguousarray(np.moveaxis(open_raster(path).data[:3], 0, 2))
    from core.inputs.io import load_image

    return load_image(path)
