"""Features beyond colour: turn pixels into feature rows (colour, position, texture).

Colour alone groups pixels that look alike wherever they are. Two more kinds of feature
change what "alike" means:

* **Position** — each pixel's (x, y), scaled to [0, 1] along the longer side, weighted by
  `position_weight`: clusters become spatially coherent regions (superpixel-like at high
  weights).
* **Texture** — the absolute responses of the Leung–Malik filter bank
  (:mod:`core.features.texture`), standardised and reduced with PCA: clusters separate grass from
  gravel of the same colour.

Weights are relative to the spread of the colour features, so 1.0 means "as important as
colour" in every colour space. This module only builds the feature matrix;
:func:`core.segment` with ``position_weight=`` / ``texture_weight=`` clusters it. With these
features two pixels of the same colour can land in different clusters, so kseg's
distinct-colour shortcut no longer applies: k-means runs on the full (pixels × features)
matrix. Use a working-size image: the cost grows with the number of pixels.
"""

from __future__ import annotations

import warnings
from typing import Final

import numpy as np
import numpy.typing as npt

from core.features.colorspaces import rgb_to_features
from core.inputs.arrays import as_rgb_image
from core.validation import DEFAULT_COLOR_SPACE, ColorSpace, check_color_space, check_weight

__all__ = ["DEFAULT_TEXTURE_COMPONENTS", "pixel_features"]

#: Principal components kept from the 48 texture responses.
DEFAULT_TEXTURE_COMPONENTS: Final = 8


def pixel_features(
    image: npt.ArrayLike,
    *,
    color_space: ColorSpace = DEFAULT_COLOR_SPACE,
    position_weight: float = 0.0,
    texture_weight: float = 0.0,
    texture_components: int = DEFAULT_TEXTURE_COMPONENTS,
    spatial_weight: float | None = None,
) -> np.ndarray:
    """One feature row per pixel: colour, then position and texture if weighted.

    Parameters
    ----------
    image : (H, W, 3) array_like of uint8
    color_space : {"rgb", "hsv", "lab", "oklab"}
    position_weight : float
        Weight of (x, y); 0 leaves position out.
    texture_weight : float
        Weight of the texture features; 0 leaves texture out.
    texture_components : int
        Principal components kept from the 48 filter responses.
    spatial_weight : float, optional
        Deprecated old name of `position_weight` (warns).

    Returns
    -------
    (H * W, d) ndarray of float64
        ``d = 3 (+ 2) (+ texture_components)``, rows in row-major pixel order.

    Raises
    ------
    ValueError
        If the image, the colour space or a weight is invalid.

    Examples
    --------
    >>> image = np.zeros((2, 3, 3), dtype=np.uint8)
    >>> pixel_features(image, position_weight=1.0).shape
    (6, 5)
    """
    if spatial_weight is not None:
        warnings.warn(
            "spatial_weight is deprecated: call it position_weight.",
            DeprecationWarning,
            stacklevel=2,
        )
        position_weight = spatial_weight
    rgb = as_rgb_image(image)
    space = check_color_space(color_space)
    spatial = check_weight(position_weight, "position_weight")
    texture = check_weight(texture_weight, "texture_weight")
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
        from core.features.texture import texture_features

        responses = texture_features(rgb, n_components=texture_components).astype(np.float64)
        texture_scale = float(np.sqrt(responses.var(axis=0).sum())) or 1.0
        columns.append(responses * (texture * scale / texture_scale))
    return np.ascontiguousarray(np.hstack(columns)) if len(columns) > 1 else color
