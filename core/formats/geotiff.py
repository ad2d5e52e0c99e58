"""GeoTIFF outputs: the label GeoTIFF (colour table, class names) and the RGBA GeoTIFF."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import rasterio
import rasterio.errors
import rasterio.features
from rasterio.enums import ColorInterp
from rasterio.io import MemoryFile

from core.inputs.raster import LABEL_NODATA, GeoReference

# --- writing -------------------------------------------------------------------------------


__all__ = ["label_geotiff", "rgb_geotiff"]


def _to_uint8_labels(labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must be a 2-D (H, W) array, got shape {labels.shape}.")
    if labels.size and int(labels.max()) >= LABEL_NODATA:
        raise ValueError(f"A label GeoTIFF holds at most {LABEL_NODATA} classes (0 … 254).")
    out = labels.astype(np.uint8)
    out[labels < 0] = LABEL_NODATA
    return out


def _write(profile: dict[str, Any], write: Any) -> bytes:
    with MemoryFile() as memfile, warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with memfile.open(**profile) as dst:
            write(dst)
        return bytes(memfile.read())


def _profile(height: int, width: int, count: int, geo: GeoReference | None) -> dict[str, Any]:
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "height": height,
        "width": width,
        "count": count,
        "dtype": "uint8",
        "compress": "deflate",
        "tiled": height * width > 512 * 512,
    }
    if geo is not None:
        profile["transform"] = geo.transform
        if geo.crs is not None:
            profile["crs"] = geo.crs
    return profile


def label_geotiff(
    labels: np.ndarray,
    palette: np.ndarray,
    geo: GeoReference | None,
    *,
    class_names: Sequence[str] | None = None,
) -> bytes:
    """A single-band uint8 GeoTIFF of the classes, ready to lay over the scene in QGIS.

    Parameters
    ----------
    labels : (H, W) ndarray of int
        Class per pixel in ``0 … 254``; ``-1`` (pixels that do not count) becomes no-data.
    palette : (k, 3) ndarray of uint8
        Colour of each class, written as the band's colour table (no-data transparent).
    geo : GeoReference or None
        CRS and transform to write (the scene's); None writes a plain TIFF.
    class_names : sequence of str, optional
        One description per class, stored as band tags ``CLASS_0`` … (GDAL metadata);
        default ``"cluster i #rrggbb"``.

    Returns
    -------
    bytes
        The GeoTIFF file (deflate-compressed, no-data :data:`LABEL_NODATA`).
    """
    out = _to_uint8_labels(labels)
    palette = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
    k = palette.shape[0]
    if class_names is None:
        class_names = [f"cluster {i} #{r:02x}{g:02x}{b:02x}" for i, (r, g, b) in enumerate(palette)]
    if len(class_names) != k:
        raise ValueError(f"class_names must have one name per class ({k}), got {len(class_names)}.")
    profile = _profile(out.shape[0], out.shape[1], 1, geo)
    profile["nodata"] = LABEL_NODATA
    colormap = {i: (0, 0, 0, 0) for i in range(256)}
    for i, (r, g, b) in enumerate(palette):
        colormap[i] = (int(r), int(g), int(b), 255)

    def write(dst: Any) -> None:
        dst.write(out, 1)
        dst.write_colormap(1, colormap)
        dst.set_band_description(1, f"kseg classes (k={k})")
        dst.update_tags(1, **{f"CLASS_{i}": name for i, name in enumerate(class_names)})
        dst.update_tags(K=str(k), SOFTWARE="kseg")

    return _write(profile, write)


def rgb_geotiff(rgb: np.ndarray, valid: np.ndarray | None, geo: GeoReference | None) -> bytes:
    """The segmented image as an RGB(A) GeoTIFF in the scene's georeference.

    Parameters
    ----------
    rgb : (H, W, 3) ndarray of uint8
    valid : (H, W) ndarray of bool, or None
        Pixels that count; with it, a fourth alpha band makes the others transparent.
    geo : GeoReference or None

    Returns
    -------
    bytes
    """
    rgb = np.asarray(rgb, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb must be (H, W, 3), got {rgb.shape}.")
    count = 3 if valid is None else 4
    profile = _profile(rgb.shape[0], rgb.shape[1], count, geo)
    profile["photometric"] = "RGB"

    def write(dst: Any) -> None:
        dst.write(np.moveaxis(rgb, 2, 0), [1, 2, 3])
        interp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue]
        if valid is not None:
            dst.write(np.where(valid, 255, 0).astype(np.uint8), 4)
            interp.append(ColorInterp.alpha)
        dst.colorinterp = interp

    return _write(profile, write)
