"""A collection's palette: the fitted centres, their colours and sizes, as JSON."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from core.validation import (
    check_color_space,
    check_seed,
)

if TYPE_CHECKING:
    pass

_FORMAT: Final = "kseg-palette"
_VERSION: Final = 1


# --------------------------------------------------------------------------------------------
# Palette


@dataclass(frozen=True)
class BandMapping:
    """How a collection's rasters become 8-bit RGB: one linear map per band for every tile.

    Rasters of more than 8 bits (uint16, int16, float) are mapped with these bounds
    (:func:`core.inputs.raster.stretch_rgb` with ``bounds``), measured once on the whole collection,
    so the same value is the same colour, hence the same cluster, in every tile. 8-bit
    rasters are used as they are.

    Attributes
    ----------
    bands : (int, int, int)
        0-based positions of the bands shown as red, green and blue: the first raster's
        (by name when the file says, else the first three), used for every raster.
    low, high : (float, float, float)
        Per band, the values mapped to 0 and 255 (the 2 % and 98 % percentiles of the
        collection's valid pixels); values beyond are clipped.
    dtype : str
        The rasters' dtype(s) the bounds were measured on, e.g. ``"uint16"``.
    """

    bands: tuple[int, int, int]
    low: tuple[float, float, float]
    high: tuple[float, float, float]
    dtype: str

    @property
    def bounds(self) -> list[tuple[float, float]]:
        """``[(low, high)]`` per channel, as :func:`core.inputs.raster.stretch_rgb` takes them."""
        return list(zip(self.low, self.high, strict=True))

    def to_dict(self) -> dict[str, Any]:
        """The mapping as plain JSON values (for :meth:`Palette.to_json`)."""
        return {
            "bands": list(self.bands),
            "low": list(self.low),
            "high": list(self.high),
            "dtype": self.dtype,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BandMapping:
        """Read :meth:`to_dict`'s output.

        Raises
        ------
        ValueError
            If a field is missing or malformed.
        """
        try:
            bands = tuple(int(b) for b in data["bands"])
            low = tuple(float(v) for v in data["low"])
            high = tuple(float(v) for v in data["high"])
            dtype = str(data["dtype"])
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"the band mapping is malformed ({e!r})") from e
        if not (len(bands) == len(low) == len(high) == 3) or min(bands) < 0:
            raise ValueError("the band mapping needs three bands, lows and highs")
        if not (np.isfinite(low).all() and np.isfinite(high).all()):
            raise ValueError("the band mapping's bounds must be finite numbers")
        return cls(bands, low, high, dtype)


@dataclass(frozen=True, eq=False)
class Palette:
    """A k-means palette fitted on a whole collection: the shared classes of every image.

    Clusters are numbered by their size over the whole collection, largest first. All
    arrays are read-only. Two palettes are equal when their JSON is.

    Attributes
    ----------
    centers : (k, 3) ndarray of float64
        Cluster centres in the feature space of `color_space`.
    palette : (k, 3) ndarray of uint8
        Mean RGB colour of each cluster's pixels over the collection.
    counts : (k,) ndarray of int64
        Pixels per cluster over the collection.
    fractions : (k,) ndarray of float64
        Share of the collection's pixels per cluster; sums to 1.
    inertia : float
        Within-cluster sum of squares over every pixel of every image.
    n_iter, converged
        Lloyd iterations of the final run and whether it converged.
    n_colors : int
        Distinct colours in the collection.
    n_images, n_pixels : int
        Images and pixels the palette was fitted on.
    k, color_space, seed, init, n_init, max_iter, tol
        The parameters used.
    band_mapping : BandMapping or None
        How rasters of more than 8 bits were mapped to RGB for the fit, applied the same way
        to every image labelled with this palette; None when the collection had none
        (photos and 8-bit rasters are used as they are).
    """

    centers: np.ndarray
    palette: np.ndarray
    counts: np.ndarray
    fractions: np.ndarray
    inertia: float
    n_iter: int
    converged: bool
    n_colors: int
    n_images: int
    n_pixels: int
    k: int
    color_space: str
    seed: int | None
    init: str
    n_init: int
    max_iter: int
    tol: float
    band_mapping: BandMapping | None = None

    def __post_init__(self) -> None:
        for array in (self.centers, self.palette, self.counts, self.fractions):
            array.setflags(write=False)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Palette) and self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(self.to_json())

    @property
    def wcss(self) -> float:
        """:attr:`inertia` by the name :class:`core.Segmentation` uses."""
        return self.inertia

    @property
    def shares(self) -> np.ndarray:
        """:attr:`fractions` by the name :class:`core.Segmentation` uses."""
        return self.fractions

    @property
    def hex_colors(self) -> list[str]:
        """Palette as ``#rrggbb`` strings."""
        return [_hex(c) for c in self.palette]

    @property
    def params(self) -> dict[str, Any]:
        """The keyword arguments of :func:`fit_collection` that reproduce this palette."""
        return {
            "k": self.k,
            "color_space": self.color_space,
            "seed": self.seed,
            "init": self.init,
            "n_init": self.n_init,
            "max_iter": self.max_iter,
            "tol": self.tol,
        }

    @property
    def key(self) -> str:
        """A short hash of the palette (centres and parameters), for file names and caches."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    def to_json(self) -> str:
        """The palette as JSON text, to keep and reuse with :meth:`from_json`.

        Centres are written with full float precision, so a palette read back labels every
        pixel exactly as the original.
        """
        data = {
            "format": _FORMAT,
            "version": _VERSION,
            **self.params,
            "centers": self.centers.tolist(),
            "palette": self.palette.tolist(),
            "hex": self.hex_colors,
            "counts": self.counts.tolist(),
            "fractions": self.fractions.tolist(),
            "inertia": self.inertia,
            "n_iter": self.n_iter,
            "converged": self.converged,
            "n_colors": self.n_colors,
            "n_images": self.n_images,
            "n_pixels": self.n_pixels,
            "band_mapping": None if self.band_mapping is None else self.band_mapping.to_dict(),
        }
        return json.dumps(data, indent=1)

    @classmethod
    def from_json(cls, text: str | bytes) -> Palette:
        """Read a palette written by :meth:`to_json`.

        Parameters
        ----------
        text : str or bytes
            The JSON text (e.g. ``Path("palette.json").read_text()``).

        Returns
        -------
        Palette

        Raises
        ------
        ValueError
            If the text is not a kseg palette, or its fields are missing or inconsistent.
        """
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(
                f"This is not a kseg palette file (not valid JSON: {e}). "
                "Use the palette.json written by kseg batch or the dashboard."
            ) from e
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise ValueError(
                'This JSON is not a kseg palette (no \'"format": "kseg-palette"\'). '
                "Use the palette.json written by kseg batch or the dashboard."
            )
        if data.get("version") != _VERSION:
            raise ValueError(
                f"This palette is version {data.get('version')!r}; this kseg reads version "
                f"{_VERSION}. Refit it with this version of kseg."
            )
        try:
            k = int(data["k"])
            centers = np.asarray(data["centers"], dtype=np.float64)
            palette = np.asarray(data["palette"], dtype=np.int64)
            counts = np.asarray(data["counts"], dtype=np.int64)
            fractions = np.asarray(data["fractions"], dtype=np.float64)
            space = check_color_space(data["color_space"])
            mapping = data.get("band_mapping")  # absent from older palette files
            result = cls(
                centers=centers,
                palette=palette.astype(np.uint8),
                counts=counts,
                fractions=fractions,
                inertia=float(data["inertia"]),
                n_iter=int(data["n_iter"]),
                converged=bool(data["converged"]),
                n_colors=int(data["n_colors"]),
                n_images=int(data["n_images"]),
                n_pixels=int(data["n_pixels"]),
                k=k,
                color_space=space,
                seed=check_seed(data["seed"]),
                init=str(data["init"]),
                n_init=int(data["n_init"]),
                max_iter=int(data["max_iter"]),
                tol=float(data["tol"]),
                band_mapping=None if mapping is None else BandMapping.from_dict(mapping),
            )
        except KeyError as e:
            raise ValueError(
                f"The palette file has no {e.args[0]!r} field. Use the palette.json written "
                "by kseg batch or the dashboard, unedited."
            ) from e
        except (TypeError, ValueError) as e:
            raise ValueError(
                f"The palette file has a malformed field ({e}). Use the palette.json written "
                "by kseg batch or the dashboard, unedited."
            ) from e
        if (
            k < 1
            or centers.shape != (k, 3)
            or palette.shape != (k, 3)
            or counts.shape != (k,)
            or fractions.shape != (k,)
            or not np.isfinite(centers).all()
            or palette.min() < 0
            or palette.max() > 255
        ):
            raise ValueError(
                f"The palette file is inconsistent: k={k} but centres {centers.shape}, "
                f"colours {palette.shape}, counts {counts.shape}; each needs k rows of 3 "
                "(counts: k values). Use the palette.json written by kseg, unedited."
            )
        return result


def _hex(color: Sequence[int] | np.ndarray) -> str:
    return "#{:02x}{:02x}{:02x}".format(*map(int, color))
