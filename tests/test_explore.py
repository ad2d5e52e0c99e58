"""The "Understand k-means" tab: every panel renders through AppTest, and its figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest

from core.figures import compression_figure, filter_bank_figure, steps_figure, wcss_curves_figure
from core.steps import kmeans_steps
from core.texture import LM_FILTER_NAMES, lm_filter_bank
from dashboard.explore import PANELS

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")


@pytest.fixture(scope="module")
def app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    at.session_state["view"] = "Understand k-means"
    return at


@pytest.mark.parametrize("panel", list(PANELS))
def test_each_panel_renders(app, panel):
    app.session_state["explore"] = panel
    if panel == "engines":
        app.session_state["run_engines"] = True
    if panel == "features":
        app.session_state["spatial_weight"] = 1.0
        app.session_state["texture_weight"] = 0.5
        app.session_state["min_region"] = 20
    app.run()
    assert not app.exception and not app.error
    if panel == "sweep":
        assert len(app.get("image")) == 7  # one per default k: 2, 3, 4, 6, 8, 12, 16
        assert len(app.get("download_button")) >= 2
    elif panel == "steps":
        assert len(app.get("image")) == 2 and len(app.get("plotly_chart")) == 2
    elif panel == "features":
        assert len(app.get("image")) == 2
        assert any("Clean-up moved" in c.value for c in app.caption)
    elif panel == "engines":
        assert len(app.dataframe) == 1
    else:
        assert len(app.dataframe) == 1 and len(app.get("plotly_chart")) == 1


def test_wcss_curves_and_compression_figures():
    figure = wcss_curves_figure(
        {"a": ([1, 2, 3], [3.0, 2.0, 1.0]), "b": ([1, 2], [4.0, 1.0])},
        title="t",
        x_title="k",
        marker_x=2,
    )
    assert [trace.name for trace in figure.data] == ["a", "b"]
    assert any(shape.x0 == 2 for shape in figure.layout.shapes)
    bars_and_line = compression_figure([2, 4], [0.5, 1.0], [20.0, 25.0])
    assert [type(t) for t in bars_and_line.data] == [go.Bar, go.Scatter]
    assert list(bars_and_line.data[1].y) == [20.0, 25.0]


def test_steps_figure_draws_a_path_per_centroid(photo):
    steps = kmeans_steps(photo, 3, seed=1)
    figure = steps_figure(steps, photo, 2, max_points=300)
    assert len(figure.data) == 1 + steps.k
    assert len(figure.data[0].x) == 300
    for j, trace in enumerate(figure.data[1:]):
        np.testing.assert_allclose(trace.x, [c[j, 0] for c in steps.centers[:3]])


def test_filter_bank_figure_has_48_heatmaps():
    figure = filter_bank_figure(lm_filter_bank(), LM_FILTER_NAMES)
    assert len(figure.data) == 48 and all(isinstance(t, go.Heatmap) for t in figure.data)


def test_compression_psnr_axis_has_its_own_round_ticks():
    figure = compression_figure([2, 4, 8], [1.0, 2.0, 3.0], [16.34, 19.01, 21.68])
    assert figure.layout.yaxis2.tickmode == "auto"
