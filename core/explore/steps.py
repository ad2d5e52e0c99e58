"""Step through one k-means run: the centroids, labels and WCSS of every iteration.

The tutorials' four steps made visible — (1) pick k centres, (2) give every pixel to the
nearest, (3) move each centre to the mean of its pixels, (4) repeat until nothing moves.
:func:`kmeans_steps` records one plain run (no coarse seeding, no restarts, so what you see
is the textbook algorithm) on the image's distinct colours; :meth:`Steps.segmented`
repaints the image as it stood at any iteration.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from core.engine.assign import assign
from core.engine.engines import fit_colors
from core.engine.kmeans import IterationRecord
from core.features.colorspaces import rgb_to_features
from core.features.colortable import ColorTable, cluster_means
from core.inputs.masking import MaskSpec, counted_pixels, on_grid
from core.results.segmentation import DEFAULT_COLOR_SPACE
from core.validation import (
    ColorSpace,
    FitParams,
    Init,
    check_color_space,
    check_index,
    check_k,
    check_k_fits,
    warn_fewer_colors,
)

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
    valid : (H, W) ndarray of bool, or None
        Pixels that count (see ``kmeans_steps(mask=...)``); None when every pixel counts.
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
    valid: np.ndarray | None = None

    @property
    def n_iter(self) -> int:
        """Number of recorded iterations."""
        return len(self.centers)

    def labels_of_colors(self, i: int) -> np.ndarray:
        """(m,) cluster of every distinct colour at iteration `i`.

        Parameters
        ----------
        i : int
            Iteration, in ``[0, n_iter)``: 0 labels with the initial centres.

        Returns
        -------
        (m,) ndarray of int32
            One label per distinct colour of the image.

        Raises
        ------
        IndexError
            If `i` is not an iteration index.

        Examples
        --------
        >>> image = np.zeros((4, 6, 3), dtype=np.uint8); image[:, 3:] = 255
        >>> steps = kmeans_steps(image, 2)
        >>> sorted(steps.labels_of_colors(0).tolist())
        [0, 1]
        """
        self._check(i)
        x = self._features
        labels, _ = assign(x, np.einsum("ij,ij->i", x, x), self.centers[i])
        return labels

    def palette(self, i: int) -> np.ndarray:
        """(k, 3) uint8 mean RGB colour of each cluster at iteration `i` (black if empty).

        Parameters
        ----------
        i : int
            Iteration whose labels define the clusters, in ``[0, n_iter)``.

        Returns
        -------
        (k, 3) ndarray of uint8

        Raises
        ------
        IndexError
            If `i` is out of range.

        Examples
        --------
        >>> image = np.zeros((4, 6, 3), dtype=np.uint8); image[:, 3:] = 255
        >>> steps = kmeans_steps(image, 2)
        >>> sorted(steps.palette(steps.n_iter - 1).tolist())
        [[0, 0, 0], [255, 255, 255]]
        """
        labels = self.labels_of_colors(i)
        _, palette = cluster_means(self._table.colors, labels, self.k, self._table.counts)
        return palette

    def segmented(self, i: int) -> np.ndarray:
        """(H, W, 3) uint8: the image painted with each cluster's mean colour at iteration `i`
        (white where the pixel does not count, as in :attr:`core.Segmentation.segmented`).

        Parameters
        ----------
        i : int
            Iteration to paint, in ``[0, n_iter)``.

        Returns
        -------
        (H, W, 3) ndarray of uint8

        Raises
        ------
        IndexError
            If there is no iteration `i`.

        Examples
        --------
        >>> image = np.zeros((4, 6, 3), dtype=np.uint8); image[:, 3:] = 255
        >>> steps = kmeans_steps(image, 2)
        >>> bool((steps.segmented(0) == image).all())
        True
        """
        labels = self.labels_of_colors(i)
        _, painted = self._table.paint(labels, self.palette(i))
        return painted if self.valid is None else on_grid(painted, self.valid, fill=255)

    def _check(self, i: int) -> None:
        check_index(i, self.n_iter, "iteration")


def kmeans_steps(
    image: npt.ArrayLike,
    k: int,
    *,
    color_space: ColorSpace = DEFAULT_COLOR_SPACE,
    init: Init = "k-means++",
    seed: int | None = 0,
    max_iter: int = 100,
    mask: MaskSpec = "auto",
) -> Steps:
    """Run k-means once, as the textbook does, and keep every iteration.

    Parameters
    ----------
    image : (H, W, 3) array_like of uint8, (H, W, 4) RGBA, or LoadedImage
        Keep it small (a working-size copy): every iteration is kept.
    k : int
    color_space, init, seed, mask
        As for :func:`core.segment`: only the pixels that count are clustered, and
        counted in WCSS and `n_changed`.
    max_iter : int
        Cap on iterations; runs until no pixel changes cluster before that.

    Returns
    -------
    Steps

    Raises
    ------
    ValueError
        For invalid parameters, as :func:`core.segment`.
    ImageError
        If no pixel counts (a fully transparent image, or an all-False mask).

    Warns
    -----
    UserWarning
        When the image has fewer distinct colours than `k` (as :func:`core.segment`).

    Examples
    --------
    >>> image = np.zeros((4, 4, 3), dtype=np.uint8); image[:, 2:] = 255
    >>> kmeans_steps(image, 2).wcss[-1]
    0.0
    """
    rgb, valid = counted_pixels(image, mask)
    space = check_color_space(color_space)
    k = check_k(k)
    fit = FitParams.checked(seed=seed, init=init, n_init=1, max_iter=max_iter, tol=0.0)
    check_k_fits(k, rgb.shape[0] * rgb.shape[1])
    table = ColorTable.from_image(rgb)
    features = rgb_to_features(table.colors, space)
    run = fit_colors(features, table, k, fit, record_history=True)
    # Fewer distinct colours than k: every colour is its own cluster from the start.
    history = run.history or (IterationRecord(run.centers, run.wcss, table.n_colors),)
    warn_fewer_colors(table.n_colors, k, stacklevel=2)
    return Steps(
        centers=tuple(record.centers for record in history),
        wcss=tuple(record.wcss for record in history),
        n_changed=tuple(_pixels_changed(history, table, features)),
        k=k,
        color_space=space,
        init=fit.init,
        seed=fit.seed,
        _table=table,
        _features=features,
        valid=None if valid is None else _read_only(valid),
    )


def _read_only(array: np.ndarray) -> np.ndarray:
    array = np.array(array, dtype=bool)
    array.setflags(write=False)
    return array


def _pixels_changed(
    history: tuple[IterationRecord, ...], table: ColorTable, features: np.ndarray
) -> list[int]:
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
