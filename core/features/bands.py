"""Band features of rasters: spectral indices and standardised feature rows, with their scaling."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from core.inputs.display import band_position, band_positions
from core.inputs.raster import INDICES, Raster

__all__ = ["feature_bands", "raster_features", "spectral_index"]


def feature_bands(
    raster: Raster, bands: Sequence[int | str] | None = None, indices: Sequence[str] = ()
) -> list[int]:
    """Every band the features read: the chosen bands, then the indices' input bands.

    A pixel counts for these features only where all of them hold data
    (:meth:`core.inputs.raster.Raster.valid_for`).

    Parameters
    ----------
    raster : Raster
    bands : sequence of int or str, optional
        As for :func:`raster_features` (default every band but alpha bands).
    indices : sequence of {"ndvi", "ndwi"}

    Returns
    -------
    list of int
        0-based positions, each once, in order of first use.

    Raises
    ------
    ValueError
        If a band or index does not exist.
    """
    positions = band_positions(raster, bands)
    for index in indices:
        key = index.lower() if isinstance(index, str) else index
        if key not in INDICES:
            raise ValueError(f"Unknown index {index!r}; choose one of {', '.join(INDICES)}.")
        positions += [band_position(raster, role) for role in INDICES[key]]
    return list(dict.fromkeys(positions))


def spectral_index(
    raster: Raster,
    index: str,
    *,
    red: int | str = "red",
    green: int | str = "green",
    nir: int | str = "nir",
) -> np.ndarray:
    """A normalised-difference index of every pixel.

    Parameters
    ----------
    raster : Raster
    index : {"ndvi", "ndwi"}
        NDVI = (NIR − red) / (NIR + red); NDWI = (green − NIR) / (green + NIR) (McFeeters).
    red, green, nir : int or str
        Where to find each band (see :func:`band_positions`).

    Returns
    -------
    (H, W) ndarray of float32
        Values in [−1, 1]; 0 where both bands are 0.

    Raises
    ------
    ValueError
        If `index` is unknown or a band it needs cannot be found.
    """
    key = index.lower() if isinstance(index, str) else index
    if key not in INDICES:
        raise ValueError(f"Unknown index {index!r}; choose one of {', '.join(INDICES)}.")
    where = {"red": red, "green": green, "nir": nir}
    first, second = (band_position(raster, where[role]) for role in INDICES[key])
    # No-data pixels may hold anything (NaN, ±3.4e38): they overflow or are NaN here,
    # quietly; they are not features (raster_features leaves them out).
    with np.errstate(over="ignore", invalid="ignore"):
        a = raster.data[first].astype(np.float32)
        b = raster.data[second].astype(np.float32)
        total = a + b
        np.subtract(a, b, out=a)
        np.divide(a, total, out=a, where=total != 0)
    a[total == 0] = 0.0
    return a


def raster_features(
    raster: Raster,
    *,
    bands: Sequence[int | str] | None = None,
    indices: Sequence[str] = (),
    standardize: bool = True,
    valid: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Feature vectors of the valid pixels: chosen bands, then indices.

    Parameters
    ----------
    raster : Raster
    bands : sequence of int or str, optional
        Bands to use (see :func:`band_positions`); default every band.
    indices : sequence of {"ndvi", "ndwi"}
        Indices appended as extra features.
    standardize : bool
        Scale every feature to zero mean and unit variance over the valid pixels, so a
        16-bit band does not outweigh an index in [−1, 1] (as Orfeo ToolBox does). False
        keeps the raw values.
    valid : (H, W) ndarray of bool, optional
        Pixels to use; default those where every band the features read holds data
        (:func:`feature_bands`, :meth:`Raster.valid_for`): a pixel whose NIR is no-data
        has no NDVI.

    Returns
    -------
    features : (n, d) ndarray of float32
        One row per valid pixel, in row-major order.
    valid : (H, W) ndarray of bool
        Which pixels the rows are.
    names : tuple of str
        The name of each feature.

    Raises
    ------
    ValueError
        If a band or index does not exist, or no pixel is valid.
    """
    positions = band_positions(raster, bands)
    keys = [i.lower() for i in indices]
    for key in keys:
        if key not in INDICES:
            raise ValueError(f"Unknown index {key!r}; choose one of {', '.join(INDICES)}.")
    if valid is None:
        mask = raster.valid_for(feature_bands(raster, positions, keys))
    else:
        mask = np.asarray(valid, dtype=bool)
    if mask.shape != raster.valid.shape:
        raise ValueError(f"valid must have shape {raster.valid.shape}, got {mask.shape}.")
    n = int(np.count_nonzero(mask))
    if n == 0:
        raise ValueError("No pixel is valid: the whole raster is no-data or masked.")
    d = len(positions) + len(keys)
    if d == 0:
        raise ValueError("Choose at least one band or index.")
    flat = mask.ravel()
    all_valid = bool(flat.all())
    features = np.empty((n, d), dtype=np.float32)
    sources: list[Any] = [lambda p=p: raster.data[p] for p in positions]
    sources += [lambda key=key: spectral_index(raster, key) for key in keys]
    for j, source in enumerate(sources):
        # One contiguous float32 column at a time: statistics and scaling run on it, and
        # the (n, d) matrix is written once, column by column.
        column = source().ravel()
        values = (column if all_valid else column[flat]).astype(np.float32, copy=True)
        del column
        if standardize:
            mean, std = _mean_std(values)
            values -= np.float32(mean)
            if std > 0:
                values *= np.float32(1.0 / std)
        features[:, j] = values
        del values
    names = tuple(raster.band_names[p] for p in positions) + tuple(k.upper() for k in keys)
    return features, mask, names


def _mean_std(values: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of a 1-D array in float64, in bounded chunks."""
    total = squares = 0.0
    for start in range(0, values.shape[0], 1 << 20):
        chunk = values[start : start + (1 << 20)].astype(np.float64)
        total += float(chunk.sum())
        squares += float(np.square(chunk).sum())  # not BLAS: see kmeans_nd._threads_for
    mean = total / values.shape[0]
    return mean, math.sqrt(max(squares / values.shape[0] - mean * mean, 0.0))
