"""Plotly figures of a segmentation: colour-space scatter, elbow curve, cluster shares.

Figures only — no Streamlit — so they can be tested by structure and reused in notebooks.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import plotly.graph_objects as go

from core.colorspaces import AXIS_TITLES, COLOR_SPACES, rgb_to_features
from core.elbow import Elbow
from core.segmentation import Segmentation

__all__ = ["elbow_figure", "sample_pixels", "scatter3d_figure", "shares_figure"]

_FONT = {"family": "Inter, system-ui, sans-serif", "size": 13}
_MARGIN = {"l": 10, "r": 10, "t": 40, "b": 10}


def _rgb_strings(colors: np.ndarray) -> list[str]:
    return [f"rgb({r},{g},{b})" for r, g, b in colors.tolist()]


def sample_pixels(n_pixels: int, max_points: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of a reproducible random sample of at most `max_points` pixels."""
    if max_points >= n_pixels:
        return np.arange(n_pixels)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_pixels, size=max_points, replace=False))


def scatter3d_figure(
    seg: Segmentation,
    image: np.ndarray,
    *,
    max_points: int = 20_000,
    seed: int = 0,
    color_by: Literal["pixel", "cluster"] = "pixel",
) -> go.Figure:
    """Pixels as points in the segmentation's colour space, with the centroids marked.

    Parameters
    ----------
    seg : Segmentation
        The result to show; its colour space sets the axes.
    image : (H, W, 3) ndarray of uint8
        The image that was segmented (same H, W as `seg`).
    max_points : int
        Upper bound on the points drawn (a seeded random sample of pixels).
    seed : int
        Seed of the sample; the same seed draws the same pixels.
    color_by : {"pixel", "cluster"}
        Draw each point in its own colour, or in its cluster's palette colour.

    Returns
    -------
    plotly.graph_objects.Figure
        One ``Scatter3d`` trace of pixels and one of the k centroids (diamonds).
    """
    if image.shape[:2] != seg.shape:
        raise ValueError(
            f"image shape {image.shape[:2]} does not match the segmentation {seg.shape}."
        )
    if color_by not in ("pixel", "cluster"):
        raise ValueError(f"color_by must be 'pixel' or 'cluster', got {color_by!r}.")
    pixels = image.reshape(-1, 3)
    labels = seg.labels.ravel()
    chosen = sample_pixels(pixels.shape[0], max_points, seed)
    colors = pixels[chosen]
    points = rgb_to_features(colors, seg.color_space)
    shown = colors if color_by == "pixel" else seg.palette[labels[chosen]]
    x_title, y_title, z_title = AXIS_TITLES[seg.color_space]
    hover = [f"cluster {c}" for c in labels[chosen].tolist()]
    figure = go.Figure(
        [
            go.Scatter3d(
                x=points[:, 0],
                y=points[:, 1],
                z=points[:, 2],
                mode="markers",
                name=f"pixels ({len(chosen):,} sampled)",
                marker={"size": 2, "color": _rgb_strings(shown), "opacity": 0.8},
                text=hover,
                hovertemplate="%{text}<extra></extra>",
            ),
            go.Scatter3d(
                x=seg.centers[:, 0],
                y=seg.centers[:, 1],
                z=seg.centers[:, 2],
                mode="markers+text",
                name="centroids",
                text=[str(i) for i in range(seg.k)],
                textposition="top center",
                marker={
                    "size": 14,
                    "symbol": "diamond",
                    "color": _rgb_strings(seg.palette),
                    "line": {"color": "#111", "width": 3},
                },
                hovertext=[
                    f"centroid {i}: {seg.hex_colors[i]}, {seg.fractions[i]:.1%} of pixels"
                    for i in range(seg.k)
                ],
                hovertemplate="%{hovertext}<extra></extra>",
            ),
        ]
    )
    figure.update_layout(
        scene={
            "xaxis_title": x_title,
            "yaxis_title": y_title,
            "zaxis_title": z_title,
            "aspectmode": "cube",
        },
        title=f"Pixels in {COLOR_SPACES[seg.color_space].split(' — ')[0]} space",
        legend={"orientation": "h", "y": -0.02},
        margin=_MARGIN,
        font=_FONT,
        height=620,
        uirevision=seg.color_space,  # keep the camera when k changes
    )
    return figure


def elbow_figure(elbow: Elbow, *, chosen_k: int | None = None) -> go.Figure:
    """WCSS against k, the suggested k marked with a star and the chosen k with a line."""
    figure = go.Figure(
        go.Scatter(
            x=list(elbow.ks),
            y=list(elbow.wcss),
            mode="lines+markers",
            name="WCSS",
            line={"color": "#4C6EF5", "width": 3},
            marker={"size": 8},
            hovertemplate="k = %{x}<br>WCSS = %{y:.4g}<extra></extra>",
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
                marker={"size": 20, "symbol": "star", "color": "#F59F00", "line": {"width": 1}},
                hovertemplate="suggested k = %{x}<extra></extra>",
            )
        )
    if chosen_k is not None:
        figure.add_vline(
            x=chosen_k,
            line={"dash": "dot", "color": "#868E96"},
            annotation_text=f"current k = {chosen_k}",
        )
    figure.update_layout(
        title="Within-cluster sum of squares (WCSS) by k",
        xaxis={"title": "k (number of clusters)", "dtick": 1},
        yaxis={"title": f"WCSS ({elbow.color_space} units)"},
        margin=_MARGIN,
        font=_FONT,
        height=420,
        legend={"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right", "yanchor": "bottom"},
    )
    return figure


def shares_figure(seg: Segmentation) -> go.Figure:
    """Share of pixels per cluster, one bar per cluster in its palette colour."""
    names = [f"{i}  {hex_color}" for i, hex_color in enumerate(seg.hex_colors)]
    figure = go.Figure(
        go.Bar(
            x=seg.fractions * 100,
            y=names,
            orientation="h",
            marker={"color": seg.hex_colors, "line": {"color": "#333", "width": 1}},
            text=[f"{f:.1%}" for f in seg.fractions],
            textposition="outside",
            hovertemplate="%{y}: %{x:.2f}% of pixels<extra></extra>",
        )
    )
    figure.update_layout(
        title="Share of pixels per cluster",
        xaxis={"title": "% of pixels", "range": [0, max(5.0, float(seg.fractions.max()) * 118)]},
        yaxis={"autorange": "reversed"},
        margin=_MARGIN,
        font=_FONT,
        height=max(220, 40 + 32 * seg.k),
    )
    return figure
