"""``kseg batch`` and ``kseg apply``: a collection of images, one model, a table of areas.

The command-line side of :mod:`core.collection`: find the input files, start (or connect to)
a Dask cluster, run :func:`core.collection.segment_collection` with a progress bar, and write
``areas.csv``, ``model.json``, ``errors.csv`` (only when some files failed) and
``summary.json`` into the output folder. Ctrl-C writes what is done before stopping.
``kseg apply`` of one image, or of a band model, is :mod:`core.cli.classes`'s.

Exit status: 0 when at least one image was segmented (a ``kseg: warning:`` line counts the
files that failed); 2 when nothing could be read or the options are wrong.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.cli.args import add_fit_options, non_negative_int, positive_float, positive_int
from core.cli.raster import POLYGON_MIN_PIXELS

if TYPE_CHECKING:
    from distributed import Client

    from core.collection import CollectionModel, CollectionResult, ImageResult

__all__ = ["IMAGE_SUFFIXES", "add_parsers", "find_inputs"]

#: File suffixes picked up when an INPUT is a folder.
IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".jfif", ".ppm"}
)
# How long to wait for a --scheduler to answer.
CONNECT_TIMEOUT = "10s"
# An INPUT with one of these suffixes is a list of paths, one per line.
_LIST_SUFFIXES = frozenset({".txt", ".lst", ".list"})

_BATCH_EPILOG = """\
files written to OUTPUT:
  areas.csv            file, class, name, hex, pixels, share (area_m2, area_ha, area_basis
                       with --pixel-size, or from the CRS and transform of GeoTIFFs)
  model.json           the shared model; name its classes with 'kseg classes', reuse it
                       with 'kseg apply' or --palette
  errors.csv           file, error — only when some files could not be read
  summary.json         parameters, counts and timings of the run
  segmented/NAME.png   each image painted with the palette's colours
  labels/NAME.png      indexed PNG: pixel value = cluster, PNG palette = cluster colours
  masks/NAME/mask_NN.png  with --masks: one black-and-white mask per cluster
  a georeferenced GeoTIFF gets, in its CRS and transform:
  segmented/NAME.tif   the segmented RGB with an alpha band (no-data transparent)
  labels/NAME.tif      uint8 clusters, no-data 255, colour table: opens in QGIS
  polygons/NAME.geojson  with --polygons: the clusters as polygons (WGS 84)
transparent pixels and a raster's no-data are left out of the fit, counts and areas.

examples:
  kseg batch tiles/ -k 6 -o out/                    a folder, in parallel on this machine
  kseg batch 'scans/*.png' -k 4 --pixel-size 10 -o out/   areas in m² and ha
  kseg batch tiles/*.tif -k 6 --polygons -o out/    GeoTIFF tiles: areas from the CRS
  kseg batch files.txt -k 6 --scheduler tcp://head:8786 -o /shared/out/
  kseg batch photos/ -r --palette model.json -o out/ apply a kept model, no fit
  kseg batch photos/ -k 6 --resume -o out/          skip images already written
"""

_APPLY_EPILOG = """\
MODEL is any model.json kseg writes (kseg segment, kseg batch, kseg classes, the
dashboard) or a palette.json of an earlier kseg. One image gives kseg segment's files in
OUTPUT (labels, segmented, areas.csv, model.json, recipe.json); several give kseg batch's
(labels/, segmented/, one areas.csv with a file column, model.json). A model of a
GeoTIFF's bands and indices is applied with its own fitted scaling.

examples:
  kseg apply out/model.json new.jpg -o new_out/
  kseg apply named.json scene2.tif -o scene2/
  kseg apply out/model.json new/*.jpg -o new_out/
"""


class _Usage(ValueError):
    """A wrong option or input list: exit 2 with one line."""


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``batch`` and ``apply``: where to run, what to write."""
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        metavar="OUTPUT",
        help="output folder, created if missing",
    )
    parser.add_argument(
        "-r", "--recursive", action="store_true", help="look for images in sub-folders too"
    )
    parser.add_argument(
        "--pixel-size",
        type=positive_float,
        default=None,
        metavar="METRES",
        help="side of one pixel on the ground; adds area_m2 and area_ha to areas.csv "
        "(georeferenced GeoTIFFs need none: their areas come from the CRS and transform)",
    )
    parser.add_argument(
        "--masks", action="store_true", help="also write one mask PNG per cluster and image"
    )
    parser.add_argument(
        "--polygons",
        action="store_true",
        help="also write each georeferenced GeoTIFF's clusters as GeoJSON polygons "
        f"(regions under {POLYGON_MIN_PIXELS} pixels merged into a neighbour first)",
    )
    parser.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="run on an existing Dask cluster (e.g. tcp://head:8786); the workers read the "
        "files and write OUTPUT themselves, so both must be paths they can reach",
    )
    parser.add_argument(
        "--workers",
        type=non_negative_int,
        default=None,
        metavar="N",
        help="worker processes of the local cluster (default: one per CPU; 0: run in this "
        "process, no cluster)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="skip images whose outputs exist for the same palette and options",
    )
    parser.add_argument(
        "--max-pixels",
        type=positive_int,
        default=None,
        metavar="N",
        help="refuse images with more than N pixels (default: 100 million)",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bar or summary line"
    )


def add_parsers(commands: Any) -> None:
    """Register ``batch`` and ``apply`` on the ``kseg`` subparsers (see core.cli)."""
    batch = commands.add_parser(
        "batch",
        help="segment a collection of images with one shared palette",
        description="Fit one k-means palette on every pixel of every INPUT image (exactly:\n"
        "the images' colour histograms are summed), label each image with it and write\n"
        "a table of areas per image and cluster. Runs on a local Dask cluster, or on an\n"
        "existing one with --scheduler.",
        epilog=_BATCH_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    batch.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="image files, folders, glob patterns (quoted) or .txt files listing paths",
    )
    batch.add_argument("-k", type=positive_int, default=None, help="number of clusters")
    add_fit_options(batch)
    batch.add_argument(
        "--palette",
        type=Path,
        default=None,
        metavar="PALETTE_JSON",
        help="apply this kept model.json (or palette.json) instead of fitting one (no -k needed)",
    )
    batch.add_argument(
        "--per-image",
        action="store_true",
        help="fit each image on its own palette (for comparison; classes then differ)",
    )
    _add_run_options(batch)
    batch.set_defaults(run=run_batch)

    apply = commands.add_parser(
        "apply",
        help="classify images with a kept model.json",
        description="Classify every IMAGE with a kept MODEL (a model.json written by kseg):\n"
        "each pixel goes to its nearest fitted centre, then to that centre's class; no refit.",
        epilog=_APPLY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    apply.add_argument("palette", type=Path, metavar="MODEL", help="the kept model.json")
    apply.add_argument(
        "inputs",
        nargs="+",
        metavar="IMAGE",
        help="image files, folders, glob patterns (quoted) or .txt files listing paths",
    )
    _add_run_options(apply)
    apply.set_defaults(run=run_apply, per_image=False, k=None)


def find_inputs(inputs: Sequence[str], *, recursive: bool = False) -> list[str]:
    """Expand INPUT arguments into image paths, in order, without duplicates.

    A folder gives its image files (by suffix, sorted; sub-folders with `recursive`); a glob
    pattern its sorted matches; a ``.txt`` file the paths it lists, one per line (relative
    ones from the list's folder; ``#`` starts a comment); anything else is taken as a path
    as is (a missing file then becomes an error row, not a stop).

    Raises
    ------
    ValueError
        If a glob matches nothing or a folder holds no image.
    """
    found: list[str] = []
    for text in inputs:
        path = Path(text)
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            files = sorted(
                p for p in path.glob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
            )
            if not files:
                hint = "" if recursive else " (add -r to look in sub-folders)"
                raise _Usage(f"The folder '{text}' holds no image files{hint}.")
            found.extend(str(p) for p in files)
        elif path.is_file() and path.suffix.lower() in _LIST_SUFFIXES:
            for line in path.read_text(encoding="utf-8").splitlines():
                entry = line.split("#", 1)[0].strip()
                if entry:
                    listed = Path(entry)
                    if "://" not in entry and not listed.is_absolute():
                        listed = path.parent / listed
                    found.append(entry if "://" in entry else str(listed))
        elif glob.has_magic(text) and not path.exists():
            matches = sorted(glob.glob(text, recursive=recursive))
            if not matches:
                raise _Usage(f"No file matches '{text}'. Check the pattern.")
            found.extend(
                m for m in matches if Path(m).is_file() and Path(m).suffix.lower() in IMAGE_SUFFIXES
            )
        else:
            found.append(text)
    seen: set[str] = set()
    unique = []
    for item in found:
        key = item if "://" in item else os.path.abspath(item)
        if key not in seen:
            seen.add(key)
            unique.append(item)
    if not unique:
        raise _Usage("No input images were given. Name files, folders or a list of paths.")
    return unique


@contextlib.contextmanager
def _cluster(args: argparse.Namespace, n_images: int) -> Iterator[Client | None]:
    """The Dask client to run on: --scheduler, a LocalCluster, or None (in process)."""
    if args.scheduler is not None:
        from distributed import Client

        try:
            client = Client(args.scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as e:
            raise _Usage(
                f"Could not connect to the Dask scheduler at {args.scheduler} ({e}). "
                "Check the address (tcp://HOST:8786) and that 'dask scheduler' is running."
            ) from e
        with client:
            yield client
        return
    workers = args.workers if args.workers is not None else (os.cpu_count() or 1)
    if workers == 0 or n_images <= 1:
        yield None
        return
    from core.collection import local_client

    with local_client(min(workers, n_images)) as client:
        yield client


class _Progress:
    """A tqdm bar per stage (images/s and ETA), silent with --quiet or without a terminal."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bars: dict[str, Any] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.quiet:
            return
        bar = self.bars.get(stage)
        if bar is None:
            from tqdm import tqdm

            self.close()  # the previous stage is over

            label = "histograms" if stage == "histograms" else "labelling "
            bar = tqdm(total=total, desc=label, unit="img", file=sys.stderr, leave=True)
            self.bars[stage] = bar
        bar.update(done - bar.n)

    def close(self) -> None:
        for bar in self.bars.values():
            if not bar.disable:
                bar.close()


def run_batch(args: argparse.Namespace) -> None:
    """``kseg batch``: validate options, run the collection, write the tables."""

    kept: CollectionModel | None = None
    if args.palette is not None:
        if args.k is not None or args.per_image:
            raise _Usage("--palette applies a kept model: leave out -k and --per-image.")
        kept = _read_palette(args.palette)
    elif args.k is None:
        raise _Usage("Give the number of clusters with -k (or a kept palette with --palette).")
    _run(args, kept)


def run_apply(args: argparse.Namespace) -> None:
    """``kseg apply MODEL IMAGE...``: classify images with a kept model.

    One image: :func:`core.cli.classes.apply_one` (segment's layout). A band model on
    several inputs: :func:`core.cli.classes.apply_each`. A colour model on several inputs
    (or on a GeoTIFF): the collection run (batch's layout, Dask, resume).
    """
    from core.cli import classes
    from core.collection import CollectionModel
    from core.inputs.raster import is_georeferenced

    model = classes.read_model(args.palette)  # before anything is written
    files = find_inputs(args.inputs, recursive=args.recursive)
    single = len(args.inputs) == 1 and len(files) == 1 and Path(files[0]).is_file()
    if single and (model.features.kind != "color" or not is_georeferenced(files[0])):
        classes.apply_one(model, files[0], args.output, model_path=args.palette, quiet=args.quiet)
    elif model.features.kind != "color":
        classes.apply_each(
            model,
            files,
            args.output,
            pixel_size=args.pixel_size,
            polygons=args.polygons,
            quiet=args.quiet,
        )
    else:
        _run(args, CollectionModel.from_model(model))


def _read_palette(path: Path) -> CollectionModel:
    from core.cli.classes import read_model
    from core.collection import CollectionModel

    model = read_model(path)
    if model.features.kind != "color":
        raise _Usage(
            f"'{path}' is a model of {model.features.describe()}, not colours: apply it with "
            f"'kseg apply {path} INPUT... -o OUTPUT'."
        )
    return CollectionModel.from_model(model)


def _run(args: argparse.Namespace, kept: CollectionModel | None) -> None:
    from core.collection import (
        areas_csv,
        errors_csv,
        remember_fit,
        segment_collection,
    )

    if getattr(args, "tol", 0.0) < 0:
        raise _Usage(f"--tol must be 0 or more, got {args.tol}.")
    started = time.perf_counter()
    files = find_inputs(args.inputs, recursive=args.recursive)
    out: Path = args.output
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _Usage(f"Could not create the output folder '{out}' ({e.strerror}).") from None
    done: dict[int, ImageResult] = {}
    progress = _Progress(args.quiet)
    result: CollectionResult | None = None
    fit_options = {}
    if kept is None:
        fit_options = {
            "color_space": args.color_space,
            "seed": args.seed,
            "init": args.init,
            "n_init": args.n_init,
            "max_iter": args.max_iter,
            "tol": args.tol,
        }
    try:
        with _cluster(args, len(files)) as client:
            started_run = time.perf_counter()
            with warnings.catch_warnings():
                # distributed's own chatter (e.g. a busy port) is not the user's business.
                warnings.filterwarnings("ignore", module="distributed")
                result = segment_collection(
                    files,
                    kept if kept is not None else args.k,
                    per_image=args.per_image,
                    out=out,
                    masks=args.masks,
                    polygons=args.polygons,
                    polygon_min_pixels=POLYGON_MIN_PIXELS,
                    pixel_size=args.pixel_size,
                    max_pixels=args.max_pixels,
                    resume=args.resume,
                    client=client,
                    progress=progress,
                    on_row=lambda row: done.__setitem__(row.index, row),
                    **fit_options,
                )
            run_seconds = time.perf_counter() - started_run
            n_workers = 0 if client is None else len(client.scheduler_info()["workers"])
    except ImportError as e:  # raised on a worker that lacks kseg (or one of its modules)
        raise _Usage(
            f"A Dask worker could not import {e.name or 'a module'} ({e}). Install kseg on "
            "every worker (pip install kseg, same version) and start the workers again."
        ) from None
    except Exception as e:
        if type(e).__name__ != "KilledWorker":
            raise
        raise _Usage(
            "Dask gave up on a task after it killed several workers in a row (usually a worker "
            f"running out of memory): {e}. Give the workers more memory or fewer threads."
        ) from None
    finally:
        progress.close()
        if result is None and done:  # interrupted: keep what is finished
            rows = [done[i] for i in sorted(done)]
            (out / "areas.csv").write_text(areas_csv(rows, args.pixel_size), encoding="utf-8")
            failed = [row for row in rows if not row.ok]
            if failed:
                (out / "errors.csv").write_text(errors_csv(failed), encoding="utf-8")
            _write_summary(out, args, files, rows, None, {}, time.perf_counter() - started, 0, True)
    ok = result.ok
    failed_rows = result.errors
    (out / "areas.csv").write_text(result.areas_csv(), encoding="utf-8")
    errors_path = out / "errors.csv"
    if failed_rows:
        errors_path.write_text(result.errors_csv(), encoding="utf-8")
    elif errors_path.exists():
        errors_path.unlink()  # a stale list from an earlier run would mislead
    if result.palette is not None:
        if kept is None:
            remember_fit(out, result.palette, files)
        else:
            (out / "model.json").write_text(result.palette.to_json() + "\n", encoding="utf-8")
    elapsed = time.perf_counter() - started
    _write_summary(
        out,
        args,
        files,
        result.rows,
        result,
        result.timings,
        elapsed,
        n_workers,
        False,
        run_seconds=run_seconds,
    )
    if not ok:
        first = failed_rows[0].error if failed_rows else "no image"
        raise _Usage(
            f"None of the {len(files)} input file(s) could be read; see {errors_path}. "
            f"First error: {first}"
        )
    megapixels = sum(row.n_pixels for row in ok) / 1e6
    if not args.quiet:
        rate = megapixels / run_seconds if run_seconds > 0 else float("inf")
        where = "in process" if n_workers == 0 else f"on {n_workers} worker(s)"
        print(
            f"segmented {len(ok)} image(s), {megapixels:.1f} MP in {elapsed:.1f} s "
            f"({rate:.1f} MP/s {where}); wrote {out / 'areas.csv'}"
        )
    if failed_rows:
        warnings.warn(
            f"{len(failed_rows)} of {len(files)} file(s) could not be read; "
            f"they are listed in {errors_path}.",
            UserWarning,
            stacklevel=2,
        )


def _write_summary(
    out: Path,
    args: argparse.Namespace,
    files: Sequence[str],
    rows: Sequence[ImageResult],
    result: CollectionResult | None,
    timings: dict[str, float],
    elapsed: float,
    n_workers: int,
    interrupted: bool,
    *,
    run_seconds: float | None = None,
) -> None:
    ok = [row for row in rows if row.ok]
    pixels = sum(row.n_pixels for row in ok)
    palette = None if result is None else result.palette
    summary = {
        "command": args.command,
        "inputs": len(files),
        "segmented": len(ok),
        "failed": sum(1 for row in rows if not row.ok),
        "interrupted": interrupted,
        "megapixels": round(pixels / 1e6, 3),
        "per_image": bool(args.per_image),
        "palette": None
        if palette is None
        else {
            **palette.params,
            "hex": palette.hex_colors,
            "names": list(palette.class_names),
            "wcss": palette.wcss,
            "n_colors": palette.n_colors,
            "n_iter": palette.n_iter,
        },
        "pixel_size_m": args.pixel_size,
        "scheduler": args.scheduler,
        "workers": n_workers,
        "timings_s": {
            **{name: round(value, 3) for name, value in timings.items()},
            "total": round(elapsed, 3),
        },
        "megapixels_per_s": round(pixels / 1e6 / run_seconds, 2) if run_seconds else None,
        "traffic": {} if result is None else result.traffic,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
