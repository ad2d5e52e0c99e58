"""Array-to-array helpers shared by every layer: validate an image, shrink an image.

Nothing here reads files (:mod:`core.inputs.io` turns bytes into arrays) or clusters anything.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from core.validation import check_positive_int

__all__ = ["as_rgb_image", "check_segmented_image", "resize_to_max_pixels"]


def as_rgb_image(image: npt.ArrayLike, *, name: str = "image") -> np.ndarray:
    """Validate an image and return it as a C-contiguous (H, W, 3) uint8 RGB array.

    Accepts (H, W, 3) uint8 RGB, (H, W) uint8 grayscale (repeated to three channels) and
    float arrays with values in [0, 1] (scaled by 255 and rounded). The input is never
    modified.

    Parameters
    ----------
    image : (H, W, 3) or (H, W) array_like of uint8, or of float in [0, 1]
    name : str
        What to call the image in error messages.

    Returns
    -------
    (H, W, 3) ndarray of uint8
        `image` itself when it already is C-contiguous uint8 RGB, else a converted copy.

    Raises
    ------
    TypeError
        If `image` is not an array of numbers.
    ValueError
        If it is empty, has the wrong shape, contains NaN, or has values out of range.

    Examples
    --------
    >>> as_rgb_image(np.zeros((2, 3), dtype=np.uint8)).shape
    (2, 3, 3)
    """
    array = np.asarray(image)
    if array.dtype == object or not (
        np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_
    ):
        raise TypeError(
            f"{name} must be a numeric array (H, W, 3), got dtype {array.dtype}; "
            "load files with core.load_image()."
        )
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] != 3:
        hint = (
            " (drop the alpha channel or use core.load_image)"
            if array.ndim == 3 and array.shape[2] == 4
            else ""
        )
        raise ValueError(
            f"{name} must have shape (H, W, 3) for RGB or (H, W) for grayscale, "
            f"got {np.shape(image)}{hint}."
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {np.shape(image)}); it needs at least one pixel.")
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    if np.issubdtype(array.dtype, np.floating):
        if np.isnan(array).any():
            raise ValueError(f"{name} contains NaN values; fill or remove them first.")
        if array.min() < 0 or array.max() > 1:
            raise ValueError(
                f"float {name} values must lie in [0, 1], got [{array.min():g}, {array.max():g}]; "
                "divide 0–255 data by 255 or pass uint8."
            )
        return np.ascontiguousarray(np.rint(array * 255.0).astype(np.uint8))
    raise ValueError(
        f"{name} has dtype {array.dtype}; pass uint8 (0–255) or float (0–1) data, "
        "or load files with core.load_image(), which scales 16-bit images."
    )


def resize_to_max_pixels(image: np.ndarray, max_pixels: int) -> np.ndarray:
    """Downscale an image so that it has at most `max_pixels` pixels.

    Area interpolation (each output pixel averages the input pixels it covers), aspect
    ratio kept, never upscaled.

    Parameters
    ----------
    image : (H, W, 3) or (H, W) ndarray of uint8
    max_pixels : int
        Upper bound on ``H * W`` of the result.

    Returns
    -------
    ndarray of uint8
        The input itself (same object) when it is already small enough, else a smaller copy.

    Raises
    ------
    ValueError
        If `max_pixels` is not a positive integer or `image` is empty.

    Examples
    --------
    >>> resize_to_max_pixels(np.zeros((300, 400, 3), dtype=np.uint8), 1200).shape
    (30, 40, 3)
    """
    max_pixels = check_positive_int(max_pixels, "max_pixels")
    height, width = image.shape[:2]
    if height == 0 or width == 0:
        raise ValueError(f"image is empty (shape {image.shape}).")
    if height * width <= max_pixels:
        return image
    scale = (max_pixels / (height * width)) ** 0.5
    new_w, new_h = max(1, int(width * scale)), max(1, int(height * scale))
    while new_w * new_h > max_pixels:  # guard against rounding up past the bound
        if new_w >= new_h:
            new_w -= 1
        else:
            new_h -= 1
    import cv2  # here, not at the top: ``import core`` stays light

    return cv2.resize(np.ascontiguousarray(image), (new_w, new_h), interpolation=cv2.INTER_AREA)


def check_segmented_image(image: npt.ArrayLike, shape: tuple[int, int]) -> np.ndarray:
    """Check that `image` is the (H, W, 3) uint8 RGB image of a segmentation of `shape`.

    Parameters
    ----------
    image : (H, W, 3) array_like of uint8
    shape : tuple of int
        ``(H, W)`` of the segmentation.

    Returns
    -------
    (H, W, 3) ndarray of uint8
        `image` as an array (not copied).

    Raises
    ------
    ValueError
        If `image` is not uint8 RGB or its shape differs.

    Examples
    --------
    >>> check_segmented_image(np.zeros((2, 3, 3), dtype=np.uint8), (2, 3)).shape
    (2, 3, 3)
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f"image must be the (H, W, 3) uint8 RGB image that was segmented, "
            f"got {image.dtype} {image.shape}."
        )
    if image.shape[:2] != tuple(shape):
        raise ValueError(
            f"image shape {image.shape[:2]} does not match the segmentation {tuple(shape)}; "
            "pass the image that was segmented."
        )
    return image
