"""core.outputs.previews: screen-sized encoded previews and per-cluster thumbnails."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from helpers import png
from PIL import Image

import core
from core.outputs import previews
from core.outputs.export import segmented_image


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


@pytest.mark.parametrize("trim", [(0, 0), (1, 0), (1, 3)])
def test_a_big_image_previews_as_an_area_downscale_does(photo, trim):
    # Halvings first (OpenCV's fast path), then one area resize: the same picture as one
    # area resize, to within rounding, at exactly the screen size (odd sizes too).
    big = cv2.resize(photo, (photo.shape[1] * 5, photo.shape[0] * 5))  # a smooth photo
    big = np.ascontiguousarray(big[trim[0] :, trim[1] :])
    data = previews.preview_bytes(big, max_pixels=big.shape[0] * big.shape[1] // 20)
    shown = np.asarray(Image.open(io.BytesIO(data)))
    height, width = previews.screen_size(*big.shape[:2], max_pixels=big.size // 60)
    assert shown.shape == (height, width, 3)
    direct = cv2.resize(big, (width, height), interpolation=cv2.INTER_AREA)
    difference = np.abs(shown.astype(int) - direct)
    # (Nearest-neighbour sampling differs by 3.5 on average, a 3-pixel shift by 2.3.)
    assert difference.mean() < 1.6 and np.percentile(difference, 99) <= 16


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
    np.testing.assert_array_equal(mask == 255, result.cluster_mask(0))
    with pytest.raises(ValueError, match="alpha must be"):
        previews.cluster_thumbnails(result, blocks, alpha=alpha[:-1])


def decoded(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGBA" if "transparency" in image.info else "RGB"))


def test_segmented_preview_is_the_segmented_image_sampled_at_screen_size(seg):
    data = previews.segmented_preview(seg)
    assert Image.open(io.BytesIO(data)).mode == "P"  # one byte per pixel
    np.testing.assert_array_equal(decoded(data), segmented_image(seg))  # fits: as is
    small = decoded(previews.segmented_preview(seg, max_pixels=2_000))
    height, width = previews.screen_size(*seg.shape, max_pixels=2_000)
    assert small.shape == (height, width, 3)
    # Nearest-neighbour: the label of the full-resolution pixel at each preview pixel's centre.
    rows = ((np.arange(height) + 0.5) * seg.shape[0] / height).astype(int)
    cols = ((np.arange(width) + 0.5) * seg.shape[1] / width).astype(int)
    np.testing.assert_array_equal(small, seg.segmented[np.ix_(rows, cols)])


def test_segmented_preview_leaves_pixels_that_do_not_count_transparent(blocks):
    alpha = np.full(blocks.shape[:2], 255, np.uint8)
    alpha[:2] = 0
    result = core.segment(np.dstack([blocks, alpha]), 3)
    shown = decoded(previews.segmented_preview(result))
    np.testing.assert_array_equal(shown, segmented_image(result))
    assert not shown[:2, :, 3].any() and (shown[2:, :, 3] == 255).all()


def test_segmented_preview_beyond_255_clusters_is_rgb():
    image = np.arange(300 * 3, dtype=np.uint8).reshape(15, 20, 3)
    result = core.segment(image, 256, allow_large_k=True, color_space="rgb")
    data = previews.segmented_preview(result)
    assert Image.open(io.BytesIO(data)).mode == "RGB"
    np.testing.assert_array_equal(decoded(data), result.segmented)


def jpeg(image: np.ndarray, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=90, **options)
    return buffer.getvalue()


def test_file_preview_sends_a_small_plain_jpeg_as_it_is(photo):
    data = jpeg(photo)
    assert previews.file_preview(data, core.open_image(data)) == data


@pytest.mark.parametrize("case", ["rotated", "profile", "large", "png"])
def test_file_preview_encodes_what_a_browser_would_show_differently(photo, case):
    if case == "rotated":
        exif = Image.Exif()
        exif[0x0112] = 6  # turned 90°: the browser would turn it, core.open_image does
        data = jpeg(photo, exif=exif)
    elif case == "profile":
        data = jpeg(photo, icc_profile=b"not applied by kseg")
    elif case == "png":
        data = png(photo)
    else:
        data = jpeg(photo)
    loaded = core.open_image(data)
    max_pixels = 2_000 if case == "large" else 1_000_000
    preview = previews.file_preview(data, loaded, max_pixels=max_pixels)
    assert preview != data and preview.startswith(b"\xff\xd8\xff")
    shown = decoded(preview)
    assert shown.shape[:2] == previews.screen_size(*loaded.rgb.shape[:2], max_pixels=max_pixels)
