""":func:`apply`: classify an image or a scene with a kept :class:`core.ClassModel`.

No refit: every pixel's features are made in the model's own feature space (its colour
space; or its bands and indices with the *fitted* scaling, never the new scene's own
statistics), each goes to its nearest fitted centre (:func:`core.results.classmodel.nearest_centers`
for colours, :func:`core.engine.kmeans_nd.label_features` for bands, the rules the fits end with),
then to that centre's class. So ``apply(result.model, image)`` gives ``result.labels``
exactly, and identical pixel values get the same class in every image.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from core.features.colorspaces import rgb_to_features
from core.features.colortable import ColorTable
from core.inputs.masking import MaskSpec, counted_pixels, scatter
from core.results.classmodel import ClassModel, nearest_centers
from core.results.segmentation import Segmentation
from core.validation import FitParams

if TYPE_CHECKING:
    from core.inputs.raster import Raster
    from core.results.raster_segmentation import RasterSegmentation

__all__ = ["apply"]

_TIFF_MAGIC: Final = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
# The bands a photo offers a band model.
_PHOTO_BANDS: Final = ("red", "green", "blue")


def apply(
    model: ClassModel, image: Any, *, mask: MaskSpec = "auto"
) -> Segmentation | RasterSegmentation:
    """Classify `image` with `model`: nearest fitted centre, then its class. No refit.

    Parameters
    ----------
    model : ClassModel
        From :attr:`core.Segmentation.model`, :attr:`core.RasterSegmentation.model`
        (edited or not) or :meth:`ClassModel.load`.
    image : (H, W, 3) or (H, W, 4) array_like of uint8, LoadedImage, Raster, or path / bytes
        A photo array (RGBA brings its transparency), a :class:`core.LoadedImage`, a
        :class:`core.Raster`, or an image file or GeoTIFF. A colour model sees a GeoTIFF
        as :func:`core.open_image` shows it (its display image); a band model reads its
        bands (:func:`core.open_raster`) and sees a photo as three bands named red, green
        and blue.
    mask : {"auto", "alpha"}, (H, W) array_like of bool, or None
        Pixels that count, as for :func:`core.segment` (a raster: ``"auto"`` its valid
        pixels, an array combined with them, None every pixel). Pixels that do not count
        get label ``-1``.

    Returns
    -------
    Segmentation or RasterSegmentation
        In the model's classes (``class_names``, ``palette`` = the model's class colours;
        ``-1`` where the pixel does not count or its cluster is dropped); a
        RasterSegmentation for a band model. ``result.clusters`` holds the per-cluster
        result, numbered as the model numbers its clusters; ``wcss`` is this image's,
        against the model's centres.

    Raises
    ------
    TypeError
        If `model` is not a ClassModel.
    ValueError
        If the input cannot give the model's features (a band or index it needs is
        missing, e.g. a 4-band model applied to a photo; or a position/texture model),
        naming what is missing; or the image or mask is invalid.
    ImageError
        If a file cannot be read, or no pixel counts.

    Examples
    --------
    >>> import core
    >>> image = np.zeros((2, 4, 3), dtype=np.uint8); image[:, 2:] = 255
    >>> model = core.segment(image, 2).model.with_classes({"dark": [0], "light": [1]})
    >>> result = apply(model, image[:, ::-1])
    >>> result.labels.tolist(), result.class_names
    ([[1, 1, 0, 0], [1, 1, 0, 0]], ('dark', 'light'))
    """
    if not isinstance(model, ClassModel):
        raise TypeError(
            f"apply needs a core.ClassModel (result.model, or core.ClassModel.load(path)), "
            f"got {type(model).__name__}."
        )
    started = time.perf_counter()
    kind = model.features.kind
    if kind == "pixel":
        raise ValueError(
            "This model clusters position and texture as well as colour "
            f"(position_weight={model.features.position_weight:g}, texture_weight="
            f"{model.features.texture_weight:g}): those features depend on the image it was "
            "fitted on, so it cannot classify another image. Relabel its own result, or fit "
            "with position_weight=0 and texture_weight=0 to get a model to apply."
        )
    if kind == "color":
        return _apply_colors(model, _as_photo(image), mask, started)
    return _apply_bands(model, _as_raster(image), mask, started)


def _is_source(image: Any) -> bool:
    return isinstance(image, (str, os.PathLike, bytes, bytearray))


def _as_photo(image: Any) -> Any:
    """What a colour model classifies: a photo array or a LoadedImage (alpha kept)."""
    if _is_source(image):
        from core.inputs.io import open_image

        return open_image(bytes(image) if isinstance(image, bytearray) else image)
    if _is_raster(image):
        from core.inputs.display import stretch_rgb
        from core.inputs.io import LoadedImage

        # As core.open_image shows a GeoTIFF: the display stretch, no-data transparent.
        rgb = stretch_rgb(image)
        alpha = None
        if not image.valid.all():
            rgb[~image.valid] = 255
            alpha = np.where(image.valid, 255, 0).astype(np.uint8)
        return LoadedImage(rgb=rgb, alpha=alpha, format="GTiff", mode="raster", name=image.name)
    return image


def _is_raster(image: Any) -> bool:
    return all(hasattr(image, name) for name in ("data", "valid", "geo", "band_names"))


def _as_raster(image: Any) -> Raster:
    """What a band model classifies: a Raster (a photo as three bands red, green, blue)."""
    if _is_raster(image):
        return image
    if _is_source(image):
        source = bytes(image) if isinstance(image, bytearray) else image
        if _head(source).startswith(_TIFF_MAGIC):
            from core.inputs.raster import open_raster

            return open_raster(source)
        from core.inputs.io import open_image

        image = open_image(source)
    if getattr(image, "raster", None) is not None:
        return image.raster
    from affine import Affine

    from core.inputs.masking import resolve_mask
    from core.inputs.raster import GeoReference, Raster

    pixels, valid = resolve_mask(image, "auto")
    from core.inputs.arrays import as_rgb_image

    rgb = as_rgb_image(pixels)
    return Raster(
        data=np.ascontiguousarray(rgb.transpose(2, 0, 1)),
        valid=np.ones(rgb.shape[:2], dtype=bool) if valid is None else valid,
        geo=GeoReference(None, Affine.identity()),
        nodata=None,
        band_names=_PHOTO_BANDS,
        dtype="uint8",
        name=getattr(image, "name", None),
        source_shape=(int(rgb.shape[0]), int(rgb.shape[1])),
    )


def _head(source: str | os.PathLike[str] | bytes) -> bytes:
    if isinstance(source, bytes):
        return source[:4]
    try:
        with open(source, "rb") as file:
            return file.read(4)
    except OSError:
        return b""  # open_image says what is wrong with the path


def _apply_colors(model: ClassModel, image: Any, mask: MaskSpec, started: float) -> Segmentation:
    """A colour model on a photo: through its colour table, as :func:`core.segment` does
    (one label per distinct colour, pixels painted on first use)."""
    rgb, valid = counted_pixels(image, mask)
    table = ColorTable.from_image(rgb)
    features = rgb_to_features(table.colors, str(model.color_space))
    color_labels, distances = nearest_centers(features, model.centers)
    del features
    clusters = Segmentation.from_labels(
        rgb,
        color_labels,
        k=model.k,
        centers=model.centers,
        wcss=float(table.counts.astype(np.float64) @ distances),
        color_space=str(model.color_space),
        fit=FitParams(),
        table=table,
        warn_empty=False,
        order_by_size=False,
        started=started,
    )
    if valid is not None:
        clusters = scatter(clusters, valid)
    return clusters.relabel(model)


def _apply_bands(
    model: ClassModel, raster: Raster, mask: Any, started: float
) -> RasterSegmentation:
    """A band model on a raster: its bands by name, scaled with the model's fit."""
    from core.engine.kmeans_nd import label_features
    from core.errors import ImageError
    from core.results.classmodel import band_features
    from core.results.raster_segmentation import RasterSegmentation

    if isinstance(mask, str):
        if mask != "auto":
            raise ValueError(f"mask must be 'auto', a boolean (H, W) array or None, got {mask!r}.")
        valid = raster.valid
    elif mask is None:
        valid = np.ones(raster.valid.shape, dtype=bool)
    else:
        extra = np.asarray(mask)
        if extra.shape != raster.valid.shape or extra.dtype != bool:
            raise ValueError(
                f"mask must be a boolean array of shape {raster.valid.shape} (True = counts), "
                f"got {extra.dtype} {extra.shape}."
            )
        valid = raster.valid & extra
    if not valid.any():
        raise ImageError(
            "Every pixel of the raster is no-data or masked out: there is nothing to classify."
        )
    features, valid, spec = band_features(raster, valid=valid, spec=model.features)
    fit_labels, wcss = label_features(features, model.centers)
    del features
    labels = np.full(valid.shape, -1, dtype=np.int32)
    labels[valid] = fit_labels
    clusters = RasterSegmentation.from_labels(
        raster,
        labels,
        centers=model.centers,
        wcss=wcss,
        features=spec,
        started=started,
    )
    return clusters.relabel(model)
