"""The one table of areas every face writes: ``areas.csv``, the same columns everywhere.

``kseg segment`` (photo or GeoTIFF), ``kseg batch``, ``kseg apply`` and the dashboard's
downloads all write :func:`areas_csv` and read back with :func:`read_areas_csv`:

=============  ==========================================================================
column         meaning
=============  ==========================================================================
``file``       collections only: the image, as a name relative to the input
``class``      class number (0 = the largest at fit time), as in the label image
``name``       the class's name (``"cluster 3"`` until it is named)
``hex``        the class's colour, ``#rrggbb``
``pixels``     pixels of the class that count (no-data and dropped classes left out)
``share``      pixels / all pixels that count, a plain decimal in [0, 1] (6 decimals)
``area_m2``    ground area in m² (2 decimals), when a pixel size is known
``area_ha``    the same in hectares (6 decimals)
``area_basis`` how the area was measured: ``ellipsoid`` (on WGS 84), ``plane`` (the map
               projection's plane) or ``pixel size`` (pixels × a given pixel size)
=============  ==========================================================================

The area columns are present when any row has an area. Files written before 0.2.0 read back
too: ``palette.csv`` (``cluster,hex,r,g,b,pixels,share``), a raster's ``*_areas.csv``
(``class,color,…``) and batch ``areas.csv`` (``file,cluster,hex,…``).
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

__all__ = ["AREA_COLUMNS", "area_rows", "areas_csv", "default_class_name", "read_areas_csv"]

#: Every column :func:`areas_csv` can write, in order.
AREA_COLUMNS: Final = (
    "file",
    "class",
    "name",
    "hex",
    "pixels",
    "share",
    "area_m2",
    "area_ha",
    "area_basis",
)
_AREA_ONLY: Final = ("area_m2", "area_ha", "area_basis")
# Old column names -> today's (files written before 0.2.0).
_OLD_NAMES: Final = {"cluster": "class", "color": "hex"}


def default_class_name(cluster: int) -> str:
    """The name of a class nobody named: ``"cluster 3"``.

    Examples
    --------
    >>> default_class_name(3)
    'cluster 3'
    """
    return f"cluster {cluster}"


def area_rows(
    counts: Sequence[int],
    hex_colors: Sequence[str],
    *,
    names: Sequence[str] | None = None,
    classes: Sequence[int] | None = None,
    areas_m2: Sequence[float | None] | None = None,
    area_basis: str | None = None,
    file: str | None = None,
) -> list[dict[str, Any]]:
    """One row per class, with the share of the pixels that count.

    Parameters
    ----------
    counts : sequence of int
        Pixels per class (only pixels that count).
    hex_colors : sequence of str
        ``#rrggbb`` per class.
    names : sequence of str, optional
        Class names; default :func:`default_class_name` of the class number.
    classes : sequence of int, optional
        Class numbers, when not ``0 .. n - 1`` (classes left out keep their numbers).
    areas_m2 : sequence of float or None, optional
        Ground area per class in m².
    area_basis : str, optional
        How the areas were measured (see the module docstring).
    file : str, optional
        The image, for a collection's table.

    Returns
    -------
    list of dict
        Keys from :data:`AREA_COLUMNS`; ``file`` only when given, the area keys only with
        `areas_m2`.

    Examples
    --------
    >>> area_rows([3, 1], ["#000000", "#ffffff"])[1]
    {'class': 1, 'name': 'cluster 1', 'hex': '#ffffff', 'pixels': 1, 'share': 0.25}
    """
    numbers = list(range(len(counts))) if classes is None else [int(c) for c in classes]
    total = sum(int(c) for c in counts)
    rows = []
    for i, (number, count, color) in enumerate(zip(numbers, counts, hex_colors, strict=True)):
        row: dict[str, Any] = {} if file is None else {"file": file}
        row["class"] = number
        row["name"] = default_class_name(number) if names is None else names[i]
        row["hex"] = color
        row["pixels"] = int(count)
        row["share"] = int(count) / total if total else 0.0
        if areas_m2 is not None:
            area = areas_m2[i]
            known = area is not None and math.isfinite(area)
            row["area_m2"] = float(area) if known else None  # type: ignore[arg-type]
            row["area_ha"] = float(area) / 10_000 if known else None  # type: ignore[arg-type]
            row["area_basis"] = area_basis if known else None
        rows.append(row)
    return rows


def _cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    if column == "share":
        return f"{float(value):.6f}"
    if column == "area_m2":
        return f"{float(value):.2f}"
    if column == "area_ha":
        return f"{float(value):.6f}"
    return str(value)


def areas_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    """The rows of :func:`area_rows` as CSV text, plain decimals, no total row.

    The ``file`` column is written when the rows have it; the area columns when any row
    has an area.

    Examples
    --------
    >>> print(areas_csv(area_rows([3, 1], ["#000000", "#ffffff"])), end="")
    class,name,hex,pixels,share
    0,cluster 0,#000000,3,0.750000
    1,cluster 1,#ffffff,1,0.250000
    """
    rows = list(rows)
    with_file = any("file" in row for row in rows)
    with_areas = any(row.get("area_m2") is not None for row in rows)
    columns = [
        c
        for c in AREA_COLUMNS
        if (c != "file" or with_file) and (c not in _AREA_ONLY or with_areas)
    ]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(c, row.get(c)) for c in columns])
    return buffer.getvalue()


def read_areas_csv(source: str | os.PathLike[str] | bytes) -> list[dict[str, Any]]:
    """Read an ``areas.csv`` (or a table an earlier kseg wrote) into rows of today's keys.

    Parameters
    ----------
    source : str, path-like or bytes
        A path, or the file's bytes.

    Returns
    -------
    list of dict
        Keys from :data:`AREA_COLUMNS` that the file has (old names mapped: ``cluster`` ->
        ``class``, ``color`` -> ``hex``); numbers as int or float, empty cells as None.

    Raises
    ------
    ValueError
        If the text has no ``class``/``cluster`` and ``pixels`` columns.

    Examples
    --------
    >>> read_areas_csv(b"cluster,hex,r,g,b,pixels,share\\n0,#000000,0,0,0,3,0.75\\n")
    [{'class': 0, 'hex': '#000000', 'pixels': 3, 'share': 0.75}]
    """
    if isinstance(source, bytes):
        text = source.decode("utf-8")
    else:
        with open(source, encoding="utf-8", newline="") as f:
            text = f.read()
    reader = csv.DictReader(io.StringIO(text))
    fields = [_OLD_NAMES.get(f, f) for f in reader.fieldnames or []]
    if "class" not in fields or "pixels" not in fields:
        raise ValueError(
            f"not a kseg areas table: columns {', '.join(reader.fieldnames or []) or 'none'}; "
            "expected class (or cluster) and pixels."
        )
    rows = []
    for raw in reader:
        row: dict[str, Any] = {}
        for key, value in raw.items():
            key = _OLD_NAMES.get(key, key)
            if key not in AREA_COLUMNS:
                continue  # r, g, b of an old palette.csv
            if value in ("", None):
                row[key] = None
            elif key in ("class", "pixels"):
                row[key] = int(value)
            elif key in ("share", "area_m2", "area_ha"):
                row[key] = float(value)
            else:
                row[key] = value
        rows.append(row)
    return rows
