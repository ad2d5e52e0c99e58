"""segment() and Segmentation: known answers, exactness on every pixel, guarantees, errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from helpers import small_photo
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.cluster import KMeans

from core.accel import compiled as _accel
from core.engine.assign import assign_and_update
from core.engine.kmeans import kmeans
from core.features.colorspaces import COLOR_SPACES, rgb_to_features
from core.features.colortable import ColorTable
from core.inputs.arrays import resize_to_max_pixels
from core.results.segmentation import segment


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two label maps group the pixels identically (up to renumbering)."""
    pairs = np.unique(np.column_stack([a.ravel(), b.ravel()]), axis=0)
    return len(pairs) == len(np.unique(a)) == len(np.unique(b))


def test_known_answer_on_flat_blocks(blocks):
    result = segment(blocks, 4)
    # Clusters are numbered by size: 300, 150, 100 and 50 pixels.
    assert result.palette.tolist() == [[200, 30, 30], [30, 200, 30], [30, 30, 200], [240, 240, 240]]
    np.testing.assert_allclose(result.shares, [0.5, 0.25, 1 / 6, 1 / 12])
    assert result.counts.tolist() == [300, 150, 100, 50]
    assert (result.labels[:, :15] == 0).all() and (result.labels[10:, 25:] == 3).all()
    np.testing.assert_array_equal(result.segmented, blocks)
    assert result.wcss == pytest.approx(0.0, abs=1e-9)
    assert result.n_colors == 4
    assert result.hex_colors[0] == "#c81e1e"


@pytest.mark.parametrize("color_space", list(COLOR_SPACES))
def test_exact_kmeans_on_every_pixel(photo, color_space):
    """Run to a true fixed point: every pixel is nearest its own centre, every centre is
    the mean of its pixels' features — checked pixel by pixel, not on distinct colours."""
    result = segment(photo, 5, color_space=color_space, tol=0)
    features = rgb_to_features(photo.reshape(-1, 3), color_space)
    labels = result.labels.ravel()
    d = ((features[:, None, :] - result.centers[None]) ** 2).sum(axis=2)
    nearest = d.argmin(axis=1)
    ambiguous = np.sort(d, axis=1)[:, 1] - d.min(axis=1) < 1e-9
    assert (nearest == labels)[~ambiguous].all()
    for j in range(result.k):
        np.testing.assert_allclose(result.centers[j], features[labels == j].mean(axis=0), atol=1e-9)
    wcss = float(((features - result.centers[labels]) ** 2).sum())
    assert result.wcss == pytest.approx(wcss, rel=1e-9)
    assert result.converged


@pytest.mark.parametrize("k", [2, 5, 9])
def test_wcss_within_one_percent_of_sklearn_best_of_ten(china, k):
    ours = segment(china, k, color_space="rgb")
    pixels = china.reshape(-1, 3) / 255.0
    reference = KMeans(k, n_init=10, random_state=0).fit(pixels)
    assert ours.wcss <= 1.01 * reference.inertia_


@pytest.mark.parametrize("engine", ["sklearn", "opencv"])
def test_alternative_engines_agree(photo, engine):
    ours = segment(photo, 4)
    other = segment(photo, 4, engine=engine)
    assert other.engine == engine
    assert other.wcss == pytest.approx(ours.wcss, rel=0.02)
    assert np.abs(other.shares - ours.shares).max() < 0.05


@settings(max_examples=40, deadline=None)
@given(
    arrays(np.uint8, st.tuples(st.integers(1, 12), st.integers(1, 12), st.just(3))),
    st.integers(1, 6),
    st.sampled_from(list(COLOR_SPACES)),
    st.integers(0, 1000),
)
def test_guarantees(image, k, color_space, seed):
    k = min(k, image.shape[0] * image.shape[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # fewer colours than k is allowed here
        result = segment(image, k, color_space=color_space, seed=seed)
        again = segment(image, k, color_space=color_space, seed=seed)
    labels = result.labels
    assert labels.shape == image.shape[:2] and labels.dtype == np.int32
    assert labels.min() >= 0 and labels.max() < k
    # Palette is the (rounded) mean colour of each cluster's pixels.
    for j in range(k):
        members = image[labels == j]
        if len(members):
            assert np.abs(result.palette[j] - members.mean(axis=0)).max() <= 0.5 + 1e-9
    np.testing.assert_array_equal(result.segmented, result.palette[labels])
    # Identical pixels share a label.
    flat = image.reshape(-1, 3)
    _, first, inverse = np.unique(flat, axis=0, return_index=True, return_inverse=True)
    np.testing.assert_array_equal(labels.ravel(), labels.ravel()[first][inverse.ravel()])
    # Shares: sum to 1, numbered by size.
    assert result.shares.sum() == pytest.approx(1.0)
    assert (np.diff(result.counts) <= 0).all()
    assert all(result.cluster_mask(j).sum() == result.counts[j] for j in range(k))
    # Same seed, same labels.
    np.testing.assert_array_equal(again.labels, labels)


def test_large_image_uses_the_same_answer_on_both_paths():
    """Above 2**18 pixels the colour table switches from sorting to a 2**24 histogram (and
    to the compiled kernels when numba is present); the answer must not change."""
    small = small_photo("flower.jpg", 1)  # 427 x 640 = 273,280 pixels
    tiled = np.ascontiguousarray(small[:256, :256])  # 65,536 pixels: the sorting path
    large = np.tile(tiled, (3, 2, 1))  # 393,216 pixels, same colours, 6x counts
    a, b = segment(tiled, 6), segment(large, 6)
    np.testing.assert_array_equal(b.palette, a.palette)
    np.testing.assert_allclose(b.shares, a.shares)
    np.testing.assert_array_equal(b.labels, np.tile(a.labels, (3, 2)))
    assert b.wcss == pytest.approx(6 * a.wcss, rel=1e-9)


def test_hsv_hue_is_circular():
    # Reds at hue 350 and 10 degrees must cluster together, apart from a cyan at 180.
    image = np.array([[[255, 0, 43], [255, 43, 0], [0, 255, 255], [0, 230, 230]]], dtype=np.uint8)
    result = segment(image, 2, color_space="hsv")
    assert result.labels[0, 0] == result.labels[0, 1] != result.labels[0, 2] == result.labels[0, 3]


def test_fit_pixels_labels_full_image_with_centres_fitted_small(china):
    big = np.repeat(np.repeat(china, 3, axis=0), 3, axis=1)
    result = segment(big, 4, fit_pixels=2000)
    assert result.labels.shape == big.shape[:2]
    assert result.fit_shape[0] * result.fit_shape[1] <= 2000
    assert result.fit_pixels == 2000
    full = segment(big, 4)
    assert result.wcss <= 1.05 * full.wcss
    for j in range(4):
        np.testing.assert_allclose(
            result.palette[j], big[result.labels == j].mean(axis=0), atol=0.5
        )
    assert segment(big, 4, fit_pixels=10**9).fit_shape == big.shape[:2]


@pytest.mark.parametrize("space", ["rgb", "lab"])
def test_fit_pixels_is_a_fit_on_the_small_copy_then_one_update_on_every_colour(china, space):
    # The recipe built by hand, step by step: segment() counts the full image's colours on
    # a thread while it fits, and must still give exactly this: one Lloyd update on every
    # colour, then the last assignment to the centres reported.
    big = np.ascontiguousarray(np.repeat(np.repeat(china, 2, axis=0), 2, axis=1))
    result = segment(big, 5, fit_pixels=30_000, color_space=space, seed=3)
    small = resize_to_max_pixels(big, 30_000)
    fitted = segment(small, 5, color_space=space, seed=3)
    table = ColorTable.from_image(big)
    features = rgb_to_features(table.colors, space)
    weights = table.counts.astype(np.float64)
    _, centers, _ = assign_and_update(features, weights, fitted.centers)
    x = features[:, None, :] - centers[None, :, :]
    distances = (x * x).sum(axis=2)
    color_labels = distances.argmin(axis=1)
    wcss = float(weights @ distances.min(axis=1))
    labels, _ = table.paint(color_labels, np.zeros((5, 3), np.uint8))
    assert result.fit_shape == small.shape[:2]
    assert same_partition(result.labels, labels)
    assert result.wcss == pytest.approx(wcss, rel=1e-12)
    order = np.lexsort(centers.T)
    np.testing.assert_allclose(result.centers[np.lexsort(result.centers.T)], centers[order])


def test_fewer_distinct_colours_than_k_warns_and_leaves_empty_clusters(blocks):
    with pytest.warns(UserWarning, match="only 4 distinct colour"):
        result = segment(blocks, 6)
    assert result.counts.tolist()[-2:] == [0, 0]
    assert result.shares.sum() == pytest.approx(1.0)
    assert not np.isnan(result.centers).any()
    assert not result.cluster_mask(5).any()


def test_result_is_read_only_and_reports_its_parameters(blocks):
    result = segment(blocks, 2, color_space="lab", seed=7, n_init=2)
    with pytest.raises(ValueError, match="read-only"):
        result.labels[0, 0] = 1
    assert result.params == {
        "k": 2,
        "color_space": "lab",
        "seed": 7,
        "init": "k-means++",
        "n_init": 2,
        "max_iter": 300,
        "tol": 1e-4,
        "engine": "kseg",
        "fit_pixels": None,
        "position_weight": 0.0,
        "texture_weight": 0.0,
        "texture_components": 8,
        "min_region": None,
    }
    np.testing.assert_array_equal(segment(blocks, **result.params).labels, result.labels)
    with pytest.raises(IndexError, match=r"in \[0, 2\)"):
        result.cluster_mask(2)


def test_accepts_grayscale_and_float_images(blocks):
    gray = blocks[:, :, 0]
    assert segment(gray, 2).palette.shape == (2, 3)
    as_float = segment(blocks / 255.0, 4)
    np.testing.assert_array_equal(as_float.labels, segment(blocks, 4).labels)


@pytest.mark.parametrize(
    ("image", "k", "kwargs", "error", "match"),
    [
        (np.zeros((4, 4, 3), np.uint8), 0, {}, ValueError, "k must be a positive integer"),
        (np.zeros((4, 4, 3), np.uint8), 2.5, {}, ValueError, "k must be a positive integer"),
        (np.zeros((4, 4, 3), np.uint8), True, {}, ValueError, "k must be a positive integer"),
        (np.zeros((2, 2, 3), np.uint8), 5, {}, ValueError, r"more than the number of pixels \(4\)"),
        (np.zeros((0, 4, 3), np.uint8), 1, {}, ValueError, "empty"),
        (np.full((2, 2, 3), np.nan), 1, {}, ValueError, "NaN"),
        (np.full((2, 2, 3), 2.0), 1, {}, ValueError, r"\[0, 1\]"),
        (np.zeros((2, 2, 4), np.uint8), 1, {}, ValueError, "transparent"),  # RGBA, all clear
        (np.zeros((2, 2, 2, 3), np.uint8), 1, {}, ValueError, r"\(H, W, 3\)"),
        (np.zeros((2, 2, 3), np.uint16), 1, {}, ValueError, "uint8"),
        ("photo.jpg", 1, {}, TypeError, "load_image"),
        (
            np.zeros((2, 2, 3), np.uint8),
            1,
            {"color_space": "xyz"},
            ValueError,
            "Unknown colour space",
        ),
        (np.zeros((2, 2, 3), np.uint8), 1, {"engine": "gpu"}, ValueError, "engine must be one of"),
        (np.zeros((2, 2, 3), np.uint8), 1, {"init": "forgy"}, ValueError, "init must be one of"),
        (np.zeros((2, 2, 3), np.uint8), 1, {"fit_pixels": 0}, ValueError, "fit_pixels"),
        (np.zeros((2, 2, 3), np.uint8), 1, {"tol": -1.0}, ValueError, "tol"),
    ],
)
def test_invalid_input_says_what_to_fix(image, k, kwargs, error, match):
    with pytest.raises(error, match=match):
        segment(image, k, **kwargs)


@pytest.mark.skipif(not _accel.AVAILABLE, reason="numba is not installed")
def test_compiled_and_numpy_paths_agree(photo, monkeypatch, kernels_loaded):
    compiled = segment(np.tile(photo, (3, 2, 1)), 5)
    monkeypatch.setattr(_accel, "AVAILABLE", False)
    plain = segment(np.tile(photo, (3, 2, 1)), 5)
    assert same_partition(compiled.labels, plain.labels)
    assert compiled.wcss == pytest.approx(plain.wcss, rel=1e-6)


def test_tiny_fit_pixels_does_not_leave_clusters_empty_or_warn_wrongly(photo):
    # fit_pixels=1 used to fit on one pixel, leave five clusters empty and blame the image
    # ("only 9,000 distinct colours, fewer than k=6").
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = segment(photo, 6, fit_pixels=1)
    assert (result.counts > 0).all()
    assert result.fit_shape == photo.shape[:2]


def test_old_names_the_readme_promised_keep_working(blocks):
    result = segment(blocks, 3)
    run = kmeans(blocks.reshape(-1, 3) / 255.0, 2, record_history=True)
    assert run.history is not None
    # Old names work and warn, each naming its replacement and the version removing it.
    for obj, old, new in [
        (result, "fractions", "shares"),
        (result, "inertia", "wcss"),
        (run, "inertia", "wcss"),
        (run.history[0], "inertia", "wcss"),
    ]:
        with pytest.warns(
            DeprecationWarning, match=rf"\.{old} is deprecated .* 0\.3\.0: use .*\.{new}"
        ):
            value = getattr(obj, old)
        assert value is getattr(obj, new)
    with pytest.warns(DeprecationWarning, match=r"\.mask is deprecated .*\.cluster_mask"):
        old_mask = result.mask(1)
    np.testing.assert_array_equal(old_mask, result.cluster_mask(1))
    import core.inputs.io
    import core.outputs.figures
    from core.outputs import previews

    assert core.inputs.io.resize_to_max_pixels is core.resize_to_max_pixels
    assert core.outputs.figures.preview_bytes is previews.preview_bytes
    assert core.outputs.figures.cluster_thumbnails is previews.cluster_thumbnails


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), height=st.integers(1, 30), width=st.integers(1, 30))
def test_labels_at_is_the_labels_on_a_grid_before_and_after_painting(photo, seed, height, width):
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, photo.shape[0], height)
    cols = rng.integers(0, photo.shape[1], width)
    result = segment(photo, 5, seed=0)
    before = result.labels_at(rows, cols)  # from the colour table: nothing painted yet
    assert before.dtype == np.int32
    np.testing.assert_array_equal(before, result.labels[np.ix_(rows, cols)])
    np.testing.assert_array_equal(result.labels_at(rows, cols), before)  # painted now


def test_a_result_painted_on_first_use_is_the_same_everywhere(photo):
    import pickle
    import threading

    reference = segment(photo, 4, seed=1)
    labels, segmented = reference.labels.copy(), reference.segmented.copy()
    np.testing.assert_array_equal(segmented, reference.palette[labels])
    # Unpickled before painting: it still paints the same pixels.
    thawed = pickle.loads(pickle.dumps(segment(photo, 4, seed=1)))
    np.testing.assert_array_equal(thawed.labels, labels)
    np.testing.assert_array_equal(thawed.segmented, segmented)
    # Painted by several threads at once: every one sees the same read-only arrays.
    shared = segment(photo, 4, seed=1)
    seen: list[np.ndarray] = []
    threads = [threading.Thread(target=lambda: seen.append(shared.labels)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for got in seen:
        np.testing.assert_array_equal(got, labels)
        assert not got.flags.writeable
    assert shared.shape == photo.shape[:2] == segment(photo, 4).shape


def test_changing_the_image_after_segmenting_it_changes_nothing(photo):
    # The pixels are painted when first read: from the image as it was, not as it is.
    image = photo.copy()
    expected = segment(photo, 4, seed=2).labels
    result = segment(image, 4, seed=2)
    image[:] = 0
    np.testing.assert_array_equal(result.labels, expected)
    frozen = photo.copy()
    frozen.setflags(write=False)  # read-only: kept without a copy
    np.testing.assert_array_equal(segment(frozen, 4, seed=2).labels, expected)
