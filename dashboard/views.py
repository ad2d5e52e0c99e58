"""``render_*()`` functions: they draw what the pipeline computed, and compute nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

import core
from core import export, figures
from dashboard import pipeline
from dashboard.controls import COLOR_SPACE_LABELS, Params

_CARDS_PER_ROW = 4


def render_header() -> None:
    st.title("kseg — k-means image segmentation")
    st.markdown(
        "k-means groups every pixel with the nearest of **k** representative colours, then "
        "moves each colour to the mean of its pixels, until nothing changes. Pick k and a "
        "colour space on the left; kseg runs it exactly, on every pixel, in a blink."
    )


def _megapixels(n: int) -> str:
    return f"{n / 1e6:.2f} MP" if n >= 10_000 else f"{n:,} px"


def render_overview(
    loaded: core.LoadedImage, work: np.ndarray, seg: core.Segmentation, params: Params
) -> None:
    """Original and segmented side by side, the key numbers, and the size note."""
    left, right = st.columns(2, gap="medium")
    with left:
        st.image(work, caption="Original", width="stretch")
    with right:
        st.image(
            seg.segmented,
            caption=f"Segmented: k = {seg.k} in {COLOR_SPACE_LABELS[seg.color_space]}",
            width="stretch",
        )
    metrics = st.columns(5)
    metrics[0].metric(
        "Image",
        f"{loaded.width} × {loaded.height}",
        _megapixels(loaded.n_pixels),
        delta_color="off",
    )
    metrics[1].metric(
        "Distinct colours",
        f"{seg.n_colors:,}",
        help="k-means runs on these, weighted by their pixel counts: "
        "exactly the same result as clustering every pixel.",
    )
    metrics[2].metric(
        "WCSS",
        f"{seg.inertia:.4g}",
        help="Within-cluster sum of squares in the chosen colour space: "
        "the quantity k-means minimises. Lower is tighter.",
    )
    metrics[3].metric(
        "Iterations",
        f"{seg.n_iter}",
        help="Lloyd iterations of the final run (restarts run on a coarse colour histogram first).",
    )
    metrics[4].metric(
        "Time",
        f"{seg.elapsed * 1000:.0f} ms",
        help="Time spent in k-means for this result (0 on a cached revisit).",
    )
    if work.shape[:2] != (loaded.height, loaded.width):
        st.info(
            f"Clustered on a {work.shape[1]} × {work.shape[0]} working copy "
            f"({_megapixels(work.shape[0] * work.shape[1])}) of your "
            f"{_megapixels(loaded.n_pixels)} image to stay responsive. The full-resolution "
            "download labels **every original pixel** with the same centres. "
            "Change this under *Advanced → Working size*.",
            icon=":material/info:",
        )
    if loaded.n_frames > 1:
        st.caption(f"This file has {loaded.n_frames} frames or pages; kseg uses the first.")


def render_downloads(
    loaded: core.LoadedImage,
    work: np.ndarray,
    alpha: np.ndarray | None,
    seg: core.Segmentation,
    params: Params,
    image_name: str,
) -> None:
    """Every download, built only when its button is clicked."""
    stem = Path(image_name).stem or "image"
    base = f"{stem}_k{seg.k}_{seg.color_space}"
    st.subheader("Downloads")
    columns = st.columns(4)
    with columns[0]:
        st.download_button(
            "Segmented image (PNG)",
            data=lambda: export.png_bytes(seg.segmented),
            file_name=f"{base}.png",
            mime="image/png",
            icon=":material/image:",
            key="dl_png",
            width="stretch",
        )
        if work.shape[:2] != (loaded.height, loaded.width):
            st.download_button(
                "Full resolution (PNG)",
                data=lambda: pipeline.full_resolution_png(loaded, params),
                file_name=f"{base}_full.png",
                mime="image/png",
                icon=":material/zoom_in:",
                key="dl_full",
                width="stretch",
                help="Every original pixel labelled with the working-size centres. "
                "Takes a moment for large photos.",
            )
    with columns[1]:
        st.download_button(
            "Masks (ZIP of PNGs)",
            data=lambda: export.masks_zip(seg),
            file_name=f"{base}_masks.zip",
            mime="application/zip",
            icon=":material/layers:",
            key="dl_masks",
            width="stretch",
        )
        st.download_button(
            "Cut-outs (ZIP of PNGs)",
            data=lambda: export.cutouts_zip(work, seg, alpha=alpha),
            file_name=f"{base}_cutouts.zip",
            mime="application/zip",
            icon=":material/content_cut:",
            key="dl_cut",
            width="stretch",
        )
    with columns[2]:
        st.download_button(
            "Palette (CSV)",
            data=lambda: export.palette_csv(seg),
            file_name=f"{base}_palette.csv",
            mime="text/csv",
            icon=":material/table:",
            key="dl_csv",
            width="stretch",
        )
        st.download_button(
            "Palette (JSON)",
            data=lambda: export.palette_json(seg),
            file_name=f"{base}_palette.json",
            mime="application/json",
            icon=":material/data_object:",
            key="dl_json",
            width="stretch",
        )
    with columns[3]:
        st.download_button(
            "Palette (GIMP .gpl)",
            data=lambda: export.palette_gpl(seg, name=base),
            file_name=f"{base}.gpl",
            mime="text/plain",
            icon=":material/palette:",
            key="dl_gpl",
            width="stretch",
        )
        st.download_button(
            "Recipe (JSON)",
            data=lambda: export.recipe_json(seg, image_name=image_name),
            file_name=f"{base}_recipe.json",
            mime="application/json",
            icon=":material/receipt_long:",
            key="dl_recipe",
            width="stretch",
            help="The parameters and the `kseg segment` command that reproduce this result.",
        )
    with st.expander("Reproduce from the command line"):
        st.code(export.recipe(seg, image_name=image_name)["command"], language="bash")


def render_clusters(seg: core.Segmentation, previews: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """One card per cluster, the shares chart and a copyable table with optional areas."""
    chart, table = st.columns([3, 2], gap="medium")
    with chart:
        st.plotly_chart(figures.shares_figure(seg), key="shares_chart")
    with table:
        metres = st.number_input(
            "Ground size of one pixel (metres, optional)",
            min_value=0.0,
            value=0.0,
            step=0.5,
            format="%.3f",
            key="pixel_size",
            help="For satellite or aerial tiles: give the pixel size (e.g. 10 for Sentinel-2) "
            "to see each cluster's area in m² and hectares.",
        )
        rows = export.palette_rows(seg)
        for row in rows:
            row["share"] = round(100 * row["share"], 2)
            if metres > 0:
                area = row["pixels"] * metres**2
                row["area m²"] = round(area, 1)
                row["area ha"] = round(area / 10_000, 4)
        st.dataframe(
            rows,
            hide_index=True,
            column_config={"share": st.column_config.NumberColumn("share %", format="%.2f")},
        )
        st.caption("Shares count the pixels at the working size.")
    st.subheader("Clusters")
    for start in range(0, seg.k, _CARDS_PER_ROW):
        columns = st.columns(_CARDS_PER_ROW)
        for column, i in zip(
            columns, range(start, min(seg.k, start + _CARDS_PER_ROW)), strict=False
        ):
            mask, cut = previews[i]
            with column.container(border=True):
                st.markdown(
                    f"<div style='display:flex;align-items:center;gap:.6rem'>"
                    f"<div style='width:2.2rem;height:2.2rem;border-radius:.4rem;"
                    f"background:{seg.hex_colors[i]};border:1px solid #8886'></div>"
                    f"<div><b>Cluster {i}</b> · <code>{seg.hex_colors[i]}</code><br>"
                    f"{seg.fractions[i]:.1%} of pixels</div></div>",
                    unsafe_allow_html=True,
                )
                st.image(mask, caption="mask", width="stretch")
                st.image(cut, caption="cut-out", width="stretch")


def render_color_space(make_figure) -> None:
    """The 3D scatter, with its own small controls."""
    left, right = st.columns([1, 1])
    color_by = left.segmented_control(
        "Colour points by",
        ["pixel", "cluster"],
        default="pixel",
        key="color_by",
        required=True,
        help="Each pixel's own colour, or its cluster's palette colour.",
    )
    max_points = right.select_slider(
        "Points shown",
        [5_000, 10_000, 20_000, 50_000],
        value=20_000,
        key="max_points",
        help="A reproducible random sample of pixels (seeded by the seed in Advanced).",
    )
    st.plotly_chart(make_figure(color_by, max_points), key="scatter3d")
    st.caption("Drag to rotate, scroll to zoom. Diamonds are the centroids (cluster means).")


def render_elbow(run_elbow, k: int) -> None:
    """Elbow plot, the suggestion in words, and one click to use it."""
    k_max = st.slider(
        "Try k from 1 to",
        3,
        20,
        12,
        key="k_max",
        help="The elbow method runs k-means for every k up to this.",
    )
    elbow = run_elbow(k_max)
    st.plotly_chart(figures.elbow_figure(elbow, chosen_k=k), key="elbow_chart")
    st.markdown(elbow.message)
    if elbow.knee is not None and elbow.knee != k:
        st.button(
            f"Use k = {elbow.knee}",
            type="primary",
            key="use_knee",
            on_click=lambda: st.session_state.update(k=elbow.knee),
        )
    st.caption(
        f"WCSS is the sum of squared distances from every pixel to its centroid; it always "
        f"falls as k grows. Computed in {elbow.elapsed:.2f} s for {len(elbow.ks)} values of k."
    )
