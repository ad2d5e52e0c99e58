"""`segment`: k-means segmentation of an image, and its result, :class:`Segmentation`.

:func:`segment` checks its parameters (:mod:`core.validation`), turns pixels into features
(:mod:`core.features.colorspaces`, and :mod:`core.features` when position or texture is weighted),
clusters them with an engine (:mod:`core.engine.engines`) and builds the result with
:meth:`Segmentation.from_labels`, the one constructor that :mod:`core.sweep`,
:mod:`core.results.cleanup` and every other producer of a segmentation share.
"""

from __future__ import annotations

import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from core.deprecation import DeprecatedAlias
from core.engine.assign import assign_and_update, nearest_centers
from core.engine.engines import ENGINES, fit_image, fit_points
from core.features.colorspaces import rgb_to_features
from core.features.colortable import ColorTable, cluster_means, recolor
from core.features.pixels import DEFAULT_TEXTURE_COMPONENTS, pixel_features
from core.inputs.arrays import as_rgb_image, resize_to_max_pixels
from core.inputs.masking import MaskSpec, counted_pixels, scatter
from core.results.classmodel import ClassModel, FeatureSpec, class_totals, regrouped
from core.results.cleanup import merge_small_regions
from core.validation import (
    DEFAULT_COLOR_SPACE,
    DEFAULT_N_INIT,
    ColorSpace,
    Engine,
    FitParams,
    Init,
    check_color_space,
    check_engine,
    check_index,
    check_k,
    check_k_fits,
    check_positive_int,
    check_weight,
    warn_fewer_colors,
)

__all__ = [
    "DEFAULT_COLOR_SPACE",
    "DEFAULT_N_INIT",
    "ENGINES",
    "Segmentation",
    "as_rgb_image",
    "segment",
    "segment_features",
]

#: CIELAB by default: on photos it keeps the hues people notice (a red roof, green leaves)
#: that RGB distances merge into browns. The CLI and the dashboard use the same default.


class _Later:
    """Stands for pixels not painted yet (one object, kept by pickling)."""

    def __reduce__(self) -> str:
        return "_LATER"

    def __repr__(self) -> str:
        return "<painted on first use>"


_LATER: Final = _Later()


class _Painted:
    """A field of :class:`Segmentation` (``labels``, ``segmented``) that a result built from
    one label per distinct colour paints on first access, both at once: a 12 MP photo's
    84 MB of pixels, 60 ms of work, until a download or a mask asks for them (the screen's
    preview needs only :meth:`Segmentation.labels_at`)."""

    def __init__(self, name: str) -> None:
        self.slot = f"_{name}"

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        value = obj.__dict__[self.slot]
        if value is _LATER:
            obj._paint()
            value = obj.__dict__[self.slot]
        return value

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__[self.slot] = value


@dataclass(frozen=True, eq=False)
class Segmentation:
    """The result of :func:`segment`: one k-means segmentation of one image.

    Clusters are numbered by size, largest first, so that colours in a UI do not shuffle
    when k or the seed changes. All arrays are read-only. Build one with :func:`segment`
    or, from labels computed elsewhere, :meth:`from_labels`.

    Attributes
    ----------
    labels : (H, W) ndarray of int32
        Cluster of every pixel, in ``[0, k)``; ``-1`` for pixels that do not count
        (see `valid`).
    palette : (k, 3) ndarray of uint8
        Mean RGB colour of each cluster's pixels, whatever the colour space used.
    segmented : (H, W, 3) ndarray of uint8
        The image recoloured with its palette: ``palette[labels]``; white where the pixel
        does not count (exports make those pixels transparent).
    centers : (k, d) ndarray of float64
        Cluster centres in the feature space (the colour space's coordinates, then the
        position and texture features when they were weighted).
    counts : (k,) ndarray of int64
        Pixels per cluster (pixels that count only).
    shares : (k,) ndarray of float64
        Share of the pixels that count per cluster; sums to 1. (``fractions`` is the same,
        by its old name.)
    wcss : float
        Within-cluster sum of squares over the pixels that count, in the feature space.
        (``inertia`` is the same, by its old name.)
    n_iter : int
        Lloyd iterations of the final (exact) run.
    converged : bool
        Whether that run converged before `max_iter`.
    n_colors : int
        Distinct colours in the image.
    k, color_space, engine, fit_pixels, position_weight, texture_weight,
    texture_components, min_region
        The parameters used (see :func:`segment`).
    fit : FitParams
        The fit's seed (the one drawn when None was passed), init, n_init, max_iter and
        tol; each is also an attribute of its own (``result.seed``).
    fit_shape : tuple of int
        ``(H, W)`` of the image the centres were fitted on: the image itself, or its
        downscaled copy when `fit_pixels` applied (``(1, n)`` for the n pixels that count
        when some do not).
    elapsed : float
        Seconds spent in :func:`segment`.
    valid : (H, W) ndarray of bool, or None
        Pixels that count (see ``segment(mask=...)``); None when every pixel counts.
    class_names : tuple of str, or None
        The names of the classes of a result in named classes (:meth:`relabel`,
        :func:`core.apply`): then `labels`, `palette`, `counts`, `shares` and `centers`
        are per class, `k` is the number of classes, and pixels of dropped clusters are
        ``-1`` like pixels that do not count. None for a plain fit (numbered clusters).
    classes : ClassModel or None
        The model whose classes this result shows (see `class_names`).
    clusters : Segmentation or None
        The result in numbered clusters that a result in named classes was made from.

    Notes
    -----
    A cluster is empty (count 0, palette black, centre a copy of another cluster's) only when
    the image has fewer distinct colours than `k`; :func:`segment` warns when that happens.

    A result clustered on its distinct colours paints `labels` and `segmented` when either
    is first read (a 12 MP photo: 60 ms and 84 MB, which a screen preview does not need:
    :meth:`labels_at`); until then it keeps its colour table and one label per colour.
    """

    labels: np.ndarray  # a _Painted field (set on the class below)
    palette: np.ndarray
    segmented: np.ndarray  # a _Painted field
    centers: np.ndarray
    counts: np.ndarray
    shares: np.ndarray
    wcss: float
    n_iter: int
    converged: bool
    n_colors: int
    k: int
    color_space: str
    fit: FitParams
    engine: str = "kseg"
    fit_pixels: int | None = None
    position_weight: float = 0.0
    texture_weight: float = 0.0
    texture_components: int = DEFAULT_TEXTURE_COMPONENTS
    min_region: int | None = None
    fit_shape: tuple[int, int] | None = None
    elapsed: float = field(default=0.0, compare=False)
    valid: np.ndarray | None = None
    class_names: tuple[str, ...] | None = None
    classes: ClassModel | None = None
    clusters: Segmentation | None = None

    @classmethod
    def from_labels(
        cls,
        image: np.ndarray,
        labels: np.ndarray,
        *,
        k: int,
        centers: np.ndarray,
        wcss: float,
        color_space: str,
        fit: FitParams,
        table: ColorTable | None = None,
        n_iter: int = 0,
        converged: bool = True,
        fit_shape: tuple[int, int] | None = None,
        started: float | None = None,
        warn_empty: bool = True,
        stacklevel: int = 2,
        order_by_size: bool = True,
        **options: Any,
    ) -> Segmentation:
        """Build a result from cluster labels: number clusters by size, compute the palette,
        the counts and shares, and the recoloured image.

        Parameters
        ----------
        image : (H, W, 3) ndarray of uint8
            The image that was segmented (prior validation assumed).
        labels : (H, W) or (m,) ndarray of int
            Cluster of every pixel (2-D); or, with `table`, of every distinct colour of
            the table (1-D).
        k : int
            Number of clusters; labels are in ``[0, k)``.
        centers : (k, d) ndarray of float
            Centre of each cluster in the feature space, in the numbering of `labels`.
        wcss : float
            Within-cluster sum of squares of the clustering.
        color_space : str
        fit : FitParams
            The settings of the fit, recorded on the result.
        table : ColorTable, optional
            The image's colour table, if the caller has it (it is counted otherwise).
            Needed when `labels` holds one label per distinct colour: the palette is
            then computed from the table, not from every pixel.
        n_iter, converged
            As reported by the engine.
        fit_shape : tuple of int, optional
            Shape of the image the centres were fitted on; default the image's.
        started : float, optional
            ``time.perf_counter()`` when the work began, for :attr:`elapsed`.
        warn_empty : bool
            Warn when clusters are empty because the image has fewer distinct colours
            than `k` (False when the caller has warned already).
        stacklevel : int
            Of the "fewer distinct colours than k" warning: 2 points at the caller of
            this method.
        order_by_size : bool
            Number the clusters by size, largest first (default); False keeps the
            numbering of `labels` and `centers` (a kept model's, say).
        **options
            Further fields to record: engine, fit_pixels, position_weight, texture_weight,
            texture_components, min_region.

        Returns
        -------
        Segmentation

        Raises
        ------
        ValueError
            If `labels` has neither the image's shape nor, with `table`, one entry per
            distinct colour of the table.

        Warns
        -----
        UserWarning
            When clusters are left empty because the image has fewer distinct colours
            than `k`.

        Examples
        --------
        >>> image = np.zeros((2, 2, 3), dtype=np.uint8); image[1] = 255
        >>> labels = np.array([[1, 1], [0, 0]])
        >>> seg = Segmentation.from_labels(
        ...     image, labels, k=2, centers=np.eye(2, 3), wcss=0.0, color_space="rgb",
        ...     fit=FitParams())
        >>> seg.palette.tolist(), seg.shares.tolist()
        ([[255, 255, 255], [0, 0, 0]], [0.5, 0.5])
        """
        started = time.perf_counter() if started is None else started
        per_color = table is not None and np.ndim(labels) == 1
        if table is None:
            table = ColorTable.from_image(image)
        if per_color:
            expected: tuple[int, ...] = (table.n_colors,)
            colors, weights, flat = table.colors, table.counts, np.asarray(labels)
        else:
            expected = image.shape[:2]
            colors, weights, flat = image.reshape(-1, 3), None, np.ravel(labels)
        if np.shape(labels) != expected:
            raise ValueError(f"labels must have shape {expected}, got {np.shape(labels)}.")
        counts, palette = cluster_means(colors, flat, k, weights)
        order = np.argsort(-counts, kind="stable") if order_by_size else np.arange(k)
        rank = np.empty(k, dtype=np.int32)
        rank[order] = np.arange(k, dtype=np.int32)
        counts, palette = counts[order], palette[order]
        centers = np.asarray(centers, dtype=np.float64)[order]
        pixel_labels: Any = _LATER  # painted on first use, from the table
        segmented: Any = _LATER
        if not per_color:
            pixel_labels = rank[np.asarray(labels)]
            segmented = recolor(pixel_labels, palette)
            pixel_labels.setflags(write=False)
            segmented.setflags(write=False)
        if warn_empty:
            warn_fewer_colors(table.n_colors, k, stacklevel=stacklevel)
        shares = counts / counts.sum()
        for array in (palette, centers, counts, shares):
            array.setflags(write=False)
        result = cls(
            labels=pixel_labels,
            palette=palette,
            segmented=segmented,
            centers=centers,
            counts=counts,
            shares=shares,
            wcss=float(wcss),
            n_iter=int(n_iter),
            converged=bool(converged),
            n_colors=table.n_colors,
            k=k,
            color_space=color_space,
            fit=fit,
            fit_shape=fit_shape or (int(image.shape[0]), int(image.shape[1])),
            elapsed=time.perf_counter() - started,
            **options,
        )
        if per_color:
            color_labels = rank[flat].astype(np.int32)
            color_labels.setflags(write=False)
            if table.image.flags.writeable:
                # The caller may change its array afterwards: paint from a private copy
                # (3 bytes a pixel, where the painted arrays take 7). A read-only image,
                # such as the dashboard's, is kept as it is.
                private = table.image.copy()
                private.setflags(write=False)
                table = replace(table, image=private)
            object.__setattr__(result, "_recipe", (table, color_labels))
        return result

    def _paint(self) -> None:
        """Paint :attr:`labels` and :attr:`segmented` from the colour table (once)."""
        recipe = self.__dict__.get("_recipe")
        if recipe is None:  # another thread has just painted them
            return
        table, color_labels = recipe
        labels, segmented = table.paint(color_labels, self.palette)
        labels.setflags(write=False)
        segmented.setflags(write=False)
        # Both at once, then the recipe goes: a second thread painting too gets the same.
        self.__dict__.update(_labels=labels, _segmented=segmented)
        self.__dict__.pop("_recipe", None)

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)`` of the image."""
        recipe = self.__dict__.get("_recipe")
        if recipe is not None:
            return recipe[0].shape
        return (int(self.labels.shape[0]), int(self.labels.shape[1]))

    def labels_at(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """``labels[np.ix_(rows, cols)]``: the labels of a grid of pixels (a preview's),
        without painting the whole image when it is not painted yet.

        Parameters
        ----------
        rows, cols : (h,) and (w,) ndarray of int
            Row and column indices.

        Returns
        -------
        (h, w) ndarray of int32

        Examples
        --------
        >>> image = np.zeros((2, 4, 3), dtype=np.uint8); image[:, 2:] = 255
        >>> segment(image, 2).labels_at(np.array([1]), np.array([0, 3])).tolist()
        [[0, 1]]
        """
        recipe = self.__dict__.get("_recipe")
        if recipe is None:  # (two takes: 3x faster than indexing with np.ix_)
            return np.take(np.take(self.labels, rows, axis=0), cols, axis=1)
        table, color_labels = recipe
        pixels = np.take(np.take(table.image, rows, axis=0), cols, axis=1)
        labels, _ = ColorTable(pixels, table.ids, table.colors, table.counts).paint(
            color_labels, self.palette
        )
        return labels

    fractions = DeprecatedAlias("shares")
    inertia = DeprecatedAlias("wcss")

    @property
    def seed(self) -> int:
        """Seed of the initialisation (the drawn one when :func:`segment` got None)."""
        return self.fit.seed

    @property
    def init(self) -> str:
        """How the first centres were picked."""
        return self.fit.init

    @property
    def n_init(self) -> int:
        """Restarts run."""
        return self.fit.n_init

    @property
    def max_iter(self) -> int:
        """Cap on Lloyd iterations."""
        return self.fit.max_iter

    @property
    def tol(self) -> float:
        """Relative tolerance of the fit."""
        return self.fit.tol

    def cluster_mask(self, i: int) -> np.ndarray:
        """Boolean (H, W) mask of the pixels in cluster (or class) `i`.

        (Its name before 0.2.0, ``mask(i)``, still works and warns: ``mask=`` elsewhere
        means the pixels that count.)

        Parameters
        ----------
        i : int
            Cluster index, 0 for the largest.

        Returns
        -------
        (H, W) ndarray of bool

        Raises
        ------
        IndexError
            If `i` is not in ``[0, k)``.

        Examples
        --------
        >>> image = np.zeros((1, 2, 3), dtype=np.uint8); image[0, 1] = 255
        >>> segment(image, 2).cluster_mask(0).shape
        (1, 2)
        """
        return self.labels == check_index(i, self.k, "cluster index")

    mask = DeprecatedAlias("cluster_mask")

    @property
    def hex_colors(self) -> list[str]:
        """Palette as ``#rrggbb`` strings."""
        return ["#{:02x}{:02x}{:02x}".format(*map(int, c)) for c in self.palette]

    @property
    def options(self) -> dict[str, Any]:
        """The options recorded besides k, colour space and fit (the ``**options`` of
        :meth:`from_labels`): engine, fit_pixels, the feature weights, min_region."""
        return {
            "engine": self.engine,
            "fit_pixels": self.fit_pixels,
            "position_weight": self.position_weight,
            "texture_weight": self.texture_weight,
            "texture_components": self.texture_components,
            "min_region": self.min_region,
        }

    @property
    def params(self) -> dict[str, Any]:
        """The keyword arguments that reproduce this result with :func:`segment` (of the
        clusters, for a result in named classes)."""
        if self.clusters is not None:
            return self.clusters.params
        return {
            "k": self.k,
            "color_space": self.color_space,
            "seed": self.seed,
            "init": self.init,
            "n_init": self.n_init,
            "max_iter": self.max_iter,
            "tol": self.tol,
            **self.options,
        }

    @property
    def model(self) -> ClassModel:
        """The fitted clusters as a :class:`core.ClassModel`: colour space (and position
        and texture weights), centres, cluster colours, shares and WCSS, every cluster a
        class of its own; for a result in named classes, the model it shows.

        ``core.apply(result.model, image)`` labels `image` exactly as :func:`segment` did
        (before any `min_region` clean-up).

        Examples
        --------
        >>> image = np.zeros((2, 4, 3), dtype=np.uint8); image[:, 2:] = 255
        >>> segment(image, 2).model.class_names
        ('cluster 0', 'cluster 1')
        """
        if self.classes is not None:
            return self.classes
        if self.position_weight > 0 or self.texture_weight > 0:
            spec = FeatureSpec(
                "pixel",
                self.color_space,
                position_weight=self.position_weight,
                texture_weight=self.texture_weight,
                texture_components=self.texture_components,
            )
        else:
            spec = FeatureSpec("color", self.color_space)
        return ClassModel(spec, self.centers, self.palette, shares=self.shares, wcss=self.wcss)

    def relabel(self, model: ClassModel) -> Segmentation:
        """The same pixels in `model`'s classes: no refit.

        Parameters
        ----------
        model : ClassModel
            This result's :attr:`model` edited (:meth:`ClassModel.with_classes`,
            :meth:`ClassModel.rename`), or any model with the same features and centres.

        Returns
        -------
        Segmentation
            ``labels = class_of[cluster]``, ``-1`` where the cluster is dropped (and where
            the pixel did not count); per class: `palette` (the model's
            :attr:`ClassModel.class_colors`), `counts`, `shares` (of the pixels kept; sums
            to 1) and `centers` (the count-weighted mean of its clusters' centres);
            `valid` leaves the dropped pixels out, and `segmented` shows them white, like
            pixels that do not count; `class_names`, `classes` and `clusters` set. WCSS
            and the fit's settings stay the clustering's.

        Raises
        ------
        TypeError
            If `model` is not a ClassModel.
        ValueError
            If `model` was fitted on another result (other features or centres).

        Examples
        --------
        >>> image = np.zeros((2, 4, 3), dtype=np.uint8); image[:, 2:] = 255
        >>> seg = segment(image, 2)
        >>> named = seg.relabel(seg.model.with_classes({"dark": [0]}, drop=[1]))
        >>> named.labels.tolist(), named.class_names, named.shares.tolist()
        ([[0, 0, -1, -1], [0, 0, -1, -1]], ('dark',), [1.0])
        """
        base = regrouped(self, model, "image")
        n = model.n_classes
        class_of = model.class_of
        kept = class_of >= 0
        counts, shares, centers = class_totals(model, base.counts, base.centers)
        palette = np.array(model.class_colors)
        changes: dict[str, Any] = {}
        recipe = base.__dict__.get("_recipe")
        dropped_pixels = int(base.counts[~kept].sum())
        if recipe is not None and dropped_pixels == 0:
            # Unpainted and nothing to leave out: a colour table recipe of its own, painted
            # on first use like the clusters' (a rename or merge on a 12 MP photo: no pixel
            # pass at all).
            color_labels = recipe[1]
            class_labels = class_of[color_labels].astype(np.int32)
            class_labels.setflags(write=False)
            changes.update(labels=_LATER, segmented=_LATER, valid=base.valid)
        else:
            class_labels = None
            # One lookup per pixel: a base label -1 takes the last entry, -1 too.
            lookup = np.append(class_of, -1).astype(np.int32)
            labels = np.take(lookup, base.labels)
            if n < 255:  # as uint8, -1 reads 255: white there, as where nothing counts
                extended = np.zeros((256, 3), dtype=np.uint8)
                extended[:n], extended[255] = palette, 255
                segmented = recolor(labels, extended)
            else:
                extended = np.vstack([palette, np.full((1, 3), 255, dtype=np.uint8)])
                segmented = np.take(extended, np.where(labels < 0, n, labels), axis=0)
            valid = base.valid
            if dropped_pixels:
                valid = labels >= 0
            for array in (labels, segmented) + (() if valid is None else (valid,)):
                array.setflags(write=False)
            changes.update(labels=labels, segmented=segmented, valid=valid)
        for array in (palette, counts, shares, centers):
            array.setflags(write=False)
        result = replace(
            base,
            **changes,
            palette=palette,
            centers=centers,
            counts=counts,
            shares=shares,
            k=n,
            class_names=model.class_names,
            classes=model,
            clusters=base,
        )
        if class_labels is not None and recipe is not None:
            object.__setattr__(result, "_recipe", (recipe[0], class_labels))
        return result


# Installed after the dataclass is made, so that its fields stay plain (no default): its
# __init__ stores both through _Painted.__set__.
for _name in ("labels", "segmented"):
    setattr(Segmentation, _name, _Painted(_name))


def segment(
    image: npt.ArrayLike,
    k: int,
    *,
    color_space: ColorSpace = DEFAULT_COLOR_SPACE,
    seed: int | None = 0,
    init: Init = "k-means++",
    n_init: int = DEFAULT_N_INIT,
    max_iter: int = 300,
    tol: float = 1e-4,
    engine: Engine = "kseg",
    fit_pixels: int | None = None,
    position_weight: float = 0.0,
    texture_weight: float = 0.0,
    texture_components: int = DEFAULT_TEXTURE_COMPONENTS,
    min_region: int | None = None,
    allow_large_k: bool = False,
    mask: MaskSpec = "auto",
) -> Segmentation:
    """Segment an image into `k` colour clusters with k-means.

    Parameters
    ----------
    image : (H, W, 3) array_like of uint8, (H, W, 4) RGBA, or LoadedImage
        RGB image (see :func:`core.inputs.arrays.as_rgb_image` for the other layouts accepted); an
        RGBA array or a :class:`core.LoadedImage` also brings its transparency (see `mask`).
    k : int
        Number of clusters, at least 1, at most the number of pixels and at most 256
        (unless `allow_large_k`).
    color_space : {"rgb", "hsv", "lab", "oklab"}
        Space in which distances are measured (see :mod:`core.features.colorspaces`); CIELAB by
        default. The palette is reported in RGB whatever the space.
    seed : int or None
        Seed for the initialisation, in ``[0, 2**32)``. The same seed gives the same labels.
        None draws a random seed, recorded on the result (so its recipe reproduces it).
    init : {"k-means++", "random"}
        How the first centres are picked.
    n_init : int
        Restarts (at most 100); the one with the lowest WCSS wins. kseg's engine runs them
        on a coarse colour histogram, so they cost little.
    max_iter : int
        Cap on Lloyd iterations (at most 10,000).
    tol : float
        Relative tolerance on centre movement (scikit-learn's convention); 0 runs until no
        pixel changes cluster.
    engine : {"kseg", "sklearn", "opencv"}
        ``"kseg"`` (default, fastest) and ``"sklearn"`` cluster the distinct colours weighted by
        their counts, which is exactly k-means on every pixel; ``"opencv"`` runs
        ``cv2.kmeans`` on every pixel, for comparison (see :mod:`core.engine.engines`).
    fit_pixels : int, optional
        Fit on a sample, label every pixel: when the image has more pixels than this, the
        centres are fitted on a copy downscaled to at most `fit_pixels` (area
        interpolation), then every full-resolution pixel is labelled with its nearest
        centre and the palette, centres, shares and WCSS are computed on the full image.
        The result has the image's full size. Default None: fit on every pixel.
    position_weight, texture_weight : float
        Weights of each pixel's (x, y) position and of its texture, relative to colour
        (see :func:`core.features.pixel_features`); 0 leaves them out. With either above 0,
        k-means runs on every pixel's feature row (kseg's engine, no `fit_pixels`).
    texture_components : int
        Principal components of the texture responses kept (with `texture_weight`).
    min_region : int, optional
        Clean-up: merge every connected region smaller than this many pixels into the
        cluster around it (:func:`core.results.cleanup.merge_small_regions`).
    allow_large_k : bool
        Lift the limit of 256 clusters.
    mask : {"auto", "alpha"}, (H, W) array_like of bool, or None
        Pixels that count. ``"auto"``: fully transparent pixels (alpha 0) and a
        georeferenced raster's no-data do not; everything else does. ``"alpha"``: the same,
        but the image must have transparency. An array: True where the pixel counts.
        None: every pixel. Pixels that do not count get label ``-1`` and are left out of
        the clustering, the shares and the WCSS; the result is exactly that of segmenting
        the pixels that count alone. (Position, texture and `min_region` need every pixel:
        with pixels left out they raise.)

    Returns
    -------
    Segmentation

    Raises
    ------
    TypeError
        If `image` is not a numeric array.
    ValueError
        If the image is empty, of the wrong shape or contains NaN; if `k` is not a positive
        integer, exceeds the number of pixels or the limit; or if a parameter is unknown,
        out of range or over its limit (:data:`core.validation.LIMITS`).
    ImageError
        If no pixel counts (a fully transparent image, or an all-False mask).

    Warns
    -----
    UserWarning
        When the image has fewer distinct colours than `k`: every colour then gets its own
        cluster and the remaining clusters are empty.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.zeros((2, 4, 3), dtype=np.uint8); image[:, 2:] = 255
    >>> result = segment(image, 2)
    >>> result.palette.tolist(), result.shares.tolist()
    ([[0, 0, 0], [255, 255, 255]], [0.5, 0.5])
    """
    started = time.perf_counter()
    # The pixels that count, as a (1, n) strip when some do not; scatter puts them back.
    rgb, valid = counted_pixels(image, mask)
    space = check_color_space(color_space)
    k = check_k(k, allow_large_k=allow_large_k)
    fit = FitParams.checked(
        seed=seed, init=init, n_init=n_init, max_iter=max_iter, tol=tol, color_space=space
    )
    fit = replace(fit, k=k)  # k checked above (allow_large_k may lift its limit)
    engine = check_engine(engine)
    n_pixels = rgb.shape[0] * rgb.shape[1]
    if valid is not None and k > n_pixels:
        raise ValueError(
            f"k={k} is more than the number of pixels that count ({n_pixels}); lower k."
        )
    check_k_fits(k, n_pixels)
    if fit_pixels is not None:
        fit_pixels = check_positive_int(fit_pixels, "fit_pixels")
    position = check_weight(position_weight, "position_weight")
    texture = check_weight(texture_weight, "texture_weight")
    texture_components = check_positive_int(texture_components, "texture_components")
    if min_region is not None:
        min_region = check_positive_int(min_region, "min_region")
    options: dict[str, Any] = {
        "engine": engine,
        "fit_pixels": fit_pixels,
        "position_weight": position,
        "texture_weight": texture,
        "texture_components": texture_components,
    }
    if valid is not None and (position > 0 or texture > 0 or min_region is not None):
        raise ValueError(
            "position_weight, texture_weight and min_region need every pixel, but some are "
            "transparent or masked out. Pass mask=None to cluster every pixel."
        )
    if position > 0 or texture > 0:
        if engine != "kseg" or fit_pixels is not None:
            raise ValueError(
                "position_weight and texture_weight need engine='kseg' and no fit_pixels: "
                "features beyond colour are fitted on every pixel. Shrink the image first "
                "with core.resize_to_max_pixels if it is large."
            )
        result = _segment_features(rgb, k, space, fit, options, started)
    else:
        result = _segment_colors(rgb, k, space, fit, options, started)
    if min_region is not None:
        result, _ = merge_small_regions(result, rgb, min_region)
        # Recorded even if nothing moved; elapsed covers the whole call.
        result = replace(result, min_region=min_region, elapsed=time.perf_counter() - started)
    if valid is not None:
        result = replace(scatter(result, valid), elapsed=time.perf_counter() - started)
    return result


def _segment_colors(
    rgb: np.ndarray,
    k: int,
    space: ColorSpace,
    fit: FitParams,
    options: dict[str, Any],
    started: float,
) -> Segmentation:
    """Colour k-means with any engine (prior validation assumed)."""
    engine, fit_pixels = options["engine"], options["fit_pixels"]
    n_pixels = rgb.shape[0] * rgb.shape[1]
    fit_image = rgb
    if fit_pixels is None or n_pixels <= fit_pixels:
        table = ColorTable.from_image(rgb)
        features = rgb_to_features(table.colors, space)
        run = _fit(rgb, table, k, space, fit, engine, features)
        centers = run.centers
        final = engine == "kseg"  # kseg's engine ends with this very assignment
    else:
        # Two independent jobs side by side: the full image's colours, counted and
        # converted (the compiled count and the conversions release the GIL), and the
        # centres, fitted on a smaller copy.
        def count() -> tuple[ColorTable, np.ndarray]:
            table = ColorTable.from_image(rgb)
            return table, rgb_to_features(table.colors, space)

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kseg-count") as pool:
            counting = pool.submit(count)
            if rgb.shape[0] == 1:  # a strip of pixels that count: every step-th pixel
                fit_image = np.ascontiguousarray(rgb[:, :: -(-n_pixels // fit_pixels)])
            else:
                fit_image = resize_to_max_pixels(rgb, fit_pixels)
            fit_table = ColorTable.from_image(fit_image)
            if fit_table.n_colors < k and fit_table.n_colors < counting.result()[0].n_colors:
                # A working copy too small to hold k colours (e.g. fit_pixels=1) would
                # leave clusters empty that the full image can fill: fit on it instead.
                fit_image, fit_table = rgb, counting.result()[0]
            # (The fit overlaps the counting, unless it fits the full image after all.)
            given = counting.result()[1] if fit_image is rgb else None
            run = _fit(fit_image, fit_table, k, space, fit, engine, given)
            table, features = counting.result()
        centers = run.centers
        final = engine == "kseg" and fit_table is table
        if fit_table is not table:
            # Label every full-resolution colour with its nearest fitted centre, then move
            # each centre to the mean of its members, as one Lloyd update would.
            _, centers, _ = assign_and_update(features, table.counts.astype(np.float64), centers)
    # The last assignment (as scikit-learn makes): every colour to its nearest final
    # centre, by the rule core.apply uses, so the result's model reproduces its labels;
    # the palette, counts, shares and WCSS are those of these labels.
    if final:
        labels, wcss = run.labels, run.wcss
    else:
        labels, distances = nearest_centers(features, centers)
        wcss = float(table.counts.astype(np.float64) @ distances)
    return Segmentation.from_labels(
        rgb,
        labels,
        k=k,
        centers=centers,
        wcss=wcss,
        color_space=space,
        fit=fit,
        table=table,
        n_iter=run.n_iter,
        converged=run.converged,
        fit_shape=(int(fit_image.shape[0]), int(fit_image.shape[1])),
        started=started,
        stacklevel=4,
        **options,
    )


def _fit(
    image: np.ndarray,
    table: ColorTable,
    k: int,
    space: ColorSpace,
    fit: FitParams,
    engine: Engine,
    features: np.ndarray | None = None,
) -> Any:
    """Fit the centres on `image` (whose colour table is `table`; `features`, when given,
    are the coordinates of ``table.colors``); the engine's run. Its labels are the fit's
    own (per distinct colour, or per pixel for an engine that sees pixels): the caller
    assigns every colour to the final centres afterwards."""
    if features is not None and features.shape[0] != table.n_colors:
        features = None
    return fit_image(image, table, k, space, fit, engine, features=features)[0]


def _segment_features(
    rgb: np.ndarray,
    k: int,
    space: ColorSpace,
    fit: FitParams,
    options: dict[str, Any],
    started: float,
) -> Segmentation:
    """k-means on every pixel's colour + position + texture row (prior validation assumed)."""
    features = pixel_features(
        rgb,
        color_space=space,
        position_weight=options["position_weight"],
        texture_weight=options["texture_weight"],
        texture_components=options["texture_components"],
    )
    run = fit_points(features, k, fit)
    # The last assignment: every pixel to its nearest final centre (see _segment_colors).
    labels, distances = nearest_centers(features, run.centers)
    return Segmentation.from_labels(
        rgb,
        labels.reshape(rgb.shape[:2]),
        k=k,
        centers=run.centers,
        wcss=float(distances.sum()),
        color_space=space,
        fit=fit,
        n_iter=run.n_iter,
        converged=run.converged,
        started=started,
        stacklevel=4,
        **options,
    )


def segment_features(
    image: npt.ArrayLike,
    k: int,
    *,
    color_space: ColorSpace = DEFAULT_COLOR_SPACE,
    position_weight: float = 0.0,
    texture_weight: float = 0.0,
    texture_components: int = DEFAULT_TEXTURE_COMPONENTS,
    spatial_weight: float | None = None,
    **kwargs: Any,
) -> Segmentation:
    """Deprecated: :func:`segment` with `position_weight` / `texture_weight` does this.

    Kept for code written against 0.1 (``core.features.segment_features``, removed in 0.2.0);
    `spatial_weight` is the old name of `position_weight`. To be removed in 0.3.0.

    Parameters
    ----------
    image, k, color_space, position_weight, texture_weight, texture_components
        As for :func:`segment`.
    spatial_weight : float, optional
        Old name of `position_weight`.
    **kwargs
        Any other keyword of :func:`segment` (seed, init, n_init, max_iter, tol).

    Returns
    -------
    Segmentation

    Raises
    ------
    ValueError
        As :func:`segment`; also if both `spatial_weight` and `position_weight` are given.

    Warns
    -----
    DeprecationWarning
        Always: call :func:`segment` instead.

    Examples
    --------
    >>> image = np.zeros((4, 4, 3), dtype=np.uint8); image[:, 2:] = 255
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", DeprecationWarning)
    ...     segment_features(image, 2, spatial_weight=1.0).position_weight
    1.0
    """
    warnings.warn(
        "segment_features() is deprecated: call core.segment(image, k, "
        "position_weight=..., texture_weight=...) instead.",
        DeprecationWarning,
        stacklevel=2,
    )
    if spatial_weight is not None:
        if position_weight:
            raise ValueError("give position_weight or its old name spatial_weight, not both.")
        position_weight = spatial_weight
    return segment(
        image,
        k,
        color_space=color_space,
        position_weight=position_weight,
        texture_weight=texture_weight,
        texture_components=texture_components,
        **kwargs,
    )
