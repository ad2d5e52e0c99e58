"""The whole run: fit then label, on Dask or in process, resumable from what is on disk."""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.validation import (
    DEFAULT_COLOR_SPACE,
    DEFAULT_N_INIT,
    ColorSpace,
    Init,
    check_positive_int,
)

if TYPE_CHECKING:
    from distributed import Client

from core.collection.executors import OnDask, make_executor
from core.collection.fit import fit_palette
from core.collection.label import (
    LabelJob,
    Outputs,
    WriteFailure,
    check_palette_size,
    label_job,
    remove_leftovers,
    resumed_row,
)
from core.collection.palette import CollectionModel
from core.collection.results import CollectionResult, ImageResult
from core.collection.settings import Progress, check_fit_params
from core.collection.sources import ImageInfo, Source, as_sources, output_stems
from core.formats.files import write_atomic
from core.results.classmodel import ClassModel
from core.validation import FitParams


def segment_collection(
    sources: Iterable[Any] | Mapping[str, Any],
    k: int | ClassModel,
    *,
    color_space: ColorSpace = DEFAULT_COLOR_SPACE,
    seed: int | None = 0,
    init: Init = "k-means++",
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

    Fits a :class:`CollectionModel` on the whole collection (:func:`fit_collection`), or
    uses the colour :class:`core.ClassModel` given (in its classes), then labels each image
    with it. An image that cannot be read becomes an error row with its
    :class:`ImageError` message; it never stops the run.

    Parameters
    ----------
    sources : iterable of path, URL, bytes or (H, W, 3) array of uint8, or mapping
        As for :func:`fit_collection`.
    k : int or ClassModel
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
        traced (:func:`core.inputs.raster.sieve_labels`); the label files keep every pixel.
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
        options, without reading them again (their rows have ``elapsed`` 0.0). Temporary
        files an interrupted run left in `out` are removed in any case.
    client : distributed.Client, optional
        Run on this Dask cluster. Default: in this process.
    progress : callable, optional
        ``progress(stage, done, total)`` after every image of each stage: "histograms",
        then "fit" (``0, 1`` when the last histogram is in, ``1, 1`` when the palette is
        fitted), then "labels".
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
    OSError
        If an output cannot be written (disk full, no permission); its ``filename`` is the
        file. No file is left half-written under its final name, nor a temporary file by
        the image that failed; a run with `resume` then picks up where this one stopped.
    """
    started = time.perf_counter()
    if pixel_size is not None and (
        isinstance(pixel_size, bool)
        or not isinstance(pixel_size, int | float)
        or not (math.isfinite(pixel_size) and pixel_size > 0)
    ):
        raise ValueError(f"pixel_size must be a positive number of metres, got {pixel_size!r}.")
    kept = CollectionModel.from_model(k) if isinstance(k, ClassModel) else None
    if kept is not None and per_image:
        raise ValueError(
            "per_image=True fits each image on its own palette; pass a number of clusters "
            "as k, not a kept model."
        )
    if kept is None and per_image is False and not isinstance(k, int | np.integer):
        raise TypeError(
            f"k must be a number of clusters or a core.ClassModel, got {type(k).__name__}."
        )
    params = (
        None
        if kept is not None
        else check_fit_params(k, color_space, seed, init, n_init, max_iter, tol)
    )
    items = as_sources(sources, max_pixels)
    executor = make_executor(client)
    before = executor.worker_stats() if isinstance(executor, OnDask) else {}
    timings: dict[str, float] = {}
    infos: dict[int, ImageInfo] = {}
    lookup: Any = None
    palette = kept
    out_dir = None if out is None else Path(out)
    if out_dir is not None:
        for sub in ("segmented", "labels", "rows"):
            (out_dir / sub).mkdir(parents=True, exist_ok=True)
        remove_leftovers(out_dir)
    if palette is None and not per_image and items:
        assert params is not None
        t0 = time.perf_counter()
        palette = _kept_palette(out_dir, params, items) if resume else None
        if palette is None:
            palette, infos, lookup = fit_palette(
                executor, items, params, _with_fit_stage(progress), with_lookup=True
            )
            if progress is not None and palette is not None:
                progress("fit", 1, 1)
            if (
                palette is not None
                and out_dir is not None
                and all(isinstance(item.data, str) for item in items)
            ):
                # Kept now, so that a run stopped while labelling (killed, disk full)
                # resumes with this very palette instead of fitting again.
                _remember(out_dir, palette, params, items)
            if palette is not None:
                check_palette_size(palette)
        timings["fit"] = time.perf_counter() - t0
    rows: dict[int, ImageResult] = {
        i: ImageResult(i, items[i].name, 0, 0, error=info.error)
        for i, info in infos.items()
        if info.error is not None
    }
    for i in rows:
        if on_row is not None:
            on_row(rows[i])
    stems = output_stems(items)
    options = Outputs(
        masks=masks,
        polygons=polygons,
        polygon_min_pixels=check_positive_int(polygon_min_pixels, "polygon_min_pixels"),
    )
    run_key = _run_key(palette, params if per_image else None, options)
    planned = [
        LabelJob(
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
    jobs = []
    for job in planned:  # resumed here, so that skipped images cost the cluster nothing
        kept_row = resumed_row(job) if palette is not None or per_image else None
        if kept_row is None:
            jobs.append(replace(job, resume=False))
        else:
            rows[kept_row.index] = kept_row
            if on_row is not None:
                on_row(kept_row)
    if per_image or palette is not None:
        t0 = time.perf_counter()
        total = len(jobs)
        for done, (_, future) in enumerate(
            executor.map_completed(label_job, jobs, lookup), start=1
        ):
            row = executor.gather(future)
            if isinstance(row, WriteFailure):  # disk full: stop (the rest is cancelled)
                raise row.error()
            rows[row.index] = row
            if on_row is not None:
                on_row(row)
            if progress is not None:
                progress("labels", done, total)
        timings["labels"] = time.perf_counter() - t0
    else:  # nothing could be read: every row is an error
        for job in planned:
            rows[job.source.index] = ImageResult(
                job.source.index, job.source.name, 0, 0, error="not read"
            )
    traffic: dict[str, Any] = {}
    if isinstance(executor, OnDask):
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


def _with_fit_stage(progress: Progress | None) -> Progress | None:
    """`progress`, told ``("fit", 0, 1)`` once the last histogram is in."""
    if progress is None:
        return None

    def report(stage: str, done: int, total: int) -> None:
        progress(stage, done, total)
        if stage == "histograms" and done == total:
            progress("fit", 0, 1)

    return report


def _run_key(palette: CollectionModel | None, fit: FitParams | None, options: Outputs) -> str:
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


def _sources_key(params: FitParams, items: Sequence[Source]) -> str:
    names = [item.name if isinstance(item.data, str) else None for item in items]
    text = json.dumps({"fit": vars(params), "sources": names}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _kept_palette(
    out: Path | None, params: FitParams, items: Sequence[Source]
) -> CollectionModel | None:
    """The palette a previous run fitted with the same parameters on the same files."""
    if out is None or any(not isinstance(item.data, str) for item in items):
        return None
    try:
        record = json.loads((out / "rows" / "fit.json").read_text())
        if record.get("key") != _sources_key(params, items):
            return None
        kept = out / "model.json"
        if not kept.exists():  # written before 0.2.0
            kept = out / "palette.json"
        return CollectionModel.from_json(kept.read_text())
    except (OSError, ValueError, KeyError):
        return None


def remember_fit(out: str | os.PathLike, palette: CollectionModel, sources: Iterable[Any]) -> None:
    """Record that `palette` was fitted on these sources, for ``resume``: writes
    ``model.json`` and ``rows/fit.json``."""
    _remember(Path(out), palette, check_fit_params(**palette.params), as_sources(sources, None))


def _remember(
    folder: Path, palette: CollectionModel, params: FitParams, items: Sequence[Source]
) -> None:
    """model.json and rows/fit.json: the model, and the key of what it was fitted on."""
    (folder / "rows").mkdir(parents=True, exist_ok=True)
    write_atomic(folder / "model.json", (palette.to_json() + "\n").encode())
    write_atomic(
        folder / "rows" / "fit.json",
        json.dumps({"key": _sources_key(params, items)}).encode(),
    )
