"""elbow(): a WCSS curve that never rises, and a knee where one clearly is."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from core.explore.elbow import elbow, find_knee
from core.results.segmentation import segment


def four_blobs(seed: int = 0) -> np.ndarray:
    """Four well-separated colours with noise: the elbow is at k = 4."""
    rng = np.random.default_rng(seed)
    centres = np.array([[30, 30, 30], [220, 40, 40], [40, 200, 60], [60, 60, 230]])
    labels = rng.integers(0, 4, size=(60, 60))
    pixels = centres[labels] + rng.normal(0, 6, size=(60, 60, 3))
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)


def test_knee_found_at_the_true_number_of_colours():
    result = elbow(four_blobs(), range(1, 10))
    assert result.knee == 4
    assert "Suggested k = 4" in result.message
    assert result.ks == tuple(range(1, 10))
    assert result.explained[0] == 0.0 and 0.9 < result.explained[3] < 1.0


def test_wcss_matches_segment(photo):
    result = elbow(photo, [2, 5])
    for k, wcss in zip(result.ks, result.wcss, strict=True):
        assert wcss <= segment(photo, k).wcss * (1 + 1e-9)


@settings(max_examples=25, deadline=None)
@given(
    arrays(np.uint8, st.tuples(st.integers(2, 10), st.integers(2, 10), st.just(3))),
    st.integers(0, 100),
)
def test_wcss_never_rises_with_k(image, seed):
    ks = range(1, min(8, image.shape[0] * image.shape[1]) + 1)
    result = elbow(image, ks, seed=seed, n_init=1, init="random")
    assert all(b <= a for a, b in zip(result.wcss, result.wcss[1:], strict=False))


def test_no_clear_knee_says_so():
    knee, message = find_knee(range(1, 9), [8, 7, 6, 5, 4, 3, 2, 1])
    assert knee is None
    assert "No clear elbow" in message
    knee, message = find_knee([1, 2], [5.0, 1.0])
    assert knee is None and "at least three" in message
    knee, message = find_knee([1, 2, 3], [0.0, 0.0, 0.0])
    assert knee is None and "too few colours" in message


def test_progress_is_reported_per_k(photo):
    calls = []
    elbow(photo, [3, 1, 2, 2], progress=lambda done, total, k: calls.append((done, total, k)))
    assert calls == [(1, 3, 1), (2, 3, 2), (3, 3, 3)]


@pytest.mark.parametrize(
    ("ks", "match"),
    [
        ([], "ks is empty"),
        ([0, 2], "positive integer"),
        ([1.5], "positive integer"),
        (5, "iterable"),
        ([10**6], "over the limit of 64"),
        ([30], "more than the number of pixels"),
    ],
)
def test_invalid_ks(photo, ks, match):
    with pytest.raises(ValueError, match=match):
        elbow(photo[:5, :5], ks)
