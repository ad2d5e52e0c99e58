"""Loading images: the single funnel through which every file is accepted or refused.

Whatever a user hands us — a camera JPEG with an EXIF rotation, a 16-bit PNG from a
scanner, a palette GIF, a CMYK print file, a cut-out with transparency, a satellite TIFF —
comes out as an (H, W, 3) uint8 RGB array, the way a browser would show it. Anything we
cannot use raises :class:`~core.errors.ImageError` with a message that says what is wrong
and what to do, never a Python object or a traceback.
"""

from __future__ import annotations

import io
import math
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from core.errors import ImageError
from core.inputs.arrays import resize_to_max_pixels  # noqa: F401  (its old home; still importable)
from core.inputs.bounds import (
    check_frames,
    check_memory,
    check_png_data,
    count_frames,
    file_format,
    is_jpeg_damage,
    jpeg_damage,
)
from core.validation import FILE_LIMITS, check_positive_int

if TYPE_CHECKING:
    from core.inputs.raster import Raster

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "LoadedImage",
    "load_image",
    "open_image",
]

#: Default pixel limit: room for a 100-megapixel camera, far below a decompression bomb.
DEFAULT_MAX_PIXELS: Final = 100_000_000

_CONVERT: Final = "Convert it to PNG, JPEG or WebP and try again."
# Formats recognised by their first bytes that Pillow does not decode.
_UNSUPPORTED_MAGIC: Final = (
    (b"%PDF", "a PDF document"),
    (b"8BPS", "a Photoshop (PSD) file"),
    (b"\x00\x00\x00\x0cjP  ", "a JPEG 2000 file"),
)
_HEIF_BRANDS: Final = (b"heic", b"heix", b"hevc", b"hevx", b"mif1", b"msf1", b"heim", b"heis")

ImageSource = str | os.PathLike | bytes | bytearray | memoryview | IO[bytes]
_TIFF_MAGIC: Final = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


@dataclass(frozen=True, eq=False)
class LoadedImage:
    """An image as loaded, with what we learnt about the file.

    Attributes
    ----------
    rgb : (H, W, 3) ndarray of uint8
        The pixels, EXIF orientation applied, transparency composited over white.
    alpha : (H, W) ndarray of uint8, or None
        The alpha channel when the image has transparency (for cut-outs), else None.
    format : str
        Pillow's name for the file format, e.g. ``"PNG"`` or ``"JPEG"``.
    mode : str
        The file's original Pillow mode, e.g. ``"RGB"``, ``"I;16"``, ``"CMYK"``, ``"P"``.
    n_frames : int
        Frames or pages in the file; only the first is used.
    name : str or None
        The file's name, when known.
    raster : core.inputs.raster.Raster or None
        For a georeferenced TIFF: every band as stored, with CRS, transform and no-data.
        Then `rgb` is its display image (RGB bands, 2–98 % stretch) and `alpha` is 0
        where the raster has no data.
    """

    rgb: np.ndarray
    alpha: np.ndarray | None
    format: str
    mode: str
    n_frames: int = 1
    name: str | None = None
    raster: Raster | None = None

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def n_pixels(self) -> int:
        return self.height * self.width


def load_image(source: ImageSource, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read an image file into an RGB array.

    Parameters
    ----------
    source : str, path-like, bytes or binary file object
        A path, the file's bytes, or an open binary file (e.g. Streamlit's ``UploadedFile``).
    max_pixels : int
        Refuse images with more pixels than this (checked from the header, before any
        pixel is decoded). The default, 100 million, admits any camera photo. The other
        limits (:data:`core.validation.FILE_LIMITS`) are checked from the header too: at most
        10,000 frames or pages, 1,024 bands, and 1 GB of memory for the decode.

    Returns
    -------
    (H, W, 3) ndarray of uint8
        C-contiguous RGB pixels. See :func:`open_image` for everything that is normalised.

    Raises
    ------
    ImageError
        If the file is missing, empty, truncated, corrupt, not an image, in a format we
        cannot read, or over a limit (pixels, frames, bands, memory: the message names it).
    TypeError
        If `source` is none of the accepted types.

    Examples
    --------
    >>> import io, numpy as np
    >>> from PIL import Image
    >>> buffer = io.BytesIO(); Image.new("L", (3, 2), 128).save(buffer, format="PNG")
    >>> load_image(buffer.getvalue()).shape
    (2, 3, 3)
    """
    return open_image(source, max_pixels=max_pixels).rgb


def open_image(
    source: ImageSource,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    bands_to_rgb: Callable[[Raster], np.ndarray] | None = None,
) -> LoadedImage:
    """Read an image file and describe it.

    JPEG, PNG, WebP, BMP, TIFF (first page), GIF (first frame) and every other format
    Pillow decodes are accepted. The EXIF orientation is applied, as a browser does.
    Grayscale becomes three equal channels; 16- and 32-bit images are scaled to 8 bits by
    their range (65535 → 255), not clipped; CMYK is converted to RGB; transparency is
    composited over white and kept in :attr:`LoadedImage.alpha`.

    Parameters
    ----------
    source : str, path-like, bytes or binary file object
    max_pixels : int
        See :func:`load_image`.
    bands_to_rgb : callable, optional
        How a georeferenced raster's bands become :attr:`LoadedImage.rgb`: called with the
        :class:`core.inputs.raster.Raster`, returns an (H, W, 3) uint8 array. Default: its own
        2–98 % display stretch (:func:`core.inputs.raster.stretch_rgb`); a collection passes one
        mapping for every tile (:func:`core.collection.raster_rgb`).

    Returns
    -------
    LoadedImage

    Raises
    ------
    ImageError
        See :func:`load_image`.
    TypeError
        If `source` is none of the accepted types.

    Examples
    --------
    >>> import io
    >>> from PIL import Image
    >>> buffer = io.BytesIO(); Image.new("RGBA", (3, 2), (0, 0, 0, 0)).save(buffer, "PNG")
    >>> loaded = open_image(buffer.getvalue())
    >>> loaded.format, loaded.mode, int(loaded.rgb.min()), loaded.alpha.shape
    ('PNG', 'RGBA', 255, (2, 3))
    """
    max_pixels = check_positive_int(max_pixels, "max_pixels")
    if isinstance(source, (str, os.PathLike)) and _is_georeferenced(source):
        return _open_georeferenced(source, Path(source).name, max_pixels, bands_to_rgb)
    data, name = _read_source(source)
    label = f"'{name}'" if name else "The file"
    if not data:
        raise ImageError(f"{label} is empty (0 bytes). Choose the image file itself and try again.")
    if _is_georeferenced(data):
        return _open_georeferenced(data, name, max_pixels, bands_to_rgb)
    _refuse_known_non_images(data, label)
    kind = _format_from_magic(data)
    if kind == "PNG":
        check_png_data(data, label, max_pixels)
    # Truncated files must be refused, never padded with black: another library in the
    # same process may have switched Pillow's global switch on.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with warnings.catch_warnings():
            # Our own max_pixels governs; Pillow's bomb warning would only repeat it.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            # "Corrupt EXIF data", "Tag data larger than file": metadata we do not need.
            warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
            with Image.open(io.BytesIO(data)) as image:
                _check_size(image.size, max_pixels, label)
                check_frames(count_frames(data, file_format(data[:16])), label)
                image_format = image.format or "unknown"
                mode = image.mode
                n_frames = _n_frames(image)
                image.seek(0)
                _check_decode_memory(image, n_frames, label)
                if image_format == "TIFF":
                    _check_strips_cover(image, label)
                fast = _fast_rgb(data, image, n_frames, label)
                if fast is None:
                    if image_format == "JPEG":  # Pillow fills what a JPEG lacks with grey
                        _refuse_damaged_jpeg(data, label)
                    image.load()  # (a PNG's eXIf chunk may follow its pixels)
                orientation = _orientation(image)
                rgb, alpha = (fast, None) if fast is not None else _to_rgb(image, label)
    except ImageError:
        raise
    except Image.DecompressionBombError as e:
        raise ImageError(
            f"{label} declares a size so large that it looks like a decompression bomb. "
            "Use a smaller image."
        ) from e
    except UnidentifiedImageError as e:
        if kind is not None:  # the right first bytes, then something Pillow cannot parse
            raise ImageError(
                f"{label} starts like a {kind} file but is damaged: it could not be decoded. "
                "Download or export it again."
            ) from e
        raise ImageError(
            f"{label} is not an image we can read: its contents match no image format. "
            "If it is an image, convert it to PNG, JPEG or WebP and try again."
        ) from e
    except MemoryError as e:
        raise ImageError(f"{label} is too large to decode in memory. Use a smaller image.") from e
    except Exception as e:  # whatever a decoder raises on a user's file
        # Pillow's plugins raise OSError, SyntaxError, ValueError, EOFError, IndexError and
        # struct.error, but also TypeError ("Missing dimensions", "'IFDRational' object
        # cannot be interpreted as an integer") on a mutated TIFF: a damaged file is
        # something the user can fix, never a crash.
        reason = "is truncated" if "truncated" in str(e).lower() else "is damaged or incomplete"
        raise ImageError(
            f"{label} {reason}: it could not be decoded. Download or export it again."
        ) from e
    rgb, alpha = _apply_orientation(rgb, alpha, orientation)
    return LoadedImage(
        rgb=rgb,
        alpha=alpha,
        format=image_format,
        mode=mode,
        n_frames=n_frames,
        name=name,
    )


def _is_georeferenced(source: str | os.PathLike | bytes) -> bool:
    """A TIFF with a CRS or a geotransform (cheap: the header only)."""
    if isinstance(source, bytes):
        if not source.startswith(_TIFF_MAGIC):
            return False
    else:
        try:
            with open(source, "rb") as file:
                if not file.read(4).startswith(_TIFF_MAGIC):
                    return False
        except OSError:
            return False
    from core.inputs.raster import is_georeferenced

    return is_georeferenced(source)


def _open_georeferenced(
    source: str | os.PathLike | bytes,
    name: str | None,
    max_pixels: int,
    bands_to_rgb: Callable[[Raster], np.ndarray] | None,
) -> LoadedImage:
    """A georeferenced TIFF through rasterio (read lazily from a path): every band kept,
    shown with `bands_to_rgb` (default: a 2–98 % stretch)."""
    from core.inputs.raster import open_raster

    # Room for the display image and its alpha (4 bytes a pixel) beside the bands read.
    memory = max(FILE_LIMITS["memory"] - 4 * max_pixels, FILE_LIMITS["memory"] // 2)
    raster = open_raster(source, max_pixels=max_pixels, memory_limit=memory)
    rgb = (bands_to_rgb or _stretched_rgb)(raster)
    alpha = None
    if not raster.valid.all():
        rgb[~raster.valid] = 255  # shown over white, as transparency is
        alpha = np.where(raster.valid, 255, 0).astype(np.uint8)
    return LoadedImage(
        rgb=rgb,
        alpha=alpha,
        format="GTiff",
        mode=f"{raster.n_bands}-band {raster.dtype}",
        name=name,
        raster=raster,
    )


def _stretched_rgb(raster: Raster) -> np.ndarray:
    """:func:`core.raster.stretch_rgb` with its default bands and percentiles, computed in
    strips of rows: the same pixels, without whole-scene float32 temporaries (8 bytes a
    pixel: 800 MB at 100 MP)."""
    from dataclasses import replace

    from core.inputs.display import default_rgb_bands, stretch_rgb

    if raster.n_pixels <= 4 * _STRIP_PIXELS:
        return stretch_rgb(raster)
    positions = list(default_rgb_bands(raster))
    # The same strided sample and percentiles as stretch_rgb's.
    step = max(1, int(math.sqrt(raster.n_pixels / 1_000_000)))
    sample_valid = raster.valid[::step, ::step]
    bounds = []
    for position in positions:
        sample = raster.data[position][::step, ::step][sample_valid]
        if sample.size == 0:  # stretch_rgb leaves such a channel black
            return stretch_rgb(raster)
        low, high = np.percentile(sample.astype(np.float64), [2.0, 98.0])
        bounds.append((float(low), float(high)))
    rgb = np.empty((raster.height, raster.width, 3), dtype=np.uint8)
    rows = max(1, _STRIP_PIXELS // raster.width)
    for top in range(0, raster.height, rows):
        strip = replace(
            raster,
            data=raster.data[:, top : top + rows],
            valid=raster.valid[top : top + rows],
        )
        rgb[top : top + rows] = stretch_rgb(strip, positions, bounds=bounds)
    return rgb


def _read_source(source: ImageSource) -> tuple[bytes, str | None]:
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = path.name
        if not path.exists():
            raise ImageError(f"'{name}' was not found at {str(path)!r}. Check the path.")
        if path.is_dir():
            raise ImageError(f"'{name}' is a folder, not an image file. Choose a file in it.")
        try:
            return path.read_bytes(), name
        except OSError as e:
            raise ImageError(
                f"'{name}' could not be read ({e.strerror}). Check its permissions."
            ) from e
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), None
    if hasattr(source, "read"):
        raw_name = getattr(source, "name", None)
        file_name: str | None = None
        if isinstance(raw_name, str) and raw_name:
            # An open file's name is a path; an upload's own name is kept whole ("a/b.png").
            file_name = Path(raw_name).name if Path(raw_name).exists() else raw_name
        getvalue = getattr(source, "getvalue", None)
        data = getvalue() if callable(getvalue) else source.read()
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError("the file object must be opened in binary mode ('rb').")
        return bytes(data), file_name
    raise TypeError(
        f"source must be a path, bytes or a binary file object, got {type(source).__name__}."
    )


def _refuse_known_non_images(data: bytes, label: str) -> None:
    head = data[:512].lstrip()
    lower = head.lower()
    if lower.startswith((b"<!doctype html", b"<html")) or b"<html" in lower[:256]:
        raise ImageError(
            f"{label} is a web page (HTML), not an image. Save the picture itself "
            "(right-click → Save image as…) and try again."
        )
    if lower.startswith(b"<svg") or (lower.startswith(b"<?xml") and b"<svg" in data[:4096].lower()):
        raise ImageError(f"{label} is an SVG vector drawing, which kseg cannot read. {_CONVERT}")
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        raise ImageError(f"{label} is a HEIC/HEIF photo, which kseg cannot read. {_CONVERT}")
    for magic, what in _UNSUPPORTED_MAGIC:
        if data.startswith(magic):
            raise ImageError(f"{label} is {what}, not an image kseg can read. {_CONVERT}")


def _check_size(size: tuple[int, int], max_pixels: int, label: str) -> None:
    width, height = size
    if width < 1 or height < 1:
        raise ImageError(f"{label} has no pixels ({width} × {height}). Use another image.")
    if width * height > max_pixels:
        raise ImageError(
            f"{label} is {width:,} × {height:,} = {_millions(width * height)} pixels, over the "
            f"limit of {_millions(max_pixels)}. Resize it, or raise max_pixels."
        )


def _millions(n: int) -> str:
    return f"{n / 1e6:,.1f} million" if n >= 1_000_000 else f"{n:,}"


#: Rows are converted in strips of about this many pixels, so that converting a 100 MP
#: image costs a few megabytes on top of the decoded image and the final uint8 array.
_STRIP_PIXELS: Final = 1 << 20
# RGB images up to this size (a 16 MP camera) are converted in one piece: a transient copy
# of 48 MB at most.
_WHOLE_RGB_PIXELS: Final = 16 << 20
_HIGH_DEPTH_MODES: Final = ("I", "F")
_ALPHA_MODES: Final = ("RGBA", "LA", "PA", "RGBa", "La")
# First bytes of the formats people upload, to tell "damaged PNG" from "not an image".
_MAGIC: Final = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"BM", "BMP"),
)


def _format_from_magic(data: bytes) -> str | None:
    """The format a file's first bytes announce (None when they announce none we know)."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    return None


def _n_frames(image: Image.Image) -> int:
    """Frames or pages in the file; 1 when a later page is too damaged to count."""
    try:
        return max(1, int(getattr(image, "n_frames", 1) or 1))
    except Exception:  # only the first page is used; count it alone
        return 1


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation (1–8), 1 when absent or unreadable."""
    try:
        value = image.getexif().get(0x0112, 1)
    except Exception:  # a damaged EXIF block must not cost the picture
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _apply_orientation(
    rgb: np.ndarray, alpha: np.ndarray | None, orientation: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """Turn the pixels as EXIF orientation says, like a browser (and ``ImageOps.exif_transpose``).

    Done on the uint8 array rather than on Pillow's image, so only the small final array
    is copied.
    """

    def turn(a: np.ndarray) -> np.ndarray:
        if orientation == 2:
            a = a[:, ::-1]
        elif orientation == 3:
            a = a[::-1, ::-1]
        elif orientation == 4:
            a = a[::-1]
        elif orientation == 5:
            a = a.swapaxes(0, 1)
        elif orientation == 6:
            a = a[::-1].swapaxes(0, 1)
        elif orientation == 7:
            a = a[::-1, ::-1].swapaxes(0, 1)
        elif orientation == 8:
            a = a[:, ::-1].swapaxes(0, 1)
        return np.ascontiguousarray(a)

    if orientation == 1:
        return rgb, alpha
    return turn(rgb), None if alpha is None else turn(alpha)


def _strips(image: Image.Image) -> Iterator[tuple[int, int, Image.Image]]:
    """(first row, end row, that band of `image`) in bands of about ``_STRIP_PIXELS``."""
    width, height = image.size
    rows = max(1, _STRIP_PIXELS // width)
    for top in range(0, height, rows):
        bottom = min(height, top + rows)
        yield top, bottom, image.crop((0, top, width, bottom))


def _to_rgb(image: Image.Image, label: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Convert a loaded Pillow image to RGB uint8 (alpha composited over white).

    Band by band: the peak memory is the decoded image plus the final array, whatever the
    file's depth (a 100 MP float TIFF would otherwise need 3 GB of float64 temporaries).
    """
    mode = image.mode
    width, height = image.size
    if mode == "RGB" and "transparency" not in image.info and width * height <= _WHOLE_RGB_PIXELS:
        # One copy out of Pillow: at camera sizes the strips' crops cost more (1 MP: 1.6
        # vs 4.0 ms) than the few megabytes they save.
        return _whole_rgb(image), None
    rgb = np.empty((height, width, 3), dtype=np.uint8)
    if mode.startswith("I;16") or mode in _HIGH_DEPTH_MODES:
        scale = _gray_scaler(image, label)
        for top, bottom, band in _strips(image):
            rgb[top:bottom] = scale(np.asarray(band))[:, :, None]
        return rgb, None
    has_alpha = mode in _ALPHA_MODES or (mode in ("P", "L", "RGB") and "transparency" in image.info)
    if not has_alpha:
        for top, bottom, band in _strips(image):
            rgb[top:bottom] = np.asarray(band if band.mode == "RGB" else band.convert("RGB"))
        return rgb, None
    alpha = np.empty((height, width), dtype=np.uint8)
    for top, bottom, band in _strips(image):
        rgba = np.asarray(band.convert("RGBA"))
        alpha[top:bottom] = rgba[:, :, 3]
        a = rgba[:, :, 3:].astype(np.uint16)
        rgb[top:bottom] = (rgba[:, :, :3] * a + 255 * (255 - a) + 127) // 255
    if alpha.min() == 255:
        return rgb, None
    return rgb, alpha


def _fast_rgb(data: bytes, image: Image.Image, n_frames: int, label: str) -> np.ndarray | None:
    """The image decoded straight into its (H, W, 3) array where a decoder can (a plain
    JPEG, a still WebP without transparency); None for Pillow to decode it."""
    if image.format == "JPEG":
        return _jpeg_rgb(data, image, label)  # a JPEG's EXIF is read with its header
    if image.format == "WEBP" and n_frames == 1:
        return _webp_rgb(data, image)
    return None


def _jpeg_rgb(data: bytes, image: Image.Image, label: str = "The file") -> np.ndarray | None:
    """A plain RGB or grayscale JPEG decoded straight into an (H, W, 3) array by
    libjpeg-turbo, through simplejpeg; None for anything else (Pillow then decodes it).

    The same library and settings as Pillow's JPEG decoder (accurate DCT, smooth
    upsampling), so the same pixels, without Pillow's 4-byte pixels repacked into 3 and
    copied: a 12 MP photo in 50–60 ms instead of 110 ms, at 36 MB instead of 120 MB of
    peak memory (a 100 MP photo: 300 MB instead of 700 MB). Strict: data that ends early
    or is corrupt raises :class:`ImageError` (Pillow would fill the missing rows with
    grey); a harmless libjpeg warning returns None, and Pillow decodes the file.
    """
    width, height = image.size
    if image.format != "JPEG" or image.mode not in ("RGB", "L") or "transparency" in image.info:
        return None
    try:
        import simplejpeg  # here, not at the top: ``import core`` stays light
    except ImportError:  # pragma: no cover - an install without it: Pillow decodes
        return None
    gray = image.mode == "L"
    try:
        pixels: np.ndarray = simplejpeg.decode_jpeg(
            data, colorspace="GRAY" if gray else "RGB", strict=True
        )
    except Exception as e:  # libjpeg's complaint, word for word
        if is_jpeg_damage(str(e)):
            raise _damaged_jpeg(label, str(e)) from e
        return None  # a warning we need not refuse, or something Pillow words better
    if pixels.shape[:2] != (height, width):
        return None
    if gray:
        return np.repeat(pixels.reshape(height, width, 1), 3, axis=2)
    return pixels


def _refuse_damaged_jpeg(data: bytes, label: str) -> None:
    """Raise when a JPEG Pillow is about to decode has truncated or corrupt data."""
    complaint = jpeg_damage(data)
    if complaint is not None:
        raise _damaged_jpeg(label, complaint)


def _damaged_jpeg(label: str, complaint: str) -> ImageError:
    reason = "is truncated" if "premature end" in complaint.lower() else "is damaged"
    return ImageError(
        f"{label} {reason}: its compressed data ends early or is corrupt ({complaint.rstrip('.')}"
        "), so part of the picture is missing. Download or export it again."
    )


def _webp_rgb(data: bytes, image: Image.Image) -> np.ndarray | None:
    """A still WebP without transparency decoded by libwebp straight into an (H, W, 3)
    array (through OpenCV); None for anything else, or when OpenCV cannot (Pillow then
    decodes it and words the error).

    Pillow's WebP decoder holds the frame three times over at 4 bytes a pixel (libwebp's
    canvas, the bytes handed over, Pillow's image): 1.6 GB at the peak for a 100 MP file
    of 4 KB. Decoding into the final array costs 3–7 bytes a pixel; the pixels are the
    same (the same libwebp decoder, with its default upsampling).
    """
    if image.mode != "RGB" or "transparency" in image.info:
        return None
    import cv2  # here, not at the top: ``import core`` stays light

    width, height = image.size
    as_rgb = getattr(cv2, "IMREAD_COLOR_RGB", None)  # OpenCV 4.11 and later
    if as_rgb is None:  # pragma: no cover - an older OpenCV: Pillow decodes
        return None
    try:
        rgb = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), as_rgb)
    except cv2.error:
        return None
    if rgb is None or rgb.shape != (height, width, 3):
        return None
    return np.ascontiguousarray(rgb)


def _check_strips_cover(image: Image.Image, label: str) -> None:
    """Refuse a TIFF whose strips or tiles cover less than its declared size.

    Pillow decodes an uncompressed TIFF strip by strip and leaves rows no strip holds
    black: a header that claims 900 rows over one strip of 24 would load as an image of
    900 rows, 876 of them made up.
    """
    width, height = image.size
    tiles = getattr(image, "tile", None) or []  # an ImageFile's strips or tiles
    covered = 0
    for tile in tiles:
        x0, y0, x1, y1 = tile.extents if tile.extents is not None else (0, 0, 0, 0)
        covered += max(0, min(x1, width) - max(x0, 0)) * max(0, min(y1, height) - max(y0, 0))
    if tiles and covered < width * height:
        raise ImageError(
            f"{label} is truncated: its header promises {width:,} × {height:,} pixels but "
            f"its strips hold only {covered / (width * height):.0%} of them. "
            "Download or export it again."
        )


#: Bytes a pixel takes in Pillow's own image, by mode (the rest take 4).
_PILLOW_PIXEL_BYTES: Final = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2}


def _check_decode_memory(image: Image.Image, n_frames: int, label: str) -> None:
    """Refuse an image whose decode would take more than ``FILE_LIMITS["memory"]``, from its
    header: the decoder's copies plus the (H, W, 3) result and alpha."""
    width, height = image.size
    mode = image.mode
    has_alpha = mode in _ALPHA_MODES or "transparency" in image.info
    result = 3 + (1 if has_alpha else 0)
    if image.format == "JPEG" and mode in ("RGB", "L") and not has_alpha:
        per_pixel = 3 + (1 if mode == "L" else 0)  # simplejpeg writes the result itself
    elif image.format == "WEBP" and mode == "RGB" and n_frames == 1 and not has_alpha:
        per_pixel = 4 + 3  # libwebp's own buffer (lossless), then the result
    elif image.format == "WEBP":
        per_pixel = 3 * 4 + result  # libwebp's canvas, its bytes, Pillow's image
    else:
        per_pixel = _PILLOW_PIXEL_BYTES.get(mode, 4) + result
    if image.format == "JPEG" and image.info.get("progressive"):
        per_pixel += 6  # libjpeg holds every coefficient until the last scan
    check_memory(
        width * height * per_pixel,
        label,
        f"{width:,} × {height:,} pixels, about {per_pixel} bytes each",
        "Use a smaller image, e.g. resized to half its width and height"
        + (", or saved without transparency" if has_alpha and image.format == "WEBP" else "")
        + ".",
    )


def _whole_rgb(image: Image.Image) -> np.ndarray:
    """``np.array(image)`` for an RGB image, with one pass less.

    NumPy's route packs the pixels in 64 KiB blocks, joins them into one bytes object and
    copies that (12 MP: 73 ms). Packing them in one block, then copying it into a writable
    array, takes 38 ms. Pillow's raw encoder is what ``Image.tobytes`` itself uses; should
    a Pillow release change it, this falls back to NumPy's route.
    """
    width, height = image.size
    rgb = np.empty((height, width, 3), dtype=np.uint8)
    try:
        encoder = Image._getencoder("RGB", "raw", "RGB")
        try:
            encoder.setimage(image.im, (0, 0, width, height))
            _, status, data = encoder.encode(rgb.nbytes + 1)
        finally:
            encoder.cleanup()
    except Exception:  # pragma: no cover - a Pillow without this encoder API
        return np.array(image)
    if status != 1 or len(data) != rgb.nbytes:  # pragma: no cover - as above
        return np.array(image)
    rgb.reshape(-1)[:] = np.frombuffer(data, dtype=np.uint8)
    return rgb


def _gray_scaler(image: Image.Image, label: str) -> Callable[[np.ndarray], np.ndarray]:
    """A function scaling bands of a 16-bit, 32-bit or float image to 0–255 by range.

    16-bit images scale 0–65535 → 0–255 (not clipped); 32-bit integers by 0–65535 when they
    fit in it (16-bit PNGs open so), else by 0–2³²−1; floats by their finite range (0–1 when
    they lie inside it), NaN showing as the minimum and ±inf as the ends.

    Raises
    ------
    ImageError
        If a float image has no finite value at all.
    """
    mode = image.mode
    if mode.startswith("I;16"):
        return lambda band: _rescale(band, 0.0, 65535.0)
    low, high = np.inf, -np.inf
    for _, _, band in _strips(image):
        values = np.asarray(band)
        if mode == "F":
            values = values[np.isfinite(values)]
        if values.size:
            low, high = min(low, float(values.min())), max(high, float(values.max()))
    if mode == "I":
        top = 65535.0 if high <= 65535 else 2.0**32 - 1
        return lambda band: _rescale(band, 0.0, top)
    if low > high:
        raise ImageError(
            f"{label} holds no finite pixel values (every value is NaN or infinite), so "
            "there is nothing to show. Export it again with valid data."
        )
    if 0.0 <= low and high <= 1.0:
        low, high = 0.0, 1.0
    return lambda band: _rescale(np.where(np.isnan(band), low, band), low, high)


def _rescale(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Map `low`..`high` to 0..255 (rounding, clipping outside), as uint8."""
    span = (high - low) or 1.0
    scaled = (values.astype(np.float64) - low) * (255.0 / span)
    return np.rint(np.clip(scaled, 0.0, 255.0)).astype(np.uint8)
