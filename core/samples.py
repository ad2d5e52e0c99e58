"""Sample photos that ship with scikit-learn, so kseg runs with no upload and no network."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Final

import numpy as np

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


def _sample_path(name: str) -> Path:
    """Where scikit-learn keeps the sample's JPEG, found without importing scikit-learn."""
    if name not in SAMPLES:
        raise ValueError(f"Unknown sample {name!r}; choose one of {', '.join(SAMPLES)}.")
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError("The sample photos ship with scikit-learn: pip install scikit-learn.")
    return Path(next(iter(spec.submodule_search_locations)), "datasets", "images", SAMPLES[name])


def sample_bytes(name: str) -> bytes:
    """The sample photo `name` as its JPEG file's bytes, to go through the upload path.

    The file is read as shipped with scikit-learn, without importing scikit-learn (about a
    second) or re-encoding it: decoded with :func:`core.load_image` it gives exactly the
    pixels of :func:`load_sample`.

    Parameters
    ----------
    name : str
        A key of :data:`SAMPLES`.

    Returns
    -------
    bytes
        JPEG bytes.

    Raises
    ------
    ValueError
        If `name` is not a key of :data:`SAMPLES`.

    Examples
    --------
    >>> sample_bytes("Flower")[:2]
    b'\xff\xd8'
    """
    return _sample_path(name).read_bytes()
