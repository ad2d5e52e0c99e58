"""Pixels that don't count: which pixels of an image :func:`core.segment` clusters.

A logo on a transparent background, a cut-out, a scene with no-data borders: the pixels
outside the subject must not become a cluster of their own, nor weigh on the shares, the
WCSS or the elbow. :func:`resolve_mask` turns ``segment``'s ``mask=`` argument into a
validity array; :func:`scatter` puts a result computed on the valid pixels back on the
image's grid, with label ``-1`` elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import numpy.typing as npt

from core.errors import ImageError
from core.inputs.arrays import as_rgb_image

__all__ = [
    "MASK_OPTIONS",
    "MaskOptions",
    "MaskSpec",
    "counted_pixels",
    "mask_from_color",
    "n_counted",
    "on_grid",
    "read_mask_file",
    "resolve_mask",
    "scatter",
    "transparent_outside",
    "with_alpha",
]

#: The named values of ``mask=``; an (H, W) boolean array (True = counts) also works.
MASK_OPTIONS: dict[str, str] = {
    "auto": "fully transparent pixels (alpha 0) and a raster's no-data do not count",
    "alpha": "like 'auto', but the image must have an alpha channel",
}
MaskSpec = Literal["auto", "alpha"] | npt.ArrayLike | None

T = TypeVar("T")

#: Largest ``color_tolerance``: levels on the 0-255 scale of each channel.
COLOR_TOLERANCE_MAX = 255


def resolve_mask(image: Any, mask: MaskSpec) -> tuple[Any, np.ndarray | None]:
    """Split `image` into its colour pixels and the pixels that count.

    Parameters
    ----------
    image : (H, W, 3) or (H, W, 4) array_like, or an object with ``rgb`` and ``alpha``
        An array (the fourth channel of an (H, W, 4) array is its alpha, 0 = transparent,
        in the array's own scale), or a :class:`core.LoadedImage`, whose ``alpha`` marks
        transparent pixels (and a georeferenced raster's no-data).
    mask : {"auto", "alpha"}, (H, W) array_like of bool, or None
        ``"auto"`` (default of :func:`core.segment`): fully transparent pixels do not
        count, everything else does. ``"alpha"``: the same, but an image without alpha is
        an error. An array: True where the pixel counts. None: every pixel counts.

    Returns
    -------
    pixels : array_like
        The colour pixels, (H, W, 3) or (H, W) as given, for
        :func:`core.inputs.arrays.as_rgb_image`.
    valid : (H, W) ndarray of bool, or None
        None when every pixel counts.

    Raises
    ------
    ValueError
        If `mask` is not one of the accepted values or does not match the image.
    ImageError
        If no pixel counts (a fully transparent image, or an all-False mask).

    Examples
    --------
    >>> rgba = np.zeros((1, 3, 4), dtype=np.uint8); rgba[0, 1:, 3] = 255
    >>> pixels, valid = resolve_mask(rgba, "auto")
    >>> pixels.shape, valid.tolist()
    ((1, 3, 3), [[False, True, True]])
    """
    alpha = _alpha(image)
    pixels: Any = image
    if hasattr(image, "rgb") and hasattr(image, "alpha"):
        pixels = image.rgb
    elif alpha is not None:
        pixels = np.asarray(image)[:, :, :3]
    shape = np.shape(pixels)[:2]
    if mask is None:
        return pixels, None
    if isinstance(mask, str):
        if mask not in MASK_OPTIONS:
            raise ValueError(
                f"mask must be one of {', '.join(map(repr, MASK_OPTIONS))}, an (H, W) boolean "
                f"array or None, got {mask!r}."
            )
        if alpha is None:
            if mask == "alpha":
                raise ValueError(
                    "mask='alpha' needs an image with an alpha channel (an (H, W, 4) array or "
                    "a LoadedImage of a PNG/WebP with transparency); use mask='auto' or None."
                )
            return pixels, None
        valid = alpha > 0
    else:
        valid = np.asarray(mask)
        if valid.dtype != bool or valid.shape != shape:
            raise ValueError(
                f"mask must be a boolean array of the image's shape {shape} (True = the pixel "
                f"counts), got {valid.dtype} {valid.shape}."
            )
    if valid.all():
        return pixels, None
    if not valid.any():
        raise ImageError(
            "Every pixel is transparent or masked out, so there is nothing to cluster. "
            "Use an image with visible pixels, or mask=None to cluster every pixel."
        )
    return pixels, np.ascontiguousarray(valid)


def counted_pixels(image: Any, mask: MaskSpec) -> tuple[np.ndarray, np.ndarray | None]:
    """The RGB pixels that count, ready to cluster, and where they sit on the image.

    The one way :func:`core.segment`, :func:`core.elbow`, :func:`core.sweep` and
    :func:`core.explore.steps.kmeans_steps` read ``mask=``: the pixels that count, alone, as a
    (1, n) strip in row-major order, so every result equals clustering those pixels alone.

    Parameters
    ----------
    image : (H, W, 3) or (H, W, 4) array_like, or LoadedImage
        As for :func:`resolve_mask`.
    mask : {"auto", "alpha"}, (H, W) array_like of bool, or None
        As for :func:`resolve_mask`.

    Returns
    -------
    rgb : (H, W, 3) or (1, n, 3) ndarray of uint8
        The image itself when every pixel counts, else the n pixels that count.
    valid : (H, W) ndarray of bool, or None
        None when every pixel counts; put results back with :func:`on_grid`.

    Raises
    ------
    ValueError, ImageError
        As :func:`resolve_mask` and :func:`core.inputs.arrays.as_rgb_image`.

    Examples
    --------
    >>> rgba = np.zeros((2, 2, 4), dtype=np.uint8); rgba[0, :, 3] = 255
    >>> rgb, valid = counted_pixels(rgba, "auto")
    >>> rgb.shape, int(valid.sum())
    ((1, 2, 3), 2)
    """
    pixels, valid = resolve_mask(image, mask)
    rgb = as_rgb_image(pixels)
    if valid is not None:
        rgb = np.ascontiguousarray(rgb[valid])[None]
    return rgb, valid


def n_counted(image: Any, mask: MaskSpec = "auto") -> int:
    """How many pixels of `image` count under `mask` (the most clusters it can hold).

    Parameters
    ----------
    image, mask
        As for :func:`resolve_mask`.

    Returns
    -------
    int

    Raises
    ------
    ValueError, ImageError
        As :func:`resolve_mask`.

    Examples
    --------
    >>> rgba = np.zeros((2, 3, 4), dtype=np.uint8); rgba[0, :, 3] = 255
    >>> n_counted(rgba), n_counted(rgba, None)
    (3, 6)
    """
    pixels, valid = resolve_mask(image, mask)
    shape = np.shape(pixels)
    return int(shape[0] * shape[1]) if valid is None else int(valid.sum())


def on_grid(strip: np.ndarray, valid: np.ndarray, *, fill: int) -> np.ndarray:
    """Put values computed on the (1, n) strip of valid pixels back on the image's grid.

    Parameters
    ----------
    strip : (1, n) or (1, n, c) ndarray
        One value (or row of c values) per pixel that counts, in row-major order.
    valid : (H, W) ndarray of bool
        Where the pixels that count sit; ``n == valid.sum()``.
    fill : int
        Value of the pixels that do not count (``-1`` for labels, 255 for white).

    Returns
    -------
    (H, W) or (H, W, c) ndarray, of `strip`'s dtype

    Examples
    --------
    >>> on_grid(np.array([[7]]), np.array([[False, True]]), fill=-1).tolist()
    [[-1, 7]]
    """
    grid = np.full((*valid.shape, *strip.shape[2:]), fill, dtype=strip.dtype)
    grid[valid] = strip.reshape(-1, *strip.shape[2:])
    return grid


def mask_from_color(rgb: np.ndarray, color: str, *, tolerance: int = 0) -> np.ndarray:
    """Pixels that count: every pixel except those of one colour (a flat background).

    Parameters
    ----------
    rgb : (H, W, 3) ndarray of uint8
    color : str
        ``"#rrggbb"`` (or ``"rrggbb"``) of the background to ignore.
    tolerance : int
        Pixels within this many levels of `color` on every channel are ignored too.

    Returns
    -------
    (H, W) ndarray of bool
        True where the pixel counts.

    Raises
    ------
    ValueError
        If `color` is not a hex colour.

    Examples
    --------
    >>> rgb = np.full((1, 2, 3), 255, dtype=np.uint8); rgb[0, 1] = (0, 0, 0)
    >>> mask_from_color(rgb, "#ffffff").tolist()
    [[False, True]]
    """
    text = _hex_color(color)
    target = np.array([int(text[i : i + 2], 16) for i in (0, 2, 4)], dtype=np.int16)
    difference = np.abs(np.asarray(rgb, dtype=np.int16) - target).max(axis=2)
    return np.asarray(difference > tolerance)


@dataclass(frozen=True)
class MaskOptions:
    """Which pixels count, as the CLI and the dashboard offer it: the settings, not the pixels.

    One object the ``kseg`` options (``--ignore-transparent``, ``--ignore-color``,
    ``--color-tolerance``, ``--mask``), the dashboard's sidebar and the recipe share:
    :meth:`valid` turns it into the ``mask=`` of :func:`core.segment` (and of the elbow,
    the sweep and the steps) for an image at any working size; :meth:`flags` into the
    command line that does the same again. Frozen and hashable, so it can key a cache.

    Attributes
    ----------
    ignore_transparent : bool
        Fully transparent pixels (alpha 0) and a raster's no-data do not count (default).
    ignore_color : str or None
        ``"#rrggbb"`` of a flat background whose pixels do not count (normalised to lower
        case with a ``#``).
    color_tolerance : int
        Pixels within this many levels of `ignore_color` on every channel do not count
        either (0 to 255).
    mask_file : str or None
        Path of a mask image of the image's size: only its non-black pixels count.

    Raises
    ------
    ValueError
        If `ignore_color` is not a hex colour or `color_tolerance` is out of range.

    Examples
    --------
    >>> options = MaskOptions(ignore_color="FFFFFF", color_tolerance=8)
    >>> options.flags()
    ['--ignore-color', '#ffffff', '--color-tolerance', '8']
    >>> rgb = np.full((1, 3, 3), 250, dtype=np.uint8); rgb[0, 0] = (0, 0, 0)
    >>> options.valid(rgb).tolist()
    [[True, False, False]]
    """

    ignore_transparent: bool = True
    ignore_color: str | None = None
    color_tolerance: int = 0
    mask_file: str | None = None

    def __post_init__(self) -> None:
        if self.ignore_color is not None:
            object.__setattr__(self, "ignore_color", "#" + _hex_color(self.ignore_color))
        tolerance = self.color_tolerance
        if (
            isinstance(tolerance, bool)
            or not isinstance(tolerance, (int, np.integer))
            or not (0 <= tolerance <= COLOR_TOLERANCE_MAX)
        ):
            raise ValueError(
                f"color_tolerance must be a whole number of levels from 0 to "
                f"{COLOR_TOLERANCE_MAX}, got {tolerance!r}."
            )
        object.__setattr__(self, "color_tolerance", int(tolerance))

    @property
    def is_custom(self) -> bool:
        """Whether anything beyond the default (transparent pixels left out) is asked."""
        return self != MaskOptions()

    def valid(self, image: Any, rgb: np.ndarray | None = None) -> np.ndarray | None:
        """The pixels that count, ready for ``segment(..., mask=...)``.

        Parameters
        ----------
        image : (H, W, 3) or (H, W, 4) array_like, or LoadedImage
            The image as loaded: its alpha (or a raster's no-data) and its full size.
        rgb : (h, w, 3) ndarray of uint8, optional
            The pixels that will be clustered, e.g. a working copy downscaled with
            :func:`core.resize_to_max_pixels`; the image's own pixels by default. The
            colour test runs on them; the alpha and the mask file are resized to them by
            area averaging (a pixel is left out only if all it covers is).

        Returns
        -------
        (h, w) ndarray of bool, or None
            True where the pixel counts; None when every pixel does.

        Raises
        ------
        ValueError
            If the mask file's size is not the image's.
        ImageError
            If the mask file cannot be read.
        """
        pixels, _ = resolve_mask(image, None)
        alpha = _alpha(image)
        full_shape = np.shape(pixels)[:2]
        if rgb is None:
            rgb = as_rgb_image(pixels)
        shape = rgb.shape[:2]
        valid = np.ones(shape, dtype=bool)
        if self.ignore_transparent and alpha is not None:
            valid &= _resized(alpha, shape) > 0
        if self.mask_file is not None:
            given = read_mask_file(self.mask_file)
            if given.shape != full_shape:
                raise ValueError(
                    f"The mask '{Path(self.mask_file).name}' is {given.shape[1]} x "
                    f"{given.shape[0]}, but the image is {full_shape[1]} x {full_shape[0]}. "
                    "Give a mask of the image's size."
                )
            # 0/255 so that area averaging keeps a pixel any counted pixel covers.
            valid &= _resized(np.where(given, np.uint8(255), np.uint8(0)), shape) > 0
        if self.ignore_color is not None:
            valid &= mask_from_color(rgb, self.ignore_color, tolerance=self.color_tolerance)
        return None if valid.all() else valid

    def with_mask(self, image: Any, rgb: np.ndarray | None = None) -> np.ndarray:
        """`rgb` with the pixels that count as its alpha, for tools that take ``mask="auto"``.

        Parameters
        ----------
        image, rgb
            As for :meth:`valid`.

        Returns
        -------
        (h, w, 3) or (h, w, 4) ndarray of uint8
            `rgb` itself when every pixel counts; else RGBA with alpha 255 where the
            pixel counts and 0 where it does not, so :func:`core.elbow`,
            :func:`core.sweep` and :func:`core.explore.steps.kmeans_steps` leave out exactly
            these pixels, and a downscaled copy keeps them (see :func:`with_alpha`).

        Raises
        ------
        ValueError, ImageError
            As :meth:`valid`.

        Examples
        --------
        >>> rgb = np.zeros((1, 2, 3), dtype=np.uint8); rgb[0, 1] = 255
        >>> MaskOptions(ignore_color="#ffffff").with_mask(rgb)[..., 3].tolist()
        [[255, 0]]
        """
        if rgb is None:
            rgb = as_rgb_image(resolve_mask(image, None)[0])
        return transparent_outside(rgb, self.valid(image, rgb))

    def flags(self) -> list[str]:
        """The ``kseg segment`` / ``elbow`` / ``sweep`` options that ask for the same pixels.

        Returns
        -------
        list of str
            Empty for the default; a mask file by its name (it must sit where the
            command runs).
        """
        flags = [] if self.ignore_transparent else ["--no-ignore-transparent"]
        if self.ignore_color is not None:
            flags += ["--ignore-color", self.ignore_color]
            if self.color_tolerance:
                flags += ["--color-tolerance", str(self.color_tolerance)]
        if self.mask_file is not None:
            flags += ["--mask", Path(self.mask_file).name]
        return flags


def read_mask_file(path: str | Path) -> np.ndarray:
    """A mask image as the pixels that count: its non-black (non-zero) pixels.

    Parameters
    ----------
    path : str or Path
        Any image :func:`core.open_image` reads (a black-and-white PNG, typically).

    Returns
    -------
    (H, W) ndarray of bool

    Raises
    ------
    ImageError
        If the file cannot be read as an image.
    """
    from core.inputs.io import open_image

    return np.asarray(open_image(path).rgb.max(axis=2) > 0)


def _hex_color(color: str) -> str:
    """``rrggbb`` in lower case from ``"#rrggbb"`` or ``"rrggbb"``."""
    text = str(color).strip().lstrip("#")
    if len(text) != 6 or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise ValueError(f"color must be a hex colour like '#ffffff', got {color!r}.")
    return text.lower()


def _alpha(image: Any) -> np.ndarray | None:
    """The image's alpha channel (or a raster's no-data as alpha 0), None if it has none."""
    if hasattr(image, "rgb") and hasattr(image, "alpha"):
        return None if image.alpha is None else np.asarray(image.alpha)
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 4 and array.dtype != object:
        return array[:, :, 3]
    return None


def _resized(plane: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """`plane` at `shape` by area averaging (itself when the shape already fits)."""
    if plane.shape == shape:
        return plane
    import cv2  # here, not at the top: ``import core`` stays light

    return np.asarray(cv2.resize(plane, (shape[1], shape[0]), interpolation=cv2.INTER_AREA))


def with_alpha(rgb: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """`rgb` with `alpha` as a fourth channel, so its transparency travels with it.

    Parameters
    ----------
    rgb : (h, w, 3) ndarray of uint8
        E.g. a working copy of an image (possibly downscaled).
    alpha : (H, W) ndarray of uint8, or None
        The image's alpha (:attr:`core.LoadedImage.alpha`), resized to ``(h, w)`` by area
        averaging when the sizes differ (a pixel stays fully transparent only if all it
        covers was).

    Returns
    -------
    (h, w, 3) or (h, w, 4) ndarray of uint8
        `rgb` itself when `alpha` is None.

    Examples
    --------
    >>> with_alpha(np.zeros((2, 2, 3), np.uint8), np.zeros((4, 4), np.uint8)).shape
    (2, 2, 4)
    """
    if alpha is None:
        return rgb
    return np.dstack([rgb, _resized(alpha, rgb.shape[:2])])


def transparent_outside(rgb: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    """`rgb` made transparent where the pixel does not count, to save or to show.

    Parameters
    ----------
    rgb : (H, W, 3) ndarray of uint8
    valid : (H, W) ndarray of bool, or None
        The pixels that count (e.g. :attr:`core.Segmentation.valid`).

    Returns
    -------
    (H, W, 3) or (H, W, 4) ndarray of uint8
        `rgb` itself when `valid` is None; else RGBA, alpha 255 where `valid`, 0 elsewhere.

    Examples
    --------
    >>> transparent_outside(np.zeros((1, 2, 3), np.uint8), np.array([[True, False]]))[..., 3]
    array([[255,   0]], dtype=uint8)
    """
    if valid is None:
        return rgb
    return np.dstack([rgb, np.where(valid, np.uint8(255), np.uint8(0))])


def scatter(result: T, valid: np.ndarray, *, fill: int = 255) -> T:
    """Put a :class:`core.Segmentation` of the valid pixels back on the image's grid.

    Parameters
    ----------
    result : Segmentation
        Computed on the (1, n) strip of valid pixels, in row-major order.
    valid : (H, W) ndarray of bool
    fill : int
        Grey level of the pixels that do not count in ``segmented`` (white, as the image
        is shown over white; exports make them transparent).

    Returns
    -------
    Segmentation
        ``labels`` (H, W) with ``-1`` where the pixel does not count, ``segmented``
        (H, W, 3), ``valid`` set; every statistic unchanged.
    """
    valid = np.array(valid, dtype=bool)  # a copy: it becomes read-only below
    labels = on_grid(result.labels.astype(np.int32), valid, fill=-1)  # type: ignore[attr-defined]
    segmented = on_grid(result.segmented, valid, fill=fill)  # type: ignore[attr-defined]
    for array in (labels, segmented, valid):
        array.setflags(write=False)
    return replace(result, labels=labels, segmented=segmented, valid=valid)  # type: ignore[type-var]
