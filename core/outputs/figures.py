"""Plotly figures of a segmentation and of k-means at work; nothing else.

Nothing here imports Streamlit: the figures are tested by structure and reused in notebooks,
and the dashboard only draws what these functions return (it does no arithmetic on pixels).
Encoded previews and thumbnails live in :mod:`core.outputs.previews`.

:func:`scatter3d_figure` (pixels in the colour space, centroids marked), :func:`elbow_figure`
(WCSS by k, suggested k marked), :func:`shares_figure` (one bar per cluster in its palette
colour), and the "Understand k-means" figures: :func:`wcss_curves_figure`,
:func:`steps_figure`, :func:`filter_bank_figure`, :func:`compression_figure`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import plotly.colors
import plotly.graph_objects as go

from core.features.colorspaces import AXIS_TITLES, COLOR_SPACE_NAMES, rgb_to_features
from core.inputs.arrays import check_segmented_image
from core.inputs.masking import resolve_mask
from core.results.segmentation import Segmentation
from core.validation import check_positive_int

if TYPE_CHECKING:
    from core.explore.elbow import Elbow
    from core.explore.steps import Steps

__all__ = [
    "ACCENT",
    "COLOR_SPACE_NAMES",
    "KNEE",
    "compression_figure",
    "elbow_figure",
    "filter_bank_figure",
    "sample_pixels",
    "scatter3d_figure",
    "shares_figure",
    "steps_figure",
    "wcss_curves_figure",
]

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


def _scene(color_space: str) -> dict[str, Any]:
    """A 3D scene with the colour space's axis titles and equal axis scales, seen from a
    little farther than Plotly's default so the cube's corners and tick labels fit."""
    x_title, y_title, z_title = AXIS_TITLES[color_space]
    return {
        "xaxis_title": x_title,
        "yaxis_title": y_title,
        "zaxis_title": z_title,
        "aspectmode": "cube",
        "camera": {"eye": {"x": 1.55, "y": 1.55, "z": 1.2}},
    }


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

    Examples
    --------
    >>> sample_pixels(10, 4, seed=0).shape
    (4,)
    """
    max_points = check_positive_int(max_points, "max_points")
    if max_points >= n_pixels:
        return np.arange(n_pixels, dtype=np.int64)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_pixels, size=max_points, replace=False)).astype(np.int64)


def _sample_counted(
    shape: tuple[int, int], valid: np.ndarray | None, max_points: int, seed: int | None
) -> np.ndarray:
    """Flat indices of a seeded sample of the pixels that count (all when `valid` is None)."""
    if valid is None:
        return sample_pixels(shape[0] * shape[1], max_points, seed)
    counted = np.flatnonzero(valid.ravel())
    return counted[sample_pixels(counted.shape[0], max_points, seed)]


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
    image : (H, W, 3) ndarray of uint8, (H, W, 4) RGBA, or LoadedImage
        The image that was segmented (same H, W as `seg`). Only the pixels that counted
        (``seg.valid``, from ``segment(mask=...)``) are drawn: the mask travels with the
        result, so the figure cannot disagree with the clusters.
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

    Examples
    --------
    >>> import numpy as np, core
    >>> image = np.zeros((4, 6, 3), dtype=np.uint8); image[:, 3:] = 255
    >>> seg = core.segment(image, 2)
    >>> [len(trace.x) for trace in scatter3d_figure(seg, image).data]
    [24, 2]
    """
    image = check_segmented_image(resolve_mask(image, None)[0], seg.shape)
    if color_by not in ("pixel", "cluster"):
        raise ValueError(f"color_by must be 'pixel' or 'cluster', got {color_by!r}.")
    chosen = _sample_counted(seg.shape, seg.valid, max_points, seed)
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
            f"centroid {i}: {seg.hex_colors[i]}, {seg.shares[i]:.1%} of pixels"
            for i in range(seg.k)
        ],
        hovertemplate="%{hovertext}<extra></extra>",
    )
    figure = go.Figure([pixels, centroids])
    shown = _rgb_strings(colors) if color_by == "pixel" else hues[labels]
    _set_colors_unchecked(figure.data[0].marker, shown)
    figure.update_layout(
        scene=_scene(seg.color_space),
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

    Examples
    --------
    >>> from core.explore.elbow import Elbow
    >>> curve = Elbow(ks=(1, 2, 3), wcss=(9.0, 2.0, 1.0), knee=2, message="")
    >>> len(elbow_figure(curve, chosen_k=3).data)
    2
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

    Parameters
    ----------
    seg : Segmentation

    Returns
    -------
    plotly.graph_objects.Figure
        One ``Bar`` trace; bar i is cluster i (largest first, top to bottom) and its colour
        is ``seg.hex_colors[i]``.

    Examples
    --------
    >>> import numpy as np, core
    >>> image = np.zeros((4, 6, 3), dtype=np.uint8); image[:, 3:] = 255
    >>> seg = core.segment(image, 2)
    >>> shares_figure(seg).data[0].x.tolist()
    [50.0, 50.0]
    """
    names = [f"{i} · {hex_color}" for i, hex_color in enumerate(seg.hex_colors)]
    figure = go.Figure(
        go.Bar(
            x=seg.shares * 100,
            y=names,
            orientation="h",
            marker={"color": seg.hex_colors, "line": {"color": _OUTLINE, "width": 1}},
            text=[f"{f:.1%}" for f in seg.shares],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="cluster %{y}: %{x:.2f}% of pixels<extra></extra>",
        )
    )
    figure.update_layout(
        title="Share of pixels per cluster",
        xaxis={"title": "% of pixels", "range": [0, max(5.0, float(seg.shares.max()) * 118)]},
        yaxis={"autorange": "reversed", "type": "category"},
        margin=_MARGIN,
        font=_FONT,
        height=max(240, 70 + 30 * seg.k),
        showlegend=False,
    )
    return figure


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

    Returns
    -------
    plotly.graph_objects.Figure
        One ``Scatter`` line per curve, in the order of `curves`.

    Examples
    --------
    >>> figure = wcss_curves_figure({"a": ([1, 2], [3.0, 1.0])}, title="t", x_title="k")
    >>> [trace.name for trace in figure.data]
    ['a']
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
    steps : core.explore.steps.Steps
    image : (H, W, 3) ndarray of uint8, (H, W, 4) RGBA, or LoadedImage
        The image the steps were recorded on; only the pixels that count
        (``steps.valid``) are drawn.
    i : int
        Iteration to show (0 = the initial centres).

    max_points : int
        Pixels sampled for the cloud.
    seed : int
        Seed of the sample.

    Returns
    -------
    plotly.graph_objects.Figure
        A ``Scatter3d`` cloud of pixels, then one ``Scatter3d`` path per centroid.

    Raises
    ------
    IndexError
        If `i` is not an iteration of `steps`.

    Examples
    --------
    >>> from core.explore.steps import kmeans_steps
    >>> image = np.zeros((4, 6, 3), dtype=np.uint8); image[:, 3:] = 255
    >>> len(steps_figure(kmeans_steps(image, 2), image, 0).data)
    3
    """
    pixels = np.asarray(resolve_mask(image, None)[0]).reshape(-1, 3)
    chosen = _sample_counted(image.shape[:2], steps.valid, max_points, seed)
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
    figure.update_layout(
        scene=_scene(steps.color_space),
        title=f"Iteration {i}: centroids and the paths they took",
        # Room below the scene: a 3D scene drawn to the edge is cut by the page.
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
        height=560,
        uirevision="steps",
    )
    return figure


def filter_bank_figure(bank: np.ndarray, names: tuple[str, ...]) -> go.Figure:
    """The filters of a bank as a grid of small heatmaps (8 per row).

    Parameters
    ----------
    bank : (n, s, s) ndarray of float
        The filters (:func:`core.features.texture.lm_filter_bank`).
    names : tuple of str
        One name per filter, shown on hover.

    Returns
    -------
    plotly.graph_objects.Figure
        One ``Heatmap`` per filter.

    Examples
    --------
    >>> from core.features.texture import LM_FILTER_NAMES, lm_filter_bank
    >>> len(filter_bank_figure(lm_filter_bank(), LM_FILTER_NAMES).data)
    48
    """
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
    """Bits per pixel (bars) and PSNR (line) against k.

    Parameters
    ----------
    ks : list of int
    bits_per_pixel : list of float
        Size of the indexed PNG per pixel, for each k.
    psnr : list of float
        Peak signal-to-noise ratio in dB, for each k.

    Returns
    -------
    plotly.graph_objects.Figure
        A ``Bar`` trace (bits per pixel, left axis) and a ``Scatter`` line (PSNR, right axis).

    Examples
    --------
    >>> [type(t).__name__ for t in compression_figure([2, 4], [1.0, 2.0], [20.0, 25.0]).data]
    ['Bar', 'Scatter']
    """
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


def __getattr__(name: str) -> Any:
    # Previews moved to core.outputs.previews; the old names keep working from here.
    if name in ("preview_bytes", "cluster_thumbnails"):
        from core.outputs import previews

        return getattr(previews, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
