"""Cached calls into `core`, keyed on the image's SHA-256 and the parameters.

Streamlit hashes arguments to build cache keys, and it *samples* large NumPy arrays when it
does, so two different images could share a key. We therefore never let it hash an image:
every function takes the image's digest (a short string) as its key and the pixels through
an ``_``-prefixed argument, which Streamlit leaves out of the key.

Results are immutable (read-only arrays), so they are kept with ``st.cache_resource`` —
returned as is, not copied or unpickled on every rerun — and every cache is bounded so a
long-running server's memory stays flat: at a 1 MP working size a segmentation weighs ~10 MB.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import replace
from typing import Any

import numpy as np
import streamlit as st

import core
from core import _accel, export, figures
from core.samples import sample_bytes
from dashboard.controls import Params

# Bounds on what stays in memory; at most a few hundred MB even for 4 MP working sizes.
_IMAGES = 4
_RESULTS = 24
_FIGURES = 24


def digest(data: bytes) -> str:
    """Hex SHA-256 of the file's bytes: the cache key of everything derived from it."""
    return hashlib.sha256(data).hexdigest()


@st.cache_resource(show_spinner=False)
def warm_up_engine() -> bool:
    """Compile kseg's kernels in the background once per server (NumPy answers meanwhile)."""
    return _accel.warm_up_in_background() is not None


@st.cache_resource(max_entries=4, show_spinner=False)
def sample_file(name: str) -> bytes:
    """A bundled sample photo as PNG bytes, so samples and uploads share one path."""
    return sample_bytes(name)


@st.cache_resource(max_entries=_IMAGES, show_spinner="Reading the image…")
def load(key: str, _data: bytes, _name: str | None = None) -> core.LoadedImage:
    """Decode the file (raises :class:`core.ImageError` for anything unusable).

    The name only makes error messages friendlier; errors are never cached, so a message
    always names the file just uploaded.
    """
    source = io.BytesIO(_data)
    source.name = _name  # type: ignore[attr-defined]
    return core.open_image(source)


@st.cache_resource(max_entries=_IMAGES * 4, show_spinner=False)
def working_image(
    key: str, _loaded: core.LoadedImage, working_pixels: int | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """The image (and its alpha, if any) at the working size; itself when small enough."""
    if working_pixels is None:
        return _loaded.rgb, _loaded.alpha
    rgb = core.resize_to_max_pixels(_loaded.rgb, working_pixels)
    alpha = None
    if _loaded.alpha is not None:
        alpha = core.resize_to_max_pixels(_loaded.alpha, working_pixels)
    return rgb, alpha


@st.cache_resource(max_entries=_RESULTS, show_spinner=False)
def segmentation(key: str, _image: np.ndarray, params: Params) -> core.Segmentation:
    """k-means at the working size."""
    return core.segment(_image, params.k, **params.segment_kwargs())


def full_resolution_png(loaded: core.LoadedImage, params: Params) -> bytes:
    """Segmented PNG of every original pixel, labelled with the working-size centres.

    Not cached: it runs only when someone clicks its download button.
    """
    result = core.segment(
        loaded.rgb, params.k, fit_pixels=params.working_pixels, **params.segment_kwargs()
    )
    return export.png_bytes(result.segmented)


class _LRU:
    """A small bounded mapping, for results computed with live progress.

    ``st.cache_*`` replays the elements a cached function draws, and cannot replay updates
    to a progress bar created outside it; so the elbow curve, which reports progress per k,
    is cached here instead, under the same kind of key.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[Hashable, Any] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Hashable) -> Any | None:
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
            return None

    def put(self, key: Hashable, value: Any) -> None:
        with self.lock:
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)


@st.cache_resource(show_spinner=False)
def _elbow_store() -> _LRU:
    return _LRU(_RESULTS)


def elbow(
    key: str,
    image: np.ndarray,
    params: Params,
    k_max: int,
    progress: Callable[[int, int, int], None] | None = None,
) -> core.Elbow:
    """WCSS for k = 1..k_max, cached on the image digest and the parameters except k
    (the curve does not depend on the chosen k, so moving the k slider keeps it)."""
    store = _elbow_store()
    cache_key = (key, replace(params, k=1), k_max)
    result = store.get(cache_key)
    if result is None:
        result = core.elbow(
            image,
            range(1, k_max + 1),
            color_space=params.color_space,
            seed=params.seed,
            init=params.init,
            n_init=params.n_init,
            progress=progress,
        )
        store.put(cache_key, result)
    return result


@st.cache_resource(max_entries=_FIGURES, show_spinner=False)
def scatter_figure(
    key: str,
    _seg: core.Segmentation,
    _image: np.ndarray,
    params: Params,
    color_by: str,
    max_points: int,
):
    """The 3D colour-space scatter (building it samples and converts 20k pixels)."""
    return figures.scatter3d_figure(
        _seg, _image, max_points=max_points, seed=params.seed, color_by=color_by
    )


@st.cache_resource(max_entries=_FIGURES, show_spinner=False)
def cluster_previews(
    key: str,
    _seg: core.Segmentation,
    _image: np.ndarray,
    _alpha: np.ndarray | None,
    params: Params,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(mask, cut-out) pairs per cluster, at the working size."""
    return [
        (_seg.mask(i).astype(np.uint8) * 255, export.cutout(_image, _seg, i, alpha=_alpha))
        for i in range(_seg.k)
    ]
