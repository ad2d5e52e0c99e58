"""`segment_raster`: k-means land-cover classes of a multiband scene, with areas and GIS outputs.

The raster counterpart of :func:`core.segment`: bands (and indices) in, classes out, every
valid pixel clustered exactly by :func:`core.engine.kmeans_nd.kmeans_features`, no-data left out
(label ``-1``) of the clustering, the shares and the areas. The result writes what a GIS
user opens on top of the scene: a label GeoTIFF with a colour table, the segmented RGB as
GeoTIFF, GeoJSON polygons, and a class-area table in m² and hectares.
"""

from __future__ import annotations

import csv
import io
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from core.engine.kmeans_nd import DEFAULT_SAMPLE_SIZE, kmeans_features
from core.errors import ImageError
from core.inputs.raster import (
    DEFAULT_MAX_PIXELS,
    GeoReference,
    Raster,
    class_areas,
    class_polygons,
    label_geotiff,
    majority_filter,
    open_raster,
    polygons_json,
    raster_features,
    rgb_geotiff,
    sieve_labels,
    stretch_rgb,
)

__all__ = ["RasterSegmentation", "segment_raster"]


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
        Ground area per class (None when the raster has no CRS).
    wcss : float
        WCSS of the k-means labels in feature space, over the valid pixels (before any
        clean-up).
    n_iter : int
    converged : bool
    k : int
    geo : GeoReference
    cleanup : str or None
        The clean-up applied after clustering, e.g. ``"sieve 20 px, majority 3×3"``.
    params : dict
        The keyword arguments of :func:`segment_raster` that reproduce the clustering.
    elapsed : float
        Seconds spent in :func:`segment_raster`.
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

    @property
    def hex_colors(self) -> list[str]:
        """Palette as ``#rrggbb`` strings."""
        return ["#{:02x}{:02x}{:02x}".format(*map(int, c)) for c in self.palette]

    def display_image(self) -> np.ndarray:
        """:attr:`display` as (H, W, 4) RGBA, transparent where the pixel does not count."""
        return np.dstack([self.display, np.where(self.valid, 255, 0).astype(np.uint8)])

    def segmented_image(self) -> np.ndarray:
        """:attr:`segmented` as (H, W, 4) RGBA, transparent where the pixel does not count."""
        return np.dstack([self.segmented, np.where(self.valid, 255, 0).astype(np.uint8)])

    def mask(self, i: int) -> np.ndarray:
        """Boolean (H, W) mask of class `i`."""
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= i < self.k:
            raise IndexError(f"class index must be an integer in [0, {self.k}), got {i!r}.")
        return self.labels == i

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
        counts, shares, areas, palette, segmented = _summaries(
            labels, self.k, self.display, self.row_areas
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
        )

    def area_table(self) -> list[dict[str, Any]]:
        """One row per class: class, color, pixels, share, area_m2, area_ha."""
        rows = []
        for i in range(self.k):
            area = None if self.areas_m2 is None else float(self.areas_m2[i])
            rows.append(
                {
                    "class": i,
                    "color": self.hex_colors[i],
                    "pixels": int(self.counts[i]),
                    "share": float(self.shares[i]),
                    "area_m2": area,
                    "area_ha": None if area is None else area / 10_000,
                }
            )
        return rows

    def areas_csv(self) -> bytes:
        """:meth:`area_table` as CSV (UTF-8), areas rounded to 0.01 m²."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["class", "color", "pixels", "share", "area_m2", "area_ha"])
        for row in self.area_table():
            writer.writerow(
                [
                    row["class"],
                    row["color"],
                    row["pixels"],
                    f"{row['share']:.6f}",
                    "" if row["area_m2"] is None else f"{row['area_m2']:.2f}",
                    "" if row["area_ha"] is None else f"{row['area_ha']:.4f}",
                ]
            )
        return buffer.getvalue().encode("utf-8")

    def label_geotiff(self) -> bytes:
        """The classes as a uint8 GeoTIFF (:func:`core.inputs.raster.label_geotiff`)."""
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
            self.labels, self.geo, palette=self.palette, min_pixels=min_pixels, to_wgs84=to_wgs84
        )

    def write(
        self, folder: str | Path, stem: str, *, polygons: bool = True, polygon_min_pixels: int = 1
    ) -> list[Path]:
        """Write ``<stem>_labels.tif``, ``_segmented.tif``, ``_areas.csv`` (and ``.geojson``).

        Returns
        -------
        list of Path
            The files written, in that order.
        """
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        files = {
            f"{stem}_labels.tif": self.label_geotiff(),
            f"{stem}_segmented.tif": self.segmented_geotiff(),
            f"{stem}_areas.csv": self.areas_csv(),
        }
        if polygons:
            files[f"{stem}_classes.geojson"] = polygons_json(
                self.polygons(min_pixels=polygon_min_pixels)
            )
        written = []
        for name, data in files.items():
            path = out / name
            path.write_bytes(data)
            written.append(path)
        return written


def _summaries(
    labels: np.ndarray, k: int, display: np.ndarray, row_areas: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray, np.ndarray]:
    """Counts, shares, areas, mean display colour and the recoloured image of `labels`."""
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
    areas = None if row_areas is None else class_areas(labels, row_areas, k)
    return counts, shares, areas, palette, segmented


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
        Pixels that count: ``"auto"`` the raster's valid pixels (no-data, internal mask
        and NaN left out); an array (True = counts) is combined with them; None counts
        every pixel.
    standardize : bool
        Scale every feature to unit variance first (see :func:`core.inputs.raster.raster_features`).
    seed, n_init, max_iter, tol, fit_pixels, sample_size
        See :func:`core.engine.kmeans_nd.kmeans_features`.
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
    """
    started = time.perf_counter()
    if not isinstance(raster, Raster):
        raster = _open_scene(raster, on_large, max_pixels)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= 255:
        raise ValueError(f"k must be an integer from 1 to 255 for a raster, got {k!r}.")
    if isinstance(mask, str):
        if mask != "auto":
            raise ValueError(f"mask must be 'auto', a boolean (H, W) array or None, got {mask!r}.")
        valid = raster.valid
    elif mask is None:
        valid = np.ones(raster.valid.shape, dtype=bool)
    else:
        extra = np.asarray(mask)
        if extra.shape != raster.valid.shape or extra.dtype != bool:
            raise ValueError(
                f"mask must be a boolean array of shape {raster.valid.shape} (True = counts), "
                f"got {extra.dtype} {extra.shape}."
            )
        valid = raster.valid & extra
    n_valid = int(np.count_nonzero(valid))
    if n_valid == 0:
        raise ImageError(
            "Every pixel of the raster is no-data or masked out: there is nothing to cluster. "
            "Check the no-data value (gdalinfo) or the mask."
        )
    if k > n_valid:
        raise ValueError(f"k={k} is more than the valid pixels ({n_valid}); lower k.")
    features, valid, names = raster_features(
        raster, bands=bands, indices=indices, standardize=standardize, valid=valid
    )
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
    del features
    counts = np.bincount(fit.labels, minlength=k)
    order = np.argsort(-counts, kind="stable")
    rank = np.empty(k, dtype=np.int32)
    rank[order] = np.arange(k, dtype=np.int32)
    labels = np.full(valid.shape, -1, dtype=np.int32)
    labels[valid] = rank[fit.labels]
    display = stretch_rgb(raster, rgb)
    row_areas = raster.row_areas()
    counts, shares, areas, palette, segmented = _summaries(labels, int(k), display, row_areas)
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
        centers=fit.centers[order],
        feature_names=names,
        counts=counts,
        shares=shares,
        areas_m2=areas,
        wcss=float(fit.wcss),
        n_iter=fit.n_iter,
        converged=fit.converged,
        k=int(k),
        geo=raster.geo,
        row_areas=row_areas,
        params=params,
        elapsed=time.perf_counter() - started,
    )
