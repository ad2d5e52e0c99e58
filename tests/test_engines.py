"""core.engine.engines: each engine on its own, with the settings segment() gives it."""

from __future__ import annotations

import numpy as np
import pytest

from core.engine.engines import fit_colors, opencv_kmeans, sklearn_kmeans
from core.engine.kmeans import kmeans
from core.features.colorspaces import rgb_to_features
from core.features.colortable import ColorTable
from core.validation import FitParams


def test_weighted_colours_give_the_wcss_of_every_pixel(photo):
    table = ColorTable.from_image(photo)
    features = rgb_to_features(table.colors, "rgb")
    params = FitParams(seed=0, n_init=4)
    for engine in ("kseg", "sklearn"):
        run = fit_colors(features, table, 4, params, engine=engine)
        assert run.labels.shape == (table.n_colors,)  # one label per distinct colour
        pixels = rgb_to_features(photo.reshape(-1, 3), "rgb")
        reference = kmeans(pixels, 4, init=run.centers, n_init=1, max_iter=1)
        # One more Lloyd step from the engine's centres cannot lower WCSS by more than a hair.
        assert reference.wcss <= run.wcss * (1 + 1e-9) + 1e-12
        assert run.wcss <= 1.02 * reference.wcss


def test_fewer_colours_than_k_gives_every_colour_its_own_cluster(blocks):
    table = ColorTable.from_image(blocks)
    run = fit_colors(rgb_to_features(table.colors, "lab"), table, 6, FitParams())
    assert sorted(run.labels.tolist()) == [0, 1, 2, 3] and run.wcss == 0.0
    assert run.centers.shape == (6, 3)


def test_sklearn_weights_equal_repeated_points():
    points = np.array([[0.0], [1.0], [10.0], [11.0]])
    weights = np.array([3.0, 1.0, 1.0, 2.0])
    weighted = sklearn_kmeans(points, 2, FitParams(), sample_weight=weights)
    repeated = sklearn_kmeans(np.repeat(points, weights.astype(int), axis=0), 2, FitParams())
    assert weighted.wcss == pytest.approx(repeated.wcss)
    np.testing.assert_allclose(np.sort(weighted.centers, axis=0), [[0.25], [32 / 3]])


def test_opencv_is_seeded_and_reports_no_iterations():
    points = np.random.default_rng(0).normal(size=(300, 3))
    params = FitParams(seed=4, n_init=2)
    first, again = opencv_kmeans(points, 5, params), opencv_kmeans(points, 5, params)
    np.testing.assert_array_equal(first.labels, again.labels)
    assert first.n_iter == params.max_iter and not first.converged
    assert first.labels.shape == (300,) and first.centers.shape == (5, 3)
