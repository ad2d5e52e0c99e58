"""A collection's model: the fitted centres, their colours, sizes and classes, as JSON."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Final, cast

import numpy as np

from core.deprecation import DeprecatedAlias
from core.results.classmodel import ClassModel, FeatureSpec
from core.validation import DEFAULT_N_INIT, check_color_space, check_seed

__all__ = ["BandMapping", "CollectionModel"]

# The format of core.Palette.to_json before 0.2.0: still read.
_FORMAT: Final = "kseg-palette"


# --------------------------------------------------------------------------------------------
# The collection's model


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
class CollectionModel(ClassModel):
    """A :class:`core.ClassModel` fitted on a whole collection: the shared classes of every
    image, with the record of its fit.

    What :func:`fit_collection` returns (``core.Palette`` before 0.2.0, kept as a deprecated
    alias). Clusters are numbered by their size over the whole collection, largest first.
    Everything a :class:`core.ClassModel` does works on it: :meth:`with_classes` and
    :meth:`rename` keep the fit's record, :func:`core.apply` classifies another image with
    it, and its JSON (``"format": "kseg-class-model"``) carries the record under ``"fit"``,
    which :meth:`core.ClassModel.from_json` ignores. :meth:`from_json` also reads every
    ``palette.json`` an earlier kseg wrote (``"format": "kseg-palette"``, version 1).

    Attributes
    ----------
    features, centers, cluster_colors, class_of, class_names, shares, wcss
        As for :class:`core.ClassModel`: the colour space, the (k, 3) centres in its feature
        space, the mean RGB colour of each cluster's pixels over the collection, the
        classes, the share of the collection's pixels per cluster and the WCSS over every
        pixel of every image.
    counts : (k,) ndarray of int64
        Pixels per cluster over the collection.
    n_iter, converged
        Lloyd iterations of the final run and whether it converged.
    n_colors : int
        Distinct colours in the collection.
    n_images, n_pixels : int
        Images and pixels the model was fitted on.
    seed, init, n_init, max_iter, tol
        The parameters used (with :attr:`k` and :attr:`color_space`: :attr:`params`).
    band_mapping : BandMapping or None
        How rasters of more than 8 bits were mapped to RGB for the fit, applied the same way
        to every image labelled with this model by :func:`segment_collection`; None when
        the collection had none (photos and 8-bit rasters are used as they are).
    """

    counts: np.ndarray = None  # type: ignore[assignment]
    n_iter: int = 0
    converged: bool = True
    n_colors: int = 0
    n_images: int = 0
    n_pixels: int = 0
    seed: int | None = 0
    init: str = "k-means++"
    n_init: int = DEFAULT_N_INIT
    max_iter: int = 300
    tol: float = 1e-4
    band_mapping: BandMapping | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.features.kind != "color":
            raise ValueError(
                "A collection model clusters colours; this one has "
                f"{self.features.describe()} features."
            )
        k = self.k
        if self.counts is None:
            counts = np.zeros(k, dtype=np.int64)
            if self.shares is not None and self.n_pixels:
                counts = np.rint(self.shares * self.n_pixels).astype(np.int64)
        else:
            counts = np.array(self.counts, dtype=np.int64)
        if counts.shape != (k,) or (counts < 0).any():
            raise ValueError(f"counts must be {k} pixel counts, got shape {counts.shape}.")
        counts.setflags(write=False)
        object.__setattr__(self, "counts", counts)

    # Pre-0.2 names: one vocabulary (wcss, shares, cluster_colors) on every result type.
    inertia = DeprecatedAlias("wcss")
    fractions = DeprecatedAlias("shares")
    palette = DeprecatedAlias("cluster_colors")

    @classmethod
    def from_model(cls, model: ClassModel, **record: Any) -> CollectionModel:
        """`model` (a colour model, e.g. a photo's) as a collection model; `record` sets
        the fit's fields (``counts``, ``n_pixels`` …), default unknown (zero).

        Raises
        ------
        ValueError
            If `model` is not a colour model (a band model classifies rasters one by
            one with :func:`core.apply`).
        """
        if isinstance(model, CollectionModel) and not record:
            return model
        if model.features.kind != "color":
            raise ValueError(
                f"This model clusters {model.features.describe()}, not colours: a collection "
                "run labels colours. Apply it image by image with core.apply (or kseg apply)."
            )
        base = {f.name: getattr(model, f.name) for f in fields(ClassModel)}
        if isinstance(model, CollectionModel):
            base.update({f.name: getattr(model, f.name) for f in fields(cls) if f.name not in base})
        return cls(**{**base, **record})

    @property
    def params(self) -> dict[str, Any]:
        """The keyword arguments of :func:`fit_collection` that reproduce this model."""
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
    def cluster_hex(self) -> list[str]:
        """:attr:`cluster_colors` as ``#rrggbb`` strings (one per cluster)."""
        return [_hex(c) for c in self.cluster_colors]

    @property
    def key(self) -> str:
        """A short hash of the model (centres, classes, parameters), for file names and caches."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        """:meth:`core.ClassModel.to_dict` plus the fit's record under ``"fit"``."""
        data = super().to_dict()
        data["fit"] = {
            **{key: value for key, value in self.params.items() if key not in ("k", "color_space")},
            "counts": self.counts.tolist(),
            "n_iter": self.n_iter,
            "converged": self.converged,
            "n_colors": self.n_colors,
            "n_images": self.n_images,
            "n_pixels": self.n_pixels,
            "band_mapping": None if self.band_mapping is None else self.band_mapping.to_dict(),
        }
        return data

    @classmethod
    def from_json(cls, text: str | bytes) -> CollectionModel:
        """Read a model written by :meth:`to_json`, any colour :class:`core.ClassModel`
        (its fit's record unknown), or a ``palette.json`` an earlier kseg wrote.

        Parameters
        ----------
        text : str or bytes

        Returns
        -------
        CollectionModel

        Raises
        ------
        ValueError
            If the text is not JSON, not a kseg model or palette, from a newer version of
            kseg, a band model, or its fields are missing or inconsistent (the message
            says which).
        """
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError, TypeError):
            data = None  # ClassModel.from_json says what is wrong
        if isinstance(data, dict) and data.get("format") == _FORMAT and data.get("version") == 1:
            return _from_palette_v1(data)
        model = ClassModel.from_json(text)
        record = data.get("fit") if isinstance(data, dict) else None
        if not isinstance(record, dict):
            return cls.from_model(model)
        try:
            mapping = record.get("band_mapping")
            return cls.from_model(
                model,
                counts=np.asarray(record["counts"], dtype=np.int64),
                n_iter=int(record["n_iter"]),
                converged=bool(record["converged"]),
                n_colors=int(record["n_colors"]),
                n_images=int(record["n_images"]),
                n_pixels=int(record["n_pixels"]),
                seed=check_seed(record["seed"]),
                init=str(record["init"]),
                n_init=int(record["n_init"]),
                max_iter=int(record["max_iter"]),
                tol=float(record["tol"]),
                band_mapping=None if mapping is None else BandMapping.from_dict(mapping),
            )
        except (KeyError, TypeError) as e:
            raise ValueError(f"This model's fit record is incomplete or damaged ({e!r}).") from e

    @classmethod
    def load(cls, path: str | Path) -> CollectionModel:
        """Read a model file (see :meth:`from_json`); errors name the file."""
        # ClassModel.load reads through cls.from_json: this class's, with the fit's record.
        return cast(CollectionModel, super().load(path))


def _from_palette_v1(data: dict[str, Any]) -> CollectionModel:
    """A ``kseg-palette`` version 1 file (``core.Palette.to_json`` before 0.2.0)."""
    try:
        k = int(data["k"])
        centers = np.asarray(data["centers"], dtype=np.float64)
        colors = np.asarray(data["palette"], dtype=np.int64)
        counts = np.asarray(data["counts"], dtype=np.int64)
        fractions = np.asarray(data["fractions"], dtype=np.float64)
        space = check_color_space(data["color_space"])
        mapping = data.get("band_mapping")  # absent from older palette files
        if (
            k < 1
            or centers.shape != (k, 3)
            or colors.shape != (k, 3)
            or counts.shape != (k,)
            or fractions.shape != (k,)
        ):
            raise ValueError(
                f"k={k} but centres {centers.shape}, colours {colors.shape}, counts "
                f"{counts.shape}; each needs k rows of 3 (counts: k values)"
            )
        return CollectionModel(
            features=FeatureSpec("color", space),
            centers=centers,
            cluster_colors=colors,
            shares=fractions,
            wcss=float(data["inertia"]),
            counts=counts,
            n_iter=int(data["n_iter"]),
            converged=bool(data["converged"]),
            n_colors=int(data["n_colors"]),
            n_images=int(data["n_images"]),
            n_pixels=int(data["n_pixels"]),
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
            f"The palette file is malformed or inconsistent ({e}). Use the palette.json "
            "written by kseg, unedited."
        ) from e


def _hex(color: Sequence[int] | np.ndarray) -> str:
    return "#{:02x}{:02x}{:02x}".format(*map(int, color))
