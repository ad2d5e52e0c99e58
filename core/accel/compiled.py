"""Compiled kernels (numba) for the passes that touch every point, pixel or colour.

Each kernel fuses what NumPy does in several passes with temporaries into one pass:

* :func:`color_counts` — the distinct 24-bit colour ids of the pixels and their counts,
  without an id array (NumPy: RGBA copy, cast, ``bincount``), noting each id where it is
  first seen instead of scanning the 2**24 bins afterwards;
* :func:`lloyd_pass` — nearest centre, change count, WCSS and the weighted sums for the
  update step, in one sweep over the points (NumPy: a BLAS distance block, ``argmin``,
  and one ``bincount`` per dimension), split across threads with private accumulators;
* :func:`kmeans_plusplus` — greedy k-means++ seeding, every trial's distances in one pass;
* :func:`lloyd_run` — a whole plain Lloyd run in one call (a small input's passes are
  too short to pay Python's overhead on each one);
* :func:`group_sums` / :func:`coarse_sums` — weight and weighted sums per group (a
  cluster, a coarse cell) in one pass (NumPy: a cast, a product and a ``bincount`` per
  column);
* :func:`paint` — label and recoloured pixel of every pixel from a colour lookup table;
* :func:`lab_of_colors` — CIELAB of distinct colours (NumPy: a dozen passes with
  temporaries);
* :func:`bounds_init` / :func:`bounds_step` — Lloyd iterations with Hamerly's bounds
  (2010): each point keeps an upper bound on the distance to its centre and a lower bound
  on the distance to every other centre, so late iterations, where centres barely move,
  skip almost every point. Same labels as plain Lloyd, a fraction of the work.

Distances here are computed as plain sums of squared differences, so they are exact
to rounding (no ``‖x‖² − 2x·c + ‖c‖²`` cancellation). The kernels are compiled on first
use and cached on disk (``cache=True``), so only the first process pays the compile time.
:data:`AVAILABLE` is False when numba is not installed or ``KSEG_NUMBA=0``; the NumPy
path in :mod:`core.kmeans` and :mod:`core.features.colortable` then runs instead, with the same
results.

Nothing here imports numba at import time: the kernels live in :mod:`core.accel.kernels`, which
:func:`enabled` imports on the first call that asks for them, and each kernel is loaded
from the disk cache only when first called, so ``import core`` stays light and a call
pays only for the kernels it uses.

Loading is not free: importing numba and its first dispatch in a process (which sets up
numba's registries and imports ``scipy.linalg``) take 0.5–0.8 s on 2 cores — more than the
whole NumPy path takes on a 1 MP photo. So small jobs do not load them (a rent-or-buy
rule): :func:`enabled` given a job's size answers False while the kernels are not loaded,
the job is small (:data:`LOAD_AT_ONCE_WORK`) and the NumPy path has spent less than
:data:`LOAD_AFTER_SECONDS` in this process (:func:`charge`); past that budget the next job
loads them, so a process never pays more than about twice the better choice. A
one-shot ``kseg segment`` on a photo never imports numba; a server or notebook that keeps
working loads them once; the dashboard loads them in the background at start.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Final

import numpy as np

#: numba is installed and not switched off with ``KSEG_NUMBA=0`` (it is imported only when
#: a kernel is first wanted; a numba that fails to import turns this False then).
AVAILABLE: bool = (
    os.environ.get("KSEG_NUMBA", "1") != "0" and importlib.util.find_spec("numba") is not None
)
#: Seconds of NumPy-path work (see :func:`charge`) after which the next job loads the
#: kernels: about what loading costs, the rent-or-buy break-even.
LOAD_AFTER_SECONDS: Final = 0.5
#: A job with at least this many point-to-centre distances per pass (points × k) loads the
#: kernels at once: a few NumPy passes over it cost about as much as loading (measured on
#: 2 cores: a NumPy pass over 1 M points at k = 8 takes ~50 ms; a Lloyd run makes several).
LOAD_AT_ONCE_WORK: Final = 8_000_000
_warming = threading.Event()
_loaded: ModuleType | None = None
_lock = threading.Lock()
_numpy_seconds = 0.0


def _kernels() -> ModuleType | None:
    """:mod:`core.accel.kernels`, imported on first use; None when numba will not import."""
    global _loaded, AVAILABLE
    if _loaded is None and AVAILABLE:
        with _lock:
            if _loaded is None:
                try:
                    from core.accel import kernels
                except ImportError:  # pragma: no cover - a broken numba install
                    AVAILABLE = False
                    return None
                _loaded = kernels
    return _loaded


def enabled(work: int | None = None) -> bool:
    """Whether the compiled kernels are used now, loading them if this job calls for it.

    Parameters
    ----------
    work : int, optional
        Size of the job about to run, as point-to-centre distances per pass (points × k).
        While the kernels are not loaded, a job below :data:`LOAD_AT_ONCE_WORK` takes the
        NumPy path — until the NumPy path has spent :data:`LOAD_AFTER_SECONDS` in this
        process. None (callers whose jobs are always large) loads them whenever needed.

    Returns
    -------
    bool
        False when numba is unavailable, switched off, warming up in the background, or
        not worth loading for this job; True when the kernels are loaded.
    """
    if not AVAILABLE or _warming.is_set():
        return False
    if (
        _loaded is None
        and work is not None
        and work < LOAD_AT_ONCE_WORK
        and _numpy_seconds < LOAD_AFTER_SECONDS
    ):
        return False
    return _kernels() is not None


def loaded() -> bool:
    """Whether the kernels are loaded in this process (numba imported), without loading them."""
    return _loaded is not None


def charge(seconds: float) -> None:
    """Count `seconds` of NumPy-path work the kernels would have done (see :func:`enabled`).

    Called from several threads at once; a lost update only delays loading a little.
    """
    global _numpy_seconds
    _numpy_seconds += seconds


def warm_up_in_background() -> threading.Thread | None:
    """Compile (or load from the disk cache) every kernel in a background thread.

    Until it finishes, :func:`enabled` is False and kseg runs its NumPy path, so a fresh
    install answers at once instead of waiting ~15 s for the compiler; later calls then
    take the compiled path. Meant for long-running servers such as the dashboard.
    Returns the thread, or None when numba is unavailable.
    """
    if not AVAILABLE:
        return None
    _warming.set()
    thread = threading.Thread(target=compile_kernels, name="kseg-warm-up", daemon=True)
    thread.start()
    return thread


#: The kernels in groups that compile independently of each other: numba compiles one
#: function at a time in a process, so a caller with cores to spare can compile each group
#: in its own process at once (the test suite does, on a fresh clone).
KERNEL_GROUPS: Final = ("lloyd", "bounds", "colours")


def compile_kernels(groups: Iterable[str] = KERNEL_GROUPS) -> None:
    """Compile (or load from the disk cache) the kernels now, in this thread: every kernel,
    or those of the named :data:`KERNEL_GROUPS`."""
    wanted = set(groups)
    if not wanted <= set(KERNEL_GROUPS):
        raise ValueError(f"kernel groups are {KERNEL_GROUPS}, not {sorted(wanted)}")
    try:
        if _kernels() is None:
            return
        rng = np.random.default_rng(0)
        x = rng.random((64, 3))
        w = np.ones(64)
        centers = x[:4].copy()
        labels = np.zeros(64, dtype=np.int32)
        upper, lower, distances = np.empty(64), np.empty(64), np.empty(64)
        if "lloyd" in wanted:
            lloyd_pass(x, w, centers, labels, distances)
            lloyd_run(x, w, centers, labels, distances, 1, 2, 0.0)
            coarse_sums(np.zeros(64, dtype=np.int64), 5, w, x)
            kmeans_plusplus(x, np.einsum("ij,ij->i", x, x), w, 0, rng.random(9), 3, centers)
        if "bounds" in wanted:
            sums, mass = bounds_init(x, w, centers, labels, upper, lower)
            bounds_step(x, w, centers, np.zeros(4), labels, upper, lower, sums, mass)
        if "colours" in wanted:
            writable = rng.integers(0, 256, size=(64, 3), dtype=np.uint8)
            read_only = writable.copy()
            read_only.setflags(write=False)  # numba compiles read-only arrays separately
            lookup, palette = np.zeros(1 << 24, dtype=np.uint8), np.zeros((4, 3), dtype=np.uint8)
            for pixels in (read_only, writable):
                # Colour ids under 256 (green and blue 0) fit a 256-bin table: the kept 64 MB
                # one is made by the first image that needs it, not by warming up.
                reds = pixels * np.array([1, 0, 0], dtype=np.uint8)
                reds.setflags(write=pixels.flags.writeable)
                _require().color_counts(reds, np.zeros(256, dtype=np.int32))
                paint(pixels, lookup, palette)
                group_sums(np.zeros(64, dtype=np.intp), w, pixels, 1)
                lab_of_colors(pixels, np.zeros(256), np.eye(3), np.ones(3))
    finally:
        _warming.clear()


def _require() -> ModuleType:
    kernels = _kernels()
    if kernels is None:  # pragma: no cover - callers check enabled() first
        raise RuntimeError("numba is not available: check core.accel.compiled.enabled() first")
    return kernels


def color_counts(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct 24-bit colour ids (int64, ascending) of (n, 3) uint8 pixels and their
    counts (int64), counted in a 2**24-bin table whose bins are read back only for the
    colours seen.

    The 64 MB counting table is kept between calls (:func:`zeroed_table`): the kernel
    clears the bins it wrote, and a fresh table would cost 16,000 page faults, as long as
    the counting itself at 12 MP (0.10-0.12 s against 0.05-0.06 s)."""
    with zeroed_table(np.int32) as histogram:
        ids, counts = _require().color_counts(pixels, histogram)
    return ids, counts


#: 2**24-entry tables of zeros kept for the next call, by dtype: at most one each (the
#: int32 one is 64 MB), taken by one call at a time; a call that finds none in the pool
#: (another thread holds it) uses a fresh one, and keeps it if the pool is empty again.
_TABLES: dict[np.dtype, np.ndarray] = {}
_TABLES_LOCK = threading.Lock()


@contextmanager
def zeroed_table(dtype: type) -> Iterator[np.ndarray]:
    """A 2**24-entry table of zeros for one call, which must leave it all zeros again.

    A table is returned to the pool only when the call ends normally: one that raised may
    be left dirty, and is dropped.
    """
    key = np.dtype(dtype)
    with _TABLES_LOCK:
        table = _TABLES.pop(key, None)
    if table is None:
        table = np.zeros(1 << 24, dtype=key)
    yield table
    with _TABLES_LOCK:
        _TABLES.setdefault(key, table)


def lab_of_colors(
    colors: np.ndarray, linear: np.ndarray, to_xyz: np.ndarray, white: np.ndarray
) -> np.ndarray:
    """CIELAB (a*, b*, L*) of (n, 3) uint8 colours in one pass: `linear` is the linear
    light of each of the 256 levels, `to_xyz` the sRGB-to-XYZ matrix, `white` the white
    point (see :mod:`core.features.colorspaces`). Equal to the NumPy conversion to rounding (about
    1e-13), 2.6x faster on one core."""
    result: np.ndarray = _require().lab_of_colors(colors, linear, to_xyz, white)
    return result


def lloyd_pass(
    x: np.ndarray,
    w: np.ndarray,
    centers: np.ndarray,
    labels: np.ndarray,
    distances: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, int, float]:
    """Assign every point to its nearest centre, in place, and sum up for the update.

    Returns the weighted sums (k, d) and masses (k,) of the new clusters, the number
    of labels that changed, and the WCSS of the new assignment (one thread).
    """
    if not centers.flags.writeable:  # numba would compile the kernel again for it (~5 s)
        centers = centers.copy()
    sums, mass, changed, inertia = _require().lloyd_pass(x, w, centers, labels, distances)
    return sums, mass, changed, inertia


def kmeans_plusplus(
    x: np.ndarray,
    x_sq: np.ndarray,
    w: np.ndarray,
    first: int,
    uniforms: np.ndarray,
    n_trials: int,
    centers: np.ndarray,
) -> int:
    """Greedy weighted k-means++ into `centers` from pre-drawn random numbers; returns k,
    or the first centre it could not place (see :func:`core.accel.kernels.kmeans_plusplus`)."""
    return int(_require().kmeans_plusplus(x, x_sq, w, first, uniforms, n_trials, centers))


def lloyd_run(
    x: np.ndarray,
    w: np.ndarray,
    centers: np.ndarray,
    labels: np.ndarray,
    distances: np.ndarray,
    first: int,
    max_iter: int,
    tol_abs: float,
) -> tuple[int, int, np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """Plain Lloyd iterations `first`..`max_iter` in one compiled call, labels and distances
    updated in place; returns ``(status, n_iter, centers, moved, sums, mass, inertia)``:
    status 0 converged, 1 stopped at `max_iter`, 2 a cluster emptied (see
    :func:`core.accel.kernels.lloyd_run`)."""
    status, n_iter, centers, moved, sums, mass, inertia = _require().lloyd_run(
        x, w, centers, labels, distances, first, max_iter, tol_abs
    )
    return int(status), int(n_iter), centers, moved, sums, mass, float(inertia)


def bounds_init(
    x: np.ndarray,
    w: np.ndarray,
    centers: np.ndarray,
    labels: np.ndarray,
    upper: np.ndarray,
    lower: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Full assignment that also records Hamerly's bounds; returns (sums, mass)."""
    sums, mass = _require().bounds_init(x, w, centers, labels, upper, lower)
    return sums, mass


def bounds_step(
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
    """One Hamerly iteration in place (:func:`core.accel.kernels.bounds_step`); changed labels."""
    return int(_require().bounds_step(x, w, centers, moved, labels, upper, lower, sums, mass))


def group_sums(
    groups: np.ndarray, weights: np.ndarray, values: np.ndarray, n_groups: int
) -> tuple[np.ndarray, np.ndarray]:
    """Total weight (n_groups,) and weighted sums (n_groups, d) of `values` per group:
    ``bincount(groups, weights)`` and one ``bincount`` of ``values[:, t] * weights`` per
    column, the same sums to the bit, in one pass."""
    mass, sums = _require().group_sums(groups, weights, values, n_groups)
    return mass, sums


def coarse_sums(
    ids: np.ndarray, bits: int, weights: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`group_sums` over the cells of ``ColorTable.coarse(bits)`` of colours `ids`
    (all ``2**(3 * bits)`` cells, empty ones included)."""
    mass, sums = _require().coarse_sums(ids, bits, weights, values)
    return mass, sums


def paint(
    pixels: np.ndarray, lookup: np.ndarray, palette: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Label (n,) int32 and colour (n, 3) uint8 of every pixel from a colour lookup."""
    labels, painted = _require().paint(pixels, lookup, palette)
    return labels, painted


__all__ = [
    "AVAILABLE",
    "KERNEL_GROUPS",
    "bounds_init",
    "bounds_step",
    "charge",
    "coarse_sums",
    "color_counts",
    "compile_kernels",
    "enabled",
    "group_sums",
    "kmeans_plusplus",
    "lloyd_pass",
    "lloyd_run",
    "loaded",
    "paint",
    "warm_up_in_background",
    "zeroed_table",
]
