"""kmeans_steps(): the textbook run, iteration by iteration."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from core.engine.kmeans import kmeans
from core.explore.steps import kmeans_steps


@pytest.mark.parametrize("init", ["k-means++", "random"])
def test_steps_follow_lloyd_to_convergence(photo, init):
    steps = kmeans_steps(photo, 4, color_space="rgb", init=init, seed=2)
    assert steps.n_iter >= 2
    assert all(b <= a * (1 + 1e-12) for a, b in itertools.pairwise(steps.wcss))
    assert steps.n_changed[0] == photo.shape[0] * photo.shape[1]
    assert steps.n_changed[-1] == 0  # converged: nothing moved in the last assignment
    # Each centre set is the member mean of the previous assignment (Lloyd's update).
    colors, counts = np.unique(photo.reshape(-1, 3), axis=0, return_counts=True)
    x = colors / 255.0
    for i in range(1, steps.n_iter):
        labels = ((x[:, None] - steps.centers[i - 1]) ** 2).sum(2).argmin(1)
        for j in np.unique(labels):
            mean = np.average(x[labels == j], axis=0, weights=counts[labels == j])
            np.testing.assert_allclose(steps.centers[i][j], mean, atol=1e-9)


def test_segmented_at_each_iteration_uses_that_iterations_palette(photo):
    steps = kmeans_steps(photo, 3, color_space="rgb", seed=0)
    first, last = steps.segmented(0), steps.segmented(steps.n_iter - 1)
    assert first.shape == photo.shape
    for image, i in [(first, 0), (last, steps.n_iter - 1)]:
        used = {tuple(c) for c in image.reshape(-1, 3).tolist()}
        assert used <= {tuple(c) for c in steps.palette(i).tolist()}
    final = kmeans(photo.reshape(-1, 3) / 255.0, 3, init=steps.centers[0], tol=0)
    np.testing.assert_allclose(final.centers, steps.centers[-1], atol=1e-9)
    with pytest.raises(IndexError, match=r"iteration must be an integer in \[0, "):
        steps.segmented(steps.n_iter)


def test_too_many_clusters_for_the_colours_warns_as_segment_does(blocks):
    # The same rule as segment(): k <= pixels; fewer colours than k warns, clusters stay empty.
    with pytest.warns(UserWarning, match="only 4 distinct colour"):
        steps = kmeans_steps(blocks, 5)
    assert steps.n_iter == 1 and steps.wcss == (0.0,)
    np.testing.assert_array_equal(steps.segmented(0), blocks)
    with pytest.raises(ValueError, match="more than the number of pixels"):
        kmeans_steps(blocks[:1, :2], 3)
