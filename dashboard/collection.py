"""The Collection page: several images (or a ZIP of them), one shared palette, areas.

The same structure as the single-image page (:mod:`dashboard.app`): controls
(:mod:`dashboard.collection_controls`, every setting in the address) → one cached call into
:func:`core.segment_collection` (:mod:`dashboard.collection_pipeline`) → views
(:mod:`dashboard.collection_views`). This module wires them and is the only one that turns
an error into ``st.error``: a file that cannot be read is listed with the message `core`
wrote for it and the others are kept; settings the images cannot satisfy stop the run
with a message, never a traceback. A progress bar counts the images while a run is
computed.
"""

from __future__ import annotations

import streamlit as st

import core
from dashboard import collection_controls as controls
from dashboard import collection_pipeline as pipeline
from dashboard import collection_views as views
from dashboard import links
from dashboard.views import PAGE_ICON


def main() -> None:
    """The page."""
    st.set_page_config(page_title="kseg · collection", page_icon=PAGE_ICON, layout="wide")
    links.read_link()
    views.render_header()
    uploads = controls.uploads_ui()
    kept, model = controls.kept_model_ui()
    params = controls.params_ui(kept)
    if not uploads:
        views.render_upload_prompt()
        st.stop()
    files, unreadable = pipeline.named_files(uploads)
    if not files:
        for name, message in unreadable:
            st.error(f"{name}: {message}", icon=":material/folder_zip:")
        st.stop()
    try:
        run = _run_with_progress(files, params, kept, unreadable)
    except ValueError as error:  # settings these images cannot satisfy, e.g. k > pixels
        st.error(f"These settings don't fit these images: {error}", icon=":material/tune:")
        st.stop()
    result = run.result
    if result.palette is None:
        views.render_errors(run)
        st.error("None of the files could be read; see the list above.", icon=":material/error:")
        st.stop()
    views.render_palette(result, kept=kept is not None, model=model)
    views.render_errors(run)
    views.render_grid(run)
    views.render_shares(result)
    st.subheader("Areas", anchor=False)
    pixel_size = controls.pixel_size_ui()
    views.render_areas(result, pixel_size, model)
    views.render_downloads(run, pixel_size, model)


def _run_with_progress(
    files: dict[str, bytes],
    params: controls.CollectionParams,
    kept: core.CollectionModel | None,
    unreadable: list[tuple[str, str]],
) -> pipeline.CollectionRun:
    """The run, from the store or computed with a progress bar that counts the images."""
    cached = pipeline.cached_run(files, params)
    if cached is not None:
        return cached
    bar = st.progress(0.0, text=f"Reading {len(files)} images…")

    def progress(stage: str, done: int, count: int) -> None:
        verb = "Counting colours in" if stage == "histograms" else "Labelling"
        share = (done / count) * (0.5 if kept is None else 1.0)
        if stage == "labels" and kept is None:
            share += 0.5
        bar.progress(min(share, 1.0), text=f"{verb} image {done} of {count}…")

    try:
        return pipeline.collection_run(files, params, kept, unreadable, progress)
    finally:
        bar.empty()
