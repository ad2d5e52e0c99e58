"""What ``kseg segment`` and ``kseg apply`` write for one image, and the tables they print.

One layout for a photo and a GeoTIFF (the README's "Outputs" table)::

    labels.png / labels.tif    the classes (indexed PNG; uint8 GeoTIFF with a colour table,
                               labels.tif.aux.xml with the class names GDAL reads and
                               labels.qml, the QGIS style with names and colours)
    segmented.png / .tif       every pixel in its class's colour
    areas.csv                  class, name, hex, pixels, share (area_m2, area_ha with a CRS)
    model.json                 the classes as a core.ClassModel: edit it with 'kseg classes',
                               reapply it with 'kseg apply'
    recipe.json                parameters, names and the command that reproduces the result
    masks/ (photo)             one black-and-white mask per class
    classes.geojson, classes.gpkg, stats.csv (GeoTIFF)

Every file is written only once the result exists, so an error leaves no folder behind.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.cli.args import Failure

if TYPE_CHECKING:
    from core.results.raster_segmentation import RasterSegmentation
    from core.results.segmentation import Segmentation

__all__ = [
    "class_table",
    "describe_os_error",
    "listing",
    "photo_files",
    "raster_recipe",
    "write_files",
    "write_raster",
]


def describe_os_error(error: OSError, advice: str) -> str:
    """One sentence for an OSError: where, why, and what to do."""
    reason = error.strerror or str(error) or type(error).__name__
    where = f" '{error.filename}'" if error.filename else ""
    return f"Could not use{where}: {reason}. {advice}"


def write_files(out: Path, files: dict[str, bytes]) -> list[str]:
    """Write `files` (names relative to `out`, sub-folders created) atomically.

    Raises
    ------
    Failure
        If the folder or a file cannot be written (the message says which).
    """
    from core.formats.files import write_atomic

    try:
        for name in files:
            (out / name).parent.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            write_atomic(out / name, data)
    except OSError as e:
        raise Failure(
            describe_os_error(e, f"Choose another output folder with -o (was '{out}').")
        ) from e
    return list(files)


def photo_files(result: Segmentation, recipe: str) -> dict[str, bytes]:
    """A photo's outputs by name: labels.png, segmented.png, areas.csv, model.json,
    recipe.json and one mask per class under masks/."""
    from core.formats import tables
    from core.outputs import export

    names = export.class_names(result)
    files: dict[str, bytes] = {
        "labels.png": export.labels_png(result),
        "segmented.png": export.segmented_png(result),
        "areas.csv": tables.areas_csv(
            tables.area_rows(result.counts.tolist(), result.hex_colors, names=names)
        ).encode("utf-8"),
        "model.json": (result.model.to_json() + "\n").encode("utf-8"),
        "recipe.json": recipe.encode("utf-8"),
    }
    for i in range(result.k):
        files[f"masks/{export.mask_file_name(result, i)}"] = export.mask_png(result, i)
    return files


def raster_recipe(seg: RasterSegmentation, *, image_name: str, command: str) -> str:
    """recipe.json of a GeoTIFF result: the scene, parameters, classes and the command."""
    from core.version import __version__

    params = {
        key: (list(value) if isinstance(value, tuple) else value)
        for key, value in seg.params.items()
    }
    record: dict[str, Any] = {
        "kseg_version": __version__,
        "image": {"name": image_name, "height": seg.labels.shape[0], "width": seg.labels.shape[1]},
        "parameters": params,
        "features": list(seg.feature_names),
        "cleanup": seg.cleanup,
        "result": {
            "wcss": float(seg.wcss),
            "n_iter": int(seg.n_iter),
            "converged": bool(seg.converged),
            "palette": seg.hex_colors,
            "names": list(seg.names),
            "shares": [round(float(f), 6) for f in seg.shares],
            "area_basis": seg.area_basis,
        },
        "command": command,
    }
    return json.dumps(record, indent=2, default=str)


def write_raster(
    seg: RasterSegmentation,
    out: Path,
    *,
    recipe: str,
    polygons: bool,
    polygon_min_pixels: int,
    notes: list[str] | None = None,
) -> list[str]:
    """A GeoTIFF result's files (:meth:`RasterSegmentation.write`) plus recipe.json; the
    names written."""
    try:
        written = seg.write(
            out, polygons=polygons, polygon_min_pixels=polygon_min_pixels, notes=notes
        )
    except OSError as e:
        raise Failure(
            describe_os_error(e, f"Choose another output folder with -o (was '{out}').")
        ) from e
    write_files(out, {"recipe.json": recipe.encode("utf-8")})
    return [path.name for path in written] + ["recipe.json"]


def listing(names: Sequence[str]) -> str:
    """``labels.png, segmented.png, areas.csv, masks/ (6)``: folders counted."""
    top = [n for n in names if "/" not in n]
    folders: dict[str, int] = {}
    for n in names:
        if "/" in n:
            folders[n.split("/")[0]] = folders.get(n.split("/")[0], 0) + 1
    return ", ".join([*top, *(f"{f}/ ({c})" for f, c in folders.items())])


def class_table(rows: Sequence[dict[str, Any]], *, areas: bool = False) -> str:
    """Rows of :func:`core.formats.tables.area_rows` (or a model's class table) as aligned
    text: class, name, colour, share, pixels (and area in ha)."""
    header: tuple[str, ...] = ("class", "name", "colour", "share", "pixels")
    if areas:
        header += ("area (ha)",)
    lines = []
    for row in rows:
        share = row.get("share")
        cells: tuple[str, ...] = (
            str(row["class"]),
            str(row["name"]),
            str(row.get("hex") or row.get("color")),
            "-" if share is None else f"{100 * share:.1f}%",
            "-" if row.get("pixels") is None else f"{row['pixels']:,}",
        )
        if areas:
            cells += ("-" if row.get("area_ha") is None else f"{row['area_ha']:,.2f}",)
        lines.append(cells)
    widths = [max(len(cells[c]) for cells in [header, *lines]) for c in range(len(header))]
    align = [str.rjust, str.ljust, str.ljust, str.rjust, str.rjust, str.rjust]
    return "\n".join(
        "  ".join(a(cell, w) for a, cell, w in zip(align, cells, widths, strict=False)).rstrip()
        for cells in [header, *lines]
    )
