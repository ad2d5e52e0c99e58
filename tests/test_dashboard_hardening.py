"""The app under odd images and hostile links (issue 10): every valid image works in every
tab and panel, every bad link or file name is handled by our code, never by a crash."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from dashboard.app import TABS
from dashboard.explore import PANELS

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")
UPLOAD = "Upload your own…"


def png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def strip_image() -> np.ndarray:
    """100,000 × 2: wider than JPEG allows, and thumbnails would shrink to no rows."""
    x = np.arange(100_000)
    row = np.stack([x % 256, (x // 256) % 256, (x // 7) % 256], axis=1).astype(np.uint8)
    return np.ascontiguousarray(np.stack([row, row[::-1]]))


ODD_IMAGES = {
    "strip": strip_image,
    "tall": lambda: np.ascontiguousarray(strip_image().transpose(1, 0, 2)[:, :, ::-1]),
    "dot": lambda: np.array([[[200, 40, 90]]], dtype=np.uint8),
}


def uploaded(name: str, data: bytes, **state) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["image"] = UPLOAD
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    at.file_uploader(key="upload").set_value((name, data, "image/png"))
    return at.run()


def problems(at: AppTest) -> list[str]:
    found = [str(e.value) for e in at.exception] + [e.value for e in at.error]
    return found


@pytest.mark.parametrize("k", [6, 1])
@pytest.mark.parametrize("kind", list(ODD_IMAGES))
def test_odd_images_work_in_every_tab(kind, k):
    data = png(ODD_IMAGES[kind]())
    at = uploaded(f"{kind}.png", data, k=k)
    assert not problems(at), problems(at)
    assert len(at.image) == 2
    for label in TABS[1:]:
        at.session_state["view"] = label
        at.run()
        assert not problems(at), (label, problems(at))
    for panel in PANELS:
        at.session_state["explore"] = panel
        if panel == "engines":
            at.session_state["run_engines"] = True
        at.run()
        assert not problems(at), (panel, problems(at))


def test_one_pixel_image_at_default_k_shows_the_image_with_a_warning():
    at = uploaded("dot.png", png(ODD_IMAGES["dot"]()))
    assert not problems(at)
    assert len(at.image) == 2
    assert any("k = 1" in w.value for w in at.warning), [w.value for w in at.warning]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("seed", "1e309"),
        ("seed", "inf"),
        ("seed", "-5"),
        ("seed", "nan"),
        ("k", "abc"),
        ("k", "1e9"),
        ("n_init", "0"),
        ("color_space", "<script>alert(1)</script>"),
        ("image", "<img src=x onerror=alert(1)>"),
        ("view", "[x](javascript:alert(1))"),
        ("init", "sneaky"),
        ("working_size", "9 GP"),
    ],
)
def test_hostile_query_strings_are_dropped_with_a_notice(key, value):
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error
    assert len(at.image) == 2  # the default view, fully drawn
    notices = " ".join(t.value for t in at.toast) + " ".join(c.value for c in at.caption)
    assert f"`{key}`" in notices


def test_colour_space_by_its_library_name_in_the_link():
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["color_space"] = "oklab"
    at.run()
    assert not at.exception and not at.error
    assert at.selectbox(key="color_space").value == "oklab"


def test_file_name_with_markdown_is_shown_as_literal_text():
    name = "[click](https://evil.example) $x^2$ :red[alarm] a/b **bold**.png"
    at = uploaded(name, b"not an image at all, just text")
    assert not at.exception
    [error] = at.error
    # Whole (not cut at "/"), and escaped: Markdown would make a link, maths and a colour.
    assert "a/b" in error.value and "evil.example" in error.value
    assert "\\[click\\]\\(https" in error.value and "\\$x^2\\$" in error.value
    assert "\\:red\\[alarm\\]" in error.value and "\\*\\*bold" in error.value


def test_use_suggested_k_and_every_linked_widget_log_no_session_state_warning(monkeypatch):
    """A widget given a ``value=`` and also a value through Session State makes Streamlit
    log a warning with a stack trace ("Use k = N" did, on every click)."""
    from streamlit.elements.lib import policies

    logged: list[tuple] = []
    monkeypatch.setattr(policies, "_shown_default_value_warning", False)
    monkeypatch.setattr(policies._LOGGER, "warning", lambda *args, **kw: logged.append(args))
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["k_max"] = "8"
    at.query_params["view"] = "Choosing k"
    at.run()
    assert not at.exception and not at.error
    assert at.slider(key="k_max").value == 8
    [button] = [b for b in at.button if b.key == "use_knee"]
    suggested = int(button.label.split("=")[1])
    button.click().run()
    assert at.slider(key="k").value == suggested
    for label in TABS:
        at.session_state["view"] = label
        at.run()
        assert not at.exception
    assert not logged, logged


def test_tab_settings_live_in_the_address():
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(view="Colour space", color_by="cluster", max_points="5000")
    at.run()
    assert not at.exception and not at.error
    assert at.session_state["color_by"] == "cluster" and at.session_state["max_points"] == 5000
    at.session_state["view"] = "Clusters"
    at.session_state["pixel_size"] = 10.0
    at.run()
    assert at.query_params["pixel_size"] == "10" and at.query_params["view"] == "Clusters"
    assert at.query_params["color_by"] == "cluster"  # a closed tab keeps its settings
