"""Full-resolution outputs of a scene labelled by blocks: label GeoTIFF, recoloured COG, areas.

:func:`segment_raster_blocks` is the library's entry for scenes of any size: it runs
:func:`core.results.blocks.segment_blocks` and writes, window by window (memory bounded by a
window, never the scene):

* ``<stem>_labels.tif``: uint8 classes (255 = no-data), tiled (the scene's tile size, else
  512), deflate-compressed, with a colour table, class names as band tags and internal
  overviews (``mode`` resampling, so every overview pixel is a class);
* ``<stem>_segmented.tif``: the recoloured scene (RGBA, transparent where no-data) as a
  Cloud-Optimised GeoTIFF (GDAL's ``COG`` driver; a tiled GeoTIFF with overviews where the
  GDAL has no such driver);
* ``<stem>_areas.csv``: pixels, share and ground area of every class.
"""

from __future__ import annotations

import csv
import io
import os
import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt

from core.formats.geotiff import geotiff_profile
from core.inputs.raster import LABEL_NODATA, GeoReference
from core.results.block_tasks import Window4
from core.results.blocks import (
    DEFAULT_WINDOW_PIXELS,
    BlockSegmentation,
    scene_info,
    segment_blocks,
)

if TYPE_CHECKING:
    from distributed import Client

__all__ = [
    "LabelWriter",
    "areas_csv",
    "output_block_size",
    "recoloured_cog",
    "segment_raster_blocks",
]

#: Tile side of the outputs when the scene is not tiled (GDAL's COG default).
DEFAULT_TILE: Final = 512
# Overviews stop once the smaller side is under this many pixels.
_OVERVIEW_MIN: Final = 256


def output_block_size(block_shape: tuple[int, int]) -> int:
    """The outputs' tile side: the scene's square tile (a multiple of 16), else 512.

    Examples
    --------
    >>> output_block_size((256, 256)), output_block_size((1, 10980))
    (256, 512)
    """
    rows, cols = block_shape
    if rows == cols and rows % 16 == 0 and rows >= 16:
        return int(rows)
    return DEFAULT_TILE


def _overview_factors(height: int, width: int) -> list[int]:
    factors = []
    factor = 2
    while min(height, width) // factor >= _OVERVIEW_MIN // 2 and factor <= 1 << 16:
        factors.append(factor)
        factor *= 2
    return factors or [2]


def _gtiff_profile(height: int, width: int, count: int, geo: GeoReference, tile: int) -> dict:
    """:func:`core.formats.geotiff.geotiff_profile`, tiled at `tile`, predictor 2, BigTIFF
    when it may be needed."""
    return {
        **geotiff_profile(height, width, count, geo),
        "tiled": True,
        "blockxsize": tile,
        "blockysize": tile,
        "predictor": 2,
        "BIGTIFF": "IF_SAFER",
    }


class LabelWriter:
    """Writes a label GeoTIFF window by window; colours, names and overviews at the end.

    Parameters
    ----------
    path : path-like
    height, width : int
    geo : GeoReference
    tile : int
        Tile side (a multiple of 16).

    Examples
    --------
    >>> import tempfile
    >>> from affine import Affine
    >>> folder = tempfile.mkdtemp()
    >>> with LabelWriter(f"{folder}/l.tif", 32, 32, GeoReference(None, Affine.identity()),
    ...                  tile=16) as writer:
    ...     writer.write((0, 0, 32, 32), np.zeros((32, 32), np.uint8))
    >>> writer.finish(np.array([[255, 0, 0]], np.uint8), ["water"])
    """

    def __init__(
        self, path: str | os.PathLike[str], height: int, width: int, geo: GeoReference, *, tile: int
    ) -> None:
        import rasterio
        import rasterio.errors

        self.path = Path(path)
        profile = _gtiff_profile(height, width, 1, geo, tile)
        profile["nodata"] = LABEL_NODATA
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            self._dst = rasterio.open(self.path, "w", **profile)

    def __enter__(self) -> LabelWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, window: Window4, labels: np.ndarray) -> None:
        """Write (h, w) uint8 labels at ``(row, col, h, w)``."""
        from rasterio.windows import Window

        row, col, height, width = window
        self._dst.write(labels, 1, window=Window(col, row, width, height))

    def close(self) -> None:
        if not self._dst.closed:
            self._dst.close()

    def finish(
        self,
        palette: npt.ArrayLike,
        class_names: Sequence[str],
        *,
        resampling: str = "mode",
    ) -> None:
        """Close, then add the colour table, class names and overviews.

        Parameters
        ----------
        palette : (k, 3) array_like of uint8
        class_names : sequence of str
            One per class, stored as band tags ``CLASS_0`` …
        resampling : {"mode", "nearest"}
            How overview pixels are chosen (both keep them classes).
        """
        import rasterio
        from rasterio.enums import Resampling

        self.close()
        colours = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
        colormap = {i: (0, 0, 0, 0) for i in range(256)}
        for i, (r, g, b) in enumerate(colours):
            colormap[i] = (int(r), int(g), int(b), 255)
        with rasterio.open(self.path, "r+") as dst:
            dst.write_colormap(1, colormap)
            dst.set_band_description(1, f"kseg classes (k={colours.shape[0]})")
            dst.update_tags(1, **{f"CLASS_{i}": name for i, name in enumerate(class_names)})
            dst.update_tags(K=str(colours.shape[0]), SOFTWARE="kseg")
            dst.build_overviews(_overview_factors(dst.height, dst.width), Resampling[resampling])
            dst.update_tags(ns="rio_overview", resampling=resampling)


def recoloured_cog(
    label_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    palette: npt.ArrayLike,
    *,
    tile: int = DEFAULT_TILE,
) -> Path:
    """The classes in their colours as an RGBA Cloud-Optimised GeoTIFF, block by block.

    Parameters
    ----------
    label_path : path-like
        A label GeoTIFF (uint8, 255 = no-data), e.g. from :class:`LabelWriter`.
    out_path : path-like
    palette : (k, 3) array_like of uint8
    tile : int
        Tile side.

    Returns
    -------
    Path
        `out_path`: a COG (GDAL's ``COG`` driver, deflate, average overviews), or a tiled
        deflate GeoTIFF with internal overviews where the GDAL has no COG driver.
    """
    import rasterio
    import rasterio.shutil
    from rasterio.enums import ColorInterp, Resampling

    out = Path(out_path)
    colours = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
    table = np.zeros((256, 4), dtype=np.uint8)
    table[: colours.shape[0], :3] = colours
    table[: colours.shape[0], 3] = 255
    with rasterio.Env() as env:
        has_cog = "COG" in env.drivers()
    staging = out.with_name(out.stem + ".staging.tif") if has_cog else out
    with rasterio.open(label_path) as src:
        geo = GeoReference(src.crs, src.transform)
        profile = _gtiff_profile(src.height, src.width, 4, geo, tile)
        profile["photometric"] = "RGB"
        profile["alpha"] = "YES"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            with rasterio.open(staging, "w", **profile) as dst:
                for _, window in src.block_windows(1):
                    rgba = table[src.read(1, window=window)]
                    dst.write(np.moveaxis(rgba, 2, 0), window=window)
                dst.colorinterp = [
                    ColorInterp.red,
                    ColorInterp.green,
                    ColorInterp.blue,
                    ColorInterp.alpha,
                ]
                if not has_cog:
                    dst.build_overviews(
                        _overview_factors(src.height, src.width), Resampling.average
                    )
    if has_cog:
        try:
            rasterio.shutil.copy(
                staging,
                out,
                driver="COG",
                COMPRESS="DEFLATE",
                BLOCKSIZE=str(tile),
                OVERVIEW_RESAMPLING="AVERAGE",
                BIGTIFF="IF_SAFER",
            )
        finally:
            staging.unlink(missing_ok=True)
    return out


def areas_csv(result: BlockSegmentation) -> bytes:
    """The class table of `result` as CSV (the columns of ``RasterSegmentation.areas_csv``)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["class", "color", "pixels", "share", "area_m2", "area_ha"])
    for row in result.area_table():
        writer.writerow(
            [
                row["class"],
                row["color"],
                row["pixels"],
                f"{row['share']:.6f}",
                "" if row["area_m2"] is None else f"{row['area_m2']:.2f}",
                "" if row["area_ha"] is None else f"{row['area_ha']:.4f}",
            ]
        )
    return buffer.getvalue().encode("utf-8")


def segment_raster_blocks(
    path: str | os.PathLike[str],
    k: int,
    *,
    out_dir: str | os.PathLike[str],
    stem: str | None = None,
    bands: Sequence[int | str] | None = None,
    indices: Sequence[str] = (),
    rgb: Sequence[int | str] | None = None,
    standardize: bool = True,
    seed: int = 0,
    n_init: int = 10,
    max_iter: int = 300,
    tol: float = 1e-4,
    fit: str = "auto",
    client: Client | str | None = None,
    n_workers: int | None = None,
    window_pixels: int = DEFAULT_WINDOW_PIXELS,
    cog: bool = True,
) -> BlockSegmentation:
    """Segment a raster file of any size at full resolution and write its outputs.

    Parameters
    ----------
    path : str or path-like
        The scene (GeoTIFF / COG) on disk.
    k : int
        Number of classes, 1 … 255.
    out_dir : path-like
        Folder for the outputs (created).
    stem : str, optional
        File name stem; default the scene's.
    bands, indices, rgb, standardize, seed, n_init, max_iter, tol, fit
        See :func:`core.results.blocks.segment_blocks`.
    client, n_workers, window_pixels
        See :func:`core.results.blocks.segment_blocks`.
    cog : bool
        Also write the recoloured scene as a COG.

    Returns
    -------
    BlockSegmentation
        With :attr:`~BlockSegmentation.files`: ``<stem>_labels.tif``, ``<stem>_areas.csv``
        and (with `cog`) ``<stem>_segmented.tif``.

    Raises
    ------
    ImageError
        If the file is missing, truncated or damaged, or has no valid pixel.
    ValueError
        If an argument is out of range.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import core
    >>> scene = Path(core.__file__).parent / "data" / "sample_scene.tif"
    >>> result = segment_raster_blocks(scene, 4, out_dir=tempfile.mkdtemp())
    >>> [p.name for p in result.files]
    ['sample_scene_labels.tif', 'sample_scene_segmented.tif', 'sample_scene_areas.csv']
    """
    source = Path(path)
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    name = stem or source.stem
    label_path = folder / f"{name}_labels.tif"
    writer: LabelWriter | None = None

    def sink(window: Window4, labels: np.ndarray) -> None:
        assert writer is not None
        writer.write(window, labels)

    # The writer opens once the scene has been checked (a damaged file leaves no output).
    (height, width), block, geo = scene_info(source)
    tile = output_block_size(block)
    writer = LabelWriter(label_path, height, width, geo, tile=tile)
    try:
        result = segment_blocks(
            source,
            k,
            sink=sink,
            bands=bands,
            indices=indices,
            rgb=rgb,
            standardize=standardize,
            seed=seed,
            n_init=n_init,
            max_iter=max_iter,
            tol=tol,
            fit=fit,
            client=client,
            n_workers=n_workers,
            window_pixels=window_pixels,
            tile=tile,
        )
    except BaseException:
        writer.close()
        label_path.unlink(missing_ok=True)
        raise
    names = [
        f"class {i} {color} {share:.1%}"
        for i, (color, share) in enumerate(zip(result.hex_colors, result.shares, strict=True))
    ]
    writer.finish(result.palette, names)
    files = [label_path]
    if cog:
        files.append(recoloured_cog(label_path, folder / f"{name}_segmented.tif", result.palette))
    csv_path = folder / f"{name}_areas.csv"
    csv_path.write_bytes(areas_csv(result))
    files.append(csv_path)
    return replace(result, files=tuple(files))
