"""Compiled kernels (numba) for exact Lloyd on millions of unweighted d-dimensional pixels.

The colour engine (:mod:`core.accel.compiled`) clusters distinct colours with weights; a 4-band
16-bit scene has nearly as many distinct values as pixels, so this engine clusters every
pixel, unweighted, in float32 features (half the memory of float64) with float64
arithmetic:

* :func:`assign` — nearest centre of every point, the update's sums and counts, the WCSS
  and the number of labels that changed; parallel over chunks with private accumulators;
* :func:`bounds_init` / :func:`bounds_step` — Hamerly's bounds (2010), as in
  :mod:`core.accel.compiled`, generalised to any d and stored in float32. A float32 bound is
  rounded outwards (upper up, lower down) every time it is written, so it stays a true
  bound and the skipped points are exactly those plain Lloyd would leave in place.

Distances are plain sums of squared differences in float64 (no cancellation). Compiled on
first use and cached on disk; :func:`core.accel.compiled.enabled` governs whether they run.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import numpy as np

from core.accel import compiled as _accel

if _accel.AVAILABLE:
    import numba as nb

    from core.accel.kernels import jit
else:  # pragma: no cover - numba missing or KSEG_NUMBA=0
    nb = None  # type: ignore[assignment]

__all__ = ["KERNEL_GROUPS", "assign", "bounds_init", "bounds_step", "compile_kernels"]

# Writing a float64 into a float32 moves it by at most 2**-24 relative; scaling by this
# margin first makes the stored upper bound >= the true one (and lower <= the true one).
_UP = 1.0 + 2.5e-7
_DOWN = 1.0 - 2.5e-7

if nb is not None:

    @jit(inline="always")
    def _chunks(n):  # pragma: no cover - compiled
        return max(1, min(64, n // 16384))

    @jit(inline="always")
    def _nearest_two(x, i, centers_t, dist):  # pragma: no cover - compiled
        """Nearest and second-nearest squared distance of point i, and the nearest index.

        Centres come transposed (d, k), so the innermost loop runs over the k centres with
        unit stride and compiles to SIMD; one float64 row of `x` is read once.
        """
        d, k = centers_t.shape
        for j in range(k):
            dist[j] = 0.0
        for t in range(d):
            xt = np.float64(x[i, t])
            for j in range(k):
                diff = xt - centers_t[t, j]
                dist[j] += diff * diff
        best = np.inf
        second = np.inf
        best_j = 0
        for j in range(k):
            value = dist[j]
            if value < best:
                second = best
                best = value
                best_j = j
            elif value < second:
                second = value
        return best, second, best_j

    @jit(parallel=True)
    def assign(x, centers, labels):  # pragma: no cover - compiled
        """Label every point with its nearest centre, in place.

        Returns (sums (k, d) float64, counts (k,) float64, inertia, n_changed): the update
        step's sums over the new clusters, the WCSS of the new labels against `centers`,
        and how many labels changed (labels start at -1 for "none yet").
        """
        n, d = x.shape
        k = centers.shape[0]
        centers_t = np.ascontiguousarray(centers.T)
        n_chunks = _chunks(n)
        part_sums = np.zeros((n_chunks, k, d))
        part_counts = np.zeros((n_chunks, k))
        part_inertia = np.zeros(n_chunks)
        part_changed = np.zeros(n_chunks, dtype=np.int64)
        for c in nb.prange(n_chunks):
            dist = np.empty(k)
            for i in range(c * n // n_chunks, (c + 1) * n // n_chunks):
                best, _, best_j = _nearest_two(x, i, centers_t, dist)
                if labels[i] != best_j:
                    part_changed[c] += 1
                    labels[i] = best_j
                part_counts[c, best_j] += 1.0
                part_inertia[c] += best
                for t in range(d):
                    part_sums[c, best_j, t] += x[i, t]
        return (
            part_sums.sum(axis=0),
            part_counts.sum(axis=0),
            part_inertia.sum(),
            part_changed.sum(),
        )

    @jit(parallel=True)
    def bounds_init(x, centers, labels, upper, lower):  # pragma: no cover - compiled
        """Full assignment that also records Hamerly's bounds.

        Returns (sums, counts, Σ‖x‖²): the last for the WCSS identity
        Σ_cluster ‖x − μ‖² = Σ ‖x‖² − ‖S‖² / n, summed in the same pass.
        """
        n, d = x.shape
        k = centers.shape[0]
        centers_t = np.ascontiguousarray(centers.T)
        n_chunks = _chunks(n)
        part_sums = np.zeros((n_chunks, k, d))
        part_counts = np.zeros((n_chunks, k))
        part_squares = np.zeros(n_chunks)
        for c in nb.prange(n_chunks):
            dist = np.empty(k)
            squares = 0.0
            for i in range(c * n // n_chunks, (c + 1) * n // n_chunks):
                best, second, best_j = _nearest_two(x, i, centers_t, dist)
                labels[i] = best_j
                upper[i] = np.sqrt(best) * _UP
                lower[i] = np.sqrt(second) * _DOWN
                part_counts[c, best_j] += 1.0
                for t in range(d):
                    value = np.float64(x[i, t])
                    squares += value * value
                    part_sums[c, best_j, t] += value
            part_squares[c] = squares
        return part_sums.sum(axis=0), part_counts.sum(axis=0), part_squares.sum()

    @jit(parallel=True)
    def bounds_step(x, centers, moved, labels, upper, lower, sums, counts):  # pragma: no cover
        """One Hamerly iteration: reassign only the points whose bounds allow a change.

        `moved` is how far each centre moved since the last step. Updates labels, bounds,
        sums and counts in place; returns the number of labels that changed. See
        :func:`core.accel.compiled.bounds_step` for why the skipped points cannot change.
        """
        n, d = x.shape
        k = centers.shape[0]
        half_gap = np.full(k, np.inf)
        for j in range(k):
            for j2 in range(k):
                if j2 != j:
                    dist = 0.0
                    for t in range(d):
                        diff = centers[j, t] - centers[j2, t]
                        dist += diff * diff
                    half_gap[j] = min(half_gap[j], 0.5 * np.sqrt(dist))
        far = 0
        for j in range(k):
            if moved[j] > moved[far]:
                far = j
        second_move = 0.0
        for j in range(k):
            if j != far and moved[j] > second_move:
                second_move = moved[j]
        centers_t = np.ascontiguousarray(centers.T)
        n_chunks = _chunks(n)
        part_sums = np.zeros((n_chunks, k, d))
        part_counts = np.zeros((n_chunks, k))
        part_changed = np.zeros(n_chunks, dtype=np.int64)
        for c in nb.prange(n_chunks):
            dist_all = np.empty(k)
            for i in range(c * n // n_chunks, (c + 1) * n // n_chunks):
                a = labels[i]
                up = (np.float64(upper[i]) + moved[a]) * _UP
                low = max(0.0, np.float64(lower[i]) - (second_move if a == far else moved[far]))
                low *= _DOWN
                upper[i] = up
                lower[i] = low
                bound = max(half_gap[a], low)
                if up <= bound:
                    continue
                dist = 0.0
                for t in range(d):
                    diff = np.float64(x[i, t]) - centers[a, t]
                    dist += diff * diff
                up = np.sqrt(dist)
                upper[i] = up * _UP
                if up <= bound:
                    continue
                best, second, best_j = _nearest_two(x, i, centers_t, dist_all)
                upper[i] = np.sqrt(best) * _UP
                lower[i] = np.sqrt(second) * _DOWN
                if best_j != a:
                    labels[i] = best_j
                    part_changed[c] += 1
                    part_counts[c, a] -= 1.0
                    part_counts[c, best_j] += 1.0
                    for t in range(d):
                        part_sums[c, a, t] -= x[i, t]
                        part_sums[c, best_j, t] += x[i, t]
        sums += part_sums.sum(axis=0)
        counts += part_counts.sum(axis=0)
        return part_changed.sum()

else:  # pragma: no cover
    assign = bounds_init = bounds_step = None


#: The kernels in groups that compile independently (see
#: :data:`core.accel.compiled.KERNEL_GROUPS`).
KERNEL_GROUPS: Final = ("assign", "bounds")


def compile_kernels(groups: Iterable[str] = KERNEL_GROUPS) -> None:
    """Compile (or load from the disk cache) the kernels for float32 features now, in this
    thread: every kernel, or those of the named :data:`KERNEL_GROUPS` (as
    :func:`core.accel.compiled.compile_kernels` does for the colour engine's)."""
    wanted = set(groups)
    if not wanted <= set(KERNEL_GROUPS):
        raise ValueError(f"kernel groups are {KERNEL_GROUPS}, not {sorted(wanted)}")
    if not _accel.enabled():
        return
    x = np.random.default_rng(0).random((64, 3)).astype(np.float32)
    centers = x[:4].astype(np.float64)
    labels = np.zeros(64, dtype=np.int32)
    upper, lower = np.empty(64, dtype=np.float32), np.empty(64, dtype=np.float32)
    if "assign" in wanted:
        assign(x, centers, labels)
    if "bounds" in wanted:
        sums, counts, _ = bounds_init(x, centers, labels, upper, lower)
        bounds_step(x, centers, np.zeros(4), labels, upper, lower, sums, counts)
