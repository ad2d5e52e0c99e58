"""The Collection page: several images (or a ZIP of them), one shared palette, areas.

Controls → one cached call into :func:`core.segment_collection` (in this process: uploads
are small jobs) → views. Cached on the SHA-256 of every uploaded file and the parameters,
like the single-image page; a progress bar counts the images while a run is computed. A
file that cannot be read is listed with the message `core` wrote for it; the others are
kept. The page draws and never does arithmetic on pixels.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
import warnings
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import streamlit as st

import core
from core import collection as coll
from core.features.colorspaces import COLOR_SPACE_NAMES, COLOR_SPACES
from core.outputs.export import png_bytes

#: Pixels of each thumbnail in the grid.
THUMBNAIL_PIXELS = 60_000
#: Collection runs kept per server (each holds thumbnails and a ZIP of outputs).
MAX_RUNS = 4
K_RANGE = (1, 32)
DEFAULT_K = 6
THUMBNAIL_COLUMNS = 4


@dataclass(frozen=True)
class CollectionParams:
    """Everything that defines a collection run, as chosen on the page."""

    k: int = DEFAULT_K
    color_space: str = "lab"
    seed: int = 0
    palette_key: str | None = None  # a kept palette's key: apply it, no fit


@dataclass(frozen=True)
class CollectionRun:
    """A finished run and what the page shows of it."""

    result: core.CollectionResult
    thumbnails: dict[int, bytes]  # row index -> PNG
    outputs_zip: bytes
    unreadable: tuple[tuple[str, str], ...] = ()  # (name, message) of files never read
    palette_json: str | None = None


@dataclass
class _Store:
    """A small LRU of finished runs, shared by the sessions of one server."""

    runs: OrderedDict[Hashable, CollectionRun] = field(default_factory=OrderedDict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: Hashable) -> CollectionRun | None:
        with self.lock:
            run = self.runs.get(key)
            if run is not None:
                self.runs.move_to_end(key)
            return run

    def put(self, key: Hashable, run: CollectionRun) -> None:
        with self.lock:
            self.runs[key] = run
            while len(self.runs) > MAX_RUNS:
                self.runs.popitem(last=False)


@st.cache_resource(show_spinner=False)
def _store() -> _Store:
    return _Store()


# ------------------------------------------------------------------------------- controls


def uploads_ui() -> list[Any]:
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


def params_ui(kept: core.Palette | None) -> CollectionParams:
    columns = st.columns(3)
    k = columns[0].number_input(
        "Clusters (k)",
        min_value=K_RANGE[0],
        max_value=K_RANGE[1],
        value=DEFAULT_K,
        step=1,
        key="coll_k",
        disabled=kept is not None,
        help="Number of colour clusters shared by all the images.",
    )
    space = columns[1].selectbox(
        "Colour space",
        list(COLOR_SPACES),
        index=list(COLOR_SPACES).index("lab"),
        format_func=lambda name: COLOR_SPACE_NAMES.get(name, name),
        key="coll_space",
        disabled=kept is not None,
        help="Space in which colour distances are measured.",
    )
    seed = columns[2].number_input(
        "Seed",
        min_value=0,
        value=0,
        step=1,
        key="coll_seed",
        disabled=kept is not None,
        help="The same seed gives the same palette.",
    )
    if kept is not None:
        return CollectionParams(
            k=kept.k, color_space=kept.color_space, seed=kept.seed or 0, palette_key=kept.key
        )
    return CollectionParams(k=int(k), color_space=str(space), seed=int(seed))


def kept_palette_ui() -> core.Palette | None:
    """An uploaded palette JSON, or None; a file that is not a palette stops the page."""
    upload = st.file_uploader(
        "Apply a kept palette (optional)",
        type=["json"],
        key="coll_palette",
        help="A palette.json from an earlier run or from 'kseg batch': the images are "
        "labelled with its clusters, without fitting a new palette.",
    )
    if upload is None:
        return None
    try:
        return core.Palette.from_json(upload.getvalue())
    except ValueError as error:
        st.error(f"'{upload.name}': {error}", icon=":material/palette:")
        st.stop()


def pixel_size_ui() -> float | None:
    size = st.number_input(
        "Pixel size (metres, 0 = none)",
        min_value=0.0,
        value=0.0,
        step=0.5,
        key="coll_pixel_size",
        help="Side of one pixel on the ground, for aerial and satellite images: the table "
        "then gives each cluster's area in m² and hectares. Georeferenced GeoTIFFs need "
        "none: their areas come from their CRS and transform.",
    )
    return float(size) if size > 0 else None


# ------------------------------------------------------------------------------- pipeline


def named_files(uploads: list[Any]) -> tuple[dict[str, bytes], list[tuple[str, str]]]:
    """Uploaded images by unique name (ZIPs opened), and the ZIPs that could not be."""
    files: dict[str, bytes] = {}
    unreadable: list[tuple[str, str]] = []

    def add(name: str, data: bytes) -> None:
        unique, n = name, 1
        while unique in files:
            n += 1
            unique = f"{Path(name).stem}-{n}{Path(name).suffix}"
        files[unique] = data

    for upload in uploads:
        data = upload.getvalue()
        if upload.name.lower().endswith(".zip"):
            try:
                for inner, content in coll.images_from_zip(data, name=upload.name).items():
                    add(inner, content)
            except core.ImageError as error:
                unreadable.append((upload.name, str(error)))
        else:
            add(upload.name, data)
    return files, unreadable


def run_key(files: dict[str, bytes], params: CollectionParams) -> Hashable:
    digests = tuple((name, hashlib.sha256(data).hexdigest()) for name, data in files.items())
    return (digests, params)


def collection_run(
    files: dict[str, bytes],
    params: CollectionParams,
    kept: core.Palette | None,
    unreadable: list[tuple[str, str]],
) -> CollectionRun:
    """The run for these files and parameters: from the cache, or computed with progress."""
    store = _store()
    key = run_key(files, params)
    cached = store.get(key)
    if cached is not None:
        return cached
    total = len(files)
    bar = st.progress(0.0, text=f"Reading {total} images…")

    def progress(stage: str, done: int, count: int) -> None:
        verb = "Counting colours in" if stage == "histograms" else "Labelling"
        share = (done / count) * (0.5 if kept is None else 1.0)
        if stage == "labels" and kept is None:
            share += 0.5
        bar.progress(min(share, 1.0), text=f"{verb} image {done} of {count}…")

    try:
        with tempfile.TemporaryDirectory(prefix="kseg-collection-") as folder:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # fewer colours than k
                result = core.segment_collection(
                    files,
                    kept if kept is not None else params.k,
                    color_space=params.color_space,  # type: ignore[arg-type]
                    seed=params.seed,
                    out=folder,
                    progress=progress,
                )
            if result.palette is not None:
                (Path(folder) / "palette.json").write_text(result.palette.to_json())
            thumbnails = {
                row.index: png_bytes(
                    core.resize_to_max_pixels(
                        coll.read_segmented(row.outputs["segmented"]), THUMBNAIL_PIXELS
                    ),
                    compress_level=1,
                )
                for row in result.ok
            }
            run = CollectionRun(
                result=result,
                thumbnails=thumbnails,
                outputs_zip=coll.outputs_zip(folder),
                unreadable=tuple(unreadable),
                palette_json=None if result.palette is None else result.palette.to_json(),
            )
    finally:
        bar.empty()
    store.put(key, run)
    return run


# ---------------------------------------------------------------------------------- views


def render_palette(palette: core.Palette) -> None:
    """The shared palette as one bar, each colour as wide as its share of the collection."""
    blocks = []
    for hex_color, (r, g, b), share in zip(
        palette.hex_colors, palette.palette.tolist(), palette.fractions.tolist(), strict=True
    ):
        ink = "#1F2430" if 0.299 * r + 0.587 * g + 0.114 * b > 140 else "#FFFFFF"
        label = hex_color if share >= 0.07 else ""
        blocks.append(
            f"<div style='flex:{max(share, 0.004):.6f};background:{hex_color};color:{ink};"
            "padding:0.5rem 0.3rem;font-size:0.8rem;text-align:center' "
            f"title='{hex_color}: {share:.1%} of the collection'>{label}</div>"
        )
    st.html(
        "<div style='display:flex;border-radius:6px;overflow:hidden;margin:0.3rem 0 1rem 0'>"
        f"{''.join(blocks)}</div>"
    )


def render_errors(run: CollectionRun) -> None:
    failed = [(Path(row.file).name, row.error or "") for row in run.result.errors]
    failed = list(run.unreadable) + failed
    if not failed:
        return
    good = len(run.result.ok)
    st.warning(
        f"{len(failed)} file(s) could not be read and were left out; "
        f"{good} image(s) are segmented below.",
        icon=":material/broken_image:",
    )
    st.dataframe(
        [{"file": name, "problem": message} for name, message in failed],
        hide_index=True,
        width="stretch",
    )


def render_grid(run: CollectionRun) -> None:
    rows = run.result.ok
    for start in range(0, len(rows), THUMBNAIL_COLUMNS):
        columns = st.columns(THUMBNAIL_COLUMNS)
        for column, row in zip(columns, rows[start : start + THUMBNAIL_COLUMNS], strict=False):
            column.image(
                run.thumbnails[row.index],
                caption=f"{Path(row.file).name} · {row.width} × {row.height}",
                width="stretch",
            )


def render_downloads(run: CollectionRun, pixel_size: float | None) -> None:
    columns = st.columns(3)
    columns[0].download_button(
        "Areas (CSV)",
        coll.areas_csv(run.result.ok, pixel_size),
        file_name="areas.csv",
        mime="text/csv",
        key="coll_download_areas",
        icon=":material/table:",
        help="file, cluster, hex, pixels, share (and m², ha with a pixel size).",
    )
    if run.palette_json is not None:
        columns[1].download_button(
            "Palette (JSON)",
            run.palette_json,
            file_name="palette.json",
            mime="application/json",
            key="coll_download_palette",
            icon=":material/palette:",
            help="Keep it to label more images the same way: upload it here under "
            "'Apply a kept palette', or run 'kseg apply palette.json IMAGES -o out/'.",
        )
    columns[2].download_button(
        "Outputs (ZIP)",
        run.outputs_zip,
        file_name="kseg_collection.zip",
        mime="application/zip",
        key="coll_download_zip",
        icon=":material/folder_zip:",
        help="segmented/ and labels/ PNGs for every image (labels: indexed PNG, pixel value = "
        "cluster) and palette.json; for georeferenced GeoTIFFs, GeoTIFFs in their CRS "
        "(labels: uint8, no-data 255, colour table) to open in QGIS.",
    )


def main() -> None:
    """The page."""
    st.set_page_config(
        page_title="kseg · collection", page_icon=":material/palette:", layout="wide"
    )
    st.title("Collection: one palette over many images", anchor=False)
    st.markdown(
        "Upload several images: kseg fits **one** k-means palette on every pixel of all of "
        "them (exactly, by summing their colour histograms), then labels each image with it, "
        "so a cluster means the same colour everywhere and areas can be compared."
    )
    uploads = uploads_ui()
    kept = kept_palette_ui()
    params = params_ui(kept)
    if not uploads:
        st.info(
            "Upload images (PNG, JPEG, WebP, TIFF, BMP, GIF) or a ZIP of them to start.",
            icon=":material/upload:",
        )
        st.stop()
    files, unreadable = named_files(uploads)
    if not files:
        for name, message in unreadable:
            st.error(f"{name}: {message}", icon=":material/folder_zip:")
        st.stop()
    try:
        run = collection_run(files, params, kept, unreadable)
    except ValueError as error:  # settings these images cannot satisfy, e.g. k > pixels
        st.error(f"These settings don't fit these images: {error}", icon=":material/tune:")
        st.stop()
    result = run.result
    palette = result.palette
    if palette is None:
        render_errors(run)
        st.error("None of the files could be read; see the list above.", icon=":material/error:")
        st.stop()
    source = "kept palette" if kept is not None else f"k = {palette.k}"
    st.subheader(
        f"Shared palette ({source}, {COLOR_SPACE_NAMES.get(palette.color_space, '')}) "
        f"over {len(result.ok)} image(s)",
        anchor=False,
    )
    render_palette(palette)
    render_errors(run)
    render_grid(run)
    st.plotly_chart(coll.shares_figure(result), key="coll_shares")
    st.subheader("Areas", anchor=False)
    pixel_size = pixel_size_ui()
    st.dataframe(coll.area_records(result.ok, pixel_size), hide_index=True)
    render_downloads(run, pixel_size)
