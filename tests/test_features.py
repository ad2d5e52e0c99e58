"""core.features: colour, position and texture feature rows, and segment() with them."""

from __future__ import annotations

import numpy as np
import pytest

from core.engine.kmeans import kmeans
from core.features import pixel_features
from core.results.segmentation import segment
from core.validation import DEFAULT_N_INIT


def test_position_features_make_regions_spatially_coherent():
    # Two vertical stripes of the same noisy grey: colour alone cannot split them, position can.
    rng = np.random.default_rng(1)
    image = np.clip(128 + rng.normal(0, 20, (30, 60, 3)), 0, 255).astype(np.uint8)
    seg = segment(image, 2, position_weight=3.0)
    left, right = seg.labels[:, :25], seg.labels[:, 35:]
    assert (left == left[0, 0]).mean() > 0.95 and (right == right[0, 0]).mean() > 0.95
    assert left[0, 0] != right[0, 0]
    assert seg.centers.shape == (2, 5)
    assert seg.params["position_weight"] == 3.0
    np.testing.assert_array_equal(segment(image, **seg.params).labels, seg.labels)


def test_segment_features_and_spatial_weight_still_work_and_warn():
    from core.results.segmentation import segment_features

    image = np.zeros((6, 8, 3), dtype=np.uint8)
    image[:, 4:] = 255
    with pytest.warns(DeprecationWarning, match="segment_features"):
        old = segment_features(image, 2, spatial_weight=1.0)
    new = segment(image, 2, position_weight=1.0)
    np.testing.assert_array_equal(old.labels, new.labels)
    assert old.position_weight == 1.0
    with pytest.warns(DeprecationWarning, match="position_weight"):
        features = pixel_features(image, spatial_weight=1.0)
    np.testing.assert_array_equal(features, pixel_features(image, position_weight=1.0))


def test_zero_weights_match_colour_kmeans(photo):
    assert pixel_features(photo).shape == (photo.shape[0] * photo.shape[1], 3)
    every_pixel = kmeans(pixel_features(photo), 3, n_init=DEFAULT_N_INIT, tol=0)
    fast = segment(photo, 3, tol=0)
    assert every_pixel.wcss == pytest.approx(fast.wcss, rel=1e-6)


def test_texture_separates_stripes_of_the_same_colours():
    # Left: vertical stripes; right: horizontal stripes; same two greys everywhere.
    image = np.zeros((48, 96, 3), dtype=np.uint8)
    image[:, :48][:, (np.arange(48) // 3) % 2 == 0] = 200
    image[:, 48:][(np.arange(48) // 3) % 2 == 0, :] = 200
    features = pixel_features(image, texture_weight=2.0, texture_components=6)
    assert features.shape == (48 * 96, 3 + 6)
    seg = segment(image, 2, texture_weight=4.0, texture_components=6)
    inner_left, inner_right = seg.labels[8:-8, 8:40], seg.labels[8:-8, 56:88]
    majority_left = np.bincount(inner_left.ravel()).argmax()
    majority_right = np.bincount(inner_right.ravel()).argmax()
    assert majority_left != majority_right
    assert (inner_left == majority_left).mean() > 0.9 and (
        inner_right == majority_right
    ).mean() > 0.9


@pytest.mark.parametrize("kwargs", [{"position_weight": -1}, {"texture_weight": "a lot"}])
def test_weights_are_checked(photo, kwargs):
    with pytest.raises(ValueError, match="must be a number >= 0"):
        pixel_features(photo, **kwargs)
