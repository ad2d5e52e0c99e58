"""Shared fixtures: small images made in memory (nothing is downloaded)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import small_photo


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    """Flower photo at 106 x 160 (a real, camera-like colour distribution)."""
    return small_photo("flower.jpg", 4)


@pytest.fixture(scope="session")
def china() -> np.ndarray:
    """China temple photo at 106 x 160."""
    return small_photo("china.jpg", 4)


@pytest.fixture(scope="session")
def photo_colors(photo) -> tuple[np.ndarray, np.ndarray]:
    """Distinct colours of `photo` (RGB / 255) and their pixel counts."""
    colors, counts = np.unique(photo.reshape(-1, 3), axis=0, return_counts=True)
    return colors / 255.0, counts.astype(np.float64)


@pytest.fixture
def blocks() -> np.ndarray:
    """Four flat colour blocks of different sizes: a known answer for k = 4."""
    image = np.zeros((20, 30, 3), dtype=np.uint8)
    image[:, :15] = (200, 30, 30)  # 300 px
    image[:10, 15:] = (30, 200, 30)  # 150 px
    image[10:, 15:25] = (30, 30, 200)  # 100 px
    image[10:, 25:] = (240, 240, 240)  # 50 px
    return image


@pytest.fixture
def kernels_loaded() -> None:
    """Load the compiled kernels, so that even small jobs take the compiled path.

    Without it a small job in a process that has not loaded them takes the NumPy path
    (see ``core._accel.enabled``), and a test comparing the two paths would compare NumPy
    with itself.
    """
    from core import _accel

    if not _accel.AVAILABLE:  # pragma: no cover - numba missing
        pytest.skip("numba is not installed")
    _accel.compile_kernels()
    assert _accel.enabled(work=1)
