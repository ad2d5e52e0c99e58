"""A raster seen as a picture: bands chosen by number or name, and the 8-bit display stretch."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from core.inputs.raster import ROLE_NAMES, Raster

# --- bands, indices and display ---------------------------------------------------------


__all__ = ["band_position", "band_positions", "default_rgb_bands", "stretch_rgb"]


def band_positions(raster: Raster, bands: Sequence[int | str] | None) -> list[int]:
    """Positions (0-based) of the chosen bands.

    Parameters
    ----------
    raster : Raster
    bands : sequence of int or str, or None
        0-based positions, or names as in :attr:`Raster.band_names` (case-insensitive; the
        roles ``"red"``, ``"green"``, ``"blue"``, ``"nir"`` also match common spellings).
        None chooses every band but the alpha bands (:attr:`Raster.alpha_bands`).

    Returns
    -------
    list of int

    Raises
    ------
    ValueError
        If a band does not exist, naming the bands that do, or is an alpha band (a mask,
        never a feature).
    """
    if bands is None:
        alpha = set(getattr(raster, "alpha_bands", ()))
        return [p for p in range(raster.n_bands) if p not in alpha]
    if isinstance(bands, (str, int)):
        bands = [bands]
    return [band_position(raster, band) for band in bands]


def band_position(raster: Raster, band: int | str) -> int:
    """Position (0-based) of one band, by position or name (see :func:`band_positions`)."""
    position = _find_band(raster, band)
    if position in getattr(raster, "alpha_bands", ()):
        raise ValueError(
            f"Band {band!r} ({raster.band_names[position]!r}, 0-based position {position}) is "
            "the raster's alpha band: a mask (alpha 0 = no-data) that kseg applies to every "
            "band, not a feature. Leave it out (the default bands already do)."
        )
    return position


def _find_band(raster: Raster, band: int | str) -> int:
    names = raster.band_names
    if isinstance(band, (int, np.integer)) and not isinstance(band, bool):
        if 0 <= band < len(names):
            return int(band)
        raise ValueError(
            f"Band {band} does not exist: the raster has {len(names)} bands, numbered "
            f"0 to {len(names) - 1} ({', '.join(names)})."
        )
    if isinstance(band, str):
        wanted = band.strip().lower()
        for i, name in enumerate(names):
            if name.lower() == wanted:
                return i
        role = next((r for r, spellings in ROLE_NAMES.items() if wanted in (r, *spellings)), None)
        if role is not None:
            for i, name in enumerate(names):
                if name.lower() in ROLE_NAMES[role]:
                    return i
        raise ValueError(
            f"No band is called {band!r}; the bands are {', '.join(map(repr, names))}. "
            "Choose one of them, or give its 0-based position."
        )
    raise ValueError(f"A band is an int position or a str name, got {band!r}.")


def default_rgb_bands(raster: Raster) -> tuple[int, int, int]:
    """The bands to show as red, green, blue: by name when the file says, else the first
    three bands that are not alpha (one band: grey)."""
    try:
        return tuple(band_position(raster, role) for role in ("red", "green", "blue"))  # type: ignore[return-value]
    except ValueError:
        usable = band_positions(raster, None)
        if len(usable) >= 3:
            return (usable[0], usable[1], usable[2])
        return (usable[0], usable[0], usable[0])


def stretch_rgb(
    raster: Raster,
    rgb: Sequence[int | str] | None = None,
    *,
    percentiles: tuple[float, float] = (2.0, 98.0),
    bounds: Sequence[tuple[float, float]] | None = None,
) -> np.ndarray:
    """The display image: three bands, each stretched linearly between two values.

    By default the two values are percentiles of this raster's valid pixels (a display
    stretch of its own); with `bounds` they are given, so that rasters stretched with the
    same bounds show the same value as the same colour (one mapping for a collection).

    Parameters
    ----------
    raster : Raster
    rgb : three ints or strs, optional
        Bands to show as red, green and blue; default :func:`default_rgb_bands` (a
        single-band raster is shown in grey).
    percentiles : (float, float)
        The values at these percentiles of the valid pixels map to 0 and 255 (2–98 %, as
        GIS viewers do); values beyond are clipped. Unused with `bounds`.
    bounds : three (low, high) pairs of float, optional
        Per channel, the band values that map to 0 and 255 (values beyond are clipped),
        instead of percentiles. ``[(0, 255)] * 3`` keeps 8-bit bands as they are.

    Returns
    -------
    (H, W, 3) ndarray of uint8
        Invalid pixels are black (show them with the validity mask).

    Examples
    --------
    >>> from affine import Affine
    >>> from core.inputs.raster import GeoReference
    >>> raster = Raster(np.array([[[0, 500, 1000]]] * 3, dtype=np.uint16),
    ...                 np.ones((1, 3), dtype=bool), GeoReference(None, Affine.identity()),
    ...                 None, ("red", "green", "blue"), "uint16")
    >>> stretch_rgb(raster, bounds=[(0, 1000)] * 3)[0, :, 0].tolist()
    [0, 128, 255]
    """
    positions = band_positions(raster, rgb) if rgb is not None else list(default_rgb_bands(raster))
    if len(positions) != 3:
        raise ValueError(f"rgb must name three bands, got {len(positions)}.")
    low_p, high_p = percentiles
    if not 0 <= low_p < high_p <= 100:
        raise ValueError(f"percentiles must satisfy 0 <= low < high <= 100, got {percentiles}.")
    if bounds is not None and (
        len(bounds) != 3 or not all(len(pair) == 2 and np.isfinite(pair).all() for pair in bounds)
    ):
        raise ValueError(f"bounds must be three finite (low, high) pairs, got {bounds!r}.")
    valid = raster.valid
    # Percentiles of a strided subsample: exact enough for display, bounded work.
    step = max(1, int(math.sqrt(raster.n_pixels / 1_000_000)))
    sample_valid = valid[::step, ::step]
    out = np.zeros((raster.height, raster.width, 3), dtype=np.uint8)
    for channel, position in enumerate(positions):
        band = raster.data[position]
        if bounds is not None:
            low, high = (float(v) for v in bounds[channel])
        else:
            sample = band[::step, ::step][sample_valid]
            if sample.size == 0:
                continue
            low, high = np.percentile(sample.astype(np.float64), [low_p, high_p])
        scale = 255.0 / (high - low) if high > low else 0.0
        # No-data pixels may hold anything (NaN, ±3.4e38): they overflow or are NaN here,
        # quietly, and are blacked out below.
        with np.errstate(over="ignore", invalid="ignore"):
            scaled = (band.astype(np.float32) - np.float32(low)) * np.float32(scale)
            np.clip(scaled, 0, 255, out=scaled)
        np.nan_to_num(scaled, copy=False, nan=0.0)
        out[:, :, channel] = np.rint(scaled).astype(np.uint8)
    out[~valid] = 0
    return out
