"""Colour spaces: the one place where a colour-space name becomes feature coordinates.

Every conversion takes RGB colours as ``uint8`` and returns ``float64`` coordinates in
which Euclidean distance is the distance k-means uses:

``"rgb"``
    R, G, B scaled to [0, 1].
``"hsv"``
    Hue is an angle, so 350° and 10° are neighbours. We encode it on the HSV cone as
    ``(S·cos h, S·sin h, V)`` with S and V in [0, 1]: two colours are close exactly when
    they look alike in hue *and* saturation *and* value, and grey pixels (S = 0) sit on
    the axis whatever their nominal hue.
``"lab"``
    CIELAB (D65 white, sRGB primaries): L* in [0, 100], a* and b* roughly in [-128, 127].
    Designed so that equal distances are roughly equal perceived differences.
``"oklab"``
    Björn Ottosson's OKLab (2020): a modern perceptual space with better hue linearity
    than CIELAB; L in [0, 1], a and b roughly in [-0.4, 0.4].
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Final, NamedTuple

import numpy as np
import numpy.typing as npt

from core.accel import compiled as _accel
from core.validation import COLOR_SPACE_VALUES, ColorSpace, check_color_space

__all__ = [
    "AXIS_TITLES",
    "COLOR_SPACES",
    "COLOR_SPACE_NAMES",
    "SPACES",
    "ColorSpace",
    "SpaceInfo",
    "check_color_space",
    "color_space_name",
    "rgb_to_features",
]


class SpaceInfo(NamedTuple):
    """One colour space: its display name, a description, its axes, and its converter
    (``convert(colors, rgb01)``: uint8 (n, 3) colours and the same scaled to [0, 1] ->
    (n, 3) float64 coordinates in the order of `axes`)."""

    name: str
    description: str
    axes: tuple[str, str, str]
    convert: Callable[[np.ndarray, np.ndarray], np.ndarray]


def color_space_name(color_space: str) -> str:
    """The display name of a colour space (``"lab"`` -> ``"CIELAB"``).

    Parameters
    ----------
    color_space : str
        A name :func:`check_color_space` accepts.

    Returns
    -------
    str
        ``"RGB"``, ``"HSV"``, ``"CIELAB"`` or ``"OKLab"``.

    Raises
    ------
    ValueError
        If `color_space` is unknown.

    Examples
    --------
    >>> color_space_name("lab")
    'CIELAB'
    """
    return SPACES[check_color_space(color_space)].name


# Order of the returned columns per space: lightness last for Lab/OKLab so that a 3D plot
# of (x, y, z) = (a, b, L) stands upright, like the HSV cone (x, y, z) = (S cos H, S sin H, V).
_SRGB_TO_XYZ: Final = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
_D65_WHITE: Final = np.array([0.95047, 1.0, 1.08883])
_LINEAR_TO_LMS: Final = np.array(
    [
        [0.4122214708, 0.5363325363, 0.0514459929],
        [0.2119034982, 0.6806995451, 0.1073969566],
        [0.0883024619, 0.2817188376, 0.6299787005],
    ]
)
_LMS_TO_OKLAB: Final = np.array(
    [
        [0.2104542553, 0.7936177850, -0.0040720468],
        [1.9779984951, -2.4285922050, 0.4505937099],
        [0.0259040371, 0.7827717662, -0.8086757660],
    ]
)


def _srgb_to_linear(rgb01: np.ndarray) -> np.ndarray:
    return np.where(rgb01 <= 0.04045, rgb01 / 12.92, ((rgb01 + 0.055) / 1.055) ** 2.4)


# The same values for the 256 levels of a uint8 channel: a lookup instead of a power per
# channel of every colour (the largest cost of converting millions of colours).
_LINEAR_OF_LEVEL: Final = _srgb_to_linear(np.arange(256, dtype=np.float64) / 255.0)


def _linear_rgb(colors: np.ndarray, rgb01: np.ndarray) -> np.ndarray:
    """Linear-light RGB of the colours (`rgb01` is ``colors / 255``)."""
    if colors.dtype == np.uint8:
        return _LINEAR_OF_LEVEL[colors]
    return _srgb_to_linear(rgb01)


def _product(x: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``x @ matrix.T`` for (n, 3) rows without BLAS: multithreaded BLAS gains nothing on a
    3 × 3 product and, on busy shared cores, took up to 0.5 s instead of 0.04 s at 1.4 M
    rows."""
    return np.einsum("ij,kj->ik", x, matrix)


def _rgb_to_hsv_cone(rgb01: np.ndarray) -> np.ndarray:
    r, g, b = rgb01[:, 0], rgb01[:, 1], rgb01[:, 2]
    value = rgb01.max(axis=1)
    chroma = value - rgb01.min(axis=1)
    saturation = np.divide(chroma, value, out=np.zeros_like(value), where=value > 0)
    # Hue angle from the standard hexagonal formula; any hue is fine where chroma == 0
    # because the radius S·(cos, sin) is then 0.
    safe = np.where(chroma > 0, chroma, 1.0)
    hue = np.select(
        [value == r, value == g],
        [((g - b) / safe) % 6.0, (b - r) / safe + 2.0],
        (r - g) / safe + 4.0,
    ) * (np.pi / 3.0)
    return np.column_stack([saturation * np.cos(hue), saturation * np.sin(hue), value])


def _rgb_to_lab(linear: np.ndarray) -> np.ndarray:
    xyz = _product(linear, _SRGB_TO_XYZ) / _D65_WHITE
    epsilon, kappa = 216.0 / 24389.0, 24389.0 / 27.0
    f = np.where(xyz > epsilon, np.cbrt(xyz), (kappa * xyz + 16.0) / 116.0)
    lightness = 116.0 * f[:, 1] - 16.0
    a = 500.0 * (f[:, 0] - f[:, 1])
    b = 200.0 * (f[:, 1] - f[:, 2])
    return np.column_stack([a, b, lightness])


def _rgb_to_oklab(linear: np.ndarray) -> np.ndarray:
    lms = np.cbrt(_product(linear, _LINEAR_TO_LMS))
    lab = _product(lms, _LMS_TO_OKLAB)
    return lab[:, [1, 2, 0]]


def rgb_to_features(colors: npt.ArrayLike, color_space: ColorSpace | str = "rgb") -> np.ndarray:
    """Convert RGB colours to coordinates in `color_space`.

    Parameters
    ----------
    colors : (n, 3) array_like of uint8
        sRGB colours, one per row.
    color_space : {"rgb", "hsv", "lab", "oklab"}
        Target space; see the module docstring for the axes and their ranges.

    Returns
    -------
    (n, 3) ndarray of float64
        Coordinates, in the column order of :data:`AXIS_TITLES` ``[color_space]``.

    Raises
    ------
    ValueError
        If `color_space` is unknown or `colors` is not of shape (n, 3).

    Examples
    --------
    >>> white = np.array([[255, 255, 255]], dtype=np.uint8)
    >>> (rgb_to_features(white, "lab").round(2) + 0.0).tolist()  # a*, b*, L*
    [[0.0, 0.0, 100.0]]
    """
    space = check_color_space(color_space)
    colors = np.asarray(colors)
    if colors.ndim != 2 or colors.shape[1] != 3:
        raise ValueError(f"colors must have shape (n, 3), got {colors.shape}.")
    n = colors.shape[0]
    if space == "lab" and colors.dtype == np.uint8 and _accel.enabled(0):
        # Once the compiled kernels are loaded (never loaded for this alone): one fused
        # pass, 2.6x less work than NumPy's, equal to rounding.
        def convert(rows: np.ndarray) -> np.ndarray:
            rows = np.ascontiguousarray(rows)  # the layout the kernel is compiled for
            return _accel.lab_of_colors(rows, _LINEAR_OF_LEVEL, _SRGB_TO_XYZ, _D65_WHITE)
    else:

        def convert(rows: np.ndarray) -> np.ndarray:
            return _features(rows, space)

    workers = min(os.cpu_count() or 1, 4, n // _THREAD_ROWS)
    if space == "rgb" or workers < 2:
        return convert(colors)
    # Every row is converted on its own, so converting slices side by side gives the same
    # bits; NumPy and the kernel release the GIL in these loops (NumPy: 1.5-1.9x on 2
    # cores from 2**18 rows).
    out = np.empty((n, 3))
    bounds = np.linspace(0, n, workers + 1).astype(int)

    def convert_part(part: int) -> None:
        rows = slice(bounds[part], bounds[part + 1])
        out[rows] = convert(colors[rows])

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kseg-colors") as pool:
        list(pool.map(convert_part, range(workers)))
    return out


# Colour conversions are split over threads from this many rows per thread on.
_THREAD_ROWS: Final = 1 << 17


def _features(colors: np.ndarray, space: str) -> np.ndarray:
    """:func:`rgb_to_features` on (n, 3) colours (prior validation assumed)."""
    return SPACES[space].convert(colors, colors.astype(np.float64) / 255.0)


def _rgb(colors: np.ndarray, rgb01: np.ndarray) -> np.ndarray:
    return rgb01


def _hsv(colors: np.ndarray, rgb01: np.ndarray) -> np.ndarray:
    return _rgb_to_hsv_cone(rgb01)


def _lab(colors: np.ndarray, rgb01: np.ndarray) -> np.ndarray:
    return _rgb_to_lab(_linear_rgb(colors, rgb01))


def _oklab(colors: np.ndarray, rgb01: np.ndarray) -> np.ndarray:
    return _rgb_to_oklab(_linear_rgb(colors, rgb01))


#: The one table of colour spaces, keyed by the names :func:`rgb_to_features` accepts (the
#: :data:`core.validation.ColorSpace` type names the same keys). A new space: one entry here
#: and its converter, and its key in that ``Literal``.
SPACES: Final[dict[str, SpaceInfo]] = {
    "rgb": SpaceInfo("RGB", "the raw red, green and blue channels", ("R", "G", "B"), _rgb),
    "hsv": SpaceInfo(
        "HSV", "hue (circular), saturation, value", ("S·cos(H)", "S·sin(H)", "V"), _hsv
    ),
    "lab": SpaceInfo(
        "CIELAB", "perceptual, L* lightness with a*/b* colour axes", ("a*", "b*", "L*"), _lab
    ),
    "oklab": SpaceInfo("OKLab", "modern perceptual space with even hues", ("a", "b", "L"), _oklab),
}
if tuple(SPACES) != COLOR_SPACE_VALUES:  # pragma: no cover - a table out of step with the type
    raise ImportError("core.features.colorspaces.SPACES and core.validation.ColorSpace differ")

#: Colour space -> "Name — description", for UIs.
COLOR_SPACES: Final[dict[str, str]] = {
    key: f"{info.name} — {info.description}" for key, info in SPACES.items()
}
#: Colour space -> display name ("CIELAB"), for labels, captions and URLs.
COLOR_SPACE_NAMES: Final[dict[str, str]] = {key: info.name for key, info in SPACES.items()}
#: Names of the three feature axes per colour space, for plots and tables.
AXIS_TITLES: Final[dict[str, tuple[str, str, str]]] = {
    key: info.axes for key, info in SPACES.items()
}
