"""The page: controls -> cached pipeline -> views.

This is the only place that turns an error from `core` into ``st.error``: a file we cannot
use gets the message `core` wrote for people (never a traceback), the script stops, and the
next upload starts clean because errors are never cached.

Laziness: the views are tabs that track which one is open (``st.tabs`` with a ``key``
bound to the URL), so only the open tab's body runs and the 3D scatter and the elbow curve
cost nothing until someone opens them; plain ``st.tabs`` would run every body on every
rerun. Fragments are not needed: everything above the tabs is cached, so a rerun on a
setting already seen takes milliseconds, and "Use k = N" must rerun the whole page anyway.
"""

from __future__ import annotations

import gc
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

import core
from dashboard import classes, controls, downloads, explore, links, pipeline, views

logger = logging.getLogger(__name__)

# Idle OpenMP threads (scikit-learn's, in "Engines side by side") sleep instead of spinning:
# on a server's few shared cores, spinning threads starve the busy ones (measured on 2 busy
# cores: scikit-learn's k-means 2-5x slower). Read when the OpenMP runtime loads, which
# ``import dashboard.app`` does not do; an explicit setting is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

#: Tab labels; they also appear in the URL (``?view=Clusters``), so keep them plain.
TABS = [
    "Segmentation",
    "Classes",
    "Clusters",
    "Colour space",
    "Choosing k",
    "Understand k-means",
]
links.choice("view", TABS, TABS[0])

# Streamlit collects garbage after every script run (``runner.postScriptGC``), and a full
# collection walks every object the imports above made (Streamlit, NumPy, Plotly: ~85,000,
# twice that once numba is in), holding the interpreter for 80–160 ms on 2 busy cores just
# as the browser asks for the run's last messages, images and scripts (bench_dashboard.py:
# a cached rerun 0.30 -> 0.20 s). What exists now lives as long as the server: leave it out
# of collections. Imported once per server, so this runs once; the kernels' warm-up does
# the same.
gc.freeze()


_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()#+\-!|~<>$:])")


def literal(text: str) -> str:
    """`text` escaped so that Streamlit's Markdown shows it as it is: a file name like
    ``[x](https://…) $x^2$ :red[a].png`` stays text, not a link, maths or a colour."""
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", text)


@contextmanager
def user_errors(file_name: str) -> Iterator[None]:
    """Show any error from `core` as ``st.error`` and stop this run; never a traceback."""
    try:
        yield
    except core.ImageError as error:  # the file itself: unreadable, corrupt, empty, huge…
        st.error(literal(str(error)), icon=":material/broken_image:")
        st.stop()
    except ValueError as error:  # settings this image cannot satisfy, e.g. k > pixels
        st.error(literal(f"These settings don't fit this image: {error}"), icon=":material/tune:")
        st.stop()
    except Exception:  # a bug: say so plainly, keep the details in the server log
        logger.exception("kseg failed on %r", file_name)
        st.error(
            f"Something went wrong inside kseg while processing '{literal(file_name)}'. "
            "Try other settings or another file; the details are in the server log.",
            icon=":material/bug_report:",
        )
        st.stop()


def image_file(source: controls.Source) -> pipeline.ImageFile | None:
    """The bytes to work on: the chosen sample, the upload, or None (nothing uploaded yet)."""
    if source.sample is not None:
        return pipeline.sample_file(source.sample)
    if source.upload is None:
        return None
    return pipeline.uploaded_file(source.upload)


def main() -> None:
    st.set_page_config(
        page_title="kseg · k-means image segmentation",
        # An image the server sends, not an emoji (any non-ASCII icon makes Streamlit load
        # its emoji catalogue, ~0.1 s on a fresh server's first visit) nor a Material icon
        # (the browser fetches those from fonts.gstatic.com: offline, it fails).
        page_icon=views.PAGE_ICON,
        layout="wide",
        # "auto": open on a desktop, closed on a phone, where it would cover the page.
        initial_sidebar_state="auto",
        menu_items={"About": "kseg: exact, fast k-means image segmentation."},
    )
    try:
        _page()
    finally:
        # After the page is drawn, not before: loading the compiled kernels (0.5–0.8 s of
        # imports on 2 cores) would otherwise compete with the first visit's own work,
        # which the NumPy path answers at once.
        pipeline.warm_up_engine()


def _page() -> None:
    """The single-image page: controls, the cached pipeline, the open tab."""
    source, params = controls.sidebar_ui()
    views.render_header()
    file = image_file(source)
    if file is None:
        views.render_upload_prompt()
        st.stop()

    with user_errors(file.name):
        with st.spinner(f"Reading {literal(file.name)}…", show_time=True):
            loaded = pipeline.load(file.key, file.data, file.name)
    summary = st.container()  # filled in once the segmentation is known

    links.prime("view")
    tabs = st.tabs(TABS, key="view", on_change="rerun")
    links.keep("view", next(label for label, tab in zip(TABS, tabs, strict=True) if tab.open))
    # The original is on its way to the browser while k-means runs: a first visit sees
    # it at once, and the browser loads what it needs to draw images meanwhile.
    segmented_column = st.container()
    if tabs[0].open:
        with tabs[0]:
            segmented_column = views.render_original(
                pipeline.original_preview(file.key, file.data, loaded)
            )
    model_file = _model_upload()
    applied: core.Segmentation | None = None
    model_key: str | None = None
    if model_file is not None:
        applied, model_key = _apply_model(file, loaded, model_file)
    notes: tuple[str, ...] = ()
    if applied is not None and model_key is not None:
        # An uploaded model: its clusters, no fit; its classes are the starting edit.
        base = applied.clusters if applied.clusters is not None else applied
        fit_key: Any = ("model", model_key)
        initial = classes.Edit.of(applied.model)
    else:
        with user_errors(file.name):
            with (
                segmented_column,
                st.spinner(views.clustering_message(loaded, params), show_time=True),
            ):
                base, notes = pipeline.segmentation(file.key, loaded, params)
        fit_key = params
        initial = None
    edit = classes.current_edit("", (file.key, fit_key), base.model, initial)
    with user_errors(file.name):
        seg = base if edit.empty else pipeline.relabelled(file.key, base, fit_key, edit)
    key_edit = None if edit.empty else edit
    with summary:
        if applied is None:  # a fit: what was computed (an applied model says so below)
            views.render_summary(loaded, base, notes)
        views.render_classes_summary(seg, model_file.name if applied is not None else None)

    def segmented() -> bytes:
        if key_edit is None:  # the very call the server's first page made (its cache key)
            return pipeline.segmented_preview(file.key, seg, fit_key)
        return pipeline.segmented_preview(file.key, seg, fit_key, key_edit)

    # Only the open tab's body runs: the others would cost time nobody is looking at.
    with user_errors(file.name):
        if tabs[0].open:
            with tabs[0]:
                views.render_overview(loaded, seg, segmented_column, segmented())
                areas = None
                if loaded.raster is not None:
                    areas = pipeline.cluster_areas(file.key, seg, loaded, fit_key, key_edit)
                downloads.render_downloads(
                    loaded,
                    seg,
                    file,
                    mask=params.mask,
                    applied=applied is not None,
                    areas_m2=areas,
                )
                if loaded.raster is not None:
                    _raster_classes(file, loaded, params)
        if tabs[1].open:
            with tabs[1]:
                original = pipeline.original_preview(file.key, file.data, loaded)

                def pick_image(which: str, cluster: int | None) -> bytes:
                    image = original if which == "original" else segmented()
                    # The original does not change with the classes: one key for all.
                    edit_shown = key_edit if which == "classes" else None
                    return pipeline.pick_preview(
                        file.key, image, base, fit_key, edit_shown, which, cluster
                    )

                views.render_classes_intro(seg)
                classes.render_editor("", base, seg.model, pick_image)
        if tabs[2].open:
            with tabs[2]:
                views.render_clusters(
                    seg,
                    pipeline.cluster_previews(file.key, seg, loaded, fit_key, key_edit),
                    areas_m2=pipeline.cluster_areas(file.key, seg, loaded, fit_key, key_edit),
                )
        if tabs[3].open:
            with tabs[3]:
                views.render_color_space(
                    seg,
                    lambda color_by, max_points: pipeline.scatter_figure(
                        file.key, seg, loaded, fit_key, color_by, max_points, key_edit
                    ),
                )
        if tabs[4].open:
            with tabs[4]:
                work = pipeline.counted_image(file.key, loaded, params.fit_pixels, params.mask)
                views.render_elbow(
                    base, work, lambda k_max: _elbow_with_progress(file.key, work, params, k_max)
                )
        if tabs[5].open:
            with tabs[5]:
                explore.render_explore(
                    file.key,
                    pipeline.working_image(file.key, loaded, params.fit_pixels),
                    params,
                    counted=pipeline.counted_image(
                        file.key, loaded, params.fit_pixels, params.mask
                    ),
                    file_name=file.name,
                )


def _model_upload() -> Any:
    """The sidebar's model file (Streamlit's UploadedFile), or None."""
    return st.sidebar.file_uploader(
        "Apply a model (optional)",
        type=["json"],
        key="model_upload",
        help="A model.json from this page's downloads, `kseg segment` or `kseg batch` (an "
        "old palette.json too): every pixel goes to the model's nearest cluster, then to "
        "its class. No fit: the same colours get the same class on every image.",
    )


def _apply_model(
    file: pipeline.ImageFile, loaded: core.LoadedImage, upload: Any
) -> tuple[core.Segmentation | None, str | None]:
    """The image in an uploaded model's classes; (None, None) with an ``st.error`` saying
    why when the file is not a model this image can use (the page then fits as usual)."""
    data = upload.getvalue()
    model_key = pipeline.digest(data)
    try:
        model = pipeline.uploaded_model(model_key, data)
        result = pipeline.applied(file.key, loaded, model_key, model)
    except (ValueError, core.ImageError) as error:
        st.error(
            literal(f"'{upload.name}' cannot be applied: {error}"), icon=":material/model_training:"
        )
        return None, None
    if not isinstance(result, core.Segmentation):
        st.error(
            literal(
                f"'{upload.name}' is a band model (bands {', '.join(model.features.bands)}): "
                "apply it to a GeoTIFF with `kseg apply`; this page applies colour models."
            ),
            icon=":material/model_training:",
        )
        return None, None
    return result, model_key


def run() -> None:
    """The app: the single-image page (the default, unchanged) and the Collection page.

    The pages have no ``icon``: Streamlit makes a page's Material icon the tab's icon,
    fetched from fonts.gstatic.com (the page must need nothing but its server)."""
    pages = [
        st.Page(main, title="Single image", default=True),
        st.Page(_collection_page, title="Collection", url_path="collection"),
    ]
    st.navigation(pages, position="top").run()


def _collection_page() -> None:
    """The Collection page, imported when it is opened: a first visit skips its modules."""
    from dashboard import collection

    collection.main()


def _raster_classes(
    file: pipeline.ImageFile, loaded: core.LoadedImage, params: controls.Params
) -> None:
    """A GeoTIFF clustered on its bands and indices, on request (it may take a while)."""
    raster = loaded.raster
    assert raster is not None
    st.subheader("Land-cover classes from the bands", anchor=False)
    st.caption(
        "The clusters above are of the display colours: a picture of three bands, stretched "
        "to 8 bits. These are the scene's classes: every valid pixel clustered on the bands "
        "you choose (and NDVI / NDWI), in their own units, as GIS tools do, with k from the "
        'sidebar. Their downloads say "band classes".'
    )
    from core.inputs.display import default_rgb_bands

    default_rgb = tuple(raster.band_names[i] for i in default_rgb_bands(raster))
    raster_params = controls.raster_features_ui(raster.band_names, default_rgb)  # type: ignore[arg-type]
    if not raster_params.bands and not raster_params.indices:
        st.info("Choose at least one band or index.", icon=":material/info:")
        return
    with st.spinner("Clustering every valid pixel on the bands…", show_time=True):
        result = pipeline.raster_classes(file.key, loaded, params.k, params.seed, raster_params)
    fit = (params.k, params.seed, raster_params)
    edit = classes.current_edit("r", (file.key, fit), result.model)
    shown = result if edit.empty else pipeline.relabelled(file.key, result, fit, edit)
    previews = pipeline.raster_classes_preview(
        file.key, shown, params.k, params.seed, raster_params, None if edit.empty else edit
    )
    views.render_raster_classes(shown, previews, Path(file.name).stem or "scene")
    editor = st.expander(
        "Classes: name, merge and drop the band clusters",
        icon=":material/category:",
        key="raster_classes_open",
        on_change="rerun",
    )
    if editor.open:
        with editor:
            classes.render_editor("r", result, shown.model)


def _elbow_with_progress(
    key: str, work: np.ndarray, params: controls.Params, k_max: int
) -> core.Elbow:
    """The elbow curve, from the cache or computed with a progress bar per k."""
    cached = pipeline.cached_elbow(key, params, k_max)
    if cached is not None:
        return cached
    text = f"Running k-means for k = 1 … {k_max} on {work.shape[1]} × {work.shape[0]} pixels"
    bar = st.progress(0.0, text=f"{text}…")

    def progress(done: int, total: int, k: int) -> None:
        bar.progress(done / total, text=f"{text}: k = {k} done ({done} of {total}).")

    try:
        return pipeline.elbow(key, work, params, k_max, progress)
    finally:
        bar.empty()
