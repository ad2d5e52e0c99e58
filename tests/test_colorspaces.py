"""Colour conversions against published reference values, and the circular hue."""

from __future__ import annotations

import numpy as np
import pytest

from core.features.colorspaces import AXIS_TITLES, COLOR_SPACES, check_color_space, rgb_to_features

# sRGB -> CIELAB (D65) reference values, e.g. from Bruce Lindbloom's calculator.
LAB_REFERENCE = [
    ((255, 255, 255), (100.0, 0.0, 0.0)),
    ((0, 0, 0), (0.0, 0.0, 0.0)),
    ((255, 0, 0), (53.2408, 80.0925, 67.2032)),
    ((0, 255, 0), (87.7347, -86.1827, 83.1793)),
    ((0, 0, 255), (32.2970, 79.1875, -107.8602)),
    ((128, 128, 128), (53.5850, 0.0, 0.0)),
]
# sRGB -> OKLab, from Björn Ottosson's reference implementation.
OKLAB_REFERENCE = [
    ((255, 255, 255), (1.0, 0.0, 0.0)),
    ((255, 0, 0), (0.627955, 0.224863, 0.125846)),
    ((0, 255, 0), (0.866440, -0.233888, 0.179498)),
    ((0, 0, 255), (0.452014, -0.032457, -0.311528)),
]


@pytest.mark.parametrize(("rgb", "lab"), LAB_REFERENCE)
def test_lab_matches_reference(rgb, lab):
    a, b, lightness = rgb_to_features([rgb], "lab")[0]
    np.testing.assert_allclose([lightness, a, b], lab, atol=0.02)


@pytest.mark.parametrize(("rgb", "lab"), OKLAB_REFERENCE)
def test_oklab_matches_reference(rgb, lab):
    a, b, lightness = rgb_to_features([rgb], "oklab")[0]
    np.testing.assert_allclose([lightness, a, b], lab, atol=2e-4)


def test_hsv_cone_makes_hue_circular():
    # Fully saturated colours at hue 350, 10 and 30 degrees.
    hue350, hue10, hue30 = rgb_to_features([[255, 0, 43], [255, 43, 0], [255, 128, 0]], "hsv")
    # 350 -> 10 is 20 degrees apart, as is 10 -> 30: equal distances on the cone.
    assert np.linalg.norm(hue350 - hue10) == pytest.approx(np.linalg.norm(hue10 - hue30), rel=0.02)
    # Greys sit on the axis whatever their nominal hue: only V separates them.
    grey, white = rgb_to_features([[128, 128, 128], [255, 255, 255]], "hsv")
    np.testing.assert_allclose(grey[:2], 0.0)
    assert white[2] == pytest.approx(1.0)


def test_rgb_is_scaled_to_unit_cube():
    np.testing.assert_allclose(rgb_to_features([[0, 128, 255]], "rgb"), [[0, 128 / 255, 1.0]])


@pytest.mark.parametrize("space", list(COLOR_SPACES))
def test_shapes_and_axis_titles(space):
    colors = np.random.default_rng(0).integers(0, 256, size=(100, 3), dtype=np.uint8)
    features = rgb_to_features(colors, space)
    assert features.shape == (100, 3) and features.dtype == np.float64
    assert np.isfinite(features).all()
    assert len(AXIS_TITLES[space]) == 3


def test_names_are_case_insensitive_and_checked():
    assert check_color_space(" LAB ") == "lab"
    with pytest.raises(ValueError, match="Unknown colour space 'luv'; use one of 'rgb'"):
        check_color_space("luv")
    with pytest.raises(ValueError, match="Unknown colour space"):
        check_color_space(3)
    with pytest.raises(ValueError, match=r"shape \(n, 3\)"):
        rgb_to_features(np.zeros((4, 4)), "rgb")


@pytest.mark.parametrize("space", ["rgb", "hsv", "lab", "oklab"])
def test_large_inputs_converted_in_threads_give_the_same_bits(space, monkeypatch):
    """From _THREAD_ROWS rows per thread on, slices are converted side by side: every
    row must come out exactly as when the whole array is converted at once."""
    from core.features import colorspaces

    monkeypatch.setattr(colorspaces._accel, "enabled", lambda work=None: False)  # NumPy's
    colors = np.random.default_rng(4).integers(0, 256, (10_001, 3), dtype=np.uint8)
    whole = colorspaces._features(colors, space)
    monkeypatch.setattr(colorspaces, "_THREAD_ROWS", 1000)
    monkeypatch.setattr(colorspaces.os, "cpu_count", lambda: 4)
    np.testing.assert_array_equal(rgb_to_features(colors, space), whole)


@pytest.mark.parametrize(("rgb", "lab"), LAB_REFERENCE)
def test_compiled_lab_matches_reference(rgb, lab, kernels_loaded):
    a, b, lightness = rgb_to_features(np.array([rgb], dtype=np.uint8), "lab")[0]
    np.testing.assert_allclose([lightness, a, b], lab, atol=0.02)


def test_compiled_lab_equals_numpy_lab_to_rounding_on_the_rgb_cube(kernels_loaded, monkeypatch):
    """Every 5th of the 2**24 colours (both branches of CIELAB's f, every channel level):
    the fused kernel and NumPy's passes agree to ~1e-13, and the kernel is the one used."""
    from core.accel import compiled as _accel
    from core.features import colorspaces

    ids = np.arange(0, 1 << 24, 5)
    colors = np.stack([ids & 255, (ids >> 8) & 255, ids >> 16], axis=1).astype(np.uint8)
    used = []
    kernel = _accel.lab_of_colors
    monkeypatch.setattr(_accel, "lab_of_colors", lambda *a: used.append(1) or kernel(*a))
    compiled = rgb_to_features(colors, "lab")
    assert used
    numpy = colorspaces._features(colors, "lab")
    np.testing.assert_allclose(compiled, numpy, rtol=0, atol=1e-9)
