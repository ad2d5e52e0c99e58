"""The server's start: ``streamlit run streamlit_app.py`` finds an ``st.App`` whose lifespan
prepares the first page, so a fresh server's first visit is served from the caches."""

from __future__ import annotations

import asyncio
import logging
import runpy
import sys
from pathlib import Path

import streamlit as st
from helpers import APP
from streamlit import config as streamlit_config
from streamlit.testing.v1 import AppTest
from streamlit.web.server.app_discovery import discover_asgi_app

import core
from core.outputs import previews
from dashboard import server
from dashboard.controls import DEFAULT_SAMPLE


def test_streamlit_run_finds_the_app_in_streamlit_app_py():
    found = discover_asgi_app(Path(APP))
    assert found.is_asgi_app
    assert found.import_string == "streamlit_app:app"


def test_imported_as_a_module_the_file_builds_the_server_and_draws_no_page(monkeypatch):
    # st.App pins the process's main script path when none is set: keep this test's out.
    monkeypatch.setattr(streamlit_config, "_main_script_path", streamlit_config._main_script_path)
    drawn = []
    monkeypatch.setattr("dashboard.app.run", lambda: drawn.append(True))
    names = runpy.run_path(APP, run_name="streamlit_app")  # as uvicorn imports it
    assert isinstance(names["app"], st.App)
    assert names["app"].script_path == Path(APP)
    assert names["app"]._user_lifespan is server.lifespan  # Streamlit's attribute (1.67)
    assert not drawn
    runpy.run_path(APP, run_name="__main__")  # as Streamlit runs it for each visit
    assert drawn == [True]


def _count_calls(monkeypatch, targets) -> dict[str, int]:
    calls = dict.fromkeys([name for _, name in targets], 0)
    for module, name in targets:
        original = getattr(module, name)

        def counted(*args, _original=original, _name=name, **kwargs):
            calls[_name] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(module, name, counted)
    return calls


def test_prepare_computes_exactly_what_the_first_visit_shows(monkeypatch):
    st.cache_data.clear()
    st.cache_resource.clear()
    calls = _count_calls(
        monkeypatch,
        [
            (core, "open_image"),
            (core, "segment"),
            (previews, "file_preview"),
            (previews, "segmented_preview"),
        ],
    )
    assert server.prepare() > 0
    assert all(calls.values()), calls  # it did the work (and the counting sees it)
    calls.update(dict.fromkeys(calls, 0))

    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception and not at.error
    assert at.selectbox(key="image").value == DEFAULT_SAMPLE
    assert len(at.image) == 2  # the original and the segmented image, shown
    assert calls == dict.fromkeys(calls, 0)  # every one of them from the caches


def test_a_failing_preparation_is_logged_and_the_server_still_starts(monkeypatch, caplog):
    def broken() -> float:
        raise OSError("the sample is missing")

    monkeypatch.setattr(server, "prepare", broken)

    async def start() -> bool:
        async with server.lifespan(object()):
            return True

    with caplog.at_level(logging.ERROR, logger=server.__name__):
        assert asyncio.run(start())
    assert "could not prepare the first page" in caplog.text
    assert "the sample is missing" in caplog.text


def test_uvicorn_serves_with_its_fast_parser_and_event_loop():
    """httptools and uvloop are installed, so uvicorn's "auto" choices take them."""
    from uvicorn.loops.auto import auto_loop_factory
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    assert AutoHTTPProtocol.__name__ == "HttpToolsProtocol"
    if sys.platform != "win32":  # uvloop does not exist there
        assert auto_loop_factory().__module__.startswith("uvloop")
