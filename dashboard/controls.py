"""Sidebar widgets. Each ``*_ui()`` draws its widgets (explicit keys, help on every one)
and returns plain values; :func:`sidebar_ui` gathers them into a frozen :class:`Params`.

Every setting lives in the address (:mod:`dashboard.links` parses it, so a hostile link
cannot reach a widget): the URL holds what differs from the defaults, so a shared link
reopens the same view. An uploaded file cannot travel in a link; the sidebar says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import streamlit as st

from core.features.colorspaces import COLOR_SPACE_NAMES, COLOR_SPACES
from core.inputs.masking import MaskOptions
from core.inputs.samples import SAMPLES
from core.validation import DEFAULT_COLOR_SPACE, DEFAULT_N_INIT, ColorSpace, Init
from dashboard import links

UPLOAD = "Upload your own…"
#: The bundled GeoTIFF, next to the sample photos.
SCENE_SAMPLE = "Satellite scene (GeoTIFF, 4 bands)"
#: Colour space name -> the label shown (and carried in the URL): core's display names.
COLOR_SPACE_LABELS = COLOR_SPACE_NAMES
#: Fit sizes offered for large photos: label -> max pixels the centres are fitted on
#: (``core.segment(fit_pixels=...)``; every pixel is still labelled).
WORKING_SIZES: dict[str, int | None] = {
    "0.25 MP": 250_000,
    "1 MP": 1_000_000,
    "4 MP": 4_000_000,
    "Full": None,
}
DEFAULT_WORKING_SIZE = "1 MP"
DEFAULT_K = 6
K_RANGE = (1, 32)
N_INIT_RANGE = (1, 20)
SEED_MAX = 2**31 - 1
INITS: tuple[Init, ...] = ("k-means++", "random")
#: How the 3D scatter colours its points (core.outputs.figures.scatter3d_figure's `color_by`).
ColorBy = Literal["pixel", "cluster"]

#: The photo a first visit shows (the first bundled sample).
DEFAULT_SAMPLE = next(iter(SAMPLES))
links.choice("image", [*SAMPLES, SCENE_SAMPLE, UPLOAD], DEFAULT_SAMPLE)
links.integer("k", *K_RANGE, DEFAULT_K)
# The address keeps the library's name (?color_space=lab, as the CLI); labels work too.
links.choice(
    "color_space",
    list(COLOR_SPACES),
    DEFAULT_COLOR_SPACE,
    aliases={label: name for name, label in COLOR_SPACE_LABELS.items()},
)
links.integer("seed", 0, SEED_MAX, 0)
links.choice("init", INITS, INITS[0])
links.integer("n_init", *N_INIT_RANGE, DEFAULT_N_INIT)
links.choice("working_size", list(WORKING_SIZES), DEFAULT_WORKING_SIZE)
#: Pixels that don't count (core.inputs.masking.MaskOptions): the CLI's --ignore-transparent,
#: --ignore-color and --color-tolerance.
COLOR_TOLERANCE_RANGE = (0, 64)
links.choice("ignore_transparent", [True, False], True)
links.choice("ignore_color_on", [False, True], False)
links.hex_color("ignore_color", "#ffffff")
links.integer("color_tolerance", *COLOR_TOLERANCE_RANGE, 0)


@dataclass(frozen=True)
class Params:
    """Everything that defines a segmentation, as chosen in the sidebar."""

    k: int = DEFAULT_K
    color_space: ColorSpace = DEFAULT_COLOR_SPACE
    seed: int = 0
    init: Init = "k-means++"
    n_init: int = DEFAULT_N_INIT
    fit_pixels: int | None = WORKING_SIZES[DEFAULT_WORKING_SIZE]
    #: Which pixels count; part of every cache key, so every view follows it.
    mask: MaskOptions = field(default_factory=MaskOptions)

    def segment_kwargs(self) -> dict[str, Any]:
        """The k-means settings shared by :func:`core.segment`, :func:`core.elbow` and
        :func:`core.sweep` (after the image and k). The fit size is not among them: it is
        :attr:`fit_pixels`, passed to ``core.segment`` alone; nor is :attr:`mask`, which
        the pipeline turns into each call's ``mask=`` for the pixels at hand."""
        return {
            "color_space": self.color_space,
            "seed": self.seed,
            "init": self.init,
            "n_init": self.n_init,
        }


@dataclass(frozen=True)
class Source:
    """Where the image comes from: a sample name, or an uploaded file (or none yet)."""

    sample: str | None
    upload: Any | None  # streamlit's UploadedFile


def source_ui() -> Source:
    """Image source: a bundled sample photo or the user's own file."""
    choice = links.drawn(
        "image",
        st.selectbox,
        "Image",
        [*SAMPLES, SCENE_SAMPLE, UPLOAD],
        help="Start with a sample photo (from scikit-learn) or the synthetic satellite scene "
        "(a georeferenced 4-band GeoTIFF made by kseg), or upload your own.",
    )
    if choice != UPLOAD:
        return Source(sample=choice, upload=None)
    upload = st.file_uploader(
        "Your image",
        type=None,  # kseg reads the contents and says exactly what is wrong with a bad file
        key="upload",
        help="JPEG, PNG, WebP, TIFF, BMP or GIF, up to 200 MB; GeoTIFFs keep their "
        "georeference (areas in m² and ha, GeoTIFF and GeoJSON downloads). Fully "
        "transparent pixels and a GeoTIFF's no-data are left out of the clusters; "
        "animations use their first frame.",
    )
    st.caption(
        "Your file stays in this browser session. A shared link keeps the settings but "
        "not the file: the person you send it to uploads their own."
    )
    return Source(sample=None, upload=upload)


def clustering_ui() -> tuple[int, ColorSpace]:
    """The two choices that matter most: k and the colour space."""
    k = links.drawn(
        "k",
        st.slider,
        "Number of clusters (k)",
        *K_RANGE,
        help="How many colours k-means keeps. Not sure? The **Choosing k** tab runs the "
        "elbow method and suggests one.",
    )
    color_space = links.drawn(
        "color_space",
        st.selectbox,
        "Colour space",
        list(COLOR_SPACES),
        format_func=COLOR_SPACE_LABELS.__getitem__,
        help="Where distances between colours are measured. CIELAB and OKLab follow human "
        "perception; HSV separates hue from brightness (hue is treated as an angle); RGB is "
        "the raw channels.",
    )
    description = COLOR_SPACES[color_space].split(" — ", 1)[-1]
    st.caption(description[:1].upper() + description[1:] + ".")
    return k, color_space


def advanced_ui() -> tuple[int, Init, int, int | None]:
    """Seed, initialisation, restarts and fit size, tucked in an expander."""
    with st.expander("Advanced", icon=":material/tune:"):
        seed = links.drawn(
            "seed",
            st.number_input,
            "Random seed",
            min_value=0,
            max_value=SEED_MAX,
            step=1,
            help="k-means starts from random centres: the same seed gives the same result, "
            "here and with the `kseg` command.",
        )
        init = links.drawn(
            "init",
            st.radio,
            "Initialisation",
            list(INITS),
            horizontal=True,
            help="k-means++ spreads the first centres apart (better; the default). Random "
            "picks k colours at random, as in the textbook.",
        )
        n_init = links.drawn(
            "n_init",
            st.slider,
            "Restarts (n_init)",
            *N_INIT_RANGE,
            help="Run k-means this many times from different starts and keep the best "
            "(lowest WCSS). kseg's restarts run on a colour histogram, so they are cheap.",
        )
        size_label = links.drawn(
            "working_size",
            st.select_slider,
            "Fit centres on",
            list(WORKING_SIZES),
            help="For big photos: the centres are fitted on a copy downscaled to this many "
            "pixels, then **every pixel of the full image** is labelled with its nearest "
            "centre, exactly (`kseg segment --fit-pixels`). *Full* fits on every pixel. "
            "Smaller images are never downscaled.",
        )
    # `init` is one of INITS: the radio offers nothing else.
    return int(seed), init, int(n_init), WORKING_SIZES[size_label]


def mask_ui() -> MaskOptions:
    """Pixels that don't count: transparent ones, one background colour."""
    with st.expander("Pixels that don't count", icon=":material/texture:"):
        ignore_transparent = links.drawn(
            "ignore_transparent",
            st.toggle,
            "Leave out transparent pixels",
            help="Fully transparent pixels of a PNG or WebP, and a GeoTIFF's no-data, are "
            "left out of the clusters, shares, WCSS, the elbow, the sweep and the 3D view "
            "(`kseg --ignore-transparent`, the default).",
        )
        ignore_color_on = links.drawn(
            "ignore_color_on",
            st.toggle,
            "Leave out one colour",
            help="For a scan or a logo on a flat background: pixels of this colour do not "
            "count (`kseg --ignore-color`).",
        )
        color, tolerance = links.remembered("ignore_color"), 0
        if ignore_color_on:
            color = links.drawn(
                "ignore_color",
                st.color_picker,
                "Colour to leave out",
                help="The background's colour (`kseg --ignore-color`).",
            )
            tolerance = links.drawn(
                "color_tolerance",
                st.slider,
                "Tolerance",
                *COLOR_TOLERANCE_RANGE,
                help="Also leave out pixels within this many levels (of 255) of the colour "
                "on every channel, for a slightly noisy background (`kseg --color-tolerance`).",
            )
    return MaskOptions(
        ignore_transparent=bool(ignore_transparent),
        ignore_color=str(color) if ignore_color_on else None,
        color_tolerance=int(tolerance),
    )


@dataclass(frozen=True)
class RasterParams:
    """The multiband choices for a GeoTIFF: bands and indices to cluster, bands to show."""

    bands: tuple[str, ...] = ()
    indices: tuple[str, ...] = ()
    rgb: tuple[str, str, str] | None = None


def raster_features_ui(
    band_names: tuple[str, ...], default_rgb: tuple[str, str, str]
) -> RasterParams:
    """Band picker and index toggles for clustering a GeoTIFF on its bands (not its colours)."""
    bands = st.multiselect(
        "Bands to cluster on",
        list(band_names),
        default=list(band_names),
        key="raster_bands",
        help="Every valid pixel is clustered on these bands (each scaled to unit variance), "
        "exactly, with kseg's N-dimensional engine. No-data pixels are left out.",
    )
    left, right = st.columns(2)
    ndvi = left.checkbox(
        "Add NDVI",
        key="raster_ndvi",
        help="(NIR − red) / (NIR + red): vegetation. Needs bands named red and nir.",
    )
    ndwi = right.checkbox(
        "Add NDWI",
        key="raster_ndwi",
        help="(green − NIR) / (green + NIR): open water. Needs bands named green and nir.",
    )
    columns = st.columns(3)
    channels = zip(columns, ("red", "green", "blue"), default_rgb, strict=True)
    rgb = tuple(
        column.selectbox(
            f"Show as {channel}",
            list(band_names),
            index=list(band_names).index(default),
            key=f"raster_rgb_{channel}",
            help="The bands shown as red, green and blue (2–98 % stretch); the class "
            "colours are the mean shown colour of each class.",
        )
        for column, channel, default in channels
    )
    indices = tuple(name for name, on in (("ndvi", ndvi), ("ndwi", ndwi)) if on)
    return RasterParams(tuple(bands), indices, rgb)  # type: ignore[arg-type]


def sidebar_ui() -> tuple[Source, Params]:
    """Draw the whole sidebar and return the image source and the parameters."""
    links.read_link()
    with st.sidebar:
        st.markdown("## :material/palette: kseg")
        source = source_ui()
        st.divider()
        k, color_space = clustering_ui()
        seed, init, n_init, fit_pixels = advanced_ui()
        mask = mask_ui()
        st.divider()
        st.caption(
            ":material/link: The address bar holds these settings: copy it to share "
            "this view.  \n:material/terminal: The `kseg` command runs the same engine "
            "from a shell."
        )
    return source, Params(k, color_space, seed, init, n_init, fit_pixels, mask)
