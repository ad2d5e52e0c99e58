"""Step through one k-means run: the centroids, labels and WCSS of every iteration.

The tutorials' four steps made visible — (1) pick k centres, (2) give every pixel to the
nearest, (3) move each centre to the mean of its pixels, (4) repeat until nothing moves.
:func:`kmeans_steps` records one plain run (no coarse seeding, no restarts, so what you see
is the textbook algorithm) on the image's distinct colours; :meth:`Steps.segmented`
repaints the image as it stood at any iteration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from core.colorspaces import check_color_space, rgb_to_features
from core.colortable import ColorTable
from core.kmeans import assign, kmeans
from core.segmentation import _check_params, as_rgb_image

__all__ = ["Steps", "kmeans_steps"]


@dataclass(frozen=True, eq=False)
class Steps:
    """Every iteration of one k-means run on one image.

    Attributes
    ----------
    centers : tuple of (k, 3) ndarray of float64
        The centres used for each iteration's assignment, in the colour space; the first
        are the initial centres (step 1).
    wcss : tuple of float
        WCSS of each iteration's assignment; never rises.
    n_changed : tuple of int
        Pixels (not colours) that changed cluster in each assignment; 0 means converged.
    k, color_space, init, seed
        The parameters of the run.
    """

    centers: tuple[np.ndarray, ...]
    wcss: tuple[float, ...]
    n_changed: tuple[int, ...]
    k: int
    color_space: str
    init: str
    seed: int | None
    _table: ColorTable = field(repr=False)
    _features: np.ndarray = field(repr=False)

    @property
    def n_iter(self) -> int:
        """Number of recorded iterations."""
        return len(self.centers)

    def labels_of_colors(self, i: int) -> np.ndarray:
        """(m,) cluster of every distinct colour at iteration `i`."""
        self._check(i)
        x = self._features
        labels, _ = assign(x, np.einsum("ij,ij->i", x, x), self.centers[i])
        return labels

    def palette(self, i: int) -> np.ndarray:
        """(k, 3) uint8 mean RGB colour of each cluster at iteration `i` (black if empty)."""
        labels = self.labels_of_colors(i)
        counts = np.bincount(labels, weights=self._table.counts, minlength=self.k)
        sums = np.column_stack(
            [
                np.bincount(
                    labels, weights=self._table.counts * self._table.colors[:, j], minlength=self.k
                )
                for j in range(3)
            ]
        )
        palette = np.zeros((self.k, 3), dtype=np.uint8)
        filled = counts > 0
        palette[filled] = np.rint(sums[filled] / counts[filled, None]).astype(np.uint8)
        return palette

    def segmented(self, i: int) -> np.ndarray:
        """(H, W, 3) uint8: the image painted with each cluster's mean colour at iteration `i`."""
        labels = self.labels_of_colors(i)
        _, painted = self._table.paint(labels, self.palette(i))
        return painted

    def _check(self, i: int) -> None:
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= i < self.n_iter:
            raise IndexError(f"iteration must be in [0, {self.n_iter}), got {i!r}.")


def kmeans_steps(
    image: npt.ArrayLike,
    k: int,
    *,
    color_space: Literal["rgb", "hsv", "lab", "oklab"] = "rgb",
    init: Literal["k-means++", "random"] = "k-means++",
    seed: int | None = 0,
    max_iter: int = 100,
) -> Steps:
    """Run k-means once, as the textbook does, and keep every iteration.

    Parameters
    ----------
    image : (H, W, 3) array_like of uint8
        Keep it small (a working-size copy): every iteration is kept.
    k : int
    color_space, init, seed
        As for :func:`core.segment`.
    max_iter : int
        Cap on iterations; runs until no pixel changes cluster before that.

    Returns
    -------
    Steps

    Raises
    ------
    ValueError
        For invalid parameters, as :func:`core.segment`.
    """
    rgb = as_rgb_image(image)
    space = check_color_space(color_space)
    _check_params(k, init, 1, max_iter, 0.0, "kseg")
    table = ColorTable.from_image(rgb)
    if k > table.n_colors:
        raise ValueError(
            f"k={k} is more than the {table.n_colors} distinct colours of this image; lower k."
        )
    features = rgb_to_features(table.colors, space)
    run = kmeans(
        features,
        int(k),
        sample_weight=table.counts.astype(np.float64),
        init=init,
        n_init=1,
        max_iter=int(max_iter),
        tol=0.0,
        seed=seed,
        record_history=True,
    )
    history = run.history or ()
    return Steps(
        centers=tuple(record.centers for record in history),
        wcss=tuple(record.inertia for record in history),
        n_changed=tuple(_pixels_changed(history, table, features)),
        k=int(k),
        color_space=space,
        init=init,
        seed=seed,
        _table=table,
        _features=features,
    )


def _pixels_changed(history, table: ColorTable, features: np.ndarray) -> list[int]:
    """Pixels whose cluster changed at each iteration (the history counts colours)."""
    x_sq = np.einsum("ij,ij->i", features, features)
    previous = None
    changed = []
    for record in history:
        labels, _ = assign(features, x_sq, record.centers)
        if previous is None:
            changed.append(table.n_pixels)
        else:
            changed.append(int(table.counts[labels != previous].sum()))
        previous = labels
    return changed
