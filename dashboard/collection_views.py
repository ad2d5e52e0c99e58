"""The Collection page's ``render_*()`` functions: they draw what
:mod:`dashboard.collection_pipeline` computed, and compute nothing.

The same conventions as the single-image page (:mod:`dashboard.views`): the palette strip
and its legend, shares as ``42.6 %``, swatches in the table, a checkerboard behind
transparent pixels, outlines that show on the dark theme.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

import core
from core import collection as coll
from core.features.colorspaces import COLOR_SPACE_NAMES
from dashboard.collection_pipeline import CollectionRun
from dashboard.formats import SHARE_FORMAT
from dashboard.views import (
    OUTLINE,
    PALETTE_CSS,
    PLOTLY_CONFIG,
    palette_strip_html,
    swatch_data_uri,
)

THUMBNAIL_COLUMNS = 4
#: Thumbnails are transparent where pixels don't count (a GeoTIFF's no-data): a
#: checkerboard shows it, as on the single-image page.
_PAGE_CSS = (
    """
<style>
.st-key-coll_grid [data-testid="stImage"] img {
  background: repeating-conic-gradient(#e9ecef 0% 25%, #ffffff 0% 50%) 50% / 16px 16px;
  border-radius: 0.25rem;
}
</style>
"""
    + PALETTE_CSS
)


def render_header() -> None:
    st.html(_PAGE_CSS)
    st.title("Collection: one palette over many images", anchor=False)
    st.markdown(
        "Upload several images: kseg fits **one** k-means palette on every pixel of all of "
        "them (exactly, by summing their colour histograms), then labels each image with it, "
        "so a cluster means the same colour everywhere and areas can be compared."
    )


def render_upload_prompt() -> None:
    st.info(
        "Upload images (PNG, JPEG, WebP, TIFF, BMP, GIF) or a ZIP of them to start.",
        icon=":material/upload:",
    )


def render_palette(
    result: core.CollectionResult, kept: bool, model: core.ClassModel | None = None
) -> None:
    """The shared palette: a heading, the strip (each colour as wide as its share of the
    collection) and its legend; with an applied model, each cluster's class name."""
    palette = result.palette
    assert palette is not None
    source = "applied model" if kept else f"k = {palette.k}"
    st.subheader(
        f"Shared palette ({source}, {COLOR_SPACE_NAMES.get(palette.color_space or '', '')}) "
        f"over {len(result.ok)} image(s)",
        anchor=False,
    )
    names = None
    if model is not None and not model.is_identity:
        names = ["dropped" if c < 0 else model.class_names[int(c)] for c in model.class_of.tolist()]
    shares = [] if palette.shares is None else palette.shares.tolist()
    st.html(palette_strip_html(palette.hex_colors, shares, "of the collection", names))


def render_errors(run: CollectionRun) -> None:
    """The files left out, each with the message `core` wrote for it."""
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
    """Every segmented image, small, with its name and size."""
    rows = run.result.ok
    with st.container(key="coll_grid"):
        for start in range(0, len(rows), THUMBNAIL_COLUMNS):
            columns = st.columns(THUMBNAIL_COLUMNS)
            for column, row in zip(columns, rows[start : start + THUMBNAIL_COLUMNS], strict=False):
                column.image(
                    run.thumbnails[row.index],
                    caption=f"{Path(row.file).name} · {row.width} × {row.height}",
                    width="stretch",
                    output_format="PNG",
                )


def render_shares(result: core.CollectionResult) -> None:
    """Each image's share of every cluster, as stacked bars outlined for both themes."""
    figure = coll.shares_figure(result)
    figure.update_traces(marker_line_color=OUTLINE, marker_line_width=1)
    st.plotly_chart(figure, key="coll_shares", config=PLOTLY_CONFIG)


def class_records(
    records: list[dict[str, Any]], model: core.ClassModel | None
) -> list[dict[str, Any]]:
    """The per-cluster area records of :func:`core.collection.area_records` in `model`'s
    classes: one record per image and class (its clusters' pixels and areas summed, its
    share of the image's kept pixels), named; dropped clusters left out. Without a model
    (or one that names nothing), the records with a ``name`` column."""
    from core.formats import tables

    if model is None or model.is_identity:
        return [{**r, "name": tables.default_class_name(int(r["class"]))} for r in records]
    colors = model.hex_colors
    out: list[dict[str, Any]] = []
    files = list(dict.fromkeys(r["file"] for r in records))
    for file in files:
        rows = [r for r in records if r["file"] == file]
        counts = [0] * model.n_classes
        areas: list[float | None] | None = [0.0] * model.n_classes
        basis = None
        for r in rows:
            c = int(model.class_of[int(r["class"])])
            if c < 0:
                continue
            counts[c] += int(r["pixels"])
            if areas is not None and r.get("area_m2") is not None:
                areas[c] = (areas[c] or 0.0) + float(r["area_m2"])
                basis = r.get("area_basis")
            elif areas is not None and "area_m2" not in r:
                areas = None
        out += tables.area_rows(
            counts,
            colors,
            names=list(model.class_names),
            areas_m2=areas if basis is not None else None,
            area_basis=basis,
            file=file,
        )
    return out


def render_areas(
    result: core.CollectionResult, pixel_size: float | None, model: core.ClassModel | None = None
) -> None:
    """One row per image and class (its name; a cluster until named): swatch, hex,
    pixels, share (and areas)."""
    records = class_records(coll.area_records(result.ok, pixel_size), model)
    for record in records:
        record["cluster"] = record["class"]
        record["colour"] = swatch_data_uri(record["hex"])
        record["share"] = 100 * record["share"]
    columns = ["file", "cluster", "colour", "name", "hex", "pixels", "share"]
    if records and "area_m2" in records[0]:
        columns += ["area_m2", "area_ha"]
    st.dataframe(
        records,
        hide_index=True,
        column_order=columns,
        column_config={
            "cluster": st.column_config.NumberColumn("#", width=40),
            "colour": st.column_config.ImageColumn("", width=40),
            "pixels": st.column_config.NumberColumn("pixels", format="localized"),
            "share": st.column_config.ProgressColumn(
                "share", format=SHARE_FORMAT, min_value=0.0, max_value=100.0, width="small"
            ),
            "area_m2": st.column_config.NumberColumn("area (m²)", format="compact"),
            "area_ha": st.column_config.NumberColumn("area (ha)", format="compact"),
        },
        key="coll_areas",
    )


def render_downloads(
    run: CollectionRun, pixel_size: float | None, model: core.ClassModel | None = None
) -> None:
    from core.formats import tables

    columns = st.columns(4)
    columns[0].download_button(
        "Areas (CSV)",
        lambda: tables.areas_csv(
            class_records(coll.area_records(run.result.ok, pixel_size), model)
        ),
        file_name="areas.csv",
        mime="text/csv",
        key="coll_download_areas",
        icon=":material/table:",
        help="file, class, name, hex, pixels, share (and m², ha with a pixel size).",
        on_click="ignore",
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
            "'Apply a model', or run 'kseg apply palette.json IMAGES -o out/'.",
            on_click="ignore",
        )
    model_json = model.to_json() if model is not None else None
    if model_json is None and run.palette_json is not None:
        model_json = core.ClassModel.from_json(run.palette_json).to_json()
    if model_json is not None:
        columns[3].download_button(
            "Model (JSON)",
            model_json,
            file_name="model.json",
            mime="application/json",
            key="coll_download_model",
            icon=":material/model_training:",
            help="The shared clusters (and their classes) as a model.json: upload it here "
            "under 'Apply a model', on the Single image page, or run 'kseg apply'.",
            on_click="ignore",
        )
    columns[2].download_button(
        "Outputs (ZIP)",
        run.outputs_zip,
        file_name="kseg_collection.zip",
        mime="application/zip",
        key="coll_download_zip",
        icon=":material/folder_zip:",
        help="segmented/ and labels/ PNGs for every image (labels: indexed PNG, pixel value = "
        "cluster; segmented: transparent where pixels don't count) and palette.json; for "
        "georeferenced GeoTIFFs, GeoTIFFs in their CRS (labels: uint8, no-data 255, colour "
        "table; segmented: RGBA, no-data clear) to open in QGIS.",
        on_click="ignore",
    )
