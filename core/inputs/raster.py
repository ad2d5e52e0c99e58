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
import logging
import math
import os
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final, Literal

import numpy as np
import rasterio
import rasterio.errors
import rasterio.features
from affine import Affine
from rasterio._err import CPLE_BaseError
from rasterio.crs import CRS
from rasterio.enums import ColorInterp, MaskFlags, Resampling
from rasterio.io import MemoryFile
from rasterio.windows import Window

from core.errors import ImageError
from core.inputs.bounds import (
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
from core.inputs.geoarea import (
    AreaBasis,
    PixelAreas,
    ellipsoid_zone_area,
    pixel_areas,
)
from core.validation import FILE_LIMITS

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "INDICES",
    "LABEL_NODATA",
    "GeoReference",
    "Raster",
    "class_areas",
    "ellipsoid_zone_area",
    "is_georeferenced",
    "open_raster",
]

#: Pixel cap for what is read (the same figure as :data:`core.inputs.io.DEFAULT_MAX_PIXELS`).
DEFAULT_MAX_PIXELS: Final = 100_000_000
#: The no-data value of label GeoTIFFs (uint8; classes are 0 … k − 1, k ≤ 255).
LABEL_NODATA: Final = 255
#: Spectral indices :func:`spectral_index` computes, with the bands each one needs.
INDICES: Final[dict[str, tuple[str, str]]] = {
    "ndvi": ("nir", "red"),  # (NIR − red) / (NIR + red): vegetation (Rouse et al. 1974)
    "ndwi": ("green", "nir"),  # (green − NIR) / (green + NIR): open water (McFeeters 1996)
}

# Names a band's description or colour interpretation may carry, per role.
ROLE_NAMES: Final[dict[str, tuple[str, ...]]] = {
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

    def row_areas(
        self, height: int, width: int | None = None, *, basis: AreaBasis | None = None
    ) -> np.ndarray | None:
        """Ground area of one pixel in each row, in m², where one value per row suffices.

        Parameters
        ----------
        height : int
            Rows of the grid.
        width : int, optional
            Columns of the grid. Needed for ground areas in a projected CRS (the default
            basis then), where the area may vary along a row.
        basis : {"ellipsoid", "plane"}, optional
            ``"ellipsoid"``: on the CRS's ellipsoid (:func:`core.inputs.geoarea.pixel_areas`);
            ``"plane"``: the map plane's ``|det T|`` × unit². Default: ``"ellipsoid"``
            when `width` is given, else ``"plane"`` in a projected CRS (the behaviour of
            earlier versions). A geographic CRS is always measured on the ellipsoid.

        Returns
        -------
        (height,) ndarray of float64, or None
            None when there is no CRS. In a geographic CRS each row's cells are exact
            ellipsoidal quadrangles (:func:`ellipsoid_zone_area`), so they shrink towards
            the poles.

        Raises
        ------
        ImageError
            If the grid is rotated in a geographic CRS, its rows lie beyond ±90° latitude,
            or the CRS has units we cannot turn into metres.
        ValueError
            If the ground areas vary along the rows in this CRS (UTM, rotated grids,
            geostationary views): use :meth:`pixel_areas` instead.
        """
        if basis is None:
            basis = "plane" if width is None else "ellipsoid"
        if basis == "ellipsoid" and width is None and self.crs is not None:
            if not self.crs.is_geographic:
                raise ValueError("row_areas needs the grid's width for ground areas: pass width.")
        areas = self.pixel_areas(height, 1 if width is None else width, basis=basis)
        if areas is None:
            return None
        if areas.rows is None:
            raise ValueError(
                f"Ground areas vary along the rows in {self.crs_name}: use "
                "GeoReference.pixel_areas(height, width) and its class_areas()."
            )
        return areas.rows

    def pixel_areas(
        self, height: int, width: int, *, basis: AreaBasis = "ellipsoid"
    ) -> PixelAreas | None:
        """Ground area of every pixel, in m² (see :func:`core.inputs.geoarea.pixel_areas`).

        Returns
        -------
        PixelAreas or None
            None when there is no CRS; its ``basis`` says where the areas were measured.
        """
        return pixel_areas(self.crs, self.transform, (height, width), basis=basis)


@dataclass(frozen=True, eq=False)
class Raster:
    """A raster as read: every band, dtype kept, with its georeference and validity.

    Attributes
    ----------
    data : (B, H, W) ndarray
        The bands in the file's dtype (uint8, uint16, int16, float32, …), band-first as
        rasterio reads them.
    valid : (H, W) ndarray of bool
        True where every band holds data: False where any band (alpha bands aside) is
        no-data — its no-data value, the file's internal mask, NaN or infinity — and where
        an alpha band is 0. For some of the bands only, see :meth:`valid_for`.
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
    band_masks : (B, H, ⌈W / 8⌉) ndarray of uint8, or None
        Where each band holds data, packed with ``np.packbits`` along the rows (read it with
        :meth:`valid_for`); None when every band holds data exactly where :attr:`valid`
        says (the common case, and rasters built by hand).
    alpha_bands : tuple of int
        Positions of alpha bands (colour interpretation ``alpha``): a mask (0 = no-data,
        folded into :attr:`valid`), never a feature — :func:`core.inputs.display.band_positions`
        leaves them out and refuses them by name.
    colortable : bool
        True when the file is a paletted raster (one band of indices into a colour table):
        its colours were expanded into the ``red``, ``green`` and ``blue`` bands of
        :attr:`data`, so that classes are made of colours, not of index numbers.
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
    band_masks: np.ndarray | None = None
    alpha_bands: tuple[int, ...] = ()
    colortable: bool = False

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

    def valid_for(self, positions: Sequence[int]) -> np.ndarray:
        """Pixels where every band at `positions` holds data (and no alpha band is 0).

        A pixel is no-data for a computation as soon as one band it reads is (as Orfeo
        ToolBox and Earth Engine mask it); bands it does not read do not matter.

        Parameters
        ----------
        positions : sequence of int
            0-based band positions (an index's input bands included).

        Returns
        -------
        (H, W) ndarray of bool
            :attr:`valid` itself when the bands' masks all agree (no copy); never fewer
            pixels than :attr:`valid`.

        Examples
        --------
        >>> bands = np.array([[[1, 2]], [[0, 3]]], dtype=np.uint8)  # band 1 no-data at (0, 0)
        >>> masks = np.packbits(bands > 0, axis=-1)
        >>> raster = Raster(bands, bands.all(axis=0), GeoReference(None, Affine.identity()),
        ...                 0.0, ("a", "b"), "uint8", band_masks=masks)
        >>> raster.valid_for([0]).tolist(), raster.valid_for([0, 1]).tolist()
        ([[True, True]], [[False, True]])
        """
        wanted = sorted({int(p) for p in positions} - set(self.alpha_bands))
        if self.band_masks is None or not wanted:
            return self.valid
        if wanted == [p for p in range(self.n_bands) if p not in self.alpha_bands]:
            return self.valid
        out = np.ones(self.valid.shape, dtype=bool)
        step = max(1, (1 << 22) // max(1, self.width))
        for start in range(0, self.height, step):
            rows = slice(start, start + step)
            for p in wanted:
                out[rows] &= np.unpackbits(
                    self.band_masks[p, rows], axis=-1, count=self.width
                ).view(bool)
        return out

    def row_areas(self, *, basis: AreaBasis | None = None) -> np.ndarray | None:
        """Area (m²) of a pixel in each row; see :meth:`GeoReference.row_areas`.

        Without `basis`, the plane area in a projected CRS (as in earlier versions); use
        :meth:`pixel_areas` for ground areas in any CRS.
        """
        width = None if basis is None else self.width
        return self.geo.row_areas(self.height, width, basis=basis)

    def pixel_areas(self, *, basis: AreaBasis = "ellipsoid") -> PixelAreas | None:
        """Ground area of every pixel (:meth:`GeoReference.pixel_areas`); None without a CRS."""
        return self.geo.pixel_areas(self.height, self.width, basis=basis)

    def valid_area_m2(self, *, basis: AreaBasis = "ellipsoid") -> float | None:
        """Ground area of the valid pixels in m² (None without a CRS).

        Pixels off the Earth (a geostationary view's corners) add nothing.
        """
        areas = self.pixel_areas(basis=basis)
        return None if areas is None else areas.total(self.valid)


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
    colours = _colour_table(src)
    # The bands at their dtype, the mask GDAL returns and our validity array; drivers that
    # decode the whole image hold it once more. A paletted band becomes three 8-bit bands.
    per_pixel = src.count * dtype.itemsize + 2 + (3 if colours is not None else 0)
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
    # Colour-table indices are names, not quantities: never averaged.
    average = factor > 1 and resampling == "average" and colours is None
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
        alpha = _alpha_bands(src)
        valid, band_masks = _validity(src, data, win, alpha)
    if complaints:
        raise ImageError(
            f"{label} is truncated or damaged: reading its pixels failed ({complaints[0]}). "
            "Download or export it again (gdalinfo -checksum shows the damage)."
        )
    names = _band_names(src, alpha)
    if colours is not None:
        data, valid = _expand_colours(data[0], valid, colours)
        names, band_masks, alpha = ("red", "green", "blue"), None, ()
    return Raster(
        data=data,
        valid=np.ascontiguousarray(valid),
        geo=GeoReference(crs=src.crs, transform=transform),
        nodata=None if src.nodata is None else float(src.nodata),
        band_names=names,
        dtype=str(data.dtype),
        name=name,
        source_shape=(full_h, full_w),
        reduced_by=float(factor),
        note=note,
        band_masks=band_masks,
        alpha_bands=alpha,
        colortable=colours is not None,
    )


def _alpha_bands(src: Any) -> tuple[int, ...]:
    """Positions of the bands whose colour interpretation is alpha (none if every band is)."""
    alpha = tuple(i for i, interp in enumerate(src.colorinterp) if interp == ColorInterp.alpha)
    return alpha if len(alpha) < src.count else ()


def _validity(
    src: Any, data: np.ndarray, win: Window | None, alpha: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray | None]:
    """Where each band holds data, and where all of them do (alpha bands as a mask).

    A band holds data where GDAL's mask of it says so (its no-data value, the file's
    internal mask or alpha band), where it differs from its own no-data value (which an
    internal mask shadows in GDAL), is finite, and where no alpha band is 0 (which a
    no-data value shadows in GDAL). Returns (valid, packed per-band masks or None when
    they all agree). Works a row strip at a time: one (H, W) uint8 mask buffer and the
    (H, W) result besides the packed masks.
    """
    import rasterio.errors

    count, height, width = data.shape
    nodatavals = tuple(src.nodatavals)
    floating = np.issubdtype(data.dtype, np.floating)
    buffer = np.empty((height, width), dtype=np.uint8)
    valid = np.ones((height, width), dtype=bool)
    packed = np.empty((count, height, (width + 7) // 8), dtype=np.uint8)
    step = max(1, (1 << 20) // max(1, width))
    alpha_ok = None
    if alpha:
        alpha_ok = np.ones((height, width), dtype=bool)
        for a in alpha:
            np.logical_and(alpha_ok, data[a] > 0, out=alpha_ok)
    flags = tuple(tuple(band_flags) for band_flags in src.mask_flag_enums)
    for b in range(count):
        nodata = nodatavals[b] if b < len(nodatavals) else None
        if nodata is not None and not _representable(nodata, data.dtype):
            nodata = None  # NaN (isfinite below), or a value no pixel can hold
        # GDAL's mask says nothing the values do not (all valid, or the no-data value of a
        # full-resolution read): skip reading it.
        redundant = flags[b] == (MaskFlags.all_valid,) or (
            flags[b] == (MaskFlags.nodata,)
            and nodata is not None
            and data.shape[1:]
            == ((win.height, win.width) if win is not None else (src.height, src.width))
        )
        if not redundant:
            with warnings.catch_warnings():
                # Both a no-data value and an alpha band: GDAL keeps the first (and
                # rasterio warns); we apply both, below.
                warnings.simplefilter("ignore", rasterio.errors.NodataShadowWarning)
                src.read_masks(b + 1, out=buffer, window=win)
        for start in range(0, height, step):
            rows = slice(start, start + step)
            band = data[b, rows]
            ok = np.ones(band.shape, dtype=bool) if redundant else buffer[rows] > 0
            if nodata is not None:
                ok &= band != data.dtype.type(nodata)
            if floating:
                ok &= np.isfinite(band)
            if alpha_ok is not None:
                ok &= alpha_ok[rows]
            if b not in alpha:
                valid[rows] &= ok
            packed[b, rows] = np.packbits(ok, axis=-1)
    features = [b for b in range(count) if b not in alpha]
    if all(np.array_equal(packed[b], packed[features[0]]) for b in features[1:]):
        return valid, None
    return valid, packed


def _representable(value: float, dtype: np.dtype) -> bool:
    """Whether a no-data value can occur in bands of `dtype` (255.5 or −1 in uint8 cannot;
    NaN never compares equal, so it is told by finiteness instead)."""
    value = float(value)
    if not math.isfinite(value):
        return False
    if np.issubdtype(dtype, np.floating):
        return abs(value) <= float(np.finfo(dtype).max)
    info = np.iinfo(dtype)
    return value.is_integer() and info.min <= value <= info.max


def _colour_table(src: Any) -> np.ndarray | None:
    """(N, 4) uint8 RGBA per index of a paletted single-band raster, else None."""
    if src.count != 1 or src.colorinterp[0] != ColorInterp.palette:
        return None
    if not np.issubdtype(np.dtype(src.dtypes[0]), np.integer):
        return None
    try:
        entries = src.colormap(1)
    except ValueError:  # said paletted, but no table
        return None
    if not entries:
        return None
    size = max(256, max(entries) + 1)
    table = np.zeros((size, 4), dtype=np.uint8)
    table[:, 3] = 255  # indices beyond the table: black, as GDAL expands them
    for index, rgba in entries.items():
        table[index] = tuple(rgba)[:4]
    return table


def _expand_colours(
    indices: np.ndarray, valid: np.ndarray, table: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Three 8-bit bands of the colours of `indices`; a transparent entry is no-data."""
    safe = np.clip(indices, 0, table.shape[0] - 1)
    data = np.empty((3, *indices.shape), dtype=np.uint8)
    for channel in range(3):
        data[channel] = table[safe, channel]
    valid &= table[safe, 3] > 0
    return data, valid


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


def _band_names(src: Any, alpha: tuple[int, ...] = ()) -> tuple[str, ...]:
    names: list[str] = []
    for i in range(src.count):
        description = (src.descriptions[i] or "").strip()
        interp = src.colorinterp[i]
        if description:
            candidate = description
        elif interp in (ColorInterp.red, ColorInterp.green, ColorInterp.blue):
            candidate = interp.name
        elif i in alpha:
            candidate = "alpha"
        else:
            candidate = f"band {i + 1}"
        if candidate in names:
            candidate = f"{candidate} ({i + 1})"
        names.append(candidate)
    return tuple(names)


def _millions(n: int) -> str:
    return f"{n / 1e6:,.1f} million" if n >= 1_000_000 else f"{n:,}"


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
