"""The numba kernels behind :mod:`core.accel.compiled`, in a module of their own.

Importing this module imports numba (~0.2 s) and defines the dispatchers; nothing is compiled
or loaded from numba's disk cache until a kernel is first called. :mod:`core.accel.compiled` imports
it on the first call that wants a compiled kernel, so ``import core`` stays light. The
kernels are documented in :mod:`core.accel.compiled`.
"""

from __future__ import annotations

import numba as nb
import numpy as np


def jit(**options: object):
    """``numba.njit`` with the disk cache when there is somewhere to write it.

    numba refuses to even define a cached function when neither the package's
    ``__pycache__`` nor the user's cache folder is writable ("cannot cache function …: no
    locator available"), as on a read-only install or a container without a home. kseg
    then compiles in memory each process instead: slower to start, same results.
    """

    def decorate(function):
        try:
            return nb.njit(cache=True, **options)(function)
        except RuntimeError as error:
            if "cannot cache" not in str(error):
                raise
            return nb.njit(**options)(function)

    return decorate


@jit(nogil=True)
def color_counts(
    pixels: np.ndarray, histogram: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Distinct 24-bit colour ids of (n, 3) uint8 pixels, ascending, and their counts.

    `histogram` is a 2**24-bin int32 table of zeros, left as it was found: only the bins
    of the colours seen are written, then cleared. Reading back all 2**24 bins of the
    counting histogram costs more than a third of counting a 12 MP photo. So each colour's
    id is also noted where it is first seen, and the (far fewer) ids noted are put in order
    by a two-pass radix sort on 12 bits.
    """
    seen = np.empty(min(pixels.shape[0], 1 << 24), dtype=np.int32)
    distinct = 0
    for i in range(pixels.shape[0]):
        color = (
            np.int32(pixels[i, 0]) | (np.int32(pixels[i, 1]) << 8) | (np.int32(pixels[i, 2]) << 16)
        )
        if histogram[color] == 0:
            seen[distinct] = color
            distinct += 1
        histogram[color] += 1
    ordered = np.empty(distinct, dtype=np.int32)
    for shift in (0, 12):  # least significant digit first: the sort is stable
        source, target = (seen, ordered) if shift == 0 else (ordered, seen)
        starts = np.zeros(4097, dtype=np.int64)
        for j in range(distinct):
            starts[((source[j] >> shift) & 4095) + 1] += 1
        for digit in range(4096):
            starts[digit + 1] += starts[digit]
        for j in range(distinct):
            digit = (source[j] >> shift) & 4095
            target[starts[digit]] = source[j]
            starts[digit] += 1
    ids = np.empty(distinct, dtype=np.int64)
    counts = np.empty(distinct, dtype=np.int64)
    for j in range(distinct):
        ids[j] = seen[j]
        counts[j] = histogram[seen[j]]
        histogram[seen[j]] = 0
    return ids, counts


# Points per block of _sweep3: their coordinates and running minima stay in registers/L1.
_BLOCK = 128


@jit(nogil=True)
def _sweep3(x, w, centers, labels, distances, start, stop, sums, mass):  # pragma: no cover
    """:func:`_sweep` for 3 features, centre by centre over blocks of points: the inner
    loop has no branch (a select), so it runs on SIMD lanes (1.6x faster at k = 8, 2x at
    k = 16, measured on 6,630 points), with the same distances, the same strict ``<``
    (ties go to the lower centre) and the same order of sums as a point-by-point loop."""
    k = centers.shape[0]
    c0 = centers[:, 0].copy()
    c1 = centers[:, 1].copy()
    c2 = centers[:, 2].copy()
    b0 = np.empty(_BLOCK)
    b1 = np.empty(_BLOCK)
    b2 = np.empty(_BLOCK)
    best = np.empty(_BLOCK)
    nearest = np.empty(_BLOCK, dtype=np.int32)
    changed = 0
    inertia = 0.0
    for first in range(start, stop, _BLOCK):
        m = min(_BLOCK, stop - first)
        for i in range(m):
            b0[i] = x[first + i, 0]
            b1[i] = x[first + i, 1]
            b2[i] = x[first + i, 2]
        for i in range(m):
            a = b0[i] - c0[0]
            b = b1[i] - c1[0]
            c = b2[i] - c2[0]
            best[i] = a * a + b * b + c * c
            nearest[i] = 0
        for j in range(1, k):
            cj0 = c0[j]
            cj1 = c1[j]
            cj2 = c2[j]
            for i in range(m):
                a = b0[i] - cj0
                b = b1[i] - cj1
                c = b2[i] - cj2
                dist = a * a + b * b + c * c
                closer = dist < best[i]
                best[i] = dist if closer else best[i]
                nearest[i] = j if closer else nearest[i]
        for i in range(m):
            point = first + i
            best_j = nearest[i]
            if labels[point] != best_j:
                changed += 1
                labels[point] = best_j
            distances[point] = best[i]
            weight = w[point]
            mass[best_j] += weight
            inertia += weight * best[i]
            sums[best_j, 0] += weight * b0[i]
            sums[best_j, 1] += weight * b1[i]
            sums[best_j, 2] += weight * b2[i]
    return changed, inertia


@jit(nogil=True)
def _sweep(x, w, centers, labels, distances, start, stop, sums, mass):  # pragma: no cover
    """Assign points [start, stop) and accumulate into sums/mass; return (changed, WCSS)."""
    k = centers.shape[0]
    d = x.shape[1]
    changed = 0
    inertia = 0.0
    if d == 3:  # colour features: unrolled, about 1.5x faster
        return _sweep3(x, w, centers, labels, distances, start, stop, sums, mass)
    for i in range(start, stop):
        best = np.inf
        best_j = 0
        for j in range(k):
            dist = 0.0
            for t in range(d):
                diff = x[i, t] - centers[j, t]
                dist += diff * diff
            if dist < best:
                best = dist
                best_j = j
        if labels[i] != best_j:
            changed += 1
            labels[i] = best_j
        distances[i] = best
        weight = w[i]
        mass[best_j] += weight
        inertia += weight * best
        for t in range(d):
            sums[best_j, t] += weight * x[i, t]
    return changed, inertia


@jit(nogil=True)
def _lloyd_pass(x, w, centers, labels, distances):  # pragma: no cover - compiled
    k, d = centers.shape[0], x.shape[1]
    sums = np.zeros((k, d))
    mass = np.zeros(k)
    changed, inertia = _sweep(x, w, centers, labels, distances, 0, x.shape[0], sums, mass)
    return sums, mass, changed, inertia


@jit(nogil=True)
def _distances_to(x, x_sq, row, closest, out, capped):  # pragma: no cover - compiled
    """``max(‖x‖² − 2 x·x[row] + ‖x[row]‖², 0)`` for every point into `out`, capped at
    `closest` when `capped`: NumPy's k-means++ formula, summed in the same order (unrolled
    for colours, where the loop over d cost twice as much)."""
    n, d = x.shape
    if d == 3:
        r0, r1, r2 = x[row, 0], x[row, 1], x[row, 2]
        row_sq = r0 * r0 + r1 * r1 + r2 * r2
        for i in range(n):
            dot = x[i, 0] * r0 + x[i, 1] * r1 + x[i, 2] * r2
            distance = max(x_sq[i] - 2.0 * dot + row_sq, 0.0)
            out[i] = min(closest[i], distance) if capped else distance
        return
    row_sq = 0.0
    for t in range(d):
        row_sq += x[row, t] * x[row, t]
    for i in range(n):
        dot = 0.0
        for t in range(d):
            dot += x[i, t] * x[row, t]
        distance = max(x_sq[i] - 2.0 * dot + row_sq, 0.0)
        out[i] = min(closest[i], distance) if capped else distance


@jit(nogil=True)
def kmeans_plusplus(x, x_sq, w, first, uniforms, n_trials, centers):  # pragma: no cover
    """Greedy weighted k-means++ into `centers` (k, d), as ``core.engine.kmeans._kmeans_plusplus``
    computes it (equal to rounding) from the same random numbers: `first` is the first
    centre's row, `uniforms` the (k - 1) * `n_trials` draws for the trials.

    Returns k when every centre was placed, or the index of the first centre it could not
    place because every point already sits on a centre (the caller then runs the NumPy
    version, which draws differently in that case).
    """
    n, d = x.shape
    k = centers.shape[0]
    closest = np.empty(n)
    cumulative = np.empty(n)
    trial_distances = np.empty((n_trials, n))
    trials = np.empty(n_trials, dtype=np.int64)
    costs = np.empty(n_trials)
    for t in range(d):
        centers[0, t] = x[first, t]
    _distances_to(x, x_sq, first, closest, closest, False)
    for c in range(1, k):
        total = 0.0
        for i in range(n):
            total += w[i] * closest[i]
            cumulative[i] = total
        if total <= 0.0:
            return c
        for trial in range(n_trials):
            draw = uniforms[(c - 1) * n_trials + trial] * total
            trials[trial] = min(np.searchsorted(cumulative, draw), n - 1)
        for trial in range(n_trials):
            _distances_to(x, x_sq, trials[trial], closest, trial_distances[trial], True)
            cost = 0.0
            for i in range(n):
                cost += w[i] * trial_distances[trial, i]
            costs[trial] = cost
        best = 0
        for trial in range(1, n_trials):
            if costs[trial] < costs[best]:  # the first of equal costs
                best = trial
        for t in range(d):
            centers[c, t] = x[trials[best], t]
        closest[:] = trial_distances[best]
    return k


@jit(nogil=True)
def lloyd_run(x, w, centers, labels, distances, first, max_iter, tol_abs):  # pragma: no cover
    """Plain Lloyd iterations `first`..`max_iter` from `centers`, in one call: the steps of
    ``core.engine.kmeans._lloyd`` without history, so a small run pays no Python per iteration.

    Returns ``(status, n_iter, centers, moved, sums, mass, inertia)``:

    * status 0 (converged) or 1 (`max_iter` reached): `centers` are the ones the final
      sweep labelled with, and `sums`, `mass`, `inertia` are that sweep's (`moved` is
      `centers`);
    * status 2: a cluster emptied in iteration `n_iter`: `centers` labelled that sweep,
      `moved` are the new means with each empty centre left in place, for the caller to
      re-seed and carry on.
    """
    k, d = centers.shape
    for n_iter in range(first, max_iter + 1):
        sums = np.zeros((k, d))
        mass = np.zeros(k)
        changed, inertia = _sweep(x, w, centers, labels, distances, 0, x.shape[0], sums, mass)
        if changed == 0:
            return 0, n_iter, centers, centers, sums, mass, inertia
        moved = centers.copy()
        empty = False
        shift = 0.0
        for j in range(k):
            if mass[j] > 0:
                for t in range(d):
                    moved[j, t] = sums[j, t] / mass[j]
            else:
                empty = True
        if empty:
            return 2, n_iter, centers, moved, sums, mass, inertia
        for j in range(k):
            for t in range(d):
                step = moved[j, t] - centers[j, t]
                shift += step * step
        centers = moved
        if shift <= tol_abs or n_iter == max_iter:
            # One more assignment, so labels agree with the centres they are reported with.
            sums = np.zeros((k, d))
            mass = np.zeros(k)
            changed, inertia = _sweep(x, w, centers, labels, distances, 0, x.shape[0], sums, mass)
            return (0 if shift <= tol_abs else 1), n_iter, centers, centers, sums, mass, inertia
    # first > max_iter: nothing to run (the caller never asks for that).
    sums = np.zeros((k, d))
    mass = np.zeros(k)
    changed, inertia = _sweep(x, w, centers, labels, distances, 0, x.shape[0], sums, mass)
    return 1, max_iter, centers, centers, sums, mass, inertia


def lloyd_pass(
    x: np.ndarray,
    w: np.ndarray,
    centers: np.ndarray,
    labels: np.ndarray,
    distances: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, int, float]:
    """Assign every point to its nearest centre, in place, and sum up for the update.

    Returns the weighted sums (k, d) and masses (k,) of the new clusters, the number
    of labels that changed, and the WCSS of the new assignment. One thread: large
    inputs take the bounded kernels below for all but one pass, and a threaded variant
    of this one costs more compile time (~13 s) than it would ever save.
    """
    sums, mass, changed, inertia = _lloyd_pass(x, w, centers, labels, distances)
    return sums, mass, int(changed), float(inertia)


@jit(parallel=True)
def bounds_init(x, w, centers, labels, upper, lower):  # pragma: no cover - compiled
    """Full assignment that also records Hamerly's bounds; returns (sums, mass)."""
    n, d = x.shape
    k = centers.shape[0]
    n_chunks = max(1, min(64, n // 16384))
    part_sums = np.zeros((n_chunks, k, d))
    part_mass = np.zeros((n_chunks, k))
    for c in nb.prange(n_chunks):
        for i in range(c * n // n_chunks, (c + 1) * n // n_chunks):
            best = np.inf
            second = np.inf
            best_j = 0
            for j in range(k):
                dist = 0.0
                for t in range(d):
                    diff = x[i, t] - centers[j, t]
                    dist += diff * diff
                if dist < best:
                    second = best
                    best = dist
                    best_j = j
                elif dist < second:
                    second = dist
            labels[i] = best_j
            upper[i] = np.sqrt(best)
            lower[i] = np.sqrt(second)
            part_mass[c, best_j] += w[i]
            for t in range(d):
                part_sums[c, best_j, t] += w[i] * x[i, t]
    return part_sums.sum(axis=0), part_mass.sum(axis=0)


@jit(parallel=True)
def bounds_step(x, w, centers, moved, labels, upper, lower, sums, mass):  # pragma: no cover
    """One Hamerly iteration: reassign only points whose bounds allow a change.

    `moved` is how far each centre moved since the last step. Updates labels, bounds,
    and the cluster sums and masses in place; returns the number of changed labels.
    A point is skipped when its distance to its own centre (upper bound) is at most
    both half the distance from that centre to the next one and the distance to any
    other centre (lower bound): then no other centre can be nearer. Exact, not
    approximate: the skipped points would keep their labels in plain Lloyd too.
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
    n_chunks = max(1, min(64, n // 16384))
    part_sums = np.zeros((n_chunks, k, d))
    part_mass = np.zeros((n_chunks, k))
    part_changed = np.zeros(n_chunks, dtype=np.int64)
    for c in nb.prange(n_chunks):
        for i in range(c * n // n_chunks, (c + 1) * n // n_chunks):
            a = labels[i]
            upper[i] += moved[a]
            lower[i] -= second_move if a == far else moved[far]
            bound = max(half_gap[a], lower[i])
            if upper[i] <= bound:
                continue
            dist = 0.0
            for t in range(d):
                diff = x[i, t] - centers[a, t]
                dist += diff * diff
            upper[i] = np.sqrt(dist)
            if upper[i] <= bound:
                continue
            best = np.inf
            second = np.inf
            best_j = 0
            for j in range(k):
                dist = 0.0
                for t in range(d):
                    diff = x[i, t] - centers[j, t]
                    dist += diff * diff
                if dist < best:
                    second = best
                    best = dist
                    best_j = j
                elif dist < second:
                    second = dist
            upper[i] = np.sqrt(best)
            lower[i] = np.sqrt(second)
            if best_j != a:
                labels[i] = best_j
                part_changed[c] += 1
                weight = w[i]
                part_mass[c, a] -= weight
                part_mass[c, best_j] += weight
                for t in range(d):
                    part_sums[c, a, t] -= weight * x[i, t]
                    part_sums[c, best_j, t] += weight * x[i, t]
    sums += part_sums.sum(axis=0)
    mass += part_mass.sum(axis=0)
    return part_changed.sum()


@jit(nogil=True)
def _add_to_group(mass, sums, group, weights, values, i):  # pragma: no cover - compiled
    """Add point `i` to `group`: its weight to `mass`, its weighted values to `sums`."""
    weight = weights[i]
    mass[group] += weight
    for t in range(values.shape[1]):
        sums[group, t] += values[i, t] * weight


@jit(nogil=True)
def group_sums(groups, weights, values, n_groups):  # pragma: no cover - compiled
    """Total weight and weighted sum of `values` (n, d) per group: what NumPy gets from one
    ``bincount`` per column, in the same order (so the same sums, bit for bit), in one
    pass without the (n,) products and casts."""
    mass = np.zeros(n_groups)
    sums = np.zeros((n_groups, values.shape[1]))
    for i in range(groups.shape[0]):
        _add_to_group(mass, sums, groups[i], weights, values, i)
    return mass, sums


@jit(nogil=True)
def coarse_sums(ids, bits, weights, values):  # pragma: no cover - compiled
    """:func:`group_sums` over the cells of ``ColorTable.coarse(bits)``, each colour's cell
    worked out from its 24-bit id on the way."""
    shift = 8 - bits
    top = (1 << bits) - 1
    mass = np.zeros(1 << (3 * bits))
    sums = np.zeros((1 << (3 * bits), values.shape[1]))
    for i in range(ids.shape[0]):
        color = ids[i]
        cell = (color >> shift) & top
        cell |= ((color >> (8 + shift)) & top) << bits
        cell |= ((color >> (16 + shift)) & top) << (2 * bits)
        _add_to_group(mass, sums, cell, weights, values, i)
    return mass, sums


@jit(parallel=True)
def paint(
    pixels: np.ndarray, lookup: np.ndarray, palette: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Label (n,) int32 and colour (n, 3) uint8 of every pixel from a colour lookup."""
    n = pixels.shape[0]
    labels = np.empty(n, dtype=np.int32)
    painted = np.empty((n, 3), dtype=np.uint8)
    for i in nb.prange(n):
        color = (
            np.int64(pixels[i, 0]) | (np.int64(pixels[i, 1]) << 8) | (np.int64(pixels[i, 2]) << 16)
        )
        label = lookup[color]
        labels[i] = label
        painted[i, 0] = palette[label, 0]
        painted[i, 1] = palette[label, 1]
        painted[i, 2] = palette[label, 2]
    return labels, painted


@jit(nogil=True)
def lab_of_colors(
    colors: np.ndarray, linear: np.ndarray, to_xyz: np.ndarray, white: np.ndarray
) -> np.ndarray:  # pragma: no cover - compiled
    """CIELAB (a*, b*, L*) of (n, 3) uint8 colours, as ``core.features.colorspaces._rgb_to_lab``
    computes it (equal to rounding), in one pass without temporaries."""
    epsilon = 216.0 / 24389.0
    kappa = 24389.0 / 27.0
    n = colors.shape[0]
    out = np.empty((n, 3))
    f = np.empty(3)
    for i in range(n):
        r = linear[colors[i, 0]]
        g = linear[colors[i, 1]]
        b = linear[colors[i, 2]]
        for c in range(3):
            v = (r * to_xyz[c, 0] + g * to_xyz[c, 1] + b * to_xyz[c, 2]) / white[c]
            f[c] = np.cbrt(v) if v > epsilon else (kappa * v + 16.0) / 116.0
        out[i, 0] = 500.0 * (f[0] - f[1])
        out[i, 1] = 200.0 * (f[1] - f[2])
        out[i, 2] = 116.0 * f[1] - 16.0
    return out
