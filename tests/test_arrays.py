"""core.inputs.arrays: the array-to-array helpers (validate an image, shrink an image)."""

from __future__ import annotations

import numpy as np
import pytest

from core.inputs.arrays import as_rgb_image, check_segmented_image, resize_to_max_pixels


def test_resize_to_max_pixels():
    image = np.zeros((300, 400, 3), dtype=np.uint8)
    small = resize_to_max_pixels(image, 12_000)
    assert small.shape[0] * small.shape[1] <= 12_000
    assert small.shape[1] / small.shape[0] == pytest.approx(4 / 3, rel=0.02)
    assert resize_to_max_pixels(image, 10**6) is image
    assert resize_to_max_pixels(image[:, :, 0], 100).ndim == 2
    assert resize_to_max_pixels(np.zeros((1, 1000, 3), np.uint8), 10).shape[:2] == (1, 10)
    with pytest.raises(ValueError, match="positive integer"):
        resize_to_max_pixels(image, 0)
    with pytest.raises(ValueError, match="empty"):
        resize_to_max_pixels(np.zeros((0, 5, 3), np.uint8), 10)


def test_as_rgb_image_normalises_without_touching_the_input():
    gray = np.arange(6, dtype=np.uint8).reshape(2, 3)
    rgb = as_rgb_image(gray)
    assert rgb.shape == (2, 3, 3) and (rgb == gray[:, :, None]).all()
    floats = np.full((2, 2, 3), 0.5)
    assert (as_rgb_image(floats) == 128).all() and (floats == 0.5).all()
    with pytest.raises(ValueError, match="NaN"):
        as_rgb_image(np.full((2, 2, 3), np.nan))


def test_check_segmented_image_names_the_mismatch():
    image = np.zeros((4, 5, 3), np.uint8)
    assert check_segmented_image(image, (4, 5)) is image
    with pytest.raises(ValueError, match=r"does not match the segmentation \(4, 6\)"):
        check_segmented_image(image, (4, 6))
    with pytest.raises(ValueError, match="uint8 RGB"):
        check_segmented_image(image.astype(np.float32), (4, 5))
