"""Georeferenced rasters: GeoTIFF / COG in and out, areas on the ground, bands and indices.

A satellite or drone scene is not a photo: it has a coordinate reference system (CRS) and
an affine transform that place every pixel on the Earth, pixels that hold no data, more
than three bands, and 16-bit or float values. This module keeps all of that:

* :func:`open_raster` reads a GeoTIFF (or Cloud-Optimised GeoTIFF) with rasterio, bands
  and dtype as stored, with the CRS, transform, no-data, band names and a validity mask;
  a scene over the pixel cap is read at a reduced resolution (the file's overviews when it
  has them) or refused, with a message that says how to read a window or a smaller copy.
* :meth:`GeoReference.row_areas` gives the ground area of the pixels of every row in m²:
  constant in a projected CRS (from the transform and the CRS's unit), shrinking with
  latitude in a geographic CRS such as EPSG:4326 (the exact area of each cell on the
  CRS's ellipsoid, not degrees times a constant).
* :func:`raster_features` turns chosen bands (by position or name) plus spectral indices
  (NDVI, NDWI) into an (n, d) float32 feature matrix of the valid pixels;
  :func:`stretch_rgb` makes the display image with GIS viewers' 2–98 % percentile stretch.
* :func:`label_geotiff`, :func:`rgb_geotiff` and :func:`class_polygons` write the results
  in the scene's georeference (uint8 labels with no-data 255 and a colour table; the
  segmented RGB with an alpha band; GeoJSON polygons per class); :func:`sieve_labels` and
  :func:`majority_filter` are the clean-ups GIS users know.

Labels here use ``-1`` for pixels that do not count (no-data, masked), as
:func:`core.segment` does.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final, Literal

import cv2
import numpy as np
import rasterio
import rasterio.errors
import rasterio.features
import rasterio.warp
from affine import Affine
from rasterio._err import CPLE_BaseError
from rasterio.crs import CRS
from rasterio.enums import ColorInterp, Resampling
from rasterio.io import MemoryFile
from rasterio.windows import Window

from core.bounds import (
    check_bands,
    check_frames,
    check_memory,
    check_png_data,
    file_format,
    format_bytes,
    gif_frame_pixels,
    jpeg_damage,
    jpeg_is_progressive,
    jpeg_size,
)
from core.errors import ImageError
from core.validation import FILE_LIMITS

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "INDICES",
    "LABEL_NODATA",
    "GeoReference",
    "Raster",
    "band_positions",
    "class_areas",
    "class_polygons",
    "default_rgb_bands",
    "ellipsoid_zone_area",
    "is_georeferenced",
    "label_geotiff",
    "majority_filter",
    "open_raster",
    "polygons_json",
    "raster_features",
    "rgb_geotiff",
    "sieve_labels",
    "spectral_index",
    "stretch_rgb",
]

#: Pixel cap for what is read (the same figure as :data:`core.io.DEFAULT_MAX_PIXELS`).
DEFAULT_MAX_PIXELS: Final = 100_000_000
#: The no-data value of label GeoTIFFs (uint8; classes are 0 … k − 1, k ≤ 255).
LABEL_NODATA: Final = 255
#: Spectral indices :func:`spectral_index` computes, with the bands each one needs.
INDICES: Final[dict[str, tuple[str, str]]] = {
    "ndvi": ("nir", "red"),  # (NIR − red) / (NIR + red): vegetation (Rouse et al. 1974)
    "ndwi": ("green", "nir"),  # (green − NIR) / (green + NIR): open water (McFeeters 1996)
}

# Names a band's description or colour interpretation may carry, per role.
_ROLE_NAMES: Final[dict[str, tuple[str, ...]]] = {
    "red": ("red", "r"),
    "green": ("green", "g"),
    "blue": ("blue", "b"),
    "nir": ("nir", "near infrared", "near-infrared", "nearinfrared", "infrared", "nir1"),
}
_TIFF_MAGIC: Final = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_SMALLER_COPY: Final = (
    "To work on it at full resolution, read a part with window=(row, col, height, width) "
    "(kseg segment: --window ROW,COL,HEIGHT,WIDTH), or make a smaller copy first, e.g. "
    "`gdal_translate -outsize 25% 25% scene.tif smaller.tif` or "
    "`gdal_translate -srcwin 0 0 10000 10000 scene.tif part.tif`."
)

RasterSource = str | os.PathLike | bytes | bytearray | memoryview | IO[bytes]


@dataclass(frozen=True)
class GeoReference:
    """Where a grid of pixels lies on the Earth.

    Attributes
    ----------
    crs : rasterio.crs.CRS or None
        The coordinate reference system; None when the file has none (then areas are
        unknown, but the transform is still written back).
    transform : affine.Affine
        Pixel (col, row) → CRS coordinates (x, y) of the pixel's upper-left corner.
    """

    crs: CRS | None
    transform: Affine

    @property
    def pixel_size(self) -> tuple[float, float]:
        """Width and height of a pixel in CRS units (degrees for EPSG:4326, metres for UTM)."""
        t = self.transform
        return math.hypot(t.a, t.d), math.hypot(t.b, t.e)

    @property
    def pixel_size_text(self) -> str:
        """:attr:`pixel_size` for people, with its unit: ``"10 × 10 m"``, ``"0.001 × 0.001°"``.

        Examples
        --------
        >>> GeoReference(CRS.from_epsg(32633), Affine(10, 0, 0, 0, -10, 0)).pixel_size_text
        '10 × 10 m'
        """
        width, height = self.pixel_size
        unit = " CRS units"
        if self.crs is not None and self.crs.is_geographic:
            unit = "°"
        elif self.crs is not None and self.crs.is_projected:
            try:
                name, factor = self.crs.linear_units_factor
            except rasterio.errors.CRSError:
                name, factor = "CRS units", 0.0
            unit = " m" if factor == 1.0 else f" {name}"
        return f"{width:g} × {height:g}{unit}"

    @property
    def crs_name(self) -> str:
        """A short human name: ``"EPSG:32633"`` when it has a code, else the CRS's name."""
        if self.crs is None:
            return "none"
        epsg = self.crs.to_epsg()
        if epsg is not None:
            return f"EPSG:{epsg}"
        match = re.match(r'\w+\["([^"]*)"', self.crs.to_wkt())
        return match.group(1) if match else self.crs.to_string()

    def row_areas(self, height: int) -> np.ndarray | None:
        """Ground area of one pixel in each row, in m².

        Parameters
        ----------
        height : int
            Rows of the grid.

        Returns
        -------
        (height,) ndarray of float64, or None
            None when there is no CRS. In a projected CRS every row holds ``|det T|`` times
            the square of the CRS's linear unit in metres (the area on the map plane, as
            GIS tools report it). In a geographic CRS each row's cells are exact
            ellipsoidal quadrangles (:func:`ellipsoid_zone_area`), so they shrink towards
            the poles.

        Raises
        ------
        ImageError
            If the grid is rotated in a geographic CRS, its rows lie beyond ±90° latitude,
            or the CRS has units we cannot turn into metres.
        """
        if self.crs is None:
            return None
        t = self.transform
        if self.crs.is_geographic:
            if t.b != 0 or t.d != 0:
                raise ImageError(
                    "The raster's grid is rotated in a geographic CRS, so kseg cannot compute "
                    "its pixel areas. Warp it to a projected CRS first "
                    "(e.g. `gdalwarp -t_srs EPSG:3857 in.tif out.tif`)."
                )
            unit = _angular_unit(self.crs)
            edges = (t.f + t.e * np.arange(height + 1)) * unit
            if np.abs(edges).max() > math.pi / 2 * (1 + 1e-9):
                raise ImageError(
                    f"The raster's rows reach latitude {np.degrees(np.abs(edges).max()):.1f}°, "
                    f"beyond ±90°: its transform does not fit its CRS ({self.crs_name}). Check "
                    "the georeference (gdalinfo) and assign the right CRS (gdal_edit.py -a_srs)."
                )
            a, f = _ellipsoid(self.crs)
            zone = ellipsoid_zone_area(np.clip(edges, -math.pi / 2, math.pi / 2), a, f)
            return np.abs(np.diff(zone)) * abs(t.a) * unit
        if self.crs.is_projected:
            try:
                _, factor = self.crs.linear_units_factor
            except rasterio.errors.CRSError as e:
                raise ImageError(
                    f"The raster's CRS ({self.crs_name}) has a linear unit kseg cannot turn "
                    "into metres. Reproject it to a metric CRS (gdalwarp -t_srs …)."
                ) from e
            return np.full(height, abs(t.a * t.e - t.b * t.d) * factor * factor)
        raise ImageError(
            f"The raster's CRS ({self.crs_name}) is neither projected nor geographic, so its "
            "pixel areas are unknown. Assign the right CRS (gdal_edit.py -a_srs EPSG:…)."
        )


@dataclass(frozen=True, eq=False)
class Raster:
    """A raster as read: every band, dtype kept, with its georeference and validity.

    Attributes
    ----------
    data : (B, H, W) ndarray
        The bands in the file's dtype (uint8, uint16, int16, float32, …), band-first as
        rasterio reads them.
    valid : (H, W) ndarray of bool
        False where the pixel holds no data (the file's no-data value, its internal mask or
        alpha band, or NaN).
    geo : GeoReference
        CRS and transform of the grid as read (scaled when the scene was reduced).
    nodata : float or None
        The file's no-data value.
    band_names : tuple of str
        One name per band: its description, else its colour interpretation (``"red"``),
        else ``"band 1"`` …; unique.
    dtype : str
        The bands' dtype name, e.g. ``"uint16"``.
    name : str or None
        The file's name, when known.
    source_shape : (int, int)
        Height and width of the full scene in the file.
    reduced_by : float
        How many file pixels one pixel read spans along each axis (1.0 at full resolution).
    note : str or None
        A sentence for the user when the scene was read reduced (what, and how to avoid it).
    """

    data: np.ndarray
    valid: np.ndarray
    geo: GeoReference
    nodata: float | None
    band_names: tuple[str, ...]
    dtype: str
    name: str | None = None
    source_shape: tuple[int, int] = (0, 0)
    reduced_by: float = 1.0
    note: str | None = None

    @property
    def n_bands(self) -> int:
        return int(self.data.shape[0])

    @property
    def height(self) -> int:
        return int(self.data.shape[1])

    @property
    def width(self) -> int:
        return int(self.data.shape[2])

    @property
    def n_pixels(self) -> int:
        return self.height * self.width

    @property
    def n_valid(self) -> int:
        return int(np.count_nonzero(self.valid))

    def row_areas(self) -> np.ndarray | None:
        """Ground area (m²) of a pixel in each row; see :meth:`GeoReference.row_areas`."""
        return self.geo.row_areas(self.height)

    def valid_area_m2(self) -> float | None:
        """Ground area of the valid pixels in m² (None without a CRS)."""
        rows = self.row_areas()
        if rows is None:
            return None
        return float(np.count_nonzero(self.valid, axis=1) @ rows)


def is_georeferenced(source: RasterSource) -> bool:
    """Whether `source` is a TIFF that carries a CRS or a non-identity transform.

    Cheap for paths (reads the header only). Never raises for unreadable input: it returns
    False, and the ordinary image loader then says what is wrong.
    """
    if not _head(source).startswith(_TIFF_MAGIC):
        return False
    try:
        with _open_dataset(source) as src:
            return src.crs is not None or not src.transform.is_identity
    except (ImageError, rasterio.errors.RasterioError, OSError, TypeError):
        return False


def open_raster(
    source: RasterSource,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    window: tuple[int, int, int, int] | None = None,
    on_large: Literal["reduce", "error"] = "reduce",
    resampling: Literal["average", "nearest"] = "average",
    memory_limit: int | None = None,
) -> Raster:
    """Read a GeoTIFF / COG with every band, its georeference and its no-data mask.

    Parameters
    ----------
    source : str, path-like, bytes or binary file object
        A path (read lazily: only what is needed), the file's bytes, or an open binary file.
    max_pixels : int
        Cap on the pixels read (``H × W`` of the result, any number of bands).
    window : (row, col, height, width), optional
        Read only this part of the scene (in file pixels); the transform follows.
    on_large : {"reduce", "error"}
        What to do when the scene (or window) has more pixels than `max_pixels`, or its
        bands would take more memory than `memory_limit`: ``"reduce"`` reads it at the
        smallest whole-number reduction that fits, averaging (through the file's overviews
        when it has them) and says so in :attr:`Raster.note`; ``"error"`` raises. A
        reduced read decodes every file pixel it spans: without overviews that bring it
        under ``FILE_LIMITS["read_pixels"]`` (file pixels × bands) it is refused.
    resampling : {"average", "nearest"}
        How a reduced read makes each pixel: the average of the file pixels it spans
        (default; a faithful picture), or one of them (``"nearest"``: cheaper, and the
        values keep their spread — for statistics such as percentiles of a sample).
    memory_limit : int, optional
        Cap on the bytes read (every band at its dtype, plus the validity mask); default
        ``FILE_LIMITS["memory"]`` (:data:`core.validation.FILE_LIMITS`, 1 GB).

    Returns
    -------
    Raster

    Raises
    ------
    ImageError
        If the file is missing, not a raster, truncated or damaged, has an inconsistent
        georeference (rows beyond ±90° in a geographic CRS), complex values (an
        unsupported data type), more bands or frames than the limits
        (:data:`core.validation.FILE_LIMITS`), needs a reduced read over the limit, or is too
        large with ``on_large="error"``. The message names the limit that was hit.
    ValueError
        If an argument is out of range.
    """
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, (int, np.integer)):
        raise ValueError(f"max_pixels must be a positive integer, got {max_pixels!r}.")
    if max_pixels < 1:
        raise ValueError(f"max_pixels must be a positive integer, got {max_pixels!r}.")
    if on_large not in ("reduce", "error"):
        raise ValueError(f"on_large must be 'reduce' or 'error', got {on_large!r}.")
    if resampling not in ("average", "nearest"):
        raise ValueError(f"resampling must be 'average' or 'nearest', got {resampling!r}.")
    if memory_limit is None:
        memory_limit = FILE_LIMITS["memory"]
    elif isinstance(memory_limit, bool) or not isinstance(memory_limit, (int, np.integer)):
        raise ValueError(f"memory_limit must be a number of bytes, got {memory_limit!r}.")
    name = _source_name(source)
    label = f"'{name}'" if name else "The raster"
    opened = _open_dataset(source)
    _check_container(opened, label, max_pixels)
    try:
        with opened as src:
            raster = _read(
                src, label, name, max_pixels, window, on_large, resampling, int(memory_limit)
            )
    except ImageError:
        raise
    except (rasterio.errors.RasterioError, CPLE_BaseError, OSError) as e:
        text = str(e).lower()
        if "not recognized" in text or "not a supported" in text:
            raise ImageError(
                f"{label} is not a raster kseg can read (GDAL does not recognise it). "
                "Export it as GeoTIFF and try again."
            ) from e
        raise ImageError(
            f"{label} is truncated or damaged: its pixels could not be read. "
            "Download or export it again (gdalinfo -checksum shows the damage)."
        ) from e
    except MemoryError as e:
        raise ImageError(
            f"{label} is too large to read in memory. Lower max_pixels. {_SMALLER_COPY}"
        ) from e
    raster.geo.row_areas(raster.height)  # refuse a georeference that does not fit its CRS
    return raster


def _head(source: RasterSource) -> bytes:
    """The first bytes of `source`, without consuming a file object."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source[:4])
    if isinstance(source, (str, os.PathLike)):
        try:
            with open(source, "rb") as file:
                return file.read(4)
        except OSError:
            return b""
    getvalue = getattr(source, "getvalue", None)
    if callable(getvalue):
        return bytes(getvalue()[:4])
    return b""


def _source_name(source: RasterSource) -> str | None:
    if isinstance(source, (str, os.PathLike)):
        return Path(source).name
    name = getattr(source, "name", None)
    return Path(name).name if isinstance(name, str) and name else None


class _Opened:
    """Context manager over a rasterio dataset opened from a path or from bytes, with
    GDAL's block cache bounded and libjpeg's warnings (data that ends early) as errors."""

    def __init__(self, source: RasterSource) -> None:
        self.memfile: MemoryFile | None = None
        self.target: Any = None
        if isinstance(source, (str, os.PathLike)):
            path = Path(source)
            if not path.exists():
                raise ImageError(f"'{path.name}' was not found at {str(path)!r}. Check the path.")
            if path.is_dir():
                raise ImageError(f"'{path.name}' is a folder, not a raster. Choose a file in it.")
            self.target = str(path)
        elif isinstance(source, (bytes, bytearray, memoryview)):
            self.memfile = MemoryFile(bytes(source))
        elif hasattr(source, "read"):
            getvalue = getattr(source, "getvalue", None)
            data = getvalue() if callable(getvalue) else source.read()
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise TypeError("the file object must be opened in binary mode ('rb').")
            self.memfile = MemoryFile(bytes(data))
        else:
            raise TypeError(
                f"source must be a path, bytes or a binary file object, got "
                f"{type(source).__name__}."
            )
        if self.memfile is not None and self.memfile.getbuffer().nbytes == 0:
            self.memfile.close()
            raise ImageError("The raster is empty (0 bytes). Choose the file itself.")

    def head(self, size: int) -> bytes:
        """The file's first `size` bytes."""
        if self.memfile is not None:
            return bytes(self.memfile.getbuffer()[:size])
        with open(self.target, "rb") as file:
            return file.read(size)

    def contents(self) -> bytes:
        """The whole file (for the checks of formats GDAL reads lazily: small files)."""
        if self.memfile is not None:
            return bytes(self.memfile.getbuffer())
        return Path(self.target).read_bytes()

    def __enter__(self) -> Any:
        self.env = rasterio.Env(GDAL_CACHEMAX=_GDAL_CACHE, GDAL_ERROR_ON_LIBJPEG_WARNING=True)
        self.env.__enter__()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
                if self.memfile is not None:
                    self.dataset = self.memfile.open()
                else:
                    self.dataset = rasterio.open(self.target)
        except BaseException:
            self._close_files()
            raise
        return self.dataset

    def __exit__(self, *exc: object) -> None:
        self.dataset.close()
        self._close_files()

    def _close_files(self) -> None:
        if self.memfile is not None:
            self.memfile.close()
        self.env.__exit__(None, None, None)


#: GDAL's block cache while reading (its default is 5 % of the machine's memory: 1.2 GB
#: on 24 GB, on top of the pixels read).
_GDAL_CACHE: Final = 64 << 20
#: Drivers that hold the whole decoded image (or every frame) besides what is read.
_WHOLE_IMAGE_DRIVERS: Final = ("GIF", "WEBP", "PNG", "JPEG", "BMP")


def _check_container(opened: _Opened, label: str, max_pixels: int) -> None:
    """Refuse, before GDAL opens it, a PNG, JPEG or GIF GDAL would read wrongly or at a
    cost out of bounds: GDAL reads PNG and JPEG rows lazily (missing rows come back as
    zeros) and decodes every frame of a GIF when it opens it."""
    kind = file_format(opened.head(16))
    if kind not in ("PNG", "JPEG", "GIF"):
        return
    data = opened.contents()
    if kind == "PNG":
        check_png_data(data, label, max_pixels)
    elif kind == "JPEG":
        size = jpeg_size(data)
        if size is not None and jpeg_is_progressive(data):
            width, height = size
            check_memory(
                6 * width * height,
                label,
                f"a progressive JPEG of {width:,} × {height:,} pixels, every coefficient held",
                "Save it as a baseline JPEG or a PNG, or make a smaller copy.",
            )
        complaint = jpeg_damage(data)
        if complaint is not None:
            raise ImageError(
                f"{label} is truncated or damaged: its compressed data ends early or is "
                f"corrupt ({complaint.rstrip('.')}). Download or export it again."
            )
    else:
        frames, pixels = gif_frame_pixels(data)
        check_frames(frames, label)
        check_memory(
            pixels,
            label,
            f"{frames:,} frames, {pixels:,} pixels in all, decoded together",
            "Save the frame you need as a PNG and use that.",
        )


def _open_dataset(source: RasterSource) -> _Opened:
    return _Opened(source)


def _read(
    src: Any,
    label: str,
    name: str | None,
    max_pixels: int,
    window: tuple[int, int, int, int] | None,
    on_large: str,
    resampling: str = "average",
    memory_limit: int = FILE_LIMITS["memory"],
) -> Raster:
    full_h, full_w = int(src.height), int(src.width)
    check_bands(int(src.count), label)  # before anything walks the bands
    if "complex" in src.dtypes[0]:  # complex64, complex128, complex_int16
        raise ImageError(
            f"{label} holds complex values ({src.dtypes[0]}), an unsupported data type: kseg "
            "clusters real-valued bands. Convert it first, e.g. to amplitude: "
            '`gdal_calc.py -A scene.tif --calc="absolute(A)" --type=Float32 '
            "--outfile=amplitude.tif`."
        )
    dtype = np.dtype(src.dtypes[0])
    # The bands at their dtype, the mask GDAL returns and our validity array; drivers that
    # decode the whole image hold it once more.
    per_pixel = src.count * dtype.itemsize + 2
    if src.driver in _WHOLE_IMAGE_DRIVERS:
        per_pixel += src.count * dtype.itemsize
    if window is not None:
        row, col, height, width = (int(v) for v in window)
        if (
            height < 1
            or width < 1
            or row < 0
            or col < 0
            or row + height > full_h
            or (col + width > full_w)
        ):
            raise ImageError(
                f"The window (row {row}, col {col}, {height} × {width}) does not fit in "
                f"{label}, which is {full_h:,} rows × {full_w:,} columns."
            )
        win: Window | None = Window(col, row, width, height)
        transform = src.transform @ Affine.translation(col, row)
    else:
        height, width, win, transform = full_h, full_w, None, src.transform
    factor = 1
    note = None

    def fits(pixels: int) -> bool:
        return pixels <= max_pixels and pixels * per_pixel <= memory_limit

    if not fits(height * width):
        if height * width > max_pixels:
            what = f"{label} is {width:,} × {height:,} = {_millions(height * width)} pixels"
            over = f"over the limit of {_millions(max_pixels)}"
            raise_it = "raise max_pixels"
        else:
            what = (
                f"{label}'s {src.count} band(s) of {dtype.name} would take "
                f"{format_bytes(height * width * per_pixel)} at {width:,} × {height:,}"
            )
            over = f"over the memory limit of {format_bytes(memory_limit)}"
            raise_it = "read fewer bands"
        if on_large == "error":
            raise ImageError(
                f"{what}, {over}. Read it reduced (on_large='reduce'), or {raise_it}. "
                f"{_SMALLER_COPY}"
            )
        factor = math.ceil(
            math.sqrt(max(height * width / max_pixels, height * width * per_pixel / memory_limit))
        )
        while not fits((height // factor or 1) * (width // factor or 1)):
            factor += 1
        _check_reduced_read(src, label, height, width, factor)
    out_h, out_w = max(1, height // factor), max(1, width // factor)
    average = factor > 1 and resampling == "average"
    if factor > 1:
        made = f"the average of {factor} × {factor}" if average else f"one of {factor} × {factor}"
        note = (
            f"{what}, {over}: read at 1/{factor} resolution "
            f"({out_w:,} × {out_h:,}), each pixel {made}"
            f"{' (from the overviews)' if src.overviews(1) else ''}. {_SMALLER_COPY}"
        )
        transform = transform @ Affine.scale(width / out_w, height / out_h)
    out_shape = (src.count, out_h, out_w)
    with _read_warnings() as complaints:
        data = src.read(
            window=win,
            out_shape=out_shape,
            resampling=Resampling.average if average else Resampling.nearest,
        )
        valid = src.dataset_mask(window=win, out_shape=(out_h, out_w)) > 0
    if complaints:
        raise ImageError(
            f"{label} is truncated or damaged: reading its pixels failed ({complaints[0]}). "
            "Download or export it again (gdalinfo -checksum shows the damage)."
        )
    if np.issubdtype(data.dtype, np.floating):
        for band in data:  # band by band: no (B, H, W) temporary
            valid &= np.isfinite(band)
    return Raster(
        data=data,
        valid=np.ascontiguousarray(valid),
        geo=GeoReference(crs=src.crs, transform=transform),
        nodata=None if src.nodata is None else float(src.nodata),
        band_names=_band_names(src),
        dtype=str(data.dtype),
        name=name,
        source_shape=(full_h, full_w),
        reduced_by=float(factor),
        note=note,
    )


def _check_reduced_read(src: Any, label: str, height: int, width: int, factor: int) -> None:
    """Refuse a reduced read that would decode more than ``FILE_LIMITS["read_pixels"]`` file
    pixels × bands: reducing goes through every pixel it spans (or through the overview
    GDAL picks), so a sparse 100,000 × 100,000 file of 300 kB would take minutes."""
    overview = max((f for f in src.overviews(1) if f <= factor), default=1)
    decoded = math.ceil(height / overview) * math.ceil(width / overview) * src.count
    limit = FILE_LIMITS["read_pixels"]
    if decoded > limit:
        raise ImageError(
            f"{label} is {width:,} × {height:,} pixels × {src.count} band(s): reading it at "
            f"1/{factor} resolution would decode {_millions(decoded)} file pixels, over the "
            f"limit of {_millions(limit)} for one read (the limit on pixels). Build overviews "
            "first (`gdaladdo -r average scene.tif`) and open it again, or read a part. "
            f"{_SMALLER_COPY}"
        )


@contextlib.contextmanager
def _read_warnings() -> Iterator[list[str]]:
    """Collect the warnings GDAL reports while pixels are read (rasterio logs them):
    a driver that meets missing or corrupt data may warn and return zeros."""
    messages: list[str] = []
    handler = _Collect(messages)
    logger = logging.getLogger("rasterio._err")
    logger.addHandler(handler)
    try:
        yield messages
    finally:
        logger.removeHandler(handler)


class _Collect(logging.Handler):
    def __init__(self, messages: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.messages = messages

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            self.messages.append(record.getMessage())


def _band_names(src: Any) -> tuple[str, ...]:
    names: list[str] = []
    for i in range(src.count):
        description = (src.descriptions[i] or "").strip()
        interp = src.colorinterp[i]
        if description:
            candidate = description
        elif interp in (ColorInterp.red, ColorInterp.green, ColorInterp.blue):
            candidate = interp.name
        else:
            candidate = f"band {i + 1}"
        if candidate in names:
            candidate = f"{candidate} ({i + 1})"
        names.append(candidate)
    return tuple(names)


def _millions(n: int) -> str:
    return f"{n / 1e6:,.1f} million" if n >= 1_000_000 else f"{n:,}"


def _angular_unit(crs: CRS) -> float:
    """Radians per unit of a geographic CRS (degrees unless it says otherwise)."""
    try:
        _, factor = crs.units_factor
    except (rasterio.errors.CRSError, AttributeError):
        return math.pi / 180
    return float(factor) if factor else math.pi / 180


def _ellipsoid(crs: CRS) -> tuple[float, float]:
    """Semi-major axis (m) and flattening of a CRS's ellipsoid (WGS 84 when unstated)."""
    match = re.search(
        r'(?:SPHEROID|ELLIPSOID)\["[^"]*",\s*([0-9.eE+-]+),\s*([0-9.eE+-]+)', crs.to_wkt()
    )
    if not match:
        return 6378137.0, 1 / 298.257223563
    a, inverse_f = float(match.group(1)), float(match.group(2))
    return a, (1.0 / inverse_f if inverse_f else 0.0)


def ellipsoid_zone_area(latitude: np.ndarray, a: float, f: float) -> np.ndarray:
    """Area between the equator and `latitude`, per radian of longitude, on an ellipsoid.

    Parameters
    ----------
    latitude : ndarray of float
        Geodetic latitudes in radians.
    a : float
        Semi-major axis in metres.
    f : float
        Flattening (0 for a sphere).

    Returns
    -------
    ndarray of float64
        Signed area in m² (negative south of the equator). The area of a cell between
        latitudes φ1, φ2 and longitudes λ1, λ2 (radians) is ``|λ2 − λ1| · |S(φ2) − S(φ1)|``.
        The closed form of the authalic-latitude integral:
        ``S(φ) = b²/2 · (sin φ / (1 − e² sin² φ) + atanh(e sin φ) / e)``.

    Examples
    --------
    >>> import math
    >>> total = 4 * math.pi * float(ellipsoid_zone_area(np.array(math.pi / 2), 6378137.0,
    ...                                                 1 / 298.257223563))
    >>> round(total / 1e6)  # the WGS 84 ellipsoid's surface, km²
    510065622
    """
    s = np.sin(np.asarray(latitude, dtype=np.float64))
    b = a * (1.0 - f)
    e2 = f * (2.0 - f)
    if e2 == 0:
        return a * a * s
    e = math.sqrt(e2)
    return 0.5 * b * b * (s / (1.0 - e2 * s * s) + np.arctanh(e * s) / e)


def class_areas(labels: np.ndarray, row_areas: np.ndarray, k: int) -> np.ndarray:
    """Ground area of each class, summing each row's pixel area.

    Parameters
    ----------
    labels : (H, W) ndarray of int
        Class per pixel, ``-1`` for pixels that do not count.
    row_areas : (H,) ndarray of float
        Area of one pixel of each row (:meth:`GeoReference.row_areas`).
    k : int
        Number of classes.

    Returns
    -------
    (k,) ndarray of float64
        Area per class, in the unit of `row_areas`.

    Examples
    --------
    >>> class_areas(np.array([[0, 1], [1, -1]]), np.array([100.0, 50.0]), 2).tolist()
    [100.0, 150.0]
    """
    labels = np.asarray(labels)
    if labels.ndim != 2 or row_areas.shape != (labels.shape[0],):
        raise ValueError(
            f"labels must be (H, W) and row_areas (H,), got {labels.shape} and {row_areas.shape}."
        )
    areas = np.zeros(k)
    step = max(1, 4_000_000 // max(1, labels.shape[1]))
    for start in range(0, labels.shape[0], step):
        block = labels[start : start + step]
        counts = np.stack([np.bincount(r[r >= 0], minlength=k)[:k] for r in block])
        areas += row_areas[start : start + step] @ counts
    return areas


# --- bands, indices and display ---------------------------------------------------------


def band_positions(raster: Raster, bands: Sequence[int | str] | None) -> list[int]:
    """Positions (0-based) of the chosen bands.

    Parameters
    ----------
    raster : Raster
    bands : sequence of int or str, or None
        0-based positions, or names as in :attr:`Raster.band_names` (case-insensitive; the
        roles ``"red"``, ``"green"``, ``"blue"``, ``"nir"`` also match common spellings).
        None chooses every band.

    Returns
    -------
    list of int

    Raises
    ------
    ValueError
        If a band does not exist, naming the bands that do.
    """
    if bands is None:
        return list(range(raster.n_bands))
    if isinstance(bands, (str, int)):
        bands = [bands]
    return [_band_position(raster, band) for band in bands]


def _band_position(raster: Raster, band: int | str) -> int:
    names = raster.band_names
    if isinstance(band, (int, np.integer)) and not isinstance(band, bool):
        if 0 <= band < len(names):
            return int(band)
        raise ValueError(
            f"Band {band} does not exist: the raster has {len(names)} bands, numbered "
            f"0 to {len(names) - 1} ({', '.join(names)})."
        )
    if isinstance(band, str):
        wanted = band.strip().lower()
        for i, name in enumerate(names):
            if name.lower() == wanted:
                return i
        role = next((r for r, spellings in _ROLE_NAMES.items() if wanted in (r, *spellings)), None)
        if role is not None:
            for i, name in enumerate(names):
                if name.lower() in _ROLE_NAMES[role]:
                    return i
        raise ValueError(
            f"No band is called {band!r}; the bands are {', '.join(map(repr, names))}. "
            "Choose one of them, or give its 0-based position."
        )
    raise ValueError(f"A band is an int position or a str name, got {band!r}.")


def spectral_index(
    raster: Raster,
    index: str,
    *,
    red: int | str = "red",
    green: int | str = "green",
    nir: int | str = "nir",
) -> np.ndarray:
    """A normalised-difference index of every pixel.

    Parameters
    ----------
    raster : Raster
    index : {"ndvi", "ndwi"}
        NDVI = (NIR − red) / (NIR + red); NDWI = (green − NIR) / (green + NIR) (McFeeters).
    red, green, nir : int or str
        Where to find each band (see :func:`band_positions`).

    Returns
    -------
    (H, W) ndarray of float32
        Values in [−1, 1]; 0 where both bands are 0.

    Raises
    ------
    ValueError
        If `index` is unknown or a band it needs cannot be found.
    """
    key = index.lower() if isinstance(index, str) else index
    if key not in INDICES:
        raise ValueError(f"Unknown index {index!r}; choose one of {', '.join(INDICES)}.")
    where = {"red": red, "green": green, "nir": nir}
    first, second = (_band_position(raster, where[role]) for role in INDICES[key])
    a = raster.data[first].astype(np.float32)
    b = raster.data[second].astype(np.float32)
    total = a + b
    np.subtract(a, b, out=a)
    np.divide(a, total, out=a, where=total != 0)
    a[total == 0] = 0.0
    return a


def raster_features(
    raster: Raster,
    *,
    bands: Sequence[int | str] | None = None,
    indices: Sequence[str] = (),
    standardize: bool = True,
    valid: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Feature vectors of the valid pixels: chosen bands, then indices.

    Parameters
    ----------
    raster : Raster
    bands : sequence of int or str, optional
        Bands to use (see :func:`band_positions`); default every band.
    indices : sequence of {"ndvi", "ndwi"}
        Indices appended as extra features.
    standardize : bool
        Scale every feature to zero mean and unit variance over the valid pixels, so a
        16-bit band does not outweigh an index in [−1, 1] (as Orfeo ToolBox does). False
        keeps the raw values.
    valid : (H, W) ndarray of bool, optional
        Pixels to use; default :attr:`Raster.valid`.

    Returns
    -------
    features : (n, d) ndarray of float32
        One row per valid pixel, in row-major order.
    valid : (H, W) ndarray of bool
        Which pixels the rows are.
    names : tuple of str
        The name of each feature.

    Raises
    ------
    ValueError
        If a band or index does not exist, or no pixel is valid.
    """
    positions = band_positions(raster, bands)
    keys = [i.lower() for i in indices]
    for key in keys:
        if key not in INDICES:
            raise ValueError(f"Unknown index {key!r}; choose one of {', '.join(INDICES)}.")
    mask = raster.valid if valid is None else np.asarray(valid, dtype=bool)
    if mask.shape != raster.valid.shape:
        raise ValueError(f"valid must have shape {raster.valid.shape}, got {mask.shape}.")
    n = int(np.count_nonzero(mask))
    if n == 0:
        raise ValueError("No pixel is valid: the whole raster is no-data or masked.")
    d = len(positions) + len(keys)
    if d == 0:
        raise ValueError("Choose at least one band or index.")
    flat = mask.ravel()
    all_valid = bool(flat.all())
    features = np.empty((n, d), dtype=np.float32)
    sources: list[Any] = [lambda p=p: raster.data[p] for p in positions]
    sources += [lambda key=key: spectral_index(raster, key) for key in keys]
    for j, source in enumerate(sources):
        # One contiguous float32 column at a time: statistics and scaling run on it, and
        # the (n, d) matrix is written once, column by column.
        column = source().ravel()
        values = (column if all_valid else column[flat]).astype(np.float32, copy=True)
        del column
        if standardize:
            mean, std = _mean_std(values)
            values -= np.float32(mean)
            if std > 0:
                values *= np.float32(1.0 / std)
        features[:, j] = values
        del values
    names = tuple(raster.band_names[p] for p in positions) + tuple(k.upper() for k in keys)
    return features, mask, names


def _mean_std(values: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of a 1-D array in float64, in bounded chunks."""
    total = squares = 0.0
    for start in range(0, values.shape[0], 1 << 20):
        chunk = values[start : start + (1 << 20)].astype(np.float64)
        total += float(chunk.sum())
        squares += float(np.square(chunk).sum())  # not BLAS: see kmeans_nd._threads_for
    mean = total / values.shape[0]
    return mean, math.sqrt(max(squares / values.shape[0] - mean * mean, 0.0))


def default_rgb_bands(raster: Raster) -> tuple[int, int, int]:
    """The bands to show as red, green, blue: by name when the file says, else 0, 1, 2."""
    try:
        return tuple(_band_position(raster, role) for role in ("red", "green", "blue"))  # type: ignore[return-value]
    except ValueError:
        if raster.n_bands >= 3:
            return (0, 1, 2)
        return (0, 0, 0)


def stretch_rgb(
    raster: Raster,
    rgb: Sequence[int | str] | None = None,
    *,
    percentiles: tuple[float, float] = (2.0, 98.0),
    bounds: Sequence[tuple[float, float]] | None = None,
) -> np.ndarray:
    """The display image: three bands, each stretched linearly between two values.

    By default the two values are percentiles of this raster's valid pixels (a display
    stretch of its own); with `bounds` they are given, so that rasters stretched with the
    same bounds show the same value as the same colour (one mapping for a collection).

    Parameters
    ----------
    raster : Raster
    rgb : three ints or strs, optional
        Bands to show as red, green and blue; default :func:`default_rgb_bands` (a
        single-band raster is shown in grey).
    percentiles : (float, float)
        The values at these percentiles of the valid pixels map to 0 and 255 (2–98 %, as
        GIS viewers do); values beyond are clipped. Unused with `bounds`.
    bounds : three (low, high) pairs of float, optional
        Per channel, the band values that map to 0 and 255 (values beyond are clipped),
        instead of percentiles. ``[(0, 255)] * 3`` keeps 8-bit bands as they are.

    Returns
    -------
    (H, W, 3) ndarray of uint8
        Invalid pixels are black (show them with the validity mask).

    Examples
    --------
    >>> raster = Raster(np.array([[[0, 500, 1000]]] * 3, dtype=np.uint16),
    ...                 np.ones((1, 3), dtype=bool), GeoReference(None, Affine.identity()),
    ...                 None, ("red", "green", "blue"), "uint16")
    >>> stretch_rgb(raster, bounds=[(0, 1000)] * 3)[0, :, 0].tolist()
    [0, 128, 255]
    """
    positions = band_positions(raster, rgb) if rgb is not None else list(default_rgb_bands(raster))
    if len(positions) != 3:
        raise ValueError(f"rgb must name three bands, got {len(positions)}.")
    low_p, high_p = percentiles
    if not 0 <= low_p < high_p <= 100:
        raise ValueError(f"percentiles must satisfy 0 <= low < high <= 100, got {percentiles}.")
    if bounds is not None and (
        len(bounds) != 3 or not all(len(pair) == 2 and np.isfinite(pair).all() for pair in bounds)
    ):
        raise ValueError(f"bounds must be three finite (low, high) pairs, got {bounds!r}.")
    valid = raster.valid
    # Percentiles of a strided subsample: exact enough for display, bounded work.
    step = max(1, int(math.sqrt(raster.n_pixels / 1_000_000)))
    sample_valid = valid[::step, ::step]
    out = np.zeros((raster.height, raster.width, 3), dtype=np.uint8)
    for channel, position in enumerate(positions):
        band = raster.data[position]
        if bounds is not None:
            low, high = (float(v) for v in bounds[channel])
        else:
            sample = band[::step, ::step][sample_valid]
            if sample.size == 0:
                continue
            low, high = np.percentile(sample.astype(np.float64), [low_p, high_p])
        scale = 255.0 / (high - low) if high > low else 0.0
        scaled = (band.astype(np.float32) - np.float32(low)) * np.float32(scale)
        np.clip(scaled, 0, 255, out=scaled)
        out[:, :, channel] = np.rint(scaled).astype(np.uint8)
    out[~valid] = 0
    return out


# --- writing -------------------------------------------------------------------------------


def _to_uint8_labels(labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must be a 2-D (H, W) array, got shape {labels.shape}.")
    if labels.size and int(labels.max()) >= LABEL_NODATA:
        raise ValueError(f"A label GeoTIFF holds at most {LABEL_NODATA} classes (0 … 254).")
    out = labels.astype(np.uint8)
    out[labels < 0] = LABEL_NODATA
    return out


def _write(profile: dict[str, Any], write: Any) -> bytes:
    with MemoryFile() as memfile, warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with memfile.open(**profile) as dst:
            write(dst)
        return bytes(memfile.read())


def _profile(height: int, width: int, count: int, geo: GeoReference | None) -> dict[str, Any]:
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "height": height,
        "width": width,
        "count": count,
        "dtype": "uint8",
        "compress": "deflate",
        "tiled": height * width > 512 * 512,
    }
    if geo is not None:
        profile["transform"] = geo.transform
        if geo.crs is not None:
            profile["crs"] = geo.crs
    return profile


def label_geotiff(
    labels: np.ndarray,
    palette: np.ndarray,
    geo: GeoReference | None,
    *,
    class_names: Sequence[str] | None = None,
) -> bytes:
    """A single-band uint8 GeoTIFF of the classes, ready to lay over the scene in QGIS.

    Parameters
    ----------
    labels : (H, W) ndarray of int
        Class per pixel in ``0 … 254``; ``-1`` (pixels that do not count) becomes no-data.
    palette : (k, 3) ndarray of uint8
        Colour of each class, written as the band's colour table (no-data transparent).
    geo : GeoReference or None
        CRS and transform to write (the scene's); None writes a plain TIFF.
    class_names : sequence of str, optional
        One description per class, stored as band tags ``CLASS_0`` … (GDAL metadata);
        default ``"cluster i #rrggbb"``.

    Returns
    -------
    bytes
        The GeoTIFF file (deflate-compressed, no-data :data:`LABEL_NODATA`).
    """
    out = _to_uint8_labels(labels)
    palette = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
    k = palette.shape[0]
    if class_names is None:
        class_names = [f"cluster {i} #{r:02x}{g:02x}{b:02x}" for i, (r, g, b) in enumerate(palette)]
    if len(class_names) != k:
        raise ValueError(f"class_names must have one name per class ({k}), got {len(class_names)}.")
    profile = _profile(out.shape[0], out.shape[1], 1, geo)
    profile["nodata"] = LABEL_NODATA
    colormap = {i: (0, 0, 0, 0) for i in range(256)}
    for i, (r, g, b) in enumerate(palette):
        colormap[i] = (int(r), int(g), int(b), 255)

    def write(dst: Any) -> None:
        dst.write(out, 1)
        dst.write_colormap(1, colormap)
        dst.set_band_description(1, f"kseg classes (k={k})")
        dst.update_tags(1, **{f"CLASS_{i}": name for i, name in enumerate(class_names)})
        dst.update_tags(K=str(k), SOFTWARE="kseg")

    return _write(profile, write)


def rgb_geotiff(rgb: np.ndarray, valid: np.ndarray | None, geo: GeoReference | None) -> bytes:
    """The segmented image as an RGB(A) GeoTIFF in the scene's georeference.

    Parameters
    ----------
    rgb : (H, W, 3) ndarray of uint8
    valid : (H, W) ndarray of bool, or None
        Pixels that count; with it, a fourth alpha band makes the others transparent.
    geo : GeoReference or None

    Returns
    -------
    bytes
    """
    rgb = np.asarray(rgb, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb must be (H, W, 3), got {rgb.shape}.")
    count = 3 if valid is None else 4
    profile = _profile(rgb.shape[0], rgb.shape[1], count, geo)
    profile["photometric"] = "RGB"

    def write(dst: Any) -> None:
        dst.write(np.moveaxis(rgb, 2, 0), [1, 2, 3])
        interp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue]
        if valid is not None:
            dst.write(np.where(valid, 255, 0).astype(np.uint8), 4)
            interp.append(ColorInterp.alpha)
        dst.colorinterp = interp

    return _write(profile, write)


def sieve_labels(labels: np.ndarray, min_pixels: int, *, connectivity: int = 4) -> np.ndarray:
    """Merge every region smaller than `min_pixels` into its largest neighbour (GDAL sieve).

    Parameters
    ----------
    labels : (H, W) ndarray of int
        ``-1`` marks pixels that do not count; they stay ``-1`` and absorb nothing.
    min_pixels : int
        Regions of fewer pixels are merged; 1 changes nothing.
    connectivity : {4, 8}

    Returns
    -------
    (H, W) ndarray of int32

    Examples
    --------
    >>> labels = np.zeros((3, 3), dtype=np.int32); labels[1, 1] = 1
    >>> sieve_labels(labels, 2).tolist()
    [[0, 0, 0], [0, 0, 0], [0, 0, 0]]
    """
    if isinstance(min_pixels, bool) or not isinstance(min_pixels, (int, np.integer)):
        raise ValueError(f"min_pixels must be a positive integer, got {min_pixels!r}.")
    if min_pixels < 1 or connectivity not in (4, 8):
        raise ValueError("min_pixels must be >= 1 and connectivity 4 or 8.")
    labels = np.asarray(labels)
    valid = labels >= 0
    source = np.where(valid, labels, 0).astype(np.int32)
    if min_pixels == 1:
        return np.where(valid, source, -1).astype(np.int32)
    sieved = rasterio.features.sieve(source, min_pixels, mask=valid, connectivity=connectivity)
    return np.where(valid, sieved, -1).astype(np.int32)


def majority_filter(labels: np.ndarray, size: int = 3) -> np.ndarray:
    """Replace every valid pixel's class by the most common class in its neighbourhood.

    Parameters
    ----------
    labels : (H, W) ndarray of int
        ``-1`` marks pixels that do not count: they neither vote nor change.
    size : int
        Odd window side (3 → 3 × 3). A tie keeps the pixel's own class when it is among
        the most common, else the lowest class.

    Returns
    -------
    (H, W) ndarray of int32

    Examples
    --------
    >>> labels = np.zeros((3, 3), dtype=np.int32); labels[1, 1] = 1; labels[0, 0] = -1
    >>> majority_filter(labels).tolist()
    [[-1, 0, 0], [0, 0, 0], [0, 0, 0]]
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise ValueError(f"size must be a positive odd integer, got {size!r}.")
    if size < 1 or size % 2 == 0:
        raise ValueError(f"size must be a positive odd integer, got {size!r}.")
    labels = np.asarray(labels).astype(np.int32)
    if labels.size == 0 or size == 1:
        return labels.copy()
    k = int(labels.max()) + 1
    best_count = np.full(labels.shape, -1.0, dtype=np.float32)
    best = labels.copy()
    own_count = np.zeros(labels.shape, dtype=np.float32)
    for c in range(k):
        votes = cv2.boxFilter(
            (labels == c).astype(np.float32),
            -1,
            (size, size),
            normalize=False,
            borderType=cv2.BORDER_CONSTANT,
        )
        better = votes > best_count
        best[better] = c
        best_count[better] = votes[better]
        own = labels == c
        own_count[own] = votes[own]
    keep = own_count >= best_count
    out = np.where(keep, labels, best)
    out[labels < 0] = -1
    return out.astype(np.int32)


def class_polygons(
    labels: np.ndarray,
    geo: GeoReference,
    *,
    palette: np.ndarray | None = None,
    min_pixels: int = 1,
    connectivity: int = 4,
    to_wgs84: bool = True,
) -> dict[str, Any]:
    """The regions of each class as GeoJSON polygons.

    Parameters
    ----------
    labels : (H, W) ndarray of int
        ``-1`` marks pixels that do not count (no polygon).
    geo : GeoReference
    palette : (k, 3) ndarray of uint8, optional
        Adds a ``"color"`` (``"#rrggbb"``) property per feature.
    min_pixels : int
        Sieve regions smaller than this first (:func:`sieve_labels`), so the file stays
        small; 1 keeps every region.
    connectivity : {4, 8}
    to_wgs84 : bool
        Reproject coordinates to longitude/latitude (EPSG:4326), as RFC 7946 asks; False
        keeps the scene's CRS and records it in a ``"crs"`` member (GDAL's convention).

    Returns
    -------
    dict
        A GeoJSON FeatureCollection; each feature has properties ``class``, ``pixels``,
        ``area_m2`` (None without a CRS) and, with `palette`, ``color``.
    """
    if min_pixels > 1:
        labels = sieve_labels(labels, min_pixels, connectivity=connectivity)
    labels = np.asarray(labels)
    valid = labels >= 0
    source = np.where(valid, labels, 0).astype(np.int32)
    rows = geo.row_areas(labels.shape[0])
    pixel_area = None
    if rows is not None and np.ptp(rows) == 0:
        pixel_area = float(rows[0])
    det = abs(geo.transform.a * geo.transform.e - geo.transform.b * geo.transform.d)
    reproject = to_wgs84 and geo.crs is not None and geo.crs.to_epsg() != 4326
    features = []
    for geometry, value in rasterio.features.shapes(
        source, mask=valid, connectivity=connectivity, transform=geo.transform
    ):
        cls = int(value)
        n_pixels = _ring_area(geometry) / det if det else 0.0
        if pixel_area is not None:
            area = n_pixels * pixel_area
        elif rows is not None:
            area = _geographic_polygon_area(geometry, geo)
        else:
            area = None
        if reproject:
            geometry = rasterio.warp.transform_geom(geo.crs, "EPSG:4326", geometry)
        properties: dict[str, Any] = {
            "class": cls,
            "pixels": round(n_pixels),
            "area_m2": None if area is None else round(area, 3),
        }
        if palette is not None:
            r, g, b = (int(v) for v in np.asarray(palette)[cls])
            properties["color"] = f"#{r:02x}{g:02x}{b:02x}"
        features.append({"type": "Feature", "geometry": geometry, "properties": properties})
    collection: dict[str, Any] = {"type": "FeatureCollection", "features": features}
    if not reproject and geo.crs is not None and not to_wgs84:
        collection["crs"] = {"type": "name", "properties": {"name": geo.crs_name}}
    return collection


def _ring_area(geometry: dict[str, Any]) -> float:
    """Planar area of a GeoJSON polygon (outer ring minus holes), shoelace formula."""
    total = 0.0
    for i, ring in enumerate(geometry["coordinates"]):
        xy = np.asarray(ring, dtype=np.float64)
        x, y = xy[:, 0], xy[:, 1]
        area = 0.5 * abs(float(np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1])))
        total += area if i == 0 else -area
    return total


def _geographic_polygon_area(geometry: dict[str, Any], geo: GeoReference) -> float:
    """Area of a pixel-aligned polygon in a north-up geographic grid, from its rasterisation."""
    ring = np.asarray(geometry["coordinates"][0], dtype=np.float64)
    inverse = ~geo.transform
    cols, rows = inverse @ (ring[:, 0], ring[:, 1])
    top, bottom = int(np.rint(rows.min())), int(np.rint(rows.max()))
    left, right = int(np.rint(cols.min())), int(np.rint(cols.max()))
    shape = (bottom - top, right - left)
    local = geo.transform @ Affine.translation(left, top)
    mask = rasterio.features.geometry_mask(
        [geometry], out_shape=shape, transform=local, invert=True
    )
    areas = GeoReference(geo.crs, local).row_areas(shape[0])
    assert areas is not None
    return float(np.count_nonzero(mask, axis=1) @ areas)


def polygons_json(collection: dict[str, Any]) -> bytes:
    """A GeoJSON collection as UTF-8 bytes (compact, for downloads)."""
    return json.dumps(collection, separators=(",", ":")).encode("utf-8")
