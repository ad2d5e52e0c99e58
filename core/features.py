"""Features beyond colour: pixel position and texture, and k-means on them.

Colour alone groups pixels that look alike wherever they are. Two more kinds of feature
change what "alike" means:

* **Position** — each pixel's (x, y), scaled to [0, 1] along the longer side, weighted by
  `spatial_weight`: clusters become spatially coherent regions (superpixel-like at high
  weights).
* **Texture** — the absolute responses of the Leung–Malik filter bank
  (:mod:`core.texture`), standardised and reduced with PCA: clusters separate grass from
  gravel of the same colour.

Weights are relative to the spread of the colour features, so 1.0 means "as important as
colour" in every colour space. With these features two pixels of the same colour can land
in different clusters, so kseg's distinct-colour shortcut no longer applies: k-means runs
on the full (pixels × features) matrix with the same engine (Hamerly-accelerated Lloyd).
Use a working-size image: the cost grows with the number of pixels.
"""

from __future__ import annotations

import time
from typing import Literal

import numpy as np
import numpy.typing as npt

from core.colorspaces import check_color_space, rgb_to_features
from core.colortable import ColorTable
from core.kmeans import kmeans
from core.segmentation import DEFAULT_N_INIT, Segmentation, _check_params, _finish, as_rgb_image

__all__ = ["pixel_features", "segment_features"]


def _check_weight(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1e6:
        raise ValueError(f"{name} must be a number >= 0, got {value!r}.")
    return float(value)


def pixel_features(
    image: npt.ArrayLike,
    *,
    color_space: Literal["rgb", "hsv", "lab", "oklab"] = "rgb",
    spatial_weight: float = 0.0,
    texture_weight: float = 0.0,
    texture_components: int = 8,
) -> np.ndarray:
    """One feature row per pixel: colour, then position and texture if weighted.

    Parameters
    ----------
    image : (H, W, 3) array_like of uint8
    color_space : {"rgb", "hsv", "lab", "oklab"}
    spatial_weight : float
        Weight of (x, y); 0 leaves position out.
    texture_weight : float
        Weight of the texture features; 0 leaves texture out.
    texture_components : int
        Principal components kept from the 48 filter responses.

    Returns
    -------
    (H * W, d) ndarray of float64
        ``d = 3 (+ 2) (+ texture_components)``, rows in row-major pixel order.
    """
    rgb = as_rgb_image(image)
    space = check_color_space(color_space)
    spatial = _check_weight(spatial_weight, "spatial_weight")
    texture = _check_weight(texture_weight, "texture_weight")
    height, width = rgb.shape[:2]
    color = rgb_to_features(rgb.reshape(-1, 3), space)
    # The colour features' spread sets the scale the other features are weighed against.
    scale = float(np.sqrt(color.var(axis=0).sum())) or 1.0
    columns = [color]
    if spatial > 0:
        rows, cols = np.mgrid[0:height, 0:width]
        side = max(height, width, 2) - 1
        xy = np.column_stack([cols.ravel() / side, rows.ravel() / side])
        # Uniform positions on [0, 1] have a spread of ~0.41 over two axes: normalise it.
        xy_scale = float(np.sqrt(xy.var(axis=0).sum())) or 1.0
        columns.append(xy * (spatial * scale / xy_scale))
    if texture > 0:
        from core.texture import texture_features

        responses = texture_features(rgb, n_components=texture_components).astype(np.float64)
        texture_scale = float(np.sqrt(responses.var(axis=0).sum())) or 1.0
        columns.append(responses * (texture * scale / texture_scale))
    return np.ascontiguousarray(np.hstack(columns)) if len(columns) > 1 else color


def segment_features(
    image: npt.ArrayLike,
    k: int,
    *,
    color_space: Literal["rgb", "hsv", "lab", "oklab"] = "rgb",
    spatial_weight: float = 0.0,
    texture_weight: float = 0.0,
    texture_components: int = 8,
    seed: int | None = 0,
    init: Literal["k-means++", "random"] = "k-means++",
    n_init: int = DEFAULT_N_INIT,
    max_iter: int = 300,
    tol: float = 1e-4,
) -> Segmentation:
    """k-means on colour plus position and/or texture features (see the module docstring).

    With both weights 0 this is ordinary colour k-means on every pixel (use
    :func:`core.segment` then: it is much faster and gives the same clusters).

    Returns
    -------
    Segmentation
        ``centers`` has one column per feature (colour first); the palette is still the
        mean RGB colour of each cluster's pixels. ``engine`` is ``"kseg-features"``.

    Raises
    ------
    ValueError
        For invalid images or parameters, as :func:`core.segment`.
    """
    started = time.perf_counter()
    rgb = as_rgb_image(image)
    _check_params(k, init, n_init, max_iter, tol, "kseg")
    n_pixels = rgb.shape[0] * rgb.shape[1]
    if k > n_pixels:
        raise ValueError(f"k={k} is more than the number of pixels ({n_pixels}); lower k.")
    features = pixel_features(
        rgb,
        color_space=color_space,
        spatial_weight=spatial_weight,
        texture_weight=texture_weight,
        texture_components=texture_components,
    )
    fit = kmeans(
        features,
        int(k),
        init=init,
        n_init=int(n_init),
        max_iter=int(max_iter),
        tol=float(tol),
        seed=seed,
    )
    return _finish(
        ColorTable.from_image(rgb),
        rgb,
        int(k),
        color_labels=None,
        pixel_labels=fit.labels.reshape(rgb.shape[:2]),
        centers=fit.centers,
        inertia=fit.inertia,
        n_iter=fit.n_iter,
        converged=fit.converged,
        params={
            "k": int(k),
            "color_space": check_color_space(color_space),
            "seed": seed,
            "engine": "kseg-features",
            "fit_pixels": None,
            "init": init,
            "n_init": int(n_init),
            "max_iter": int(max_iter),
            "tol": float(tol),
        },
        fit_shape=(int(rgb.shape[0]), int(rgb.shape[1])),
        started=started,
    )
