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


__all__ = ["label_aux_xml", "label_geotiff", "label_qml", "rgb_geotiff"]


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


def geotiff_profile(
    height: int, width: int, count: int, geo: GeoReference | None
) -> dict[str, Any]:
    """The rasterio profile of a uint8, deflate-compressed GeoTIFF in `geo`'s CRS and
    transform (tiled above 512 × 512 pixels); writers add to it."""
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
    profile = geotiff_profile(out.shape[0], out.shape[1], 1, geo)
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
    profile = geotiff_profile(rgb.shape[0], rgb.shape[1], count, geo)
    profile["photometric"] = "RGB"

    def write(dst: Any) -> None:
        dst.write(np.moveaxis(rgb, 2, 0), [1, 2, 3])
        interp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue]
        if valid is not None:
            dst.write(np.where(valid, 255, 0).astype(np.uint8), 4)
            interp.append(ColorInterp.alpha)
        dst.colorinterp = interp

    return _write(profile, write)


# --- class names for GIS: a GDAL .aux.xml (category names and attribute table), a QGIS style --


def _rows(names: Sequence[str], palette: np.ndarray) -> list[tuple[int, str, tuple[int, int, int]]]:
    colors = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
    if len(names) != colors.shape[0]:
        raise ValueError(
            f"names must have one name per class ({colors.shape[0]}), got {len(names)}."
        )
    return [
        (i, str(name), (int(r), int(g), int(b)))
        for i, (name, (r, g, b)) in enumerate(zip(names, colors, strict=True))
    ]


def label_aux_xml(names: Sequence[str], palette: np.ndarray) -> str:
    """The ``labels.tif.aux.xml`` beside a label GeoTIFF: class names GDAL and QGIS read.

    GDAL keeps a band's category names and raster attribute table (RAT) in this sidecar
    (its "PAM" file): ``gdalinfo labels.tif`` lists the names, QGIS shows them in the
    layer's legend and identify tool, ArcGIS reads the table.

    Parameters
    ----------
    names : sequence of str
        One name per class (class ``i`` = pixel value ``i``).
    palette : (n, 3) array_like of uint8
        The class colours (the RAT's Red, Green, Blue columns).

    Returns
    -------
    str
        XML text (UTF-8 when written).

    Examples
    --------
    >>> xml = label_aux_xml(["water", "forest"], np.array([[0, 0, 255], [0, 128, 0]]))
    >>> "<Category>forest</Category>" in xml
    True
    """
    from xml.sax.saxutils import escape

    rows = _rows(names, palette)
    categories = "".join(f"      <Category>{escape(name)}</Category>\n" for _, name, _ in rows)
    # GDAL's field types: 0 integer, 2 string; usages: 5 min-max (the value), 2 name,
    # 6/7/8 red/green/blue.
    fields = [("Value", 0, 5), ("Class", 2, 2), ("Red", 0, 6), ("Green", 0, 7), ("Blue", 0, 8)]
    defns = "".join(
        f'      <FieldDefn index="{i}"><Name>{name}</Name><Type>{kind}</Type>'
        f"<Usage>{usage}</Usage></FieldDefn>\n"
        for i, (name, kind, usage) in enumerate(fields)
    )
    table_rows = "".join(
        f'      <Row index="{i}"><F>{i}</F><F>{escape(name)}</F><F>{r}</F><F>{g}</F>'
        f"<F>{b}</F></Row>\n"
        for i, name, (r, g, b) in rows
    )
    return (
        "<PAMDataset>\n"
        '  <PAMRasterBand band="1">\n'
        "    <CategoryNames>\n"
        f"{categories}"
        "    </CategoryNames>\n"
        '    <GDALRasterAttributeTable tableType="thematic">\n'
        f"{defns}{table_rows}"
        "    </GDALRasterAttributeTable>\n"
        "  </PAMRasterBand>\n"
        "</PAMDataset>\n"
    )


def label_qml(names: Sequence[str], palette: np.ndarray) -> str:
    """A QGIS layer style (``labels.qml``) for a label GeoTIFF: a paletted renderer with
    each class's colour and name. QGIS applies it when it opens ``labels.tif`` from the
    same folder.

    Parameters
    ----------
    names : sequence of str
        One name per class (class ``i`` = pixel value ``i``).
    palette : (n, 3) array_like of uint8

    Returns
    -------
    str
        XML text.

    Examples
    --------
    >>> 'label="water"' in label_qml(["water"], np.array([[0, 0, 255]]))
    True
    """
    from xml.sax.saxutils import quoteattr

    entries = "".join(
        f'        <paletteEntry value="{i}" color="#{r:02x}{g:02x}{b:02x}" alpha="255" '
        f"label={quoteattr(name)}/>\n"
        for i, name, (r, g, b) in _rows(names, palette)
    )
    return (
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
        '<qgis version="3.28" styleCategories="Symbology">\n'
        "  <pipe>\n"
        '    <rasterrenderer type="paletted" band="1" opacity="1" alphaBand="-1" '
        'nodataColor="">\n'
        "      <rasterTransparency/>\n"
        "      <colorPalette>\n"
        f"{entries}"
        "      </colorPalette>\n"
        "    </rasterrenderer>\n"
        "  </pipe>\n"
        "</qgis>\n"
    )
