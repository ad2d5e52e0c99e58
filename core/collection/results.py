"""Per-image rows and the collection's result: shares, areas and the tables written from them."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.collection.palette import CollectionModel
from core.deprecation import DeprecatedAlias
from core.formats import tables
from core.formats.tables import area_rows


@dataclass(frozen=True)
class ImageResult:
    """One image of a collection run: its size, pixels per cluster, outputs, or its error.

    Attributes
    ----------
    index : int
        Position of the image in the sources.
    file : str
        Its path or name.
    width, height : int
        Size in pixels (0 when it could not be read).
    counts : tuple of int
        Pixels per cluster, in palette order (empty on error).
    hex_colors : tuple of str
        The colours of the classes these counts refer to (the shared model's, or the
        image's own clusters with ``per_image=True``).
    names : tuple of str
        The names of those classes (the model's :attr:`~core.ClassModel.class_names`);
        empty: ``"cluster i"``.
    error : str or None
        Why the image could not be used, for a person; None on success.
    areas_m2 : tuple of float
        Ground area per cluster in m², from a georeferenced raster's CRS and transform
        (each row's own pixel area in a geographic CRS); empty for other images.
    area_basis : str or None
        How `areas_m2` was measured (``"ellipsoid"`` or ``"plane"``); None without areas.
    outputs : dict of str to str
        Files written for this image (``segmented``, ``labels``, ``masks``, ``polygons``).
    elapsed : float
        Seconds spent on the image (reading, labelling, writing).
    """

    index: int
    file: str
    width: int
    height: int
    counts: tuple[int, ...] = ()
    hex_colors: tuple[str, ...] = ()
    error: str | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    elapsed: float = 0.0
    areas_m2: tuple[float, ...] = ()
    area_basis: str | None = None
    names: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the image was read and labelled."""
        return self.error is None

    @property
    def n_pixels(self) -> int:
        return self.width * self.height

    @property
    def shares(self) -> tuple[float, ...]:
        """Share of the image's pixels that count, per class (they sum to 1)."""
        total = sum(self.counts)
        return tuple(c / total for c in self.counts) if total else ()

    fractions = DeprecatedAlias("shares")

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "file": self.file,
            "width": self.width,
            "height": self.height,
            "counts": list(self.counts),
            "hex_colors": list(self.hex_colors),
            "error": self.error,
            "outputs": dict(self.outputs),
            "elapsed": self.elapsed,
            "areas_m2": list(self.areas_m2),
            "area_basis": self.area_basis,
            "names": list(self.names),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ImageResult:
        return cls(
            index=int(data["index"]),
            file=str(data["file"]),
            width=int(data["width"]),
            height=int(data["height"]),
            counts=tuple(int(c) for c in data["counts"]),
            hex_colors=tuple(str(h) for h in data["hex_colors"]),
            error=data["error"],
            outputs={str(a): str(b) for a, b in data["outputs"].items()},
            elapsed=float(data["elapsed"]),
            areas_m2=tuple(float(a) for a in data.get("areas_m2", ())),
            area_basis=data.get("area_basis"),
            names=tuple(str(n) for n in data.get("names", ())),
        )


@dataclass(frozen=True)
class CollectionResult:
    """The table a collection run produces: a model and one row per image, in input order.

    Attributes
    ----------
    palette : CollectionModel or None
        The shared model, a :class:`core.ClassModel` (None with ``per_image=True`` or when
        no image could be read).
    rows : tuple of ImageResult
        One per source, in the order given, errors included.
    pixel_size : float or None
        Ground size of a pixel in metres, when given: areas are then reported.
    elapsed : float
        Seconds for the whole run.
    timings : dict of str to float
        Seconds per stage (``fit``, ``labels``).
    traffic : dict
        On a Dask cluster: ``task_bytes`` (tasks sent through the scheduler),
        ``result_bytes`` (results gathered by the client), ``between_workers_bytes``
        (histograms moved from worker to worker during the run) and ``peak_rss_per_worker``
        (bytes, each worker's peak resident memory so far). Empty in process.
    """

    palette: CollectionModel | None
    rows: tuple[ImageResult, ...]
    pixel_size: float | None = None
    elapsed: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    traffic: dict[str, Any] = field(default_factory=dict)

    @property
    def model(self) -> CollectionModel | None:
        """:attr:`palette` by the name every result type uses: the shared model."""
        return self.palette

    @property
    def errors(self) -> tuple[ImageResult, ...]:
        """Rows of the images that could not be used."""
        return tuple(row for row in self.rows if not row.ok)

    @property
    def ok(self) -> tuple[ImageResult, ...]:
        """Rows of the images that were labelled."""
        return tuple(row for row in self.rows if row.ok)

    def areas(self) -> list[dict[str, Any]]:
        """One record per (image, cluster): file, cluster, hex, pixels, share, areas."""
        return area_records(self.ok, self.pixel_size)

    def areas_csv(self) -> str:
        """:meth:`areas` as CSV text (``area_m2``/``area_ha`` only with a pixel size)."""
        return areas_csv(self.ok, self.pixel_size)

    def errors_csv(self) -> str:
        """``file,error`` CSV of the images that could not be used."""
        return errors_csv(self.errors)


def area_records(rows: Iterable[ImageResult], pixel_size: float | None) -> list[dict[str, Any]]:
    """Long table of areas: one record per (image, class), images in the order given.

    Parameters
    ----------
    rows : iterable of ImageResult
        Successful rows (error rows are skipped).
    pixel_size : float or None
        Side of a pixel in metres; adds ``area_m2``, ``area_ha`` and ``area_basis``. Without
        it, the areas of georeferenced rasters (:attr:`ImageResult.areas_m2`) fill those
        columns (blank for the other images).

    Returns
    -------
    list of dict
        The columns of :func:`core.formats.tables.areas_csv`, ``file`` first.
    """
    rows = [row for row in rows if row.ok]
    with_areas = _has_areas(rows, pixel_size)
    records = []
    for row in rows:
        areas, basis = None, None
        if with_areas:
            areas = [_area_m2(row, i, pixel_size) for i in range(len(row.counts))]
            basis = "pixel size" if pixel_size is not None else row.area_basis
        records += area_rows(
            row.counts,
            row.hex_colors,
            names=row.names or None,
            areas_m2=areas,
            area_basis=basis,
            file=row.file,
        )
    return records


def _has_areas(rows: Sequence[ImageResult], pixel_size: float | None) -> bool:
    """Whether the table has area columns: a pixel size, or a georeferenced image."""
    return pixel_size is not None or any(row.areas_m2 for row in rows if row.ok)


def _area_m2(row: ImageResult, cluster: int, pixel_size: float | None) -> float | None:
    """Ground area of a cluster in an image: pixels × the given pixel size, else the
    raster's own areas, else unknown."""
    if pixel_size is not None:
        return row.counts[cluster] * pixel_size * pixel_size
    if row.areas_m2:
        return row.areas_m2[cluster]
    return None


def areas_csv(rows: Iterable[ImageResult], pixel_size: float | None) -> str:
    """CSV text of :func:`area_records` (:func:`core.formats.tables.areas_csv`)."""
    return tables.areas_csv(area_records(rows, pixel_size))


def errors_csv(rows: Iterable[ImageResult]) -> str:
    """``file,error`` CSV text of the rows that failed."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["file", "error"])
    for row in rows:
        if not row.ok:
            writer.writerow([row.file, row.error])
    return buffer.getvalue()


def outputs_zip(out: str | os.PathLike) -> bytes:
    """The files of a run's output folder (written by :func:`segment_collection`) as a ZIP.

    The ``rows/`` bookkeeping for `resume` is left out.
    """
    import zipfile

    folder = Path(out)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(folder)
            if path.is_file() and relative.parts[0] != "rows" and not path.name.startswith("."):
                archive.write(path, relative.as_posix())
    return buffer.getvalue()


def shares_figure(result: CollectionResult) -> Any:
    """Stacked horizontal bars: each image's share of every cluster (Plotly figure).

    One trace per cluster, coloured with the palette, one bar per readable image, in input
    order from the top.
    """
    import plotly.graph_objects as go

    rows = result.ok
    names = [Path(row.file).name for row in rows]
    n_clusters = max((len(row.counts) for row in rows), default=0)
    figure = go.Figure()
    for cluster in range(n_clusters):
        shares = [100 * row.shares[cluster] for row in rows]
        colors = [row.hex_colors[cluster] for row in rows]
        figure.add_trace(
            go.Bar(
                x=shares,
                y=names,
                orientation="h",
                name=f"cluster {cluster}",
                marker={"color": colors, "line": {"color": "#444", "width": 0.5}},
                hovertemplate="%{y}: %{x:.1f} %<extra>cluster " + str(cluster) + "</extra>",
            )
        )
    figure.update_layout(
        barmode="stack",
        xaxis={"title": "share of the image's pixels (%)", "range": [0, 100]},
        yaxis={"autorange": "reversed", "type": "category"},
        height=120 + 28 * len(rows),
        margin={"l": 10, "r": 10, "t": 30, "b": 40},
        showlegend=False,
        title="Cluster shares per image",
    )
    return figure
