"""The ``kseg`` command: ``kseg segment``, ``kseg elbow`` and ``kseg sweep`` from a shell.

Defaults are the library's (CIELAB, seed 0, 10 restarts), so ``kseg segment photo.jpg -k 6``
gives what ``core.segment(image, 6)`` and the dashboard give. Every mistake a user can make
(a bad file, a bad option, a limit exceeded, an unwritable folder) ends with one line on
stderr, ``kseg: error: …``, and exit code 2 — never a usage dump or a traceback. Warnings
(fewer distinct colours than k) are one ``kseg: warning: …`` line each.

Subcommands live in :func:`build_parser`: each is a parser added there plus a ``_run_*``
function that takes the parsed arguments.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.cli.args import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    Failure,
    Parser,
    UsageError,
    add_fit_options,
    add_image_options,
    k_list,
    output_path,
    plural,
    positive_int,
)
from core.cli.outputs import describe_os_error, listing
from core.cli.progress import interactive, k_progress, stage
from core.cli.raster import (
    add_mask_options,
    add_raster_options,
    mask_options,
    photo_mask,
    run_segment_raster,
)
from core.engine.engines import ENGINES
from core.features.pixels import DEFAULT_TEXTURE_COMPONENTS
from core.validation import LIMITS

if TYPE_CHECKING:
    import numpy as np

    from core.inputs.io import LoadedImage
    from core.results.segmentation import Segmentation

__all__ = ["EXIT_ERROR", "add_fit_options", "build_parser", "main", "positive_int"]


_EPILOG = """\
examples:
  kseg segment photo.jpg -k 6                      write photo_k6/ with the results
  kseg segment tile.tif -k 4 --color-space lab -o out/
  kseg segment huge.jpg -k 8 --fit-pixels 1000000  fit on 1 MP, label every pixel
                                                   (the dashboard's "Fit centres on")
  kseg segment photo.jpg -k 6 --downscale-to 1000000
                                                   segment a 1 MP copy; outputs at 1 MP
  kseg elbow photo.jpg --k-max 12                  WCSS per k and a suggested k
  kseg sweep photo.jpg --ks 2,4,8 -o sweep.gif     one captioned frame per k
  kseg batch tiles/ -k 6 -o out/                   one model over many images, areas.csv
  kseg classes out/model.json --group water=0,3 --drop 5 -o named.json
                                                   name, merge and drop classes
  kseg apply named.json new/*.jpg -o new/          classify images with a kept model
  kseg segment scene.tif -k 5 -o out/              a GeoTIFF: label and RGB GeoTIFFs,
                                                   class areas (m², ha), GeoJSON polygons
"""

_SEGMENT_EPILOG = """\
files written to OUTPUT:
  labels.png           indexed PNG: pixel value = cluster, PNG palette = cluster colours
  segmented.png        every pixel painted with its cluster's mean colour
  areas.csv            class, name, hex, pixels, share
  model.json           the fitted clusters as a class model: name, merge and drop them
                       with 'kseg classes', reapply them with 'kseg apply'
  recipe.json          parameters, result summary and the command that reproduces it
  masks/mask_00_rrggbb.png …  one black-and-white mask per cluster, largest first
                       (rrggbb: its palette colour; the dashboard's ZIP uses the same names)
  a georeferenced TIFF gets the same names, as GeoTIFFs in its CRS and transform:
  labels.tif (+ labels.tif.aux.xml, labels.qml: class names for GDAL and QGIS),
  segmented.tif, areas.csv (with area_m2, area_ha), model.json (its bands, indices
  and scaling), recipe.json, classes.geojson, classes.gpkg, stats.csv; a scene over
  --max-pixels is labelled at full resolution by blocks (labels.tif, segmented.tif,
  areas.csv, recipe.json) unless --on-large reduce
  report.html          with --report: one self-contained page to share (images, classes,
                       areas, parameters, the command)

examples:
  kseg segment photo.jpg -k 6
  kseg segment photo.jpg -k 6 --color-space oklab --seed 3 -o results/
  kseg segment huge.jpg -k 8 --fit-pixels 1000000 --quiet
  kseg segment logo.png -k 3                       transparent pixels are left out
  kseg segment scan.png -k 4 --ignore-color '#ffffff' --color-tolerance 8
  kseg segment photo.jpg -k 4 --mask subject.png   only the mask's non-black pixels count
  kseg segment scene.tif -k 6 --bands red,nir --indices ndvi --sieve 20 -o out/
  kseg segment huge.tif -k 6 --workers 4 -o out/   full resolution by blocks on 4 workers
  kseg segment photo.jpg -k 6 --report             also report.html
"""

_ELBOW_EPILOG = """\
examples:
  kseg elbow photo.jpg
  kseg elbow photo.jpg --k-min 2 --k-max 16 --color-space lab
  kseg elbow logo.png                               transparent pixels are left out
  kseg elbow scan.png --ignore-color '#ffffff' --color-tolerance 8
"""


_SWEEP_EPILOG = """\
examples:
  kseg sweep photo.jpg                              k = 2, 3, 4, 6, 8, 12, 16 -> photo_sweep.gif
  kseg sweep photo.jpg --ks 2,4,8 -o out.gif --frames frames.zip
  kseg sweep logo.png --ks 2,3,4                    transparent pixels are left out
"""


def build_parser() -> argparse.ArgumentParser:
    """The ``kseg`` argument parser, with one subparser per command.

    Returns
    -------
    argparse.ArgumentParser
        Parsing sets ``run``, the function that carries the command out.

    Examples
    --------
    >>> build_parser().parse_args(["segment", "photo.jpg", "-k", "6"]).color_space
    'lab'
    """
    from core.version import __version__

    parser = Parser(
        prog="kseg",
        description="Exact, fast k-means image segmentation.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"kseg {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    seg = commands.add_parser(
        "segment",
        help="segment an image into k colour clusters and write the results",
        description="Segment IMAGE into k colour clusters. Write the segmented image, one mask\n"
        "per cluster, the palette and a recipe into OUTPUT, and print the palette.",
        epilog=_SEGMENT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_image_options(seg)
    seg.add_argument(
        "-k",
        type=positive_int,
        required=True,
        help=f"number of clusters, at most {LIMITS['k']} unless --allow-large-k",
    )
    seg.add_argument(
        "--allow-large-k", action="store_true", help=f"allow k above {LIMITS['k']} (slow)"
    )
    seg.add_argument(
        "--engine",
        choices=list(ENGINES),
        default="kseg",
        help="k-means implementation (default: %(default)s)",
    )
    seg.add_argument(
        "--fit-pixels",
        type=positive_int,
        default=None,
        metavar="N",
        help="fit the centres on a copy downscaled to at most N pixels, then label every "
        "pixel of the full image with its nearest centre: outputs at full size",
    )
    seg.add_argument(
        "--position-weight",
        type=float,
        default=0.0,
        metavar="W",
        help="weight of each pixel's (x, y) position, relative to colour (default: 0, off)",
    )
    seg.add_argument(
        "--texture-weight",
        type=float,
        default=0.0,
        metavar="W",
        help="weight of each pixel's texture (Leung-Malik filters), relative to colour "
        "(default: 0, off)",
    )
    seg.add_argument(
        "--texture-components",
        type=positive_int,
        default=DEFAULT_TEXTURE_COMPONENTS,
        metavar="N",
        help="principal components of the texture kept (default: %(default)s)",
    )
    seg.add_argument(
        "--min-region",
        type=positive_int,
        default=None,
        metavar="PX",
        help="clean-up: merge connected regions smaller than PX pixels into the cluster "
        "around them",
    )
    seg.add_argument(
        "-o",
        "--output",
        type=output_path,
        default=None,
        metavar="OUTPUT",
        help="output folder, created if missing (default: ./<image name>_k<k>)",
    )
    seg.add_argument(
        "-q", "--quiet", action="store_true", help="print no table (warnings still show)"
    )
    seg.add_argument(
        "--report",
        action="store_true",
        help="also write report.html: one self-contained page (images, classes, areas, "
        "parameters and the command) to share",
    )
    add_mask_options(seg)
    add_raster_options(seg)
    seg.set_defaults(run=_run_segment)

    elb = commands.add_parser(
        "elbow",
        help="print WCSS for each k and suggest k",
        description="Run k-means for k = K_MIN ... K_MAX, print the within-cluster sum of\n"
        "squares (WCSS) of each and suggest the k at the elbow of that curve.",
        epilog=_ELBOW_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_image_options(elb)
    elb.add_argument(
        "--k-min", type=positive_int, default=1, help="smallest k (default: %(default)s)"
    )
    elb.add_argument(
        "--k-max", type=positive_int, default=12, help="largest k (default: %(default)s)"
    )
    add_mask_options(elb)
    elb.set_defaults(run=_run_elbow)

    swp = commands.add_parser(
        "sweep",
        help="segment for several k and write an animated GIF",
        description="Segment IMAGE for every k in --ks and write an animated GIF with a\n"
        "'k=N' caption on each frame (and, with --frames, the frames as PNGs in a ZIP).",
        epilog=_SWEEP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_image_options(swp)
    swp.add_argument(
        "--ks",
        type=k_list,
        default="2,3,4,6,8,12,16",
        help="comma-separated values of k (default: %(default)s)",
    )
    swp.add_argument(
        "-o",
        "--output",
        type=output_path,
        default=None,
        help="GIF to write (default: <image stem>_sweep.gif)",
    )
    swp.add_argument(
        "--size",
        type=positive_int,
        default=480,
        metavar="PX",
        help="longer side of the frames in pixels (default: %(default)s)",
    )
    swp.add_argument(
        "--frame-ms",
        type=positive_int,
        default=900,
        metavar="MS",
        help="how long each frame shows, in milliseconds (default: %(default)s)",
    )
    swp.add_argument(
        "--frames", type=output_path, default=None, help="also write the frames to this ZIP"
    )
    add_mask_options(swp)
    swp.set_defaults(run=_run_sweep)

    # Collections: `kseg batch` and `kseg apply` live in core.cli.batch.
    from core.cli.batch import add_parsers

    add_parsers(commands)
    # Models: `kseg classes` lives in core.cli.classes.
    from core.cli import classes

    classes.add_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``kseg`` command line.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program name; ``sys.argv[1:]`` when None.

    Returns
    -------
    int
        0 on success, 2 (:data:`EXIT_ERROR`) for any error a user can fix, 130 when
        interrupted. ``--help`` and ``--version`` return 0.

    Raises
    ------
    Nothing: every error a user can cause becomes one ``kseg: error: ...`` line on stderr
    and exit code 2 (a bug still raises, with its traceback).

    Examples
    --------
    >>> main(["--version"])  # doctest: +ELLIPSIS
    kseg ...
    0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as e:
        return _error(str(e))
    except SystemExit as e:  # --help, --version
        return e.code if isinstance(e.code, int) else 0
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            args.run(args)
    except KeyboardInterrupt:
        print("kseg: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (Failure, ValueError) as e:  # ImageError is a ValueError
        return _error(str(e))
    except OSError as e:
        return _error(_describe_os_error(e, "Check the path and its permissions."))
    for warning in caught:
        print(f"kseg: warning: {_one_line(str(warning.message))}", file=sys.stderr)
    return 0


def _error(message: str) -> int:
    print(f"kseg: error: {_one_line(message)}", file=sys.stderr)
    return EXIT_ERROR


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _describe_os_error(error: OSError, advice: str) -> str:
    return describe_os_error(error, advice)


def _load(args: argparse.Namespace) -> tuple[LoadedImage, np.ndarray]:
    """The image as the user named it, and the (possibly downscaled) pixels to work on."""
    from core.inputs.arrays import resize_to_max_pixels
    from core.inputs.io import DEFAULT_MAX_PIXELS, open_image

    loaded = open_image(args.image, max_pixels=args.max_pixels or DEFAULT_MAX_PIXELS)
    rgb = loaded.rgb
    if args.downscale_to is not None:
        rgb = resize_to_max_pixels(rgb, args.downscale_to)
    return loaded, rgb


def _fit_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options of :func:`add_image_options` that every k-means call takes."""
    return {
        "color_space": args.color_space,
        "seed": args.seed,
        "init": args.init,
        "n_init": args.n_init,
        "max_iter": args.max_iter,
        "tol": args.tol,
    }


def _run_segment(args: argparse.Namespace) -> None:
    from core.inputs.raster import is_georeferenced
    from core.outputs import export
    from core.results.segmentation import segment

    if is_georeferenced(args.image):  # a GeoTIFF: bands, no-data, areas, GIS outputs
        run_segment_raster(args)
        return
    started = time.perf_counter()
    stage(args, f"reading {Path(args.image).name}")
    loaded, rgb = _load(args)
    if interactive(args):
        stage(args, f"clustering {_distinct_colors(rgb):,} distinct colours into k = {args.k}")
    result = segment(
        rgb,
        args.k,
        **_fit_options(args),
        engine=args.engine,
        fit_pixels=args.fit_pixels,
        position_weight=args.position_weight,
        texture_weight=args.texture_weight,
        texture_components=args.texture_components,
        min_region=args.min_region,
        allow_large_k=args.allow_large_k,
        mask=photo_mask(args, loaded, rgb),
    )
    out = args.output if args.output is not None else Path(f"{Path(args.image).stem}_k{args.k}")
    stage(args, f"writing {out}")
    written = _write_outputs(result, out, image_name=Path(args.image).name, args=args, image=rgb)
    if args.quiet:
        return
    height, width = result.shape
    resized = ""
    if result.shape != (loaded.height, loaded.width):
        resized = f" (working copy of {loaded.width} x {loaded.height})"
    print(
        f"{Path(args.image).name}: {width} x {height} px{resized}, k = {result.k}, "
        f"{result.color_space}"
    )
    print(_palette_table(result))
    converged = (
        "" if result.converged else f" (not converged; raise --max-iter above {args.max_iter})"
    )
    print(
        f"WCSS {export.compact_number(result.wcss)}, "
        f"{plural(result.n_iter, 'iteration')}{converged}, "
        f"{result.n_colors:,} distinct colours, {time.perf_counter() - started:.2f} s"
    )
    print(f"wrote {len(written)} files to {out}: {listing(written)}")


def _distinct_colors(rgb: np.ndarray) -> int:
    """Distinct RGB colours of an (H, W, 3) uint8 image (for the progress line)."""
    import numpy as np

    from core.features.colortable import pixel_ids

    seen = np.zeros(1 << 24, dtype=bool)  # 16 MB, one pass
    seen[pixel_ids(np.ascontiguousarray(rgb))] = True
    return int(np.count_nonzero(seen))


def _write_outputs(
    result: Segmentation,
    out: Path,
    *,
    image_name: str,
    args: argparse.Namespace,
    image: np.ndarray | None = None,
) -> list[str]:
    """Write a photo's outputs (the README's "Outputs" table, and report.html with
    ``--report``); the names written."""
    import json

    from core.cli.outputs import photo_files, write_files
    from core.outputs import export

    recipe = export.recipe_json(
        result, image_name=image_name, downscale_to=args.downscale_to, mask=mask_options(args)
    )
    files = photo_files(result, recipe)
    if getattr(args, "report", False):
        from core.outputs.report import html_report

        command = json.loads(recipe).get("command")
        page = html_report(
            result, image, title=f"kseg: {image_name}, k = {result.k}", command=command
        )
        files["report.html"] = page.encode("utf-8")
    return write_files(out, files)


def _palette_table(result: Segmentation) -> str:
    from core.cli.outputs import class_table
    from core.formats.tables import area_rows
    from core.outputs.export import class_names

    return class_table(
        area_rows(result.counts.tolist(), result.hex_colors, names=class_names(result))
    )


def _run_elbow(args: argparse.Namespace) -> None:
    from core.explore.elbow import elbow
    from core.outputs.export import compact_number

    if args.k_min > args.k_max:
        raise Failure(
            f"--k-min ({args.k_min}) is larger than --k-max ({args.k_max}). "
            "Swap them or widen the range."
        )
    if args.k_max > LIMITS["k_max"]:  # before the range is built: one line, in CLI words
        raise Failure(
            f"k={args.k_max} is over the limit of {LIMITS['k_max']} for an elbow curve; "
            f"give --k-max {LIMITS['k_max']} or less."
        )
    stage(args, f"reading {Path(args.image).name}")
    loaded, rgb = _load(args)
    started = time.perf_counter()
    ks = range(args.k_min, args.k_max + 1)
    with k_progress(args, len(ks), "elbow") as progress:
        result = elbow(
            rgb, ks, **_fit_options(args), mask=photo_mask(args, loaded, rgb), progress=progress
        )
    values = [compact_number(wcss) for wcss in result.wcss]
    k_width = max(len("k"), *(len(str(k)) for k in result.ks))
    wcss_width = max(len("WCSS"), *map(len, values))
    top = max(result.wcss) or 1.0
    print(f"{'k':>{k_width}}  {'WCSS':>{wcss_width}}")
    for k, wcss, text in zip(result.ks, result.wcss, values, strict=True):
        bar = "#" * round(30 * wcss / top)
        marker = "  <- suggested" if k == result.knee else ""
        print(f"{k:>{k_width}}  {text:>{wcss_width}}  {bar}{marker}".rstrip())
    print(result.message)
    print(f"({len(result.ks)} values of k in {time.perf_counter() - started:.2f} s)")


def _run_sweep(args: argparse.Namespace) -> None:
    from core.explore.sweep import sweep, sweep_gif, sweep_zip
    from core.outputs.export import compact_number

    started = time.perf_counter()
    stage(args, f"reading {Path(args.image).name}")
    loaded, rgb = _load(args)
    with k_progress(args, len(args.ks), "sweep") as progress:
        results = sweep(
            rgb,
            args.ks,
            **_fit_options(args),
            mask=photo_mask(args, loaded, rgb),
            progress=progress,
        )
    stage(args, "writing the GIF")
    out = args.output if args.output is not None else Path(f"{Path(args.image).stem}_sweep.gif")
    out.write_bytes(sweep_gif(results, max_side=args.size, frame_ms=args.frame_ms))
    if args.frames is not None:
        args.frames.write_bytes(sweep_zip(results))
    print(f"{'k':>3}  {'WCSS':>12}")
    for result in results:
        print(f"{result.k:>3}  {compact_number(result.wcss):>12}")
    extra = f" and {args.frames}" if args.frames is not None else ""
    print(f"wrote {out}{extra}: {len(results)} frames in {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
