"""``render_*()`` functions: they draw what the pipeline computed, and compute nothing.

Every ``st.image`` names the format of the bytes it gets (``output_format``): with the
default "auto", Streamlit decodes a PNG without alpha and re-encodes it as JPEG on every
rerun, costing time and blurring flat colours; named, the cached bytes are sent as they are.

The downloads, and the recipe and commands behind them, are in :mod:`dashboard.downloads`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

import core
from core.inputs.masking import n_counted
from core.outputs import export, figures
from dashboard import links
from dashboard.controls import COLOR_SPACE_LABELS, ColorBy, Params
from dashboard.downloads import class_names, named_palette_rows, raster_report
from dashboard.formats import (
    SHARE_FORMAT,
    metric_number,
    percent,
    plural,
    statistics_by_class,
    wcss_label,
)
from dashboard.pipeline import DISPLAY_PIXELS, k_range

_CARDS_PER_ROW = 3


def _page_icon() -> bytes:
    """kseg's tab icon: four palette stripes in a rounded square, a 32 × 32 RGBA PNG.

    An image, served by the app itself: a Material icon (``:material/palette:``) as page
    or navigation icon makes the browser fetch its SVG from fonts.gstatic.com on every
    visit, which fails offline."""
    size, radius = 32, 7
    icon = np.zeros((size, size, 4), np.uint8)
    for i, color in enumerate(("#4C6EF5", "#2F9E44", "#F59F00", "#E03131")):
        icon[:, 8 * i : 8 * (i + 1), :3] = [int(color[j : j + 2], 16) for j in (1, 3, 5)]
    y, x = np.mgrid[:size, :size] + 0.5
    corner = (
        np.maximum(np.abs(x - size / 2) - (size / 2 - radius), 0) ** 2
        + np.maximum(np.abs(y - size / 2) - (size / 2 - radius), 0) ** 2
    )
    icon[..., 3] = np.where(corner <= radius**2, 255, 0)
    return export.png_bytes(icon)


#: The browser tab's icon on every page (``st.set_page_config(page_icon=PAGE_ICON)``).
PAGE_ICON = _page_icon()
COLOR_BY: dict[ColorBy, str] = {"pixel": "their own colour", "cluster": "their cluster"}
POINTS_SHOWN = [5_000, 10_000, 20_000, 50_000]
PIXEL_SIZE_MAX = 100_000.0
ELBOW_K_MAX_RANGE = (3, 20)
links.choice("color_by", list(COLOR_BY), "pixel")
links.choice("max_points", POINTS_SHOWN, 20_000)
links.number("pixel_size", 0.0, PIXEL_SIZE_MAX, 0.0)
links.integer("k_max", *ELBOW_K_MAX_RANGE, 12)
# No Plotly toolbar: on a phone it covered the charts' titles. Charts still zoom and rotate
# by touch or mouse, and Streamlit's own toolbar offers full screen.
PLOTLY_CONFIG = {"displaylogo": False, "displayModeBar": False}
_PLOTLY_CONFIG = PLOTLY_CONFIG
# Cut-outs are transparent outside their cluster: show that as a checkerboard, so a white
# sky or a black shadow stays visible on the page (the downloaded PNGs stay transparent).
CHECKERBOARD_CSS = """
<style>
.st-key-cluster_cards [data-testid="stImage"] img,
.st-key-overview_images [data-testid="stImage"] img,
.st-key-sweep_images [data-testid="stImage"] img,
.st-key-steps_images [data-testid="stImage"] img,
.st-key-raster_images [data-testid="stImage"] img {
  background: repeating-conic-gradient(#e9ecef 0% 25%, #ffffff 0% 50%) 50% / 16px 16px;
  border-radius: 0.25rem;
}
</style>
"""


def _pixels(n: int) -> str:
    return f"{n / 1e6:.1f} MP" if n >= 100_000 else f"{n:,} pixels"


def _size(shape: tuple[int, ...]) -> str:
    return f"{shape[1]:,} × {shape[0]:,}"


def _swatch(hex_color: str, size: str = "1.1rem") -> str:
    return (
        f"<span style='display:inline-block;width:{size};height:{size};border-radius:.3rem;"
        f"background:{hex_color};border:1px solid {OUTLINE};vertical-align:middle'></span>"
    )


#: Outlines that show on the light and the dark theme alike: a near-black cluster (#1d1813)
#: on the dark page, or a near-white one on the light page, keeps its edge.
OUTLINE = "rgba(128, 128, 128, 0.6)"
#: The palette strip and its legend (:func:`palette_strip_html`), on every page.
PALETTE_CSS = f"""
<style>
.kseg-palette {{ display: flex; height: 1.6rem; border-radius: .5rem; overflow: hidden;
  box-shadow: 0 0 0 1px {OUTLINE}; margin: .25rem 0 .5rem 0; }}
.kseg-palette div {{ min-width: 2px; box-shadow: inset -1px 0 0 {OUTLINE}; }}
.kseg-palette div:last-child {{ box-shadow: none; }}
/* The legend wraps: every colour keeps its hex and share legible on any screen. */
.kseg-legend {{ display: flex; flex-wrap: wrap; gap: .3rem 1rem; margin: 0 0 1rem 0;
  font-size: .85rem; }}
.kseg-legend span {{ display: inline-flex; align-items: center; gap: .4rem;
  white-space: nowrap; }}
.kseg-legend i {{ display: inline-block; width: 1rem; height: 1rem; border-radius: .25rem;
  border: 1px solid {OUTLINE}; }}
.kseg-legend code {{ font: 500 .8rem ui-monospace, SFMono-Regular, Menlo, monospace;
  background: none; padding: 0; }}
</style>
"""
_PAGE_CSS = (
    """
<style>
[data-testid="stMainBlockContainer"] { padding-top: 2.5rem; padding-bottom: 3rem; }
/* A very tall image (a 2 x 100,000 strip) would stretch to the column's width and run on
   for metres (47,000 px at 390 px wide): none is drawn taller than one and a half screens,
   and each keeps its shape. Photos up to 2:3 portrait on a desktop are not affected. */
[data-testid="stImage"] img { max-height: 150vh; object-fit: contain; }
/* Five tiles in a row on a desktop: values at a size that fits each tile whole. */
[data-testid="stMetricValue"] { font-size: 1.9rem; }
/* The table toolbar (search, download, full screen) appears above a table's top right
   corner: room for it, so that it never covers the widget above (on a phone, the pixel
   size's - and + buttons). */
[data-testid="stDataFrame"] { margin-top: 2.25rem; }
</style>
"""
    + PALETTE_CSS
)


def render_header() -> None:
    st.html(_PAGE_CSS)
    st.title("kseg: k-means image segmentation", anchor=False)
    st.markdown(
        "k-means sorts every pixel into **k** groups so that each pixel is as close as "
        "possible to its group's average colour; painting every pixel with that average "
        "gives a picture in just k colours."
    )


def render_upload_prompt() -> None:
    st.info(
        "Choose an image file in the sidebar: a JPEG, PNG, WebP, TIFF, BMP or GIF. "
        "Or pick a sample photo to start.",
        icon=":material/upload:",
    )


def clustering_message(loaded: core.LoadedImage, params: Params) -> str:
    """What the spinner says while k-means runs."""
    where = COLOR_SPACE_LABELS[params.color_space]
    return f"Clustering {_pixels(loaded.n_pixels)} into k = {params.k} colours in {where}…"


def render_summary(
    loaded: core.LoadedImage, seg: core.Segmentation, notes: tuple[str, ...]
) -> None:
    """One line saying exactly what was computed, and any warning from k-means."""
    counted = int(seg.counts.sum())
    pixels = (
        f"All **{counted:,} pixels**"
        if seg.valid is None
        else f"All **{counted:,} pixels that count**"
    )
    fitted_on_copy = seg.fit_shape is not None and (
        tuple(seg.fit_shape) != seg.shape if seg.valid is None else seg.fit_shape[1] < counted
    )
    if fitted_on_copy:
        assert seg.fit_shape is not None
        fitted = (
            f"a {_size(seg.fit_shape)} copy"
            if seg.valid is None
            else f"an even sample of {seg.fit_shape[1]:,} of them"
        )
        st.caption(
            f":material/verified: {pixels} labelled exactly with their nearest centre; the "
            f"centres were fitted on {fitted} (*Advanced → Fit centres on*). Shares, masks and "
            "downloads are full resolution."
        )
    else:
        st.caption(
            f":material/verified: Exact k-means on {pixels[0].lower() + pixels[1:]} "
            f"({seg.n_colors:,} distinct colours, each weighted by how often it occurs)."
        )
    raster = loaded.raster
    if raster is not None:
        area = raster.valid_area_m2()
        st.caption(
            f":material/public: GeoTIFF, {raster.n_bands} bands {raster.dtype} "
            f"({', '.join(raster.band_names)}), {raster.geo.crs_name}, pixel "
            f"{raster.geo.pixel_size_text}"
            + ("" if area is None else f", {area / 10_000:,.2f} ha with data")
            + ". Shown with a 2–98 % stretch of its RGB bands; clustered on those colours "
            "(for every band and NDVI, use `kseg segment` on the file)."
        )
        if raster.note:
            st.caption(f":material/photo_size_select_large: {raster.note}")
    if seg.valid is not None:
        left_out = seg.valid.size - int(seg.valid.sum())
        st.caption(
            f":material/texture: {left_out:,} pixels ({left_out / seg.valid.size:.1%}): "
            "transparent, no-data or of an ignored colour, are left out of the clusters, "
            "shares and WCSS (sidebar: *Pixels that don't count*; checkerboard in the "
            "segmented image)."
        )
    for note in notes:
        st.warning(note, icon=":material/info:")
    if loaded.n_frames > 1:
        st.caption(f"This file holds {loaded.n_frames} frames or pages; kseg uses the first.")


def render_classes_summary(seg: core.Segmentation, model_name: str | None = None) -> None:
    """One line on the classes shown: an applied model, the named classes, what is dropped."""
    if model_name is not None:
        st.caption(
            f":material/model_training: Classified with the model *{html.escape(model_name)}*: "
            "every pixel went to the model's nearest cluster, then to its class (no fit)."
        )
    model = seg.classes
    if seg.class_names is None or model is None or model.is_identity:
        return
    clusters = seg.clusters if seg.clusters is not None else seg
    text = (
        f":material/category: {plural(seg.k, 'named class', 'named classes')} from "
        f"{plural(model.k, 'cluster')} (tab *Classes*)"
    )
    if model.dropped:
        dropped = int(clusters.counts[list(model.dropped)].sum())
        text += (
            f"; dropped cluster{'s' if len(model.dropped) > 1 else ''} "
            f"{', '.join(map(str, model.dropped))} ({dropped:,} pixels, "
            f"{percent(dropped / max(int(clusters.counts.sum()), 1))}) left out of shares, "
            "areas, the 3D scatter and downloads"
        )
    st.caption(text + ".")


def render_classes_intro(seg: core.Segmentation) -> None:
    """The Classes tab's heading and how to use it."""
    st.subheader("Classes", anchor=False)
    st.caption(
        "Name the clusters, merge the ones that are one thing, drop the ones that should "
        "not count. Click the image to pick the cluster under the pointer. No refit: the "
        "page just relabels the pixels, and the link keeps your classes."
    )


def render_original(original_preview: bytes) -> DeltaGenerator:
    """The original, left; returns the column on its right, where the segmented image
    goes (:func:`render_overview`) once it is known."""
    st.html(CHECKERBOARD_CSS)
    with st.container(key="overview_images"):
        left, right = st.columns(2, gap="medium")
        left.image(original_preview, caption="Original", width="stretch", output_format="JPEG")
    return right


def render_overview(
    loaded: core.LoadedImage,
    seg: core.Segmentation,
    segmented_column: DeltaGenerator,
    segmented_preview: bytes,
) -> None:
    """The segmented image next to the original (:func:`render_original`), and the key
    numbers."""
    what = (
        f"k = {seg.k}"
        if seg.class_names is None
        else f"{plural(seg.k, 'named class', 'named classes')}"
    )
    segmented_column.image(
        segmented_preview,
        caption=f"Segmented: {what} in {COLOR_SPACE_LABELS[seg.color_space]}",
        width="stretch",
        output_format="PNG",
    )
    render_palette_strip(seg)
    if loaded.n_pixels > DISPLAY_PIXELS:
        st.caption("Shown scaled down to fit the screen; the downloads below are full resolution.")
    metrics = st.columns([1.3, 1, 1.4, 0.8, 1])
    metrics[0].metric(
        f"Image, {_pixels(loaded.n_pixels)}",
        f"{loaded.width} × {loaded.height}",
        border=True,
        help="Width × height of the original, in pixels.",
    )
    metrics[1].metric(
        "Distinct colours",
        f"{seg.n_colors:,}",
        border=True,
        help="kseg runs k-means on these, each weighted by its pixel count: exactly the "
        "same result as clustering every pixel, much faster.",
    )
    metrics[2].metric(
        wcss_label(COLOR_SPACE_LABELS[seg.color_space]),
        metric_number(seg.wcss),
        border=True,
        help="Within-cluster sum of squares: the squared distance from every pixel to its "
        f"centre, summed, in {COLOR_SPACE_LABELS[seg.color_space]} units "
        f"({seg.wcss:,.1f}). k-means makes it as small as it can; lower is tighter.",
    )
    metrics[3].metric(
        "Iterations",
        f"{seg.n_iter}",
        border=True,
        help=f"{plural(seg.n_iter, 'Lloyd iteration')} in the final run ("
        + ("converged" if seg.converged else "stopped at the cap")
        + "). The restarts run first on a coarse colour histogram.",
    )
    metrics[4].metric(
        "Computed in",
        f"{seg.elapsed:.2f} s" if seg.elapsed >= 1 else f"{seg.elapsed * 1000:.0f} ms",
        border=True,
        help="How long k-means took when this result was first computed (on a server's "
        "first run that includes warming up the engine). The result is cached: anyone "
        "opening these settings again gets it at once.",
    )


def palette_strip_html(
    hex_colors: list[str], shares: list[float], of: str, names: Sequence[str] | None = None
) -> str:
    """The palette as one bar, each colour as wide as its share, and below it a legend
    that wraps (every hex and share legible, however narrow the colour or the screen).
    Style: :data:`PALETTE_CSS`. `of` ends each tooltip (``"of pixels"``); `names`, the
    classes' names, lead each legend entry and tooltip (escaped)."""
    blocks, legend = [], []
    for i, (hex_color, share) in enumerate(zip(hex_colors, shares, strict=True)):
        name = "" if names is None else html.escape(names[i], quote=True)
        blocks.append(
            f"<div style='flex:{max(share, 0.002):.6f};background:{hex_color}' "
            f"title='{name + ': ' if name else ''}{hex_color}: {percent(share)} {of}'></div>"
        )
        legend.append(
            f"<span><i style='background:{hex_color}'></i>{f'<b>{name}</b>' if name else ''}"
            f"<code>{hex_color}</code>{percent(share)}</span>"
        )
    return (
        f"<div class='kseg-palette'>{''.join(blocks)}</div>"
        f"<div class='kseg-legend'>{''.join(legend)}</div>"
    )


def render_palette_strip(seg: core.Segmentation) -> None:
    """The palette as one bar, each colour as wide as its share of the pixels (and the
    classes' names, once named)."""
    st.html(palette_strip_html(seg.hex_colors, seg.shares.tolist(), "of pixels", seg.class_names))


def render_raster_classes(
    result: core.RasterSegmentation, previews: tuple[bytes, bytes], stem: str
) -> None:
    """Classes of a GeoTIFF on its bands: display and classes, area table, GIS downloads."""
    st.html(CHECKERBOARD_CSS)
    with st.container(key="raster_images"):
        left, right = st.columns(2, gap="medium")
        left.image(
            previews[0],
            caption="Shown bands (2–98 % stretch)",
            width="stretch",
            output_format="PNG",
        )
        right.image(
            previews[1],
            caption=f"{result.k} classes on {', '.join(result.feature_names)}",
            width="stretch",
            output_format="PNG",
        )
    rows = result.area_table()
    for row in rows:
        row["colour"] = swatch_data_uri(row["hex"])
        row["share"] = 100 * row["share"]
        if row.get("area_m2") is not None:  # whole m² (the CSV keeps the decimals)
            row["area_m2"] = round(row["area_m2"])
    st.dataframe(
        rows,
        hide_index=True,
        column_order=["class", "colour", "name", "hex", "pixels", "share", "area_m2", "area_ha"],
        column_config={
            "class": st.column_config.NumberColumn("#", width=40),
            "colour": st.column_config.ImageColumn("", width=40),
            "name": "name",
            "hex": "hex",
            "pixels": st.column_config.NumberColumn("pixels", format="localized"),
            "share": st.column_config.ProgressColumn(
                "share", format=SHARE_FORMAT, min_value=0.0, max_value=100.0
            ),
            "area_m2": st.column_config.NumberColumn("area (m²)", format="localized"),
            "area_ha": st.column_config.NumberColumn("area (ha)", format="%.2f"),
        },
        key="raster_table",
    )
    st.caption(
        f"Exact k-means on {int(result.counts.sum()):,} pixels with data, "
        f"{plural(result.n_iter, 'Lloyd iteration')} on every pixel, {result.elapsed:.2f} s. "
        f"`kseg segment {stem}.tif -k {result.k}` writes the same files. "
        + (result.area_note or "")
    )
    statistics = statistics_by_class(result.class_statistics(), result.names)
    if statistics:
        st.markdown("**What each class is: mean ± standard deviation, in the bands' own units**")
        values = [c for c in statistics[0] if c.endswith((" mean", " std"))]
        for row in statistics:
            row["colour"] = swatch_data_uri(result.hex_colors[row["class"]])
        st.dataframe(
            statistics,
            hide_index=True,
            column_order=["class", "colour", "name", "pixels", *values],
            column_config={
                "class": st.column_config.NumberColumn("#", width=40),
                "colour": st.column_config.ImageColumn("", width=40),
                "pixels": st.column_config.NumberColumn("pixels", format="localized"),
                **{c: st.column_config.NumberColumn(c, format="%.4g") for c in values},
            },
            key="raster_stats_table",
        )
    base = f"{stem}_k{result.k}_bands"
    columns = st.columns(4)
    from core.formats.vectors import polygons_json

    downloads: list[tuple[str, Callable[[], bytes | str], str, str]] = [
        ("Label GeoTIFF (band classes)", result.label_geotiff, f"{base}_labels.tif", "image/tiff"),
        (
            "Segmented GeoTIFF (band classes)",
            result.segmented_geotiff,
            f"{base}_segmented.tif",
            "image/tiff",
        ),
        (
            "GeoJSON polygons (band classes)",
            lambda: polygons_json(result.polygons(min_pixels=9)),
            f"{base}_classes.geojson",
            "application/geo+json",
        ),
        ("Areas CSV (band classes)", result.areas_csv, f"{base}_areas.csv", "text/csv"),
        ("Statistics CSV (band classes)", result.stats_csv, f"{base}_stats.csv", "text/csv"),
        (
            "Model JSON (band classes)",
            lambda: result.model.to_json(),
            f"{base}_model.json",
            "application/json",
        ),
        (
            "Report (band classes)",
            lambda: raster_report(result, stem),
            f"{base}_report.html",
            "text/html",
        ),
    ]
    for index, (label, data, name, mime) in enumerate(downloads):
        columns[index % 4].download_button(
            label,
            data=data,
            file_name=name,
            mime=mime,
            key=f"raster_download_{name}",
            on_click="ignore",
            width="stretch",
        )


def render_clusters(
    seg: core.Segmentation,
    previews: list[tuple[bytes, bytes]],
    *,
    areas_m2: np.ndarray | None = None,
) -> None:
    """The shares chart, a copyable table with areas (from the georeference, or from a
    typed pixel size), and one card per cluster."""
    names = class_names(seg)
    chart, table = st.columns([2, 3], gap="large")
    shares = figures.shares_figure(seg).update_traces(marker_line_color=OUTLINE)
    if seg.class_names is not None:
        shares.update_traces(
            y=list(names), hovertemplate="%{y}: %{x:.2f}% of pixels<extra></extra>"
        )
        shares.update_layout(title="Share of pixels per class")
    chart.plotly_chart(shares, key="shares_chart", config=_PLOTLY_CONFIG)
    with table:
        metres = 0.0
        if areas_m2 is None:
            links.prime("pixel_size")
            metres = st.number_input(
                "Size of one pixel on the ground, in metres (optional)",
                min_value=0.0,
                max_value=PIXEL_SIZE_MAX,
                step=0.5,
                format="%.3f",
                key="pixel_size",
                help="For satellite or aerial images: the ground distance one pixel spans "
                "(e.g. 10 for Sentinel-2, 0.3 for aerial photos) adds each cluster's area in "
                "m² and hectares. Leave 0 for ordinary photos. GeoTIFFs need none: their "
                "areas come from the georeference.",
            )
            links.keep("pixel_size", metres)
        else:
            st.caption(
                ":material/public: Areas from the GeoTIFF's georeference, on the WGS 84 "
                "ellipsoid (the ground's m², as QGIS measures them) in any CRS."
            )
        rows = named_palette_rows(seg)
        for i, row in enumerate(rows):
            row["colour"] = swatch_data_uri(row["hex"])
            row["share"] = 100 * row["share"]
            if areas_m2 is not None:
                row["area_m2"] = float(areas_m2[i])
                row["area_ha"] = row["area_m2"] / 10_000
            elif metres > 0:
                row["area_m2"] = row["pixels"] * metres**2
                row["area_ha"] = row["area_m2"] / 10_000
        columns = ["cluster", "colour", "name", "hex", "r", "g", "b", "pixels", "share"]
        if metres > 0 or areas_m2 is not None:
            # Room for the areas: R, G, B are in the hex (and in the CSV).
            columns = [c for c in columns if c not in ("r", "g", "b")] + ["area_m2", "area_ha"]
        st.dataframe(
            rows,
            hide_index=True,
            column_order=columns,
            column_config={
                "cluster": st.column_config.NumberColumn("#", width=40),
                "colour": st.column_config.ImageColumn("", width=40),
                "name": st.column_config.TextColumn("name"),
                "r": st.column_config.NumberColumn("R", width=48),
                "g": st.column_config.NumberColumn("G", width=48),
                "b": st.column_config.NumberColumn("B", width=48),
                "pixels": st.column_config.NumberColumn("pixels", format="localized"),
                "share": st.column_config.ProgressColumn(
                    "share", format=SHARE_FORMAT, min_value=0.0, max_value=100.0, width="small"
                ),
                "area_m2": st.column_config.NumberColumn("area (m²)", format="compact"),
                "area_ha": st.column_config.NumberColumn("area (ha)", format="compact"),
            },
            key="palette_table",
        )
        counted = (
            "every pixel of the full image"
            if seg.valid is None
            else "the pixels that count (sidebar: *Pixels that don't count*)"
        )
        st.caption(
            "Select cells and press Ctrl/⌘ + C to copy them; the table's toolbar downloads "
            f"it as CSV. Shares count {counted}."
        )
    st.subheader("Clusters", anchor=False)
    st.html(CHECKERBOARD_CSS)
    with st.container(key="cluster_cards"):
        for start in range(0, seg.k, _CARDS_PER_ROW):
            card_columns = st.columns(_CARDS_PER_ROW, gap="small")
            clusters = range(start, min(seg.k, start + _CARDS_PER_ROW))
            for column, i in zip(card_columns, clusters, strict=False):
                mask, cut = previews[i]
                with column.container(border=True):
                    st.markdown(
                        f"{_swatch(seg.hex_colors[i], '1.4rem')}&nbsp; **{_card_title(seg, i)}** "
                        f"&nbsp;`{seg.hex_colors[i]}`&nbsp; {percent(seg.shares[i])}",
                        unsafe_allow_html=True,
                        help=f"{seg.counts[i]:,} pixels, {100 * seg.shares[i]:.2f} % of the image.",
                    )
                    left, right = st.columns(2, gap="small")
                    left.image(mask, caption="mask", width="stretch", output_format="PNG")
                    right.image(cut, caption="cut-out", width="stretch", output_format="PNG")


def _card_title(seg: core.Segmentation, i: int) -> str:
    """``Cluster 3``, or a class's name (escaped: shown as typed, never as Markdown)."""
    if seg.class_names is None:
        return f"Cluster {i}"
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", html.escape(seg.class_names[i]))


_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()#+\-!|~<>$:])")


def swatch_data_uri(hex_color: str) -> str:
    """A tiny SVG square of `hex_color`, as a data URI for an image column."""
    return (
        "data:image/svg+xml;utf8,<svg xmlns='http://www.w3.org/2000/svg' width='24' "
        f"height='24'><rect width='24' height='24' rx='4' fill='%23{hex_color[1:]}' "
        "stroke='%23888' /></svg>"
    )


def render_color_space(
    seg: core.Segmentation, make_figure: Callable[[ColorBy, int], go.Figure]
) -> None:
    """The 3D scatter, with its own two small controls."""
    left, right, _ = st.columns([1, 1, 1])
    links.prime("color_by")
    color_by = left.segmented_control(
        "Colour points by",
        list(COLOR_BY),
        format_func=COLOR_BY.__getitem__,
        required=True,
        key="color_by",
        help="Each pixel in its own colour, or in its cluster's palette colour.",
    ) or links.remembered("color_by")  # required: never empty, but typed as if it could be
    links.keep("color_by", color_by)
    links.prime("max_points")
    max_points = right.select_slider(
        "Pixels shown",
        POINTS_SHOWN,
        format_func="{:,}".format,
        key="max_points",
        help="A reproducible random sample of the image's pixels (drawn with the seed "
        "from Advanced), so the chart stays fluid.",
    )
    links.keep("max_points", max_points)
    st.plotly_chart(make_figure(color_by, max_points), key="scatter3d", config=_PLOTLY_CONFIG)
    axes = ", ".join(core.AXIS_TITLES[seg.color_space])
    st.caption(
        f"Each dot is a pixel at its {COLOR_SPACE_LABELS[seg.color_space]} coordinates "
        f"({axes}); the outlined diamonds are the k centroids. Drag to rotate, scroll to zoom, "
        "click a legend entry to hide it."
    )


def render_elbow(
    seg: core.Segmentation,
    work: np.ndarray,
    run_elbow: Callable[[int], core.Elbow],
) -> None:
    """The elbow plot, the suggestion in words, and one click to use it."""
    links.prime("k_max")
    k_max = st.slider(
        "Try every k from 1 to",
        *ELBOW_K_MAX_RANGE,
        key="k_max",
        help="The elbow method runs k-means once for each k up to this (with the colour "
        "space, seed and restarts from the sidebar) and looks for the bend in the curve.",
    )
    links.keep("k_max", k_max)
    k_max, note = k_range(k_max, n_counted(work))
    if note:
        st.caption(f":material/info: {note}")
    elbow = run_elbow(k_max)
    st.plotly_chart(
        figures.elbow_figure(elbow, chosen_k=seg.k), key="elbow_chart", config=_PLOTLY_CONFIG
    )
    text, action = st.columns([3, 1], vertical_alignment="center")
    text.markdown(f"**{elbow.message}**")
    if elbow.knee is not None and elbow.knee != seg.k:
        action.button(
            f"Use k = {elbow.knee}",
            type="primary",
            icon=":material/check:",
            key="use_knee",
            on_click=_use_k,
            args=(elbow.knee,),
            width="stretch",
            help="Set the k slider in the sidebar to the suggested value.",
        )
    elif elbow.knee is not None:
        action.success(f"k = {seg.k} is in use.", icon=":material/check:")
    where = (
        "every pixel"
        if tuple(work.shape[:2]) == seg.shape
        else f"the {_size(work.shape)} downscaled copy (the size the centres are fitted at)"
    )
    st.caption(
        "WCSS (the sum of squared distances from each pixel to its centre) never rises as k "
        f"grows; past an elbow, extra clusters buy little. Computed on {where} in "
        f"{elbow.elapsed:.2f} s."
    )


def _use_k(k: int) -> None:
    """Set the k slider before it is drawn on the rerun this click triggers."""
    st.session_state["k"] = k
