"""Pictures of a segmentation for people: Plotly figures, and small previews to display.

Nothing here imports Streamlit: the figures are tested by structure and reused in notebooks,
and the dashboard only draws what these functions return (it does no arithmetic on pixels).

Figures
    :func:`scatter3d_figure` (pixels in the colour space, centroids marked),
    :func:`elbow_figure` (WCSS by k, suggested k marked), :func:`shares_figure` (one bar per
    cluster in its palette colour).
Previews
    :func:`preview_bytes` (an image downscaled for the screen and encoded once) and
    :func:`cluster_thumbnails` (each cluster's mask and cut-out, thumbnail-sized).
"""

from __future__ import annotations

import io
import math
from typing import Literal

import cv2
import numpy as np
import plotly.colors
import plotly.graph_objects as go
from PIL import Image

from core.colorspaces import AXIS_TITLES, rgb_to_features
from core.elbow import Elbow
from core.segmentation import Segmentation
from core.steps import Steps

__all__ = [
    "ACCENT",
    "COLOR_SPACE_NAMES",
    "KNEE",
    "cluster_thumbnails",
    "compression_figure",
    "elbow_figure",
    "filter_bank_figure",
    "preview_bytes",
    "sample_pixels",
    "scatter3d_figure",
    "shares_figure",
    "steps_figure",
    "wcss_curves_figure",
]

#: Short display names of the colour spaces, shared by figures and the dashboard.
COLOR_SPACE_NAMES = {"rgb": "RGB", "hsv": "HSV", "lab": "CIELAB", "oklab": "OKLab"}
#: The accent colour (the dashboard theme's primary colour) and the "suggested k" colour.
ACCENT = "#4C6EF5"
KNEE = "#F59F00"

_FONT = {"family": "Source Sans, Inter, system-ui, sans-serif", "size": 13}
_MARGIN = {"l": 10, "r": 10, "t": 48, "b": 10}
_OUTLINE = "#1F2430"


#: One distinct hue per cluster for "colour points by their cluster" (Plotly's Dark24 then
#: Light24: 48 hues before they repeat).
CLUSTER_HUES: tuple[str, ...] = tuple(
    plotly.colors.qualitative.Dark24 + plotly.colors.qualitative.Light24
)


#: Legends go below the plot: above it, on a phone, they ran into the title.
_LEGEND_BELOW = {"orientation": "h", "x": 0, "xanchor": "left", "y": -0.25, "yanchor": "top"}
_LEGEND_BELOW_SCENE = {**_LEGEND_BELOW, "y": 0.0}


def _rgb_strings(colors: np.ndarray) -> np.ndarray:
    """``"rgb(r,g,b)"`` strings for (n, 3) uint8 colours, as a NumPy array."""
    return np.array([f"rgb({r},{g},{b})" for r, g, b in colors.tolist()], dtype=object)


def _set_colors_unchecked(marker: go.scatter3d.Marker, colors: np.ndarray) -> None:
    """Give `marker` one colour per point without Plotly checking each string.

    Plotly validates colour strings one at a time (about a second for 20,000 points); ours are
    built from uint8 triples just above, valid by construction. Should Plotly drop the switch,
    this still works, only slower.
    """
    marker._validate = False
    try:
        marker.color = colors
    finally:
        marker._validate = True


def sample_pixels(n_pixels: int, max_points: int, seed: int | None = 0) -> np.ndarray:
    """Indices of a reproducible random sample of pixels.

    Parameters
    ----------
    n_pixels : int
        Pixels to draw from (``H * W``).
    max_points : int
        Upper bound on the sample size; every pixel when `n_pixels` is smaller.
    seed : int or None
        Seed of the draw; the same seed draws the same pixels.

    Returns
    -------
    (m,) ndarray of int64
        Sorted, distinct flat pixel indices, ``m = min(n_pixels, max_points)``.

    Raises
    ------
    ValueError
        If `max_points` is not a positive integer.
    """
    if isinstance(max_points, bool) or not isinstance(max_points, (int, np.integer)):
        raise ValueError(f"max_points must be a positive integer, got {max_points!r}.")
    if max_points < 1:
        raise ValueError(f"max_points must be a positive integer, got {max_points!r}.")
    if max_points >= n_pixels:
        return np.arange(n_pixels, dtype=np.int64)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_pixels, size=max_points, replace=False)).astype(np.int64)


def _check_image(seg: Segmentation, image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f"image must be the (H, W, 3) uint8 RGB image that was segmented, "
            f"got {image.dtype} {image.shape}."
        )
    if image.shape[:2] != seg.shape:
        raise ValueError(
            f"image shape {image.shape[:2]} does not match the segmentation {seg.shape}; "
            "pass the image that was segmented."
        )
    return image


def scatter3d_figure(
    seg: Segmentation,
    image: np.ndarray,
    *,
    max_points: int = 20_000,
    seed: int | None = 0,
    color_by: Literal["pixel", "cluster"] = "pixel",
) -> go.Figure:
    """Pixels as points in the segmentation's colour space, with the centroids marked.

    Parameters
    ----------
    seg : Segmentation
        The result to show; its colour space sets the axes (:data:`core.AXIS_TITLES`).
    image : (H, W, 3) ndarray of uint8
        The image that was segmented (same H, W as `seg`).
    max_points : int
        Upper bound on the pixels drawn: a seeded random sample (:func:`sample_pixels`).
    seed : int or None
        Seed of the sample; the same seed draws the same pixels.
    color_by : {"pixel", "cluster"}
        Draw each point in its own colour, or in its cluster's palette colour.

    Returns
    -------
    plotly.graph_objects.Figure
        Two ``Scatter3d`` traces: the sampled pixels (``customdata`` holds each point's
        cluster) and the k centroids, big outlined diamonds in their palette colours.

    Raises
    ------
    ValueError
        If `image` is not the (H, W, 3) uint8 image of `seg`, `color_by` is unknown or
        `max_points` is not a positive integer.
    """
    image = _check_image(seg, image)
    if color_by not in ("pixel", "cluster"):
        raise ValueError(f"color_by must be 'pixel' or 'cluster', got {color_by!r}.")
    chosen = sample_pixels(seg.shape[0] * seg.shape[1], max_points, seed)
    colors = image.reshape(-1, 3)[chosen]
    labels = seg.labels.ravel()[chosen]
    points = rgb_to_features(colors, seg.color_space)
    x_title, y_title, z_title = AXIS_TITLES[seg.color_space]
    palette = _rgb_strings(seg.palette)
    # Clusters of similar colour (two greens) get distinct hues; hover names the palette.
    hues = np.array([CLUSTER_HUES[i % len(CLUSTER_HUES)] for i in range(seg.k)])
    pixels = go.Scatter3d(
        x=points[:, 0],
        y=points[:, 1],
        z=points[:, 2],
        mode="markers",
        name=f"pixels ({len(chosen):,} sampled)",
        # Translucent points let the centroids show through the cloud.
        marker={"size": 2.5, "opacity": 0.35},
        customdata=np.column_stack([labels, np.asarray(seg.hex_colors)[labels]]),
        hovertemplate=(
            f"{x_title} %{{x:.3g}}, {y_title} %{{y:.3g}}, {z_title} %{{z:.3g}}"
            "<br>cluster %{customdata[0]}, palette colour %{customdata[1]}<extra></extra>"
        ),
    )
    centroids = go.Scatter3d(
        x=seg.centers[:, 0],
        y=seg.centers[:, 1],
        z=seg.centers[:, 2],
        mode="markers+text",
        name="centroids",
        text=[str(i) for i in range(seg.k)],
        textposition="top center",
        textfont={"size": 14, "color": _OUTLINE},
        marker={
            "size": 8,
            "symbol": "diamond",
            "color": palette.tolist(),
            "opacity": 1.0,
            # In "cluster" colouring the outline is the cluster's hue, tying it to its points.
            "line": {
                "color": _OUTLINE if color_by == "pixel" else hues.tolist(),
                "width": 4,
            },
        },
        hovertext=[
            f"centroid {i}: {seg.hex_colors[i]}, {seg.fractions[i]:.1%} of pixels"
            for i in range(seg.k)
        ],
        hovertemplate="%{hovertext}<extra></extra>",
    )
    figure = go.Figure([pixels, centroids])
    shown = _rgb_strings(colors) if color_by == "pixel" else hues[labels]
    _set_colors_unchecked(figure.data[0].marker, shown)
    figure.update_layout(
        scene={
            "xaxis_title": x_title,
            "yaxis_title": y_title,
            "zaxis_title": z_title,
            "aspectmode": "cube",
        },
        title=f"Pixels in {COLOR_SPACE_NAMES[seg.color_space]} space, k = {seg.k}",
        legend=_LEGEND_BELOW_SCENE,
        margin=_MARGIN,
        font=_FONT,
        height=640,
        uirevision=seg.color_space,  # keep the camera while k or the seed changes
    )
    return figure


def elbow_figure(elbow: Elbow, *, chosen_k: int | None = None) -> go.Figure:
    """WCSS against k, the suggested k marked with a star and the current k with a line.

    Parameters
    ----------
    elbow : Elbow
        The curve (:func:`core.elbow`).
    chosen_k : int, optional
        The k in use, drawn as a dotted vertical line.

    Returns
    -------
    plotly.graph_objects.Figure
        A ``Scatter`` line of WCSS by k, plus a one-point star trace at the knee when
        ``elbow.knee`` is not None.
    """
    figure = go.Figure(
        go.Scatter(
            x=list(elbow.ks),
            y=list(elbow.wcss),
            mode="lines+markers",
            name="WCSS",
            line={"color": ACCENT, "width": 3},
            marker={"size": 8},
            customdata=[f"{e:.0%}" for e in elbow.explained],
            hovertemplate=(
                "k = %{x}<br>WCSS = %{y:.4g}<br>%{customdata} of the k = 1 WCSS explained"
                "<extra></extra>"
            ),
        )
    )
    if elbow.knee is not None:
        index = elbow.ks.index(elbow.knee)
        figure.add_trace(
            go.Scatter(
                x=[elbow.knee],
                y=[elbow.wcss[index]],
                mode="markers",
                name=f"suggested k = {elbow.knee}",
                marker={"size": 22, "symbol": "star", "color": KNEE, "line": {"width": 1}},
                hovertemplate="suggested k = %{x}<extra></extra>",
            )
        )
    if chosen_k is not None:
        figure.add_vline(
            x=chosen_k,
            line={"dash": "dot", "color": "#868E96"},
            annotation_text=f"current k = {chosen_k}",
            annotation_position="top right",
        )
    figure.update_layout(
        title="Within-cluster sum of squares (WCSS) by k",
        xaxis={"title": "k (number of clusters)", "dtick": 1},
        # WCSS is never negative: a flat curve (one colour) must not get an axis below 0.
        yaxis={
            "title": f"WCSS ({COLOR_SPACE_NAMES.get(elbow.color_space, '')} units)",
            "rangemode": "nonnegative",
        },
        margin=_MARGIN,
        font=_FONT,
        height=420,
        legend=_LEGEND_BELOW,
    )
    return figure


def shares_figure(seg: Segmentation) -> go.Figure:
    """Share of pixels per cluster: one horizontal bar per cluster, in its palette colour.

    Returns
    -------
    plotly.graph_objects.Figure
        One ``Bar`` trace; bar i is cluster i (largest first, top to bottom) and its colour
        is ``seg.hex_colors[i]``.
    """
    names = [f"{i} · {hex_color}" for i, hex_color in enumerate(seg.hex_colors)]
    figure = go.Figure(
        go.Bar(
            x=seg.fractions * 100,
            y=names,
            orientation="h",
            marker={"color": seg.hex_colors, "line": {"color": _OUTLINE, "width": 1}},
            text=[f"{f:.1%}" for f in seg.fractions],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="cluster %{y}: %{x:.2f}% of pixels<extra></extra>",
        )
    )
    figure.update_layout(
        title="Share of pixels per cluster",
        xaxis={"title": "% of pixels", "range": [0, max(5.0, float(seg.fractions.max()) * 118)]},
        yaxis={"autorange": "reversed", "type": "category"},
        margin=_MARGIN,
        font=_FONT,
        height=max(240, 70 + 30 * seg.k),
        showlegend=False,
    )
    return figure


#: Longest side of a preview or thumbnail: wider than any screen, and inside JPEG's limit
#: of 65,500 pixels a side (a 100,000 × 2 strip would not encode).
PREVIEW_MAX_SIDE = 4096
#: Most elongated preview: a 100,000 × 2 strip is shown 64 times longer than high, so
#: that a page scaling it to its column still draws at least a few rows (a true-aspect
#: preview would round to zero rows there).
PREVIEW_MAX_ASPECT = 64


def screen_size(
    height: int, width: int, *, max_pixels: int, max_side: int = PREVIEW_MAX_SIDE
) -> tuple[int, int]:
    """(height, width) of the preview of a `height` × `width` image.

    At most `max_pixels` pixels and `max_side` a side, aspect ratio kept (never upscaled)
    up to :data:`PREVIEW_MAX_ASPECT`; more elongated images get their short side stretched
    to a 64th of the long one, so that every preview is at least one pixel on each side
    wherever it is shown.
    """
    scale = min(1.0, (max_pixels / (height * width)) ** 0.5, max_side / max(height, width))
    new_h, new_w = max(1, int(height * scale)), max(1, int(width * scale))
    long_side, short_side = max(new_h, new_w), min(new_h, new_w)
    if long_side > PREVIEW_MAX_ASPECT * short_side:
        long_side = min(long_side, math.isqrt(PREVIEW_MAX_ASPECT * max_pixels))
        short_side = max(short_side, -(-long_side // PREVIEW_MAX_ASPECT))
        new_h, new_w = (long_side, short_side) if height > width else (short_side, long_side)
    return new_h, new_w


def _screen_copy(image: np.ndarray, max_pixels: int) -> np.ndarray:
    """`image` resized to :func:`screen_size` (area interpolation); itself if it fits."""
    height, width = image.shape[:2]
    size = screen_size(height, width, max_pixels=max_pixels)
    if size == (height, width):
        return image
    return cv2.resize(np.ascontiguousarray(image), (size[1], size[0]), interpolation=cv2.INTER_AREA)


def preview_bytes(
    image: np.ndarray,
    *,
    max_pixels: int = 1_000_000,
    format: Literal["png", "jpeg"] = "png",
    quality: int = 90,
) -> bytes:
    """An image downscaled for the screen and encoded once, ready to send to a browser.

    Parameters
    ----------
    image : (H, W), (H, W, 3) or (H, W, 4) ndarray of uint8
        Grey, RGB or RGBA.
    max_pixels : int
        Downscale (area interpolation, aspect kept) to at most this many pixels, and to
        at most :data:`PREVIEW_MAX_SIDE` a side (see :func:`screen_size`).
    format : {"png", "jpeg"}
        PNG for flat colours and transparency, JPEG (RGB only) for photographs.
    quality : int
        JPEG quality.

    Returns
    -------
    bytes
        The encoded file.

    Raises
    ------
    ValueError
        If `image` is not uint8 grey/RGB/RGBA, or JPEG is asked for an RGBA image.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or not (
        image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4))
    ):
        raise ValueError(f"preview needs a grey, RGB or RGBA uint8 image, got {image.shape}.")
    if format == "jpeg" and image.ndim == 3 and image.shape[2] == 4:
        raise ValueError("JPEG has no transparency; use format='png' for RGBA images.")
    small = np.ascontiguousarray(_screen_copy(image, max_pixels))
    buffer = io.BytesIO()
    if format == "jpeg":
        Image.fromarray(small).save(buffer, format="JPEG", quality=quality)
    else:
        Image.fromarray(small).save(buffer, format="PNG", compress_level=3)
    return buffer.getvalue()


def cluster_thumbnails(
    seg: Segmentation,
    image: np.ndarray,
    *,
    alpha: np.ndarray | None = None,
    max_pixels: int = 90_000,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each cluster's mask and cut-out, at thumbnail size, for cards on a page.

    The image is downscaled with area interpolation and the labels with nearest-neighbour
    sampling, so a 12 MP photo costs a 90 k-pixel thumbnail per cluster, not 12 MP. The
    full-resolution files are :func:`core.export.mask_png` and :func:`core.export.cutout`.

    Parameters
    ----------
    seg : Segmentation
    image : (H, W, 3) ndarray of uint8
        The image that was segmented.
    alpha : (H, W) ndarray of uint8, optional
        The image's own transparency, multiplied into the cut-outs.
    max_pixels : int
        Size bound of the thumbnails.

    Returns
    -------
    list of (mask, cutout)
        One pair per cluster, largest first: mask ``(h, w)`` uint8 (255 inside, 0 outside)
        and cut-out ``(h, w, 4)`` uint8 RGBA (transparent outside the cluster).

    Raises
    ------
    ValueError
        If `image` or `alpha` does not match `seg`.
    """
    image = _check_image(seg, image)
    small = _screen_copy(image, max_pixels)
    height, width = small.shape[:2]
    rows = ((np.arange(height) + 0.5) * seg.shape[0] / height).astype(np.intp)
    cols = ((np.arange(width) + 0.5) * seg.shape[1] / width).astype(np.intp)
    labels = seg.labels[np.ix_(rows, cols)]
    opacity = None
    if alpha is not None:
        alpha = np.asarray(alpha)
        if alpha.dtype != np.uint8 or alpha.shape != seg.shape:
            raise ValueError(f"alpha must be a {seg.shape} uint8 array, got {alpha.shape}.")
        opacity = _screen_copy(alpha, max_pixels).astype(np.uint16)
    thumbnails = []
    for i in range(seg.k):
        mask = np.where(labels == i, np.uint8(255), np.uint8(0))
        inside = mask if opacity is None else ((mask * opacity) // 255).astype(np.uint8)
        thumbnails.append((mask, np.dstack([small, inside])))
    return thumbnails


# --- Figures for the "understand k-means" panels (sweep, steps, engines, compression, texture)


def wcss_curves_figure(
    curves: dict[str, tuple[list[int], list[float]]],
    *,
    title: str,
    x_title: str,
    marker_x: int | None = None,
) -> go.Figure:
    """One WCSS line per named curve, e.g. per k for a sweep or per iteration for steps.

    Parameters
    ----------
    curves : dict of name -> (x values, WCSS values)
    title, x_title : str
    marker_x : int, optional
        Draws a dotted vertical line there (the current iteration, say).
    """
    figure = go.Figure()
    for name, (xs, ys) in curves.items():
        figure.add_trace(
            go.Scatter(
                x=list(xs),
                y=list(ys),
                mode="lines+markers",
                name=name,
                hovertemplate=f"{name}<br>{x_title} = %{{x}}<br>WCSS = %{{y:.4g}}<extra></extra>",
            )
        )
    if marker_x is not None:
        figure.add_vline(x=marker_x, line={"dash": "dot", "color": "#868E96"})
    figure.update_layout(
        title=title,
        xaxis={"title": x_title},
        yaxis={"title": "WCSS"},
        margin=_MARGIN,
        font=_FONT,
        height=340,
        legend=_LEGEND_BELOW,
    )
    return figure


def steps_figure(
    steps: Steps, image: np.ndarray, i: int, *, max_points: int = 5_000, seed: int = 0
) -> go.Figure:
    """Pixels in colour space with every centroid's path up to iteration `i`.

    Parameters
    ----------
    steps : core.steps.Steps
    image : (H, W, 3) ndarray of uint8
        The image the steps were recorded on.
    i : int
        Iteration to show (0 = the initial centres).
    """
    pixels = image.reshape(-1, 3)
    chosen = sample_pixels(pixels.shape[0], max_points, seed)
    colors = pixels[chosen]
    points = rgb_to_features(colors, steps.color_space)
    palette = steps.palette(i)
    figure = go.Figure(
        go.Scatter3d(
            x=points[:, 0],
            y=points[:, 1],
            z=points[:, 2],
            mode="markers",
            name="pixels",
            marker={"size": 2, "opacity": 0.5},
            hoverinfo="skip",
        )
    )
    _set_colors_unchecked(figure.data[0].marker, _rgb_strings(colors))
    path = np.stack(steps.centers[: i + 1])  # (i + 1, k, 3)
    for j in range(steps.k):
        figure.add_trace(
            go.Scatter3d(
                x=path[:, j, 0],
                y=path[:, j, 1],
                z=path[:, j, 2],
                mode="lines+markers",
                name=f"centroid {j}",
                line={"color": _OUTLINE, "width": 4},
                marker={
                    "size": [3] * i + [11],
                    "color": f"rgb{tuple(int(c) for c in palette[j])}",
                    "symbol": "diamond",
                    "line": {"color": _OUTLINE, "width": 2},
                },
                showlegend=False,
                hovertemplate=f"centroid {j}<extra></extra>",
            )
        )
    x_title, y_title, z_title = AXIS_TITLES[steps.color_space]
    figure.update_layout(
        scene={
            "xaxis_title": x_title,
            "yaxis_title": y_title,
            "zaxis_title": z_title,
            "aspectmode": "cube",
        },
        title=f"Iteration {i}: centroids and the paths they took",
        # Room below the scene: a 3D scene drawn to the edge is cut by the page.
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
        height=560,
        uirevision="steps",
    )
    return figure


def filter_bank_figure(bank: np.ndarray, names: tuple[str, ...]) -> go.Figure:
    """The filters of a bank as a grid of small heatmaps (8 per row)."""
    from plotly.subplots import make_subplots

    n = bank.shape[0]
    columns = 8
    rows = -(-n // columns)
    figure = make_subplots(
        rows=rows,
        cols=columns,
        subplot_titles=list(names),
        horizontal_spacing=0.01,
        vertical_spacing=0.04,
    )
    for index in range(n):
        kernel = bank[index]
        limit = float(np.abs(kernel).max()) or 1.0
        figure.add_trace(
            go.Heatmap(
                z=kernel[::-1],
                zmin=-limit,
                zmax=limit,
                colorscale="RdBu",
                showscale=False,
                hoverinfo="skip",
            ),
            row=index // columns + 1,
            col=index % columns + 1,
        )
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False, scaleanchor=None)
    figure.update_annotations(font_size=9)
    figure.update_layout(
        height=130 * rows + 40,
        margin={"l": 5, "r": 5, "t": 30, "b": 5},
        title="The 48 Leung–Malik filters (red +, blue −)",
    )
    return figure


def compression_figure(ks: list[int], bits_per_pixel: list[float], psnr: list[float]) -> go.Figure:
    """Bits per pixel (bars) and PSNR (line) against k."""
    from plotly.subplots import make_subplots

    figure = make_subplots(specs=[[{"secondary_y": True}]])
    figure.add_trace(
        go.Bar(
            x=ks,
            y=bits_per_pixel,
            name="bits per pixel (indexed PNG)",
            marker_color="#4C6EF5",
            hovertemplate="k = %{x}: %{y:.2f} bpp<extra></extra>",
        ),
        secondary_y=False,
    )
    figure.add_trace(
        go.Scatter(
            x=ks,
            y=psnr,
            name="PSNR (dB)",
            mode="lines+markers",
            line={"color": "#F59F00", "width": 3},
            hovertemplate="k = %{x}: %{y:.1f} dB<extra></extra>",
        ),
        secondary_y=True,
    )
    figure.update_xaxes(title_text="k", type="category")
    figure.update_yaxes(title_text="bits per pixel", secondary_y=False)
    # Its own round ticks (16, 18, 20 dB), not ticks synced to the bars' grid (16.34 …).
    figure.update_yaxes(title_text="PSNR (dB)", secondary_y=True, tickmode="auto", showgrid=False)
    figure.update_layout(
        title="Palette compression: size against quality",
        height=380,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "y": -0.2},
    )
    return figure
