"""The Collection page's widgets. Each ``*_ui()`` draws its widgets (explicit keys, help on
every one) and returns plain values; :func:`params_ui` gathers the run's settings into a
frozen :class:`CollectionParams`.

As on the single-image page (:mod:`dashboard.controls`), every setting lives in the address
(:mod:`dashboard.links` parses it): ``/collection?coll_k=8&coll_space=rgb`` reopens the page
with those settings. Uploaded files and a kept palette cannot travel in a link.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import streamlit as st

import core
from core import collection as coll
from core.features.colorspaces import COLOR_SPACE_NAMES, COLOR_SPACES
from core.results.segmentation import DEFAULT_COLOR_SPACE
from core.validation import ColorSpace, check_color_space
from dashboard import links
from dashboard.controls import SEED_MAX

K_RANGE = (1, 32)
DEFAULT_K = 6
PIXEL_SIZE_MAX = 100_000.0

links.integer("coll_k", *K_RANGE, DEFAULT_K)
# The address keeps the library's name (?coll_space=lab, as the CLI); labels work too.
links.choice(
    "coll_space",
    list(COLOR_SPACES),
    DEFAULT_COLOR_SPACE,
    aliases={label: name for name, label in COLOR_SPACE_NAMES.items()},
)
links.integer("coll_seed", 0, SEED_MAX, 0)
links.number("coll_pixel_size", 0.0, PIXEL_SIZE_MAX, 0.0)


@dataclass(frozen=True)
class CollectionParams:
    """Everything that defines a collection run, as chosen on the page."""

    k: int = DEFAULT_K
    color_space: ColorSpace = DEFAULT_COLOR_SPACE
    seed: int = 0
    palette_key: str | None = None  # a kept palette's key: apply it, no fit


def uploads_ui() -> list[Any]:
    """The images (streamlit's UploadedFile), ZIPs among them; empty before any upload."""
    return (
        st.file_uploader(
            "Images, or a ZIP of images",
            type=[s.lstrip(".") for s in coll.ZIP_IMAGE_SUFFIXES] + ["zip"],
            accept_multiple_files=True,
            key="coll_uploads",
            help="Several images of one collection: tiles of a scene, the same field over "
            "months, product photos. They get one shared palette, so cluster 2 means the "
            "same colour in every image.",
        )
        or []
    )


def palette_of(model: core.ClassModel) -> core.CollectionModel:
    """A colour model as the kept model :func:`core.segment_collection` applies: its
    centres and cluster colours (its classes are applied by the page, on the areas)."""
    k = model.k
    shares = model.shares if model.shares is not None else np.full(k, 1.0 / k)
    counts = np.rint(np.asarray(shares) * 1_000_000).astype(np.int64)
    clusters = core.ClassModel(
        model.features, model.centers, model.cluster_colors, shares=shares, wcss=model.wcss
    )
    return core.CollectionModel.from_model(clusters, counts=counts, n_pixels=int(counts.sum()))


def kept_model_ui() -> tuple[core.CollectionModel | None, core.ClassModel | None]:
    """An uploaded model.json (or an old palette.json), as the palette to apply and the
    model with its classes; (None, None) without one. A file that is not a colour model
    kseg can read gets an ``st.error`` with the library's message, and the page fits as
    usual."""
    upload = st.file_uploader(
        "Apply a model (optional)",
        type=["json"],
        key="coll_palette",
        help="A model.json (from the Single image page, 'kseg segment' or 'kseg batch'; an "
        "old palette.json too): the images are labelled with its clusters and classes, "
        "without fitting a new palette.",
    )
    if upload is None:
        return None, None
    try:
        model = core.ClassModel.from_json(upload.getvalue())
        if model.features.kind != "color":
            raise ValueError(
                f"it classifies {model.features.describe()}, and this page applies colour "
                "models; apply it with 'kseg apply MODEL INPUT... -o OUT'."
            )
    except ValueError as error:
        st.error(f"'{upload.name}': {error}", icon=":material/palette:")
        return None, None
    return palette_of(model), model


def params_ui(kept: core.CollectionModel | None) -> CollectionParams:
    """k, colour space and seed; disabled (and taken from it) with a kept palette."""
    columns = st.columns(3)
    with columns[0]:
        k = links.drawn(
            "coll_k",
            st.number_input,
            "Clusters (k)",
            min_value=K_RANGE[0],
            max_value=K_RANGE[1],
            step=1,
            disabled=kept is not None,
            help="Number of colour clusters shared by all the images.",
        )
    with columns[1]:
        space = links.drawn(
            "coll_space",
            st.selectbox,
            "Colour space",
            list(COLOR_SPACES),
            format_func=COLOR_SPACE_NAMES.__getitem__,
            disabled=kept is not None,
            help="Space in which colour distances are measured.",
        )
    with columns[2]:
        seed = links.drawn(
            "coll_seed",
            st.number_input,
            "Seed",
            min_value=0,
            max_value=SEED_MAX,
            step=1,
            disabled=kept is not None,
            help="The same seed gives the same palette.",
        )
    if kept is not None:
        return CollectionParams(
            k=kept.k,
            color_space=check_color_space(kept.color_space),
            seed=kept.seed or 0,
            palette_key=kept.key,
        )
    return CollectionParams(k=int(k), color_space=space, seed=int(seed))


def pixel_size_ui() -> float | None:
    """The side of one pixel on the ground in metres, or None (no areas)."""
    size = links.drawn(
        "coll_pixel_size",
        st.number_input,
        "Pixel size (metres, 0 = none)",
        min_value=0.0,
        max_value=PIXEL_SIZE_MAX,
        step=0.5,
        help="Side of one pixel on the ground, for aerial and satellite images: the table "
        "then gives each cluster's area in m² and hectares. Georeferenced GeoTIFFs need "
        "none: their areas come from their CRS and transform.",
    )
    return float(size) if size > 0 else None
