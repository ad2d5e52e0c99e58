"""Clean-up: merge connected regions smaller than N pixels into the surrounding clusters.

k-means on colour ignores where pixels are, so masks are often speckled with regions of a
few pixels. Merging each region smaller than `min_pixels` into the nearest large region
(by distance, i.e. the cluster that surrounds it) turns masks into usable regions.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
from scipy import ndimage

from core.segmentation import Segmentation

__all__ = ["merge_small_regions"]


def merge_small_regions(
    seg: Segmentation, image: np.ndarray, min_pixels: int
) -> tuple[Segmentation, int]:
    """Reassign every 4-connected region smaller than `min_pixels` to its neighbours.

    Each pixel of a small region takes the cluster of the nearest pixel that belongs to a
    region of at least `min_pixels` (Euclidean distance), so a speck takes the cluster of
    what surrounds it.

    Parameters
    ----------
    seg : Segmentation
    image : (H, W, 3) ndarray of uint8
        The image that was segmented (for the palette of the cleaned clusters).
    min_pixels : int
        Regions with fewer pixels are merged; 1 changes nothing.

    Returns
    -------
    cleaned : Segmentation
        Same clusters and centres; labels, counts, shares, palette and segmented image
        recomputed. Its ``inertia`` is the WCSS of the original clustering (unchanged).
    moved : int
        Pixels that changed cluster.

    Raises
    ------
    ValueError
        If `min_pixels` is not a positive integer or `image` does not match `seg`.
    """
    if isinstance(min_pixels, bool) or not isinstance(min_pixels, (int, np.integer)):
        raise ValueError(f"min_pixels must be a positive integer, got {min_pixels!r}.")
    if min_pixels < 1:
        raise ValueError(f"min_pixels must be a positive integer, got {min_pixels!r}.")
    if image.shape[:2] != seg.shape:
        raise ValueError(
            f"image shape {image.shape[:2]} does not match the segmentation {seg.shape}."
        )
    labels = seg.labels
    small = np.zeros(seg.shape, dtype=bool)
    for j in range(seg.k):
        _, components, stats, _ = cv2.connectedComponentsWithStats(
            (labels == j).astype(np.uint8), connectivity=4
        )
        tiny = np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] < min_pixels) + 1
        if tiny.size:
            small |= np.isin(components, tiny)
    if not small.any() or small.all():
        return seg, 0
    # For every small-region pixel, the index of the nearest pixel that is kept.
    _, (rows, cols) = ndimage.distance_transform_edt(small, return_indices=True)
    cleaned = labels[rows, cols].astype(np.int32)
    moved = int(np.count_nonzero(cleaned != labels))
    k = seg.k
    counts = np.bincount(cleaned.ravel(), minlength=k).astype(np.int64)
    pixels = image.reshape(-1, 3).astype(np.float64)
    palette = seg.palette.copy()
    for channel in range(3):
        sums = np.bincount(cleaned.ravel(), weights=pixels[:, channel], minlength=k)
        filled = counts > 0
        palette[filled, channel] = np.rint(sums[filled] / counts[filled]).astype(np.uint8)
    segmented = palette[cleaned]
    fractions = counts / counts.sum()
    for array in (cleaned, palette, segmented, counts, fractions):
        array.setflags(write=False)
    return (
        replace(
            seg,
            labels=cleaned,
            palette=palette,
            segmented=segmented,
            counts=counts,
            fractions=fractions,
        ),
        moved,
    )
