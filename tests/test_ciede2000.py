"""core.features.ciede2000: CIEDE2000 against Sharma, Wu & Dalal (2005), and close pairs."""

from __future__ import annotations

import numpy as np
import pytest

from core.features.ciede2000 import ciede2000, close_pairs, rgb_to_lab

# Table 1 of Sharma, Wu and Dalal (2005): L1 a1 b1, L2 a2 b2, ΔE00 (4 decimals). The pairs
# cover the hue wrap-around, neutral colours and the discontinuities of the mean hue.
SHARMA = """
50.0000 2.6772 -79.7751 50.0000 0.0000 -82.7485 2.0425
50.0000 3.1571 -77.2803 50.0000 0.0000 -82.7485 2.8615
50.0000 2.8361 -74.0200 50.0000 0.0000 -82.7485 3.4412
50.0000 -1.3802 -84.2814 50.0000 0.0000 -82.7485 1.0000
50.0000 -1.1848 -84.8006 50.0000 0.0000 -82.7485 1.0000
50.0000 -0.9009 -85.5211 50.0000 0.0000 -82.7485 1.0000
50.0000 0.0000 0.0000 50.0000 -1.0000 2.0000 2.3669
50.0000 -1.0000 2.0000 50.0000 0.0000 0.0000 2.3669
50.0000 2.4900 -0.0010 50.0000 -2.4900 0.0009 7.1792
50.0000 2.4900 -0.0010 50.0000 -2.4900 0.0010 7.1792
50.0000 2.4900 -0.0010 50.0000 -2.4900 0.0011 7.2195
50.0000 2.4900 -0.0010 50.0000 -2.4900 0.0012 7.2195
50.0000 -0.0010 2.4900 50.0000 0.0009 -2.4900 4.8045
50.0000 -0.0010 2.4900 50.0000 0.0010 -2.4900 4.8045
50.0000 -0.0010 2.4900 50.0000 0.0011 -2.4900 4.7461
50.0000 2.5000 0.0000 50.0000 0.0000 -2.5000 4.3065
50.0000 2.5000 0.0000 73.0000 25.0000 -18.0000 27.1492
50.0000 2.5000 0.0000 61.0000 -5.0000 29.0000 22.8977
50.0000 2.5000 0.0000 56.0000 -27.0000 -3.0000 31.9030
50.0000 2.5000 0.0000 58.0000 24.0000 15.0000 19.4535
50.0000 2.5000 0.0000 50.0000 3.1736 0.5854 1.0000
50.0000 2.5000 0.0000 50.0000 3.2972 0.0000 1.0000
50.0000 2.5000 0.0000 50.0000 1.8634 0.5757 1.0000
50.0000 2.5000 0.0000 50.0000 3.2592 0.3350 1.0000
60.2574 -34.0099 36.2677 60.4626 -34.1751 39.4387 1.2644
63.0109 -31.0961 -5.8663 62.8187 -29.7946 -4.0864 1.2630
61.2901 3.7196 -5.3901 61.4292 2.2480 -4.9620 1.8731
35.0831 -44.1164 3.7933 35.0232 -40.0716 1.5901 1.8645
22.7233 20.0904 -46.6940 23.0331 14.9730 -42.5619 2.0373
36.4612 47.8580 18.3852 36.2715 50.5065 21.2231 1.4146
90.8027 -2.0831 1.4410 91.1528 -1.6435 0.0447 1.4441
90.9257 -0.5406 -0.9208 88.6381 -0.8985 -0.7239 1.5381
6.7747 -0.2908 -2.4247 5.8714 -0.0985 -2.2286 0.6377
2.0776 0.0795 -1.1350 0.9033 -0.0636 -0.5514 0.9082
"""
TABLE = np.array([line.split() for line in SHARMA.strip().splitlines()], dtype=np.float64)


def test_matches_every_published_pair_to_four_decimals():
    got = ciede2000(TABLE[:, 0:3], TABLE[:, 3:6])
    assert got.shape == (34,)
    np.testing.assert_allclose(got, TABLE[:, 6], atol=5e-5)


def test_is_symmetric_and_zero_for_equal_colours():
    np.testing.assert_allclose(
        ciede2000(TABLE[:, 3:6], TABLE[:, 0:3]), ciede2000(TABLE[:, 0:3], TABLE[:, 3:6])
    )
    assert np.all(ciede2000(TABLE[:, 0:3], TABLE[:, 0:3]) == 0)


def test_rgb_to_lab_puts_lightness_first():
    lab = rgb_to_lab([[255, 255, 255], [0, 0, 0], [255, 0, 0]])
    np.testing.assert_allclose(lab[0], [100, 0, 0], atol=1e-3)
    np.testing.assert_allclose(lab[1], [0, 0, 0], atol=1e-3)
    # sRGB red in CIELAB (D65): L* 53.24, a* 80.09, b* 67.20.
    np.testing.assert_allclose(lab[2], [53.24, 80.09, 67.20], atol=0.02)


@pytest.mark.parametrize("threshold", [1.0, 10.0, 200.0])
def test_close_pairs_are_the_pairs_under_the_threshold_closest_first(threshold):
    colors = np.array([[200, 0, 0], [0, 0, 200], [205, 3, 2], [10, 10, 205], [128, 128, 128]])
    pairs = close_pairs(colors, threshold)
    lab = rgb_to_lab(colors)
    expected = {
        (i, j) for i in range(5) for j in range(i + 1, 5) if ciede2000(lab[i], lab[j]) < threshold
    }
    assert {(i, j) for i, j, _ in pairs} == expected
    deltas = [d for _, _, d in pairs]
    assert deltas == sorted(deltas)
    if threshold == 10.0:
        assert [(i, j) for i, j, _ in pairs] == [(0, 2), (1, 3)]
