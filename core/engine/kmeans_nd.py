"""Exact k-means on every pixel of a multiband raster: N-dimensional float features.

kseg's colour engine (:mod:`core.kmeans` on a colour histogram) is exact and fast because
a photo has few distinct colours. A 4-band 16-bit scene, or bands plus NDVI, has about as
many distinct feature vectors as pixels, so this engine works on the pixels themselves:

1. **Seeded and restarted on a sample.** k-means++ and `n_init` restarts of Lloyd run on a
   seeded random sample of the pixels (cheap, and what decides which basin Lloyd falls into).
2. **Lloyd on every pixel.** From the best sample fit, Lloyd's iterations run on all the
   pixels with Hamerly's bounds in compiled kernels (:mod:`core.accel.compiled_nd`): after the first
   few iterations almost every pixel is skipped, and the labels are those plain Lloyd
   would give. The WCSS is that of the final labels against their means, over every pixel.
3. **Or fit on a sample, label every pixel** (``fit_pixels=N``): Lloyd runs on N pixels and
   every pixel is then labelled exactly with the fitted centres (one pass) — for scenes
   too large to iterate over.

Features are float32 (half the memory of float64; sums and distances are float64). Without
numba (``KSEG_NUMBA=0``) a chunked NumPy path gives the same results, more slowly.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Final

import numpy as np
import numpy.typing as npt
from threadpoolctl import threadpool_limits

from core.accel import compiled as _accel
from core.accel import compiled_nd as _accel_nd
from core.engine.assign import assign
from core.engine.kmeans import KMeansResult, kmeans

__all__ = ["DEFAULT_SAMPLE_SIZE", "kmeans_features", "label_features", "partial_sums"]

#: Pixels the seeding and restarts run on.
DEFAULT_SAMPLE_SIZE: Final = 100_000
# Below this many points a compiled pass takes well under a millisecond, and waking and
# joining worker threads for it costs more (tens of ms on a busy machine): run it on one.
_THREADS_ABOVE: Final = 1 << 20
# Rows per chunk in the NumPy path and in finiteness checks (bounded temporaries).
_CHUNK: Final = 1 << 18


def kmeans_features(
    features: npt.ArrayLike,
    k: int,
    *,
    n_init: int = 10,
    max_iter: int = 300,
    tol: float = 1e-4,
    seed: int | None = 0,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
    fit_pixels: int | None = None,
    init: npt.ArrayLike | None = None,
) -> KMeansResult:
    """Cluster (n, d) float features — every valid pixel of a raster — exactly.

    Parameters
    ----------
    features : (n, d) array_like of float
        One row per pixel (e.g. :func:`core.inputs.raster.raster_features`). float32 and float64
        are used as given (no copy when C-contiguous); other dtypes become float32.
    k : int
        Number of clusters, ``1 <= k <= n``.
    n_init : int
        Restarts (k-means++ then Lloyd) on the sample; the lowest WCSS wins.
    max_iter : int
        Cap on Lloyd iterations, on the sample and on all pixels each.
    tol : float
        Relative tolerance on the centres' squared movement (scikit-learn's convention,
        scaled by the sample's mean feature variance). ``tol=0`` iterates until no label
        changes: a fixed point of Lloyd on every pixel.
    seed : int or None
        Seeds the sample and the restarts; the same seed gives the same result.
    sample_size : int
        Pixels drawn (without replacement) for seeding and restarts.
    fit_pixels : int, optional
        Run Lloyd on this many pixels only (drawn with the same seed), then label every
        pixel with the fitted centres. Default: Lloyd on every pixel.
    init : (k, d) array_like, optional
        Start Lloyd on every pixel from these centres (no sample, no restarts).

    Returns
    -------
    KMeansResult
        ``labels`` (n,) int32 for every pixel; ``centers`` (k, d) float64, the means of the
        final clusters (with `fit_pixels`: the fitted centres); ``inertia`` the WCSS over
        every pixel; ``n_iter`` and ``converged`` of the Lloyd run on all (or fit) pixels.

    Raises
    ------
    ValueError
        If the features are empty, not 2-D or not finite, or an argument is out of range.

    Notes
    -----
    Guarantees (each pinned by a test): labels are in ``[0, k)`` and each is the nearest
    centre; centres are the means of their clusters (unless `fit_pixels`); the result
    depends only on the inputs and `seed`; with the same starting centres, the labels and
    centres are plain Lloyd's.

    Examples
    --------
    >>> x = np.array([[0, 0], [0, 1], [10, 10], [10, 11]], dtype=np.float32)
    >>> result = kmeans_features(x, 2)
    >>> sorted(result.centers.tolist()), result.wcss
    ([[0.0, 0.5], [10.0, 10.5]], 1.0)
    """
    x = _float_features(features)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"features must be a non-empty 2-D array (n, d), got shape {x.shape}.")
    n, d = x.shape
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n:
        raise ValueError(
            f"k must be an integer between 1 and the number of pixels ({n}), got {k!r}."
        )
    for name, value in (("n_init", n_init), ("max_iter", max_iter), ("sample_size", sample_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    if fit_pixels is not None and (
        isinstance(fit_pixels, bool) or not isinstance(fit_pixels, (int, np.integer))
        or fit_pixels < k
    ):  # fmt: skip
        raise ValueError(f"fit_pixels must be an integer of at least k ({k}), got {fit_pixels!r}.")
    if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a non-negative number, got {tol!r}.")
    for start in range(0, n, _CHUNK):
        if not np.isfinite(x[start : start + _CHUNK]).all():
            raise ValueError("features contain NaN or infinity; mask those pixels out first.")

    rng = np.random.default_rng(seed)
    if init is not None:
        centers = np.array(init, dtype=np.float64)
        if centers.shape != (k, d) or not np.isfinite(centers).all():
            raise ValueError(f"init must be a finite ({k}, {d}) array, got shape {centers.shape}.")
        sample = x[rng.choice(n, size=min(n, sample_size), replace=False)]
        fit = x
    else:
        order = None
        fit = x
        if fit_pixels is not None and fit_pixels < n:
            order = np.sort(rng.choice(n, size=fit_pixels, replace=False))
            fit = x[order]
        size = min(fit.shape[0], max(sample_size, k))
        pick = rng.choice(fit.shape[0], size=size, replace=False)
        sample = fit[np.sort(pick)]
        with _threads_for(sample.shape[0]):
            seeded = kmeans(
                sample.astype(np.float64),
                k,
                n_init=n_init,
                max_iter=max_iter,
                tol=tol,
                seed=int(rng.integers(2**31)),
            )
        centers = seeded.centers
    tol_abs = _relative_tolerance(sample, tol)
    with _threads_for(fit.shape[0]):
        labels, centers, sums, counts, squares, n_iter, converged = _lloyd(
            fit, centers, max_iter, tol_abs
        )
        if fit is x:
            # Report the means of the final clusters, and their WCSS without another pass
            # over the distances: Σ_cluster ‖x − μ‖² = Σ ‖x‖² − ‖S‖² / n for sum S, size n.
            filled = counts > 0
            centers[filled] = sums[filled] / counts[filled, None]
            between = float((sums[filled] ** 2).sum(axis=1) @ (1.0 / counts[filled]))
            inertia = max(squares - between, 0.0)
            return KMeansResult(centers, labels, inertia, n_iter, converged)
    labels, inertia = label_features(x, centers)
    return KMeansResult(centers, labels, inertia, n_iter, converged)


def label_features(features: npt.ArrayLike, centers: npt.ArrayLike) -> tuple[np.ndarray, float]:
    """Label every pixel with its nearest centre (exact), e.g. with another scene's fit.

    Parameters
    ----------
    features : (n, d) array_like of float
    centers : (k, d) array_like of float

    Returns
    -------
    labels : (n,) ndarray of int32
    inertia : float
        Sum of squared distances to the nearest centre.

    Raises
    ------
    ValueError
        If the shapes do not match.

    Examples
    --------
    >>> labels, wcss = label_features(np.array([[0.0], [4.0]]), np.array([[1.0], [5.0]]))
    >>> labels.tolist(), wcss
    ([0, 1], 2.0)
    """
    labels, _, _, inertia = _assign_all(features, centers)
    return labels, inertia


def partial_sums(
    features: npt.ArrayLike, centers: npt.ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """One Lloyd assignment of a part of the pixels: labels and what the update step needs.

    The sums and counts of several parts (blocks of a scene) add up to those of the whole,
    so Lloyd's iterations can run exactly over data that never sits in memory at once.

    Parameters
    ----------
    features : (n, d) array_like of float
    centers : (k, d) array_like of float

    Returns
    -------
    labels : (n,) ndarray of int32
        Nearest centre of every row.
    sums : (k, d) ndarray of float64
        Sum of the rows of each cluster.
    counts : (k,) ndarray of int64
        Rows per cluster.
    inertia : float
        Sum of squared distances to the nearest centre.

    Raises
    ------
    ValueError
        If the shapes do not match.

    Examples
    --------
    >>> labels, sums, counts, wcss = partial_sums(np.array([[0.0], [4.0], [6.0]]),
    ...                                           np.array([[1.0], [5.0]]))
    >>> labels.tolist(), sums.ravel().tolist(), counts.tolist(), wcss
    ([0, 1, 1], [0.0, 10.0], [1, 2], 3.0)
    """
    labels, sums, counts, inertia = _assign_all(features, centers)
    return labels, np.asarray(sums, dtype=np.float64), np.rint(counts).astype(np.int64), inertia


def _float_features(features: npt.ArrayLike) -> np.ndarray:
    """C-contiguous float32 or float64 features (any other dtype becomes float32)."""
    x = np.asarray(features)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float32)
    return np.ascontiguousarray(x)


def _writable_centers(centers: npt.ArrayLike) -> np.ndarray:
    """C-contiguous float64 centres, copied if read-only (a saved model's are): numba
    compiles a kernel again for a read-only array, about 10 s, and the copy is k × d numbers."""
    return np.require(centers, np.float64, ["C", "W"])


def _assign_all(
    features: npt.ArrayLike, centers: npt.ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Nearest centre of every row, shapes checked: labels, sums, counts, WCSS."""
    x = _float_features(features)
    c = _writable_centers(centers)
    if x.ndim != 2 or c.ndim != 2 or x.shape[1] != c.shape[1] or c.shape[0] == 0:
        raise ValueError(
            f"features (n, d) and centers (k, d) must agree in d, got {x.shape} and {c.shape}."
        )
    labels = np.full(x.shape[0], -1, dtype=np.int32)
    with _threads_for(x.shape[0]):
        sums, counts, inertia, _ = _assign(x, c, labels)
    return labels, sums, counts, inertia


@contextlib.contextmanager
def _threads_for(n: int) -> Iterator[None]:
    """Run passes over `n` points on one thread when n is small (this thread only).

    Both numba's parallel loops and BLAS (the dot products of k-means++ seeding) wake
    worker threads for every call; on 100,000 points the work takes microseconds and the
    wake-up, on a busy machine, up to tens of milliseconds (measured: a 100,000-element
    ``w @ c`` took 15 ms with OpenBLAS's threads and 0.03 ms on one).
    """
    if n >= _THREADS_ABOVE:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        if not _accel.enabled():
            yield
            return
        import numba

        before = numba.get_num_threads()
        numba.set_num_threads(1)
        try:
            yield
        finally:
            numba.set_num_threads(before)


def _relative_tolerance(sample: np.ndarray, tol: float) -> float:
    if tol == 0:
        return 0.0
    return float(np.mean(sample.astype(np.float64).var(axis=0)) * tol)


def _assign(
    x: np.ndarray, centers: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Nearest centre of every point (labels in place); sums, counts, WCSS, changes."""
    if _accel.enabled():
        sums, counts, inertia, changed = _accel_nd.assign(x, centers, labels)
        return sums, counts, float(inertia), int(changed)
    k, d = centers.shape
    sums, counts = np.zeros((k, d)), np.zeros(k)
    inertia, changed = 0.0, 0
    for start in range(0, x.shape[0], _CHUNK):
        block = x[start : start + _CHUNK].astype(np.float64)
        new, distances = assign(block, np.einsum("ij,ij->i", block, block), centers)
        old = labels[start : start + _CHUNK]
        changed += int(np.count_nonzero(new != old))
        old[:] = new
        inertia += float(distances.sum())
        counts += np.bincount(new, minlength=k)
        for t in range(d):
            sums[:, t] += np.bincount(new, weights=block[:, t], minlength=k)
    return sums, counts, inertia, changed


def _sum_of_squares(x: np.ndarray) -> float:
    total = 0.0
    for start in range(0, x.shape[0], _CHUNK):
        block = x[start : start + _CHUNK].astype(np.float64)
        total += float(np.einsum("ij,ij->", block, block))
    return total


def _lloyd(
    x: np.ndarray, centers: np.ndarray, max_iter: int, tol_abs: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float, int, bool]:
    """Lloyd from `centers` on every row of `x`.

    Returns (labels, centres, sums, counts, Σ‖x‖², n_iter, converged): the centres are
    those the labels were assigned to, the sums and counts those of the labels' clusters
    (the caller takes the means). Empty clusters are re-seeded at the point farthest from
    its centre.
    """
    n = x.shape[0]
    labels = np.full(n, -1, dtype=np.int32)
    centers = centers.copy()
    if not _accel.enabled():
        return _lloyd_numpy(x, centers, labels, max_iter, tol_abs)
    upper = np.empty(n, dtype=np.float32)
    lower = np.empty(n, dtype=np.float32)
    sums, counts, squares = _accel_nd.bounds_init(x, centers, labels, upper, lower)
    for n_iter in range(1, max_iter + 1):
        if not (counts > 0).all():
            if not upper.max() > 0:  # every point sits on its centre: fewer distinct than k
                return labels, centers, sums, counts, squares, n_iter, True
            _reseed_empty(x, centers, counts <= 0, upper)
            sums, counts, squares = _accel_nd.bounds_init(x, centers, labels, upper, lower)
            continue
        new_centers = sums / counts[:, None]
        moved = np.sqrt(((new_centers - centers) ** 2).sum(axis=1))
        centers = new_centers
        if n_iter == max_iter:
            break
        changed = _accel_nd.bounds_step(x, centers, moved, labels, upper, lower, sums, counts)
        if changed == 0 or float((moved**2).sum()) <= tol_abs:
            return labels, centers, sums, counts, squares, n_iter, True
    sums, counts, _, _ = _accel_nd.assign(x, centers, labels)
    return labels, centers, sums, counts, squares, max_iter, False


def _lloyd_numpy(
    x: np.ndarray, centers: np.ndarray, labels: np.ndarray, max_iter: int, tol_abs: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float, int, bool]:
    squares = _sum_of_squares(x)
    sums, counts, _, _ = _assign(x, centers, labels)
    for n_iter in range(1, max_iter + 1):
        if not (counts > 0).all():
            distances = _distances(x, centers, labels)
            if not distances.max() > 0:  # every point sits on its centre: fewer distinct than k
                return labels, centers, sums, counts, squares, n_iter, True
            _reseed_empty(x, centers, counts <= 0, distances)
            sums, counts, _, _ = _assign(x, centers, labels)
            continue
        new_centers = sums / counts[:, None]
        shift = float(((new_centers - centers) ** 2).sum())
        centers = new_centers
        if n_iter == max_iter:
            break
        sums, counts, _, changed = _assign(x, centers, labels)
        if changed == 0 or shift <= tol_abs:
            return labels, centers, sums, counts, squares, n_iter, True
    sums, counts, _, _ = _assign(x, centers, labels)
    return labels, centers, sums, counts, squares, max_iter, False


def _distances(x: np.ndarray, centers: np.ndarray, labels: np.ndarray) -> np.ndarray:
    out = np.empty(x.shape[0])
    for start in range(0, x.shape[0], _CHUNK):
        block = x[start : start + _CHUNK].astype(np.float64)
        out[start : start + _CHUNK] = ((block - centers[labels[start : start + _CHUNK]]) ** 2).sum(
            1
        )
    return out


def _reseed_empty(x: np.ndarray, centers: np.ndarray, empty: np.ndarray, far: np.ndarray) -> None:
    """Move each empty centre onto one of the points farthest from their centres."""
    n_empty = int(empty.sum())
    n_pick = min(n_empty, x.shape[0])
    picks = np.argpartition(-far, n_pick - 1)[:n_pick]
    picks = picks[np.argsort(-far[picks], kind="stable")]
    centers[np.flatnonzero(empty)[:n_pick]] = x[picks]
    far[picks] = 0  # not picked again if this repeats
