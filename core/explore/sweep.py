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
from dataclasses import replace

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

from core.engine.engines import fit_colors
from core.features.colorspaces import rgb_to_features
from core.features.colortable import ColorTable
from core.inputs.masking import MaskSpec, counted_pixels, scatter
from core.results.segmentation import DEFAULT_COLOR_SPACE, Segmentation
from core.validation import (
    DEFAULT_N_INIT,
    ColorSpace,
    FitParams,
    Init,
    check_color_space,
    check_k_fits,
    check_ks,
)

__all__ = ["DEFAULT_KS", "sweep", "sweep_frames", "sweep_gif", "sweep_zip"]

#: The k values of the tutorials' GIF.
DEFAULT_KS = (2, 3, 4, 6, 8, 12, 16)


def sweep(
    image: npt.ArrayLike,
    ks: Iterable[int] = DEFAULT_KS,
    *,
    color_space: ColorSpace = DEFAULT_COLOR_SPACE,
    seed: int | None = 0,
    init: Init = "k-means++",
    n_init: int = DEFAULT_N_INIT,
    max_iter: int = 300,
    tol: float = 1e-4,
    progress: Callable[[int, int, int], None] | None = None,
    allow_large_k: bool = False,
    mask: MaskSpec = "auto",
) -> list[Segmentation]:
    """Segment `image` once for every k in `ks`, sharing the work between them.

    Parameters
    ----------
    image : (H, W, 3) array_like of uint8, (H, W, 4) RGBA, or LoadedImage
        As for :func:`core.segment`.
    ks : iterable of int
        Values of k, sorted and de-duplicated. Default :data:`DEFAULT_KS`.
    color_space, seed, init, n_init, max_iter, tol, mask
        As for :func:`core.segment`; each result equals ``segment(image, k, ...)``
        (pixels that do not count get label ``-1`` and are white in ``segmented``).
    progress : callable, optional
        ``progress(done, total, k)`` after each k.
    allow_large_k : bool
        Lift the limit of 64 on the largest k (:data:`core.validation.LIMITS`).

    Returns
    -------
    list of Segmentation
        One per k, in ascending k.

    Raises
    ------
    ValueError
        If `ks` is empty, holds a value that is not a positive integer or exceeds the number
        of pixels (that count) or the limit of 64, or another parameter is invalid.
    ImageError
        If no pixel counts (a fully transparent image, or an all-False mask).

    Examples
    --------
    >>> image = np.zeros((4, 6, 3), dtype=np.uint8); image[:, 3:] = 255
    >>> results = sweep(image, [1, 2])
    >>> [(result.k, result.wcss) for result in results][1]
    (2, 0.0)
    """
    rgb, valid = counted_pixels(image, mask)
    space = check_color_space(color_space)
    values = check_ks(ks, allow_large_k=allow_large_k)
    fit = FitParams.checked(seed=seed, init=init, n_init=n_init, max_iter=max_iter, tol=tol)
    check_k_fits(values[-1], rgb.shape[0] * rgb.shape[1])
    table = ColorTable.from_image(rgb)
    features = rgb_to_features(table.colors, space)
    results = []
    for done, k in enumerate(values, start=1):
        started = time.perf_counter()
        run = fit_colors(features, table, k, fit)
        result = Segmentation.from_labels(
            rgb,
            run.labels,
            k=k,
            centers=run.centers,
            wcss=run.wcss,
            color_space=space,
            fit=fit,
            table=table,
            n_iter=run.n_iter,
            converged=run.converged,
            started=started,
            stacklevel=3,
        )
        if valid is not None:
            result = replace(scatter(result, valid), elapsed=time.perf_counter() - started)
        results.append(result)
        if progress is not None:
            progress(done, len(values), k)
    return results


def _caption_font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # pragma: no cover - Pillow < 10.1 has one fixed-size bitmap font
        return ImageFont.load_default()


def sweep_frames(results: list[Segmentation], *, max_side: int = 480) -> list[np.ndarray]:
    """One captioned RGB frame per result: the segmented image with a "k=N" label.

    Frames are downscaled so that their longer side is at most `max_side` pixels, and all
    have the same size.

    Parameters
    ----------
    results : list of Segmentation
        From :func:`sweep`, all of one image.
    max_side : int
        Longer side of the frames, in pixels (at least 16).

    Returns
    -------
    list of (h, w, 3) ndarray of uint8

    Raises
    ------
    ValueError
        If `results` is empty or `max_side` is below 16.

    Examples
    --------
    >>> image = np.zeros((4, 6, 3), dtype=np.uint8); image[:, 3:] = 255
    >>> results = sweep(image, [1, 2])
    >>> [frame.shape for frame in sweep_frames(results, max_side=60)]  # never enlarged
    [(4, 6, 3), (4, 6, 3)]
    """
    if not results:
        raise ValueError("results is empty: run sweep() first.")
    if max_side < 16:
        raise ValueError(f"max_side must be at least 16 pixels, got {max_side}.")
    height, width = results[0].shape
    scale = min(1.0, max_side / max(height, width))
    frame_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    import cv2  # here, not at the top: ``import core`` stays light

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

    Returns
    -------
    bytes
        A looping GIF.

    Raises
    ------
    ValueError
        As :func:`sweep_frames`.

    Examples
    --------
    >>> image = np.zeros((4, 6, 3), dtype=np.uint8); image[:, 3:] = 255
    >>> results = sweep(image, [1, 2])
    >>> sweep_gif(results, max_side=60)[:6]
    b'GIF89a'
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
    """The captioned frames as PNGs in a ZIP (``k02.png``, ``k04.png``, …).

    Parameters
    ----------
    results : list of Segmentation
    max_side : int
        Longer side of the frames, in pixels.

    Returns
    -------
    bytes
        A ZIP of ``k<NN>.png`` files, one per result.

    Raises
    ------
    ValueError
        If `results` is empty or `max_side` is below 16 (:func:`sweep_frames`).

    Examples
    --------
    >>> import io, zipfile
    >>> image = np.zeros((4, 6, 3), dtype=np.uint8); image[:, 3:] = 255
    >>> results = sweep(image, [1, 2])
    >>> zipfile.ZipFile(io.BytesIO(sweep_zip(results, max_side=60))).namelist()
    ['k01.png', 'k02.png']
    """
    from core.outputs.export import png_bytes

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for result, frame in zip(results, sweep_frames(results, max_side=max_side), strict=True):
            archive.writestr(f"k{result.k:02d}.png", png_bytes(frame))
    return buffer.getvalue()
