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
from typing import Any

import numpy as np

from core.cli.args import non_negative_int, plural
from core.cli.outputs import class_table, raster_recipe, write_raster

__all__ = [
    "POLYGON_MIN_PIXELS",
    "add_mask_options",
    "add_raster_options",
    "mask_options",
    "photo_mask",
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
        "--no-polygons",
        action="store_true",
        help="do not write the GeoJSON polygons (written by default, regions under 9 "
        "pixels or --sieve merged first)",
    )


def _band_list(text: str | None) -> list[int | str] | None:
    if text is None:
        return None
    bands: list[int | str] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if item.isdigit():
            if int(item) < 1:
                raise ValueError(f"Band numbers start at 1 (as in GDAL), got {item}.")
            bands.append(int(item) - 1)
        else:
            bands.append(item)
    return bands


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
    raster = open_raster(
        path, max_pixels=args.max_pixels or DEFAULT_MAX_PIXELS, window=_window(args.window)
    )
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
    seg = segment_raster(
        raster,
        args.k,
        bands=_band_list(args.bands),
        indices=indices,
        rgb=_band_list(args.rgb),
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
    files = write_raster(
        seg,
        out,
        recipe=raster_recipe(seg, image_name=path.name, command=_command(args)),
        polygons=not args.no_polygons,
        polygon_min_pixels=max(args.sieve, POLYGON_MIN_PIXELS),
    )
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


def _area_table(seg: Any) -> str:
    return class_table(seg.area_table(), areas=seg.areas_m2 is not None)


def _command(args: argparse.Namespace) -> str:
    """The ``kseg segment`` command that reproduces a raster result."""
    import shlex

    command = ["kseg", "segment", Path(args.image).name, "-k", str(args.k)]
    command += ["--seed", "random" if args.seed is None else str(args.seed)]
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
    if args.mask is not None:
        command += ["--mask", args.mask.name]
    if not args.ignore_transparent:
        command.append("--no-ignore-transparent")
    return shlex.join(command)
