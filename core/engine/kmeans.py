"""kseg's own k-means engine: weighted Lloyd with k-means++ seeding, restarts and history.

This is the tutorials' algorithm — pick k centres, assign every point to the nearest, move
every centre to the mean of its points, repeat until nothing moves — written for images:

* **Weighted.** Every point carries a weight (a pixel count), so clustering the distinct
  colours of an image, weighted by how often each occurs, gives exactly the result of
  clustering every pixel: identical pixels always fall in the same cluster.
* **Vectorised.** Distances come from BLAS as ``‖x‖² − 2 x·c + ‖c‖²`` in bounded chunks,
  so memory stays flat however many points there are, laid out centre by centre so that
  the nearest centre is found in k passes over long rows; centre updates are weighted
  ``bincount`` sums. On large inputs Hamerly's bounds skip the points that cannot change
  cluster, compiled or in NumPy.
* **Robust.** k-means++ seeding (greedy, as in scikit-learn), several restarts keeping the
  lowest WCSS, a relative tolerance and an iteration cap, empty clusters re-seeded at the
  worst-served point, and the same result for the same seed.
* **Observable.** ``record_history=True`` keeps the centres and WCSS of every iteration,
  for the step-through view.

The public function validates its input; the private helpers assume prior validation.
"""

from __future__ import annotations

import math
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Final

import numpy as np
import numpy.typing as npt

from core.accel import compiled as _accel
from core.deprecation import DeprecatedAlias
from core.engine.assign import State, means, nearest, nearest_centers
from core.validation import (  # INITS: the methods accepted (an explicit array also works)
    INITS,
    Init,
    check_init,
    check_k,
    check_max_iter,
    check_n_init,
    check_seed,
    check_tol,
)

__all__ = [
    "INITS",
    "IterationRecord",
    "KMeansResult",
    "kmeans",
    "relative_tolerance",
    "warm_up",
]


# Lloyd with Hamerly's bounds pays off from about this many points (compiled, or NumPy).
_BOUNDS_ABOVE: Final = 50_000
# Restarts run in threads from this n * k on (below, a pass is too short to be worth a
# thread) and below _BOUNDS_ABOVE points (above, Lloyd calls the parallel bounded kernels,
# which some numba threading layers, e.g. workqueue, cannot run from two threads at once).
_THREADS_FROM: Final = 20_000
# Plain passes before the bounds take over: setting the bounds up costs about five plain
# passes (measured: 28 vs 5.5 ms on 394k colours), and a run seeded on the coarse histogram
# often converges within a few iterations, where the bounds would never pay that back.
_PLAIN_PASSES: Final = 4


@dataclass(frozen=True)
class IterationRecord:
    """The state of one Lloyd iteration, before its centres move.

    Attributes
    ----------
    centers : (k, d) ndarray of float64
        Centres used for this iteration's assignment step.
    wcss : float
        WCSS of the assignment to `centers`.
    n_changed : int
        Number of points whose label changed in this assignment (all of them on the first).
    """

    centers: np.ndarray
    wcss: float
    n_changed: int

    inertia = DeprecatedAlias("wcss")  # scikit-learn's word


@dataclass(frozen=True)
class KMeansResult:
    """Outcome of :func:`kmeans`.

    Attributes
    ----------
    centers : (k, d) ndarray of float64
        Final centres: the weighted mean of each cluster's points in Lloyd's last
        assignment (after :func:`kmeans`'s last assignment a few boundary points may
        have moved to a nearer centre; at ``tol=0`` none do).
    labels : (n,) ndarray of int32
        Index of the nearest centre for every point (:func:`nearest_centers`).
    wcss : float
        Weighted within-cluster sum of squares (WCSS) of `labels` against `centers`.
    n_iter : int
        Lloyd iterations run by the best restart.
    converged : bool
        Whether the best restart stopped because it converged (not because of `max_iter`).
    history : tuple of IterationRecord, or None
        Every iteration of the best restart when ``record_history=True``.
    """

    centers: np.ndarray
    labels: np.ndarray
    wcss: float
    n_iter: int
    converged: bool
    history: tuple[IterationRecord, ...] | None = None

    inertia = DeprecatedAlias("wcss")  # scikit-learn's word


def warm_up(*, background: bool = True) -> threading.Thread | None:
    """Compile kseg's numba kernels (or load them from numba's disk cache).

    The first call of a fresh install would otherwise wait for the compiler (~15 s).
    In the background, kseg answers with its NumPy path until the kernels are ready, then
    takes the compiled path: right for long-running servers such as the dashboard.

    Parameters
    ----------
    background : bool
        Compile in a daemon thread and return at once (default), or compile now.

    Returns
    -------
    threading.Thread or None
        The compiling thread; None when compiling now, or when numba is unavailable
        (``KSEG_NUMBA=0`` or not installed), in which case nothing happens.

    Raises
    ------
    Nothing: a failure to compile leaves kseg on its NumPy path.

    Examples
    --------
    >>> warm_up(background=False)
    """
    if background:
        return _accel.warm_up_in_background()
    _accel.compile_kernels()
    return None


def relative_tolerance(points: np.ndarray, weights: np.ndarray | None, tol: float) -> float:
    """Turn a relative tolerance into an absolute one: `tol` × mean per-feature variance.

    The same convention as scikit-learn, so ``tol=1e-4`` means the same thing in both.

    Parameters
    ----------
    points : (n, d) ndarray of float64
    weights : (n,) ndarray of float64, or None
        None: every point weighs 1.
    tol : float
        Relative tolerance, ``>= 0``.

    Returns
    -------
    float
        The absolute tolerance on the summed squared centre movement.

    Raises
    ------
    Nothing of its own: prior validation assumed.

    Examples
    --------
    >>> relative_tolerance(np.array([[0.0], [2.0]]), None, 0.5)
    0.5
    """
    if tol == 0:
        return 0.0
    w = np.ones(points.shape[0]) if weights is None else weights
    total = float(w.sum())
    mean = (w @ points) / total
    variance = np.einsum("i,ij,ij->j", w, points, points) / total - mean * mean
    return float(np.mean(np.maximum(variance, 0.0)) * tol)


def kmeans(
    points: npt.ArrayLike,
    k: int,
    *,
    sample_weight: npt.ArrayLike | None = None,
    init: Init | npt.ArrayLike = "k-means++",
    n_init: int = 1,
    max_iter: int = 300,
    tol: float = 1e-4,
    seed: int | None = 0,
    record_history: bool = False,
    allow_large_k: bool = False,
) -> KMeansResult:
    """Cluster weighted points with Lloyd's algorithm.

    Parameters
    ----------
    points : (n, d) array_like of float
        The points; converted once to float64.
    k : int
        Number of clusters, ``1 <= k <= n``.
    sample_weight : (n,) array_like of float, optional
        Non-negative weight per point (for images: the pixel count of each distinct colour).
        Default: all ones.
    init : {"k-means++", "random"} or (k, d) array_like
        ``"k-means++"`` spreads the first centres out (Arthur & Vassilvitskii 2007, greedy
        variant); ``"random"`` picks k distinct points at random in proportion to their
        weight (the tutorials' step 1); an array gives the starting centres.
    n_init : int
        Restarts from different seeds; the run with the lowest WCSS wins. Must be 1 when
        `init` is an array.
    max_iter : int
        Cap on Lloyd iterations per restart.
    tol : float
        Stop when the squared movement of all centres, summed, is at most `tol` times the
        mean per-feature variance of the data (scikit-learn's convention). ``tol=0`` runs
        until no label changes: a true fixed point of Lloyd's algorithm.
    seed : int or None
        Seed for initialisation; the same seed gives the same result.
    record_history : bool
        Keep the centres and WCSS of every iteration of the winning restart.
    allow_large_k : bool
        Lift the limit of 256 clusters (:data:`core.validation.LIMITS`).

    Returns
    -------
    KMeansResult

    Raises
    ------
    ValueError
        If the points are empty, not 2-D or not finite, a weight is negative, `k` is not
        in ``[1, n]``, or an argument is out of range.

    Notes
    -----
    Guarantees (each pinned by a test): labels are in ``[0, k)``; every centre of a
    non-empty cluster is the weighted mean of its points after the final update; WCSS never
    rises from one iteration to the next; the result depends only on the inputs and `seed`.
    Clusters can end up empty only when there are fewer distinct points than `k`.

    Examples
    --------
    >>> points = np.array([[0.0], [0.2], [10.0], [10.4]])
    >>> result = kmeans(points, 2, sample_weight=[1, 1, 1, 3])
    >>> sorted(result.centers.ravel().round(2).tolist()), round(result.wcss, 4)
    ([0.1, 10.3], 0.14)
    """
    x = np.ascontiguousarray(points, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"points must be a non-empty 2-D array (n, d), got shape {x.shape}.")
    if not np.isfinite(x).all():
        raise ValueError("points contain NaN or infinity; remove or fill them first.")
    n = x.shape[0]
    k = check_k(k, allow_large_k=allow_large_k)
    if k > n:
        raise ValueError(f"k={k} is more than the number of points ({n}); lower k.")
    if sample_weight is None:
        w = np.ones(n)
    else:
        w = np.ascontiguousarray(sample_weight, dtype=np.float64)
        if w.shape != (n,):
            raise ValueError(f"sample_weight must have shape ({n},), got {w.shape}.")
        if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
            raise ValueError("sample_weight must be finite, non-negative and not all zero.")
    n_init = check_n_init(n_init)
    max_iter = check_max_iter(max_iter)
    tol = check_tol(tol)
    seed = check_seed(seed)
    if isinstance(init, str):
        check_init(init)
        explicit = None
    else:
        explicit = np.asarray(init, dtype=np.float64)
        if explicit.shape != (k, x.shape[1]) or not np.isfinite(explicit).all():
            raise ValueError(
                f"init centres must be a finite array of shape ({k}, {x.shape[1]}), "
                f"got {explicit.shape}."
            )
        if n_init != 1:
            raise ValueError("n_init must be 1 when init is an array of centres.")

    tol_abs = relative_tolerance(x, w, tol)
    # Squared norms for k-means++ seeding only (explicit starts skip the pass).
    x_sq = np.einsum("ij,ij->i", x, x) if explicit is None and init != "random" else x
    rng = np.random.default_rng(seed)
    # Decided once for every restart, so restarts never mix paths; see _accel.enabled.
    compiled = _accel.enabled(work=n * k)
    started = time.perf_counter()
    # Every start is drawn first, in order (Lloyd itself draws nothing), so running the
    # restarts side by side gives exactly the sequential result.
    starts = []
    for _ in range(n_init):
        if explicit is not None:
            starts.append(explicit.copy())
        elif init == "random":
            starts.append(_random_init(x, w, k, rng))
        else:
            starts.append(_kmeans_plusplus(x, x_sq, w, k, rng, compiled=compiled))

    def run(centers: np.ndarray) -> KMeansResult:
        return _lloyd(x, w, centers, max_iter, tol_abs, record_history, compiled)

    workers = min(n_init, os.cpu_count() or 1)
    if compiled and workers > 1 and n * k >= _THREADS_FROM and n < _BOUNDS_ABOVE:
        # The compiled Lloyd pass releases the GIL: restarts overlap. (The NumPy path's
        # passes are many short calls that hold it: threads only add hand-offs there.)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kseg") as pool:
            results = list(pool.map(run, starts))
    else:
        results = [run(centers) for centers in starts]
    if not compiled:
        _accel.charge(time.perf_counter() - started)
    best = results[0]
    for result in results[1:]:
        if result.wcss < best.wcss:  # the first of equal WCSS, as when run in turn
            best = result
    # The last assignment, as scikit-learn makes: every point to its nearest final centre
    # (Lloyd's labels are those of the centres before their last move), by the rule
    # core.apply uses; the WCSS is that of these labels against these centres.
    labels, distances = nearest_centers(x, best.centers)
    return replace(best, labels=labels, wcss=float(w @ distances))


class _NumPyBounds:
    """Hamerly's bounds in NumPy: the steps of :func:`core.accel.kernels.bounds_init` and
    :func:`core.accel.kernels.bounds_step`, vectorised, for when the kernels are not loaded.

    Distances come from :func:`assign`'s BLAS formula, so a point that is reassigned gets
    the label plain Lloyd gives it; the bounds only decide which points cannot change. A
    plain NumPy pass over a 1 MP photo's 394k colours costs about 24 ms plus 10 ms of
    sums; a bounded step, which re-examines the few points near a boundary, about 8 ms.
    """

    def __init__(self, x_sq: np.ndarray, wx: np.ndarray) -> None:
        self.x_sq, self.wx = x_sq, wx  # the NumPy Lloyd state's, shared

    def _nearest_two(
        self, x: np.ndarray, x_sq: np.ndarray, centers: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Label, distance to the nearest centre and to the second nearest, per point."""
        labels, best, second = nearest(x, x_sq, centers, second=True)
        assert second is not None
        return labels, np.sqrt(best), np.sqrt(second)

    def init(
        self,
        x: np.ndarray,
        w: np.ndarray,
        centers: np.ndarray,
        labels: np.ndarray,
        upper: np.ndarray,
        lower: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Full assignment that also records the bounds; returns (sums, mass)."""
        labels[:], upper[:], lower[:] = self._nearest_two(x, self.x_sq, centers)
        k, d = centers.shape
        groups = labels.astype(np.intp)
        mass = np.bincount(groups, weights=w, minlength=k)
        sums = np.column_stack(
            [np.bincount(groups, weights=self.wx[j], minlength=k) for j in range(d)]
        )
        return sums, mass

    def step(
        self,
        x: np.ndarray,
        w: np.ndarray,
        centers: np.ndarray,
        moved: np.ndarray,
        labels: np.ndarray,
        upper: np.ndarray,
        lower: np.ndarray,
        sums: np.ndarray,
        mass: np.ndarray,
    ) -> int:
        """One Hamerly iteration in place; returns the number of changed labels."""
        k = centers.shape[0]
        half_gap = _half_gaps(centers)
        far = int(np.argmax(moved))
        second_move = float(np.delete(moved, far).max(initial=0.0))
        upper += moved[labels]
        lower -= np.where(labels == far, second_move, moved[far])
        bound = np.maximum(half_gap[labels], lower)
        open_points = np.flatnonzero(upper > bound)
        if open_points.shape[0]:
            own = _sq_distances_to_own(x[open_points], centers, labels[open_points])
            upper[open_points] = np.sqrt(own)
            open_points = open_points[upper[open_points] > bound[open_points]]
        if not open_points.shape[0]:
            return 0
        new, upper[open_points], lower[open_points] = self._nearest_two(
            x[open_points], self.x_sq[open_points], centers
        )
        old = labels[open_points]
        changed = new != old
        points = open_points[changed]
        labels[open_points] = new
        if points.shape[0]:
            before, after = old[changed], new[changed]
            weights, weighted = w[points], self.wx[:, points]
            mass += np.bincount(after, weights=weights, minlength=k)
            mass -= np.bincount(before, weights=weights, minlength=k)
            for j in range(centers.shape[1]):
                sums[:, j] += np.bincount(after, weights=weighted[j], minlength=k)
                sums[:, j] -= np.bincount(before, weights=weighted[j], minlength=k)
        return int(points.shape[0])


def _half_gaps(centers: np.ndarray) -> np.ndarray:
    """Half the distance from each centre to the nearest other one (inf for k = 1)."""
    k = centers.shape[0]
    if k == 1:
        return np.full(1, np.inf)
    gaps = centers[:, None, :] - centers[None, :, :]
    between = np.sqrt(np.einsum("ijd,ijd->ij", gaps, gaps))
    np.fill_diagonal(between, np.inf)
    return 0.5 * between.min(axis=1)


class _CompiledBounds:
    """The compiled kernels behind the same interface as :class:`_NumPyBounds`."""

    init = staticmethod(_accel.bounds_init)
    step = staticmethod(_accel.bounds_step)


def _lloyd_with_bounds(
    x: np.ndarray,
    w: np.ndarray,
    centers: np.ndarray,
    max_iter: int,
    tol_abs: float,
    bounds: _NumPyBounds | type[_CompiledBounds] = _CompiledBounds,
) -> tuple[np.ndarray, int, bool, _Bounded | None]:
    """Lloyd's iterations with Hamerly's bounds; the same steps as :func:`_lloyd`.

    Returns the centres to report, the iterations run, whether they converged, and where
    the run stopped. If a cluster empties, returns the iteration whose assignment emptied
    it, the centres of that assignment and no stop, for plain Lloyd to redo that iteration,
    re-seed the cluster and carry on.
    """
    n = x.shape[0]
    labels = np.empty(n, dtype=np.int32)
    upper, lower = np.empty(n), np.empty(n)
    sums, mass = bounds.init(x, w, centers, labels, upper, lower)
    for n_iter in range(1, max_iter + 1):
        if not (mass > 0).all():
            return centers, n_iter, False, None
        new_centers = sums / mass[:, None]
        moved = np.sqrt(((new_centers - centers) ** 2).sum(axis=1))
        centers = new_centers
        if float((moved**2).sum()) <= tol_abs:
            return centers, n_iter, True, _Bounded(labels, upper, lower, sums, mass, moved)
        if n_iter == max_iter:
            break
        if bounds.step(x, w, centers, moved, labels, upper, lower, sums, mass) == 0:
            return centers, n_iter + 1, True, _Bounded(labels, upper, lower, sums, mass, None)
    return centers, max_iter, False, _Bounded(labels, upper, lower, sums, mass, moved)


@dataclass(frozen=True)
class _Bounded:
    """Where a bounded run stopped: labels, bounds and cluster sums, and the last move of
    the centres if the labels have not followed it yet."""

    labels: np.ndarray
    upper: np.ndarray
    lower: np.ndarray
    sums: np.ndarray
    mass: np.ndarray
    pending: np.ndarray | None

    def finish(
        self, x: np.ndarray, w: np.ndarray, centers: np.ndarray, bounds: _NumPyBounds
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Labels for `centers` (one bounded step), their exact squared distances, and the
        sums and masses: what a plain sweep would give, at the cost of a bounded step."""
        labels, sums, mass = self.labels, self.sums, self.mass
        if self.pending is not None:
            bounds.step(x, w, centers, self.pending, labels, self.upper, self.lower, sums, mass)
        return labels, _sq_distances_to_own(x, centers, labels), sums, mass


def _sq_distances_to_own(x: np.ndarray, centers: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Squared distance of every point to its own centre, feature by feature: no (n, d)
    temporaries (394k colours: ~5 ms, against ~10 for ``x - centers[labels]``)."""
    total, term = np.empty(x.shape[0]), np.empty(x.shape[0])
    for j in range(x.shape[1]):
        out = total if j == 0 else term
        np.subtract(x[:, j], centers[:, j].take(labels), out=out)
        np.multiply(out, out, out=out)
        if j:
            total += term
    return total


def _lloyd(
    x: np.ndarray,
    w: np.ndarray,
    centers: np.ndarray,
    max_iter: int,
    tol_abs: float,
    record_history: bool,
    compiled: bool,
) -> KMeansResult:
    history: list[IterationRecord] | None = [] if record_history else None
    state = State(x, w, compiled)
    converged = False
    n_iter = 0
    bounded = history is None and x.shape[0] >= _BOUNDS_ABOVE
    # Setting the bounds up costs the compiled path about five plain passes, the NumPy
    # path about one (its plain pass is slow): it uses them from the first pass.
    plain_passes = _PLAIN_PASSES if state.compiled else 0
    if state.compiled and history is None and not bounded:
        return _compiled_lloyd(state, centers, max_iter, tol_abs)
    while n_iter < max_iter:
        n_iter += 1
        if bounded and n_iter > plain_passes:
            # The same iterations from here on, with Hamerly's bounds.
            left = max_iter - n_iter + 1
            bounds = _CompiledBounds if state.compiled else _NumPyBounds(state.x_sq, state.wx)
            centers, bounded_iter, converged, stop = _lloyd_with_bounds(
                x, w, centers, left, tol_abs, bounds
            )
            n_iter += bounded_iter - 1
            if stop is not None:
                if isinstance(bounds, _NumPyBounds):
                    # A plain NumPy sweep costs 3x a bounded step: finish with a step.
                    state.labels, state.distances, sums, mass = stop.finish(x, w, centers, bounds)
                    inertia = float(w @ state.distances)
                else:
                    sums, mass, _, inertia = state.sweep(centers)
                centers, inertia = means(centers, sums, mass, inertia)
                return KMeansResult(centers, state.labels, inertia, n_iter, converged)
            # A cluster emptied in iteration n_iter: plain Lloyd redoes it and re-seeds it.
            bounded = False
        sums, mass, n_changed, inertia = state.sweep(centers)
        if history is not None:
            history.append(IterationRecord(centers.copy(), inertia, n_changed))
        if n_changed == 0:
            converged = True
            break
        new_centers, _ = means(centers, sums, mass, inertia)
        if not (mass > 0).all():
            _reseed_empty(new_centers, mass <= 0, x, w, state.distances)
        shift = float(((new_centers - centers) ** 2).sum())
        centers = new_centers
        if shift <= tol_abs:
            converged = True
            # One more assignment so labels agree with the centres they are reported with.
            sums, mass, _, inertia = state.sweep(centers)
            break
    else:
        sums, mass, _, inertia = state.sweep(centers)
    # Report the centres as the means of the final labels, as Lloyd's update step defines.
    centers, inertia = means(centers, sums, mass, inertia)
    return KMeansResult(
        centers=centers,
        labels=state.labels,
        wcss=inertia,
        n_iter=n_iter,
        converged=converged,
        history=tuple(history) if history is not None else None,
    )


def _compiled_lloyd(
    state: State, centers: np.ndarray, max_iter: int, tol_abs: float
) -> KMeansResult:
    """The plain loop of :func:`_lloyd` in compiled calls: one for the whole run, plus one
    more after each re-seeding of an empty cluster (done here, as in the loop). A Lloyd
    pass over a few thousand points takes tens of microseconds, and the loop's Python
    around each one about 25 more (measured: 10 restarts on a 1 MP photo's 6,630 coarse
    cells, ~22 ms in the loop, ~16 ms in one call each)."""
    x, w = state.x, state.w
    first = 1
    while True:
        status, n_iter, centers, moved, sums, mass, inertia = _accel.lloyd_run(
            x,
            w,
            np.ascontiguousarray(centers),
            state.labels,
            state.distances,
            first,
            max_iter,
            tol_abs,
        )
        if status != 2:
            converged = status == 0
            break
        _reseed_empty(moved, mass <= 0, x, w, state.distances)
        shift = float(((moved - centers) ** 2).sum())
        centers = moved
        if shift <= tol_abs or n_iter == max_iter:
            converged = shift <= tol_abs
            # One more assignment so labels agree with the centres they are reported with.
            sums, mass, _, inertia = state.sweep(centers)
            break
        first = n_iter + 1
    centers, inertia = means(centers, sums, mass, inertia)
    return KMeansResult(centers, state.labels, inertia, n_iter, converged)


def _reseed_empty(
    centers: np.ndarray, empty: np.ndarray, x: np.ndarray, w: np.ndarray, distances: np.ndarray
) -> None:
    """Move each empty centre onto a point that is far from its centre (in place).

    Picks the points with the largest weighted squared distance, one per empty cluster;
    this never raises the WCSS, since an empty centre serves no point.
    """
    n_empty = int(empty.sum())
    candidates = np.where(w > 0, w * distances, -1.0)
    n_pick = min(n_empty, candidates.shape[0])
    far = np.argpartition(-candidates, n_pick - 1)[:n_pick]
    far = far[np.argsort(-candidates[far], kind="stable")]
    centers[np.flatnonzero(empty)[:n_pick]] = x[far]


def _random_init(x: np.ndarray, w: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    positive = np.flatnonzero(w > 0)
    size = min(k, positive.shape[0])
    chosen = rng.choice(positive, size=size, replace=False, p=w[positive] / w[positive].sum())
    centers = x[chosen]
    if size < k:  # fewer weighted points than clusters: duplicates become empty clusters
        centers = np.vstack([centers, x[rng.choice(positive, size=k - size)]])
    return centers.copy()


def _kmeans_plusplus(
    x: np.ndarray,
    x_sq: np.ndarray,
    w: np.ndarray,
    k: int,
    rng: np.random.Generator,
    *,
    compiled: bool = False,
) -> np.ndarray:
    """Greedy weighted k-means++: each new centre is the best of a few D²-sampled trials.

    With `compiled`, the kernel does the same from the same random numbers (equal to
    rounding: its distances are not summed by BLAS); ~1.8 ms a run on a 1 MP photo's coarse
    cells in NumPy, ~0.4 ms compiled.
    """
    n_trials = 2 + int(math.log(k))
    p = w / w.sum()
    if compiled:
        before = rng.bit_generator.state
        cdf = p.cumsum()
        cdf /= cdf[-1]
        # What rng.choice(n, p=p) draws and picks, then the trials' draws, in order.
        first = int(cdf.searchsorted(rng.random(), side="right"))
        uniforms = rng.random((k - 1) * n_trials)
        centers = np.empty((k, x.shape[1]))
        if _accel.kmeans_plusplus(x, x_sq, w, first, uniforms, n_trials, centers) == k:
            return centers
        # Every point sits on a centre before k are placed: NumPy draws fewer numbers then.
        rng.bit_generator.state = before
    centers = np.empty((k, x.shape[1]))
    centers[0] = x[rng.choice(x.shape[0], p=p)]
    closest = _sq_dist_to(x, x_sq, centers[0])
    for c in range(1, k):
        cumulative = np.cumsum(w * closest)
        potential = cumulative[-1]  # a sum of terms >= 0: zero exactly when every term is
        if potential <= 0:  # every point already sits on a centre
            centers[c:] = x[rng.choice(x.shape[0], size=k - c, p=p)]
            break
        draws = rng.random(n_trials) * potential
        trials = np.minimum(np.searchsorted(cumulative, draws), x.shape[0] - 1)
        # All trials at once, trial by trial in rows (n_trials, n): one BLAS call, then
        # every step in place on long rows (the same operations in the same order as
        # ``x_sq - 2 x·c + ‖c‖²`` point by point; 2.5 -> 1.8 ms a seeding on 6,630 points).
        candidates = x[trials]
        distances = candidates @ x.T
        distances *= 2.0
        np.subtract(x_sq, distances, out=distances)
        distances += (candidates**2).sum(axis=1)[:, None]
        np.clip(distances, 0.0, closest, out=distances)
        # The costs from points in rows, as BLAS summed them before (its sums depend on
        # the layout); the first of equal costs wins.
        best = int(np.argmin(w @ np.ascontiguousarray(distances.T)))
        centers[c] = candidates[best]
        closest = distances[best]
    return centers


def _sq_dist_to(x: np.ndarray, x_sq: np.ndarray, center: np.ndarray) -> np.ndarray:
    d = x_sq - 2.0 * (x @ center) + center @ center
    return np.maximum(d, 0.0)
