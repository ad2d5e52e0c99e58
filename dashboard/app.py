"""The page: controls -> cached pipeline -> views.

This is the only place that turns an error from `core` into ``st.error``: a file we cannot
use gets a message a person can act on, never a traceback, and the next upload works.
"""

from __future__ import annotations

import logging

import streamlit as st

import core
from dashboard import controls, pipeline, views

logger = logging.getLogger(__name__)

TABS = [
    ":material/image: Segmentation",
    ":material/category: Clusters",
    ":material/3d_rotation: Colour space",
    ":material/show_chart: Choosing k",
]


def _image_bytes(source: controls.Source) -> tuple[bytes, str] | None:
    if source.sample is not None:
        return pipeline.sample_file(source.sample), f"{source.sample.split(' ')[0].lower()}.png"
    if source.upload is None:
        return None
    return source.upload.getvalue(), source.upload.name


def main() -> None:
    st.set_page_config(
        page_title="kseg · k-means image segmentation",
        page_icon=":material/palette:",
        layout="wide",
        initial_sidebar_state="expanded",
    )
    pipeline.warm_up_engine()
    source, params = controls.sidebar_ui()
    views.render_header()
    picked = _image_bytes(source)
    if picked is None:
        st.info(
            "Choose an image file in the sidebar — or pick a sample photo to start.",
            icon=":material/arrow_back:",
        )
        st.stop()
    data, name = picked
    key = pipeline.digest(data)
    try:
        loaded = pipeline.load(key, data, name)
        work, alpha = pipeline.working_image(key, loaded, params.working_pixels)
        with st.spinner(
            f"Clustering {work.shape[1]} × {work.shape[0]} pixels into k = {params.k} "
            f"in {controls.COLOR_SPACE_LABELS[params.color_space]}…"
        ):
            seg = pipeline.segmentation(key, work, params)
    except core.ImageError as e:
        st.error(str(e), icon=":material/block:")
        st.stop()
    except ValueError as e:  # parameters the image cannot satisfy, e.g. k > pixels
        st.error(f"These settings don't fit this image: {e}", icon=":material/warning:")
        st.stop()
    except Exception as e:  # pragma: no cover - a bug; say so plainly, log the details
        logger.exception("kseg failed on %s", name)
        st.error(
            f"kseg could not process this image ({type(e).__name__}: {e}).",
            icon=":material/bug_report:",
        )
        st.stop()

    tabs = st.tabs(TABS, key="view", on_change="rerun", bind="query-params")
    # Only the open tab's body runs: the others would cost time nobody is looking at.
    if tabs[0].open:
        with tabs[0]:
            views.render_overview(loaded, work, seg, params)
            views.render_downloads(loaded, work, alpha, seg, params, name)
    if tabs[1].open:
        with tabs[1]:
            views.render_clusters(seg, pipeline.cluster_previews(key, seg, work, alpha, params))
    if tabs[2].open:
        with tabs[2]:
            views.render_color_space(
                lambda color_by, max_points: pipeline.scatter_figure(
                    key, seg, work, params, color_by, max_points
                )
            )
    if tabs[3].open:
        with tabs[3]:
            views.render_elbow(
                lambda k_max: _elbow_with_progress(key, work, params, k_max), params.k
            )


def _elbow_with_progress(key: str, work, params: controls.Params, k_max: int) -> core.Elbow:
    bar = st.progress(0.0, text="Running k-means for every k…")

    def progress(done: int, total: int, k: int) -> None:
        bar.progress(done / total, text=f"Running k-means for every k… (k = {k} done)")

    try:
        return pipeline.elbow(key, work, params, k_max, progress)
    finally:
        bar.empty()
