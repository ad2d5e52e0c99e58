"""The dashboard's pixels that don't count: every tab leaves out what the segmentation does."""

from __future__ import annotations

import shlex

import numpy as np
import plotly.io
import pytest
from helpers import APP, png
from streamlit.testing.v1 import AppTest

import core
from core.explore.steps import kmeans_steps
from core.inputs.masking import MaskOptions
from dashboard.controls import UPLOAD
from dashboard.pipeline import CENTROID_OUTLINE


def logo() -> np.ndarray:
    """Three inks on a transparent background (white under it) and an opaque off-white
    band: 40 x 50 px, so the dashboard works on every pixel."""
    rgba = np.zeros((40, 50, 4), np.uint8)
    rgba[:, :, :3] = 255
    rgba[4:20, 4:24] = (200, 30, 40, 255)
    rgba[22:36, 4:24] = (20, 60, 180, 255)
    rgba[4:36, 28:46] = (250, 200, 20, 255)
    rgba[37:, :, :3] = 243
    rgba[37:, :, 3] = 255
    return rgba


def chart_data(at: AppTest, index: int = 0) -> tuple:
    """The traces of a chart as the browser gets them (arrays decoded)."""
    return plotly.io.from_json(at.get("plotly_chart")[index].proto.spec).data


@pytest.fixture(scope="module")
def logo_app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["image"] = UPLOAD
    at.session_state["k_max"] = 5
    at.run()
    at.file_uploader(key="upload").set_value(("logo.png", png(logo()), "image/png"))
    return at.run()


def elbow_oracle(image: np.ndarray, mask: object) -> list[float]:
    return list(core.elbow(image, range(1, 6), mask=mask).wcss)


def test_elbow_tab_leaves_transparent_pixels_out(logo_app):
    at = logo_app
    at.session_state["view"] = "Choosing k"
    at.run()
    assert not at.exception and not at.error
    wcss = chart_data(at)[0].y
    rgba = logo()
    np.testing.assert_allclose(wcss, elbow_oracle(rgba, "auto"), rtol=1e-9)
    assert not np.allclose(wcss, elbow_oracle(rgba, None), rtol=1e-3)
    # The sidebar's "leave out one colour" reaches the elbow too (and its cache key).
    at.session_state["ignore_color_on"] = True
    at.session_state["ignore_color"] = "#f5f5f5"
    at.session_state["color_tolerance"] = 4
    at.run()
    assert not at.exception and not at.error
    counted = MaskOptions(ignore_color="#f5f5f5", color_tolerance=4).valid(rgba)
    assert counted.sum() == (rgba[:, :, 3] > 0).sum() - 3 * 50  # the band is gone
    np.testing.assert_allclose(chart_data(at)[0].y, elbow_oracle(rgba, counted), rtol=1e-9)
    assert chart_data(at)[0].y[2] == pytest.approx(0.0, abs=1e-6)  # three inks, k = 3
    # And to the 3D scatter: one point per pixel that counts, none of the band's.
    at.session_state["view"] = "Colour space"
    at.run()
    points = chart_data(at)[0]
    assert len(points.customdata) == counted.sum()  # (cluster, hex) per point
    colors = {tuple(int(c) for c in text[4:-1].split(",")) for text in points.marker.color}
    assert (243, 243, 243) not in colors and (255, 255, 255) not in colors
    # And to the recipe's command, which leaves out the same pixels.
    at.session_state["view"] = "Segmentation"
    at.session_state["reproduce"] = True  # the expander draws its command when open
    at.run()
    command = next(code.value for code in at.code if code.value.startswith("kseg segment"))
    words = shlex.split(command)
    assert words[words.index("--ignore-color") + 1] == "#f5f5f5"
    assert words[words.index("--color-tolerance") + 1] == "4"
    assert "left out" in " ".join(caption.value for caption in at.caption)


def test_sweep_and_steps_leave_the_same_pixels_out(logo_app):
    at = logo_app
    at.session_state["ignore_color_on"] = False
    at.session_state["k"] = 3
    at.session_state["view"] = "Understand k-means"
    at.session_state["explore"] = "sweep"
    at.session_state["sweep_ks"] = [2, 3]
    at.run()
    assert not at.exception and not at.error
    rgba = logo()
    wcss = chart_data(at)[0].y
    expected = [core.segment(rgba, k).wcss for k in (2, 3)]
    np.testing.assert_allclose(wcss, expected, rtol=1e-9)
    assert any("left out here too" in caption.value for caption in at.caption)
    assert any("`kseg sweep logo.png --ks 2,3" in c.value for c in at.caption)  # its file
    at.session_state["explore"] = "steps"
    at.run()
    assert not at.exception and not at.error
    first = chart_data(at)[0]  # WCSS by iteration of k-means++
    steps = kmeans_steps(rgba, 3, seed=0)
    np.testing.assert_allclose(first.y, steps.wcss, rtol=1e-9)
    paths = chart_data(at, 1)[1:]  # one trace per centroid, outlined in a grey both themes show
    assert len(paths) == 3
    assert {p.line.color for p in paths} == {CENTROID_OUTLINE}
    assert {p.marker.line.color for p in paths} == {CENTROID_OUTLINE}


def test_k_ranges_count_only_the_pixels_that_count():
    rgba = np.zeros((30, 30, 4), np.uint8)
    rgba[:2, :2] = (10, 20, 200, 255)  # four opaque pixels, two colours
    rgba[0, 0, :3] = (200, 20, 10)
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["image"] = UPLOAD
    at.session_state["k"] = 2
    at.session_state["view"] = "Choosing k"
    at.run()
    at.file_uploader(key="upload").set_value(("dots.png", png(rgba), "image/png"))
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("k goes up to 4 here" in caption.value for caption in at.caption)
    assert list(chart_data(at)[0].x) == [1, 2, 3, 4]
    at.session_state["view"] = "Understand k-means"
    at.session_state["explore"] = "steps"
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
