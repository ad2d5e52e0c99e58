"""Loading images: the single funnel through which every file is accepted or refused.

Whatever a user hands us — a camera JPEG with an EXIF rotation, a 16-bit PNG from a
scanner, a palette GIF, a CMYK print file, a cut-out with transparency, a satellite TIFF —
comes out as an (H, W, 3) uint8 RGB array, the way a browser would show it. Anything we
cannot use raises :class:`~core.errors.ImageError` with a message that says what is wrong
and what to do, never a Python object or a traceback.
"""

from __future__ import annotations

import io
import os
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from core.arrays import resize_to_max_pixels  # noqa: F401  (its old home; still importable)
from core.errors import ImageError
from core.validation import check_positive_int

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
    """

    rgb: np.ndarray
    alpha: np.ndarray | None
    format: str
    mode: str
    n_frames: int = 1
    name: str | None = None

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
        pixel is decoded). The default, 100 million, admits any camera photo.

    Returns
    -------
    (H, W, 3) ndarray of uint8
        C-contiguous RGB pixels. See :func:`open_image` for everything that is normalised.

    Raises
    ------
    ImageError
        If the file is missing, empty, truncated, corrupt, not an image, in a format we
        cannot read, or too large.
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


def open_image(source: ImageSource, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
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
    data, name = _read_source(source)
    label = f"'{name}'" if name else "The file"
    if not data:
        raise ImageError(f"{label} is empty (0 bytes). Choose the image file itself and try again.")
    _refuse_known_non_images(data, label)
    try:
        with warnings.catch_warnings():
            # Our own max_pixels governs; Pillow's bomb warning would only repeat it.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                _check_size(image.size, max_pixels, label)
                image_format = image.format or "unknown"
                mode = image.mode
                n_frames = int(getattr(image, "n_frames", 1) or 1)
                image.seek(0)
                image.load()
                rgb, alpha = _to_rgb(ImageOps.exif_transpose(image))
    except ImageError:
        raise
    except Image.DecompressionBombError as e:
        raise ImageError(
            f"{label} declares a size so large that it looks like a decompression bomb. "
            "Use a smaller image."
        ) from e
    except UnidentifiedImageError as e:
        raise ImageError(
            f"{label} is not an image we can read: its contents match no image format. "
            "If it is an image, convert it to PNG, JPEG or WebP and try again."
        ) from e
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error) as e:
        reason = "is truncated" if "truncated" in str(e).lower() else "is damaged or incomplete"
        raise ImageError(
            f"{label} {reason}: it could not be decoded. Download or export it again."
        ) from e
    except MemoryError as e:
        raise ImageError(f"{label} is too large to decode in memory. Use a smaller image.") from e
    return LoadedImage(
        rgb=np.ascontiguousarray(rgb),
        alpha=alpha,
        format=image_format,
        mode=mode,
        n_frames=n_frames,
        name=name,
    )


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
        file_name = Path(raw_name).name if isinstance(raw_name, str) and raw_name else None
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


def _to_rgb(image: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Convert a loaded Pillow image to RGB uint8 (alpha composited over white)."""
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        gray = _scale_to_uint8(np.asarray(image), mode)
        return np.repeat(gray[:, :, None], 3, axis=2), None
    has_alpha = (
        mode in ("RGBA", "LA", "PA", "RGBa", "La")
        or (mode == "P" and "transparency" in image.info)
        or (mode in ("L", "RGB") and "transparency" in image.info)
    )
    if has_alpha:
        rgba = np.asarray(image.convert("RGBA"))
        alpha = np.ascontiguousarray(rgba[:, :, 3])
        if alpha.min() == 255:
            return np.ascontiguousarray(rgba[:, :, :3]), None
        a = alpha[:, :, None].astype(np.uint16)
        over_white = (rgba[:, :, :3].astype(np.uint16) * a + 255 * (255 - a) + 127) // 255
        return over_white.astype(np.uint8), alpha
    if mode != "RGB":
        image = image.convert("RGB")
    return np.asarray(image), None


def _scale_to_uint8(values: np.ndarray, mode: str) -> np.ndarray:
    """Scale 16-bit, 32-bit or float grayscale to 0–255 by range, rounding."""
    values = values.astype(np.float64)
    if mode == "F":
        low, high = float(np.nanmin(values)), float(np.nanmax(values))
        if 0.0 <= low and high <= 1.0:
            low, high = 0.0, 1.0
        span = high - low or 1.0
        return np.rint(np.clip((np.nan_to_num(values, nan=low) - low) / span, 0, 1) * 255).astype(
            np.uint8
        )
    # 16-bit files open as "I;16*" or, for PNG, as "I" holding 0..65535.
    top = 65535.0 if mode.startswith("I;16") or values.max(initial=0) <= 65535 else 2**32 - 1
    return np.rint(np.clip(values, 0, top) * (255.0 / top)).astype(np.uint8)
