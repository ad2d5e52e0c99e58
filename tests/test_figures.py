"""core.outputs.figures: tested by structure (trace types, counts, colours), never by pixels."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

import core
from core.explore.elbow import Elbow
from core.explore.steps import kmeans_steps
from core.features.texture import LM_FILTER_NAMES, lm_filter_bank
from core.outputs import figures


@pytest.fixture(scope="module")
def seg(photo) -> core.Segmentation:
    return core.segment(photo, 5, color_space="lab", seed=0)


def test_scatter3d_has_a_pixel_trace_and_a_centroid_trace(seg, photo):
    figure = figures.scatter3d_figure(seg, photo, max_points=2_000, seed=1)
    assert isinstance(figure, go.Figure)
    assert [type(t) for t in figure.data] == [go.Scatter3d, go.Scatter3d]
    pixels, centroids = figure.data
    assert len(pixels.x) == len(pixels.y) == len(pixels.z) == 2_000
    assert len(pixels.marker.color) == 2_000
    assert len(pixels.customdata) == 2_000
    assert set(np.asarray(pixels.customdata)[:, 0].astype(int).tolist()) <= set(range(seg.k))
    assert len(centroids.x) == seg.k
    assert centroids.marker.symbol == "diamond"
    assert centroids.marker.line.width > 0
    np.testing.assert_allclose(centroids.x, seg.centers[:, 0])
    np.testing.assert_allclose(centroids.z, seg.centers[:, 2])


def test_scatter3d_sample_is_bounded_and_reproducible(seg, photo):
    first = figures.scatter3d_figure(seg, photo, max_points=500, seed=7)
    again = figures.scatter3d_figure(seg, photo, max_points=500, seed=7)
    other = figures.scatter3d_figure(seg, photo, max_points=500, seed=8)
    assert len(first.data[0].x) == 500
    np.testing.assert_array_equal(first.data[0].x, again.data[0].x)
    np.testing.assert_array_equal(first.data[0].marker.color, again.data[0].marker.color)
    assert not np.array_equal(first.data[0].x, other.data[0].x)


def test_scatter3d_shows_every_pixel_of_a_small_image(seg, photo):
    figure = figures.scatter3d_figure(seg, photo)  # default max_points=20,000 > 16,960 pixels
    assert len(figure.data[0].x) == photo.shape[0] * photo.shape[1]


def test_scatter3d_colours_points_by_pixel_or_by_cluster(seg, photo):
    by_cluster = figures.scatter3d_figure(seg, photo, max_points=300, color_by="cluster")
    # One distinct hue per cluster (similar greens told apart); hover gives the palette.
    customdata = np.asarray(by_cluster.data[0].customdata)
    labels = customdata[:, 0].astype(int)
    expected = [figures.CLUSTER_HUES[i] for i in labels]
    assert list(by_cluster.data[0].marker.color) == expected
    assert len(set(figures.CLUSTER_HUES[: seg.k])) == seg.k
    assert list(customdata[:, 1]) == [seg.hex_colors[i] for i in labels]
    assert by_cluster.data[1].marker.size < 10 and by_cluster.data[1].marker.opacity == 1.0
    by_pixel = figures.scatter3d_figure(seg, photo, max_points=300, color_by="pixel")
    assert len(set(by_pixel.data[0].marker.color)) > seg.k
    # The figure serialises (what st.plotly_chart sends) with one colour per point.
    assert len(by_pixel.to_dict()["data"][0]["marker"]["color"]) == 300


@pytest.mark.parametrize("space", list(core.COLOR_SPACES))
def test_scatter3d_axis_titles_follow_the_colour_space(photo, space):
    result = core.segment(photo, 3, color_space=space)
    scene = figures.scatter3d_figure(result, photo, max_points=100).layout.scene
    titles = (scene.xaxis.title.text, scene.yaxis.title.text, scene.zaxis.title.text)
    assert titles == core.AXIS_TITLES[space]


def test_scatter3d_refuses_the_wrong_image_or_options(seg, photo):
    with pytest.raises(ValueError, match="does not match the segmentation"):
        figures.scatter3d_figure(seg, photo[:-1])
    with pytest.raises(ValueError, match="color_by must be 'pixel' or 'cluster'"):
        figures.scatter3d_figure(seg, photo, color_by="hue")
    with pytest.raises(ValueError, match="max_points must be a positive integer"):
        figures.scatter3d_figure(seg, photo, max_points=0)
    with pytest.raises(ValueError, match="uint8 RGB image"):
        figures.scatter3d_figure(seg, photo.astype(np.float64))


def test_sample_pixels_is_sorted_distinct_bounded_and_seeded():
    chosen = figures.sample_pixels(10_000, 300, seed=3)
    assert len(chosen) == 300 == len(np.unique(chosen))
    assert np.all(np.diff(chosen) > 0) and chosen.max() < 10_000
    np.testing.assert_array_equal(chosen, figures.sample_pixels(10_000, 300, seed=3))
    np.testing.assert_array_equal(figures.sample_pixels(50, 300), np.arange(50))


def test_elbow_figure_marks_the_knee_and_the_current_k():
    elbow = Elbow(ks=(1, 2, 3, 4, 5), wcss=(100.0, 40.0, 15.0, 12.0, 10.0), knee=3, message="")
    figure = figures.elbow_figure(elbow, chosen_k=5)
    line, star = figure.data
    assert list(line.x) == [1, 2, 3, 4, 5] and list(line.y) == [100.0, 40.0, 15.0, 12.0, 10.0]
    assert list(star.x) == [3] and list(star.y) == [15.0]
    assert star.marker.symbol == "star" and "suggested k = 3" in star.name
    [vline] = [shape for shape in figure.layout.shapes if shape.type == "line"]
    assert vline.x0 == vline.x1 == 5


def test_elbow_figure_without_a_knee_has_only_the_curve(photo):
    elbow = Elbow(ks=(1, 2, 3), wcss=(3.0, 2.0, 1.0), knee=None, message="No clear elbow.")
    figure = figures.elbow_figure(elbow)
    assert len(figure.data) == 1 and not figure.layout.shapes
    real = core.elbow(photo, range(1, 7))
    assert len(figures.elbow_figure(real).data) == (2 if real.knee is not None else 1)


def test_shares_bars_are_the_clusters_in_their_colours(seg):
    figure = figures.shares_figure(seg)
    [bars] = figure.data
    assert isinstance(bars, go.Bar) and bars.orientation == "h"
    assert list(bars.marker.color) == seg.hex_colors
    assert len(bars.y) == seg.k
    np.testing.assert_allclose(sum(bars.x), 100.0)
    np.testing.assert_allclose(bars.x, seg.shares * 100)


def test_wcss_curves_and_compression_figures():
    figure = figures.wcss_curves_figure(
        {"a": ([1, 2, 3], [3.0, 2.0, 1.0]), "b": ([1, 2], [4.0, 1.0])},
        title="t",
        x_title="k",
        marker_x=2,
    )
    assert [trace.name for trace in figure.data] == ["a", "b"]
    assert any(shape.x0 == 2 for shape in figure.layout.shapes)
    bars_and_line = figures.compression_figure([2, 4], [0.5, 1.0], [20.0, 25.0])
    assert [type(t) for t in bars_and_line.data] == [go.Bar, go.Scatter]
    assert list(bars_and_line.data[1].y) == [20.0, 25.0]


def test_steps_figure_draws_a_path_per_centroid(photo):
    steps = kmeans_steps(photo, 3, seed=1)
    figure = figures.steps_figure(steps, photo, 2, max_points=300)
    assert len(figure.data) == 1 + steps.k
    assert len(figure.data[0].x) == 300
    for j, trace in enumerate(figure.data[1:]):
        np.testing.assert_allclose(trace.x, [c[j, 0] for c in steps.centers[:3]])


def test_filter_bank_figure_has_48_heatmaps():
    figure = figures.filter_bank_figure(lm_filter_bank(), LM_FILTER_NAMES)
    assert len(figure.data) == 48 and all(isinstance(t, go.Heatmap) for t in figure.data)


def test_compression_psnr_axis_has_its_own_round_ticks():
    figure = figures.compression_figure([2, 4, 8], [1.0, 2.0, 3.0], [16.34, 19.01, 21.68])
    assert figure.layout.yaxis2.tickmode == "auto"


def test_elbow_of_a_one_colour_image_has_no_negative_axis():
    import warnings

    from core.explore.elbow import elbow

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        curve = elbow(np.full((4, 5, 3), 120, np.uint8), range(1, 5))
    assert curve.knee is None and "does not fall" in curve.message
    assert figures.elbow_figure(curve, chosen_k=2).layout.yaxis.rangemode == "nonnegative"


def test_legends_sit_below_the_plot_not_on_the_title(seg, photo):
    from core.explore.elbow import elbow

    curve = elbow(photo, range(1, 5), n_init=1)
    for figure in (
        figures.elbow_figure(curve, chosen_k=2),
        figures.scatter3d_figure(seg, photo, max_points=200),
        figures.wcss_curves_figure({"a": ([1, 2], [2.0, 1.0])}, title="t", x_title="k"),
    ):
        assert figure.layout.legend.y <= 0 and figure.layout.legend.yanchor == "top"


def test_3d_scenes_are_seen_from_far_enough_to_fit(seg, photo):
    figure = figures.scatter3d_figure(seg, photo, max_points=100)
    eye = figure.layout.scene.camera.eye
    assert min(eye.x, eye.y, eye.z) > 1.1 and (eye.x**2 + eye.y**2 + eye.z**2) ** 0.5 > 2.3
