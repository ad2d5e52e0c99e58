"""Figures by structure: trace types, counts, colours — not pixels."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from core.elbow import Elbow, elbow
from core.figures import elbow_figure, sample_pixels, scatter3d_figure, shares_figure
from core.segmentation import segment


@pytest.fixture(scope="module")
def result(photo):
    return segment(photo, 5, color_space="lab")


def test_scatter_has_sampled_pixels_and_k_centroids(photo, result):
    figure = scatter3d_figure(result, photo, max_points=1000, seed=3)
    pixels, centroids = figure.data
    assert isinstance(pixels, go.Scatter3d) and isinstance(centroids, go.Scatter3d)
    assert len(pixels.x) == 1000
    assert len(centroids.x) == result.k
    np.testing.assert_allclose(centroids.x, result.centers[:, 0])
    assert figure.layout.scene.zaxis.title.text == "L*"
    again = scatter3d_figure(result, photo, max_points=1000, seed=3)
    np.testing.assert_array_equal(again.data[0].x, pixels.x)
    other = scatter3d_figure(result, photo, max_points=1000, seed=4)
    assert not np.array_equal(other.data[0].x, pixels.x)


def test_scatter_colours_by_pixel_or_cluster(photo, result):
    by_cluster = scatter3d_figure(result, photo, max_points=500, color_by="cluster")
    palette = {f"rgb({r},{g},{b})" for r, g, b in result.palette.tolist()}
    assert set(by_cluster.data[0].marker.color) <= palette
    by_pixel = scatter3d_figure(result, photo, max_points=500, color_by="pixel")
    assert len(set(by_pixel.data[0].marker.color)) > result.k
    with pytest.raises(ValueError, match="color_by"):
        scatter3d_figure(result, photo, color_by="hue")
    with pytest.raises(ValueError, match="does not match"):
        scatter3d_figure(result, photo[:10])


def test_small_images_show_every_pixel(blocks):
    assert len(sample_pixels(600, 20_000)) == 600
    small = segment(blocks, 2)
    assert len(scatter3d_figure(small, blocks).data[0].x) == blocks.shape[0] * blocks.shape[1]


def test_elbow_figure_marks_the_knee_and_the_chosen_k(photo):
    curve = elbow(photo, range(1, 8))
    figure = elbow_figure(curve, chosen_k=3)
    assert list(figure.data[0].x) == list(curve.ks)
    assert list(figure.data[0].y) == pytest.approx(list(curve.wcss))
    if curve.knee is not None:
        assert figure.data[1].x == (curve.knee,)
    assert any(shape.x0 == 3 for shape in figure.layout.shapes)
    flat = Elbow(ks=(1, 2, 3), wcss=(3.0, 2.0, 1.0), knee=None, message="none")
    assert len(elbow_figure(flat).data) == 1


def test_shares_bars_use_the_palette_colours(result):
    figure = shares_figure(result)
    (bars,) = figure.data
    assert list(bars.marker.color) == result.hex_colors
    np.testing.assert_allclose(bars.x, result.fractions * 100)
