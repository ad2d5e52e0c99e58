"""The elbow method: WCSS over k, and the k where adding clusters stops paying off."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from core.engine.assign import assign
from core.engine.engines import fit_colors
from core.features.colorspaces import rgb_to_features
from core.features.colortable import ColorTable
from core.inputs.masking import MaskSpec, counted_pixels
from core.results.segmentation import DEFAULT_COLOR_SPACE
from core.validation import (
    DEFAULT_N_INIT,
    ColorSpace,
    FitParams,
    Init,
    check_color_space,
    check_k_fits,
    check_ks,
)

__all__ = ["Elbow", "elbow", "find_knee"]


@dataclass(frozen=True)
class Elbow:
    """WCSS for each k and the suggested k.

    Attributes
    ----------
    ks : tuple of int
        The k values tried, ascending.
    wcss : tuple of float
        Within-cluster sum of squares for each k, in the colour space's units. Never rises
        with k (see :func:`elbow`).
    knee : int or None
        The suggested k (Kneedle), or None when the curve has no clear elbow.
    message : str
        One plain sentence explaining the suggestion, for people.
    color_space : str
    elapsed : float
        Seconds spent.
    seed : int or None
        The seed used (the one drawn when :func:`elbow` got None).
    """

    ks: tuple[int, ...]
    wcss: tuple[float, ...]
    knee: int | None
    message: str
    color_space: str = "rgb"
    elapsed: float = 0.0
    seed: int | None = None

    @property
    def explained(self) -> tuple[float, ...]:
        """Share of the k=1 WCSS explained at each k (0 at k=1, tends to 1)."""
        total = self.wcss[0] if self.ks[0] == 1 else None
        if not total:
            return tuple(float("nan") for _ in self.ks)
        return tuple(1.0 - w / total for w in self.wcss)


def find_knee(ks: npt.ArrayLike, wcss: npt.ArrayLike) -> tuple[int | None, str]:
    """Locate the elbow of a decreasing, convex WCSS curve with Kneedle.

    Parameters
    ----------
    ks : (n,) array_like of int
        Values of k, ascending.
    wcss : (n,) array_like of float
        WCSS at each k.

    Returns
    -------
    knee : int or None
        The k at the elbow, or None when there is none.
    message : str
        A sentence saying what was found and how to read it.

    Examples
    --------
    >>> find_knee([1, 2, 3, 4, 5, 6], [100.0, 30.0, 12.0, 10.0, 9.0, 8.5])[0]
    2
    """
    from kneed import KneeLocator

    ks = np.asarray(ks, dtype=float)
    wcss = np.asarray(wcss, dtype=float)
    if ks.size < 3:
        return None, "Try at least three values of k to look for an elbow."
    if not np.isfinite(wcss).all() or wcss[0] - wcss[-1] <= 1e-12 * max(abs(wcss[0]), 1.0):
        return None, "WCSS does not fall as k grows: the image has too few colours for an elbow."
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # kneed warns when it finds no knee; we say so ourselves
        locator = KneeLocator(ks, wcss, curve="convex", direction="decreasing", S=1.0)
    if locator.knee is None:
        return None, (
            "No clear elbow: WCSS falls smoothly with k, so no single k stands out. "
            "Pick the smallest k whose segmentation shows what you need."
        )
    knee = round(float(locator.knee))
    return knee, (
        f"Suggested k = {knee}: beyond it, each extra cluster lowers WCSS much less "
        "than the ones before did."
    )


def elbow(
    image: npt.ArrayLike,
    ks: Iterable[int] = range(1, 13),
    *,
    color_space: ColorSpace = DEFAULT_COLOR_SPACE,
    seed: int | None = 0,
    init: Init = "k-means++",
    n_init: int = DEFAULT_N_INIT,
    max_iter: int = 300,
    tol: float = 1e-4,
    progress: Callable[[int, int, int], None] | None = None,
    allow_large_k: bool = False,
    mask: MaskSpec = "auto",
) -> Elbow:
    """Run k-means for every k in `ks` and suggest the k at the elbow of the WCSS curve.

    The image's distinct colours are counted once and shared by every k, and nothing is
    mapped back to pixels, so a whole curve costs little more than a few segmentations.

    Parameters
    ----------
    image : (H, W, 3) array_like of uint8
        RGB image.
    ks : iterable of int
        Values of k to try; sorted and de-duplicated. Default 1 to 12.
    color_space, seed, init, n_init, max_iter, tol
        As for :func:`core.segment`.
    progress : callable, optional
        Called as ``progress(done, total, k)`` after each k, for progress bars.
    allow_large_k : bool
        Lift the limit of 64 on the largest k (:data:`core.validation.LIMITS`).
    mask : {"auto", "alpha"}, (H, W) array_like of bool, or None
        Pixels that count, as for :func:`core.segment`; the others are left out of the
        curve.

    Returns
    -------
    Elbow

    Raises
    ------
    ValueError
        If `ks` is empty or holds a value that is not a positive integer, exceeds the
        number of pixels or the limit of 64, or another parameter is invalid.

    Notes
    -----
    k-means finds a local minimum, so a fresh run at k+1 can, rarely, end with a higher WCSS
    than the run at k. Each k therefore also starts once from the previous k's centres plus
    the worst-served colour: Lloyd never raises WCSS, so that run is at most the previous
    WCSS, and the better of the two runs is kept. The curve never rises.

    Examples
    --------
    >>> image = np.zeros((4, 6, 3), dtype=np.uint8); image[:, 3:] = 255
    >>> curve = elbow(image, range(1, 4))
    >>> curve.ks, curve.wcss[1:]
    ((1, 2, 3), (0.0, 0.0))
    """
    started = time.perf_counter()
    rgb, _ = counted_pixels(image, mask)
    space = check_color_space(color_space)
    values = check_ks(ks, allow_large_k=allow_large_k)
    params = FitParams.checked(seed=seed, init=init, n_init=n_init, max_iter=max_iter, tol=tol)
    check_k_fits(values[-1], rgb.shape[0] * rgb.shape[1])
    table = ColorTable.from_image(rgb)
    features = rgb_to_features(table.colors, space)
    weights = table.counts.astype(np.float64)
    wcss: list[float] = []
    previous: np.ndarray | None = None
    for done, k in enumerate(values, start=1):
        fit = fit_colors(features, table, k, params)
        if previous is not None and k <= table.n_colors and fit.wcss > wcss[-1]:
            warm = fit_colors(
                features, table, k, params, init_centers=_grow(previous, features, weights, k)
            )
            if warm.wcss < fit.wcss:
                fit = warm
        # Guard the invariant against rounding in the last digits, too.
        wcss.append(float(min(fit.wcss, wcss[-1]) if wcss else fit.wcss))
        previous = fit.centers
        if progress is not None:
            progress(done, len(values), k)
    knee, message = find_knee(values, wcss)
    return Elbow(
        ks=tuple(values),
        wcss=tuple(wcss),
        knee=knee,
        message=message,
        color_space=space,
        elapsed=time.perf_counter() - started,
        seed=params.seed,
    )


def _grow(centers: np.ndarray, features: np.ndarray, weights: np.ndarray, k: int) -> np.ndarray:
    """Extend `centers` to `k` rows with the points that are worst served by them."""
    x_sq = np.einsum("ij,ij->i", features, features)
    _, distances = assign(features, x_sq, centers)
    extra = k - centers.shape[0]
    far = np.argsort(-(weights * distances), kind="stable")[:extra]
    return np.vstack([centers, features[far]])
