"""Bounds on what one file may make a loader do, checked from its header before decoding.

A file of a few kilobytes can declare 34,464 bands, 20,000 frames, a 100,000 × 100,000 grid
or a JPEG frame of 10,000 × 9,999 pixels with data for a few rows. Each loader
(:func:`core.load_image`, :func:`core.open_image`, :func:`core.open_raster`) asks this module
first, and refuses such a file at once with an :class:`~core.errors.ImageError` that names the
limit that was hit (bands, frames, pixels, memory) and says what the user can do.

The limits themselves are in :data:`core.validation.FILE_LIMITS` (``"bands"``, ``"frames"``,
``"memory"``, ``"read_pixels"``); the pixel cap is each loader's ``max_pixels``.
"""

from __future__ import annotations

import struct
import zlib
from typing import Final

from core.errors import ImageError
from core.validation import FILE_LIMITS

__all__ = [
    "check_bands",
    "check_frames",
    "check_memory",
    "check_png_data",
    "count_frames",
    "file_format",
    "format_bytes",
    "gif_frame_pixels",
    "is_jpeg_damage",
    "jpeg_damage",
    "jpeg_is_progressive",
    "jpeg_size",
]

_MAGIC: Final = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"II+\x00", "TIFF"),
    (b"MM\x00+", "TIFF"),
    (b"BM", "BMP"),
)
_PNG_CHANNELS: Final = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_ADAM7: Final = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2))
_ADAM7_LAST: Final = (0, 1, 1, 2)


def file_format(head: bytes) -> str | None:
    """The format a file's first bytes announce: ``"PNG"``, ``"JPEG"``, ``"GIF"``,
    ``"TIFF"``, ``"BMP"``, ``"WebP"``, or None.

    Parameters
    ----------
    head : bytes
        The file's first 12 bytes or more.

    Returns
    -------
    str or None

    Examples
    --------
    >>> file_format(b"GIF89a\\x01\\x00"), file_format(b"hello")
    ('GIF', None)
    """
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return None


def format_bytes(n: float) -> str:
    """A byte count for people: ``"1.5 GB"``, ``"730 MB"``, ``"12 kB"``.

    Examples
    --------
    >>> format_bytes(1.5e9), format_bytes(730e6)
    ('1.5 GB', '730 MB')
    """
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}" if unit == "GB" else f"{n / size:.0f} {unit}"
    return f"{int(n)} bytes"


def check_bands(n_bands: int, label: str) -> None:
    """Refuse a file that declares more bands than ``FILE_LIMITS["bands"]``.

    Parameters
    ----------
    n_bands : int
        Bands (samples per pixel) the header declares.
    label : str
        How to name the file in the message (``"'scene.tif'"``).

    Raises
    ------
    ImageError
        Over the limit.

    Examples
    --------
    >>> check_bands(4, "'scene.tif'")
    """
    limit = FILE_LIMITS["bands"]
    if n_bands > limit:
        raise ImageError(
            f"{label} declares {n_bands:,} bands, over the limit of {limit:,} bands "
            "(the limit on bands). If the file is right, keep the bands you need, e.g. "
            "`gdal_translate -b 1 -b 2 -b 3 scene.tif bands.tif`; otherwise it is damaged: "
            "download or export it again."
        )


def check_frames(n_frames: int, label: str) -> None:
    """Refuse a file with more frames or pages than ``FILE_LIMITS["frames"]``.

    Parameters
    ----------
    n_frames : int
        Frames or pages counted (:func:`count_frames` stops one past the limit).
    label : str

    Raises
    ------
    ImageError
        Over the limit.

    Examples
    --------
    >>> check_frames(300, "'clip.gif'")
    """
    limit = FILE_LIMITS["frames"]
    if n_frames > limit:
        raise ImageError(
            f"{label} has more than {limit:,} frames or pages, over the limit of {limit:,} "
            "(the limit on frames). Save the frame you need as a PNG, e.g. "
            "`ffmpeg -i clip.gif -frames:v 1 frame.png`, and use that."
        )


def check_memory(n_bytes: int, label: str, what: str, advice: str) -> None:
    """Refuse a decode whose estimated memory is over ``FILE_LIMITS["memory"]``.

    Parameters
    ----------
    n_bytes : int
        Estimated bytes the decode takes at its peak (pixels × bands × bytes per sample,
        with the decoder's own copies).
    label : str
    what : str
        What is decoded, e.g. ``"10,000 × 10,000 pixels of 4 bytes"``.
    advice : str
        What the user can do instead (a sentence).

    Raises
    ------
    ImageError
        Over the limit.

    Examples
    --------
    >>> check_memory(300_000_000, "'photo.webp'", "10,000 × 10,000 RGB pixels", "")
    """
    limit = FILE_LIMITS["memory"]
    if n_bytes > limit:
        raise ImageError(
            f"{label} would take about {format_bytes(n_bytes)} of memory to decode ({what}), "
            f"over the limit of {format_bytes(limit)} (the limit on memory). {advice}".rstrip()
        )


def count_frames(data: bytes, kind: str | None, *, limit: int | None = None) -> int:
    """Frames or pages of a GIF, TIFF or WebP file, counted from its structure alone.

    Nothing is decoded; counting stops one past `limit` (default ``FILE_LIMITS["frames"]``), so a
    file with a million frames costs as little as one with ``limit + 1``. A structure that
    breaks off is counted up to where it breaks (the decoder then says what is wrong).

    Parameters
    ----------
    data : bytes
        The whole file.
    kind : str or None
        Its format (:func:`file_format`); other formats have one frame.
    limit : int, optional

    Returns
    -------
    int
        At least 1.

    Examples
    --------
    >>> count_frames(b"not an animation", None)
    1
    """
    limit = FILE_LIMITS["frames"] if limit is None else limit
    if kind == "GIF":
        return max(1, _gif_frames(data, limit)[0])
    if kind == "TIFF":
        return max(1, _tiff_pages(data, limit))
    if kind == "WebP":
        return max(1, _webp_frames(data, limit))
    return 1


def gif_frame_pixels(data: bytes, *, limit: int | None = None) -> tuple[int, int]:
    """Frames of a GIF and the pixels of all its frames together (what a decoder that
    reads every frame at once, as GDAL does, must hold).

    Parameters
    ----------
    data : bytes
    limit : int, optional
        Stop counting one frame past it (default ``FILE_LIMITS["frames"]``).

    Returns
    -------
    (int, int)
        Frames counted and the sum of their width × height.

    Examples
    --------
    >>> gif_frame_pixels(b"GIF89a")
    (0, 0)
    """
    return _gif_frames(data, FILE_LIMITS["frames"] if limit is None else limit)


def _gif_frames(data: bytes, limit: int) -> tuple[int, int]:
    size = len(data)
    if size < 13:
        return 0, 0
    position = 13
    if data[10] & 0x80:  # a global colour table
        position += 3 * (2 << (data[10] & 7))

    def skip_sub_blocks(position: int) -> int:
        while position < size and data[position]:
            position += data[position] + 1
        return position + 1

    frames = pixels = 0
    while position < size and frames <= limit:
        block = data[position]
        if block == 0x21:  # an extension: label, then sub-blocks
            position = skip_sub_blocks(position + 2)
        elif block == 0x2C:  # an image: descriptor, local colour table, LZW data
            if position + 10 > size:
                break
            width, height = struct.unpack_from("<HH", data, position + 5)
            packed = data[position + 9]
            position += 10
            if packed & 0x80:
                position += 3 * (2 << (packed & 7))
            position = skip_sub_blocks(position + 1)
            frames += 1
            pixels += width * height
        else:  # the trailer (0x3B), or damage the decoder will name
            break
    return frames, pixels


def _tiff_pages(data: bytes, limit: int) -> int:
    if len(data) < 16:
        return 0
    order = "<" if data[:2] == b"II" else ">"
    big = data[2:4] in (b"+\x00", b"\x00+")
    if big:
        (offset,) = struct.unpack_from(order + "Q", data, 8)
        count_format, entry, next_format = order + "Q", 20, order + "Q"
    else:
        (offset,) = struct.unpack_from(order + "I", data, 4)
        count_format, entry, next_format = order + "H", 12, order + "I"
    seen: set[int] = set()
    pages = 0
    count_size = struct.calcsize(count_format)
    next_size = struct.calcsize(next_format)
    while offset and offset not in seen and pages <= limit:
        seen.add(offset)
        if offset + count_size > len(data):
            break
        (entries,) = struct.unpack_from(count_format, data, offset)
        end = offset + count_size + entries * entry
        if end + next_size > len(data):
            pages += 1
            break
        pages += 1
        (offset,) = struct.unpack_from(next_format, data, end)
    return pages


def _webp_frames(data: bytes, limit: int) -> int:
    position, frames = 12, 0
    while position + 8 <= len(data) and frames <= limit:
        kind = data[position : position + 4]
        (length,) = struct.unpack_from("<I", data, position + 4)
        if kind == b"ANMF":
            frames += 1
        position += 8 + length + (length & 1)
    return frames or 1


def jpeg_damage(data: bytes) -> str | None:
    """libjpeg's complaint when a JPEG's compressed data is truncated or corrupt, else None.

    The entropy-coded data is decoded in full (at the smallest DCT scale, so in a fraction of
    a full decode's time and memory), strictly: a file whose frame header promises
    10,000 × 9,999 pixels but whose data ends after a few rows is caught here, where Pillow
    would fill the missing rows with grey. Harmless warnings (extraneous bytes before a
    marker, a bad ICC profile) are not damage. Files libjpeg cannot read at all are left to
    the decoder, which says what is wrong.

    Parameters
    ----------
    data : bytes
        A whole JPEG file.

    Returns
    -------
    str or None
        libjpeg's message, e.g. ``"Corrupt JPEG data: premature end of data segment"``.

    Examples
    --------
    >>> jpeg_damage(b"not a jpeg") is None
    True
    """
    try:
        import simplejpeg  # here, not at the top: ``import core`` stays light
    except ImportError:  # pragma: no cover - an install without it
        return None
    try:
        height, width, colorspace, _ = simplejpeg.decode_jpeg_header(data)
    except Exception:  # not a JPEG header libjpeg reads: the decoder words it
        return None
    if jpeg_is_progressive(data) and 6 * height * width > FILE_LIMITS["memory"]:
        return None  # the caller's memory check refuses it; this check must not pay for it
    output = {"Gray": "GRAY", "CMYK": "CMYK", "YCCK": "CMYK"}.get(colorspace, "RGB")
    try:
        simplejpeg.decode_jpeg(
            data,
            colorspace=output,
            fastdct=True,
            fastupsample=True,
            strict=True,
            min_height=1,
            min_width=1,
        )
    except Exception as e:  # simplejpeg raises ValueError with libjpeg's message
        message = str(e)
        return message if is_jpeg_damage(message) else None
    return None


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Width and height a JPEG's frame header declares (None when libjpeg cannot read it).

    Examples
    --------
    >>> jpeg_size(b"not a jpeg") is None
    True
    """
    try:
        import simplejpeg  # here, not at the top: ``import core`` stays light

        height, width, _, _ = simplejpeg.decode_jpeg_header(data)
    except Exception:  # ImportError, or a header libjpeg refuses: the decoder words it
        return None
    return int(width), int(height)


def jpeg_is_progressive(data: bytes) -> bool:
    """Whether a JPEG's frame is progressive: libjpeg then holds every DCT coefficient of
    the whole image (2 bytes a coefficient, up to 6 bytes a pixel) until the last scan,
    even for a decode at a reduced scale.

    Examples
    --------
    >>> jpeg_is_progressive(b"\\xff\\xd8\\xff\\xc2\\x00\\x02")
    True
    """
    position = 2
    while position + 4 <= len(data) and data[position] == 0xFF:
        marker = data[position + 1]
        if marker in (0xC2, 0xC6, 0xCA, 0xCE):  # SOF2, SOF6, SOF10, SOF14
            return True
        if marker in (0xC0, 0xC1, 0xC3, 0xDA):  # a sequential frame, or the scan begins
            return False
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        (length,) = struct.unpack_from(">H", data, position + 2)
        position += 2 + length
    return False


def is_jpeg_damage(message: str) -> bool:
    """Whether a libjpeg message means truncated or corrupt data (not a harmless warning).

    Examples
    --------
    >>> is_jpeg_damage("Premature end of JPEG file")
    True
    >>> is_jpeg_damage("Corrupt JPEG data: 2 extraneous bytes before marker 0xd9")
    False
    """
    lower = message.lower()
    if "premature end" in lower:
        return True
    return "corrupt jpeg data" in lower and not (
        "extraneous bytes" in lower or "bad icc marker" in lower
    )


def _png_raw_size(width: int, height: int, bits: int, color_type: int, interlace: int) -> int:
    """Bytes of filtered scanlines a PNG's header promises (what its IDAT must inflate to)."""
    bits_per_pixel = bits * _PNG_CHANNELS[color_type]

    def scanlines(columns: int, rows: int) -> int:
        if columns <= 0 or rows <= 0:
            return 0
        return rows * (1 + (columns * bits_per_pixel + 7) // 8)

    if not interlace:
        return scanlines(width, height)
    return sum(
        scanlines(-(-(width - x0) // dx), -(-(height - y0) // dy))
        for x0, y0, dx, dy in (*_ADAM7, _ADAM7_LAST)
    )


def check_png_data(data: bytes, label: str, max_pixels: int) -> None:
    """Refuse a PNG whose pixel data is shorter than its header promises.

    Decoders stop quietly where the compressed stream ends (Pillow leaves the rows it never
    received black; GDAL reads rows lazily and may return zeros): a 1 KB file whose header
    claims 100,000 × 500 would become 50 MP of black. Inflating the stream once, in bounded
    pieces and without keeping the output, tells truncated or lying files from complete
    ones. Headers a decoder itself refuses (bad sizes, depths, missing IHDR) are left to it.

    Parameters
    ----------
    data : bytes
        A whole PNG file.
    label : str
    max_pixels : int
        Headers over this size are left to the caller's size check.

    Raises
    ------
    ImageError
        If the data is truncated or cannot be decompressed.

    Examples
    --------
    >>> check_png_data(b"not a png", "'x.png'", 100)
    """
    view = memoryview(data)
    if len(data) < 33 or data[12:16] != b"IHDR":
        return
    width, height, bits, color_type, interlace = struct.unpack(">IIBBxxB", data[16:29])
    if not (0 < width and 0 < height and width * height <= max_pixels):
        return  # the decoder refuses it, and the caller's size check names the limit
    if color_type not in _PNG_CHANNELS or bits not in (1, 2, 4, 8, 16) or interlace > 1:
        return
    expected = _png_raw_size(width, height, bits, color_type, interlace)
    inflater = zlib.decompressobj()
    produced = 0
    position = 8
    try:
        while position + 8 <= len(data) and produced < expected:
            length, kind = struct.unpack(">I4s", data[position : position + 8])
            body = view[position + 8 : position + 8 + length]
            position += 12 + length
            if kind == b"IEND":
                break
            if kind != b"IDAT":
                continue
            pending = bytes(body)
            while pending and produced < expected:
                produced += len(inflater.decompress(pending, 1 << 22))
                pending = inflater.unconsumed_tail
            if inflater.eof:
                break
    except zlib.error as e:
        raise ImageError(
            f"{label} is a damaged PNG file: its pixel data could not be decompressed. "
            "Download or export it again."
        ) from e
    if produced < expected:
        share = produced / expected
        raise ImageError(
            f"{label} is truncated: its header promises {width:,} × {height:,} pixels but the "
            f"file holds data for only {share:.0%} of them. Download or export it again."
        )
