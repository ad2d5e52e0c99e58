"""Tests for core.features.texture: the Leung–Malik bank and per-pixel texture features."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.testing import assert_allclose, assert_array_equal
from scipy import ndimage
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from threadpoolctl import threadpool_limits

from core.features.texture import LM_FILTER_NAMES, LM_N_FILTERS, lm_filter_bank, texture_features

# Index groups of the bank, from the layout documented in core.features.texture.
FIRST = [12 * s + k for s in range(3) for k in range(6)]
SECOND = [12 * s + 6 + k for s in range(3) for k in range(6)]
LOG = list(range(36, 44))
GAUSSIAN = list(range(44, 48))
CENTRE = 24  # centre pixel of a 49 x 49 filter


@pytest.fixture(scope="module")
def bank() -> np.ndarray:
    return lm_filter_bank()


def rot180(f: np.ndarray) -> np.ndarray:
    return f[::-1, ::-1]


def stripes(height: int, width: int, *, period: int = 4, vertical: bool) -> np.ndarray:
    """Grey (H, W) uint8 stripes, half a period dark and half bright."""
    along = np.arange(width if vertical else height)
    line = np.where(along % period < period // 2, 40, 215).astype(np.uint8)
    return np.tile(line, (height, 1)) if vertical else np.tile(line[:, None], (1, width))


# --- the bank ----------------------------------------------------------------------------


def test_bank_shape_dtype_and_names(bank):
    assert bank.shape == (LM_N_FILTERS, 49, 49) == (48, 49, 49)
    assert bank.dtype == np.float64
    assert len(LM_FILTER_NAMES) == 48
    assert len(set(LM_FILTER_NAMES)) == 48
    assert LM_FILTER_NAMES[0] == "d1 σ=1.41 θ=0°"
    assert LM_FILTER_NAMES[7] == "d2 σ=1.41 θ=30°"
    assert LM_FILTER_NAMES[17] == "d1 σ=2 θ=150°"
    assert LM_FILTER_NAMES[36] == "LoG σ=1.41"
    assert LM_FILTER_NAMES[43] == "LoG σ=12"
    assert LM_FILTER_NAMES[47] == "G σ=4"
    assert all(LM_FILTER_NAMES[i].startswith("d1 ") for i in FIRST)
    assert all(LM_FILTER_NAMES[i].startswith("d2 ") for i in SECOND)
    assert all(LM_FILTER_NAMES[i].startswith("LoG ") for i in LOG)
    assert all(LM_FILTER_NAMES[i].startswith("G ") for i in GAUSSIAN)


def test_derivative_and_log_filters_are_zero_sum_unit_l1(bank):
    zero_mean = bank[FIRST + SECOND + LOG]
    assert_allclose(zero_mean.sum(axis=(1, 2)), 0.0, atol=1e-12)
    assert_allclose(np.abs(zero_mean).sum(axis=(1, 2)), 1.0, rtol=1e-12)


def test_gaussians_are_nonnegative_and_sum_to_one(bank):
    gaussians = bank[GAUSSIAN]
    assert (gaussians >= 0).all()
    assert_allclose(gaussians.sum(axis=(1, 2)), 1.0, rtol=1e-12)
    # Each peaks at the centre, and wider ones peak lower.
    peaks = gaussians[:, CENTRE, CENTRE]
    assert_array_equal(peaks, gaussians.max(axis=(1, 2)))
    assert (np.diff(peaks) < 0).all()


def test_first_derivatives_are_odd_and_the_rest_even(bank):
    for i in FIRST:
        assert_allclose(bank[i], -rot180(bank[i]), atol=1e-15, err_msg=LM_FILTER_NAMES[i])
        assert np.abs(bank[i]).max() > 1e-3  # odd and not trivially zero
    for i in SECOND + LOG + GAUSSIAN:
        assert_allclose(bank[i], rot180(bank[i]), atol=1e-15, err_msg=LM_FILTER_NAMES[i])


def test_90_degree_filters_are_the_0_degree_ones_turned_clockwise(bank):
    for base in (0, 6, 12, 18, 24, 30):  # θ = 0° of each derivative order and scale
        turned = np.rot90(bank[base], k=-1)  # clockwise on screen
        assert_allclose(bank[base + 3], turned, atol=1e-12, err_msg=LM_FILTER_NAMES[base])


def test_each_30_degree_step_turns_the_filter_clockwise(bank):
    for base in (6, 12):  # d2 and d1 at σ = 2
        for step in range(1, 6):
            clockwise = ndimage.rotate(bank[base], -30 * step, reshape=False, order=3)
            similarity = np.corrcoef(clockwise.ravel(), bank[base + step].ravel())[0, 1]
            assert similarity > 0.99, (LM_FILTER_NAMES[base + step], similarity)
    # The other way round does not match: the direction is part of the contract.
    counter = ndimage.rotate(bank[6], 30, reshape=False, order=3)
    assert np.corrcoef(counter.ravel(), bank[7].ravel())[0, 1] < 0.5


def test_orientation_and_sign_follow_makeLMfilters(bank):
    # θ = 0°: a horizontal bar, the derivative taken vertically. MATLAB's y axis points
    # up, so the first derivative -y·g(y) is negative in the top half.
    d1, d2 = bank[0], bank[6]
    assert d1[:CENTRE].sum() < 0 < d1[CENTRE + 1 :].sum()
    assert_allclose(d1[CENTRE], 0.0, atol=1e-15)  # the bar's axis
    assert d2[CENTRE].sum() < 0  # second derivative: negative along the axis
    assert d2[CENTRE].sum() < d2[:, CENTRE].sum()
    # The bar is 3x longer than wide: its |values| spread more along rows.
    profile_along = np.abs(d2[CENTRE])
    profile_across = np.abs(d2[:, CENTRE])
    assert (profile_along > 0.5 * profile_along.max()).sum() > 2 * (
        (profile_across > 0.5 * profile_across.max()).sum()
    )


def test_log_filters_are_isotropic_2d_laplacians(bank):
    for i in LOG:
        assert_allclose(bank[i], np.rot90(bank[i]), atol=1e-15, err_msg=LM_FILTER_NAMES[i])
        assert_allclose(bank[i], bank[i].T, atol=1e-15)
        assert bank[i][CENTRE, CENTRE] < 0  # negative centre, as fspecial('log')
    # The 2-D Laplacian of Gaussian changes sign at r = σ·√2 (5.66 for σ = 4); the 1-D
    # formula some ports use would change sign at r = σ.
    log4 = bank[39]
    assert LM_FILTER_NAMES[39] == "LoG σ=4"
    assert log4[CENTRE, CENTRE + 5] < 0 < log4[CENTRE, CENTRE + 6]


def test_smaller_support_keeps_the_normalisation():
    small = lm_filter_bank(25)
    assert small.shape == (48, 25, 25)
    assert_allclose(np.abs(small[:44]).sum(axis=(1, 2)), 1.0, rtol=1e-12)
    assert_allclose(small[44:].sum(axis=(1, 2)), 1.0, rtol=1e-12)
    assert_allclose(lm_filter_bank(np.int64(25)), small)


@pytest.mark.parametrize("support", [0, -3, 48, 2, 7.0, "49", True, None])
def test_bad_support_is_refused(support):
    with pytest.raises(ValueError, match="support must be a positive odd integer"):
        lm_filter_bank(support)


# --- features ----------------------------------------------------------------------------


def test_features_shape_dtype_and_standardisation(photo):
    features = texture_features(photo)
    h, w = photo.shape[:2]
    assert features.shape == (h * w, 48)
    assert features.dtype == np.float32
    assert features.flags.c_contiguous
    assert np.isfinite(features).all()
    assert_allclose(features.mean(axis=0), 0.0, atol=1e-4)
    assert_allclose(features.std(axis=0, dtype=np.float64), 1.0, rtol=1e-4)


def test_features_match_cv2_filter2d_reference():
    # The tutorial's method: cv2.filter2D per filter (reflect-101 borders), |response|.
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, size=(37, 52, 3), dtype=np.uint8)
    bank = lm_filter_bank()
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float64) / 255
    reference = np.stack(
        [np.abs(cv2.filter2D(gray, cv2.CV_64F, f, borderType=cv2.BORDER_REFLECT_101)) for f in bank]
    )
    reference = reference.reshape(48, -1).T
    reference = (reference - reference.mean(axis=0)) / reference.std(axis=0)
    assert_allclose(texture_features(image), reference, atol=1e-4)


def test_rows_are_pixels_in_row_major_order():
    # Transposing the image transposes the maps of the isotropic (LoG, Gaussian) columns.
    rng = np.random.default_rng(1)
    image = ndimage.zoom(rng.integers(0, 256, size=(6, 9)), 5, order=1).astype(np.uint8)
    h, w = image.shape
    features = texture_features(image)[:, LOG + GAUSSIAN].reshape(h, w, 12)
    transposed = texture_features(np.ascontiguousarray(image.T))[:, LOG + GAUSSIAN]
    assert_allclose(transposed.reshape(w, h, 12), features.transpose(1, 0, 2), atol=1e-4)


def test_stripe_orientations_separate_under_kmeans():
    # 4-pixel stripes: finer ones (2 px) make the seam and the reflected borders a
    # stronger "texture" than the orientation, since responses are not pooled.
    h, w = 64, 128
    image = np.hstack(
        [stripes(h, w // 2, period=8, vertical=True), stripes(h, w // 2, period=8, vertical=False)]
    )
    truth = np.tile(np.arange(w) >= w // 2, (h, 1))
    away = np.tile(np.abs(np.arange(w) - w // 2) >= 16, (h, 1))

    for n_components in (None, 4):
        features = texture_features(image, n_components=n_components)
        for seed in (0, 1, 2):
            # The best of 4 starts (a single start can settle on the borders); one
            # thread, since threads only contend on data this small.
            with threadpool_limits(1):
                labels = KMeans(2, n_init=4, random_state=seed).fit_predict(features)
            labels = labels.reshape(h, w)
            assert adjusted_rand_score(truth[away], labels[away]) > 0.9, (n_components, seed)

    # The filter whose bar is vertical (θ = 90°) answers the vertical stripes.
    features = texture_features(image).reshape(h, w, 48)
    vertical_bar, horizontal_bar = 9, 6  # d2 σ=1.41 at θ = 90° and 0°
    assert LM_FILTER_NAMES[vertical_bar] == "d2 σ=1.41 θ=90°"
    left, right = features[:, :48], features[:, -48:]
    assert left[..., vertical_bar].mean() > right[..., vertical_bar].mean() + 1
    assert right[..., horizontal_bar].mean() > left[..., horizontal_bar].mean() + 1


@pytest.mark.parametrize("shape", [(20, 30), (20, 30, 3), (1, 1), (1, 1, 3)])
def test_flat_image_gives_zero_features(shape):
    image = np.full(shape, 137, dtype=np.uint8)
    features = texture_features(image)
    assert features.shape == (shape[0] * shape[1], 48)
    assert_array_equal(features, 0.0)
    reduced = texture_features(image, n_components=1)
    assert reduced.shape == (shape[0] * shape[1], 1)
    assert_array_equal(reduced, 0.0)


def test_deterministic(china):
    assert_array_equal(texture_features(china), texture_features(china))
    assert_array_equal(
        texture_features(china, n_components=6), texture_features(china, n_components=6)
    )


def test_grey_and_equal_channel_rgb_agree(photo):
    grey = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    rgb = np.repeat(grey[..., None], 3, axis=2)
    assert_array_equal(texture_features(grey), texture_features(rgb))
    assert not np.array_equal(texture_features(grey), texture_features(255 - grey)[:, ::-1])


def test_input_is_not_modified(photo):
    image = photo.copy()
    texture_features(image, n_components=3)
    assert_array_equal(image, photo)


def test_principal_components_are_centred_and_ordered(photo):
    reduced = texture_features(photo, n_components=5)
    assert reduced.shape == (photo.shape[0] * photo.shape[1], 5)
    assert reduced.dtype == np.float32
    assert_allclose(reduced.mean(axis=0), 0.0, atol=1e-3)
    variances = reduced.var(axis=0)
    assert (np.diff(variances) <= 0).all()
    # Not whitened: the leading component carries more than one filter's unit variance.
    assert variances[0] > 2.0
    # The components are projections of the standardised features.
    full = texture_features(photo)
    assert variances.sum() <= full.var(axis=0).sum() + 1e-3


def test_custom_filters_give_those_columns(photo):
    bank = lm_filter_bank()
    chosen = [3, 20, 40, 45]
    assert_allclose(
        texture_features(photo, filters=bank[chosen]),
        texture_features(photo)[:, chosen],
        atol=1e-4,
    )
    # A non-symmetric filter is correlated, as cv2.filter2D does: [-1, 0, 1] finds
    # the rising edge at column 5 at column 5, and nowhere else.
    image = np.zeros((9, 11), dtype=np.uint8)
    image[:, 5:] = 200
    step = np.zeros((1, 3, 3))
    step[0, 1] = (-1, 0, 1)
    response = texture_features(image, filters=step).reshape(9, 11)
    assert (response[:, [4, 5]] > 0).all()
    assert (response[:, [0, 1, 2, 3, 6, 7, 8, 9, 10]] < 0).all()


@settings(max_examples=15, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(1, 12), st.integers(1, 12))))
def test_any_small_grey_image_gives_finite_standardised_columns(image):
    features = texture_features(image)
    assert features.shape == (image.size, 48)
    assert np.isfinite(features).all()
    for column in features.T:
        if column.any():
            assert abs(column.mean()) < 1e-3
            assert abs(column.std(dtype=np.float64) - 1.0) < 1e-3


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "match"),
    [
        (np.zeros(10, np.uint8), r"shape \(H, W, 3\) for RGB or \(H, W\) for grey"),
        (np.zeros((4, 4, 4), np.uint8), r"Drop an alpha channel"),
        (np.zeros((4, 4, 1), np.uint8), r"got shape \(4, 4, 1\)"),
        (np.zeros((2, 4, 4, 3), np.uint8), r"shape \(H, W, 3\)"),
        (np.zeros((0, 5), np.uint8), r"image is empty \(shape \(0, 5\)\)"),
        (np.zeros((5, 0, 3), np.uint8), r"image is empty"),
        (np.zeros((4, 4), np.float64), r"must be uint8 .* got float64"),
        (np.zeros((4, 4, 3), bool), r"must be uint8"),
    ],
)
def test_bad_image_is_refused(image, match):
    with pytest.raises(ValueError, match=match):
        texture_features(image)


@pytest.mark.parametrize(
    ("filters", "match"),
    [
        (np.ones((3, 3)), r"stack of square filters.*filters\[np.newaxis\]"),
        (np.ones((0, 3, 3)), r"non-empty stack"),
        (np.ones((2, 3, 5)), r"got shape \(2, 3, 5\)"),
        (np.ones((2, 4, 4)), r"odd size"),
        (np.full((1, 3, 3), np.nan), r"NaN or infinite"),
    ],
)
def test_bad_filters_are_refused(filters, match):
    with pytest.raises(ValueError, match=match):
        texture_features(np.zeros((5, 5), np.uint8), filters=filters)


@pytest.mark.parametrize("n_components", [0, -1, 49, 1.5, True, "3"])
def test_bad_n_components_is_refused(n_components):
    with pytest.raises(ValueError, match=r"n_components must be an integer from 1 to 48"):
        texture_features(np.zeros((10, 10), np.uint8), n_components=n_components)


def test_n_components_cannot_exceed_the_pixels():
    with pytest.raises(ValueError, match=r"from 1 to 6 .* of pixels, 6\)"):
        texture_features(np.zeros((2, 3), np.uint8), n_components=7)
