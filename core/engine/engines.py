"""The k-means engines behind :func:`core.segment`: kseg's own and its peers.

One function per engine, each taking checked :class:`~core.validation.FitParams` and
returning a :class:`~core.engine.kmeans.KMeansResult`, so :func:`core.segment` and
:func:`core.explore.compare.compare_engines` run exactly the same calls:

* :func:`fit_colors` — k-means on the distinct colours of an image, weighted by their
  counts (exactly k-means on every pixel), with kseg's engine or scikit-learn's;
* :func:`sklearn_kmeans` — ``sklearn.cluster.KMeans`` on any weighted points;
* :func:`opencv_kmeans` — ``cv2.kmeans`` on every pixel (it takes no weights).

Prior validation assumed: the public functions of :mod:`core` check parameters first.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Final, NamedTuple

import numpy as np

from core.accel import compiled as _accel
from core.engine.kmeans import KMeansResult, kmeans
from core.features.colorspaces import rgb_to_features
from core.features.colortable import ColorTable
from core.validation import ENGINE_VALUES, ColorSpace, Engine, FitParams

__all__ = [
    "ENGINES",
    "ENGINE_TABLE",
    "EngineInfo",
    "fit_colors",
    "fit_image",
    "fit_points",
    "opencv_kmeans",
    "sklearn_kmeans",
]


# Images with more distinct colours than this are seeded on a coarse histogram first.
_COARSE_ABOVE: Final = 4096
_COARSE_BITS: Final = 5


def fit_colors(
    features: np.ndarray,
    table: ColorTable,
    k: int,
    params: FitParams,
    *,
    engine: Engine = "kseg",
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
        The image's distinct colours and their counts.
    k : int
        Number of clusters.
    params : FitParams
        Seed, initialisation, restarts, iteration cap and tolerance.
    engine : {"kseg", "sklearn"}
        kseg's engine (seeded and restarted on a coarse histogram, refined exactly) or
        scikit-learn's KMeans on the same weighted colours.
    init_centers : (k, d) ndarray, optional
        Start from these centres instead of seeding (one run, no coarse stage).
    record_history : bool
        Keep every iteration (kseg's engine only; no coarse stage then).

    Returns
    -------
    KMeansResult
        Labels are one per distinct colour.

    Raises
    ------
    Nothing of its own: prior validation assumed.

    Examples
    --------
    >>> import numpy as np
    >>> table = ColorTable.from_image(np.zeros((2, 2, 3), dtype=np.uint8))
    >>> fit_colors(np.zeros((1, 3)), table, 1, FitParams()).labels.tolist()
    [0]
    """
    weights = table.counts.astype(np.float64)
    m = features.shape[0]
    if k >= m:
        labels = np.arange(m, dtype=np.int32)
        centers = np.vstack([features, np.repeat(features[:1], k - m, axis=0)])
        return KMeansResult(centers=centers, labels=labels, wcss=0.0, n_iter=0, converged=True)
    if engine == "sklearn":
        return sklearn_kmeans(features, k, params, sample_weight=weights)
    if init_centers is not None:
        return fit_points(
            features,
            k,
            params,
            sample_weight=weights,
            init=init_centers,
            n_init=1,
            record_history=record_history,
        )
    start: np.ndarray | str = params.init
    runs = params.n_init
    if m > _COARSE_ABOVE and not record_history:
        # Seed and restart on a coarse histogram (a few thousand weighted cells), then refine
        # the best start exactly on all distinct colours. The refinement is plain Lloyd on
        # the full data, so the result is a true k-means solution of every pixel.
        mass, sums = _coarse_sums(table, weights, features)
        occupied = np.flatnonzero(mass)
        if occupied.shape[0] >= k:
            coarse = sums[occupied] / mass[occupied, None]
            seeded = fit_points(coarse, k, params, sample_weight=mass[occupied])
            start, runs = seeded.centers, 1
    return fit_points(
        features,
        k,
        params,
        sample_weight=weights,
        init=start,
        n_init=runs,
        record_history=record_history,
    )


def _coarse_sums(
    table: ColorTable, weights: np.ndarray, features: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Weight and weighted feature sums of every cell of ``table.coarse(_COARSE_BITS)``, in
    one compiled pass when the kernels are loaded (the same sums, bit for bit)."""
    if (
        # The kinds of arrays the kernel is compiled for at warm-up.
        features.dtype == np.float64
        and features.flags.c_contiguous
        and features.flags.writeable
        and table.ids.flags.writeable
        and weights.flags.writeable
        and _accel.enabled(work=features.shape[0])
    ):
        return _accel.coarse_sums(table.ids, _COARSE_BITS, weights, features)
    cell, n_cells = table.coarse(_COARSE_BITS)
    mass = np.bincount(cell, weights=weights, minlength=n_cells)
    sums = np.column_stack(
        [
            np.bincount(cell, weights=weights * features[:, j], minlength=n_cells)
            for j in range(features.shape[1])
        ]
    )
    return mass, sums


def fit_points(
    points: np.ndarray,
    k: int,
    params: FitParams,
    *,
    sample_weight: np.ndarray | None = None,
    init: np.ndarray | str | None = None,
    n_init: int | None = None,
    record_history: bool = False,
) -> KMeansResult:
    """kseg's engine (:func:`core.engine.kmeans.kmeans`) on any weighted points, with `params`.

    Parameters
    ----------
    points : (n, d) ndarray of float64
        Feature rows: distinct colours, coarse histogram cells, or every pixel.
    k : int
    params : FitParams
    sample_weight : (n,) ndarray of float64, optional
    init : (k, d) ndarray or str, optional
        Overrides ``params.init`` (starting centres, say).
    n_init : int, optional
        Overrides ``params.n_init``.
    record_history : bool
        Keep every iteration of the best run.

    Returns
    -------
    KMeansResult

    Raises
    ------
    Nothing of its own: prior validation assumed (k may exceed the 256 limit here).

    Examples
    --------
    >>> points = np.array([[0.0], [1.0], [10.0]])
    >>> fit_points(points, 2, FitParams()).wcss
    0.5
    """
    return kmeans(
        points,
        k,
        sample_weight=sample_weight,
        init=params.init if init is None else init,
        n_init=params.n_init if n_init is None else n_init,
        max_iter=params.max_iter,
        tol=params.tol,
        seed=params.seed,
        record_history=record_history,
        allow_large_k=True,
    )


def sklearn_kmeans(
    features: np.ndarray,
    k: int,
    params: FitParams,
    *,
    sample_weight: np.ndarray | None = None,
) -> KMeansResult:
    """``sklearn.cluster.KMeans`` (Lloyd) on `features`, with the same settings as kseg.

    Parameters
    ----------
    features : (n, d) ndarray of float64
        One row per point: distinct colours (with `sample_weight`) or every pixel.
    k : int
    params : FitParams
    sample_weight : (n,) ndarray of float64, optional
        Weight per point; default one each.

    Returns
    -------
    KMeansResult
        With scikit-learn's own iteration count and inertia.

    Raises
    ------
    Nothing of its own: prior validation assumed (scikit-learn checks its input too).

    Examples
    --------
    >>> import numpy as np
    >>> points = np.array([[0.0, 0.0], [0.0, 1.0], [10.0, 10.0]])
    >>> sorted(np.bincount(sklearn_kmeans(points, 2, FitParams()).labels).tolist())
    [1, 2]
    """
    from sklearn.cluster import KMeans

    model = KMeans(
        n_clusters=k,
        init=params.init,
        n_init=params.n_init,
        max_iter=params.max_iter,
        tol=params.tol,
        random_state=params.seed,
    )
    with warnings.catch_warnings():
        # "Number of distinct clusters found smaller than n_clusters" is handled by the caller.
        warnings.simplefilter("ignore", category=UserWarning)
        model.fit(features, sample_weight=sample_weight)
    return KMeansResult(
        centers=model.cluster_centers_.astype(np.float64),
        labels=model.labels_.astype(np.int32),
        wcss=float(model.inertia_),
        n_iter=int(model.n_iter_),
        converged=int(model.n_iter_) < params.max_iter,
    )


def opencv_kmeans(features: np.ndarray, k: int, params: FitParams) -> KMeansResult:
    """``cv2.kmeans`` on `features` (float32, no weights), with the same settings as kseg.

    OpenCV stops when no centre moves more than its ``epsilon``; kseg's relative tolerance
    is turned into that bound on the same scale (``sqrt(tol × mean feature variance)``).
    OpenCV does not report its iteration count: the result says ``n_iter = max_iter`` and
    ``converged = False``.

    Parameters
    ----------
    features : (n, d) ndarray of float
        One row per pixel.
    k : int
    params : FitParams
        ``seed`` seeds OpenCV's global generator (``cv2.setRNGSeed``).

    Returns
    -------
    KMeansResult
        Centres in float64; WCSS is OpenCV's compactness (computed in float32).

    Raises
    ------
    Nothing of its own: prior validation assumed (seeds below 2**32 suit OpenCV).

    Examples
    --------
    >>> import numpy as np
    >>> points = np.array([[5.0, 5.0], [5.0, 6.0], [9.0, 9.0]])
    >>> opencv_kmeans(points, 2, FitParams()).labels.tolist().count(0) in (1, 2)
    True
    """
    import cv2  # here, not at the top: ``import core`` stays light

    points = np.ascontiguousarray(features, dtype=np.float32)
    epsilon = math.sqrt(params.tol * float(points.var(axis=0).mean())) if params.tol > 0 else 0.0
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, params.max_iter, epsilon)
    flags = cv2.KMEANS_PP_CENTERS if params.init == "k-means++" else cv2.KMEANS_RANDOM_CENTERS
    cv2.setRNGSeed(params.seed)
    # As (n, 1, d) d-channel points: a single (1, d) row would be read as d points. The
    # labels go into a buffer of ours (read only with KMEANS_USE_INITIAL_LABELS, which is
    # not set): OpenCV's own stubs before 5.1 do not accept None there.
    best_labels = np.empty((points.shape[0], 1), dtype=np.int32)
    compactness, labels, centers = cv2.kmeans(
        points.reshape(-1, 1, points.shape[1]), k, best_labels, criteria, params.n_init, flags
    )
    return KMeansResult(
        centers=centers.astype(np.float64),
        labels=labels.ravel().astype(np.int32),
        wcss=float(compactness),
        n_iter=params.max_iter,
        converged=False,
    )


def _weighted_colors(engine: Engine) -> Callable[..., KMeansResult]:
    """The fit function of an engine that clusters the distinct colours, weighted."""

    def fit(
        image: np.ndarray,
        table: ColorTable,
        k: int,
        space: ColorSpace,
        params: FitParams,
        features: np.ndarray | None = None,
    ) -> KMeansResult:
        if features is None:
            features = rgb_to_features(table.colors, space)
        return fit_colors(features, table, k, params, engine=engine)

    return fit


def _opencv(
    image: np.ndarray,
    table: ColorTable,
    k: int,
    space: ColorSpace,
    params: FitParams,
    features: np.ndarray | None = None,
) -> KMeansResult:
    return opencv_kmeans(rgb_to_features(image.reshape(-1, 3), space), k, params)


class EngineInfo(NamedTuple):
    """One k-means engine: what it does, whether it sees every pixel (else the distinct
    colours, weighted), and its fit function ``fit(image, table, k, color_space, params,
    features)`` -> :class:`KMeansResult` (labels per distinct colour, or per pixel;
    `features`, when not None, are the coordinates of ``table.colors``, already computed)."""

    description: str
    per_pixel: bool
    fit: Callable[
        [np.ndarray, ColorTable, int, ColorSpace, FitParams, np.ndarray | None], KMeansResult
    ]


#: The one table of engines :func:`core.segment` accepts (the :data:`core.validation.Engine`
#: type names the same keys). A new engine: one entry here and its fit function.
ENGINE_TABLE: Final[dict[str, EngineInfo]] = {
    "kseg": EngineInfo(
        "kseg's own exact engine: clusters distinct colours weighted by their counts",
        False,
        _weighted_colors("kseg"),
    ),
    "sklearn": EngineInfo(
        "scikit-learn KMeans (Lloyd) on the distinct colours, weighted",
        False,
        _weighted_colors("sklearn"),
    ),
    "opencv": EngineInfo("OpenCV cv2.kmeans on every pixel (no weights)", True, _opencv),
}
if tuple(ENGINE_TABLE) != ENGINE_VALUES:  # pragma: no cover - a table out of step with the type
    raise ImportError("core.engine.engines.ENGINE_TABLE and core.validation.Engine differ")

#: Engine -> what it does, for UIs and the README (:func:`core.segment`'s `engine`).
ENGINES: Final[dict[str, str]] = {name: info.description for name, info in ENGINE_TABLE.items()}


def fit_image(
    image: np.ndarray,
    table: ColorTable,
    k: int,
    space: ColorSpace,
    params: FitParams,
    engine: Engine = "kseg",
    *,
    features: np.ndarray | None = None,
) -> tuple[KMeansResult, np.ndarray]:
    """Fit `k` centres to `image` (whose colour table is `table`) with `engine`.

    Prior validation assumed.

    Parameters
    ----------
    image : (H, W, 3) ndarray of uint8
    table : ColorTable
        The distinct colours of `image` and their counts.
    k : int
    space : str
        Colour space of the features.
    params : FitParams
    engine : str
        A key of :data:`ENGINE_TABLE`.
    features : (m, 3) ndarray of float64, optional
        The coordinates of ``table.colors`` in `space`, when already computed.

    Returns
    -------
    run : KMeansResult
    labels : ndarray of int
        One per distinct colour of `table`, or (H, W) for an engine that sees every pixel.

    Examples
    --------
    >>> image = np.zeros((2, 4, 3), dtype=np.uint8); image[:, 2:] = 255
    >>> run, labels = fit_image(image, ColorTable.from_image(image), 2, "rgb", FitParams())
    >>> sorted(labels.tolist())
    [0, 1]
    """
    info = ENGINE_TABLE[engine]
    run = info.fit(image, table, k, space, params, features)
    return run, (run.labels.reshape(image.shape[:2]) if info.per_pixel else run.labels)
