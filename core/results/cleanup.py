"""Clean-up: merge connected regions smaller than N pixels into the surrounding clusters.

k-means on colour ignores where pixels are, so masks are often speckled with regions of a
few pixels. Merging each region smaller than `min_pixels` into the nearest large region
(by distance, i.e. the cluster that surrounds it) turns masks into usable regions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from core.validation import check_positive_int

if TYPE_CHECKING:
    from core.results.segmentation import Segmentation

__all__ = ["merge_small_labels", "merge_small_regions"]


def merge_small_labels(labels: np.ndarray, k: int, min_pixels: int) -> np.ndarray:
    """Give every 4-connected region smaller than `min_pixels` the label around it.

    Each pixel of a small region takes the label of the nearest pixel that belongs to a
    region of at least `min_pixels` (Euclidean distance), so a speck takes the cluster of
    what surrounds it.

    Parameters
    ----------
    labels : (H, W) ndarray of int
        Cluster of every pixel, in ``[0, k)``.
    k : int
        Number of clusters.
    min_pixels : int
        Regions with fewer pixels are merged; 1 changes nothing.

    Returns
    -------
    (H, W) ndarray of int32
        The new labels; `labels` itself when nothing changes.

    Raises
    ------
    ValueError
        If `min_pixels` is not a positive integer.

    Examples
    --------
    >>> labels = np.zeros((5, 5), dtype=np.int32); labels[2, 2] = 1
    >>> int(merge_small_labels(labels, 2, 2).max())
    0
    """
    import cv2  # here, not at the top: ``import core`` stays light
    from scipy import ndimage

    min_pixels = check_positive_int(min_pixels, "min_pixels")
    small = np.zeros(labels.shape, dtype=bool)
    for j in range(k):
        _, components, stats, _ = cv2.connectedComponentsWithStats(
            (labels == j).astype(np.uint8), connectivity=4
        )
        tiny = np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] < min_pixels) + 1
        if tiny.size:
            small |= np.isin(components, tiny)
    if not small.any() or small.all():
        return labels
    # For every small-region pixel, the index of the nearest pixel that is kept.
    _, (rows, cols) = ndimage.distance_transform_edt(small, return_indices=True)
    return labels[rows, cols].astype(np.int32)


def merge_small_regions(
    seg: Segmentation, image: np.ndarray, min_pixels: int
) -> tuple[Segmentation, int]:
    """Reassign every 4-connected region smaller than `min_pixels` to its neighbours.

    See :func:`merge_small_labels`; :func:`core.segment` does the same with `min_region`.

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
        Same clusters and centres (renumbered by size); labels, counts, shares, palette
        and segmented image recomputed; ``min_region`` records `min_pixels`. Its ``wcss``
        is the WCSS of the original clustering (unchanged).
    moved : int
        Pixels that changed cluster.

    Raises
    ------
    ValueError
        If `min_pixels` is not a positive integer or `image` does not match `seg`.

    Examples
    --------
    >>> import core
    >>> image = np.zeros((6, 6, 3), dtype=np.uint8); image[:, 3:] = 255; image[0, 0] = 255
    >>> cleaned, moved = merge_small_regions(core.segment(image, 2), image, 2)
    >>> moved
    1
    """
    min_pixels = check_positive_int(min_pixels, "min_pixels")
    if image.shape[:2] != seg.shape:
        raise ValueError(
            f"image shape {image.shape[:2]} does not match the segmentation {seg.shape}."
        )
    cleaned = merge_small_labels(seg.labels, seg.k, min_pixels)
    if cleaned is seg.labels:
        return seg, 0
    moved = int(np.count_nonzero(cleaned != seg.labels))
    result = seg.from_labels(
        image,
        cleaned,
        k=seg.k,
        centers=seg.centers,
        wcss=seg.wcss,
        color_space=seg.color_space,
        fit=seg.fit,
        n_iter=seg.n_iter,
        converged=seg.converged,
        fit_shape=seg.fit_shape,
        warn_empty=False,
        **{**seg.options, "min_region": min_pixels},
    )
    return result, moved
