"""Named classes over k-means clusters: :class:`ClassModel`, fitted once, applied anywhere.

k-means answers with numbered clusters; people work with classes ("clusters 0 and 3 are
water, 1 is forest, 5 is cloud and does not count"). A :class:`ClassModel` holds everything
needed to classify a pixel again, on this image or the next hundred:

* how features are made (:class:`FeatureSpec`): a colour space for photos; or bands,
  spectral indices and their *fitted* scaling (mean and standard deviation per feature)
  for multiband rasters, so another scene is scaled as the fit was, never by its own
  statistics;
* the k fitted centres in that feature space, and each cluster's mean colour;
* which class each cluster belongs to (``class_of``, ``-1`` for a dropped cluster) and
  the classes' names.

:meth:`ClassModel.with_classes` merges, names and drops clusters; :meth:`ClassModel.rename`
renames one class; :meth:`ClassModel.to_json` / :meth:`ClassModel.save` keep the model
as a small JSON file. :meth:`core.Segmentation.relabel` shows a result in a model's
classes; :func:`core.apply` classifies another image with it. :func:`nearest_centers` is
the one nearest-centre rule both the fit's last assignment and :func:`core.apply` use, so
applying a result's model to its own image gives its labels exactly.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, cast

import numpy as np

from core.engine.assign import nearest_centers
from core.errors import ImageError
from core.features.colorspaces import AXIS_TITLES, check_color_space
from core.validation import is_integer

if TYPE_CHECKING:
    from core.inputs.raster import Raster

__all__ = [
    "FORMAT",
    "VERSION",
    "ClassModel",
    "FeatureSpec",
    "band_features",
    "default_class_name",
    "nearest_centers",
]

#: The ``format`` field of a model file.
FORMAT: Final = "kseg-class-model"
#: The newest model file version this kseg reads and the one it writes.
VERSION: Final = 1
# The palette.json of ``kseg batch`` (core.collection.Palette, version 1) loads as a model.
_PALETTE_FORMAT: Final = "kseg-palette"

FeatureKind = Literal["color", "bands", "pixel"]


def default_class_name(cluster: int) -> str:
    """The name of a cluster that has not been named: ``"cluster 4"``.

    Stable: it is the cluster's number in the fit (largest first), whatever classes the
    other clusters are merged into.

    Examples
    --------
    >>> default_class_name(4)
    'cluster 4'
    """
    return f"cluster {cluster}"


@dataclass(frozen=True)
class FeatureSpec:
    """How a model turns pixels into the features its centres live in.

    Attributes
    ----------
    kind : {"color", "bands", "pixel"}
        ``"color"``: a photo's colour in `color_space`. ``"bands"``: a raster's `bands`
        then `indices`, scaled with `mean` and `std`. ``"pixel"``: colour plus position
        and texture (``segment(position_weight=..., texture_weight=...)``); such a model
        can be relabelled and saved but not applied to another image (its position and
        texture features depend on the image it was fitted on).
    color_space : str or None
        ``"rgb"``, ``"hsv"``, ``"lab"`` or ``"oklab"`` (kinds "color" and "pixel").
    bands : tuple of str
        Band names, as :attr:`core.raster.Raster.band_names` spells them (kind "bands").
    indices : tuple of str
        Spectral indices appended as features, lower case (``"ndvi"``, ``"ndwi"``).
    mean, std : tuple of float, or None
        The fitted scaling: each feature had `mean` subtracted and was divided by `std`
        (unless 0); None when the features were not standardised.
    position_weight, texture_weight : float
        Kind "pixel" only.
    texture_components : int
        Kind "pixel" only.
    """

    kind: FeatureKind
    color_space: str | None = None
    bands: tuple[str, ...] = ()
    indices: tuple[str, ...] = ()
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    position_weight: float = 0.0
    texture_weight: float = 0.0
    texture_components: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("color", "bands", "pixel"):
            raise ValueError(
                f"Unknown feature kind {self.kind!r}; a model's features are 'color', "
                "'bands' or 'pixel'."
            )
        if self.kind == "bands":
            object.__setattr__(self, "bands", tuple(str(b) for b in self.bands))
            object.__setattr__(self, "indices", tuple(str(i).lower() for i in self.indices))
            if not self.bands and not self.indices:
                raise ValueError("A band model needs at least one band or index.")
            if (self.mean is None) != (self.std is None):
                raise ValueError("A band model's scaling needs both mean and std, or neither.")
            if self.mean is not None and self.std is not None:
                mean = tuple(float(v) for v in self.mean)
                std = tuple(float(v) for v in self.std)
                d = len(self.bands) + len(self.indices)
                if len(mean) != d or len(std) != d:
                    raise ValueError(
                        f"A band model's scaling needs one mean and one std per feature ({d}), "
                        f"got {len(mean)} and {len(std)}."
                    )
                if not all(math.isfinite(v) for v in mean + std) or min(std) < 0:
                    raise ValueError("A band model's scaling must be finite, with std >= 0.")
                object.__setattr__(self, "mean", mean)
                object.__setattr__(self, "std", std)
        else:
            object.__setattr__(self, "color_space", check_color_space(self.color_space))

    def axes(self, d: int) -> tuple[str, ...]:
        """Names of the `d` feature axes, e.g. ``("a*", "b*", "L*")`` or
        ``("red", "nir", "NDVI")`` (kind "pixel": the colour axes, then ``"x"``, ``"y"``
        with position, then ``"texture 1"`` …)."""
        if self.kind == "bands":
            return self.bands + tuple(i.upper() for i in self.indices)
        names: list[str] = list(AXIS_TITLES[str(self.color_space)])
        if self.kind == "pixel" and self.position_weight > 0:
            names += ["x", "y"]
        names += [f"texture {i + 1}" for i in range(d - len(names))]
        return tuple(names[:d])

    def to_dict(self) -> dict[str, Any]:
        """The spec as JSON-ready values (only the fields of its kind)."""
        if self.kind == "color":
            return {"kind": "color", "color_space": self.color_space}
        if self.kind == "pixel":
            return {
                "kind": "pixel",
                "color_space": self.color_space,
                "position_weight": self.position_weight,
                "texture_weight": self.texture_weight,
                "texture_components": self.texture_components,
            }
        scaling = None
        if self.mean is not None and self.std is not None:
            scaling = {"mean": list(self.mean), "std": list(self.std)}
        return {
            "kind": "bands",
            "bands": list(self.bands),
            "indices": list(self.indices),
            "scaling": scaling,
        }

    @classmethod
    def from_dict(cls, data: Any) -> FeatureSpec:
        """The inverse of :meth:`to_dict`.

        Raises
        ------
        ValueError
            If a field is missing or of the wrong type.
        """
        if not isinstance(data, dict):
            raise ValueError("'features' must be an object with a 'kind'.")
        kind = data.get("kind")
        if kind == "bands":
            scaling = data.get("scaling")
            if scaling is not None and not isinstance(scaling, dict):
                raise ValueError(
                    "'features.scaling' must be null or {'mean': [...], 'std': [...]}."
                )
            bands, indices = data.get("bands", []), data.get("indices", [])
            if not isinstance(bands, list) or not isinstance(indices, list):
                raise ValueError("'features.bands' and 'features.indices' must be lists.")
            return cls(
                kind="bands",
                bands=tuple(bands),
                indices=tuple(indices),
                mean=None if scaling is None else tuple(scaling["mean"]),
                std=None if scaling is None else tuple(scaling["std"]),
            )
        if kind == "pixel":
            return cls(
                kind="pixel",
                color_space=data["color_space"],
                position_weight=float(data["position_weight"]),
                texture_weight=float(data["texture_weight"]),
                texture_components=int(data["texture_components"]),
            )
        return cls(kind=cast(FeatureKind, kind), color_space=data.get("color_space"))

    def describe(self) -> str:
        """A short phrase for messages: ``"CIELAB colour"``, ``"bands red, nir + NDVI"``."""
        if self.kind == "bands":
            text = "bands " + ", ".join(self.bands) if self.bands else "indices"
            if self.indices:
                text += " + " + ", ".join(i.upper() for i in self.indices)
            return text
        text = f"{self.color_space} colour"
        if self.kind == "pixel":
            text += " with position/texture"
        return text


@dataclass(frozen=True, eq=False)
class ClassModel:
    """Fitted clusters and the named classes they form: a classifier to keep and reapply.

    Clusters keep the numbers of the result they came from (largest first). Every array
    is read-only. Two models are equal when their JSON is. Build one from a result
    (:attr:`core.Segmentation.model`, :attr:`core.RasterSegmentation.model`), with
    :meth:`from_json` / :meth:`load`, or directly.

    Attributes
    ----------
    features : FeatureSpec
        How pixels become features (colour space, or bands + indices + scaling).
    centers : (k, d) ndarray of float64
        The fitted cluster centres in that feature space.
    cluster_colors : (k, 3) ndarray of uint8
        Mean colour of each cluster's pixels in the fit (a raster's display colours).
    class_of : (k,) ndarray of int64
        Class of each cluster, ``-1`` for a dropped cluster (its pixels do not count).
        Default: a class per cluster.
    class_names : tuple of str
        One name per class; default ``"cluster i"`` (:func:`default_class_name`).
    shares : (k,) ndarray of float64, or None
        Share of the fit's pixels per cluster, when fitted on data.
    wcss : float or None
        The fit's within-cluster sum of squares, when fitted on data.

    Raises
    ------
    ValueError
        If the shapes disagree, a class index is out of range, a class has no cluster, or
        a class name is empty or repeated.

    Examples
    --------
    >>> model = ClassModel(FeatureSpec("color", "rgb"), np.eye(3),
    ...                    np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255]], np.uint8))
    >>> edited = model.with_classes({"warm": [0]}, drop=[2])
    >>> edited.class_names, edited.class_of.tolist()
    (('warm', 'cluster 1'), [0, 1, -1])
    """

    features: FeatureSpec
    centers: np.ndarray
    cluster_colors: np.ndarray
    class_of: np.ndarray = None  # type: ignore[assignment]
    class_names: tuple[str, ...] = ()
    shares: np.ndarray | None = None
    wcss: float | None = None

    def __post_init__(self) -> None:
        centers = np.array(self.centers, dtype=np.float64)
        if centers.ndim != 2 or centers.shape[0] < 1 or centers.shape[1] < 1:
            raise ValueError(f"centers must be a (k, d) array, got shape {centers.shape}.")
        if not np.isfinite(centers).all():
            raise ValueError("centers must be finite.")
        k, d = centers.shape
        if self.features.kind == "bands":
            expected = len(self.features.bands) + len(self.features.indices)
        else:
            expected = 3 if self.features.kind == "color" else d
        if d != expected or (d < 3 and self.features.kind != "bands"):
            raise ValueError(
                f"centers have {d} features, but {self.features.describe()} gives {expected}."
            )
        colors = np.asarray(self.cluster_colors)
        if colors.shape != (k, 3) or not np.issubdtype(colors.dtype, np.integer):
            raise ValueError(
                f"cluster_colors must be a ({k}, 3) integer array, got {colors.shape}."
            )
        if colors.size and (colors.min() < 0 or colors.max() > 255):
            raise ValueError("cluster_colors must be in 0 ... 255.")
        colors = colors.astype(np.uint8)
        if self.class_of is None:
            class_of = np.arange(k, dtype=np.int64)
            names = self.class_names or tuple(default_class_name(i) for i in range(k))
        else:
            class_of = np.array(self.class_of, dtype=np.int64)
            names = tuple(self.class_names)
        if class_of.shape != (k,):
            raise ValueError(
                f"class_of must have one class per cluster ({k}), got {class_of.shape}."
            )
        n = len(names)
        bad = class_of[(class_of < -1) | (class_of >= n)]
        if bad.size:
            raise ValueError(
                f"class_of holds class {int(bad[0])}, but there are {n} classes "
                f"(0 to {n - 1}, or -1 for dropped)."
            )
        _check_names(names)
        empty = sorted(set(range(n)) - set(class_of[class_of >= 0].tolist()))
        if empty:
            raise ValueError(f"Class {names[empty[0]]!r} has no cluster.")
        if n == 0:
            raise ValueError("Every cluster is dropped: keep at least one class.")
        shares = None
        if self.shares is not None:
            shares = np.array(self.shares, dtype=np.float64)
            if shares.shape != (k,) or not np.isfinite(shares).all() or (shares < 0).any():
                raise ValueError(f"shares must be {k} non-negative numbers, got {shares.shape}.")
        wcss = None if self.wcss is None else float(self.wcss)
        for array in (centers, colors, class_of, shares):
            if array is not None:
                array.setflags(write=False)
        object.__setattr__(self, "centers", centers)
        object.__setattr__(self, "cluster_colors", colors)
        object.__setattr__(self, "class_of", class_of)
        object.__setattr__(self, "class_names", names)
        object.__setattr__(self, "shares", shares)
        object.__setattr__(self, "wcss", wcss)

    # --- what it is ---------------------------------------------------------------------

    @property
    def k(self) -> int:
        """Number of fitted clusters."""
        return int(self.centers.shape[0])

    @property
    def n_classes(self) -> int:
        """Number of classes (dropped clusters form none)."""
        return len(self.class_names)

    @property
    def axes(self) -> tuple[str, ...]:
        """Names of the feature axes, e.g. ``("a*", "b*", "L*")`` or band/index names."""
        return self.features.axes(int(self.centers.shape[1]))

    @property
    def color_space(self) -> str | None:
        """The colour space of a colour model (None for a band model)."""
        return self.features.color_space

    @property
    def dropped(self) -> tuple[int, ...]:
        """The clusters whose pixels do not count."""
        return tuple(int(i) for i in np.flatnonzero(self.class_of < 0))

    @property
    def clusters_of(self) -> tuple[tuple[int, ...], ...]:
        """The clusters of each class, in cluster order."""
        return tuple(
            tuple(int(i) for i in np.flatnonzero(self.class_of == c)) for c in range(self.n_classes)
        )

    @property
    def class_colors(self) -> np.ndarray:
        """(n_classes, 3) uint8: each class's pixel-weighted mean colour: its clusters'
        colours weighted by their pixel shares in the fit (equal weights when the model has
        no shares). A class of one cluster has that cluster's colour; a merged class is
        within one level of its pixels' exact mean (the cluster colours are whole levels)."""
        weights = np.ones(self.k) if self.shares is None else self.shares
        colors = np.zeros((self.n_classes, 3), dtype=np.uint8)
        for c, members in enumerate(self.clusters_of):
            index = list(members)
            w = weights[index]
            if w.sum() <= 0:
                w = np.ones(len(index))
            mean = (self.cluster_colors[index].astype(np.float64) * w[:, None]).sum(0) / w.sum()
            colors[c] = np.rint(mean).astype(np.uint8)
        colors.setflags(write=False)
        return colors

    @property
    def hex_colors(self) -> list[str]:
        """:attr:`class_colors` as ``#rrggbb`` strings."""
        return [_hex(c) for c in self.class_colors]

    @property
    def class_shares(self) -> np.ndarray | None:
        """(n_classes,) share of the fit's counted pixels per class (dropped clusters left
        out, so it sums to 1), or None without shares."""
        if self.shares is None:
            return None
        kept = self.class_of >= 0
        sums = np.bincount(self.class_of[kept], weights=self.shares[kept], minlength=self.n_classes)
        total = sums.sum()
        return sums / total if total > 0 else sums

    @property
    def is_identity(self) -> bool:
        """Whether every cluster is a class of its own, with its default name."""
        return bool(
            (self.class_of == np.arange(self.k)).all()
            and self.class_names == tuple(default_class_name(i) for i in range(self.k))
        )

    def class_table(self) -> list[dict[str, Any]]:
        """One row per class: class, name, clusters, color and (when known) share."""
        shares = self.class_shares
        return [
            {
                "class": c,
                "name": name,
                "clusters": list(members),
                "color": color,
                "share": None if shares is None else float(shares[c]),
            }
            for c, (name, members, color) in enumerate(
                zip(self.class_names, self.clusters_of, self.hex_colors, strict=True)
            )
        ]

    def same_fit(self, other: ClassModel) -> bool:
        """Whether `other` has the same features and centres (its classes may differ)."""
        return (
            self.features == other.features
            and self.centers.shape == other.centers.shape
            and bool(np.array_equal(self.centers, other.centers))
        )

    # --- editing --------------------------------------------------------------------------

    def with_classes(
        self, groups: Mapping[str, Iterable[int]], drop: Iterable[int] = ()
    ) -> ClassModel:
        """Merge, name and drop clusters: a new model (no refit).

        Parameters
        ----------
        groups : mapping of str to iterable of int
            Class name -> the clusters (numbered as the fit numbers them) it holds.
        drop : iterable of int
            Clusters whose pixels do not count (label ``-1``, left out of shares and areas).

        Returns
        -------
        ClassModel
            Classes: the groups in the order given, then every cluster neither grouped nor
            dropped as a class of its own (named ``"cluster i"``), in cluster order. The
            classes are always built from the clusters: earlier edits are replaced.

        Raises
        ------
        ValueError
            If a cluster index is out of range or not an integer, a cluster is in two groups
            (or grouped and dropped), a group is empty, a name is empty or repeated, or
            every cluster is dropped.

        Examples
        --------
        >>> spec = FeatureSpec("color", "rgb")
        >>> model = ClassModel(spec, np.eye(4, 3), np.zeros((4, 3), np.uint8))
        >>> model.with_classes({"water": [0, 3]}, drop=[1]).class_names
        ('water', 'cluster 2')
        """
        if not isinstance(groups, Mapping):
            raise ValueError(
                "groups must be a mapping of class name to cluster indices, e.g. "
                "{'water': [0, 3], 'forest': [1]}."
            )
        owner: dict[int, str] = {}
        names: list[str] = []
        class_of = np.full(self.k, -2, dtype=np.int64)
        for name, members in groups.items():
            clean = _clean_name(name)
            if isinstance(members, (str, bytes)) or not isinstance(members, Iterable):
                raise ValueError(
                    f"Class {clean!r} must list its clusters (e.g. [0, 3]), got {members!r}."
                )
            members = list(members)
            if not members:
                raise ValueError(f"Class {clean!r} has no cluster: list at least one.")
            for cluster in members:
                i = self._cluster(cluster, f"class {clean!r}")
                if i in owner:
                    where = "twice" if owner[i] == clean else f"in {owner[i]!r} and {clean!r}"
                    raise ValueError(f"Cluster {i} is {where}: a cluster belongs to one class.")
                owner[i] = clean
                class_of[i] = len(names)
            names.append(clean)
        for cluster in drop:
            i = self._cluster(cluster, "drop")
            if i in owner:
                raise ValueError(f"Cluster {i} is both in {owner[i]!r} and dropped.")
            owner[i] = ""
            class_of[i] = -1
        for i in range(self.k):
            if class_of[i] == -2:
                class_of[i] = len(names)
                names.append(default_class_name(i))
        _check_names(tuple(names))
        if not names:
            raise ValueError("Every cluster is dropped: keep at least one class.")
        return replace(self, class_of=class_of, class_names=tuple(names))

    def rename(self, old: str | int, new: str) -> ClassModel:
        """The same classes, one of them renamed.

        Parameters
        ----------
        old : str or int
            The class's current name, or its index.
        new : str
            Its new name (surrounding spaces removed).

        Returns
        -------
        ClassModel

        Raises
        ------
        ValueError
            If no class has that name or index, or `new` is empty or another class's name.

        Examples
        --------
        >>> spec = FeatureSpec("color", "rgb")
        >>> model = ClassModel(spec, np.eye(2, 3), np.zeros((2, 3), np.uint8))
        >>> model.rename("cluster 1", "sky").class_names
        ('cluster 0', 'sky')
        """
        if is_integer(old):
            index = int(old)
            if not 0 <= index < self.n_classes:
                raise ValueError(
                    f"Class index {index} is out of range: there are {self.n_classes} classes "
                    f"(0 to {self.n_classes - 1})."
                )
        elif isinstance(old, str) and old.strip() in self.class_names:
            index = self.class_names.index(old.strip())
        else:
            raise ValueError(
                f"No class is called {old!r}; the classes are "
                f"{', '.join(map(repr, self.class_names))}."
            )
        names = list(self.class_names)
        names[index] = _clean_name(new)
        _check_names(tuple(names))
        return replace(self, class_names=tuple(names))

    def _cluster(self, value: object, where: str) -> int:
        if not is_integer(value):
            raise ValueError(f"Cluster {value!r} in {where} is not an integer cluster index.")
        i = int(value)  # type: ignore[call-overload]
        if not 0 <= i < self.k:
            raise ValueError(
                f"Cluster {i} in {where} is out of range: the model has {self.k} clusters "
                f"(0 to {self.k - 1})."
            )
        return i

    # --- keeping ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The model as JSON-ready values (what :meth:`to_json` writes)."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "features": self.features.to_dict(),
            "axes": list(self.axes),
            "k": self.k,
            "centers": self.centers.tolist(),
            "cluster_colors": [_hex(c) for c in self.cluster_colors],
            "shares": None if self.shares is None else self.shares.tolist(),
            "wcss": self.wcss,
            "classes": [
                {"name": row["name"], "clusters": row["clusters"], "color": row["color"]}
                for row in self.class_table()
            ],
            "dropped": list(self.dropped),
        }

    def to_json(self) -> str:
        """The model as JSON text, to keep and reapply with :meth:`from_json`.

        Centres and scaling are written with full float precision (Python's shortest
        round-trip form), so a model read back classifies every pixel exactly as this one.
        """
        # One field a line, one centre and one class a line: short enough to read and
        # edit by hand, and the same text for the same model.
        lines = []
        for key, value in self.to_dict().items():
            if key in ("centers", "classes") and value:
                rows = ",\n".join(f"  {json.dumps(row)}" for row in value)
                text = f"[\n{rows}\n ]"
            else:
                text = json.dumps(value)
            lines.append(f" {json.dumps(key)}: {text}")
        return "{\n" + ",\n".join(lines) + "\n}"

    @classmethod
    def from_json(cls, text: str | bytes) -> ClassModel:
        """Read a model written by :meth:`to_json` (or a ``palette.json`` of ``kseg batch``).

        Parameters
        ----------
        text : str or bytes

        Returns
        -------
        ClassModel

        Raises
        ------
        ValueError
            If the text is not JSON, not a kseg model, from a newer version of kseg, or its
            fields are missing or inconsistent (the message says which).
        """
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError, TypeError) as e:
            raise ValueError(
                f"This is not a kseg class model (not valid JSON: {e}). Use a model.json "
                "written by kseg or ClassModel.save."
            ) from e
        if not isinstance(data, dict) or data.get("format") not in (FORMAT, _PALETTE_FORMAT):
            found = data.get("format") if isinstance(data, dict) else None
            raise ValueError(
                f'This JSON is not a kseg class model (its "format" is {found!r}, not '
                f'"{FORMAT}"). Use a model.json written by kseg or ClassModel.save.'
            )
        version = data.get("version")
        if not is_integer(version) or version < 1:  # type: ignore[operator]
            raise ValueError(f"This model's version {version!r} is not a format version.")
        if version > VERSION:  # type: ignore[operator]
            raise ValueError(
                f"This model is format version {version}, newer than this kseg reads "
                f"({VERSION}). Upgrade kseg (pip install -U kseg) to read it."
            )
        try:
            if data["format"] == _PALETTE_FORMAT:
                return _from_palette(data)
            return _from_dict(data)
        except (KeyError, TypeError, IndexError) as e:
            raise ValueError(f"This kseg class model is incomplete or damaged ({e!r}).") from e

    def save(self, path: str | Path) -> Path:
        """Write :meth:`to_json` to `path` (UTF-8); returns the path."""
        out = Path(path)
        out.write_text(self.to_json() + "\n", encoding="utf-8")
        return out

    @classmethod
    def load(cls, path: str | Path) -> ClassModel:
        """Read a model file written by :meth:`save`.

        Raises
        ------
        ImageError
            If the file is missing or unreadable.
        ValueError
            As :meth:`from_json` (the message names the file).
        """
        source = Path(path)
        try:
            text = source.read_bytes()
        except OSError as e:
            raise ImageError(
                f"The model file '{source.name}' could not be read ({e.strerror}). Check the path."
            ) from e
        try:
            return cls.from_json(text)
        except ValueError as e:
            raise ValueError(f"'{source.name}': {e}") from e

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ClassModel) and self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(self.to_json())

    def __repr__(self) -> str:
        return (
            f"ClassModel(k={self.k}, features={self.features.describe()!r}, "
            f"classes={list(self.class_names)!r}, dropped={list(self.dropped)!r})"
        )


def _hex(color: Sequence[int] | np.ndarray) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(int(c) for c in color))


def _from_hex(text: Any) -> list[int]:
    if isinstance(text, list):
        return [int(v) for v in text]
    value = str(text).lstrip("#")
    if len(value) != 6:
        raise ValueError(f"{text!r} is not a #rrggbb colour.")
    return [int(value[i : i + 2], 16) for i in (0, 2, 4)]


def _clean_name(name: object) -> str:
    if not isinstance(name, str):
        raise ValueError(f"A class name must be text, got {name!r}.")
    clean = name.strip()
    if not clean:
        raise ValueError(f"A class name must not be empty, got {name!r}.")
    return clean


def _check_names(names: tuple[str, ...]) -> None:
    seen: set[str] = set()
    for name in names:
        _clean_name(name)
        if name in seen:
            raise ValueError(f"Two classes are called {name!r}: give each class its own name.")
        seen.add(name)


def _from_dict(data: dict[str, Any]) -> ClassModel:
    features = FeatureSpec.from_dict(data["features"])
    centers = np.asarray(data["centers"], dtype=np.float64)
    k = int(data["k"])
    if centers.ndim != 2 or centers.shape[0] != k:
        raise ValueError(f"This model says k={k} but has {len(data['centers'])} centres.")
    colors = np.array([_from_hex(c) for c in data["cluster_colors"]], dtype=np.int64)
    class_of = np.full(k, -2, dtype=np.int64)
    names = []
    for c, row in enumerate(data["classes"]):
        names.append(row["name"])
        for cluster in row["clusters"]:
            if not is_integer(cluster) or not 0 <= cluster < k or class_of[cluster] != -2:
                raise ValueError(
                    f"Class {row['name']!r} lists cluster {cluster!r}, which is out of range "
                    f"(0 to {k - 1}) or in another class."
                )
            class_of[cluster] = c
    for cluster in data.get("dropped", []):
        if not is_integer(cluster) or not 0 <= cluster < k or class_of[cluster] != -2:
            raise ValueError(f"Dropped cluster {cluster!r} is out of range or in a class.")
        class_of[cluster] = -1
    missing = np.flatnonzero(class_of == -2)
    if missing.size:
        raise ValueError(f"Cluster {int(missing[0])} is in no class and not dropped.")
    return ClassModel(
        features=features,
        centers=centers,
        cluster_colors=colors,
        class_of=class_of,
        class_names=tuple(names),
        shares=data.get("shares"),
        wcss=data.get("wcss"),
    )


def _from_palette(data: dict[str, Any]) -> ClassModel:
    """A ``kseg batch`` palette.json (core.collection.Palette) as a colour model."""
    if data.get("band_mapping") is not None:
        raise ValueError(
            "This palette was fitted on GeoTIFF tiles mapped to RGB with a band mapping, "
            "which a class model does not carry yet. Refit it as a class model."
        )
    return ClassModel(
        features=FeatureSpec("color", data["color_space"]),
        centers=np.asarray(data["centers"], dtype=np.float64),
        cluster_colors=np.asarray(data["palette"], dtype=np.int64),
        shares=data.get("fractions"),
        wcss=data.get("inertia"),
    )


# --- a raster's band features -------------------------------------------------------------


def band_features(
    raster: Raster,
    *,
    bands: Sequence[int | str] | None = None,
    indices: Sequence[str] = (),
    valid: np.ndarray | None = None,
    standardize: bool = True,
    spec: FeatureSpec | None = None,
) -> tuple[np.ndarray, np.ndarray, FeatureSpec]:
    """A raster's band (and index) features, scaled by a fit's statistics or its own.

    With `spec` (a band model's features), the bands are found by name and scaled with
    the model's fitted mean and std, never the raster's own statistics: identical band
    values give identical features in every scene. Without it, the features are scaled by
    this raster's valid pixels (``standardize``), as :func:`core.raster.raster_features`
    does, and the spec returned records that scaling.

    Parameters
    ----------
    raster : Raster
    bands, indices
        The bands (positions or names) and indices to use; ignored with `spec`.
    valid : (H, W) ndarray of bool, optional
        Pixels to use; default :attr:`Raster.valid`.
    standardize : bool
        Scale each feature to zero mean and unit variance; ignored with `spec`.
    spec : FeatureSpec, optional
        A band model's features, to compute them again on `raster`.

    Returns
    -------
    features : (n, d) ndarray of float32
        One row per valid pixel, in row-major order.
    valid : (H, W) ndarray of bool
    spec : FeatureSpec
        The bands by name, the indices and the scaling used.

    Raises
    ------
    ValueError
        If a band or index does not exist; with `spec`, one message naming every band
        (and index band) the model needs that `raster` lacks.
    """
    from core.features.bands import raster_features
    from core.inputs.display import band_positions
    from core.inputs.raster import INDICES

    if spec is not None:
        if spec.kind != "bands":
            raise ValueError(f"band_features needs a band model's features, got {spec.kind!r}.")
        _check_bands(raster, spec)
        positions = band_positions(raster, list(spec.bands))
        keys: list[str] = list(spec.indices)
    else:
        positions = band_positions(raster, bands)
        keys = [str(i).lower() for i in indices]
        for key in keys:
            if key not in INDICES:
                raise ValueError(f"Unknown index {key!r}; choose one of {', '.join(INDICES)}.")
    features, valid, _ = raster_features(
        raster, bands=positions, indices=keys, standardize=False, valid=valid
    )
    if spec is None:
        names = tuple(raster.band_names[p] for p in positions)
        mean = std = None
        if standardize:
            stats = [_mean_std(features[:, j]) for j in range(features.shape[1])]
            mean = tuple(m for m, _ in stats)
            std = tuple(s for _, s in stats)
        spec = FeatureSpec("bands", bands=names, indices=tuple(keys), mean=mean, std=std)
    if spec.mean is not None and spec.std is not None:
        for j, (mean_j, std_j) in enumerate(zip(spec.mean, spec.std, strict=True)):
            # The same float32 steps as core.raster.raster_features: a fit through here
            # clusters the very features it did.
            column = features[:, j]
            column -= np.float32(mean_j)
            if std_j > 0:
                column *= np.float32(1.0 / std_j)
    return features, valid, spec


def _check_bands(raster: Raster, spec: FeatureSpec) -> None:
    """One error naming everything a band model needs that `raster` lacks."""
    from core.inputs.display import band_positions
    from core.inputs.raster import INDICES

    missing: list[str] = []
    for band in spec.bands:
        try:
            band_positions(raster, [band])
        except ValueError:
            missing.append(f"band {band!r}")
    for key in spec.indices:
        for role in INDICES.get(key, ()):
            try:
                band_positions(raster, [role])
            except ValueError:
                if f"band {role!r}" not in missing:
                    missing.append(f"band {role!r} (for {key.upper()})")
    if missing:
        raise ValueError(
            f"This model needs {', '.join(missing)}, which the input lacks: its bands are "
            f"{', '.join(map(repr, raster.band_names))}. Apply the model to a scene with the "
            "same bands (names as in the model file's 'features')."
        )


def _mean_std(values: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of a column in float64, in bounded chunks: the same
    sums, in the same order, as :func:`core.raster.raster_features` takes."""
    total = squares = 0.0
    for start in range(0, values.shape[0], 1 << 20):
        chunk = values[start : start + (1 << 20)].astype(np.float64)
        total += float(chunk.sum())
        squares += float(np.square(chunk).sum())
    mean = total / values.shape[0]
    return mean, math.sqrt(max(squares / values.shape[0] - mean * mean, 0.0))


def regrouped(result: Any, model: object, target: str) -> Any:
    """The result in numbered clusters that `model` regroups, checked: what ``relabel``
    starts from (a result already in named classes starts again from its clusters).

    Raises
    ------
    TypeError
        If `model` is not a :class:`ClassModel`.
    ValueError
        If `model` was fitted on another result (other features or centres); `target`
        names the input in the advice (``"image"``, ``"raster"``).
    """
    if not isinstance(model, ClassModel):
        raise TypeError(
            f"relabel needs a core.ClassModel (e.g. result.model.with_classes(...)), "
            f"got {type(model).__name__}."
        )
    base = result.clusters if result.clusters is not None else result
    if not base.model.same_fit(model):
        raise ValueError(
            "This model was not fitted on this result (its features or centres differ): "
            f"relabel only regroups a result's own clusters. To classify this {target} "
            f"with it, use core.apply(model, {target})."
        )
    return base


def class_totals(
    model: ClassModel, cluster_counts: np.ndarray, cluster_centers: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per class of `model`: pixel counts (dropped clusters left out), shares of the kept
    pixels, and centres (its clusters' centres weighted by their counts; equally when none
    has a pixel).

    Examples
    --------
    >>> model = ClassModel(FeatureSpec("color", "rgb"), np.eye(3), np.zeros((3, 3), np.uint8))
    >>> counts, shares, centers = class_totals(
    ...     model.with_classes({"a": [0, 1]}, drop=[2]), np.array([1, 3, 4]), np.eye(3)
    ... )
    >>> counts.tolist(), shares.tolist(), centers.round(2).tolist()
    ([4], [1.0], [[0.25, 0.75, 0.0]])
    """
    n = model.n_classes
    class_of = model.class_of
    kept = class_of >= 0
    counts = np.rint(np.bincount(class_of[kept], weights=cluster_counts[kept], minlength=n))
    counts = counts.astype(np.int64)
    total = int(counts.sum())
    shares = counts / total if total else np.zeros(n)
    centers = np.zeros((n, cluster_centers.shape[1]))
    for c in range(n):
        members = class_of == c
        weights = cluster_counts[members].astype(np.float64)
        if weights.sum() <= 0:
            weights = np.ones(weights.shape[0])
        centers[c] = weights @ cluster_centers[members] / weights.sum()
    return counts, shares, centers
