"""The engine against independent oracles (brute-force Lloyd, scikit-learn) and its guarantees."""

from __future__ import annotations

import importlib
import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.cluster import KMeans

from core.accel import compiled as _accel
from core.engine.assign import assign_and_update
from core.engine.kmeans import kmeans

# The module (core.kmeans the attribute is the function, re-exported by the package).
kmeans_module = importlib.import_module("core.engine.kmeans")
assign_module = importlib.import_module("core.engine.assign")


def brute_force_lloyd(x, w, centers, max_iter=500):
    """Textbook Lloyd: full distance matrix, weighted means, until no label changes.

    Returns None if a cluster ever empties (the textbook has no rule for that).
    """
    labels = None
    for _ in range(max_iter):
        distances = ((x[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
        new_labels = distances.argmin(axis=1)
        if labels is not None and (new_labels == labels).all():
            break
        labels = new_labels
        centers = centers.copy()
        for j in range(centers.shape[0]):
            members = labels == j
            if not members.any():
                return None
            centers[j] = (w[members, None] * x[members]).sum(axis=0) / w[members].sum()
    inertia = float((w * ((x - centers[labels]) ** 2).sum(axis=1)).sum())
    return labels, centers, inertia


points = st.integers(4, 40).flatmap(
    lambda n: st.tuples(
        arrays(np.float64, (n, 3), elements=st.floats(-100, 100, width=32)),
        arrays(np.float64, (n,), elements=st.floats(0.5, 20, width=32)),
        st.integers(1, min(5, n)),
        st.integers(0, 2**16),
    )
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(points)
def test_equals_brute_force_lloyd_from_same_centres(case):
    x, w, k, seed = case
    assume(np.unique(x, axis=0).shape[0] >= k)
    start = x[np.random.default_rng(seed).choice(x.shape[0], size=k, replace=False)]
    oracle = brute_force_lloyd(x, w, start)
    assume(oracle is not None)
    result = kmeans(x, k, sample_weight=w, init=start, tol=0, max_iter=500)
    labels, centers, inertia = oracle
    # Near-ties between two centres can flip under rounding; they are vanishingly rare
    # with continuous data, and both answers would then be correct.
    d = ((x[:, None, :] - centers[None]) ** 2).sum(axis=2)
    sorted_d = np.sort(d, axis=1)
    assume(k == 1 or (sorted_d[:, 1] - sorted_d[:, 0]).min() > 1e-6)
    np.testing.assert_array_equal(result.labels, labels)
    np.testing.assert_allclose(result.centers, centers, rtol=1e-9, atol=1e-9)
    assert result.wcss == pytest.approx(inertia, rel=1e-9, abs=1e-9)
    assert result.converged


@settings(max_examples=50, deadline=None)
@given(points, st.sampled_from(["k-means++", "random"]))
def test_guarantees(case, init):
    x, w, k, seed = case
    result = kmeans(x, k, sample_weight=w, init=init, seed=seed, record_history=True)
    # Labels in range.
    assert result.labels.min() >= 0 and result.labels.max() < k
    # Every label is the nearest reported centre (the last assignment, as scikit-learn's);
    # the WCSS is that of these labels against these centres.
    d = ((x[:, None, :] - result.centers[None]) ** 2).sum(axis=2)
    own = d[np.arange(x.shape[0]), result.labels]
    np.testing.assert_allclose(own, d.min(axis=1), rtol=1e-12, atol=1e-9)
    assert result.wcss == pytest.approx(float(w @ own), rel=1e-9, abs=1e-9)
    # Each non-empty centre is the weighted mean of its points when the last assignment
    # moved none (a converged run at tol=0, say).
    final = kmeans(x, k, sample_weight=w, init=result.centers, tol=0, max_iter=500)
    for j in range(k):
        members = final.labels == j
        if members.any() and final.converged:
            mean = (w[members, None] * x[members]).sum(axis=0) / w[members].sum()
            np.testing.assert_allclose(final.centers[j], mean, rtol=1e-9, atol=1e-7)
    # Identical points share a label.
    _, first, inverse = np.unique(x, axis=0, return_index=True, return_inverse=True)
    np.testing.assert_array_equal(result.labels, result.labels[first][inverse.ravel()])
    # WCSS never rises from one iteration to the next, nor at the final update.
    wcss = [record.wcss for record in result.history]
    assert all(b <= a * (1 + 1e-12) + 1e-9 for a, b in itertools.pairwise(wcss))
    assert result.wcss <= wcss[-1] * (1 + 1e-12) + 1e-9
    # Same seed, same result.
    again = kmeans(x, k, sample_weight=w, init=init, seed=seed)
    np.testing.assert_array_equal(again.labels, result.labels)
    assert again.wcss == result.wcss


def test_weights_equal_repeated_points():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(50, 2)) * [1.0, 3.0]
    counts = rng.integers(1, 6, size=50)
    repeated = np.repeat(x, counts, axis=0)
    start = x[:4]
    weighted = kmeans(x, 4, sample_weight=counts, init=start, tol=0)
    expanded = kmeans(repeated, 4, init=start, tol=0)
    np.testing.assert_allclose(weighted.centers, expanded.centers, rtol=1e-10)
    np.testing.assert_array_equal(np.repeat(weighted.labels, counts), expanded.labels)
    assert weighted.wcss == pytest.approx(expanded.wcss, rel=1e-10)


def test_hand_computed_toy_inertia():
    # Two pairs at distance 1 apart: each centre sits mid-way, 0.5 from its points.
    # Weighted WCSS = (1 + 1) * 0.25 + (2 + 0.5) * 0.25... computed by hand below.
    x = np.array([[0.0, 0.0], [1.0, 0.0], [10.0, 0.0], [11.0, 0.0]])
    w = np.array([1.0, 1.0, 2.0, 2.0])
    result = kmeans(x, 2, sample_weight=w, init=np.array([[0.0, 0.0], [10.0, 0.0]]))
    np.testing.assert_allclose(np.sort(result.centers[:, 0]), [0.5, 10.5])
    assert result.wcss == pytest.approx(1 * 0.25 + 1 * 0.25 + 2 * 0.25 + 2 * 0.25)


def test_within_one_percent_of_sklearn_best_of_ten(photo_colors):
    features, weights = photo_colors
    for k in (3, 8):
        ours = kmeans(features, k, sample_weight=weights, n_init=4, seed=0)
        reference = KMeans(k, n_init=10, random_state=0).fit(features, sample_weight=weights)
        assert ours.wcss <= 1.01 * reference.inertia_


def test_empty_cluster_is_reseeded_far_away():
    x = np.array([[0.0], [0.1], [0.2], [10.0], [10.1]])
    # The third centre starts where no point will choose it.
    result = kmeans(x, 3, init=np.array([[0.1], [10.0], [1000.0]]), tol=0)
    assert np.bincount(result.labels, minlength=3).min() > 0
    assert result.wcss < 0.1


def test_fewer_distinct_points_than_k_leaves_clusters_empty():
    x = np.array([[0.0, 0.0]] * 5 + [[1.0, 1.0]] * 5)
    for seed in range(5):
        result = kmeans(x, 3, seed=seed)
        # Two distinct points, three clusters: each point keeps one cluster, one stays empty.
        assert sorted(np.bincount(result.labels, minlength=3).tolist()) == [0, 5, 5]
        assert len(set(result.labels[:5].tolist())) == 1
        assert len(set(result.labels[5:].tolist())) == 1
        assert result.labels[0] != result.labels[5]
        np.testing.assert_allclose(result.centers[result.labels[0]], [0.0, 0.0])
        np.testing.assert_allclose(result.centers[result.labels[5]], [1.0, 1.0])
        assert result.wcss == pytest.approx(0.0, abs=1e-12)


def test_assign_and_update_is_one_lloyd_step():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    w = rng.uniform(1, 3, size=200)
    start = x[:5].copy()
    labels, centers, inertia = assign_and_update(x, w, start)
    np.testing.assert_array_equal(labels, ((x[:, None] - start) ** 2).sum(2).argmin(1))
    for j in range(5):
        members = labels == j
        np.testing.assert_allclose(centers[j], np.average(x[members], axis=0, weights=w[members]))
    assert inertia == pytest.approx(float((w * ((x - centers[labels]) ** 2).sum(1)).sum()))


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (([[1.0]], 0), {}, "k must be a positive integer"),
        (([[1.0]], 2), {}, r"more than the number of points \(1\)"),
        (([[1.0], [2.0]], 1.5), {}, "k must be a positive integer"),
        (([[1.0], [2.0]], True), {}, "k must be a positive integer"),
        ((np.zeros((300, 1)), 257), {}, "over the limit of 256"),
        ((np.empty((0, 3)), 1), {}, "non-empty 2-D"),
        (([1.0, 2.0], 1), {}, "non-empty 2-D"),
        (([[np.nan], [1.0]], 1), {}, "NaN or infinity"),
        (([[1.0], [2.0]], 1), {"sample_weight": [1.0, -1.0]}, "non-negative"),
        (([[1.0], [2.0]], 1), {"sample_weight": [1.0]}, "shape"),
        (([[1.0], [2.0]], 1), {"init": "forgy"}, "init must be one of"),
        (([[1.0], [2.0]], 1), {"init": [[1.0, 2.0]]}, "init centres must be"),
        (([[1.0], [2.0]], 1), {"init": [[1.0]], "n_init": 2}, "n_init must be 1"),
        (([[1.0], [2.0]], 1), {"n_init": 0}, "n_init must be a positive"),
        (([[1.0], [2.0]], 1), {"max_iter": 0}, "max_iter must be a positive"),
        (([[1.0], [2.0]], 1), {"tol": -1}, "tol must be a non-negative"),
    ],
)
def test_invalid_input_says_what_to_fix(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        kmeans(*args, **kwargs)


@pytest.mark.skipif(not _accel.AVAILABLE, reason="numba is not installed")
@pytest.mark.parametrize("tol", [0.0, 1e-4])
def test_bounded_compiled_lloyd_equals_plain_numpy_lloyd(tol, monkeypatch, kernels_loaded):
    """Above 50k points the compiled engine skips points with Hamerly's bounds; it must take
    exactly the steps of the plain NumPy engine from the same start."""
    rng = np.random.default_rng(5)
    x = np.vstack([rng.normal(loc, 0.6, size=(20_000, 3)) for loc in (0, 2, 4)])
    w = rng.integers(1, 5, size=x.shape[0]).astype(float)
    start = x[rng.choice(x.shape[0], 6, replace=False)]
    fast = kmeans(x, 6, sample_weight=w, init=start, tol=tol)
    monkeypatch.setattr(_accel, "AVAILABLE", False)
    plain = kmeans(x, 6, sample_weight=w, init=start, tol=tol)
    assert fast.n_iter == plain.n_iter
    np.testing.assert_array_equal(fast.labels, plain.labels)
    np.testing.assert_allclose(fast.centers, plain.centers, rtol=1e-9)
    assert fast.wcss == pytest.approx(plain.wcss, rel=1e-9)


@pytest.mark.skipif(not _accel.AVAILABLE, reason="numba is not installed")
def test_restarts_in_threads_give_the_sequential_result(monkeypatch, kernels_loaded):
    # Starts are drawn in order before the restarts run, so threads change nothing. (Only
    # the compiled path runs restarts in threads.)
    rng = np.random.default_rng(7)
    x = np.vstack([rng.normal(c, 0.6, (1500, 3)) for c in (0, 3, 6, 9)])
    w = rng.integers(1, 5, x.shape[0]).astype(np.float64)
    monkeypatch.setattr(kmeans_module, "_THREADS_FROM", 10**12)
    sequential = kmeans(x, 6, sample_weight=w, n_init=6, seed=3)
    monkeypatch.setattr(kmeans_module, "_THREADS_FROM", 0)
    threaded = kmeans(x, 6, sample_weight=w, n_init=6, seed=3)
    np.testing.assert_array_equal(threaded.labels, sequential.labels)
    np.testing.assert_array_equal(threaded.centers, sequential.centers)
    assert threaded.wcss == sequential.wcss and threaded.n_iter == sequential.n_iter


@pytest.mark.skipif(not _accel.AVAILABLE, reason="numba is not installed")
@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 2**16),
    k=st.integers(1, 9),
    max_iter=st.integers(1, 40),
    tol=st.sampled_from([0.0, 1e-4, 1e-2]),
    far=st.booleans(),
)
def test_compiled_lloyd_run_takes_the_steps_of_the_python_loop(
    seed, k, max_iter, tol, far, kernels_loaded
):
    """A small compiled run goes through one kernel call (``_accel.lloyd_run``); the
    step-through's loop (``record_history``) runs the same compiled passes one by one from
    Python. Same labels, iterations and centres, also when a centre starts where no point
    chooses it (an empty cluster is re-seeded between kernel calls) or at `max_iter`."""
    rng = np.random.default_rng(seed)
    x = np.vstack([rng.normal(loc, 1.0, size=(60, 3)) for loc in (0, 3, 6)])
    w = rng.integers(1, 4, size=x.shape[0]).astype(float)
    start = x[rng.choice(x.shape[0], k, replace=False)]
    if far:
        start[-1] = 1e3  # serves no point: empty after the first pass
    calls = []
    run = _accel.lloyd_run

    def spy(*args):
        calls.append(args[5])  # the first iteration of the call
        return run(*args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_accel, "lloyd_run", spy)
        fast = kmeans(x, k, sample_weight=w, init=start, max_iter=max_iter, tol=tol)
    stepped = kmeans(
        x, k, sample_weight=w, init=start, max_iter=max_iter, tol=tol, record_history=True
    )
    assert calls and calls[0] == 1
    if far and k > 1:
        assert len(calls) >= 2 or max_iter == 1  # re-seeded between two calls
    assert (fast.n_iter, fast.converged) == (stepped.n_iter, stepped.converged)
    np.testing.assert_array_equal(fast.labels, stepped.labels)
    np.testing.assert_allclose(fast.centers, stepped.centers, rtol=1e-12, atol=1e-12)
    assert fast.wcss == pytest.approx(stepped.wcss, rel=1e-9, abs=1e-12)


@pytest.mark.skipif(not _accel.AVAILABLE, reason="numba is not installed")
def test_compiled_kmeans_plusplus_draws_what_numpy_draws(kernels_loaded):
    """The compiled seeding picks the same centres from the same random numbers and leaves
    the generator where NumPy's leaves it (so later restarts draw the same too); when every
    point sits on a centre before k are placed, it hands over to NumPy."""
    plusplus = kmeans_module._kmeans_plusplus
    calls = []
    kernel = _accel.kmeans_plusplus

    def spy(*args):
        calls.append(kernel(*args))
        return calls[-1]

    cases = []
    for seed in range(200):
        rng = np.random.default_rng(seed)
        n, d, k = int(rng.integers(20, 800)), int(rng.integers(1, 6)), int(rng.integers(1, 17))
        x = rng.normal(size=(n, d)) * 10 * rng.random()
        w = rng.random(n) * (rng.random(n) > 0.2)
        w[0] += 1.0
        cases.append((x, w, k, seed))
    grid = np.repeat(np.eye(3), 4, axis=0)  # three distinct points, five centres
    cases.append((grid, np.ones(12), 5, 0))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_accel, "kmeans_plusplus", spy)
        for x, w, k, seed in cases:
            x_sq = np.einsum("ij,ij->i", x, x)
            numpy_rng, compiled_rng = np.random.default_rng(seed), np.random.default_rng(seed)
            expected = plusplus(x, x_sq, w, k, numpy_rng)
            got = plusplus(x, x_sq, w, k, compiled_rng, compiled=True)
            np.testing.assert_array_equal(got, expected)
            assert compiled_rng.random() == numpy_rng.random()
    assert len(calls) == len(cases)
    assert calls[-1] == 3 and [c for c in calls[:-1]] == [case[2] for case in cases[:-1]]


@pytest.mark.parametrize("tol", [0.0, 1e-4])
@pytest.mark.parametrize("k", [1, 2, 7])
def test_bounded_numpy_lloyd_equals_plain_numpy_lloyd(tol, k, monkeypatch):
    """Without the kernels, Lloyd uses Hamerly's bounds in NumPy from the first pass on
    large inputs: the same labels, iterations and centres as the plain NumPy passes."""
    monkeypatch.setattr(_accel, "AVAILABLE", False)
    rng = np.random.default_rng(11 + k)
    x = np.vstack([rng.normal(loc, 0.8, size=(9_000, 3)) for loc in (0, 2, 4, 7)])
    w = rng.integers(1, 5, size=x.shape[0]).astype(float)
    start = x[rng.choice(x.shape[0], k, replace=False)]
    monkeypatch.setattr(kmeans_module, "_BOUNDS_ABOVE", 10**9)
    plain = kmeans(x, k, sample_weight=w, init=start, tol=tol)
    monkeypatch.setattr(kmeans_module, "_BOUNDS_ABOVE", 1)
    bounded = kmeans(x, k, sample_weight=w, init=start, tol=tol)
    assert bounded.n_iter == plain.n_iter and bounded.converged == plain.converged
    np.testing.assert_array_equal(bounded.labels, plain.labels)
    np.testing.assert_allclose(bounded.centers, plain.centers, rtol=1e-9, atol=1e-12)
    assert bounded.wcss == pytest.approx(plain.wcss, rel=1e-9)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 2**16),
    k=st.integers(1, 9),
    max_iter=st.integers(1, 12),
    scale=st.sampled_from([0.05, 1.0, 300.0]),
)
def test_bounded_numpy_lloyd_matches_plain_on_any_data(monkeypatch, seed, k, max_iter, scale):
    """Property: on random data at any scale, with any iteration cap (so runs that stop
    mid-way, with the last move pending), bounded and plain NumPy Lloyd agree."""
    monkeypatch.setattr(_accel, "AVAILABLE", False)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(int(rng.integers(k, 400)), 3)) * scale
    w = rng.integers(1, 9, size=x.shape[0]).astype(float)
    monkeypatch.setattr(kmeans_module, "_BOUNDS_ABOVE", 10**9)
    plain = kmeans(x, k, sample_weight=w, max_iter=max_iter, seed=seed)
    monkeypatch.setattr(kmeans_module, "_BOUNDS_ABOVE", 1)
    bounded = kmeans(x, k, sample_weight=w, max_iter=max_iter, seed=seed)
    np.testing.assert_array_equal(bounded.labels, plain.labels)
    assert bounded.n_iter == plain.n_iter
    np.testing.assert_allclose(bounded.centers, plain.centers, rtol=1e-9, atol=1e-9 * scale)
    assert bounded.wcss == pytest.approx(plain.wcss, rel=1e-9, abs=1e-12 * scale**2)


@pytest.mark.parametrize(("n", "k"), [(7, 3), (12_345, 200), (140_001, 8)])
def test_assign_matches_brute_force_across_chunks(n, k):
    """Nearest centre and squared distance, also where rows span several chunks (the last
    one short) and for many centres, against distances computed the plain way."""
    from core.engine.assign import assign

    rng = np.random.default_rng(n)
    x = rng.normal(size=(n, 3)) * 10
    centers = rng.normal(size=(k, 3)) * 10
    assert n <= 7 or n > assign_module._chunk_rows(k)  # several chunks in the big cases
    labels, distances = assign(x, np.einsum("ij,ij->i", x, x), centers)
    plain = ((x[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(labels, plain.argmin(axis=1))
    np.testing.assert_allclose(distances, plain.min(axis=1), atol=1e-9)
    # Last pass's labels, a tenth of them stale, read chunk by chunk (the last one short).
    stale = labels.copy()
    stale[::10] = rng.integers(0, k, stale[::10].shape[0])
    again, _, _ = assign_module.nearest(x, np.einsum("ij,ij->i", x, x), centers, previous=stale)
    np.testing.assert_array_equal(again, labels)
    # The second nearest (Hamerly's lower bounds), chunk by chunk too.
    _, _, second = assign_module.nearest(x, np.einsum("ij,ij->i", x, x), centers, second=True)
    np.testing.assert_allclose(second, np.sort(plain, axis=1)[:, 1], atol=1e-9)


@settings(max_examples=80, deadline=None)
@given(
    st.integers(1, 700),
    st.integers(1, 20),
    st.integers(1, 4),
    st.booleans(),
    st.integers(0, 2**16),
)
def test_numpy_nearest_search_is_the_textbook_one(n, k, d, grid, seed):
    """The NumPy path's nearest centre (lowest centre of equal distances), its distance and
    the second nearest, bit for bit against ``argmin``/``sort`` over the same BLAS distance
    block; and with last pass's labels (`previous`, partly stale) the same answer. Grid
    data makes many exact ties, where only the tie rule decides."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 4, (n, d)).astype(float) if grid else rng.random((n, d))
    centers = x[rng.integers(0, n, k)].copy()
    if grid and k > 1:
        centers[::2] = rng.integers(0, 4, centers[::2].shape)  # equal centres too
    x_sq = np.einsum("ij,ij->i", x, x)
    block = (-2.0 * centers) @ x.T + np.einsum("ij,ij->i", centers, centers)[:, None]
    ordered = np.sort(block, axis=0)
    labels, best, second = assign_module.nearest(x, x_sq, centers, second=True)
    np.testing.assert_array_equal(labels, block.argmin(axis=0))
    np.testing.assert_array_equal(best, np.maximum(ordered[0] + x_sq, 0.0))
    runner_up = np.maximum(ordered[1] + x_sq, 0.0) if k > 1 else np.full(n, np.inf)
    np.testing.assert_array_equal(second, runner_up)
    stale = labels.copy()
    flip = rng.random(n) < rng.random()
    stale[flip] = rng.integers(0, k, int(flip.sum()))
    again, again_best, _ = assign_module.nearest(x, x_sq, centers, previous=stale)
    np.testing.assert_array_equal(again, labels)
    np.testing.assert_array_equal(again_best, best)


def test_last_labels_are_read_from_the_rows_of_a_short_chunk():
    """A chunk shorter than the distance block reads each point's last centre from the
    block's full rows: a wrong stride would land in the stale tail of row 0, which here
    holds the minimum, and keep stale labels."""
    block = np.zeros((2, 10))
    out = block[:, :5]
    out[0], out[1] = 0.0, 1.0  # centre 0 is nearest to all five points
    low, labels = out.min(axis=0), np.empty(5, dtype=np.int32)
    stale = np.ones(5, dtype=np.int32)
    assert assign_module._keep_labels(block, out, low, stale, labels)
    np.testing.assert_array_equal(labels, np.zeros(5))


@pytest.mark.parametrize("path", ["numpy", "compiled"])
def test_bounded_lloyd_counts_the_iterations_before_a_cluster_empties(path, monkeypatch, request):
    """When a cluster empties during a bounded run, plain Lloyd redoes that iteration and
    re-seeds it: the run reports the iterations plain Lloyd reports, and stays within
    max_iter. Starts off the data empty clusters after a few iterations."""
    if path == "compiled":
        request.getfixturevalue("kernels_loaded")
        monkeypatch.setattr(kmeans_module, "_PLAIN_PASSES", 0)  # bounds from the first pass
    else:
        monkeypatch.setattr(_accel, "AVAILABLE", False)
    emptied = []
    reseed = kmeans_module._reseed_empty
    monkeypatch.setattr(
        kmeans_module, "_reseed_empty", lambda *args: emptied.append(1) or reseed(*args)
    )
    rng = np.random.default_rng(0)
    mismatches = cases = 0
    for _ in range(300):
        n, k = int(rng.integers(5, 40)), int(rng.integers(2, 6))
        x = rng.normal(size=(n, 2)) * rng.choice([1, 5])
        x[: n // 2] += rng.normal(size=2) * 10
        w = rng.integers(1, 5, n).astype(float)
        start = x[rng.integers(0, n, k)] + rng.normal(size=(k, 2)) * 3
        max_iter = int(rng.integers(2, 12))
        monkeypatch.setattr(kmeans_module, "_BOUNDS_ABOVE", 10**9)
        plain = kmeans(x, k, sample_weight=w, init=start, tol=0, max_iter=max_iter)
        before = len(emptied)
        monkeypatch.setattr(kmeans_module, "_BOUNDS_ABOVE", 1)
        bounded = kmeans(x, k, sample_weight=w, init=start, tol=0, max_iter=max_iter)
        if len(emptied) > before:  # a cluster emptied in the bounded run
            cases += 1
            mismatches += bounded.n_iter != plain.n_iter
            assert bounded.n_iter <= max_iter
            np.testing.assert_array_equal(bounded.labels, plain.labels)
    assert cases >= 20  # the case this test is for happened often enough to count
    assert mismatches == 0
