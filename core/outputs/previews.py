"""Images encoded for a screen: previews and per-cluster thumbnails.

An image is downscaled (area interpolation) and encoded once, so a browser receives a
small file instead of a 12 MP array; the dashboard only shows what these functions return.
"""

from __future__ import annotations

import io
import math
from typing import Literal

import numpy as np
from PIL import Image

from core.formats.png import encode_png
from core.inputs.arrays import check_segmented_image
from core.inputs.io import LoadedImage
from core.results.segmentation import Segmentation

__all__ = [
    "PREVIEW_MAX_ASPECT",
    "PREVIEW_MAX_SIDE",
    "cluster_thumbnails",
    "file_preview",
    "preview_bytes",
    "screen_size",
    "segmented_preview",
]

#: Longest side of a preview or thumbnail: wider than any screen, and inside JPEG's limit
#: of 65,500 pixels a side (a 100,000 × 2 strip would not encode).
PREVIEW_MAX_SIDE = 4096
#: Most elongated preview: a 100,000 × 2 strip is shown 64 times longer than high, so
#: that a page scaling it to its column still draws at least a few rows (a true-aspect
#: preview would round to zero rows there).
PREVIEW_MAX_ASPECT = 64


def screen_size(
    height: int, width: int, *, max_pixels: int, max_side: int = PREVIEW_MAX_SIDE
) -> tuple[int, int]:
    """(height, width) of the preview of a `height` × `width` image.

    At most `max_pixels` pixels and `max_side` a side, aspect ratio kept (never upscaled)
    up to :data:`PREVIEW_MAX_ASPECT`; more elongated images get their short side stretched
    to a 64th of the long one, so that every preview is at least one pixel on each side
    wherever it is shown.

    Parameters
    ----------
    height, width : int
        The image's size, at least 1 each.
    max_pixels : int
        Upper bound on the preview's pixels (stretching an extreme strip stays within it).
    max_side : int
        Upper bound on either side.

    Returns
    -------
    (int, int)
        The preview's height and width, each at least 1.

    Examples
    --------
    >>> screen_size(2, 100_000, max_pixels=1_000_000)
    (64, 4096)
    >>> screen_size(800, 1200, max_pixels=1_000_000)
    (800, 1200)
    """
    scale = min(1.0, (max_pixels / (height * width)) ** 0.5, max_side / max(height, width))
    new_h, new_w = max(1, int(height * scale)), max(1, int(width * scale))
    long_side, short_side = max(new_h, new_w), min(new_h, new_w)
    if long_side > PREVIEW_MAX_ASPECT * short_side:
        long_side = min(long_side, math.isqrt(PREVIEW_MAX_ASPECT * max_pixels))
        short_side = max(short_side, -(-long_side // PREVIEW_MAX_ASPECT))
        new_h, new_w = (long_side, short_side) if height > width else (short_side, long_side)
    return new_h, new_w


def _screen_copy(image: np.ndarray, max_pixels: int) -> np.ndarray:
    """`image` resized to :func:`screen_size` (area interpolation); itself if it fits."""
    height, width = image.shape[:2]
    size = screen_size(height, width, max_pixels=max_pixels)
    if size == (height, width):
        return image
    import cv2  # imported where used: ``import core`` stays light

    image = np.ascontiguousarray(image)
    # Halve while the image is over twice the size asked for: an exact 2 x 2 average is
    # OpenCV's fast path (12 MP: 3 ms, where one area resize by 3.46 takes 40 ms). The
    # last step is area interpolation to the exact size. (An odd last row or column is
    # left out of a halving: a preview never shows the difference.)
    while image.shape[0] >= 2 * size[0] and image.shape[1] >= 2 * size[1]:
        half_h, half_w = image.shape[0] // 2, image.shape[1] // 2
        image = cv2.resize(
            image[: 2 * half_h, : 2 * half_w], (half_w, half_h), interpolation=cv2.INTER_AREA
        )
    return cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA)


def preview_bytes(
    image: np.ndarray,
    *,
    max_pixels: int = 1_000_000,
    format: Literal["png", "jpeg"] = "png",
    quality: int = 90,
) -> bytes:
    """An image downscaled for the screen and encoded once, ready to send to a browser.

    Parameters
    ----------
    image : (H, W), (H, W, 3) or (H, W, 4) ndarray of uint8
        Grey, RGB or RGBA.
    max_pixels : int
        Downscale (area interpolation, aspect kept) to at most this many pixels, and to
        at most :data:`PREVIEW_MAX_SIDE` a side (see :func:`screen_size`).
    format : {"png", "jpeg"}
        PNG for flat colours and transparency, JPEG (RGB only) for photographs.
    quality : int
        JPEG quality.

    Returns
    -------
    bytes
        The encoded file.

    Raises
    ------
    ValueError
        If `image` is not uint8 grey/RGB/RGBA, or JPEG is asked for an RGBA image.

    Examples
    --------
    >>> import numpy as np
    >>> preview_bytes(np.zeros((20, 30, 3), dtype=np.uint8), max_pixels=100)[:4]
    b'\x89PNG'
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or not (
        image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4))
    ):
        raise ValueError(f"preview needs a grey, RGB or RGBA uint8 image, got {image.shape}.")
    if format == "jpeg" and image.ndim == 3 and image.shape[2] == 4:
        raise ValueError("JPEG has no transparency; use format='png' for RGBA images.")
    small = np.ascontiguousarray(_screen_copy(image, max_pixels))
    buffer = io.BytesIO()
    if format == "jpeg":
        Image.fromarray(small).save(buffer, format="JPEG", quality=quality)
    else:
        Image.fromarray(small).save(buffer, format="PNG", compress_level=3)
    return buffer.getvalue()


def segmented_preview(seg: Segmentation, *, max_pixels: int = 1_000_000) -> bytes:
    """The segmented image at screen size, as an indexed PNG, without painting it full size.

    Each preview pixel takes the label of the full-resolution pixel at its centre
    (nearest-neighbour), so every pixel shown is one of the k palette colours, edges stay
    crisp, and a 12 MP result costs a 1 MP lookup instead of a 12 MP image to paint,
    downscale and encode. Pixels that do not count (label -1) are transparent.

    Parameters
    ----------
    seg : Segmentation
    max_pixels : int
        Size bound of the preview (see :func:`screen_size`).

    Returns
    -------
    bytes
        PNG bytes: palette mode (one byte per pixel) for k < 256, RGB or RGBA beyond.

    Examples
    --------
    >>> import numpy as np, core
    >>> image = np.zeros((4, 6, 3), dtype=np.uint8); image[:, 3:] = 255
    >>> segmented_preview(core.segment(image, 2))[:4]
    b'\x89PNG'
    """
    labels = _screen_labels(seg, max_pixels)
    # Index k (unused by any cluster) stands for the pixels that do not count: white and
    # clear, as in core.outputs.export.segmented_image. kseg's PNG writer: 1 MP in ~3 ms, where
    # Pillow's (level 3) took ~25 ms.
    palette = np.vstack([seg.palette, np.full((1, 3), 255, np.uint8)])
    opaque = np.full(seg.k + 1, 255, dtype=np.uint8)
    opaque[seg.k] = 0
    if seg.k < 256:
        indices = np.where(labels < 0, seg.k, labels).astype(np.uint8)
        if seg.valid is None:
            return encode_png(indices, palette=palette)
        return encode_png(indices, palette=palette, alpha=opaque)
    painted = palette[labels]  # label -1: the white row
    if seg.valid is not None:
        painted = np.dstack([painted, opaque[labels]])
    return encode_png(np.ascontiguousarray(painted))


def file_preview(data: bytes, image: LoadedImage, *, max_pixels: int = 1_000_000) -> bytes:
    """The original for a screen: the file itself when a browser shows it as `image.rgb`,
    else :func:`preview_bytes` as JPEG.

    A plain RGB JPEG (no EXIF rotation, no colour profile) within `max_pixels` and
    :data:`PREVIEW_MAX_SIDE` is sent as uploaded: nothing decoded or encoded again.

    Parameters
    ----------
    data : bytes
        The file's bytes.
    image : LoadedImage
        `data` as loaded by :func:`core.open_image`.
    max_pixels : int
        Size bound of the preview.

    Returns
    -------
    bytes
        JPEG bytes.
    """
    if (
        image.format == "JPEG"
        and image.mode == "RGB"
        and image.raster is None
        and screen_size(image.height, image.width, max_pixels=max_pixels)
        == (image.height, image.width)
    ):
        with Image.open(io.BytesIO(data)) as header:  # reads the header only
            plain = (
                header.size == (image.width, image.height)
                and "icc_profile" not in header.info
                and header.getexif().get(0x0112, 1) == 1
            )
        if plain:
            return data
    return preview_bytes(image.rgb, max_pixels=max_pixels, format="jpeg")


def _screen_labels(seg: Segmentation, max_pixels: int) -> np.ndarray:
    """`seg.labels` sampled at the centre of each pixel of its :func:`screen_size` copy."""
    height, width = screen_size(*seg.shape, max_pixels=max_pixels)
    rows = ((np.arange(height) + 0.5) * seg.shape[0] / height).astype(np.intp)
    cols = ((np.arange(width) + 0.5) * seg.shape[1] / width).astype(np.intp)
    return seg.labels_at(rows, cols)


def cluster_thumbnails(
    seg: Segmentation,
    image: np.ndarray,
    *,
    alpha: np.ndarray | None = None,
    max_pixels: int = 90_000,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each cluster's mask and cut-out, at thumbnail size, for cards on a page.

    The image is downscaled with area interpolation and the labels with nearest-neighbour
    sampling, so a 12 MP photo costs a 90 k-pixel thumbnail per cluster, not 12 MP. The
    full-resolution files are :func:`core.outputs.export.mask_png` and
    :func:`core.outputs.export.cutout`.

    Parameters
    ----------
    seg : Segmentation
    image : (H, W, 3) ndarray of uint8
        The image that was segmented.
    alpha : (H, W) ndarray of uint8, optional
        The image's own transparency, multiplied into the cut-outs.
    max_pixels : int
        Size bound of the thumbnails.

    Returns
    -------
    list of (mask, cutout)
        One pair per cluster, largest first: mask ``(h, w)`` uint8 (255 inside, 0 outside)
        and cut-out ``(h, w, 4)`` uint8 RGBA (transparent outside the cluster).

    Raises
    ------
    ValueError
        If `image` or `alpha` does not match `seg`.

    Examples
    --------
    >>> import numpy as np, core
    >>> image = np.zeros((4, 6, 3), dtype=np.uint8); image[:, 3:] = 255
    >>> seg = core.segment(image, 2)
    >>> [mask.shape for mask, _ in cluster_thumbnails(seg, image)]
    [(4, 6), (4, 6)]
    """
    image = check_segmented_image(image, seg.shape)
    small = _screen_copy(image, max_pixels)
    labels = _screen_labels(seg, max_pixels)
    opacity = None
    if alpha is not None:
        alpha = np.asarray(alpha)
        if alpha.dtype != np.uint8 or alpha.shape != seg.shape:
            raise ValueError(f"alpha must be a {seg.shape} uint8 array, got {alpha.shape}.")
        opacity = _screen_copy(alpha, max_pixels).astype(np.uint16)
    thumbnails = []
    for i in range(seg.k):
        mask = np.where(labels == i, np.uint8(255), np.uint8(0))
        inside = mask if opacity is None else ((mask * opacity) // 255).astype(np.uint8)
        thumbnails.append((mask, np.dstack([small, inside])))
    return thumbnails
