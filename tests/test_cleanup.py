"""core.results.cleanup: small regions merge into the cluster around them."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from core.results.cleanup import merge_small_labels, merge_small_regions
from core.results.segmentation import segment


def speckled(seed: int = 0) -> np.ndarray:
    """Left half red, right half blue, with isolated specks of the other colour."""
    rng = np.random.default_rng(seed)
    image = np.zeros((40, 40, 3), dtype=np.uint8)
    image[:, :20] = (220, 30, 30)
    image[:, 20:] = (30, 30, 220)
    specks = rng.random((40, 40)) < 0.03
    image[specks & (np.arange(40) < 20)] = (30, 30, 220)
    image[specks & (np.arange(40) >= 20)] = (220, 30, 30)
    return image


def test_specks_merge_into_the_surrounding_cluster():
    image = speckled()
    seg = segment(image, 2)
    cleaned, moved = merge_small_regions(seg, image, min_pixels=10)
    left = cleaned.labels[:, :17]  # away from the seam, where a speck can touch the other half
    right = cleaned.labels[:, 23:]
    assert len(np.unique(left)) == 1 and len(np.unique(right)) == 1
    assert left[0, 0] != right[0, 0]
    assert moved == int(np.count_nonzero(cleaned.labels != seg.labels)) > 0
    assert cleaned.counts.sum() == 1600 and cleaned.shares.sum() == pytest.approx(1)
    for j in range(2):
        members = image[cleaned.labels == j]
        np.testing.assert_allclose(cleaned.palette[j], members.mean(axis=0), atol=0.5)
    # No region left is smaller than the threshold.
    for j in range(2):
        _, _, stats, _ = cv2.connectedComponentsWithStats(
            (cleaned.labels == j).astype(np.uint8), connectivity=4
        )
        assert stats[1:, cv2.CC_STAT_AREA].min() >= 10


def test_threshold_one_changes_nothing_and_bad_input_is_refused():
    image = speckled()
    seg = segment(image, 2)
    same, moved = merge_small_regions(seg, image, 1)
    assert moved == 0 and same is seg
    with pytest.raises(ValueError, match="min_pixels"):
        merge_small_regions(seg, image, 0)
    with pytest.raises(ValueError, match="does not match"):
        merge_small_regions(seg, image[:5], 5)


def test_segment_min_region_is_the_same_clean_up_and_is_recorded():
    image = speckled()
    plain = segment(image, 2)
    cleaned, _ = merge_small_regions(plain, image, 10)
    direct = segment(image, 2, min_region=10)
    np.testing.assert_array_equal(direct.labels, cleaned.labels)
    assert direct.min_region == cleaned.min_region == 10
    np.testing.assert_array_equal(merge_small_labels(plain.labels, 2, 10), cleaned.labels)
