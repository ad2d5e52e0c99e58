"""The distinct colours of an image and how often each occurs.

Images repeat themselves: a 12-megapixel photo rarely holds more than a million or two
distinct colours, and every pixel of one colour lands in the same k-means cluster. So kseg
clusters the distinct colours, weighted by their pixel counts, and broadcasts the labels back
to the pixels — the same answer as clustering every pixel, for a fraction of the work.
A colour's id is its 24 bits ``r | g << 8 | b << 16``; counting them is one ``bincount``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import cv2
import numpy as np

__all__ = ["ColorTable"]

_N_IDS: Final = 1 << 24
# Below this many pixels a sort (np.unique) beats scanning a 2**24-bin histogram.
_SMALL_IMAGE: Final = 1 << 18


def _pixel_ids(image: np.ndarray) -> np.ndarray:
    """24-bit colour id ``r | g << 8 | b << 16`` of every pixel (prior validation assumed)."""
    # OpenCV widens RGB to RGBA in one vectorised pass; the four bytes read as one uint32
    # whose top byte (alpha = 255) we clear. Roughly 6x faster than shifting in NumPy.
    rgba = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2RGBA)
    ids = rgba.view(np.uint32).reshape(-1)
    if not np.little_endian:  # pragma: no cover - big-endian machines
        ids = ids.byteswap()
    np.bitwise_and(ids, 0xFFFFFF, out=ids)
    return ids


def _ids_to_colors(ids: np.ndarray) -> np.ndarray:
    ids = ids.astype(np.uint32)
    return np.column_stack([ids & 0xFF, (ids >> 8) & 0xFF, (ids >> 16) & 0xFF]).astype(np.uint8)


@dataclass(frozen=True, eq=False)
class ColorTable:
    """Distinct colours of one image with their pixel counts.

    Attributes
    ----------
    shape : tuple of int
        ``(H, W)`` of the image.
    colors : (m, 3) ndarray of uint8
        The distinct RGB colours, sorted by id.
    counts : (m,) ndarray of int64
        Pixels of each colour; sums to ``H * W``.
    pixel_ids : (H * W,) ndarray of uint32
        Colour id of every pixel, kept to map colour labels back to pixels.
    """

    shape: tuple[int, int]
    colors: np.ndarray
    counts: np.ndarray
    pixel_ids: np.ndarray

    @classmethod
    def from_image(cls, image: np.ndarray) -> ColorTable:
        """Count the distinct colours of an (H, W, 3) uint8 image."""
        ids = _pixel_ids(image)
        if ids.shape[0] <= _SMALL_IMAGE:
            distinct, counts = np.unique(ids, return_counts=True)
        else:
            histogram = np.bincount(ids.astype(np.intp), minlength=_N_IDS)
            distinct = np.flatnonzero(histogram > 0)
            counts = histogram[distinct]
        return cls(
            shape=(int(image.shape[0]), int(image.shape[1])),
            colors=_ids_to_colors(distinct),
            counts=counts.astype(np.int64),
            pixel_ids=ids,
        )

    @property
    def n_colors(self) -> int:
        """Number of distinct colours."""
        return int(self.colors.shape[0])

    @property
    def n_pixels(self) -> int:
        return int(self.pixel_ids.shape[0])

    def color_ids(self) -> np.ndarray:
        """(m,) uint32 ids of :attr:`colors`, ascending."""
        c = self.colors.astype(np.uint32)
        return c[:, 0] | (c[:, 1] << 8) | (c[:, 2] << 16)

    def pixel_labels(self, color_labels: np.ndarray) -> np.ndarray:
        """Broadcast one label per distinct colour to an (H, W) int32 label image."""
        color_labels = np.asarray(color_labels)
        ids = self.color_ids()
        if self.n_pixels <= _SMALL_IMAGE:
            # Look the pixel ids up among the sorted distinct ids.
            labels = color_labels.astype(np.int32)[np.searchsorted(ids, self.pixel_ids)]
        else:
            # A 2**24-entry lookup table; uint8 entries keep it cache-friendly when k <= 256.
            small = color_labels.size == 0 or int(color_labels.max()) < 256
            lookup = np.zeros(_N_IDS, dtype=np.uint8 if small else np.int32)
            lookup[ids] = color_labels
            labels = np.take(lookup, self.pixel_ids).astype(np.int32)
        return labels.reshape(self.shape)

    def coarse(self, bits: int = 5) -> tuple[np.ndarray, np.ndarray]:
        """Group the colours into a coarse RGB histogram of ``2**(3*bits)`` cells.

        Returns
        -------
        cell : (m,) ndarray of int64
            Cell index of every distinct colour.
        n_cells : int
            Number of possible cells.
        """
        shift = 8 - bits
        c = (self.colors >> shift).astype(np.int64)
        cell = (c[:, 0] << (2 * bits)) | (c[:, 1] << bits) | c[:, 2]
        return cell, 1 << (3 * bits)
