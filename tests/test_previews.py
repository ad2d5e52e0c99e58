"""core.previews: screen-sized encoded previews and per-cluster thumbnails."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import core
from core import previews


@pytest.fixture(scope="module")
def seg(photo) -> core.Segmentation:
    return core.segment(photo, 5, color_space="lab", seed=0)


def test_preview_bytes_downscales_and_encodes(photo):
    for fmt, magic in [("png", b"\x89PNG"), ("jpeg", b"\xff\xd8\xff")]:
        data = previews.preview_bytes(photo, max_pixels=4_000, format=fmt)
        assert data.startswith(magic)
        width, height = Image.open(io.BytesIO(data)).size
        assert width * height <= 4_000
        assert abs(width / height - photo.shape[1] / photo.shape[0]) < 0.05
    full = Image.open(io.BytesIO(previews.preview_bytes(photo)))
    assert full.size == (photo.shape[1], photo.shape[0])  # small images are not resized
    rgba = np.dstack([photo, np.full(photo.shape[:2], 128, np.uint8)])
    assert Image.open(io.BytesIO(previews.preview_bytes(rgba))).mode == "RGBA"
    with pytest.raises(ValueError, match="JPEG has no transparency"):
        previews.preview_bytes(rgba, format="jpeg")
    with pytest.raises(ValueError, match="grey, RGB or RGBA uint8"):
        previews.preview_bytes(photo.astype(np.float32))


def test_cluster_thumbnails_partition_the_thumbnail(seg, photo):
    thumbnails = previews.cluster_thumbnails(seg, photo, max_pixels=2_000)
    assert len(thumbnails) == seg.k
    masks = np.stack([mask for mask, _ in thumbnails])
    assert masks.dtype == np.uint8 and set(np.unique(masks)) <= {0, 255}
    assert masks.shape[1] * masks.shape[2] <= 2_000
    np.testing.assert_array_equal((masks == 255).sum(axis=0), 1)  # one cluster per pixel
    for mask, cut in thumbnails:
        assert cut.shape == (*mask.shape, 4) and cut.dtype == np.uint8
        np.testing.assert_array_equal(cut[..., 3], mask)  # opaque exactly inside


def test_cluster_thumbnails_multiply_the_image_alpha(blocks):
    result = core.segment(blocks, 4)
    alpha = np.full(blocks.shape[:2], 100, np.uint8)
    for mask, cut in previews.cluster_thumbnails(result, blocks, alpha=alpha):
        assert set(np.unique(cut[..., 3][mask == 255])) == {100}
        assert not cut[..., 3][mask == 0].any()
    # Blocks are flat: at full size the mask is exactly the segmentation's.
    mask, _ = previews.cluster_thumbnails(result, blocks)[0]
    np.testing.assert_array_equal(mask == 255, result.mask(0))
    with pytest.raises(ValueError, match="alpha must be"):
        previews.cluster_thumbnails(result, blocks, alpha=alpha[:-1])
