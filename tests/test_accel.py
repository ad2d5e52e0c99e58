"""The compiled kernels' switch: warming up in the background falls back to NumPy meanwhile."""

from __future__ import annotations

import numpy as np
import pytest

import core
from core import _accel
from core.segmentation import segment

pytestmark = pytest.mark.skipif(not _accel.AVAILABLE, reason="numba is not installed")


def test_warm_up_in_background_uses_numpy_until_ready(photo):
    thread = core.warm_up()
    assert thread is not None
    assert not _accel.enabled()  # the compiler may be busy: NumPy answers meanwhile
    during = segment(photo, 4)
    thread.join(timeout=600)
    assert not thread.is_alive()
    assert _accel.enabled()
    after = segment(photo, 4)
    np.testing.assert_array_equal(after.palette, during.palette)
    assert after.wcss == pytest.approx(during.wcss, rel=1e-9)
    assert core.warm_up(background=False) is None and _accel.enabled()


def test_distinct_colours_match_numpy():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(5000, 3), dtype=np.uint8)
    pixels[::2] = pixels[1::2]  # duplicates
    ids, counts = _accel.nonzero_bins(_accel.color_histogram(pixels))
    keys = pixels[:, 0].astype(np.int64) | (pixels[:, 1].astype(np.int64) << 8)
    keys |= pixels[:, 2].astype(np.int64) << 16
    expected_ids, expected_counts = np.unique(keys, return_counts=True)
    np.testing.assert_array_equal(ids, expected_ids)
    np.testing.assert_array_equal(counts, expected_counts)
