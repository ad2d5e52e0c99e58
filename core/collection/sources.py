"""Where a collection's images come from: paths, URLs, bytes or arrays, read where they live."""

from __future__ import annotations

import functools
import io
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from core.errors import ImageError
from core.features.colortable import pixel_ids
from core.inputs.arrays import as_rgb_image

if TYPE_CHECKING:
    from core.inputs.io import LoadedImage
    from core.inputs.raster import GeoReference, Raster
from core.collection.palette import BandMapping

TIFF_MAGIC: Final = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
# Paths with these suffixes are photos: the first pass does not open them.
PHOTO_SUFFIXES: Final = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")


# --------------------------------------------------------------------------------------------
# Sources and histograms (run on workers; prior validation assumed)


@dataclass(frozen=True)
class Source:
    """One image to read: where it is (a path/URL, bytes, or pixels) and what to call it."""

    index: int
    name: str
    data: Any  # str path or URL | bytes | (H, W, 3) ndarray
    max_pixels: int | None = None


@dataclass(frozen=True)
class ImageInfo:
    index: int
    width: int
    height: int
    error: str | None = None


@dataclass(frozen=True)
class Pixels:
    """One image as read: its colours, the pixels that count, and where it lies."""

    rgb: np.ndarray  # (H, W, 3) uint8
    valid: np.ndarray | None  # (H, W) bool; None: every pixel counts
    geo: GeoReference | None  # a georeferenced raster's CRS and transform

    def valid_ids(self) -> np.ndarray:
        """Colour ids of the pixels that count, flat (n,) uint32."""
        ids = pixel_ids(self.rgb)
        return ids if self.valid is None else ids[self.valid.ravel()]


def read_pixels(
    source: Source, mapping: BandMapping | None, *, allow_empty: bool = False
) -> Pixels:
    """Pixels of one source; raises ImageError (or ValueError) for anything unusable.

    The pixels that count follow ``mask="auto"`` of :func:`core.segment`: fully transparent
    pixels and a raster's no-data are left out. A raster's colours follow
    :func:`raster_rgb` with `mapping`. An image where no pixel counts is an ImageError,
    unless `allow_empty` (a collection lists such tiles as empty, at zero pixels).
    """
    data = source.data
    if isinstance(data, np.ndarray):
        return Pixels(as_rgb_image(data, name=source.name), None, None)
    loaded = _open(source, functools.partial(raster_rgb, mapping=mapping))
    valid: np.ndarray | None = None
    if loaded.alpha is not None and not loaded.alpha.all():
        valid = loaded.alpha > 0
        if not valid.any() and not allow_empty:
            raise ImageError(
                f"Every pixel of '{Path(source.name).name}' is transparent or no-data: there "
                "is nothing to segment. Check the file (or its no-data value)."
            )
    geo = None if loaded.raster is None else loaded.raster.geo
    return Pixels(loaded.rgb, valid, geo)


def raster_rgb(raster: Raster, mapping: BandMapping | None) -> np.ndarray:
    """The 8-bit RGB a collection clusters for a raster: comparable from tile to tile.

    8-bit rasters are used as they are (their default RGB bands, like a photo). Others are
    mapped linearly with `mapping`, the collection's one mapping; without one (a palette
    fitted on photos only, or written before band mappings existed), each raster gets its
    own 2–98 % display stretch, as :func:`core.open_image` shows it.

    Parameters
    ----------
    raster : core.inputs.raster.Raster
    mapping : BandMapping or None

    Returns
    -------
    (H, W, 3) ndarray of uint8
        No-data pixels are black.

    Raises
    ------
    ValueError
        If the raster lacks one of the mapping's bands.
    """
    from core.inputs.display import default_rgb_bands, stretch_rgb

    if raster.dtype == "uint8":
        return stretch_rgb(raster, default_rgb_bands(raster), bounds=[(0.0, 255.0)] * 3)
    if mapping is None:
        return stretch_rgb(raster)
    return stretch_rgb(raster, mapping.bands, bounds=mapping.bounds)


def fetched_data(source: Source) -> Any:
    """The source's data, with a URL read into bytes (fsspec)."""
    data = source.data
    if isinstance(data, str) and "://" in data and not os.path.exists(data):
        import fsspec

        try:
            with fsspec.open(data, "rb") as handle:
                raw = handle.read()
        except Exception as e:  # any backend failure is one unreadable file
            raise ImageError(
                f"'{source.name}' could not be read ({type(e).__name__}: {e}). "
                "Check the URL and that the workers can reach it."
            ) from e
        return raw
    return data


def _open(source: Source, bands_to_rgb: Callable[[Raster], np.ndarray]) -> LoadedImage:
    """The file of a path, URL or bytes source, through core's one loading funnel."""
    from core.inputs.io import DEFAULT_MAX_PIXELS, open_image

    limit = source.max_pixels or DEFAULT_MAX_PIXELS
    data = fetched_data(source)
    if isinstance(data, bytes):
        # A named buffer, so that the error messages name the file.
        buffer = io.BytesIO(data)
        buffer.name = source.name
        return open_image(buffer, max_pixels=limit, bands_to_rgb=bands_to_rgb)
    return open_image(data, max_pixels=limit, bands_to_rgb=bands_to_rgb)


def failure_message(source: Source, error: BaseException) -> str:
    if isinstance(error, ValueError | TypeError):  # ImageError is a ValueError
        message = str(error)
    else:
        message = f"'{source.name}' could not be read ({type(error).__name__}: {error})."
    return " ".join(message.split())


def as_sources(sources: object, max_pixels: int | None) -> list[Source]:
    """Name every source: paths by their path, arrays and bytes by position or mapping key."""
    if isinstance(sources, str | os.PathLike | bytes | np.ndarray):
        raise TypeError(
            "sources must be a list of paths or images (or a dict name -> image), not a single "
            f"{type(sources).__name__}; wrap one image in a list: [image]."
        )
    if isinstance(sources, Mapping):
        pairs = [(str(name), data) for name, data in sources.items()]
    else:
        try:
            items = list(sources)  # type: ignore[call-overload]
        except TypeError:
            raise TypeError(
                f"sources must be a list of paths or images, got {type(sources).__name__}."
            ) from None
        pairs = []
        for i, data in enumerate(items):
            if isinstance(data, str | os.PathLike):
                name = os.fspath(data)
            else:
                name = getattr(data, "name", None) or f"image {i + 1}"
            pairs.append((str(name), data))
    result = []
    for i, (name, data) in enumerate(_relative_names(pairs)):
        if isinstance(data, os.PathLike):
            data = os.fspath(data)
        elif hasattr(data, "read"):
            data = data.getvalue() if hasattr(data, "getvalue") else data.read()
        elif isinstance(data, bytearray | memoryview):
            data = bytes(data)
        elif not isinstance(data, str | bytes):
            data = np.asarray(data)
        result.append(Source(index=i, name=name, data=data, max_pixels=max_pixels))
    return result


def _relative_names(pairs: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """Local paths named relative to the folder they share (``tiles/a/x.tif`` and
    ``tiles/b/y.tif`` -> ``a/x.tif``, ``b/y.tif``; one file -> its file name), so tables
    don't depend on how the input was typed. URLs and in-memory images keep their names."""
    local = [
        os.path.abspath(os.fspath(data))
        for name, data in pairs
        if isinstance(data, str | os.PathLike) and "://" not in os.fspath(data)
    ]
    if not local:
        return pairs
    try:
        root = os.path.commonpath([os.path.dirname(path) for path in local])
    except ValueError:  # paths on different drives
        return pairs
    renamed = []
    for name, data in pairs:
        if isinstance(data, str | os.PathLike) and "://" not in os.fspath(data):
            name = Path(os.path.relpath(os.path.abspath(os.fspath(data)), root)).as_posix()
        renamed.append((name, data))
    return renamed


def output_stems(sources: Sequence[Source]) -> list[str]:
    """Output file stems, unique within the run (``name``, ``name-2``, …)."""
    seen: dict[str, int] = {}
    stems = []
    for source in sources:
        base = Path(source.name).stem if source.name else f"image_{source.index + 1}"
        base = "".join(c if c.isalnum() or c in "-_." else "_" for c in base) or "image"
        n = seen.get(base, 0) + 1
        seen[base] = n
        stems.append(base if n == 1 else f"{base}-{n}")
    return stems


# --------------------------------------------------------------------------------------------
# Helpers for front ends (the dashboard's Collection page)

#: File suffixes taken from a ZIP of images.
ZIP_IMAGE_SUFFIXES: Final = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif")


def images_from_zip(data: bytes, *, name: str = "archive.zip") -> dict[str, bytes]:
    """The image files inside a ZIP, by their path in it (folders and hidden files skipped).

    Raises
    ------
    ImageError
        If `data` is not a readable ZIP or holds no image file.
    """
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = [
                info
                for info in archive.infolist()
                if not info.is_dir()
                and info.filename.lower().endswith(ZIP_IMAGE_SUFFIXES)
                and not any(part.startswith((".", "__MACOSX")) for part in info.filename.split("/"))
            ]
            files = {info.filename: archive.read(info) for info in members}
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise ImageError(
            f"'{name}' is not a ZIP file we can read ({e}). Upload the images themselves, "
            "or a ZIP made with your system's 'compress' command."
        ) from e
    if not files:
        raise ImageError(
            f"'{name}' holds no image files ({', '.join(ZIP_IMAGE_SUFFIXES)}). "
            "Put the images in the ZIP, or upload them directly."
        )
    return files
