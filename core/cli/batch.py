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
from typing import TYPE_CHECKING, Any, Final

from core.cli.args import (
    add_fit_options,
    band_list,
    non_negative_int,
    positive_float,
    positive_float_seconds,
    positive_int,
)
from core.cli.raster import POLYGON_MIN_PIXELS
from core.cli.scheduler import DEFAULT_CONNECT_TIMEOUT, connect_scheduler, first_line
from core.validation import LIMITS

if TYPE_CHECKING:
    from distributed import Client

    from core.collection import CollectionModel, CollectionResult, ImageResult
    from core.results.classmodel import ClassModel

__all__ = ["IMAGE_SUFFIXES", "add_parsers", "find_inputs"]

#: File suffixes picked up when an INPUT is a folder.
IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".jfif", ".ppm"}
)
#: Seconds to wait for a --scheduler to answer (each of: the probe, the client's connection);
#: --connect-timeout changes it.
CONNECT_TIMEOUT = DEFAULT_CONNECT_TIMEOUT
#: Without --workers or --scheduler, a local Dask cluster is started only for jobs of at
#: least this many megapixels (summed over the images still to do, read from the files'
#: headers). A cluster costs a start-up S (spawning W workers, importing kseg and loading the
#: compiled kernels in each) and saves at most (1 - 1/W) of the in-process time, so it pays
#: from S / ((1 - 1/W) * seconds per MP). Measured on this 2-core machine (shared, load 8):
#: 36 x 1 MP JPEGs took 10.6 s in process and 28-44 s on the default cluster; 144 MP took
#: 22-31 s in process and 60 s on the cluster (the issue's quieter figures, 2.5 s vs 4.4 s
#: for 36 MP, put S near 3 s and the break-even near 135 MP). 250 MP keeps ordinary jobs in
#: process; --workers N starts a cluster whatever the size.
LOCAL_CLUSTER_MIN_MEGAPIXELS: Final = 250
# Optional packages behind each kind of URL input, and the extra that installs them.
_URL_EXTRAS: Final = {
    "http": "cloud",
    "https": "cloud",
    "s3": "cloud",
    "s3a": "cloud",
    "gs": "cloud",
    "gcs": "cloud",
}
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
  with --bands/--indices (GeoTIFF tiles; one band model, the same scaling for all):
  labels/NAME.tif, segmented/NAME.tif, areas.csv, model.json, errors.csv as above, and
  labels.vrt           a mosaic of the label tiles (tiles sharing a CRS and pixel grid)
  a tile with no valid pixel is listed in areas.csv at 0 pixels, not in errors.csv.
transparent pixels and a raster's no-data are left out of the fit, counts and areas.

examples:
  kseg batch tiles/ -k 6 -o out/                    a folder, in parallel on this machine
  kseg batch 'scans/*.png' -k 4 --pixel-size 10 -o out/   areas in m² and ha
  kseg batch tiles/*.tif -k 6 --polygons -o out/    GeoTIFF tiles: areas from the CRS
  kseg batch tiles/ --bands red,nir --indices ndvi -k 6 -o out/   bands, NIR and NDVI
  kseg batch files.txt -k 6 --scheduler tcp://head:8786 -o /shared/out/
  kseg batch photos/ -r --palette model.json -o out/ apply a kept model, no fit
  kseg batch photos/ -k 6 --resume -o out/          skip images already written
"""

_APPLY_EPILOG = """\
MODEL is any model.json kseg writes (kseg segment, kseg batch, kseg classes, the
dashboard) or a palette.json of an earlier kseg. One image gives kseg segment's files in
OUTPUT (labels, segmented, areas.csv, model.json, recipe.json); several give kseg batch's
(labels/, segmented/, one areas.csv with a file column, model.json). A model of a
GeoTIFF's bands and indices is applied with its own fitted scaling, never a tile's own
statistics; several tiles also get labels.vrt, a mosaic of their label GeoTIFFs.

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
        "--connect-timeout",
        type=positive_float_seconds,
        default=None,
        metavar="SECONDS",
        help=f"how long to wait for --scheduler to answer (default: {CONNECT_TIMEOUT:g})",
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
    batch.add_argument(
        "--bands",
        default=None,
        metavar="LIST",
        help="GeoTIFF tiles: cluster these bands (names such as red,nir, or numbers from 1) "
        "instead of the display colours; one scaling and one model for every tile, fitted "
        "by exact Lloyd over the tiles; writes labels.vrt, a mosaic of the label tiles",
    )
    batch.add_argument(
        "--indices",
        default=None,
        metavar="LIST",
        help="GeoTIFF tiles: spectral indices to add as features: ndvi, ndwi (comma-separated)",
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


class _Plan:
    """Where the run goes: a --scheduler, a local cluster of `workers`, or in process."""

    def __init__(self, kind: str, workers: int, reason: str) -> None:
        self.kind = kind  # "scheduler", "local cluster" or "in process"
        self.workers = workers
        self.reason = reason

    def describe(self) -> str:
        if self.kind == "in process":
            return f"ran in process ({self.reason})"
        if self.kind == "local cluster":
            return f"ran on a local cluster of {self.workers} worker(s) ({self.reason})"
        return f"ran on the scheduler's {self.workers} worker(s)"


def _plan(args: argparse.Namespace, files: Sequence[str], out: Path) -> _Plan:
    """Choose where to run: --scheduler; --workers N as asked; else a local cluster only
    when the job is big enough to pay for it (:data:`LOCAL_CLUSTER_MIN_MEGAPIXELS`)."""
    if args.scheduler is not None:
        return _Plan("scheduler", 0, f"--scheduler {args.scheduler}")
    cpus = os.cpu_count() or 1
    if args.workers == 0:
        return _Plan("in process", 0, "--workers 0")
    if len(files) <= 1:
        return _Plan("in process", 0, "one image")
    if args.workers is not None:
        return _Plan("local cluster", min(args.workers, len(files)), f"--workers {args.workers}")
    if cpus == 1:
        return _Plan("in process", 0, "one CPU")
    megapixels = _job_megapixels(files, out, args.resume, LOCAL_CLUSTER_MIN_MEGAPIXELS)
    if megapixels < LOCAL_CLUSTER_MIN_MEGAPIXELS:
        return _Plan(
            "in process",
            0,
            f"{megapixels:.3g} MP to do; a local cluster pays from "
            f"{LOCAL_CLUSTER_MIN_MEGAPIXELS} MP, --workers N starts one",
        )
    return _Plan(
        "local cluster",
        min(cpus, len(files)),
        f"{LOCAL_CLUSTER_MIN_MEGAPIXELS}+ MP to do",
    )


def _job_megapixels(files: Sequence[str], out: Path, resume: bool, enough: float) -> float:
    """Megapixels of the images still to do, from their headers (no decoding), counted until
    `enough`. With `resume`, images with a row in OUTPUT are left out (most will be skipped).
    A file whose header cannot be read counts its bytes / 3 (as raw RGB); a URL 1 MP."""
    from PIL import Image

    from core.collection.sources import as_sources, output_stems

    stems = output_stems(as_sources(files, None))
    total = 0.0
    for name, stem in zip(files, stems, strict=True):
        if resume and (out / "rows" / f"{stem}.json").exists():
            continue
        if "://" in name and not os.path.exists(name):
            total += 1.0
        else:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    with Image.open(name) as image:
                        width, height = image.size
                total += width * height / 1e6
            except Exception:  # not a PIL format (some GeoTIFFs), or not a file: a guess
                with contextlib.suppress(OSError):
                    total += os.path.getsize(name) / 3e6
        if total >= enough:
            break
    return total


@contextlib.contextmanager
def _cluster(args: argparse.Namespace, plan: _Plan) -> Iterator[Client | None]:
    """The Dask client to run on: --scheduler, a LocalCluster, or None (in process)."""
    if plan.kind == "scheduler":
        timeout = CONNECT_TIMEOUT if args.connect_timeout is None else args.connect_timeout
        with connect_scheduler(args.scheduler, timeout) as client:
            yield client
        return
    if plan.kind == "in process":
        yield None
        return
    from core.collection import local_client

    with local_client(plan.workers) as client:
        yield client


def _check_url_packages(files: Sequence[str], on_cluster: bool) -> None:
    """Before any work: every kind of URL among `files` can be read here (fsspec and the
    package behind it), else one line saying which extra to install."""
    protocols = sorted(
        {name.split("://", 1)[0].lower() for name in files if "://" in name} - {"file", "local"}
    )
    if not protocols:
        return
    import fsspec

    for protocol in protocols:
        try:
            fsspec.get_filesystem_class(protocol)
        except ValueError:
            raise _Usage(
                f"'{protocol}://' inputs cannot be read: fsspec knows no such protocol. "
                "Give local paths, or http(s)://, s3:// or gs:// URLs."
            ) from None
        except ImportError as e:
            extra = _URL_EXTRAS.get(protocol)
            how = (
                f"pip install 'kseg[{extra}]'"
                if extra
                else f"install the fsspec package for {protocol}://"
            )
            where = " (on every Dask worker too)" if on_cluster else ""
            raise _Usage(
                f"Reading {protocol}:// inputs needs packages that are not installed "
                f"({first_line(e)}): {how}{where}."
            ) from None


# Progress bars: the label and unit of each stage (histograms -> fit -> labels).
_STAGES: Final = {
    "histograms": ("histograms     ", "img"),
    "fit": ("fitting palette", "fit"),
    "labels": ("labelling      ", "img"),
}


class _Progress:
    """A tqdm bar per stage (histograms, fit, labels; images/s and ETA), silent with
    --quiet."""

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

            label, unit = _STAGES.get(stage, (stage, "img"))
            bar = tqdm(total=total, desc=label, unit=unit, file=sys.stderr, leave=True)
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
    if args.bands is not None or args.indices is not None:
        if kept is not None or args.per_image or args.resume or args.masks:
            raise _Usage(
                "--bands/--indices fit one band model over the tiles: leave out --palette, "
                "--per-image, --resume and --masks (apply a kept band model with "
                "'kseg apply MODEL TILES... -o OUT')."
            )
        _run_bands(args, None)
        return
    _run(args, kept)


def run_apply(args: argparse.Namespace) -> None:
    """``kseg apply MODEL IMAGE...``: classify images with a kept model.

    One image: :func:`core.cli.classes.apply_one` (segment's layout). A band model on
    several inputs: :func:`core.collection.band_tiles.label_band_tiles` (batch's layout,
    labels.vrt, on Dask with --scheduler/--workers). A colour model on several inputs
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
        _run_bands(args, model, files)
    else:
        _run(args, CollectionModel.from_model(model))


def _run_bands(
    args: argparse.Namespace, model: ClassModel | None, files: Sequence[str] | None = None
) -> None:
    """``kseg batch --bands/--indices`` (fit one band model over the tiles, then label them)
    and ``kseg apply`` of a band model to several inputs: the same layout
    (:mod:`core.collection.band_tiles`)."""
    from core.collection.band_tiles import (
        check_model,
        label_band_tiles,
        segment_band_collection,
    )

    started = time.perf_counter()
    if files is None:
        files = find_inputs(args.inputs, recursive=args.recursive)
    if model is None:
        if args.k > LIMITS["k"]:
            raise _Usage(f"-k {args.k} is over the limit of {LIMITS['k']} clusters.")
        if getattr(args, "tol", 0.0) < 0:
            raise _Usage(f"--tol must be 0 or more, got {args.tol}.")
    else:
        check_model(model, files[0])  # a model the inputs cannot serve: nothing written
    out: Path = args.output
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _Usage(f"Could not create the output folder '{out}' ({e.strerror}).") from None
    plan = _plan(args, files, out)
    progress = _Progress(args.quiet)
    run_options: dict[str, Any] = {
        "polygons": args.polygons,
        "polygon_min_pixels": POLYGON_MIN_PIXELS,
        "pixel_size": args.pixel_size,
        "max_pixels": args.max_pixels,
    }
    try:
        with _cluster(args, plan) as client, warnings.catch_warnings():
            warnings.filterwarnings("ignore", module="distributed")
            if model is None:
                indices = [i.strip().lower() for i in (args.indices or "").split(",") if i.strip()]
                result = segment_band_collection(
                    files,
                    args.k,
                    out,
                    bands=band_list(args.bands),
                    indices=indices,
                    seed=0 if args.seed is None else args.seed,
                    n_init=args.n_init,
                    max_iter=args.max_iter,
                    tol=args.tol,
                    client=client,
                    progress=progress,
                    **run_options,
                )
            else:
                result = label_band_tiles(model, files, out, client=client, **run_options)
    except OSError as e:
        raise _Usage(_write_failure(e, out)) from None
    finally:
        progress.close()
    elapsed = time.perf_counter() - started
    summary = {
        "command": args.command,
        "inputs": len(files),
        "segmented": len(result.labelled),
        "empty": [t.name for t in result.empty],
        "failed": len(result.errors),
        "model": {
            "features": result.model.features.describe(),
            "k": result.model.k,
            "wcss": result.model.wcss,
            "n_iter": result.n_iter,
            "converged": result.converged,
            "fitted": model is None,
        },
        "labels_vrt": result.vrt_note or "labels.vrt",
        "executor": plan.kind,
        "executor_reason": plan.reason,
        "timings_s": {"total": round(elapsed, 3)},
    }
    try:
        _write_file(out / "summary.json", json.dumps(summary, indent=1))
    except OSError as e:
        raise _Usage(_write_failure(e, out)) from None
    if not result.labelled and not result.empty:
        first = result.errors[0].error if result.errors else "no input"
        raise _Usage(
            f"None of the {len(files)} input file(s) could be classified; see "
            f"{out / 'errors.csv'}. First error: {first}"
        )
    if not args.quiet:
        if result.empty:
            names = ", ".join(t.name for t in result.empty[:5])
            more = "" if len(result.empty) <= 5 else f" and {len(result.empty) - 5} more"
            print(
                f"kseg: note: {len(result.empty)} tile(s) hold no valid pixel (listed in "
                f"areas.csv at 0 pixels): {names}{more}",
                file=sys.stderr,
            )
        if result.vrt_note:
            print(f"kseg: note: no labels.vrt: {result.vrt_note}", file=sys.stderr)
        fitted = (
            f"fitted in {result.n_iter} Lloyd pass(es) over the tiles; " if model is None else ""
        )
        print(
            f"classified {len(result.labelled)} of {len(files)} input(s) in "
            f"{elapsed:.1f} s; {fitted}{plan.describe()}; "
            f"wrote {out / 'areas.csv'}"
        )
    if result.errors:
        warnings.warn(
            f"{len(result.errors)} of {len(files)} file(s) could not be classified; they are "
            f"listed in {out / 'errors.csv'}.",
            UserWarning,
            stacklevel=2,
        )


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
    from core.collection import segment_collection

    if getattr(args, "tol", 0.0) < 0:
        raise _Usage(f"--tol must be 0 or more, got {args.tol}.")
    limit = LIMITS["k"]
    if kept is None and args.k > limit:
        raise _Usage(
            f"-k {args.k} is over the limit of {limit} clusters; give -k {limit} or less "
            "(a collection's palette is meant to be read: a few to a few dozen classes)."
        )
    started = time.perf_counter()
    files = find_inputs(args.inputs, recursive=args.recursive)
    _check_url_packages(files, args.scheduler is not None)
    out: Path = args.output
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _Usage(f"Could not create the output folder '{out}' ({e.strerror}).") from None
    plan = _plan(args, files, out)
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
    startup = run_seconds = 0.0
    n_workers = 0
    try:
        with _cluster(args, plan) as client:
            startup = time.perf_counter() - started
            started_run = time.perf_counter()
            n_workers = 0 if client is None else len(client.scheduler_info()["workers"])
            plan.workers = n_workers
            if not args.quiet and sys.stderr.isatty():  # with the bars; the summary says it too
                print(
                    f"kseg: note: {plan.describe().replace('ran', 'running', 1)}", file=sys.stderr
                )
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
    except ImportError as e:  # raised on a worker that lacks kseg (or one of its modules)
        raise _Usage(
            f"A Dask worker could not import {e.name or 'a module'} ({e}). Install kseg on "
            "every worker (pip install kseg, same version) and start the workers again."
        ) from None
    except OSError as e:  # an output could not be written (the cluster is closed by now)
        _remove_leftovers(out)
        raise _Usage(_write_failure(e, out)) from None
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
            with contextlib.suppress(OSError):  # a full disk: the error says so already
                _write_tables(out, rows, args.pixel_size)
                _write_summary(
                    out,
                    args,
                    files,
                    rows,
                    None,
                    {},
                    plan,
                    True,
                    startup=startup,
                    run=0.0,
                    elapsed=time.perf_counter() - started,
                )
    try:
        _write_tables(out, list(result.rows), args.pixel_size)
        if result.palette is not None:
            if kept is None:
                from core.collection import remember_fit

                remember_fit(out, result.palette, files)
            else:
                _write_file(out / "model.json", result.palette.to_json() + "\n")
        _write_summary(
            out,
            args,
            files,
            result.rows,
            result,
            result.timings,
            plan,
            False,
            startup=startup,
            run=run_seconds,
            elapsed=time.perf_counter() - started,
        )
    except OSError as e:
        raise _Usage(_write_failure(e, out)) from None
    ok = result.ok
    failed_rows = result.errors
    errors_path = out / "errors.csv"
    if not ok:
        first = failed_rows[0].error if failed_rows else "no image"
        raise _Usage(
            f"None of the {len(files)} input file(s) could be read; see {errors_path}. "
            f"First error: {first}"
        )
    if not args.quiet:
        empty = _empty(result.rows)
        if empty:
            names = ", ".join(row.file for row in empty[:5])
            more = "" if len(empty) <= 5 else f" and {len(empty) - 5} more"
            print(
                f"kseg: note: {len(empty)} image(s) hold no valid pixel (listed in areas.csv "
                f"at 0 pixels): {names}{more}",
                file=sys.stderr,
            )
        print(_summary_line(result.rows, plan, startup, run_seconds, out))
    if failed_rows:
        warnings.warn(
            f"{len(failed_rows)} of {len(files)} file(s) could not be read; "
            f"they are listed in {errors_path}.",
            UserWarning,
            stacklevel=2,
        )


def _empty(rows: Sequence[ImageResult]) -> list[ImageResult]:
    """Rows of images with no valid pixel (all transparent or no-data): zero counts."""
    return [row for row in rows if row.ok and row.counts and not any(row.counts)]


def _skipped(rows: Sequence[ImageResult]) -> list[ImageResult]:
    """Rows resumed from an earlier run (nothing was done for them: elapsed 0.0)."""
    return [row for row in rows if row.ok and row.elapsed == 0.0]


def _summary_line(
    rows: Sequence[ImageResult], plan: _Plan, startup: float, run: float, out: Path
) -> str:
    """What this run did: images and megapixels segmented now, at what rate (start-up
    excluded, and given apart), what it skipped, where it ran."""
    skipped = _skipped(rows)
    new = [row for row in rows if row.ok and row.elapsed != 0.0]
    areas = out / "areas.csv"
    if not new:
        return (
            f"nothing to do: skipped {len(skipped)} image(s) already written in {out} "
            f"(same palette and options); wrote {areas}"
        )
    megapixels = sum(row.n_pixels for row in new) / 1e6
    rate = megapixels / run if run > 0 else float("inf")
    parts = [
        f"segmented {len(new)} image(s), {megapixels:.3g} MP in {run:.1f} s ({rate:.3g} MP/s)",
        plan.describe(),
    ]
    if plan.kind != "in process":
        parts.append(
            f"{'cluster start-up' if plan.kind == 'local cluster' else 'connecting'} "
            f"{startup:.1f} s more"
        )
    if skipped:
        parts.append(f"skipped {len(skipped)} already written")
    parts.append(f"wrote {areas}")
    return "; ".join(parts)


def _write_file(path: Path, text: str) -> None:
    from core.formats.files import write_atomic

    write_atomic(path, text.encode("utf-8"))


def _write_tables(out: Path, rows: Sequence[ImageResult], pixel_size: float | None) -> None:
    """areas.csv, and errors.csv when some rows failed (a stale one is removed)."""
    from core.collection import areas_csv, errors_csv

    _write_file(out / "areas.csv", areas_csv([r for r in rows if r.ok], pixel_size))
    failed = [row for row in rows if not row.ok]
    errors_path = out / "errors.csv"
    if failed:
        _write_file(errors_path, errors_csv(failed))
    elif errors_path.exists():
        errors_path.unlink()  # a stale list from an earlier run would mislead


def _remove_leftovers(out: Path) -> None:
    from core.collection.label import remove_leftovers

    with contextlib.suppress(OSError):
        remove_leftovers(out)


def _write_failure(error: OSError, out: Path) -> str:
    """One sentence for an output that could not be written, naming the file."""
    import errno

    where = f"'{error.filename}'" if error.filename else f"into '{out}'"
    reason = error.strerror or str(error) or type(error).__name__
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        advice = (
            "Free space on that disk (or choose another -o), then run the same command with "
            "--resume: the images already written are kept."
        )
    else:
        advice = "Check the folder and its permissions (or choose another -o)."
    return f"Could not write {where}: {reason}. {advice}"


def _write_summary(
    out: Path,
    args: argparse.Namespace,
    files: Sequence[str],
    rows: Sequence[ImageResult],
    result: CollectionResult | None,
    timings: dict[str, float],
    plan: _Plan,
    interrupted: bool,
    *,
    startup: float,
    run: float,
    elapsed: float,
) -> None:
    """summary.json: what this run did (``segmented`` and ``megapixels`` count only the
    images labelled now; ``skipped`` those resumed), where, and how long. The rate is
    ``megapixels / timings_s.run``: cluster start-up (``timings_s.startup``) excluded."""
    skipped = _skipped(rows)
    new = [row for row in rows if row.ok and row.elapsed != 0.0]
    pixels = sum(row.n_pixels for row in new)
    palette = None if result is None else result.palette
    summary = {
        "command": args.command,
        "inputs": len(files),
        "segmented": len(new),
        "skipped": len(skipped),
        "failed": sum(1 for row in rows if not row.ok),
        "empty": [row.file for row in _empty(rows)],
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
        "executor": plan.kind,
        "executor_reason": plan.reason,
        "workers": plan.workers,
        "timings_s": {
            **{name: round(value, 3) for name, value in timings.items()},
            "startup": round(startup, 3),
            "run": round(run, 3),
            "total": round(elapsed, 3),
        },
        "megapixels_per_s": round(pixels / 1e6 / run, 2) if run and pixels else None,
        "traffic": {} if result is None else result.traffic,
    }
    _write_file(out / "summary.json", json.dumps(summary, indent=1))
