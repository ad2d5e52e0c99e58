"""CIEDE2000 colour difference, and the pairs of colours a person would call "the same".

:func:`ciede2000` is the CIE's 2000 colour-difference formula (CIE 142-2001), implemented as
Sharma, Wu and Dalal give it ("The CIEDE2000 color-difference formula: implementation
notes, supplementary test data, and mathematical observations", Color Research and
Application 30(1), 2005), and checked against their published test pairs. A difference
around 1 is barely visible side by side; clusters whose colours differ by less than about 10
look like one colour to most people, which is what :func:`close_pairs` offers as merges.

NumPy only (no scikit-image, no colour-science): a few dozen lines, exact to the published
four decimals.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from core.features.colorspaces import AXIS_TITLES, rgb_to_features

__all__ = ["ciede2000", "close_pairs", "rgb_to_lab"]


def rgb_to_lab(colors: npt.ArrayLike) -> np.ndarray:
    """sRGB colours (0-255) as CIELAB ``(L*, a*, b*)`` (D65), in that order.

    Parameters
    ----------
    colors : (n, 3) array_like of uint8 or int

    Returns
    -------
    (n, 3) ndarray of float64

    Examples
    --------
    >>> rgb_to_lab([[255, 255, 255]]).round(3).tolist()
    [[100.0, -0.0, 0.0]]
    """
    rgb = np.asarray(colors).reshape(-1, 3).astype(np.uint8)
    features = rgb_to_features(rgb, "lab").astype(np.float64)
    order = [AXIS_TITLES["lab"].index(axis) for axis in ("L*", "a*", "b*")]
    return features[:, order]


def ciede2000(lab1: npt.ArrayLike, lab2: npt.ArrayLike) -> np.ndarray:
    """The CIEDE2000 difference ΔE00 between CIELAB colours (kL = kC = kH = 1).

    Parameters
    ----------
    lab1, lab2 : (..., 3) array_like of float
        ``(L*, a*, b*)`` colours; broadcast against each other.

    Returns
    -------
    (...) ndarray of float64
        ΔE00, 0 for identical colours, symmetric in its arguments.

    Examples
    --------
    The first test pair of Sharma et al. (2005):

    >>> round(float(ciede2000([50, 2.6772, -79.7751], [50, 0, -82.7485])), 4)
    2.0425
    """
    lab1 = np.asarray(lab1, dtype=np.float64)
    lab2 = np.asarray(lab2, dtype=np.float64)
    l1, a1, b1 = lab1[..., 0], lab1[..., 1], lab1[..., 2]
    l2, a2, b2 = lab2[..., 0], lab2[..., 1], lab2[..., 2]
    c_mean = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_mean**7 / (c_mean**7 + 25.0**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    # Hue angles in degrees, 0 for a neutral colour (a' = b' = 0).
    h1p = np.where((a1p == 0) & (b1 == 0), 0.0, np.degrees(np.arctan2(b1, a1p)) % 360)
    h2p = np.where((a2p == 0) & (b2 == 0), 0.0, np.degrees(np.arctan2(b2, a2p)) % 360)
    d_l = l2 - l1
    d_c = c2p - c1p
    neutral = (c1p * c2p) == 0
    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(neutral, 0.0, dh)
    d_h = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh / 2))
    l_mean = (l1 + l2) / 2
    cp_mean = (c1p + c2p) / 2
    h_sum = h1p + h2p
    h_mean = np.where(
        np.abs(h1p - h2p) <= 180,
        h_sum / 2,
        np.where(h_sum < 360, (h_sum + 360) / 2, (h_sum - 360) / 2),
    )
    h_mean = np.where(neutral, h_sum, h_mean)
    t = (
        1
        - 0.17 * np.cos(np.radians(h_mean - 30))
        + 0.24 * np.cos(np.radians(2 * h_mean))
        + 0.32 * np.cos(np.radians(3 * h_mean + 6))
        - 0.20 * np.cos(np.radians(4 * h_mean - 63))
    )
    d_theta = 30 * np.exp(-(((h_mean - 275) / 25) ** 2))
    r_c = 2 * np.sqrt(cp_mean**7 / (cp_mean**7 + 25.0**7))
    s_l = 1 + 0.015 * (l_mean - 50) ** 2 / np.sqrt(20 + (l_mean - 50) ** 2)
    s_c = 1 + 0.045 * cp_mean
    s_h = 1 + 0.015 * cp_mean * t
    r_t = -np.sin(np.radians(2 * d_theta)) * r_c
    return np.asarray(
        np.sqrt(
            (d_l / s_l) ** 2 + (d_c / s_c) ** 2 + (d_h / s_h) ** 2 + r_t * (d_c / s_c) * (d_h / s_h)
        )
    )


def close_pairs(colors: npt.ArrayLike, threshold: float = 10.0) -> list[tuple[int, int, float]]:
    """Pairs of sRGB colours less than `threshold` ΔE00 apart, closest first.

    Parameters
    ----------
    colors : (n, 3) array_like of uint8
        E.g. a result's cluster colours.
    threshold : float
        Largest CIEDE2000 difference reported (exclusive).

    Returns
    -------
    list of (int, int, float)
        ``(i, j, delta_e)`` with ``i < j``, sorted by `delta_e`.

    Examples
    --------
    >>> [(i, j, round(d, 2)) for i, j, d in close_pairs([[200, 0, 0], [0, 0, 200], [205, 3, 2]])]
    [(0, 2, 1.1)]
    """
    lab = rgb_to_lab(colors)
    n = lab.shape[0]
    i, j = np.triu_indices(n, k=1)
    delta = ciede2000(lab[i], lab[j])
    keep = np.flatnonzero(delta < threshold)
    keep = keep[np.argsort(delta[keep], kind="stable")]
    return [(int(i[p]), int(j[p]), float(delta[p])) for p in keep]
