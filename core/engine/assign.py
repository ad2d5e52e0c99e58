"""The assignment step: each point's nearest centre, exactly (ties to the lowest index), in
chunks; a Lloyd run's labels and distances (:class:`State`) and the update to cluster means."""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from core.accel import compiled as _accel

__all__ = ["State", "assign", "assign_and_update", "means", "nearest", "nearest_centers"]

# Rows per distance chunk: keeps the (rows, k) float64 block near 8 MiB for any k.
_CHUNK_BYTES: Final = 8 * 2**20


def nearest_centers(points: npt.ArrayLike, centers: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centre of every point, and its squared distance: the one rule by which both
    :func:`kmeans`'s last assignment (so :func:`core.segment`'s) and :func:`core.apply`
    label points.

    Distances are plain sums of squared differences, feature by feature in order (no
    ``‖x‖² − 2x·c + ‖c‖²`` cancellation, no BLAS), so a point's label depends on that
    point and the centres alone, never on the other points; ties go to the lower centre.
    The compiled kernel and the NumPy path give the same bits.

    Parameters
    ----------
    points : (n, d) array_like of float
    centers : (k, d) array_like of float

    Returns
    -------
    labels : (n,) ndarray of int32
    distances : (n,) ndarray of float64
        Squared distance to that centre.

    Raises
    ------
    ValueError
        If the shapes disagree.

    Examples
    --------
    >>> labels, distances = nearest_centers([[0.0], [4.0], [2.5]], [[1.0], [5.0]])
    >>> labels.tolist(), distances.tolist()
    ([0, 1, 0], [1.0, 1.0, 2.25])
    """
    x = np.ascontiguousarray(points, dtype=np.float64)
    c = np.ascontiguousarray(centers, dtype=np.float64)
    if x.ndim != 2 or c.ndim != 2 or x.shape[1] != c.shape[1] or c.shape[0] == 0:
        raise ValueError(
            f"points (n, d) and centers (k, d) must agree in d, got {x.shape} and {c.shape}."
        )
    n, k = x.shape[0], c.shape[0]
    labels = np.full(n, -1, dtype=np.int32)
    distances = np.empty(n)
    if n == 0:
        return labels, distances
    if _accel.enabled(work=n * k):
        _accel.lloyd_pass(x, np.ones(n), c, labels, distances)
        return labels, distances
    for start in range(0, n, _NEAREST_ROWS):
        stop = min(start + _NEAREST_ROWS, n)
        columns = [np.ascontiguousarray(x[start:stop, t]) for t in range(x.shape[1])]
        best, nearest = distances[start:stop], labels[start:stop]
        diff = np.empty(stop - start)
        dist = np.empty(stop - start)
        for j in range(k):
            target = best if j == 0 else dist
            for t, column in enumerate(columns):
                np.subtract(column, c[j, t], out=diff)
                np.multiply(diff, diff, out=diff)
                if t == 0:
                    target[:] = diff
                else:
                    target += diff
            if j == 0:
                nearest[:] = 0
            else:
                closer = dist < best
                best[closer] = dist[closer]
                nearest[closer] = j
    return labels, distances


# Rows per block of the NumPy path of nearest_centers (bounded temporaries).
_NEAREST_ROWS: Final = 1 << 16


def _chunk_rows(k: int) -> int:
    return max(1024, _CHUNK_BYTES // (8 * max(k, 1)))


def assign(x: np.ndarray, x_sq: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centre and squared distance to it for every point (prior validation assumed).

    Parameters
    ----------
    x : (n, d) ndarray of float64
    x_sq : (n,) ndarray of float64
        Squared norms of the rows of `x`.
    centers : (k, d) ndarray of float64

    Returns
    -------
    labels : (n,) ndarray of int32
    distances : (n,) ndarray of float64
        Squared Euclidean distance to the nearest centre (clipped at 0 against rounding).

    Raises
    ------
    Nothing of its own: prior validation assumed.

    Examples
    --------
    >>> x = np.array([[0.0], [1.0], [9.0]])
    >>> labels, distances = assign(x, (x * x).ravel(), np.array([[0.0], [10.0]]))
    >>> labels.tolist(), distances.tolist()
    ([0, 0, 1], [0.0, 1.0, 1.0])
    """
    labels, distances, _ = nearest(x, x_sq, centers)
    return labels, distances


def nearest(
    x: np.ndarray,
    x_sq: np.ndarray,
    centers: np.ndarray,
    *,
    second: bool = False,
    previous: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Nearest centre, squared distance to it and, with `second`, to the second nearest
    (clipped at 0 against rounding); the one distance computation of the NumPy path.

    `previous` (labels in ``[0, k)`` from the last pass) only saves work: the labels are
    the same with or without it.
    """
    n, k = x.shape[0], centers.shape[0]
    labels = np.empty(n, dtype=np.int32)
    best = np.empty(n, dtype=np.float64)
    runner_up = np.empty(n) if second else None
    c_sq = np.einsum("ij,ij->i", centers, centers)
    twice = -2.0 * centers
    step = _chunk_rows(k)
    block = np.empty((k, min(step, n)))
    hit = np.empty(min(step, n), dtype=bool)
    for start in range(0, n, step):
        stop = min(start + step, n)
        # Centre by centre, (k, rows): the minimum is one reduction over k long rows, and
        # the label the first centre that reaches it (ties go to the lower centre). NumPy's
        # ``argmin`` over n rows of k would cost a call per row (2x slower at k = 8).
        out = block[:, : stop - start]
        np.matmul(twice, x[start:stop].T, out=out)  # -2 c·x: scaling by 2 is exact
        out += c_sq[:, None]
        low, lab, equal = best[start:stop], labels[start:stop], hit[: stop - start]
        np.min(out, axis=0, out=low)
        if previous is None or not _keep_labels(block, out, low, previous[start:stop], lab):
            lab.fill(k - 1)
            for j in range(k - 2, -1, -1):
                np.equal(out[j], low, out=equal)
                np.putmask(lab, equal, j)
        if runner_up is not None:
            # The second nearest: the minimum once the nearest centre's entry is masked (a
            # tie for the nearest leaves the other one, at the same distance).
            block.reshape(-1)[_entries(block, lab)] = np.inf
            np.min(out, axis=0, out=runner_up[start:stop])
    best += x_sq
    np.maximum(best, 0.0, out=best)
    if runner_up is not None:
        runner_up += x_sq
        np.maximum(runner_up, 0.0, out=runner_up)
    return labels, best, runner_up


def _keep_labels(
    block: np.ndarray, out: np.ndarray, low: np.ndarray, previous: np.ndarray, labels: np.ndarray
) -> bool:
    """Labels into `labels` from the last pass's, where no distance ties: False (nothing
    written) if one does.

    Late in a Lloyd run few points change centre. Where no point is equally near two
    centres, a point whose previous centre still reaches the minimum keeps it (it is the
    only one that does), and only the others are searched: about half the work of the
    centre-by-centre search (6,630 points, k = 8). `out` is the (k, m) distance block, a
    view of the front of `block`'s rows.
    """
    m = low.shape[0]
    if np.count_nonzero(out == low) != m:  # a tie: the rule "lower centre first" decides
        return False
    moved = np.flatnonzero(block.reshape(-1).take(_entries(block, previous)) != low)
    labels[:] = previous
    if moved.shape[0]:
        labels[moved] = out[:, moved].argmin(axis=0)
    return True


def _entries(block: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Flat indices into `block` (k, width) of each point's entry in row ``labels[i]``,
    column i (the first ``len(labels)`` columns)."""
    flat = labels.astype(np.intp)
    flat *= block.shape[1]
    flat += np.arange(labels.shape[0])
    return flat


def assign_and_update(
    points: np.ndarray, weights: np.ndarray, centers: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float]:
    """One Lloyd step from given centres: label every point, move centres to the means.

    Prior validation assumed. Centres of clusters that receive no point stay where they are.

    Parameters
    ----------
    points : (n, d) ndarray of float64
    weights : (n,) ndarray of float64
    centers : (k, d) ndarray of float64
        The centres to label with.

    Returns
    -------
    labels : (n,) ndarray of int32
    centers : (k, d) ndarray of float64
        Weighted mean of each cluster's points.
    inertia : float
        WCSS of `labels` against the returned centres.

    Raises
    ------
    Nothing of its own: prior validation assumed.

    Examples
    --------
    >>> points = np.array([[0.0], [2.0], [9.0], [11.0]])
    >>> labels, centers, wcss = assign_and_update(points, np.ones(4), np.array([[0.0], [10.0]]))
    >>> labels.tolist(), centers.ravel().tolist(), wcss
    ([0, 0, 1, 1], [1.0, 10.0], 4.0)
    """
    x = np.ascontiguousarray(points, dtype=np.float64)
    w = np.ascontiguousarray(weights, dtype=np.float64)
    centers = np.array(centers, dtype=np.float64)
    state = State(x, w, _accel.enabled(work=x.shape[0] * centers.shape[0]))
    sums, mass, _, inertia = state.sweep(centers)
    moved, inertia = means(centers, sums, mass, inertia)
    return state.labels, moved, inertia


class State:
    """Labels and distances of one Lloyd run, updated in place by :meth:`sweep`."""

    def __init__(self, x: np.ndarray, w: np.ndarray, compiled: bool) -> None:
        self.x, self.w = x, w
        self.labels = np.full(x.shape[0], -1, dtype=np.int32)
        self.distances = np.empty(x.shape[0])
        self.compiled = compiled  # decided once, so a run never switches paths
        if not self.compiled:
            self.x_sq = np.einsum("ij,ij->i", x, x)
            # Weighted coordinates feature by feature, (d, n): each row is the contiguous
            # weights of one ``bincount`` of the update's sums.
            self.wx = np.empty((x.shape[1], x.shape[0]))
            np.multiply(x.T, w, out=self.wx)

    def sweep(self, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, float]:
        """Assign every point to its nearest centre; return the update's sums.

        Returns
        -------
        sums : (k, d) ndarray
            Weighted sum of each new cluster's points.
        mass : (k,) ndarray
            Total weight of each new cluster.
        n_changed : int
            Labels that changed.
        inertia : float
            WCSS of the new labels against `centers`.
        """
        if self.compiled:
            return _accel.lloyd_pass(self.x, self.w, centers, self.labels, self.distances)
        previous = self.labels if self.labels.shape[0] and self.labels[0] >= 0 else None
        labels, distances, _ = nearest(self.x, self.x_sq, centers, previous=previous)
        n_changed = int(np.count_nonzero(labels != self.labels))
        self.labels, self.distances = labels, distances
        k, d = centers.shape
        groups = labels.astype(np.intp)  # bincount's own index type: cast once, not per call
        mass = np.bincount(groups, weights=self.w, minlength=k)
        sums = np.empty((k, d))
        for j in range(d):
            sums[:, j] = np.bincount(groups, weights=self.wx[j], minlength=k)
        return sums, mass, n_changed, float(self.w @ distances)


def means(
    centers: np.ndarray, sums: np.ndarray, mass: np.ndarray, inertia: float
) -> tuple[np.ndarray, float]:
    """Move non-empty centres to their cluster means; return them and the new WCSS.

    The WCSS follows from the old one without another pass over the points: moving a
    centre c to its cluster's mean μ lowers that cluster's sum of squares by m·‖c − μ‖².
    """
    moved = centers.copy()
    filled = mass > 0
    moved[filled] = sums[filled] / mass[filled, None]
    drop = float((mass * ((moved - centers) ** 2).sum(axis=1)).sum())
    return moved, max(inertia - drop, 0.0)
