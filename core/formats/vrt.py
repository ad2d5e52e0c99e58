"""A GDAL VRT mosaic over label GeoTIFFs: ``labels.vrt``, written without GDAL.

rasterio has no VRT builder (``gdalbuildvrt`` is GDAL's command line), so :func:`mosaic_vrt`
writes the XML itself for tiles that share a CRS and a north-up pixel size: each tile is a
``SimpleSource`` placed by its ``DstRect`` (its offset from the mosaic's top-left corner, in
pixels). GDAL (QGIS, rasterio) opens the file and reads the tiles where they lie.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final
from xml.sax.saxutils import escape, quoteattr

import numpy as np

__all__ = ["VrtTile", "mosaic_vrt"]

# Pixel offsets within this fraction of a pixel are taken as whole (float noise in transforms).
_SNAP: Final = 1e-6


@dataclass(frozen=True)
class VrtTile:
    """One label GeoTIFF of the mosaic.

    Attributes
    ----------
    path : str
        The file, relative to the VRT's folder (or absolute).
    crs_wkt : str
        Its CRS as WKT.
    transform : tuple of 6 float
        Its affine transform ``(a, b, c, d, e, f)`` (rasterio / affine order).
    width, height : int
        Its size in pixels.
    """

    path: str
    crs_wkt: str
    transform: tuple[float, float, float, float, float, float]
    width: int
    height: int


def mosaic_vrt(
    tiles: Sequence[VrtTile],
    *,
    palette: np.ndarray | None = None,
    class_names: Sequence[str] | None = None,
    nodata: int = 255,
) -> tuple[str | None, str]:
    """The XML of a VRT mosaic of uint8 label tiles, or None and the reason it cannot be one.

    Parameters
    ----------
    tiles : sequence of VrtTile
        The tiles, in any order; later ones are drawn over earlier ones where they overlap.
    palette : (n, 3) array_like of uint8, optional
        Colour of each class value (a colour table on the mosaic's band).
    class_names : sequence of str, optional
        Category names of the class values.
    nodata : int
        The tiles' no-data value.

    Returns
    -------
    xml : str or None
        The VRT text; None when the tiles cannot form one mosaic.
    note : str
        Why not (tiles in different CRSs, rotated, of different pixel sizes, or none), or
        ``""``.

    Examples
    --------
    >>> tile = VrtTile("a.tif", "EPSG:32633", (10.0, 0.0, 500000.0, 0.0, -10.0, 5e6), 4, 3)
    >>> xml, note = mosaic_vrt([tile])
    >>> 'rasterXSize="4"' in xml, note
    (True, '')
    """
    if not tiles:
        return None, "no tile with a CRS was labelled"
    first = tiles[0]
    a, b, _, d, e, _ = first.transform
    if {t.crs_wkt for t in tiles} != {first.crs_wkt}:
        return None, "the tiles are in different CRSs (a VRT mosaic needs one)"
    for tile in tiles:
        ta, tb, _, td, te, _ = tile.transform
        if tb != 0 or td != 0:
            return None, f"'{tile.path}' is rotated (a VRT mosaic needs north-up tiles)"
        if not (np.isclose(ta, a, rtol=1e-9) and np.isclose(te, e, rtol=1e-9)):
            return None, "the tiles have different pixel sizes (a VRT mosaic needs one)"
    if b != 0 or d != 0 or a <= 0 or e >= 0:
        return None, f"'{first.path}' is not north-up (a VRT mosaic needs north-up tiles)"
    offsets = []
    for tile in tiles:
        col = (tile.transform[2] - first.transform[2]) / a
        row = (tile.transform[5] - first.transform[5]) / e
        if abs(col - round(col)) > _SNAP or abs(row - round(row)) > _SNAP:
            return None, f"'{tile.path}' is not aligned on the other tiles' pixel grid"
        offsets.append((round(col), round(row)))
    left = min(c for c, _ in offsets)
    top = min(r for _, r in offsets)
    width = max(c + t.width for (c, _), t in zip(offsets, tiles, strict=True)) - left
    height = max(r + t.height for (_, r), t in zip(offsets, tiles, strict=True)) - top
    x0 = first.transform[2] + left * a
    y0 = first.transform[5] + top * e
    lines = [
        f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}">',
        f"  <SRS>{escape(first.crs_wkt)}</SRS>",
        f"  <GeoTransform>{x0!r}, {a!r}, 0.0, {y0!r}, 0.0, {e!r}</GeoTransform>",
        '  <VRTRasterBand dataType="Byte" band="1">',
        f"    <NoDataValue>{nodata}</NoDataValue>",
    ]
    if palette is not None:
        colors = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
        lines.append("    <ColorInterp>Palette</ColorInterp>")
        lines.append("    <ColorTable>")
        for value in range(256):
            r, g, b_ = (int(v) for v in colors[value]) if value < len(colors) else (0, 0, 0)
            alpha = 0 if value == nodata or value >= len(colors) else 255
            lines.append(f'      <Entry c1="{r}" c2="{g}" c3="{b_}" c4="{alpha}"/>')
        lines.append("    </ColorTable>")
    if class_names:
        lines.append("    <CategoryNames>")
        lines += [f"      <Category>{escape(str(name))}</Category>" for name in class_names]
        lines.append("    </CategoryNames>")
    for (col, row), tile in zip(offsets, tiles, strict=True):
        relative = "0" if os.path.isabs(tile.path) else "1"
        lines += [
            "    <SimpleSource>",
            f"      <SourceFilename relativeToVRT={quoteattr(relative)}>"
            f"{escape(tile.path)}</SourceFilename>",
            "      <SourceBand>1</SourceBand>",
            f'      <SrcRect xOff="0" yOff="0" xSize="{tile.width}" ySize="{tile.height}"/>',
            f'      <DstRect xOff="{col - left}" yOff="{row - top}" '
            f'xSize="{tile.width}" ySize="{tile.height}"/>',
            "    </SimpleSource>",
        ]
    lines += ["  </VRTRasterBand>", "</VRTDataset>", ""]
    return "\n".join(lines), ""
