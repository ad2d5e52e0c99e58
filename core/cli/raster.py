"""``kseg segment`` for georeferenced rasters, and the options for pixels that don't count.

:mod:`core.cli` hands a georeferenced TIFF to :func:`run_segment_raster`, which clusters its
bands (and indices) with :func:`core.results.raster_segmentation.segment_raster` and writes what a
GIS user opens on top of the scene::

    kseg segment scene.tif -k 5 -o out/
    kseg segment scene.tif -k 5 --bands red,nir --indices ndvi --sieve 20 -o out/

    out/labels.tif         uint8 classes, same CRS and transform, no-data 255, colour table
                           (labels.tif.aux.xml: class names for GDAL; labels.qml: QGIS style)
    out/segmented.tif      the classes in their mean display colours (RGBA GeoTIFF)
    out/areas.csv          class, name, hex, pixels, share, area_m2, area_ha, area_basis
    out/model.json         bands, indices, fitted scaling and centres: 'kseg apply' it
    out/recipe.json        parameters, classes and the command
    out/classes.geojson    polygons per class (WGS 84; regions under 9 px sieved first),
    out/classes.gpkg       and in the scene's CRS, unless --no-polygons
    out/stats.csv          mean and standard deviation of every band per class
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Literal

import numpy as np

from core.cli.args import Failure, band_list, non_negative_int, plural, positive_int
from core.cli.outputs import class_table, raster_recipe, write_files, write_raster
from core.cli.progress import stage

__all__ = [
    "POLYGON_MIN_PIXELS",
    "add_mask_options",
    "add_raster_options",
    "mask_options",
    "photo_mask",
    "run_segment_blocks",
    "run_segment_raster",
]

#: Regions smaller than this are sieved away before polygons are written (unless --sieve is
#: larger): the label GeoTIFF keeps every pixel, the GeoJSON stays a manageable size.
POLYGON_MIN_PIXELS = 9


def add_mask_options(parser: argparse.ArgumentParser) -> None:
    """``--ignore-transparent`` / ``--no-ignore-transparent``, ``--mask FILE``,
    ``--ignore-color HEX`` and ``--color-tolerance N``: which pixels count
    (:class:`core.inputs.masking.MaskOptions`, read back by :func:`mask_options`)."""
    group = parser.add_argument_group("pixels that don't count")
    group.add_argument(
        "--ignore-transparent",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="leave fully transparent pixels out, as a raster's no-data (default: yes; "
        "--no-ignore-transparent clusters them too)",
    )
    # The old spelling, which the README documented: same as --no-ignore-transparent.
    group.add_argument(
        "--keep-transparent",
        dest="ignore_transparent",
        action="store_false",
        help=argparse.SUPPRESS,
    )
    group.add_argument(
        "--mask",
        type=Path,
        default=None,
        metavar="FILE",
        help="an image of the same size: only its non-black (non-zero) pixels are clustered",
    )
    group.add_argument(
        "--ignore-color",
        default=None,
        metavar="HEX",
        help="leave out pixels of this colour, e.g. '#ffffff' for a white background",
    )
    group.add_argument(
        "--color-tolerance",
        type=int,
        default=0,
        metavar="N",
        help="with --ignore-color: also leave out pixels within N levels (0-255) of it on "
        "every channel (default: %(default)s)",
    )


def mask_options(args: argparse.Namespace) -> Any:
    """The :class:`core.inputs.masking.MaskOptions` the command line asked for."""
    from core.inputs.masking import MaskOptions

    return MaskOptions(
        ignore_transparent=args.ignore_transparent,
        ignore_color=args.ignore_color,
        color_tolerance=args.color_tolerance,
        mask_file=None if args.mask is None else str(args.mask),
    )


def add_raster_options(parser: argparse.ArgumentParser) -> None:
    """Options that apply when IMAGE is a georeferenced raster."""
    group = parser.add_argument_group("georeferenced rasters (GeoTIFF)")
    group.add_argument(
        "--bands",
        default=None,
        metavar="LIST",
        help="bands to cluster: names (red,nir) or numbers from 1 as in GDAL (3,4); "
        "default every band",
    )
    group.add_argument(
        "--indices",
        default="",
        metavar="LIST",
        help="spectral indices to add as features: ndvi, ndwi (comma-separated)",
    )
    group.add_argument(
        "--rgb",
        default=None,
        metavar="LIST",
        help="three bands to show as red, green, blue (default: by band name, else 1,2,3)",
    )
    group.add_argument(
        "--window",
        default=None,
        metavar="ROW,COL,HEIGHT,WIDTH",
        help="read only this part of the scene, in pixels (full resolution)",
    )
    group.add_argument(
        "--sieve",
        type=non_negative_int,
        default=1,
        metavar="N",
        help="merge regions smaller than N pixels into their largest neighbour",
    )
    group.add_argument(
        "--majority",
        type=non_negative_int,
        default=1,
        metavar="SIZE",
        help="then apply a SIZE x SIZE majority filter (odd, e.g. 3)",
    )
    group.add_argument(
        "--on-large",
        choices=("full", "reduce"),
        default="full",
        help="a scene over --max-pixels: 'full' labels it at full resolution by blocks "
        "(bounded memory; labels.tif, segmented.tif, areas.csv), 'reduce' reads it at a "
        "whole-number reduction in memory (default: %(default)s)",
    )
    group.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="full-resolution blocks: run on an existing Dask cluster (e.g. tcp://head:8786); "
        "its workers must reach the scene and OUTPUT",
    )
    group.add_argument(
        "--workers",
        type=positive_int,
        default=None,
        metavar="N",
        help="full-resolution blocks: a local Dask cluster of N worker processes (default: "
        "in this process up to 16 MP, else one worker per CPU)",
    )
    group.add_argument(
        "--no-polygons",
        action="store_true",
        help="do not write the GeoJSON polygons (written by default, regions under 9 "
        "pixels or --sieve merged first)",
    )


def _check_band_numbers(option: str, text: str | None, n_bands: int, name: str) -> None:
    """Band numbers as the user wrote them (from 1), checked against the raster's count."""
    for item in (part.strip() for part in (text or "").split(",")):
        if item.isdigit() and int(item) > n_bands:
            raise ValueError(
                f"{option}: '{name}' has no band {int(item)}; it has {n_bands} band(s), "
                f"numbered 1 to {n_bands} (or give band names)."
            )


def _window(text: str | None) -> tuple[int, int, int, int] | None:
    if text is None:
        return None
    parts = [part.strip() for part in text.split(",")]
    if len(parts) != 4 or not all(part.isdigit() for part in parts):
        raise ValueError(
            f"--window takes four whole numbers ROW,COL,HEIGHT,WIDTH, e.g. 0,0,2000,2000; "
            f"got {text!r}."
        )
    row, col, height, width = (int(part) for part in parts)
    return row, col, height, width


def photo_mask(args: argparse.Namespace, loaded: Any, rgb: np.ndarray) -> Any:
    """The ``mask=`` for :func:`core.segment` from the options, at the size of `rgb`."""
    return mask_options(args).valid(loaded, rgb)


def run_segment_raster(args: argparse.Namespace) -> None:
    """``kseg segment scene.tif -k K``: classes, areas and GIS files of a raster."""
    from core.inputs.io import DEFAULT_MAX_PIXELS
    from core.inputs.raster import open_raster
    from core.results.raster_segmentation import segment_raster

    path = Path(args.image)
    max_pixels = args.max_pixels or DEFAULT_MAX_PIXELS
    window = _window(args.window)
    if window is None and args.on_large == "full":
        from core.results.blocks import scene_info

        (height, width), _, _ = scene_info(path)
        if height * width > max_pixels:
            run_segment_blocks(args, height, width, max_pixels)
            return
    stage(args, f"reading {path.name}")
    # A window over the limit is reduced only when asked (--on-large reduce), else refused.
    on_large: Literal["reduce", "error"] = "reduce" if args.on_large == "reduce" else "error"
    if window is not None and on_large == "error":
        from core.results.blocks import scene_info

        (height, width), _, _ = scene_info(path)
        rows = max(0, min(window[2], height - window[0]))
        cols = max(0, min(window[3], width - window[1]))
        if rows * cols > max_pixels:
            raise Failure(
                f"--window {args.window} is {cols:,} x {rows:,} = {rows * cols:,} pixels, over "
                f"--max-pixels ({max_pixels:,}). Give a smaller --window, a larger "
                "--max-pixels, or --on-large reduce to read it reduced; without --window the "
                "whole scene is labelled at full resolution by blocks."
            )
    raster = open_raster(path, max_pixels=max_pixels, window=window, on_large=on_large)
    if raster.note and not args.quiet:
        print(f"kseg: note: {' '.join(raster.note.split())}")
    mask: Any = "auto" if args.ignore_transparent else None
    if args.mask is not None:
        from core.inputs.masking import read_mask_file

        given = read_mask_file(args.mask)
        if given.shape != raster.valid.shape:
            raise ValueError(
                f"The mask '{args.mask.name}' is {given.shape[1]} x {given.shape[0]}, but the "
                f"raster is read at {raster.width} x {raster.height}. Give a mask of that size."
            )
        mask = given & raster.valid if args.ignore_transparent else given
    indices = [i.strip().lower() for i in args.indices.split(",") if i.strip()]
    for option, text in (("--bands", args.bands), ("--rgb", args.rgb)):
        _check_band_numbers(option, text, raster.n_bands, path.name)
    stage(args, f"clustering {raster.width * raster.height:,} pixels into k = {args.k}")
    seg = segment_raster(
        raster,
        args.k,
        bands=band_list(args.bands),
        indices=indices,
        rgb=band_list(args.rgb),
        mask=mask,
        seed=args.seed,
        n_init=args.n_init,
        max_iter=args.max_iter,
        tol=args.tol,
        fit_pixels=args.fit_pixels,
    )
    if args.sieve > 1 or args.majority > 1:
        seg = seg.cleaned(min_pixels=max(args.sieve, 1), majority_size=max(args.majority, 1))
    out = args.output if args.output is not None else Path(f"{path.stem}_k{args.k}")
    # Polygons of single pixels would make the GeoJSON huge: sieve them first.
    stage(args, f"writing {out}")
    files = write_raster(
        seg,
        out,
        recipe=raster_recipe(seg, image_name=path.name, command=_command(args)),
        polygons=not args.no_polygons,
        polygon_min_pixels=max(args.sieve, POLYGON_MIN_PIXELS),
    )
    if getattr(args, "report", False):
        from core.outputs.report import html_report

        notes = [" ".join(raster.note.split())] if raster.note else []
        page = html_report(
            seg, title=f"kseg: {path.name}, k = {seg.k}", command=_command(args), notes=notes
        )
        files += write_files(out, {"report.html": page.encode("utf-8")})
    if args.quiet:
        return
    size_x, size_y = raster.geo.pixel_size
    print(
        f"{path.name}: {raster.width} x {raster.height} px, {raster.n_bands} bands "
        f"({raster.dtype}), {raster.geo.crs_name}, pixel {size_x:g} x {size_y:g}; "
        f"{seg.counts.sum():,} pixels with data; features {', '.join(seg.feature_names)}; "
        f"k = {seg.k}"
    )
    print(_area_table(seg))
    print(
        f"WCSS {seg.wcss:.6g}, {plural(seg.n_iter, 'iteration')} on every pixel"
        f"{'; ' + seg.cleanup if seg.cleanup else ''}, {seg.elapsed:.2f} s"
    )
    print(f"wrote {len(files)} files to {out}: {', '.join(files)}")


#: Options that need the whole scene in memory: the block path refuses them, with advice.
_IN_MEMORY_ONLY = (
    ("mask", "--mask"),
    ("fit_pixels", "--fit-pixels"),
    ("report", "--report"),
)


def run_segment_blocks(args: argparse.Namespace, height: int, width: int, max_pixels: int) -> None:
    """``kseg segment scene.tif`` over the in-memory limit: every pixel labelled, by blocks.

    :func:`core.outputs.geotiff_blocks.segment_raster_blocks` writes the label GeoTIFF (tiled,
    with overviews), the recoloured COG and the areas, renamed here to the names of an
    in-memory run (``labels.tif``, ``segmented.tif``, ``areas.csv``, the one areas table),
    plus ``recipe.json``.
    """
    import json
    import random

    from core.formats.tables import area_rows, areas_csv
    from core.outputs.geotiff_blocks import segment_raster_blocks

    path = Path(args.image)
    asked = [flag for name, flag in _IN_MEMORY_ONLY if getattr(args, name, None)]
    asked += [f"--{name}" for name in ("sieve", "majority") if getattr(args, name) > 1]
    if asked:
        raise Failure(
            f"'{path.name}' is {width:,} x {height:,} pixels, over --max-pixels "
            f"({max_pixels:,}), so it is labelled at full resolution by blocks, where "
            f"{', '.join(asked)} is not available. Add --on-large reduce (a reduced read in "
            "memory), --window ROW,COL,HEIGHT,WIDTH, or a larger --max-pixels."
        )
    n_bands = _band_count(path)
    for option, text in (("--bands", args.bands), ("--rgb", args.rgb)):
        _check_band_numbers(option, text, n_bands, path.name)
    indices = [i.strip().lower() for i in args.indices.split(",") if i.strip()]
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    out = args.output if args.output is not None else Path(f"{path.stem}_k{args.k}")
    stage(
        args,
        f"labelling {width:,} x {height:,} pixels at full resolution by blocks "
        f"(over --max-pixels {max_pixels:,}; --on-large reduce reads it reduced)",
    )
    options: dict[str, Any] = {
        "bands": band_list(args.bands),
        "indices": indices,
        "rgb": band_list(args.rgb),
        "seed": seed,
        "n_init": args.n_init,
        "max_iter": args.max_iter,
        "tol": args.tol,
    }
    try:
        if args.scheduler is not None:
            from core.cli.scheduler import connect_scheduler

            with connect_scheduler(args.scheduler) as client:
                result = segment_raster_blocks(path, args.k, out_dir=out, client=client, **options)
        else:
            result = segment_raster_blocks(
                path, args.k, out_dir=out, n_workers=args.workers, **options
            )
    except OSError as e:
        from core.cli.outputs import describe_os_error

        raise Failure(
            describe_os_error(e, f"Choose another output folder with -o (was '{out}').")
        ) from e
    written = []
    for file in result.files:
        name = (
            file.name[len(path.stem) + 1 :] if file.name.startswith(path.stem + "_") else file.name
        )
        for sidecar in file.parent.glob(file.name + ".*"):  # labels.tif.aux.xml, .ovr
            sidecar.replace(out / (name + sidecar.name[len(file.name) :]))
        file.replace(out / name)
        written.append(name)
    rows = area_rows(
        result.counts.tolist(),
        result.hex_colors,
        areas_m2=None if result.areas_m2 is None else result.areas_m2.tolist(),
    )
    recipe = {
        "image": path.name,
        "k": result.k,
        "resolution": "full, by blocks",
        "method": result.method,
        "feature_names": list(result.feature_names),
        "seed": seed,
        "n_init": args.n_init,
        "max_iter": args.max_iter,
        "tol": args.tol,
        "wcss": result.wcss,
        "n_iter": result.n_iter,
        "converged": result.converged,
        "classes": rows,
        "command": _command(args, seed=seed),
    }
    files = write_files(
        out,
        {
            "areas.csv": areas_csv(rows).encode("utf-8"),
            "recipe.json": (json.dumps(recipe, indent=2) + "\n").encode("utf-8"),
        },
    )
    written = [n for n in written if n != "areas.csv"] + files
    if args.quiet:
        return
    print(
        f"{path.name}: {width} x {height} px, full resolution by blocks "
        f"({plural(result.n_windows, 'window')}, fit: {result.method}); "
        f"{result.n_valid:,} pixels with data; features {', '.join(result.feature_names)}; "
        f"k = {result.k}"
    )
    print(class_table(rows, areas=result.areas_m2 is not None))
    print(f"WCSS {result.wcss:.6g}, {plural(result.n_iter, 'iteration')}, {result.elapsed:.2f} s")
    print(f"wrote {len(written)} files to {out}: {', '.join(written)}")
    if not args.no_polygons:
        print("kseg: note: no polygons for a scene labelled by blocks (vectorize labels.tif)")


def _band_count(path: Path) -> int:
    import rasterio

    with rasterio.open(path) as src:
        return int(src.count)


def _area_table(seg: Any) -> str:
    return class_table(seg.area_table(), areas=seg.areas_m2 is not None)


def _command(args: argparse.Namespace, *, seed: int | None = None) -> str:
    """The ``kseg segment`` command that reproduces a raster result (`seed`: the one drawn
    for ``--seed random``)."""
    import shlex

    seed = args.seed if seed is None else seed
    command = ["kseg", "segment", Path(args.image).name, "-k", str(args.k)]
    command += ["--seed", "random" if seed is None else str(seed)]
    command += ["--n-init", str(args.n_init), "--max-iter", str(args.max_iter)]
    command += ["--tol", str(args.tol)]
    for flag in ("bands", "indices", "rgb", "window", "fit_pixels"):
        value = getattr(args, flag, None)
        if value:
            command += [f"--{flag.replace('_', '-')}", str(value)]
    if args.sieve > 1:
        command += ["--sieve", str(args.sieve)]
    if args.majority > 1:
        command += ["--majority", str(args.majority)]
    if args.no_polygons:
        command.append("--no-polygons")
    if getattr(args, "on_large", "full") != "full":
        command += ["--on-large", args.on_large]
    if getattr(args, "max_pixels", None):
        command += ["--max-pixels", str(args.max_pixels)]
    if args.mask is not None:
        command += ["--mask", args.mask.name]
    if not args.ignore_transparent:
        command.append("--no-ignore-transparent")
    return shlex.join(command)
