"""core.engine.kmeans_nd: exact Lloyd on every pixel, against brute force and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from core.accel import compiled as _accel
from core.engine.kmeans_nd import kmeans_features, label_features


def brute_lloyd(x, centers, max_iter=300):
    """Textbook Lloyd in float64 until no label changes: the oracle."""
    x = x.astype(np.float64)
    centers = centers.astype(np.float64).copy()
    labels = None
    for _ in range(max_iter):
        distances = ((x[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
        new = distances.argmin(axis=1)
        if labels is not None and (new == labels).all():
            break
        labels = new
        for j in range(centers.shape[0]):
            if (labels == j).any():
                centers[j] = x[labels == j].mean(axis=0)
    inertia = ((x - centers[labels]) ** 2).sum()
    return labels, centers, inertia


def blobs(n=4000, d=4, k=5, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    means = rng.normal(0, 4, (k, d))
    which = rng.integers(0, k, n)
    return (means[which] + rng.normal(0, 1, (n, d))).astype(dtype)


def recomputed(x, labels, k):
    x = x.astype(np.float64)
    centers = np.array([x[labels == j].mean(axis=0) for j in range(k)])
    return centers, float(((x - centers[labels]) ** 2).sum())


@pytest.fixture(params=["compiled", "numpy"])
def path(request, monkeypatch):
    if request.param == "numpy":
        monkeypatch.setattr(_accel, "enabled", lambda work=None: False)
    elif not _accel.AVAILABLE:  # pragma: no cover
        pytest.skip("numba is not installed")
    return request.param


def test_same_as_brute_force_lloyd_from_the_same_start(path):
    rng = np.random.default_rng(1)
    x = rng.random((300, 3)).astype(np.float32)
    init = x[[0, 1, 2, 3, 4]].astype(np.float64)
    result = kmeans_features(x, 5, init=init, tol=0)
    labels, centers, inertia = brute_lloyd(x, init)
    np.testing.assert_array_equal(result.labels, labels)
    np.testing.assert_allclose(result.centers, centers, rtol=1e-9, atol=1e-12)
    assert result.wcss == pytest.approx(inertia, rel=1e-9)
    assert result.converged


def test_bounds_are_exact_over_many_iterations():
    # Overlapping blobs make Lloyd take many small steps: the bounds prune most points, and
    # the compiled path must still agree with the NumPy one label for label.
    x = blobs(20_000, d=5, k=8, seed=3, dtype=np.float32)
    x += np.random.default_rng(3).normal(0, 3, x.shape).astype(np.float32)
    init = x[:8].astype(np.float64)
    compiled = kmeans_features(x, 8, init=init, tol=0)
    _accel_enabled = _accel.enabled
    try:
        _accel.enabled = lambda work=None: False  # type: ignore[assignment]
        plain = kmeans_features(x, 8, init=init, tol=0)
    finally:
        _accel.enabled = _accel_enabled  # type: ignore[assignment]
    assert compiled.n_iter > 10
    np.testing.assert_array_equal(compiled.labels, plain.labels)
    np.testing.assert_allclose(compiled.centers, plain.centers, rtol=1e-9)


def test_wcss_within_1_percent_of_sklearn_best_of_10(path):
    from sklearn.cluster import KMeans

    x = blobs(6000, d=4, k=6, seed=2)
    x[:, 0] *= 3  # unequal spreads
    ours = kmeans_features(x, 8)
    best = KMeans(8, n_init=10, random_state=0).fit(x.astype(np.float64)).inertia_
    assert ours.wcss <= 1.01 * best


def test_fit_pixels_labels_every_pixel_with_the_fitted_centres(path):
    x = blobs(5000, d=3, k=4, seed=4)
    result = kmeans_features(x, 4, fit_pixels=500, sample_size=200)
    distances = ((x[:, None, :].astype(np.float64) - result.centers[None]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(result.labels, distances.argmin(axis=1))
    assert result.wcss == pytest.approx(distances.min(axis=1).sum(), rel=1e-9)
    full = kmeans_features(x, 4)
    assert result.wcss <= 1.05 * full.wcss


def test_label_features_is_nearest_centre():
    x = blobs(1000, d=2, k=3, seed=5)
    centers = np.array([[0.0, 0.0], [3.0, 3.0], [-3.0, 2.0]])
    labels, inertia = label_features(x, centers)
    distances = ((x[:, None, :].astype(np.float64) - centers[None]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(labels, distances.argmin(axis=1))
    assert inertia == pytest.approx(distances.min(axis=1).sum())
    with pytest.raises(ValueError, match="agree in d"):
        label_features(x, centers[:, :1])


def test_an_empty_start_cluster_is_reseeded(path):
    x = blobs(2000, d=2, k=4, seed=6)
    init = np.vstack([x[:3].astype(np.float64), [[1e6, 1e6]]])  # the last serves no pixel
    result = kmeans_features(x, 4, init=init)
    assert set(np.unique(result.labels)) == {0, 1, 2, 3}
    assert np.abs(result.centers).max() < 100


def test_deterministic_and_integer_input_accepted():
    x = (blobs(3000, d=4, k=5, seed=7) * 100 + 1000).astype(np.uint16)
    a = kmeans_features(x, 5, seed=3)
    b = kmeans_features(x, 5, seed=3)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.wcss == b.wcss


def test_errors_say_what_to_fix():
    x = blobs(100, d=2)
    with pytest.raises(ValueError, match="NaN or infinity"):
        kmeans_features(np.where(np.arange(200).reshape(100, 2) == 5, np.nan, x), 2)
    with pytest.raises(ValueError, match="between 1 and the number of pixels"):
        kmeans_features(x, 101)
    with pytest.raises(ValueError, match="non-empty 2-D"):
        kmeans_features(np.zeros((0, 3), np.float32), 1)
    with pytest.raises(ValueError, match="fit_pixels must be an integer of at least k"):
        kmeans_features(x, 5, fit_pixels=3)
    with pytest.raises(ValueError, match="n_init must be a positive integer"):
        kmeans_features(x, 2, n_init=0)
    with pytest.raises(ValueError, match="init must be a finite"):
        kmeans_features(x, 2, init=np.zeros((3, 2)))
    with pytest.raises(ValueError, match="tol"):
        kmeans_features(x, 2, tol=-1)


@settings(max_examples=30, deadline=None)
@given(
    arrays(
        np.float32,
        st.tuples(st.integers(2, 80), st.integers(1, 5)),
        elements=st.floats(-100, 100, width=32),
    ),
    st.integers(1, 6),
    st.integers(0, 2**16),
)
def test_guarantees(x, k, seed):
    k = min(k, x.shape[0])
    result = kmeans_features(x, k, seed=seed, n_init=2, tol=0)
    labels = result.labels
    assert labels.dtype == np.int32 and labels.shape == (x.shape[0],)
    assert labels.min() >= 0 and labels.max() < k
    x64 = x.astype(np.float64)
    distances = ((x64[:, None, :] - result.centers[None]) ** 2).sum(axis=2)
    # Every label is a nearest centre (ties allowed), and every used centre is its mean.
    own = distances[np.arange(x.shape[0]), labels]
    np.testing.assert_allclose(own, distances.min(axis=1), rtol=1e-9, atol=1e-6)
    for j in np.unique(labels):
        np.testing.assert_allclose(
            result.centers[j], x64[labels == j].mean(axis=0), rtol=1e-9, atol=1e-9
        )
    assert result.wcss == pytest.approx(own.sum(), rel=1e-7, abs=1e-6)
    again = kmeans_features(x, k, seed=seed, n_init=2, tol=0)
    np.testing.assert_array_equal(again.labels, labels)
