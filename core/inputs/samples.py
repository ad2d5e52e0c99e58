"""Samples, so kseg runs with no upload and no network.

Photos that ship with scikit-learn, and a synthetic 4-band satellite scene
(:func:`synthetic_scene`) for rasters: the bundled ``core/data/sample_scene.tif`` is
made from it by ``scripts/make_sample_raster.py``; the raster benchmark makes larger ones.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Final

import numpy as np

if TYPE_CHECKING:
    from core.inputs.raster import Raster

__all__ = [
    "SAMPLES",
    "SAMPLE_RASTER",
    "SCENE_BANDS",
    "SCENE_CLASSES",
    "load_sample",
    "load_sample_raster",
    "sample_bytes",
    "synthetic_scene",
]

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


#: The bundled georeferenced sample: 4 bands (blue, green, red, NIR), uint16, UTM 10 m.
SAMPLE_RASTER: Final = Path(__file__).parents[1] / "data" / "sample_scene.tif"
#: Band names of :func:`synthetic_scene`, in order (Sentinel-2 B2, B3, B4, B8).
SCENE_BANDS: Final = ("blue", "green", "red", "nir")
#: Land covers of :func:`synthetic_scene` and their surface reflectance × 10,000 per band.
SCENE_CLASSES: Final[dict[str, tuple[int, int, int, int]]] = {
    "water": (600, 800, 500, 300),
    "forest": (300, 600, 350, 3500),
    "grassland": (500, 900, 700, 2800),
    "cropland": (700, 1100, 900, 4300),
    "bare soil": (1200, 1500, 1900, 2500),
    "built-up": (1500, 1600, 1700, 2000),
}


def _smooth_field(height: int, width: int, rng: np.random.Generator, cells: int) -> np.ndarray:
    """A smooth random field in [0, 1] (bicubic upsampling of a coarse random grid)."""
    import cv2

    coarse_h = max(2, round(cells * height / max(height, width)))
    coarse_w = max(2, round(cells * width / max(height, width)))
    coarse = rng.random((coarse_h, coarse_w)).astype(np.float32)
    field = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    low, high = float(field.min()), float(field.max())
    return (field - low) / (high - low or 1.0)


def synthetic_scene(
    height: int, width: int, *, seed: int = 0, noise: float = 0.04
) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic 4-band 16-bit satellite scene with six land covers.

    Land cover follows two smooth random fields ("elevation" and "moisture"): water in the
    low ground, forest and grassland on wet and dry slopes, cropland, bare soil and a
    built-up patch; every pixel gets its cover's reflectance (:data:`SCENE_CLASSES`) times
    a smooth brightness variation and per-pixel noise.

    Parameters
    ----------
    height, width : int
        Size in pixels.
    seed : int
        The same seed gives the same scene.
    noise : float
        Relative standard deviation of the per-pixel noise.

    Returns
    -------
    bands : (4, height, width) ndarray of uint16
        Blue, green, red, NIR (:data:`SCENE_BANDS`).
    cover : (height, width) ndarray of uint8
        The true land cover of every pixel (index into :data:`SCENE_CLASSES`).
    """
    rng = np.random.default_rng(seed)
    elevation = _smooth_field(height, width, rng, 6)
    moisture = _smooth_field(height, width, rng, 9)
    patches = _smooth_field(height, width, rng, 14)
    cover = np.full((height, width), 2, dtype=np.uint8)  # grassland
    cover[moisture > 0.55] = 1  # forest
    cover[(patches > 0.6) & (moisture <= 0.55)] = 3  # cropland
    cover[(elevation > 0.8) & (moisture < 0.5)] = 4  # bare soil
    cover[(patches < 0.12) & (elevation > 0.3)] = 5  # built-up
    cover[elevation < 0.18] = 0  # water
    del moisture, patches
    brightness = 0.9 + 0.2 * elevation
    del elevation
    signatures = np.array(list(SCENE_CLASSES.values()), dtype=np.float32)
    bands = np.empty((4, height, width), dtype=np.uint16)
    for b in range(4):
        band = signatures[cover, b] * brightness
        band *= 1.0 + rng.standard_normal((height, width), dtype=np.float32) * np.float32(noise)
        np.clip(band, 1, 65535, out=band)
        bands[b] = np.rint(band)
    return bands, cover


def load_sample_raster() -> Raster:
    """The bundled sample scene (:data:`SAMPLE_RASTER`) as a :class:`core.inputs.raster.Raster`."""
    from core.inputs.raster import open_raster

    return open_raster(SAMPLE_RASTER)
