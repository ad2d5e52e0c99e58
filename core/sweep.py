"""Segment one image for several k in one go, and render the sweep as an animated GIF.

The image's distinct colours are counted once and shared by every k (the expensive pass
over the pixels is not repeated), so a sweep over seven values of k costs little more
than seven refinements.
"""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Callable, Iterable
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

from core.colorspaces import check_color_space, rgb_to_features
from core.colortable import ColorTable
from core.segmentation import (
    DEFAULT_N_INIT,
    Segmentation,
    _check_params,
    _finish,
    as_rgb_image,
    fit_colors,
)

__all__ = ["DEFAULT_KS", "sweep", "sweep_frames", "sweep_gif", "sweep_zip"]

#: The k values of the tutorials' GIF.
DEFAULT_KS = (2, 3, 4, 6, 8, 12, 16)


def sweep(
    image: npt.ArrayLike,
    ks: Iterable[int] = DEFAULT_KS,
    *,
    color_space: Literal["rgb", "hsv", "lab", "oklab"] = "rgb",
    seed: int | None = 0,
    init: Literal["k-means++", "random"] = "k-means++",
    n_init: int = DEFAULT_N_INIT,
    max_iter: int = 300,
    tol: float = 1e-4,
    progress: Callable[[int, int, int], None] | None = None,
) -> list[Segmentation]:
    """Segment `image` once for every k in `ks`, sharing the work between them.

    Parameters
    ----------
    image : (H, W, 3) array_like of uint8
    ks : iterable of int
        Values of k, sorted and de-duplicated. Default :data:`DEFAULT_KS`.
    color_space, seed, init, n_init, max_iter, tol
        As for :func:`core.segment`; each result equals ``segment(image, k, ...)``.
    progress : callable, optional
        ``progress(done, total, k)`` after each k.

    Returns
    -------
    list of Segmentation
        One per k, in ascending k.

    Raises
    ------
    ValueError
        If `ks` is empty, holds a value that is not a positive integer or exceeds the number
        of pixels, or another parameter is invalid.
    """
    rgb = as_rgb_image(image)
    space = check_color_space(color_space)
    values = sorted(set(_positive_ints(ks)))
    for k in values:
        _check_params(k, init, n_init, max_iter, tol, "kseg")
    n_pixels = rgb.shape[0] * rgb.shape[1]
    if values[-1] > n_pixels:
        raise ValueError(f"k={values[-1]} is more than the number of pixels ({n_pixels}).")
    table = ColorTable.from_image(rgb)
    features = rgb_to_features(table.colors, space)
    fit_params = {"init": init, "n_init": int(n_init), "max_iter": int(max_iter), "tol": float(tol)}
    results = []
    for done, k in enumerate(values, start=1):
        started = time.perf_counter()
        fit = fit_colors(features, table, k, seed=seed, **fit_params)
        results.append(
            _finish(
                table,
                rgb,
                k,
                color_labels=fit.labels,
                pixel_labels=None,
                centers=fit.centers,
                inertia=fit.inertia,
                n_iter=fit.n_iter,
                converged=fit.converged,
                params={
                    "k": k,
                    "color_space": space,
                    "seed": seed,
                    "engine": "kseg",
                    "fit_pixels": None,
                    **fit_params,
                },
                fit_shape=table.shape,
                started=started,
            )
        )
        if progress is not None:
            progress(done, len(values), k)
    return results


def _positive_ints(ks: Iterable[int]) -> list[int]:
    try:
        values = list(ks)
    except TypeError:
        raise ValueError(f"ks must be an iterable of positive integers, got {ks!r}.") from None
    if not values:
        raise ValueError("ks is empty; give at least one k, e.g. [2, 4, 8].")
    for k in values:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"every k must be a positive integer, got {k!r}.")
    return [int(k) for k in values]


def _caption_font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # pragma: no cover - Pillow < 10.1 has one fixed-size bitmap font
        return ImageFont.load_default()


def sweep_frames(results: list[Segmentation], *, max_side: int = 480) -> list[np.ndarray]:
    """One captioned RGB frame per result: the segmented image with a "k=N" label.

    Frames are downscaled so that their longer side is at most `max_side` pixels, and all
    have the same size.
    """
    if not results:
        raise ValueError("results is empty: run sweep() first.")
    if max_side < 16:
        raise ValueError(f"max_side must be at least 16 pixels, got {max_side}.")
    height, width = results[0].shape
    scale = min(1.0, max_side / max(height, width))
    frame_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    frames = []
    for result in results:
        # Nearest-neighbour keeps the frame to the k palette colours (crisp, small GIFs).
        small = cv2.resize(result.segmented, frame_size, interpolation=cv2.INTER_NEAREST)
        frame = Image.fromarray(np.ascontiguousarray(small))
        draw = ImageDraw.Draw(frame)
        font_size = max(12, frame.height // 12)
        font = _caption_font(font_size)
        text = f"k={result.k}"
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        pad = max(3, font_size // 4)
        box = (pad, pad, pad + right - left + 2 * pad, pad + bottom - top + 2 * pad)
        draw.rounded_rectangle(box, radius=pad, fill=(0, 0, 0))
        draw.text((2 * pad - left, 2 * pad - top), text, fill=(255, 255, 255), font=font)
        frames.append(np.asarray(frame))
    return frames


def sweep_gif(
    results: list[Segmentation], *, max_side: int = 480, frame_ms: int = 900, loop: int = 0
) -> bytes:
    """An animated GIF with one captioned frame per k (:func:`sweep_frames`).

    Parameters
    ----------
    results : list of Segmentation
    max_side : int
        Longer side of the frames, in pixels.
    frame_ms : int
        How long each frame shows; the last one holds twice as long.
    loop : int
        0 loops forever.
    """
    frames = [Image.fromarray(f) for f in sweep_frames(results, max_side=max_side)]
    # Each frame holds at most k + 2 colours (palette and caption): an adaptive palette of
    # 256 keeps them exact.
    paletted = [
        f.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        for f in frames
    ]
    durations = [frame_ms] * (len(frames) - 1) + [2 * frame_ms]
    buffer = io.BytesIO()
    paletted[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=paletted[1:],
        duration=durations,
        loop=loop,
        optimize=False,
        disposal=1,
    )
    return buffer.getvalue()


def sweep_zip(results: list[Segmentation], *, max_side: int = 1024) -> bytes:
    """The captioned frames as PNGs in a ZIP (``k02.png``, ``k04.png``, …)."""
    from core.export import png_bytes

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for result, frame in zip(results, sweep_frames(results, max_side=max_side), strict=True):
            archive.writestr(f"k{result.k:02d}.png", png_bytes(frame))
    return buffer.getvalue()
