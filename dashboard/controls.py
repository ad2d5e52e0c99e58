"""Sidebar widgets. Each ``*_ui()`` draws its widgets (explicit keys, help on every one)
and returns plain values; :func:`sidebar_ui` gathers them into a frozen :class:`Params`.

Every widget that defines the result is bound to the URL query string
(``bind="query-params"``), so a shared link reopens the same view.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

from core.colorspaces import COLOR_SPACES
from core.samples import SAMPLES
from core.segmentation import DEFAULT_N_INIT

UPLOAD = "Upload your own…"
COLOR_SPACE_LABELS = {"rgb": "RGB", "hsv": "HSV", "lab": "CIELAB", "oklab": "OKLab"}
#: Working sizes offered for large photos: label -> max pixels (None = full size).
WORKING_SIZES: dict[str, int | None] = {
    "0.25 MP": 250_000,
    "1 MP": 1_000_000,
    "4 MP": 4_000_000,
    "Full size": None,
}
DEFAULT_K = 6
K_RANGE = (1, 32)


@dataclass(frozen=True)
class Params:
    """Everything that defines a segmentation, as chosen in the sidebar."""

    k: int = DEFAULT_K
    color_space: str = "rgb"
    seed: int = 0
    init: str = "k-means++"
    n_init: int = DEFAULT_N_INIT
    working_pixels: int | None = 1_000_000

    def segment_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`core.segment` (without k)."""
        return {
            "color_space": self.color_space,
            "seed": self.seed,
            "init": self.init,
            "n_init": self.n_init,
        }


@dataclass(frozen=True)
class Source:
    """Where the image comes from: a sample name, or an uploaded file."""

    sample: str | None
    upload: Any | None  # streamlit UploadedFile


def source_ui() -> Source:
    """Image source: a bundled sample photo or the user's own file."""
    choice = st.selectbox(
        "Image",
        [*SAMPLES, UPLOAD],
        key="image",
        bind="query-params",
        help="Start with a sample photo, or upload your own. Uploads stay in this session: "
        "a shared link reopens the samples, not your file.",
    )
    if choice != UPLOAD:
        return Source(sample=choice, upload=None)
    upload = st.file_uploader(
        "Your image",
        type=None,  # we check the contents ourselves and explain what is wrong
        key="upload",
        help="JPEG, PNG, WebP, TIFF, BMP or GIF. Huge photos are clustered at the working size.",
    )
    return Source(sample=None, upload=upload)


def clustering_ui() -> tuple[int, str]:
    """The two choices that matter most: k and the colour space."""
    k = st.slider(
        "Number of clusters (k)",
        *K_RANGE,
        value=DEFAULT_K,
        key="k",
        bind="query-params",
        help="How many colour groups k-means should find. Not sure? See the "
        "'Choosing k' tab for the elbow method's suggestion.",
    )
    color_space = st.selectbox(
        "Colour space",
        list(COLOR_SPACES),
        format_func=lambda name: COLOR_SPACE_LABELS[name],
        key="color_space",
        bind="query-params",
        help="Where distances between colours are measured. CIELAB and OKLab follow human "
        "perception; HSV separates hue from brightness (hue is treated as an angle).",
    )
    st.caption(COLOR_SPACES[color_space])
    return k, color_space


def advanced_ui() -> tuple[int, str, int, int | None]:
    """Seed, initialisation, restarts and working size, tucked in an expander."""
    with st.expander("Advanced", expanded=False):
        seed = st.number_input(
            "Random seed",
            min_value=0,
            max_value=2**31 - 1,
            value=0,
            step=1,
            key="seed",
            bind="query-params",
            help="k-means starts from random centres; the same seed gives the same result.",
        )
        init = st.radio(
            "Initialisation",
            ["k-means++", "random"],
            key="init",
            bind="query-params",
            horizontal=True,
            help="k-means++ spreads the first centres apart (better, the default); random picks "
            "k pixels at random, as in the textbook.",
        )
        n_init = st.slider(
            "Restarts (n_init)",
            1,
            20,
            value=DEFAULT_N_INIT,
            key="n_init",
            bind="query-params",
            help="Run k-means this many times from different starts and keep the best "
            "(lowest WCSS). kseg's restarts are cheap.",
        )
        size_label = st.select_slider(
            "Working size",
            list(WORKING_SIZES),
            value="1 MP",
            key="working_size",
            bind="query-params",
            help="Large photos are clustered on a copy downscaled to this many pixels, which "
            "keeps the app responsive. The full-resolution download labels every original "
            "pixel with the same centres.",
        )
    return int(seed), str(init), int(n_init), WORKING_SIZES[size_label]


def sidebar_ui() -> tuple[Source, Params]:
    """Draw the whole sidebar and return the image source and the parameters."""
    with st.sidebar:
        st.markdown("### :material/palette: kseg")
        source = source_ui()
        st.divider()
        k, color_space = clustering_ui()
        seed, init, n_init, working_pixels = advanced_ui()
        st.divider()
        st.caption(
            "Exact k-means on every pixel, fast: kseg clusters the distinct colours, "
            "weighted by how often they occur. Same engine from a shell: "
            "`kseg segment photo.jpg -k 6`."
        )
    return source, Params(k, color_space, seed, init, n_init, working_pixels)
