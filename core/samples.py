"""Sample photos that ship with scikit-learn, so kseg runs with no upload and no network."""

from __future__ import annotations

import io
from typing import Final

import numpy as np
from PIL import Image

__all__ = ["SAMPLES", "load_sample", "sample_bytes"]

#: Display name -> file name in ``sklearn.datasets.load_sample_image``.
SAMPLES: Final[dict[str, str]] = {
    "China (temple)": "china.jpg",
    "Flower": "flower.jpg",
}


def load_sample(name: str) -> np.ndarray:
    """The sample photo `name` (a key of :data:`SAMPLES`) as (H, W, 3) uint8 RGB.

    Parameters
    ----------
    name : str
        A key of :data:`SAMPLES` (``"China (temple)"``, ``"Flower"``).

    Returns
    -------
    (H, W, 3) ndarray of uint8

    Raises
    ------
    ValueError
        If `name` is not a known sample.

    Examples
    --------
    >>> load_sample("Flower").shape
    (427, 640, 3)
    """
    from sklearn.datasets import load_sample_image

    if name not in SAMPLES:
        raise ValueError(f"Unknown sample {name!r}; choose one of {', '.join(SAMPLES)}.")
    return np.ascontiguousarray(load_sample_image(SAMPLES[name]))


def sample_bytes(name: str) -> bytes:
    """The sample photo `name` encoded as PNG (lossless), to go through the upload path.

    Parameters
    ----------
    name : str
        A key of :data:`SAMPLES`.

    Returns
    -------
    bytes
        PNG bytes.

    Raises
    ------
    ValueError
        If `name` is not a key of :data:`SAMPLES`.

    Examples
    --------
    >>> sample_bytes("Flower")[:4]
    b'\x89PNG'
    """
    buffer = io.BytesIO()
    Image.fromarray(load_sample(name)).save(buffer, format="PNG")
    return buffer.getvalue()
