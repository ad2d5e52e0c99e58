"""`segment_raster`: k-means land-cover classes of a multiband scene, with areas and GIS outputs.

The raster counterpart of :func:`core.segment`: bands (and indices) in, classes out, every
valid pixel clustered exactly by :func:`core.engine.kmeans_nd.kmeans_features`, no-data left out
(label ``-1``) of the clustering, the shares and the areas. The result writes what a GIS
user opens on top of the scene: a label GeoTIFF with a colour table, the segmented RGB as
GeoTIFF, the class polygons (GeoPackage in the scene's CRS, GeoJSON in WGS 84), a class-area
table in m² and hectares (on the ellipsoid by default, ``area_basis`` says), and the mean and
standard deviation of every band and index per class, in the bands' own units.
"""

from __future__ import annotations

import csv
import io
import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from core.deprecation import DeprecatedAlias
from core.engine.kmeans import KMeansResult
from core.engine.kmeans_nd import DEFAULT_SAMPLE_SIZE, kmeans_features, label_features
from core.errors import ImageError
from core.features.bands import feature_bands, spectral_index
from core.formats import tables
from core.formats.geotiff import label_geotiff, rgb_geotiff
from core.formats.vectors import polygons_json
from core.inputs.display import band_positions, stretch_rgb
from core.inputs.geoarea import AreaBasis, PixelAreas
from core.inputs.raster import DEFAULT_MAX_PIXELS, GeoReference, Raster, open_raster
from core.results.classmodel import (
    ClassModel,
    FeatureSpec,
    band_features,
    class_totals,
    regrouped,
)
from core.results.raster_cleanup import class_polygons, majority_filter, sieve_labels

__all__ = ["STATS_COLUMNS", "RasterSegmentation", "class_statistics", "segment_raster"]

#: The columns of :meth:`RasterSegmentation.stats_csv` (one row per class and feature).
STATS_COLUMNS = ("class", "feature", "pixels", "mean", "std")


@dataclass(frozen=True, eq=False)
class RasterSegmentation:
    """The result of :func:`segment_raster`. Classes are numbered by size, largest first.

    Attributes
    ----------
    labels : (H, W) ndarray of int32
        Class of every pixel in ``[0, k)``; ``-1`` where the pixel does not count.
    valid : (H, W) ndarray of bool
        Pixels that were clustered (``labels >= 0``).
    palette : (k, 3) ndarray of uint8
        Mean display colour (:attr:`display`) of each class.
    display : (H, W, 3) ndarray of uint8
        The scene as shown: the RGB bands with a 2–98 % stretch.
    segmented : (H, W, 3) ndarray of uint8
        ``palette[labels]``; black where the pixel does not count (see :attr:`valid`).
    centers : (k, d) ndarray of float64
        Class centres in feature space (standardised features unless ``standardize=False``).
    feature_names : tuple of str
        The features clustered, e.g. ``("blue", "green", "red", "nir", "NDVI")``.
    counts : (k,) ndarray of int64
        Valid pixels per class.
    shares : (k,) ndarray of float64
        Share of the valid pixels per class; sums to 1.
    areas_m2 : (k,) ndarray of float64, or None
        Area per class in m² (None when the raster has no CRS), on :attr:`area_basis`.
    wcss : float
        WCSS of the k-means labels in feature space, over the valid pixels (before any
        clean-up).
    n_iter : int
    converged : bool
    k : int
    geo : GeoReference
    row_areas : (H,) ndarray of float64, or None
        The area of a pixel of each row, when one value per row suffices (see
        :attr:`pixel_areas`).
    pixel_areas : core.inputs.geoarea.PixelAreas or None
        The area of every pixel (None without a CRS).
    off_earth_pixels : int
        Counted pixels without a ground area (corners off the Earth in a geostationary
        view): in the shares, not in the areas.
    raster : Raster or None
        The raster segmented, for :meth:`class_statistics` (not copied).
    cleanup : str or None
        The clean-up applied after clustering, e.g. ``"sieve 20 px, majority 3×3"``.
    params : dict
        The keyword arguments of :func:`segment_raster` that reproduce the clustering.
    elapsed : float
        Seconds spent in :func:`segment_raster`.
    features : FeatureSpec or None
        The bands by name, the indices and the fitted scaling (mean and std per feature)
        the centres live in; see :attr:`model`.
    class_names : tuple of str, or None
        The names of the classes of a result in named classes (:meth:`relabel`,
        :func:`core.apply`): then `labels`, `palette`, `counts`, `shares`, `areas_m2` and
        `centers` are per class and `k` is the number of classes; pixels of dropped
        clusters are ``-1`` and left out of `valid`, like no-data. None for a plain fit.
    classes : ClassModel or None
        The model whose classes this result shows.
    clusters : RasterSegmentation or None
        The result in numbered clusters that a result in named classes was made from.
    """

    labels: np.ndarray
    valid: np.ndarray
    palette: np.ndarray
    display: np.ndarray
    segmented: np.ndarray
    centers: np.ndarray
    feature_names: tuple[str, ...]
    counts: np.ndarray
    shares: np.ndarray
    areas_m2: np.ndarray | None
    wcss: float
    n_iter: int
    converged: bool
    k: int
    geo: GeoReference
    row_areas: np.ndarray | None = None
    cleanup: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    elapsed: float = 0.0
    pixel_areas: PixelAreas | None = None
    off_earth_pixels: int = 0
    raster: Raster | None = field(default=None, repr=False)

    @property
    def area_basis(self) -> str | None:
        """Where :attr:`areas_m2` were measured: ``"ellipsoid"`` or ``"plane"`` (None: no CRS)."""
        return None if self.pixel_areas is None else self.pixel_areas.basis

    @property
    def area_note(self) -> str | None:
        """One sentence on how the areas were measured, for people (None without a CRS)."""
        if self.pixel_areas is None:
            return None
        if self.pixel_areas.basis == "plane":
            text = f"Areas on the map plane of {self.geo.crs_name} (the projection's m²)."
        else:
            text = (
                f"Areas on the ellipsoid of {self.geo.crs_name} (the ground's m², as QGIS "
                "measures them)."
            )
        if self.off_earth_pixels:
            text += (
                f" {self.off_earth_pixels:,} pixels lie off the Earth (no ground area): "
                "counted in the shares, not in the areas."
            )
        return text

    features: FeatureSpec | None = None
    class_names: tuple[str, ...] | None = None
    classes: ClassModel | None = None
    clusters: RasterSegmentation | None = None

    @classmethod
    def from_labels(
        cls,
        raster: Raster,
        labels: np.ndarray,
        *,
        centers: np.ndarray,
        wcss: float,
        features: FeatureSpec,
        rgb: Sequence[int | str] | None = None,
        params: dict[str, Any] | None = None,
        started: float | None = None,
        area_basis: AreaBasis = "ellipsoid",
    ) -> RasterSegmentation:
        """A result from cluster labels computed elsewhere (a kept model's), numbered as given.

        Parameters
        ----------
        raster : Raster
            The scene the labels are of.
        labels : (H, W) ndarray of int
            Cluster of every pixel in ``[0, k)``, ``-1`` where the pixel does not count.
        centers : (k, d) ndarray of float
            The centres, in the numbering of `labels`.
        wcss : float
        features : FeatureSpec
            How the features were made (bands, indices, scaling).
        rgb : three ints or strs, optional
            Bands shown as red, green, blue (default by band name).
        params : dict, optional
            Recorded as :attr:`params`.
        started : float, optional
            ``time.perf_counter()`` when the work began, for :attr:`elapsed`.
        area_basis : {"ellipsoid", "plane"}
            Where areas are measured, as for :func:`segment_raster`.

        Returns
        -------
        RasterSegmentation
            Counts, shares, areas, palette (mean display colour) and the segmented image
            computed from `labels`.
        """
        started = time.perf_counter() if started is None else started
        k = int(np.shape(centers)[0])
        labels = np.ascontiguousarray(labels, dtype=np.int32)
        valid = labels >= 0
        display = stretch_rgb(raster, rgb)
        pixel_areas = raster.pixel_areas(basis=area_basis)
        counts, shares, areas, palette, segmented, off = _summaries(labels, k, display, pixel_areas)
        centers = np.array(centers, dtype=np.float64)
        for array in (labels, valid, palette, display, segmented, counts, shares, centers):
            array.setflags(write=False)
        return cls(
            labels=labels,
            valid=valid,
            palette=palette,
            display=display,
            segmented=segmented,
            centers=centers,
            feature_names=features.axes(centers.shape[1]),
            counts=counts,
            shares=shares,
            areas_m2=areas,
            wcss=float(wcss),
            n_iter=0,
            converged=True,
            k=k,
            geo=raster.geo,
            row_areas=None if pixel_areas is None else pixel_areas.rows,
            params=dict(params or {}),
            elapsed=time.perf_counter() - started,
            features=features,
            pixel_areas=pixel_areas,
            off_earth_pixels=off,
            raster=raster,
        )

    @property
    def hex_colors(self) -> list[str]:
        """Palette as ``#rrggbb`` strings."""
        return ["#{:02x}{:02x}{:02x}".format(*map(int, c)) for c in self.palette]

    @property
    def empty(self) -> np.ndarray:
        """(k,) bool: classes no pixel has. A fit has none (:func:`segment_raster` lowers
        k instead); a clean-up (:meth:`cleaned`) or a model applied to another scene may
        leave some, which keep their colour rather than turning black."""
        return np.asarray(self.counts) == 0

    def display_image(self) -> np.ndarray:
        """:attr:`display` as (H, W, 4) RGBA, transparent where the pixel does not count."""
        return np.dstack([self.display, np.where(self.valid, 255, 0).astype(np.uint8)])

    def segmented_image(self) -> np.ndarray:
        """:attr:`segmented` as (H, W, 4) RGBA, transparent where the pixel does not count."""
        return np.dstack([self.segmented, np.where(self.valid, 255, 0).astype(np.uint8)])

    def cluster_mask(self, i: int) -> np.ndarray:
        """Boolean (H, W) mask of class `i` (``mask(i)`` before 0.2.0, still working)."""
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= i < self.k:
            raise IndexError(f"class index must be an integer in [0, {self.k}), got {i!r}.")
        return self.labels == i

    mask = DeprecatedAlias("cluster_mask")
    inertia = DeprecatedAlias("wcss")
    fractions = DeprecatedAlias("shares")

    def cleaned(self, *, min_pixels: int = 1, majority_size: int = 1) -> RasterSegmentation:
        """Sieve regions smaller than `min_pixels`, then apply a majority filter.

        Parameters
        ----------
        min_pixels : int
            :func:`core.inputs.raster.sieve_labels` threshold (1: no sieve).
        majority_size : int
            Odd side of the :func:`core.inputs.raster.majority_filter` window (1: none).

        Returns
        -------
        RasterSegmentation
            New labels, counts, shares, areas, palette and segmented image; the centres
            and WCSS stay those of the clustering.
        """
        labels = np.array(self.labels)
        steps = []
        if min_pixels > 1:
            labels = sieve_labels(labels, min_pixels)
            steps.append(f"sieve {min_pixels} px")
        if majority_size > 1:
            labels = majority_filter(labels, majority_size)
            steps.append(f"majority {majority_size}×{majority_size}")
        if not steps:
            return self
        counts, shares, areas, palette, segmented, off = _summaries(
            labels, self.k, self.display, self.pixel_areas
        )
        cleanup = ", ".join(filter(None, [self.cleanup, *steps]))
        labels.setflags(write=False)
        return replace(
            self,
            labels=labels,
            counts=counts,
            shares=shares,
            areas_m2=areas,
            palette=np.where(counts[:, None] > 0, palette, self.palette),
            segmented=segmented,
            cleanup=cleanup,
            off_earth_pixels=off,
        )

    @property
    def model(self) -> ClassModel:
        """The fitted clusters as a :class:`core.ClassModel`: bands by name, indices and
        their fitted scaling, centres, display colours, shares and WCSS, every cluster a
        class of its own; for a result in named classes, the model it shows.

        ``core.apply(result.model, raster)`` labels `raster` exactly as
        :func:`segment_raster` did (before any clean-up), and another scene with the
        fit's scaling, never its own.

        Raises
        ------
        ValueError
            If the result does not record its features (built by hand without them).
        """
        if self.classes is not None:
            return self.classes
        if self.features is None:
            raise ValueError(
                "This result does not record how its features were made (bands, indices, "
                "scaling); segment the raster with segment_raster to get its model."
            )
        return ClassModel(
            self.features,
            self.centers,
            self.palette,
            shares=self.shares,
            wcss=self.wcss,
        )

    def relabel(self, model: ClassModel) -> RasterSegmentation:
        """The same pixels in `model`'s classes: no refit.

        Parameters
        ----------
        model : ClassModel
            This result's :attr:`model` edited, or any model with the same features and
            centres.

        Returns
        -------
        RasterSegmentation
            ``labels = class_of[cluster]``, ``-1`` where the cluster is dropped (left out
            of `valid`, the shares and the areas, transparent in the GeoTIFFs like
            no-data); per class: `palette` (the model's class colours), `counts`,
            `shares`, `areas_m2` (sums of its clusters') and `centers` (count-weighted
            mean of its clusters' centres); `class_names`, `classes`, `clusters` set.

        Raises
        ------
        TypeError
            If `model` is not a ClassModel.
        ValueError
            If `model` was fitted on another result (other features or centres).
        """
        base = regrouped(self, model, "raster")
        n = model.n_classes
        class_of = model.class_of
        kept = class_of >= 0
        lookup = np.append(class_of, -1).astype(np.int32)  # label -1 takes the last entry
        labels = lookup[base.labels]
        valid = labels >= 0
        counts, shares, centers = class_totals(model, base.counts, base.centers)
        areas = None
        if base.areas_m2 is not None:
            areas = np.bincount(class_of[kept], weights=base.areas_m2[kept], minlength=n)
        palette = np.array(model.class_colors)
        segmented = np.zeros(base.display.shape, dtype=np.uint8)
        segmented[valid] = palette[labels[valid]]
        for array in (labels, valid, palette, segmented, counts, shares, centers):
            array.setflags(write=False)
        return replace(
            base,
            labels=labels,
            valid=valid,
            palette=palette,
            segmented=segmented,
            centers=centers,
            counts=counts,
            shares=shares,
            areas_m2=areas,
            k=n,
            class_names=model.class_names,
            classes=model,
            clusters=base,
        )

    @property
    def names(self) -> tuple[str, ...]:
        """The name of every class: :attr:`class_names`, else ``"cluster i"``."""
        if self.class_names is not None:
            return self.class_names
        return tuple(tables.default_class_name(i) for i in range(self.k))

    def area_table(self) -> list[dict[str, Any]]:
        """One row per class (:func:`core.formats.tables.area_rows`): class, name, hex,
        pixels, share, and area_m2, area_ha, area_basis with a CRS."""
        areas = None if self.areas_m2 is None else [float(a) for a in self.areas_m2]
        return tables.area_rows(
            self.counts.tolist(),
            self.hex_colors,
            names=self.names,
            areas_m2=areas,
            area_basis=self.area_basis,
        )

    def areas_csv(self) -> bytes:
        """The classes as ``areas.csv`` (UTF-8; :func:`core.formats.tables.areas_csv`). A
        result in named classes has no row for a dropped cluster."""
        return tables.areas_csv(self.area_table()).encode("utf-8")

    def label_geotiff(self) -> bytes:
        """The classes as a uint8 GeoTIFF (:func:`core.formats.geotiff.label_geotiff`)."""
        if self.class_names is not None:
            names = list(self.class_names)
        else:
            names = [
                f"class {i} {color} {share:.1%}"
                for i, (color, share) in enumerate(zip(self.hex_colors, self.shares, strict=True))
            ]
        return label_geotiff(self.labels, self.palette, self.geo, class_names=names)

    def segmented_geotiff(self) -> bytes:
        """The segmented image as an RGBA GeoTIFF (:func:`core.inputs.raster.rgb_geotiff`)."""
        return rgb_geotiff(self.segmented, self.valid, self.geo)

    def polygons(self, *, min_pixels: int = 1, to_wgs84: bool = True) -> dict[str, Any]:
        """The classes as a GeoJSON FeatureCollection (see :func:`class_polygons`)."""
        return class_polygons(
            self.labels,
            self.geo,
            palette=self.palette,
            min_pixels=min_pixels,
            to_wgs84=to_wgs84,
            area_basis="plane" if self.area_basis == "plane" else "ellipsoid",
        )

    def class_polygons(self, *, min_pixels: int = 1) -> Any:
        """The classes as :class:`core.formats.vectors.ClassPolygons` (GeoJSON and GeoPackage).

        Regions under `min_pixels` are sieved first (:func:`core.inputs.raster.sieve_labels`);
        areas are on :attr:`area_basis`.
        """
        from core.formats.vectors import polygonize

        labels = self.labels
        if min_pixels > 1:
            labels = sieve_labels(labels, min_pixels)
        return polygonize(
            labels, self.geo, palette=self.palette, areas=self.pixel_areas, class_names=self.names
        )

    def class_statistics(self) -> list[dict[str, Any]]:
        """Mean and standard deviation of every feature per class, in original units.

        See :func:`class_statistics`; empty when the raster is not kept
        (:attr:`raster` is None).
        """
        if self.raster is None:
            return []
        return class_statistics(
            self.raster,
            self.labels,
            self.k,
            bands=self.params.get("bands"),
            indices=self.params.get("indices", ()),
        )

    def stats_csv(self) -> bytes:
        """:meth:`class_statistics` as CSV (UTF-8): columns :data:`STATS_COLUMNS`."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(STATS_COLUMNS)
        for row in self.class_statistics():
            writer.writerow(
                [
                    row["class"],
                    row["feature"],
                    row["pixels"],
                    "" if row["mean"] is None else f"{row['mean']:.6g}",
                    "" if row["std"] is None else f"{row['std']:.6g}",
                ]
            )
        return buffer.getvalue().encode("utf-8")

    def write(
        self,
        folder: str | Path,
        stem: str | None = None,
        *,
        polygons: bool = True,
        polygon_min_pixels: int = 1,
        notes: list[str] | None = None,
    ) -> list[Path]:
        """Write the GIS files of the result.

        ``labels.tif`` (with ``labels.tif.aux.xml``: the class names and attribute table
        GDAL reads, and ``labels.qml``: a QGIS style with names and colours),
        ``segmented.tif``, ``areas.csv``, ``model.json`` (when the result records its
        features: reapply it with :func:`core.apply`); with `polygons`,
        ``classes.geojson`` (WGS 84) and ``classes.gpkg`` (the raster's own CRS); and
        ``stats.csv`` when :attr:`raster` is kept. With a `stem`, every name starts with
        ``<stem>_`` (``scene_labels.tif`` …). A scene whose polygons cannot reach WGS 84
        (a geostationary view) gets no GeoJSON, and a one-line note instead.

        Parameters
        ----------
        folder : str or Path
            Created if missing.
        stem : str, optional
            A prefix for the file names (default none: the names above).
        polygons : bool
        polygon_min_pixels : int
            Regions smaller than this are sieved before the polygons are traced.
        notes : list of str, optional
            Sentences for the user (a GeoJSON not written, pixels off the Earth) are
            appended here.

        Returns
        -------
        list of Path
            The files written, in that order.
        """
        from core.formats.geotiff import label_aux_xml, label_qml
        from core.formats.vectors import ReprojectionError

        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        said = notes if notes is not None else []
        prefix = "" if stem is None else f"{stem}_"
        files = {
            f"{prefix}labels.tif": self.label_geotiff(),
            f"{prefix}labels.tif.aux.xml": label_aux_xml(self.names, self.palette).encode(),
            f"{prefix}labels.qml": label_qml(self.names, self.palette).encode(),
            f"{prefix}segmented.tif": self.segmented_geotiff(),
            f"{prefix}areas.csv": self.areas_csv(),
        }
        if self.classes is not None or self.features is not None:
            files[f"{prefix}model.json"] = (self.model.to_json() + "\n").encode()
        if self.off_earth_pixels:
            said.append(self.area_note or "")
        if polygons:
            vectors = self.class_polygons(min_pixels=polygon_min_pixels)
            try:
                files[f"{prefix}classes.geojson"] = polygons_json(vectors.geojson())
            except ReprojectionError as e:
                said.append(str(e))
            files[f"{prefix}classes.gpkg"] = vectors.geopackage()
        if self.raster is not None:
            files[f"{prefix}stats.csv"] = self.stats_csv()
        written = []
        for name, data in files.items():
            path = out / name
            path.write_bytes(data)
            written.append(path)
        return written


def _summaries(
    labels: np.ndarray, k: int, display: np.ndarray, pixel_areas: PixelAreas | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray, np.ndarray, int]:
    """Counts, shares, areas, mean display colour, the recoloured image of `labels`, and
    the counted pixels without a ground area."""
    valid = labels >= 0
    flat = labels[valid]
    counts = np.bincount(flat, minlength=k).astype(np.int64)
    total = counts.sum()
    shares = counts / total if total else np.zeros(k)
    pixels = display[valid]
    sums = np.column_stack([np.bincount(flat, weights=pixels[:, c], minlength=k) for c in range(3)])
    palette = np.zeros((k, 3), dtype=np.uint8)
    filled = counts > 0
    palette[filled] = np.rint(sums[filled] / counts[filled, None]).astype(np.uint8)
    segmented = np.zeros(display.shape, dtype=np.uint8)
    segmented[valid] = palette[flat]
    areas, off = None, 0
    if pixel_areas is not None:
        areas, off = pixel_areas.class_sums(labels, k)
    return counts, shares, areas, palette, segmented, off


def class_statistics(
    raster: Raster,
    labels: np.ndarray,
    k: int,
    *,
    bands: Sequence[int | str] | None = None,
    indices: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Mean and standard deviation of each band and index per class, in original units.

    Parameters
    ----------
    raster : Raster
    labels : (H, W) ndarray of int
        Class per pixel in ``0 … k − 1``; negative for pixels that do not count.
    k : int
    bands : sequence of int or str, optional
        Bands to describe (see :func:`core.inputs.raster.band_positions`); default every band.
    indices : sequence of {"ndvi", "ndwi"}

    Returns
    -------
    list of dict
        One row per class and feature (bands first, then indices; class by class), with
        keys :data:`STATS_COLUMNS`: ``class``, ``feature`` (the band's name, or the index
        upper-cased), ``pixels``, ``mean`` and ``std`` (population standard deviation, in
        the band's own units — digital numbers, reflectance ×10 000 … as stored; None for
        an empty class). A long table: one row per value, easy to filter or pivot.

    Examples
    --------
    >>> from affine import Affine
    >>> from core.inputs.raster import GeoReference
    >>> r = Raster(np.array([[[10, 30, 500]]], dtype=np.uint16), np.ones((1, 3), bool),
    ...            GeoReference(None, Affine.identity()), None, ("nir",), "uint16")
    >>> rows = class_statistics(r, np.array([[0, 0, 1]]), 2)
    >>> [(s["class"], s["mean"], s["std"]) for s in rows]
    [(0, 20.0, 10.0), (1, 500.0, 0.0)]
    """
    labels = np.asarray(labels)
    if labels.shape != raster.valid.shape:
        raise ValueError(f"labels must have shape {raster.valid.shape}, got {labels.shape}.")
    counted = labels >= 0
    flat = labels[counted].astype(np.int64)
    counts = np.bincount(flat, minlength=k)[:k]
    features: list[tuple[str, Any]] = [
        (raster.band_names[p], lambda p=p: raster.data[p]) for p in band_positions(raster, bands)
    ]
    features += [(key.upper(), lambda key=key: spectral_index(raster, key)) for key in indices]
    table = []
    for name, source in features:
        values = np.asarray(source())[counted].astype(np.float64)
        sums = np.bincount(flat, weights=values, minlength=k)[:k]
        with np.errstate(invalid="ignore", divide="ignore"):
            means = sums / counts
        # Two passes: the spread around each class's mean, so large values lose nothing.
        deviations = values - means[flat]
        squares = np.bincount(flat, weights=deviations * deviations, minlength=k)[:k]
        with np.errstate(invalid="ignore", divide="ignore"):
            stds = np.sqrt(squares / counts)
        table.append((name, means, stds))
    rows: list[dict[str, Any]] = []
    for c in range(k):
        empty = counts[c] == 0
        for name, means, stds in table:
            rows.append(
                {
                    "class": c,
                    "feature": name,
                    "pixels": int(counts[c]),
                    "mean": None if empty else float(means[c]),
                    "std": None if empty else float(stds[c]),
                }
            )
    return rows


def _open_scene(source: str | os.PathLike[str], on_large: str, max_pixels: int) -> Raster:
    """The scene at `source` in memory: whole, reduced (when asked) or refused (when large)."""
    if on_large not in ("full", "reduce"):
        raise ValueError(f"on_large must be 'full' or 'reduce', got {on_large!r}.")
    if on_large == "reduce":
        return open_raster(source, max_pixels=max_pixels, on_large="reduce")
    from core.results.blocks import scene_info

    (height, width), _, _ = scene_info(source)
    if height * width > max_pixels:
        raise ImageError(
            f"'{Path(source).name}' is {width:,} × {height:,} pixels, over the in-memory limit "
            f"of {max_pixels:,}. Label it at full resolution by blocks with "
            "core.outputs.geotiff_blocks.segment_raster_blocks(path, k, out_dir=...) (files on "
            "disk, bounded memory), "
            "or read it reduced with on_large='reduce'."
        )
    return open_raster(source, max_pixels=max_pixels, on_large="error")


def _drop_empty(
    fit: KMeansResult, labels: np.ndarray, k: int, every_pixel: bool, max_iter: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """The centres, labels and k without the clusters no pixel went to, with a warning.

    Clusters stay empty when the features have fewer distinct values than k (Lloyd on
    every pixel then stops as soon as each pixel sits on its centre, `converged`), or
    when `max_iter` ends the fit while re-seeding them, or a fit on `fit_pixels` saw fewer
    distinct values. A result never shows an empty class as a colour.
    """
    counts = np.bincount(labels, minlength=k)
    filled = counts > 0
    n = int(np.count_nonzero(filled))
    if n == k:
        return fit.centers, labels, k
    if fit.converged and every_pixel:
        why = (
            f"The raster's features have only {n} distinct value(s), fewer than k={k}: "
            f"{k - n} class(es) would be empty, so k was lowered to {n}."
        )
    else:
        why = (
            f"{k - n} of the k={k} classes were left empty (max_iter={max_iter} reached, or "
            f"fit_pixels saw too few distinct values): k was lowered to {n}."
        )
    warnings.warn(why, UserWarning, stacklevel=3)
    renumber = np.cumsum(filled) - 1
    return fit.centers[filled], renumber[labels].astype(np.int32), n


def segment_raster(
    raster: Raster | str | os.PathLike[str],
    k: int,
    *,
    bands: Sequence[int | str] | None = None,
    indices: Sequence[str] = (),
    rgb: Sequence[int | str] | None = None,
    mask: Literal["auto"] | npt.ArrayLike | None = "auto",
    standardize: bool = True,
    seed: int | None = 0,
    n_init: int = 10,
    max_iter: int = 300,
    tol: float = 1e-4,
    fit_pixels: int | None = None,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
    area_basis: AreaBasis = "ellipsoid",
    on_large: Literal["full", "reduce"] = "full",
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> RasterSegmentation:
    """Cluster the valid pixels of a multiband raster into `k` classes.

    Parameters
    ----------
    raster : Raster, str or path-like
        From :func:`core.inputs.raster.open_raster`, or the path of a GeoTIFF / COG (read
        here, see `on_large`).
    k : int
        Number of classes (1 … 255: the label GeoTIFF is uint8 with 255 as no-data).
    bands : sequence of int or str, optional
        Bands to cluster on (0-based positions or names); default every band.
    indices : sequence of {"ndvi", "ndwi"}
        Spectral indices added as features.
    rgb : three ints or strs, optional
        Bands shown as red, green, blue (display and palette); default by band name.
    mask : "auto", (H, W) array_like of bool, or None
        Pixels that count: ``"auto"`` the pixels where every band used holds data
        (no-data values, internal mask, alpha 0 and NaN left out); an array (True =
        counts) is combined with them; None counts every pixel.
    standardize : bool
        Scale every feature to unit variance first (see :func:`core.inputs.raster.raster_features`).
    seed, n_init, max_iter, tol, fit_pixels, sample_size
        See :func:`core.engine.kmeans_nd.kmeans_features`.
    area_basis : {"ellipsoid", "plane"}
        Areas on the ground (the CRS's ellipsoid, default) or on the map plane of a
        projected CRS (:func:`core.inputs.geoarea.pixel_areas`).
    on_large : {"full", "reduce"}
        For a path whose scene has more than `max_pixels` pixels: ``"full"`` (default)
        keeps full resolution, which for such a scene means labelling it by blocks on disk
        (:func:`core.outputs.geotiff_blocks.segment_raster_blocks`; here an ImageError says
        so), ``"reduce"`` reads it at a whole-number reduction (the file's overviews when it
        has them). Unused for a Raster (already read).
    max_pixels : int
        The in-memory cap for a path.

    Returns
    -------
    RasterSegmentation

    Raises
    ------
    ValueError
        If a band, index or argument is invalid, or `k` exceeds the valid pixels.
    ImageError
        If no pixel counts (all no-data or masked out), the file cannot be read, or a path's
        scene is over `max_pixels` with ``on_large="full"``.

    Warns
    -----
    UserWarning
        When the features have fewer distinct values than `k` (a constant band, a
        paletted raster of few colours): the fit stops as soon as that is certain and
        `k` is lowered to the number of distinct values (:attr:`RasterSegmentation.k`);
        no class is ever empty.

    Notes
    -----
    A pixel counts when every band the features read holds data — the bands clustered
    and the input bands of each index (:meth:`core.inputs.raster.Raster.valid_for`): a
    pixel whose NIR is no-data is left out, not given NDVI = −1. Bands not used do not
    matter. Alpha bands are a mask, never features.
    """
    started = time.perf_counter()
    if not isinstance(raster, Raster):
        raster = _open_scene(raster, on_large, max_pixels)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= 255:
        raise ValueError(f"k must be an integer from 1 to 255 for a raster, got {k!r}.")
    # A pixel counts when every band the features read holds data (an index's bands too).
    has_data = raster.valid_for(feature_bands(raster, bands, indices))
    if isinstance(mask, str):
        if mask != "auto":
            raise ValueError(f"mask must be 'auto', a boolean (H, W) array or None, got {mask!r}.")
        valid = has_data
    elif mask is None:
        valid = np.ones(raster.valid.shape, dtype=bool)
    else:
        extra = np.asarray(mask)
        if extra.shape != raster.valid.shape or extra.dtype != bool:
            raise ValueError(
                f"mask must be a boolean array of shape {raster.valid.shape} (True = counts), "
                f"got {extra.dtype} {extra.shape}."
            )
        valid = has_data & extra
    n_valid = int(np.count_nonzero(valid))
    if n_valid == 0:
        raise ImageError(
            "Every pixel of the raster is no-data or masked out: there is nothing to cluster. "
            "Check the no-data value (gdalinfo) or the mask."
        )
    if k > n_valid:
        raise ValueError(f"k={k} is more than the valid pixels ({n_valid}); lower k.")
    features, valid, spec = band_features(
        raster, bands=bands, indices=indices, standardize=standardize, valid=valid
    )
    names = spec.axes(features.shape[1])
    fit = kmeans_features(
        features,
        int(k),
        n_init=n_init,
        max_iter=max_iter,
        tol=tol,
        seed=seed,
        sample_size=sample_size,
        fit_pixels=fit_pixels,
    )
    fit_labels, wcss = fit.labels, fit.wcss
    if fit_pixels is None:
        # The last assignment (as scikit-learn makes): every pixel to its nearest reported
        # centre, by the rule core.apply uses, so the result's model reproduces its labels
        # (kmeans_features labelled them against the centres before their last move).
        fit_labels, wcss = label_features(features, fit.centers)
    del features
    centers, fit_labels, k = _drop_empty(fit, fit_labels, int(k), fit_pixels is None, max_iter)
    counts = np.bincount(fit_labels, minlength=k)
    order = np.argsort(-counts, kind="stable")
    rank = np.empty(k, dtype=np.int32)
    rank[order] = np.arange(k, dtype=np.int32)
    labels = np.full(valid.shape, -1, dtype=np.int32)
    labels[valid] = rank[fit_labels]
    display = stretch_rgb(raster, rgb)
    pixel_areas = raster.pixel_areas(basis=area_basis)
    counts, shares, areas, palette, segmented, off = _summaries(
        labels, int(k), display, pixel_areas
    )
    for array in (labels, valid, palette, display, segmented, counts, shares):
        array.setflags(write=False)
    params = {
        "k": int(k),
        "bands": None if bands is None else list(bands),
        "indices": list(indices),
        "standardize": standardize,
        "seed": seed,
        "n_init": n_init,
        "max_iter": max_iter,
        "tol": tol,
        "fit_pixels": fit_pixels,
    }
    return RasterSegmentation(
        labels=labels,
        valid=valid,
        palette=palette,
        display=display,
        segmented=segmented,
        centers=centers[order],
        feature_names=names,
        counts=counts,
        shares=shares,
        areas_m2=areas,
        wcss=float(wcss),
        n_iter=fit.n_iter,
        converged=fit.converged,
        k=int(k),
        geo=raster.geo,
        row_areas=None if pixel_areas is None else pixel_areas.rows,
        params=params,
        elapsed=time.perf_counter() - started,
        pixel_areas=pixel_areas,
        off_earth_pixels=off,
        raster=raster,
        features=spec,
    )
