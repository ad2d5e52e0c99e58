"""``kseg classes`` (name, merge and drop a model's clusters) and ``kseg apply`` of any model.

::

    kseg classes out/model.json                          print the class table
    kseg classes out/model.json --group water=0,3 --group forest=1 --drop 5 -o named.json
    kseg classes named.json --rename "cluster 2=meadow" -o named.json
    kseg apply named.json scene2.tif -o scene2/          one input: segment's layout
    kseg apply named.json tiles/ -o tiles_out/           several: batch's layout

``--group`` and ``--drop`` are :meth:`core.ClassModel.with_classes` (the classes are built
from the clusters again), ``--rename`` is :meth:`core.ClassModel.rename`, applied after.
A model is any ``model.json`` kseg writes (``kseg segment``, ``kseg batch``, the dashboard,
:meth:`core.ClassModel.save`) or a ``palette.json`` of an earlier kseg. Every mistake (a file
that is not a model, from a newer kseg, a cluster out of range or in two groups, an empty or
repeated name, an input without the bands a model needs) is one ``kseg: error:`` line, exit
2, and nothing written.
"""

from __future__ import annotations

import argparse
import json
import shlex
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from core.cli.args import Failure, output_path
from core.cli.outputs import (
    class_table,
    listing,
    photo_files,
    write_files,
    write_raster,
)
from core.cli.raster import POLYGON_MIN_PIXELS

if TYPE_CHECKING:
    from core.results.classmodel import ClassModel
    from core.results.raster_segmentation import RasterSegmentation
    from core.results.segmentation import Segmentation

__all__ = [
    "add_parsers",
    "apply_each",
    "apply_one",
    "model_table",
    "read_model",
    "run_classes",
]

_CLASSES_EPILOG = """\
examples:
  kseg classes out/model.json                             print the classes
  kseg classes out/model.json --group water=0,3 --group forest=1 --drop 5 -o named.json
  kseg classes named.json --rename "cluster 2=meadow" -o named.json
clusters are numbered as the fit numbers them (0 = the largest); --group and --drop build
the classes from the clusters again: every cluster neither grouped nor dropped keeps a
class of its own, named "cluster N".
"""


def add_parsers(commands: Any) -> None:
    """Register ``classes`` on the ``kseg`` subparsers (see :func:`core.cli.build_parser`)."""
    cls = commands.add_parser(
        "classes",
        help="name, merge and drop the classes of a model.json",
        description="Print the classes of MODEL (a model.json written by kseg), or edit them:\n"
        "merge clusters into named classes, drop clusters, rename a class. Writes the edited\n"
        "model with -o; 'kseg apply' classifies images with it.",
        epilog=_CLASSES_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cls.add_argument("model", type=Path, metavar="MODEL", help="a model.json (or palette.json)")
    cls.add_argument(
        "--group",
        action="append",
        default=[],
        metavar="NAME=CLUSTERS",
        help="a class NAME holding these clusters, e.g. water=0,3 (repeat for more classes)",
    )
    cls.add_argument(
        "--drop",
        action="append",
        default=[],
        metavar="CLUSTERS",
        help="clusters whose pixels do not count, e.g. 5 or 5,6 (left out of shares and "
        "areas, transparent in images)",
    )
    cls.add_argument(
        "--rename",
        action="append",
        default=[],
        metavar="OLD=NEW",
        help="rename one class (by name or number), after any --group/--drop",
    )
    cls.add_argument(
        "-o",
        "--output",
        type=output_path,
        default=None,
        metavar="NEW_JSON",
        help="write the edited model here (may be MODEL itself)",
    )
    cls.set_defaults(run=run_classes)


def read_model(path: Path) -> ClassModel:
    """The model in `path`: a :class:`core.ClassModel`, or for a colour model fitted on a
    collection (or an old ``palette.json``) a :class:`core.collection.CollectionModel`
    (its band mapping kept).

    Raises
    ------
    Failure
        If the file is missing, unreadable, not a model, from a newer kseg, or damaged.
    """
    from core.collection.palette import CollectionModel
    from core.results.classmodel import ClassModel

    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise Failure(f"The model file '{path}' was not found. Check the path.") from None
    except OSError as e:
        raise Failure(f"The model file '{path}' could not be read ({e.strerror}).") from None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError):
        data = None
    try:
        if isinstance(data, dict) and (
            data.get("format") == "kseg-palette"
            or (isinstance(data.get("fit"), dict) and _kind(data) == "color")
        ):
            return CollectionModel.from_json(text)
        return ClassModel.from_json(text)
    except ValueError as e:
        raise Failure(f"'{path}': {e}") from None


def _kind(data: dict[str, Any]) -> Any:
    features = data.get("features")
    return features.get("kind") if isinstance(features, dict) else None


def _clusters(text: str, where: str) -> list[int]:
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        raise Failure(f"{where} lists no cluster: give cluster numbers like 0,3.")
    try:
        return [int(part) for part in parts]
    except ValueError:
        raise Failure(
            f"{where}: {text!r} is not a list of cluster numbers (whole numbers like 0,3)."
        ) from None


def _pair(text: str, option: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep:
        example = "water=0,3" if option == "--group" else "'cluster 2=meadow'"
        raise Failure(f"{option} takes NAME=VALUE, e.g. {option} {example}; got {text!r}.")
    return name, value


def edit_model(
    model: ClassModel,
    groups: Sequence[str] = (),
    drops: Sequence[str] = (),
    renames: Sequence[str] = (),
) -> ClassModel:
    """`model` with the command line's ``--group``, ``--drop`` and ``--rename`` applied.

    Raises
    ------
    Failure
        If an option is malformed.
    ValueError
        As :meth:`core.ClassModel.with_classes` and :meth:`~core.ClassModel.rename` (a
        cluster out of range or in two groups, an empty or repeated name).
    """
    if groups or drops:
        mapping: dict[str, list[int]] = {}
        for text in groups:
            name, members = _pair(text, "--group")
            if name.strip() in mapping:
                raise ValueError(
                    f"Two --group options name the class {name.strip()!r}: list all its "
                    f"clusters in one, e.g. --group {name.strip()}=0,3."
                )
            mapping[name.strip() if name.strip() else name] = _clusters(members, f"--group {name}")
        dropped = [c for text in drops for c in _clusters(text, "--drop")]
        model = model.with_classes(mapping, drop=dropped)
    for text in renames:
        old, new = _pair(text, "--rename")
        target: str | int = int(old) if old.strip().isdigit() else old
        model = model.rename(target, new)
    return model


def model_table(model: ClassModel) -> str:
    """The classes of `model` as text: class, name, colour, share (of the fit's pixels,
    when known) and clusters; then the dropped clusters."""
    header = ("class", "name", "colour", "share", "clusters")
    lines = [
        (
            str(row["class"]),
            str(row["name"]),
            str(row["color"]),
            "-" if row["share"] is None else f"{100 * row['share']:.1f}%",
            ", ".join(map(str, row["clusters"])),
        )
        for row in model.class_table()
    ]
    widths = [max(len(cells[c]) for cells in [header, *lines]) for c in range(len(header))]
    align = (str.rjust, str.ljust, str.ljust, str.rjust, str.ljust)
    text = [
        "  ".join(a(cell, w) for a, cell, w in zip(align, cells, widths, strict=True)).rstrip()
        for cells in [header, *lines]
    ]
    if model.dropped:
        text.append(f"dropped: cluster(s) {', '.join(map(str, model.dropped))} (do not count)")
    return "\n".join(text)


def run_classes(args: argparse.Namespace) -> None:
    """``kseg classes MODEL [--group NAME=C,...] [--drop C] [--rename OLD=NEW] [-o NEW]``."""
    model = read_model(args.model)
    edited = edit_model(model, args.group, args.drop, args.rename)
    print(
        f"{args.model.name}: k = {edited.k} clusters of {edited.features.describe()} "
        f"({', '.join(edited.axes)}), {edited.n_classes} classes"
    )
    print(model_table(edited))
    if args.output is not None:
        write_files(args.output.parent, {args.output.name: (edited.to_json() + "\n").encode()})
        print(f"wrote {args.output}")


# --- kseg apply: any model ------------------------------------------------------------------


def apply_recipe(
    result: Segmentation | RasterSegmentation, *, model_path: Path, image: str, out: Path
) -> str:
    """recipe.json of an applied model: the model file, the classes and the command."""
    from core.version import __version__

    names = result.class_names or ()
    record = {
        "kseg_version": __version__,
        "image": {"name": Path(image).name},
        "model": model_path.name,
        "result": {
            "names": list(names),
            "palette": result.hex_colors,
            "shares": [round(float(f), 6) for f in result.shares],
            "wcss": float(result.wcss),
        },
        "command": shlex.join(["kseg", "apply", str(model_path), image, "-o", str(out)]),
    }
    return json.dumps(record, indent=2)


def apply_one(
    model: ClassModel, image: str, out: Path, *, model_path: Path, quiet: bool = False
) -> list[str]:
    """``kseg apply MODEL IMAGE -o OUT`` for one photo or GeoTIFF: classify it and write
    what ``kseg segment`` writes (labels, segmented, areas.csv, model.json, recipe.json …)
    into `out`. Nothing is written when the model cannot classify the image."""
    from core.results.classify import apply
    from core.results.raster_segmentation import RasterSegmentation

    started = time.perf_counter()
    result = apply(model, image)
    recipe = apply_recipe(result, model_path=model_path, image=image, out=out)
    if isinstance(result, RasterSegmentation):
        written = write_raster(
            result, out, recipe=recipe, polygons=True, polygon_min_pixels=POLYGON_MIN_PIXELS
        )
        rows = result.area_table()
        areas = result.areas_m2 is not None
    else:
        from core.formats.tables import area_rows

        written = write_files(out, photo_files(result, recipe))
        rows = area_rows(result.counts.tolist(), result.hex_colors, names=result.class_names)
        areas = False
    if not quiet:
        print(f"{Path(image).name}: {model.n_classes} classes of {model.features.describe()}")
        print(class_table(rows, areas=areas))
        print(f"{time.perf_counter() - started:.2f} s; wrote {len(written)} files to {out}:")
        print(f"  {listing(written)}")
    return written


def apply_each(
    model: ClassModel,
    files: Sequence[str],
    out: Path,
    *,
    pixel_size: float | None = None,
    polygons: bool = False,
    quiet: bool = False,
) -> None:
    """``kseg apply`` of a band model to several inputs, in this process: batch's layout
    (``labels/NAME.tif``, ``segmented/NAME.tif``, ``polygons/NAME.geojson`` with
    `polygons`, one ``areas.csv`` with ``file``, ``errors.csv``, ``model.json``).

    The first input is classified before anything is written, so a model the inputs cannot
    serve (a band missing) stops with nothing written; a later input that fails becomes a
    row of ``errors.csv``.
    """
    from core.collection.sources import as_sources, output_stems
    from core.formats import tables
    from core.formats.vectors import polygons_json
    from core.results.classify import apply

    # Named and stemmed as a collection run names them (relative to the shared folder).
    items = as_sources(list(files), None)
    names = [item.name for item in items]
    stems = output_stems(items)
    rows: list[dict[str, Any]] = []
    errors: list[tuple[str, str]] = []
    first = apply(model, files[0])  # raises before anything is written
    started = time.perf_counter()
    for i, (path, name, stem) in enumerate(zip(files, names, stems, strict=True)):
        try:
            result = cast("RasterSegmentation", first if i == 0 else apply(model, path))
        except ValueError as e:  # ImageError too: unreadable, or without the model's bands
            errors.append((name, " ".join(str(e).split())))
            continue
        files_out = {
            f"labels/{stem}.tif": result.label_geotiff(),
            f"segmented/{stem}.tif": result.segmented_geotiff(),
        }
        if polygons:
            vectors = result.class_polygons(min_pixels=POLYGON_MIN_PIXELS)
            files_out[f"polygons/{stem}.geojson"] = polygons_json(vectors.geojson())
        write_files(out, files_out)
        table = result.area_table()
        if pixel_size is not None:
            for row in table:
                row["area_m2"] = row["pixels"] * pixel_size * pixel_size
                row["area_ha"] = row["area_m2"] / 10_000
                row["area_basis"] = "pixel size"
        rows += [{"file": name, **row} for row in table]
    outputs = {
        "areas.csv": tables.areas_csv(rows).encode("utf-8"),
        "model.json": (model.to_json() + "\n").encode("utf-8"),
    }
    if errors:
        import csv
        import io

        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["file", "error"])
        writer.writerows(errors)
        outputs["errors.csv"] = buffer.getvalue().encode("utf-8")
    write_files(out, outputs)
    if not quiet:
        print(
            f"classified {len(files) - len(errors)} of {len(files)} input(s) in "
            f"{time.perf_counter() - started:.1f} s; wrote {out / 'areas.csv'}"
        )
    if errors:
        import warnings

        warnings.warn(
            f"{len(errors)} of {len(files)} file(s) could not be classified; they are listed "
            f"in {out / 'errors.csv'}.",
            UserWarning,
            stacklevel=2,
        )
