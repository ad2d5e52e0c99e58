"""k-means as image compression: a palette of k colours and one index per pixel.

The tutorials' application: store each pixel's cluster index (⌈log₂ k⌉ bits) and the k
palette colours instead of 24 bits per pixel. We measure it for real, as an indexed PNG,
and report the quality (PSNR) of the palette-reduced image.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from core.outputs.export import png_bytes
from core.results.segmentation import Segmentation

__all__ = ["Compression", "compress", "indexed_png"]


@dataclass(frozen=True)
class Compression:
    """How well one segmentation compresses its image.

    Attributes
    ----------
    k : int
    original_bytes : int
        The image as a lossless 24-bit PNG.
    indexed_bytes : int
        The palette-reduced image as an indexed PNG (palette + one index per pixel).
    bits_per_pixel : float
        ``8 * indexed_bytes / pixels``: what each pixel costs on disk.
    index_bits : int
        ⌈log₂ k⌉: the bits an uncompressed index needs.
    psnr : float
        Peak signal-to-noise ratio of the palette-reduced image against the original, in
        dB (infinite when they are equal). Higher is closer; above ~30 dB looks alike.
    """

    k: int
    original_bytes: int
    indexed_bytes: int
    bits_per_pixel: float
    index_bits: int
    psnr: float

    @property
    def ratio(self) -> float:
        """How many times smaller the indexed PNG is than the 24-bit PNG."""
        return self.original_bytes / self.indexed_bytes


def indexed_png(seg: Segmentation) -> bytes:
    """The segmented image as an indexed (palette) PNG, at the smallest bit depth for k.

    Parameters
    ----------
    seg : Segmentation

    Returns
    -------
    bytes
        A palette PNG of ``seg.segmented`` with 1, 2, 4 or 8 bits per pixel.

    Examples
    --------
    >>> import numpy as np, core
    >>> image = np.zeros((4, 6, 3), dtype=np.uint8); image[:, 3:] = 255
    >>> seg = core.segment(image, 2)
    >>> indexed_png(seg)[:4]
    b'\x89PNG'
    """
    if seg.k > 256:
        raise ValueError(f"an indexed PNG holds at most 256 colours, got k={seg.k}.")
    height, width = seg.shape
    indices = np.ascontiguousarray(seg.labels, dtype=np.uint8)
    image = Image.frombuffer("P", (width, height), indices.tobytes(), "raw", "P", 0, 1)
    image.putpalette(seg.palette.astype(np.uint8).ravel().tolist())
    bits = next(b for b in (1, 2, 4, 8) if seg.k <= 2**b)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True, bits=bits)
    return buffer.getvalue()


def compress(
    image: np.ndarray, seg: Segmentation, *, original_bytes: int | None = None
) -> Compression:
    """Measure the palette compression of `image` by `seg`.

    Parameters
    ----------
    image : (H, W, 3) ndarray of uint8
        The image that was segmented.
    seg : Segmentation
    original_bytes : int, optional
        Size of the 24-bit PNG if already known (it does not depend on k).

    Returns
    -------
    Compression

    Raises
    ------
    ValueError
        If `image` does not match `seg`.

    Examples
    --------
    >>> import numpy as np, core
    >>> image = np.zeros((4, 6, 3), dtype=np.uint8); image[:, 3:] = 255
    >>> seg = core.segment(image, 2)
    >>> compress(image, seg).index_bits
    1
    """
    if image.shape[:2] != seg.shape:
        raise ValueError(
            f"image shape {image.shape[:2]} does not match the segmentation {seg.shape}."
        )
    if original_bytes is None:
        original_bytes = len(png_bytes(image))
    indexed = len(indexed_png(seg))
    difference = image.astype(np.float64) - seg.segmented
    mse = float(np.mean(difference * difference))
    return Compression(
        k=seg.k,
        original_bytes=original_bytes,
        indexed_bytes=indexed,
        bits_per_pixel=8 * indexed / (seg.shape[0] * seg.shape[1]),
        index_bits=max(1, math.ceil(math.log2(seg.k))),
        psnr=math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse),
    )
