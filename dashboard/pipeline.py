"""Cached calls into `core`, keyed on the image's SHA-256 and the parameters.

Keys. Streamlit hashes a cached function's arguments to build its key, and it hashes big
NumPy arrays only by sampling them, so two different images could share a key (and hashing
a 12 MP photo on every rerun would cost time anyway). So no image is ever hashed here: each
function takes ``key``, the hex SHA-256 of the file's bytes (computed once per upload, see
:func:`uploaded_file`), and receives the pixels through an ``_``-prefixed argument, which
Streamlit leaves out of the key. Same content under another file name: same key. One byte
changed: a new key.

Which cache. ``st.cache_data`` pickles what it stores and unpickles a fresh copy on every
hit, and bounds memory by bytes (``max_size``): right for results (segmentations, preview
files). ``st.cache_resource`` returns the stored object itself: right for what is loaded
once and never changed (the decoded image and the segmentation in use, whose arrays are
read-only) and for Plotly figures, which Plotly would re-validate point by point when
unpickled (a second for 20,000 points; longer than building them). Every cache is bounded
(``max_entries``, and ``max_size`` where entries can be big), so memory stays flat.

Errors are never cached: a file that fails to decode raises again, with its own name, and
the next upload starts clean.

The "Understand k-means" panels (:mod:`dashboard.explore`) get their cached calls here too,
at the end: every cache of the app lives in this module.
"""

from __future__ import annotations

import ctypes
import gc
import hashlib
import io
import sys
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st

import core
from core.explore.compare import EngineRun, compare_engines
from core.explore.compression import Compression, compress
from core.explore.steps import Steps, kmeans_steps
from core.explore.sweep import sweep
from core.features.texture import LM_FILTER_NAMES, lm_filter_bank
from core.inputs.masking import MaskOptions
from core.inputs.samples import SAMPLE_RASTER, SAMPLES, sample_bytes
from core.outputs import figures, previews
from core.outputs.export import png_bytes
from core.results.cleanup import merge_small_regions
from core.validation import Init
from dashboard.classes import Edit
from dashboard.controls import SCENE_SAMPLE, ColorBy, Params, RasterParams
from dashboard.formats import plural

#: Pixels of the original and segmented images sent to the browser (about 1200 x 800).
DISPLAY_PIXELS = 1_000_000
#: Outline and number colour of the 3D scatter's centroids: a grey that shows on light and dark.
CENTROID_OUTLINE = "#8b909a"
#: Pixels of each cluster card's mask and cut-out.
THUMBNAIL_PIXELS = 90_000
#: Largest upload the app decodes: a 24 MP camera photo fits. It keeps one visitor's file
#: (decoded, segmented, cached) within a 1 GB container such as Streamlit Community Cloud;
#: the library and the CLI admit 100 MP.
UPLOAD_MAX_PIXELS = 25_000_000
#: Byte budget of the stored segmentations (two 4 MP results, or hundreds of small ones).
#: Results over STORED_MAX_PIXELS are never stored there: Streamlit would store an entry
#: over its budget anyway.
STORED_SEGMENTATIONS_BYTES = 60_000_000
STORED_MAX_PIXELS = 4_000_000
#: Images over this many pixels wait for the compiled kernels (:func:`wait_for_engine`).
WAIT_FOR_ENGINE_PIXELS = 2_000_000
#: Pixels used by the panels that touch every pixel once per iteration or per feature.
STEPS_PIXELS = 60_000
FEATURES_PIXELS = 120_000
#: The mask of the panels that need every pixel (compression, features, engines).
EVERY_PIXEL = MaskOptions(ignore_transparent=False)


@dataclass(frozen=True)
class ImageFile:
    """The bytes the app works on, with their digest and a name for files and messages."""

    key: str  # hex SHA-256 of `data`
    data: bytes
    name: str
    sample: str | None = None  # the sample's display name, None for an upload


def digest(data: bytes) -> str:
    """Hex SHA-256 of a file's bytes: the cache key of everything derived from it."""
    return hashlib.sha256(data).hexdigest()


#: Seconds the background warm-up waits after the first page before it loads the kernels:
#: importing numba holds the interpreter for most of a second, and in that time the server
#: would send the first page's images late (bench_dashboard.py, first visit: 3.8–4.1 s with
#: the loading at once, 3.1 s with this delay; a 12 MP upload right after it unchanged at
#: 1.4 s, as the loading is done by then). A big job skips the delay (:func:`wait_for_engine`).
WARM_UP_DELAY_S = 1.0


class _WarmUp(threading.Thread):
    """Loads kseg's compiled kernels after :data:`WARM_UP_DELAY_S`, or at once when hurried."""

    def __init__(self) -> None:
        super().__init__(name="kseg-delayed-warm-up", daemon=True)
        self.hurry = threading.Event()

    def run(self) -> None:
        self.hurry.wait(WARM_UP_DELAY_S)
        loading = core.warm_up()  # the NumPy path answers until the kernels are in
        if loading is not None:
            loading.join()
        gc.freeze()  # numba's ~90,000 objects: out of every collection (see dashboard.app)


@st.cache_resource(show_spinner=False)
def warm_up_engine() -> _WarmUp:
    """Load kseg's compiled kernels in the background, once per server, a few seconds after
    the first page (the NumPy path answers meanwhile); the thread (without numba it loads
    nothing)."""
    thread = _WarmUp()
    thread.start()
    return thread


def wait_for_engine() -> None:
    """Let the background warm-up finish (starting it, without its delay) before a big job.

    Loading takes well under a second; while it runs, k-means would take the NumPy path,
    which costs seconds on a 12 MP photo. Small images never wait.
    """
    thread = warm_up_engine()
    thread.hurry.set()
    thread.join()


@st.cache_resource(max_entries=len(SAMPLES) + 1, show_spinner=False)
def sample_file(name: str) -> ImageFile:
    """A bundled sample: a photo as its JPEG bytes, the scene as its GeoTIFF, so samples and
    uploads share one path."""
    if name == SCENE_SAMPLE:
        data = SAMPLE_RASTER.read_bytes()
        return ImageFile(key=digest(data), data=data, name=SAMPLE_RASTER.name, sample=name)
    data = sample_bytes(name)
    return ImageFile(key=digest(data), data=data, name=SAMPLES[name], sample=name)


def uploaded_file(upload: Any) -> ImageFile:
    """An uploaded file (Streamlit's ``UploadedFile``), hashed once per upload.

    Streamlit gives every upload a new ``file_id``; the digest is remembered for that id in
    the session, so reruns (moving a slider) do not hash a 50 MB file again.
    """
    data = upload.getvalue()
    memo: dict[str, str] = st.session_state.setdefault("_digests", {})
    file_id = getattr(upload, "file_id", None)
    key = memo.get(file_id) if file_id else None
    if key is None:
        key = digest(data)
        if file_id:
            memo.clear()  # one upload at a time: keep the memo tiny
            memo[file_id] = key
    return ImageFile(key=key, data=data, name=upload.name or "upload")


def prepare_first_page(sample: str, params: Params) -> None:
    """Compute and cache what a visit to the plain address shows: `sample` decoded, its
    original preview, its segmentation at `params` and the segmented preview.

    The server runs this before it answers (:mod:`dashboard.server`), so its first visitor
    gets the page from these caches, as every later visitor does; the page's own calls
    (:func:`dashboard.app.main`) must stay the same calls for that to hold, which the tests
    check."""
    file = sample_file(sample)
    loaded = load(file.key, file.data, file.name)
    original_preview(file.key, file.data, loaded)
    seg, _ = segmentation(file.key, loaded, params)
    segmented_preview(file.key, seg, params)


@st.cache_resource(max_entries=2, show_spinner=False)
def load(key: str, _data: bytes, _name: str | None = None) -> core.LoadedImage:
    """Decode the file; raises :class:`core.ImageError` for anything we cannot use.

    Two images at most stay decoded (a 12 MP photo is 36 MB of pixels): switching between
    two is instant, and memory stays flat. Files over :data:`UPLOAD_MAX_PIXELS` are refused.
    """
    source = io.BytesIO(_data)
    source.name = _name  # names the file in error messages
    loaded = core.open_image(source, max_pixels=UPLOAD_MAX_PIXELS)
    # Shared by every session and never changed: read-only, which also lets a segmentation
    # paint its pixels from these when they are first read, without a private copy.
    for array in (loaded.rgb, loaded.alpha):
        if array is not None:
            array.setflags(write=False)
    return loaded


@st.cache_resource(max_entries=2, show_spinner=False)
def segmentation(
    key: str, _loaded: core.LoadedImage, params: Params
) -> tuple[core.Segmentation, tuple[str, ...]]:
    """k-means on every pixel of the image, centres fitted on at most ``fit_pixels``.

    Returns the segmentation and the warnings ``core.segment`` gave (e.g. fewer distinct
    colours than k), so the page shows them on a cached rerun too. An image over
    :data:`WAIT_FOR_ENGINE_PIXELS` first lets the background warm-up finish.

    Two levels: the results in use right now are kept here as they are (a rerun that
    changes nothing else, like opening a tab, costs nothing), the rest in
    :func:`_stored_segmentation`, bounded in bytes (unpickling a 12 MP result there costs
    about 0.1 s, still far less than computing it).
    """
    compute = _stored_segmentation if _loaded.n_pixels <= STORED_MAX_PIXELS else _segment
    if _loaded.n_pixels > WAIT_FOR_ENGINE_PIXELS:
        wait_for_engine()
    if params.k <= _loaded.n_pixels:
        return compute(key, _loaded, params)
    # A k the image cannot hold (k = 6 on a 1 × 1 image): show the image at the largest k
    # it allows and say so, as for an image with fewer colours than k.
    fitted = replace(params, k=_loaded.n_pixels)
    result, notes = compute(key, _loaded, fitted)
    note = (
        f"This image has only {plural(_loaded.n_pixels, 'pixel')}, so k = {fitted.k} was used "
        f"instead of k = {params.k}."
    )
    return result, (note, *notes)


def return_free_memory() -> None:
    """Hand the heap's free pages back to the system after a new result (glibc keeps them:
    a 12 MP upload frees hundreds of MB in pieces, and the server's memory would ratchet up
    upload after upload; ``bench_memory.py``). A no-op off glibc."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _malloc_trim() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (musl)
        return None


_MALLOC_TRIM = _malloc_trim()


def k_range(k_max: int, n_pixels: int) -> tuple[int, str | None]:
    """The largest k a range up to `k_max` can use on an image of `n_pixels`, and a note
    saying so when it is smaller than asked (the elbow, the sweep, the panels)."""
    if k_max <= n_pixels:
        return k_max, None
    return n_pixels, (
        f"This image has only {plural(n_pixels, 'pixel')}: k goes up to {n_pixels} here, "
        f"not {k_max}."
    )


@st.cache_data(max_entries=64, max_size=STORED_SEGMENTATIONS_BYTES, show_spinner=False)
def _stored_segmentation(
    key: str, _loaded: core.LoadedImage, params: Params
) -> tuple[core.Segmentation, tuple[str, ...]]:
    # A 4 MP result pickles to ~30 MB: max_size keeps two of those, or hundreds of
    # sample-sized ones, and memory stays flat.
    return _segment(key, _loaded, params)


def _segment(
    key: str, _loaded: core.LoadedImage, params: Params
) -> tuple[core.Segmentation, tuple[str, ...]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # The sidebar's pixels that count (by default: all but transparent pixels and a
        # raster's no-data, as segment's mask="auto").
        # The pixels alone: `mask` says which count, so the LoadedImage's transparency
        # has nothing more to add (and core.segment is typed for arrays).
        result = core.segment(
            _loaded.rgb,
            params.k,
            **params.segment_kwargs(),
            fit_pixels=params.fit_pixels,
            mask=params.mask.valid(_loaded),
        )
    return_free_memory()  # segment's temporaries are gone: give their pages back
    return result, tuple(dict.fromkeys(str(w.message) for w in caught))


@st.cache_resource(max_entries=6, show_spinner=False)
def working_image(key: str, _loaded: core.LoadedImage, fit_pixels: int | None) -> np.ndarray:
    """The image shrunk to at most `fit_pixels` (itself when small enough): the copy the
    elbow and the "Understand k-means" panels run on."""
    if fit_pixels is None:
        return _loaded.rgb
    return core.resize_to_max_pixels(_loaded.rgb, fit_pixels)


@st.cache_resource(max_entries=6, show_spinner=False)
def counted_image(
    key: str, _loaded: core.LoadedImage, fit_pixels: int | None, mask: MaskOptions
) -> np.ndarray:
    """The working-size image for the elbow, the sweep and the steps, RGBA when some pixels
    do not count (alpha 0 there: the sidebar's mask at this size), so that ``core.elbow``,
    ``core.sweep`` and ``core.explore.steps.kmeans_steps`` leave out the pixels ``core.segment``
    does. Keyed on the mask, as every cache that receives it is (through ``Params``)."""
    return mask.with_mask(_loaded, working_image(key, _loaded, fit_pixels))


@st.cache_data(max_entries=8, show_spinner=False)
def original_preview(key: str, _data: bytes, _loaded: core.LoadedImage) -> bytes:
    """The original for the screen, as JPEG (a photo): the file itself when it is a small
    plain JPEG (a sample photo), else downscaled and encoded once."""
    return previews.file_preview(_data, _loaded, max_pixels=DISPLAY_PIXELS)


@st.cache_data(max_entries=48, show_spinner=False)
def segmented_preview(
    key: str, _seg: core.Segmentation, params: Params, edit: Edit | None = None
) -> bytes:
    """The segmented image at screen size, as an indexed PNG (flat colours stay crisp);
    transparent where pixels do not count (the page shows a checkerboard there). `edit`:
    the classes `_seg` shows (None: its numbered clusters)."""
    return previews.segmented_preview(_seg, max_pixels=DISPLAY_PIXELS)


# --- named classes (dashboard.classes) -------------------------------------------------


@st.cache_resource(max_entries=8, show_spinner=False)
def relabelled(key: str, _base: Any, params: Hashable, edit: Edit) -> Any:
    """`_base` (numbered clusters, fitted with `params`) in the classes of `edit`: no refit,
    ``_base.relabel(model)`` (a rename or merge of an unpainted photo result touches no
    pixel). Kept as it is (a resource): the next rerun on the same edit costs nothing."""
    return _base.relabel(edit.model(_base.model))


@st.cache_data(max_entries=16, show_spinner=False)
def pick_preview(
    key: str,
    _image: bytes,
    _base: Any,
    params: Hashable,
    edit: Edit | None,
    which: str,
    cluster: int | None,
) -> bytes:
    """`_image` (a screen preview: the original or the classes) with the pixels of
    `cluster` as they are and every other pixel washed out, as JPEG; `_image` itself when
    no cluster is picked."""
    if cluster is None:
        return _image
    from PIL import Image

    picture = np.asarray(Image.open(io.BytesIO(_image)).convert("RGB"))
    h, w = picture.shape[:2]
    rows, cols = _base.shape
    # The full-resolution pixel at each preview pixel's centre, as the previews sample.
    grid_rows = np.minimum(((np.arange(h) + 0.5) * rows / h).astype(np.intp), rows - 1)
    grid_cols = np.minimum(((np.arange(w) + 0.5) * cols / w).astype(np.intp), cols - 1)
    picked = _base.labels_at(grid_rows, grid_cols) == cluster
    washed = (picture.astype(np.uint16) + 3 * 215) // 4
    out = np.where(picked[..., None], picture, washed.astype(np.uint8))
    return previews.preview_bytes(out, max_pixels=h * w, format="jpeg", quality=85)


@st.cache_data(max_entries=8, show_spinner=False)
def applied(key: str, _loaded: core.LoadedImage, model_key: str, _model: core.ClassModel) -> Any:
    """`_model` (an uploaded model.json, named by its digest) applied to the image: nearest
    fitted centre, then its class (:func:`core.apply`); no fit."""
    return core.apply(_model, _loaded)


@st.cache_resource(max_entries=4, show_spinner=False)
def uploaded_model(model_key: str, _data: bytes) -> core.ClassModel:
    """A model file read (:meth:`core.ClassModel.from_json`); raises ValueError with the
    library's message for anything that is not a model kseg can read."""
    return core.ClassModel.from_json(_data)


@st.cache_resource(max_entries=4, show_spinner=False)
def raster_classes(
    key: str, _loaded: core.LoadedImage, k: int, seed: int, raster_params: RasterParams
) -> core.RasterSegmentation:
    """Classes of a GeoTIFF on its bands and indices (every valid pixel, exact)."""
    assert _loaded.raster is not None
    return core.segment_raster(
        _loaded.raster,
        k,
        bands=list(raster_params.bands),
        indices=list(raster_params.indices),
        rgb=None if raster_params.rgb is None else list(raster_params.rgb),
        seed=seed,
    )


@st.cache_data(max_entries=8, show_spinner=False)
def raster_classes_preview(key: str, _result: core.RasterSegmentation, k: int, seed: int,
                           raster_params: RasterParams,
                           edit: Edit | None = None) -> tuple[bytes, bytes]:  # fmt: skip
    """The display image and the classes (transparent where no data), for the screen."""
    return (
        previews.preview_bytes(_result.display_image(), max_pixels=DISPLAY_PIXELS),
        previews.preview_bytes(_result.segmented_image(), max_pixels=DISPLAY_PIXELS),
    )


@st.cache_data(max_entries=24, show_spinner=False)
def cluster_areas(
    key: str,
    _seg: core.Segmentation,
    _loaded: core.LoadedImage,
    params: Params,
    edit: Edit | None = None,
) -> np.ndarray | None:
    """Ground area (m²) of each cluster of a georeferenced image; None for a photo."""
    raster = _loaded.raster
    if raster is None or raster.geo.crs is None or _seg.shape != (raster.height, raster.width):
        return None
    ground = raster.pixel_areas()  # on the ellipsoid, as the GeoTIFF page's table
    return None if ground is None else ground.class_sums(_seg.labels, _seg.k)[0]


@st.cache_data(max_entries=24, show_spinner=False)
def cluster_previews(
    key: str,
    _seg: core.Segmentation,
    _loaded: core.LoadedImage,
    params: Params,
    edit: Edit | None = None,
) -> list[tuple[bytes, bytes]]:
    """PNG (mask, cut-out) thumbnails per cluster, largest cluster first."""
    thumbnails = previews.cluster_thumbnails(
        _seg, _loaded.rgb, alpha=_loaded.alpha, max_pixels=THUMBNAIL_PIXELS
    )
    return [
        (
            previews.preview_bytes(mask, max_pixels=THUMBNAIL_PIXELS),
            previews.preview_bytes(cut, max_pixels=THUMBNAIL_PIXELS),
        )
        for mask, cut in thumbnails
    ]


@st.cache_resource(max_entries=16, show_spinner=False)
def scatter_figure(
    key: str,
    _seg: core.Segmentation,
    _loaded: core.LoadedImage,
    params: Params,
    color_by: ColorBy,
    max_points: int,
    edit: Edit | None = None,
) -> go.Figure:
    """The 3D colour-space scatter (samples and converts up to 50,000 pixels); in named
    classes (`edit`), the centroids and the hover name them and dropped pixels are out."""
    figure = figures.scatter3d_figure(
        _seg, _loaded.rgb, max_points=max_points, seed=params.seed, color_by=color_by
    )
    # The figure outlines the centroids and writes their numbers in a near-black that
    # vanished on the dark theme (with a near-black centroid inside it): a mid grey shows
    # on both themes.
    centroids = figure.data[1]
    centroids.textfont.color = CENTROID_OUTLINE
    if color_by == "pixel":
        centroids.marker.line.color = CENTROID_OUTLINE
    names = getattr(_seg, "class_names", None)
    if names is not None:
        pixels, centroids = figure.data
        labels = np.asarray(pixels.customdata)[:, 0].astype(np.intp)
        pixels.customdata = np.column_stack([np.asarray(names, dtype=object)[labels]])
        pixels.hovertemplate = pixels.hovertemplate.replace(
            "cluster %{customdata[0]}, palette colour %{customdata[1]}", "%{customdata[0]}"
        )
        centroids.text = list(names)
        centroids.hovertext = [
            f"{name}: {hex_color}, {share:.1%} of pixels"
            for name, hex_color, share in zip(names, _seg.hex_colors, _seg.shares, strict=True)
        ]
        figure.layout.title.text = figure.layout.title.text.replace(
            f"k = {_seg.k}", f"{plural(_seg.k, 'class', 'classes')}"
        )
    # Plotly fits the cube to the chart's height: on a phone (a chart ~360 px wide and 640
    # tall) the sides of the cube and its tick labels were cut off. A less tall chart, seen
    # from a little farther, keeps them on a phone and still fills a desktop's column; the
    # view centred a little right of the cube leaves room for the left axis's title (L*).
    eye = figure.layout.scene.camera.eye
    return figure.update_layout(
        height=560,
        scene_camera_eye={"x": 1.25 * eye.x, "y": 1.25 * eye.y, "z": 1.25 * eye.z},
        scene_camera_center={"x": 0.1, "y": -0.1, "z": 0.0},
    )


class _LRU:
    """A small, thread-safe, bounded mapping for results computed with live progress.

    ``st.cache_data`` cannot drive a progress bar drawn outside the cached function (it
    would have to replay it), so the elbow curve, which reports progress per k, is kept
    here instead, under the same kind of key.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[Hashable, Any] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Hashable) -> Any | None:
        with self.lock:
            if key not in self.items:
                return None
            self.items.move_to_end(key)
            return self.items[key]

    def put(self, key: Hashable, value: Any) -> None:
        with self.lock:
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)


@st.cache_resource(show_spinner=False)
def _elbow_store() -> _LRU:
    return _LRU(32)


def cached_elbow(key: str, params: Params, k_max: int) -> core.Elbow | None:
    """The elbow curve if it was computed before, else None (nothing is computed)."""
    return _elbow_store().get(_elbow_key(key, params, k_max))


def elbow(
    key: str,
    image: np.ndarray,
    params: Params,
    k_max: int,
    progress: Callable[[int, int, int], None] | None = None,
) -> core.Elbow:
    """WCSS for k = 1..k_max on the shrunk copy (:func:`working_image`), cached on the
    digest and the parameters except k (the curve does not depend on the chosen k, so
    moving the k slider keeps it)."""
    store = _elbow_store()
    cache_key = _elbow_key(key, params, k_max)
    result = store.get(cache_key)
    if result is None:
        with warnings.catch_warnings():
            # Fewer distinct colours than some k: the curve just flattens there.
            warnings.simplefilter("ignore", UserWarning)
            result = core.elbow(
                image, range(1, k_max + 1), **params.segment_kwargs(), progress=progress
            )
        store.put(cache_key, result)
    return result


def _elbow_key(key: str, params: Params, k_max: int) -> Hashable:
    return (key, replace(params, k=1), k_max)


# --- "Understand k-means" (dashboard.explore) -----------------------------------------


# A sweep holds up to 31 working-size results (~7 MB each at 1 MP): keep few.
@st.cache_resource(max_entries=2, show_spinner=False)
def sweep_results(
    key: str, _image: np.ndarray, params: Params, ks: tuple[int, ...]
) -> list[core.Segmentation]:
    """One segmentation per k of `ks`, sharing the colour table. `_image` is
    :func:`counted_image` for ``params.mask`` (RGBA: the transparent pixels are left out),
    or the plain working image with ``params.mask`` set to :data:`EVERY_PIXEL`."""
    return sweep(_image, ks, **params.segment_kwargs())


@st.cache_resource(max_entries=8, show_spinner=False)
def steps_run(key: str, _image: np.ndarray, params: Params, init: Init) -> tuple[np.ndarray, Steps]:
    """One textbook run, every iteration kept, on a copy of at most :data:`STEPS_PIXELS`."""
    small = core.resize_to_max_pixels(_image, STEPS_PIXELS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # fewer colours than k: the page says so
        steps = kmeans_steps(
            small, params.k, color_space=params.color_space, init=init, seed=params.seed
        )
    return small, steps


@st.cache_resource(max_entries=8, show_spinner=False)
def features_result(
    key: str,
    _image: np.ndarray,
    params: Params,
    position_weight: float,
    texture_weight: float,
    min_region: int,
) -> tuple[np.ndarray, core.Segmentation, int]:
    """Colour + position + texture k-means, then clean-up, on at most
    :data:`FEATURES_PIXELS`; returns the copy, the result and the pixels the clean-up moved."""
    small = core.resize_to_max_pixels(_image, FEATURES_PIXELS)
    result = core.segment(
        small,
        params.k,
        position_weight=position_weight,
        texture_weight=texture_weight,
        **params.segment_kwargs(),
    )
    moved = 0
    if min_region > 1:
        result, moved = merge_small_regions(result, small, min_region)
    return small, result, moved


@st.cache_resource(max_entries=4, show_spinner=False)
def shrunk_image(key: str, _image: np.ndarray, max_pixels: int | None) -> np.ndarray:
    """`_image` shrunk to at most `max_pixels` (itself when small enough or None)."""
    if max_pixels is None:
        return _image
    return core.resize_to_max_pixels(_image, max_pixels)


@st.cache_resource(max_entries=8, show_spinner=False)
def engine_runs(key: str, _image: np.ndarray, params: Params) -> list[EngineRun]:
    """kseg, scikit-learn and OpenCV on the same pixels (``compare_engines``).

    `key` names the pixels: the file's key and the size compared at."""
    return compare_engines(
        _image, params.k, color_space=params.color_space, seed=params.seed, n_init=params.n_init
    )


@st.cache_resource(max_entries=8, show_spinner=False)
def compression_rows(
    key: str, _image: np.ndarray, params: Params, ks: tuple[int, ...]
) -> list[Compression]:
    """Indexed-PNG size and PSNR for every k of `ks` (every pixel counts: an indexed PNG
    has an index for each)."""
    results = sweep_results(key, _image, replace(params, mask=EVERY_PIXEL), ks)
    original = len(png_bytes(_image))
    return [compress(_image, r, original_bytes=original) for r in results]


@st.cache_resource(show_spinner=False)
def filter_bank_figure() -> go.Figure:
    """The 48 Leung–Malik filters as heatmaps (the same for every image)."""
    return figures.filter_bank_figure(lm_filter_bank(), LM_FILTER_NAMES)
