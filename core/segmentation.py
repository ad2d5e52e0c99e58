"""`segment`: k-means segmentation of an image, and its result, :class:`Segmentation`."""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import cv2
import numpy as np
import numpy.typing as npt

from core.colorspaces import check_color_space, rgb_to_features
from core.colortable import ColorTable, recolor
from core.kmeans import INITS, KMeansResult, assign_and_update, kmeans

__all__ = ["ENGINES", "Segmentation", "as_rgb_image", "segment"]

#: Engines accepted by :func:`segment`.
ENGINES: Final[dict[str, str]] = {
    "kseg": "kseg's own exact engine: clusters distinct colours weighted by their counts",
    "sklearn": "scikit-learn KMeans (Lloyd) on the distinct colours, weighted",
    "opencv": "OpenCV cv2.kmeans on every pixel (no weights)",
}

#: Restarts run by default: scikit-learn's classic 10 (and the tutorials' cv2 ``attempts``).
#: kseg runs them on a coarse colour histogram, so 10 cost ~5 % more time than 4, and they
#: matter: on a 12 MP photo at k = 16, 4 restarts ended up to 2.3 % above scikit-learn's
#: best WCSS of 10 (mean over seeds 0.9 %), 10 restarts within 0.8 % (mean 0.5 %).
DEFAULT_N_INIT: Final = 10

# Images with more distinct colours than this are seeded on a coarse histogram first.
_COARSE_ABOVE: Final = 4096
_COARSE_BITS: Final = 5


@dataclass(frozen=True, eq=False)
class Segmentation:
    """The result of :func:`segment`: one k-means segmentation of one image.

    Clusters are numbered by size, largest first, so that colours in a UI do not shuffle
    when k or the seed changes. All arrays are read-only.

    Attributes
    ----------
    labels : (H, W) ndarray of int32
        Cluster of every pixel, in ``[0, k)``.
    palette : (k, 3) ndarray of uint8
        Mean RGB colour of each cluster's pixels, whatever the colour space used.
    segmented : (H, W, 3) ndarray of uint8
        The image recoloured with its palette: ``palette[labels]``.
    centers : (k, 3) ndarray of float64
        Cluster centres in the feature space (the colour space's coordinates).
    counts : (k,) ndarray of int64
        Pixels per cluster.
    fractions : (k,) ndarray of float64
        Share of pixels per cluster; sums to 1.
    inertia : float
        Within-cluster sum of squares (WCSS) over all pixels, in the feature space.
    n_iter : int
        Lloyd iterations of the final (exact) run.
    converged : bool
        Whether that run converged before `max_iter`.
    n_colors : int
        Distinct colours in the image.
    elapsed : float
        Seconds spent in :func:`segment`.
    k, color_space, seed, init, n_init, max_iter, tol, engine, fit_pixels
        The parameters used.
    fit_shape : tuple of int
        ``(H, W)`` of the image the centres were fitted on: the image itself, or its
        downscaled copy when `fit_pixels` applied.

    Notes
    -----
    A cluster is empty (count 0, palette black, centre a copy of another cluster's) only when
    the image has fewer distinct colours than `k`; :func:`segment` warns when that happens.
    """

    labels: np.ndarray
    palette: np.ndarray
    segmented: np.ndarray
    centers: np.ndarray
    counts: np.ndarray
    fractions: np.ndarray
    inertia: float
    n_iter: int
    converged: bool
    n_colors: int
    k: int
    color_space: str
    seed: int | None
    init: str
    n_init: int
    max_iter: int
    tol: float
    engine: str
    fit_pixels: int | None = None
    fit_shape: tuple[int, int] | None = None
    elapsed: float = field(default=0.0, compare=False)

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)`` of the image."""
        return (int(self.labels.shape[0]), int(self.labels.shape[1]))

    def mask(self, i: int) -> np.ndarray:
        """Boolean (H, W) mask of the pixels in cluster `i`.

        Raises
        ------
        IndexError
            If `i` is not in ``[0, k)``.
        """
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= i < self.k:
            raise IndexError(f"cluster index must be an integer in [0, {self.k}), got {i!r}.")
        return self.labels == i

    @property
    def hex_colors(self) -> list[str]:
        """Palette as ``#rrggbb`` strings."""
        return ["#{:02x}{:02x}{:02x}".format(*map(int, c)) for c in self.palette]

    @property
    def params(self) -> dict[str, Any]:
        """The keyword arguments that reproduce this result with :func:`segment`."""
        return {
            "k": self.k,
            "color_space": self.color_space,
            "seed": self.seed,
            "init": self.init,
            "n_init": self.n_init,
            "max_iter": self.max_iter,
            "tol": self.tol,
            "engine": self.engine,
            "fit_pixels": self.fit_pixels,
        }


def as_rgb_image(image: npt.ArrayLike, *, name: str = "image") -> np.ndarray:
    """Validate an image and return it as a C-contiguous (H, W, 3) uint8 RGB array.

    Accepts (H, W, 3) uint8 RGB, (H, W) uint8 grayscale (repeated to three channels) and
    float arrays with values in [0, 1] (scaled by 255 and rounded). The input is never
    modified.

    Raises
    ------
    TypeError
        If `image` is not an array of numbers.
    ValueError
        If it is empty, has the wrong shape, contains NaN, or has values out of range.
    """
    array = np.asarray(image)
    if array.dtype == object or not (
        np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_
    ):
        raise TypeError(
            f"{name} must be a numeric array (H, W, 3), got dtype {array.dtype}; "
            "load files with core.load_image()."
        )
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] != 3:
        hint = (
            " (drop the alpha channel or use core.load_image)"
            if array.ndim == 3 and array.shape[2] == 4
            else ""
        )
        raise ValueError(
            f"{name} must have shape (H, W, 3) for RGB or (H, W) for grayscale, "
            f"got {np.shape(image)}{hint}."
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {np.shape(image)}); it needs at least one pixel.")
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    if np.issubdtype(array.dtype, np.floating):
        if np.isnan(array).any():
            raise ValueError(f"{name} contains NaN values; fill or remove them first.")
        if array.min() < 0 or array.max() > 1:
            raise ValueError(
                f"float {name} values must lie in [0, 1], got [{array.min():g}, {array.max():g}]; "
                "divide 0–255 data by 255 or pass uint8."
            )
        return np.ascontiguousarray(np.rint(array * 255.0).astype(np.uint8))
    raise ValueError(
        f"{name} has dtype {array.dtype}; pass uint8 (0–255) or float (0–1) data, "
        "or load files with core.load_image(), which scales 16-bit images."
    )


def _check_positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def _check_params(
    k: object, init: object, n_init: object, max_iter: object, tol: object, engine: object
) -> None:
    _check_positive_int(k, "k")
    _check_positive_int(n_init, "n_init")
    _check_positive_int(max_iter, "max_iter")
    if init not in INITS:
        raise ValueError(f"init must be one of {', '.join(map(repr, INITS))}, got {init!r}.")
    if (
        isinstance(tol, bool)
        or not isinstance(tol, (int, float))
        or not (math.isfinite(tol) and tol >= 0)
    ):
        raise ValueError(f"tol must be a non-negative number, got {tol!r}.")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(map(repr, ENGINES))}, got {engine!r}.")


def segment(
    image: npt.ArrayLike,
    k: int,
    *,
    color_space: Literal["rgb", "hsv", "lab", "oklab"] = "rgb",
    seed: int | None = 0,
    init: Literal["k-means++", "random"] = "k-means++",
    n_init: int = DEFAULT_N_INIT,
    max_iter: int = 300,
    tol: float = 1e-4,
    engine: Literal["kseg", "sklearn", "opencv"] = "kseg",
    fit_pixels: int | None = None,
) -> Segmentation:
    """Segment an image into `k` colour clusters with k-means.

    Parameters
    ----------
    image : (H, W, 3) array_like of uint8
        RGB image (see :func:`as_rgb_image` for the other layouts accepted).
    k : int
        Number of clusters, at least 1 and at most the number of pixels.
    color_space : {"rgb", "hsv", "lab", "oklab"}
        Space in which distances are measured (see :mod:`core.colorspaces`). The palette is
        reported in RGB whatever the space.
    seed : int or None
        Seed for the initialisation. The same seed gives the same labels.
    init : {"k-means++", "random"}
        How the first centres are picked.
    n_init : int
        Restarts; the one with the lowest WCSS wins. kseg's engine runs them on a coarse
        colour histogram, so they cost little.
    max_iter : int
        Cap on Lloyd iterations.
    tol : float
        Relative tolerance on centre movement (scikit-learn's convention); 0 runs until no
        pixel changes cluster.
    engine : {"kseg", "sklearn", "opencv"}
        ``"kseg"`` (default, fastest) and ``"sklearn"`` cluster the distinct colours weighted by
        their counts, which is exactly k-means on every pixel; ``"opencv"`` runs
        ``cv2.kmeans`` on every pixel, for comparison.
    fit_pixels : int, optional
        For very large photos: when the image has more pixels than this, the centres are
        fitted on a copy downscaled to at most `fit_pixels` (area interpolation), then every
        full-resolution pixel is labelled with its nearest centre and the palette, centres,
        shares and WCSS are computed on the full image. Default None: fit on every pixel.

    Returns
    -------
    Segmentation

    Raises
    ------
    TypeError
        If `image` is not a numeric array.
    ValueError
        If the image is empty, of the wrong shape or contains NaN; if `k` is not a positive
        integer or exceeds the number of pixels; or if a parameter is unknown or out of range.

    Warns
    -----
    UserWarning
        When the image has fewer distinct colours than `k`: every colour then gets its own
        cluster and the remaining clusters are empty.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.zeros((2, 4, 3), dtype=np.uint8); image[:, 2:] = 255
    >>> result = segment(image, 2)
    >>> result.palette.tolist(), result.fractions.tolist()
    ([[0, 0, 0], [255, 255, 255]], [0.5, 0.5])
    """
    started = time.perf_counter()
    rgb = as_rgb_image(image)
    space = check_color_space(color_space)
    _check_params(k, init, n_init, max_iter, tol, engine)
    n_pixels = rgb.shape[0] * rgb.shape[1]
    if k > n_pixels:
        raise ValueError(f"k={k} is more than the number of pixels ({n_pixels}); lower k.")
    if fit_pixels is not None:
        fit_pixels = _check_positive_int(fit_pixels, "fit_pixels")
    table = ColorTable.from_image(rgb)
    fit_image, fit_table = rgb, table
    if fit_pixels is not None and n_pixels > fit_pixels:
        from core.io import resize_to_max_pixels

        fit_image = resize_to_max_pixels(rgb, fit_pixels)
        fit_table = ColorTable.from_image(fit_image)
    if fit_table.n_colors < min(k, table.n_colors):
        # A working copy too small to hold k colours (e.g. fit_pixels=1) would leave
        # clusters empty that the full image can fill: fit on the full image instead.
        fit_image, fit_table = rgb, table
    subsampled = fit_table is not table
    k = int(k)
    fit_params = {"init": init, "n_init": int(n_init), "max_iter": int(max_iter), "tol": float(tol)}
    color_labels = pixel_labels = None
    if engine == "opencv":
        labels_fit, centers, inertia, n_iter = _fit_opencv(fit_image, space, k, seed, **fit_params)
        converged = n_iter < max_iter
        if not subsampled:
            pixel_labels = labels_fit
    else:
        fit = fit_colors(
            rgb_to_features(fit_table.colors, space),
            fit_table,
            k,
            seed=seed,
            engine=engine,
            **fit_params,
        )
        centers, inertia, n_iter, converged = fit.centers, fit.inertia, fit.n_iter, fit.converged
        color_labels = fit.labels
    if subsampled:
        # Label every full-resolution colour with its nearest fitted centre, then move each
        # centre to the mean of its members, as one Lloyd update would.
        features = rgb_to_features(table.colors, space)
        color_labels, centers, inertia = assign_and_update(
            features, table.counts.astype(np.float64), centers
        )
    return _finish(
        table,
        rgb,
        k,
        color_labels=color_labels,
        pixel_labels=pixel_labels,
        centers=centers,
        inertia=inertia,
        n_iter=n_iter,
        converged=converged,
        params={
            "k": k,
            "color_space": space,
            "seed": seed,
            "engine": engine,
            "fit_pixels": fit_pixels,
            **fit_params,
        },
        fit_shape=(int(fit_image.shape[0]), int(fit_image.shape[1])),
        started=started,
    )


def fit_colors(
    features: np.ndarray,
    table: ColorTable,
    k: int,
    *,
    seed: int | None,
    init: str = "k-means++",
    n_init: int = DEFAULT_N_INIT,
    max_iter: int = 300,
    tol: float = 1e-4,
    engine: str = "kseg",
    init_centers: np.ndarray | None = None,
    record_history: bool = False,
) -> KMeansResult:
    """k-means on the distinct colours of `table`, weighted by their counts.

    Prior validation assumed. When the image has fewer distinct colours than `k`, every
    colour becomes its own cluster and the rest stay empty (the caller warns).

    Parameters
    ----------
    features : (m, d) ndarray of float64
        Coordinates of ``table.colors`` in the chosen space.
    table : ColorTable
    k : int
    init_centers : (k, d) ndarray, optional
        Start from these centres instead of seeding (one run, no coarse stage).
    """
    weights = table.counts.astype(np.float64)
    m = features.shape[0]
    if k >= m:
        labels = np.arange(m, dtype=np.int32)
        centers = np.vstack([features, np.repeat(features[:1], k - m, axis=0)])
        return KMeansResult(centers=centers, labels=labels, inertia=0.0, n_iter=0, converged=True)
    if engine == "sklearn":
        return _fit_sklearn(features, weights, k, seed, init, n_init, max_iter, tol)
    if init_centers is not None:
        return kmeans(
            features,
            k,
            sample_weight=weights,
            init=init_centers,
            n_init=1,
            max_iter=max_iter,
            tol=tol,
            record_history=record_history,
        )
    start: Any = init
    runs = n_init
    if m > _COARSE_ABOVE and not record_history:
        # Seed and restart on a coarse histogram (a few thousand weighted cells), then refine
        # the best start exactly on all distinct colours. The refinement is plain Lloyd on
        # the full data, so the result is a true k-means solution of every pixel.
        cell, n_cells = table.coarse(_COARSE_BITS)
        mass = np.bincount(cell, weights=weights, minlength=n_cells)
        occupied = np.flatnonzero(mass)
        if occupied.shape[0] >= k:
            coarse = (
                np.column_stack(
                    [
                        np.bincount(cell, weights=weights * features[:, j], minlength=n_cells)[
                            occupied
                        ]
                        for j in range(features.shape[1])
                    ]
                )
                / mass[occupied, None]
            )
            seeded = kmeans(
                coarse,
                k,
                sample_weight=mass[occupied],
                init=init,
                n_init=n_init,
                max_iter=max_iter,
                tol=tol,
                seed=seed,
            )
            start, runs = seeded.centers, 1
    return kmeans(
        features,
        k,
        sample_weight=weights,
        init=start,
        n_init=runs,
        max_iter=max_iter,
        tol=tol,
        seed=seed,
        record_history=record_history,
    )


def _fit_sklearn(
    features: np.ndarray,
    weights: np.ndarray,
    k: int,
    seed: int | None,
    init: str,
    n_init: int,
    max_iter: int,
    tol: float,
) -> KMeansResult:
    from sklearn.cluster import KMeans

    model = KMeans(
        n_clusters=k, init=init, n_init=n_init, max_iter=max_iter, tol=tol, random_state=seed
    )
    with warnings.catch_warnings():
        # "Number of distinct clusters found smaller than n_clusters" is handled by the caller.
        warnings.simplefilter("ignore", category=UserWarning)
        model.fit(features, sample_weight=weights)
    return KMeansResult(
        centers=model.cluster_centers_.astype(np.float64),
        labels=model.labels_.astype(np.int32),
        inertia=float(model.inertia_),
        n_iter=int(model.n_iter_),
        converged=int(model.n_iter_) < max_iter,
    )


def _fit_opencv(
    rgb: np.ndarray,
    space: str,
    k: int,
    seed: int | None,
    *,
    init: str,
    n_init: int,
    max_iter: int,
    tol: float,
) -> tuple[np.ndarray, np.ndarray, float, int]:
    features = rgb_to_features(rgb.reshape(-1, 3), space).astype(np.float32)
    # cv2's epsilon bounds the largest centre move; match our relative tolerance in scale.
    epsilon = math.sqrt(tol * float(features.var(axis=0).mean())) if tol > 0 else 0.0
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, max_iter, epsilon)
    flags = cv2.KMEANS_PP_CENTERS if init == "k-means++" else cv2.KMEANS_RANDOM_CENTERS
    cv2.setRNGSeed(0 if seed is None else int(seed))
    # As (n, 1, 3) three-channel points: a single (1, 3) row would be read as 3 points.
    points = features.reshape(-1, 1, 3)
    compactness, labels, centers = cv2.kmeans(points, k, None, criteria, n_init, flags)
    return (
        labels.ravel().astype(np.int32).reshape(rgb.shape[:2]),
        centers.astype(np.float64),
        float(compactness),
        max_iter,  # cv2 does not report its iteration count
    )


def _finish(
    table: ColorTable,
    rgb: np.ndarray,
    k: int,
    *,
    color_labels: np.ndarray | None,
    pixel_labels: np.ndarray | None,
    centers: np.ndarray,
    inertia: float,
    n_iter: int,
    converged: bool,
    params: dict[str, Any],
    fit_shape: tuple[int, int],
    started: float,
) -> Segmentation:
    """Number clusters by size, compute the palette and the recoloured image."""
    if color_labels is not None:
        weights = table.counts
        colors = table.colors
        labels_for_sums = color_labels
    else:
        assert pixel_labels is not None
        weights = None
        colors = rgb.reshape(-1, 3)
        labels_for_sums = pixel_labels.ravel()
    counts = np.bincount(labels_for_sums, weights=weights, minlength=k).astype(np.int64)
    sums = np.column_stack(
        [
            np.bincount(
                labels_for_sums,
                weights=colors[:, j] * (1 if weights is None else weights),
                minlength=k,
            )
            for j in range(3)
        ]
    )
    order = np.argsort(-counts, kind="stable")
    rank = np.empty(k, dtype=np.int32)
    rank[order] = np.arange(k, dtype=np.int32)
    counts = counts[order]
    filled = counts > 0
    palette = np.zeros((k, 3), dtype=np.uint8)
    palette[filled] = np.rint(sums[order][filled] / counts[filled, None]).astype(np.uint8)
    centers = np.asarray(centers, dtype=np.float64)[order]
    if color_labels is not None:
        labels, segmented = table.paint(rank[color_labels], palette)
    else:
        assert pixel_labels is not None
        labels = rank[pixel_labels]
        segmented = recolor(labels, palette)
    n_empty = int((~filled).sum())
    if n_empty:
        if table.n_colors < k:
            message = (
                f"The image has only {table.n_colors} distinct colour(s), fewer than k={k}: "
                f"{n_empty} cluster(s) are empty. Lower k to at most {table.n_colors}."
            )
        else:
            message = (
                f"{n_empty} of the k={k} clusters ended up with no pixels. Lower k, or "
                "fit on more pixels (a larger fit_pixels / working size)."
            )
        warnings.warn(message, UserWarning, stacklevel=3)
    fractions = counts / counts.sum()
    for array in (labels, palette, segmented, centers, counts, fractions):
        array.setflags(write=False)
    return Segmentation(
        labels=labels,
        palette=palette,
        segmented=segmented,
        centers=centers,
        counts=counts,
        fractions=fractions,
        inertia=float(inertia),
        n_iter=int(n_iter),
        converged=bool(converged),
        n_colors=table.n_colors,
        elapsed=time.perf_counter() - started,
        fit_shape=fit_shape,
        **params,
    )
