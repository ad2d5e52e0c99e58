"""The "Understand k-means" tab: every panel renders through AppTest (figures: test_figures)."""

from __future__ import annotations

import re

import pytest
from helpers import APP
from streamlit.testing.v1 import AppTest

from dashboard.explore import ENGINE_SIZES, PANELS


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
        app.session_state["position_weight"] = 1.0
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
        # The default compares on a small copy, and says so.
        [compared] = [c.value for c in app.caption if c.value.startswith("Compared on")]
        pixels = int(re.search(r"\(([\d,]+)\)", compared)[1].replace(",", ""))
        assert 0.9 * ENGINE_SIZES[app.radio(key="engines_size").value] < pixels
        assert pixels <= next(iter(ENGINE_SIZES.values())) < 640 * 427
        assert any(
            "Compared on" in c.value and "same for every engine" in c.value for c in app.caption
        )
    else:
        assert len(app.dataframe) == 1 and len(app.get("plotly_chart")) == 1
