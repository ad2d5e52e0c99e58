"""core.features.colortable: distinct colours and counts, labels painted back, palettes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from core.accel import compiled as _accel
from core.features import colortable
from core.features.colortable import ColorTable, cluster_means, recolor

images = arrays(
    np.uint8,
    st.tuples(st.integers(1, 12), st.integers(1, 12), st.just(3)),
    elements=st.sampled_from([0, 1, 127, 128, 254, 255]),
)


@settings(max_examples=60, deadline=None)
@given(images)
def test_table_is_numpys_unique(image):
    table = ColorTable.from_image(np.ascontiguousarray(image))
    colors, counts = np.unique(image.reshape(-1, 3), axis=0, return_counts=True)
    order = np.lexsort(colors.T)  # ids are r | g << 8 | b << 16: b is the major key
    np.testing.assert_array_equal(table.colors, colors[order])
    np.testing.assert_array_equal(table.counts, counts[order])
    assert table.counts.sum() == table.n_pixels == image.shape[0] * image.shape[1]
    assert table.n_colors == len(colors) and table.shape == image.shape[:2]
    assert (np.diff(table.ids) > 0).all()


def test_paint_broadcasts_colour_labels_to_pixels(blocks):
    table = ColorTable.from_image(blocks)
    color_labels = np.arange(table.n_colors, dtype=np.int32)[::-1].copy()
    palette = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12]], dtype=np.uint8)
    labels, painted = table.paint(color_labels, palette)
    lookup = {tuple(c): color_labels[i] for i, c in enumerate(table.colors.tolist())}
    expected = np.array([[lookup[tuple(p)] for p in row] for row in blocks.tolist()])
    np.testing.assert_array_equal(labels, expected)
    np.testing.assert_array_equal(painted, palette[expected])


@pytest.mark.skipif(not _accel.AVAILABLE, reason="numba is not installed")
def test_large_images_count_the_same_on_every_path(monkeypatch):
    # The sort (up to a few megapixels), the compiled histogram and NumPy's bincount agree;
    # the size threshold is lowered so that a small image takes the histogram paths.
    image = np.random.default_rng(0).integers(0, 64, (600, 500, 3), dtype=np.uint8)
    labels_of = {}
    tables = {"sorted": ColorTable.from_image(image)}
    monkeypatch.setattr(colortable, "_SORT_UP_TO", 1000)
    tables["compiled"] = ColorTable.from_image(image)
    monkeypatch.setattr(_accel, "AVAILABLE", False)
    tables["plain"] = ColorTable.from_image(image)
    labels = (tables["sorted"].ids % 5).astype(np.int32)
    palette = np.arange(15, dtype=np.uint8).reshape(5, 3)
    labels_of["plain"] = tables["plain"].paint(labels, palette)
    monkeypatch.setattr(_accel, "AVAILABLE", True)
    labels_of["compiled"] = tables["compiled"].paint(labels, palette)
    monkeypatch.undo()
    labels_of["sorted"] = tables["sorted"].paint(labels, palette)
    for name in ("compiled", "plain"):
        np.testing.assert_array_equal(tables[name].ids, tables["sorted"].ids)
        np.testing.assert_array_equal(tables[name].counts, tables["sorted"].counts)
        for a, b in zip(labels_of[name], labels_of["sorted"], strict=True):
            np.testing.assert_array_equal(a, b)


def test_coarse_cells_group_by_high_bits():
    image = np.array([[[0, 0, 0], [7, 7, 7], [8, 0, 0], [255, 255, 255]]], dtype=np.uint8)
    table = ColorTable.from_image(image)
    cell, n_cells = table.coarse(5)
    assert n_cells == 2**15
    by_color = dict(zip(map(tuple, table.colors.tolist()), cell.tolist(), strict=True))
    # Cell = r >> 3 | (g >> 3) << 5 | (b >> 3) << 10: 0 and 7 share the top five bits.
    assert by_color == {(0, 0, 0): 0, (7, 7, 7): 0, (8, 0, 0): 1, (255, 255, 255): 2**15 - 1}


def test_cluster_means_weighted_and_unweighted_agree():
    colors = np.array([[0, 0, 0], [10, 20, 30], [255, 255, 255]], dtype=np.uint8)
    labels = np.array([0, 0, 2])
    weights = np.array([1, 3, 2])
    counts, palette = cluster_means(colors, labels, 3, weights)
    assert counts.tolist() == [4, 0, 2]
    assert palette.tolist() == [[8, 15, 22], [0, 0, 0], [255, 255, 255]]  # 7.5 -> 8, 22.5 -> 22
    expanded = np.repeat(colors, weights, axis=0)
    again = cluster_means(expanded, np.repeat(labels, weights), 3)
    np.testing.assert_array_equal(again[0], counts)
    np.testing.assert_array_equal(again[1], palette)


@pytest.mark.parametrize("k", [3, 300])
def test_recolor_is_palette_indexing(k):
    rng = np.random.default_rng(1)
    labels = rng.integers(0, k, (7, 9)).astype(np.int32)
    palette = rng.integers(0, 256, (k, 3), dtype=np.uint8)
    np.testing.assert_array_equal(recolor(labels, palette), palette[labels])
