"""Exports: PNG, ZIP, CSV, JSON, GIMP palette and a reproducible recipe, as bytes or text.

Pure functions of a :class:`~core.segmentation.Segmentation` (and the original image where
pixels are needed); nothing here touches the file system, so the dashboard can build a
download on demand and the CLI can write the same bytes to disk.
"""

from __future__ import annotations

import csv
import io
import json
import shlex
import zipfile
from typing import Any

import numpy as np
from PIL import Image

from core.segmentation import Segmentation

__all__ = [
    "cutout",
    "cutouts_zip",
    "mask_png",
    "masks_zip",
    "palette_csv",
    "palette_gpl",
    "palette_json",
    "palette_rows",
    "png_bytes",
    "recipe",
    "recipe_json",
]


def png_bytes(image: np.ndarray) -> bytes:
    """Encode an (H, W), (H, W, 3) RGB or (H, W, 4) RGBA uint8 array as PNG.

    Raises
    ------
    ValueError
        If the array is not uint8 of one of those shapes.
    """
    array = np.asarray(image)
    if array.dtype != np.uint8 or not (
        array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))
    ):
        raise ValueError(
            f"png_bytes needs a uint8 array of shape (H, W), (H, W, 3) or (H, W, 4), "
            f"got {array.dtype} {array.shape}."
        )
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def _file_stem(seg: Segmentation, i: int) -> str:
    return f"{i:02d}_{seg.hex_colors[i].lstrip('#')}"


def mask_png(seg: Segmentation, i: int) -> bytes:
    """Cluster `i` as an 8-bit grayscale PNG: white inside, black outside."""
    return png_bytes(seg.mask(i).astype(np.uint8) * 255)


def masks_zip(seg: Segmentation) -> bytes:
    """A ZIP of every cluster's mask, ``mask_00_<hex>.png``, largest cluster first."""
    return _zip({f"mask_{_file_stem(seg, i)}.png": mask_png(seg, i) for i in range(seg.k)})


def cutout(
    image: np.ndarray, seg: Segmentation, i: int, *, alpha: np.ndarray | None = None
) -> np.ndarray:
    """The pixels of cluster `i` on a transparent background.

    Parameters
    ----------
    image : (H, W, 3) ndarray of uint8
        The image that was segmented.
    seg : Segmentation
    i : int
        Cluster index.
    alpha : (H, W) ndarray of uint8, optional
        The image's own transparency (:attr:`core.io.LoadedImage.alpha`), multiplied in.

    Returns
    -------
    (H, W, 4) ndarray of uint8
        RGBA: the original colours, opaque inside the cluster, transparent elsewhere.
    """
    if image.shape[:2] != seg.shape:
        raise ValueError(
            f"image shape {image.shape[:2]} does not match the segmentation {seg.shape}."
        )
    inside = seg.mask(i).astype(np.uint8) * 255
    if alpha is not None:
        inside = ((inside.astype(np.uint16) * alpha) // 255).astype(np.uint8)
    return np.dstack([image, inside])


def cutouts_zip(image: np.ndarray, seg: Segmentation, *, alpha: np.ndarray | None = None) -> bytes:
    """A ZIP of every cluster's cut-out, ``cutout_00_<hex>.png`` (RGBA PNGs)."""
    return _zip(
        {
            f"cutout_{_file_stem(seg, i)}.png": png_bytes(cutout(image, seg, i, alpha=alpha))
            for i in range(seg.k)
        }
    )


def palette_rows(seg: Segmentation) -> list[dict[str, Any]]:
    """One dict per cluster: ``cluster, hex, r, g, b, pixels, share`` (share in [0, 1])."""
    return [
        {
            "cluster": i,
            "hex": seg.hex_colors[i],
            "r": int(seg.palette[i, 0]),
            "g": int(seg.palette[i, 1]),
            "b": int(seg.palette[i, 2]),
            "pixels": int(seg.counts[i]),
            "share": float(seg.fractions[i]),
        }
        for i in range(seg.k)
    ]


def palette_csv(seg: Segmentation) -> str:
    """The palette as CSV with header ``cluster,hex,r,g,b,pixels,share``."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["cluster", "hex", "r", "g", "b", "pixels", "share"])
    writer.writeheader()
    for row in palette_rows(seg):
        writer.writerow({**row, "share": f"{row['share']:.6f}"})
    return buffer.getvalue()


def palette_json(seg: Segmentation) -> str:
    """The palette as a JSON list of :func:`palette_rows`."""
    return json.dumps(palette_rows(seg), indent=2)


def palette_gpl(seg: Segmentation, *, name: str = "kseg") -> str:
    """The palette as a GIMP/Inkscape/Krita ``.gpl`` file, one named colour per cluster."""
    lines = ["GIMP Palette", f"Name: {name}", "Columns: 4", "#"]
    for row in palette_rows(seg):
        lines.append(
            f"{row['r']:3d} {row['g']:3d} {row['b']:3d}\t"
            f"cluster {row['cluster']} ({row['share']:.1%})"
        )
    return "\n".join(lines) + "\n"


def recipe(seg: Segmentation, *, image_name: str | None = None) -> dict[str, Any]:
    """Everything needed to reproduce `seg`: parameters, image, summary and a CLI command.

    The ``command`` entry is a ``kseg segment`` line that, run on the same image, gives
    the same labels.
    """
    from core import __version__

    params = seg.params
    image = image_name or "IMAGE"
    command = ["kseg", "segment", image, "-k", str(params["k"])]
    flags = {
        "--color-space": params["color_space"],
        "--seed": params["seed"],
        "--init": params["init"],
        "--n-init": params["n_init"],
        "--max-iter": params["max_iter"],
        "--tol": params["tol"],
        "--engine": params["engine"],
        "--fit-pixels": params["fit_pixels"],
    }
    for flag, value in flags.items():
        if value is not None:
            command += [flag, str(value)]
    return {
        "kseg_version": __version__,
        "image": {"name": image_name, "height": seg.shape[0], "width": seg.shape[1]},
        "parameters": params,
        "result": {
            "inertia": seg.inertia,
            "n_iter": seg.n_iter,
            "converged": seg.converged,
            "distinct_colors": seg.n_colors,
            "palette": seg.hex_colors,
            "shares": [round(float(f), 6) for f in seg.fractions],
        },
        "command": shlex.join(command),
    }


def recipe_json(seg: Segmentation, *, image_name: str | None = None) -> str:
    """:func:`recipe` as indented JSON."""
    return json.dumps(recipe(seg, image_name=image_name), indent=2)


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    # PNGs are already compressed: store them, which is faster and no larger.
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()
