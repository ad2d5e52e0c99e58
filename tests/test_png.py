"""core.formats.png: every file it writes decodes, with two independent decoders, to the input."""

from __future__ import annotations

import io
import zlib

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from core.formats import png
from core.formats.png import encode_png


def _pil(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _cv2(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)


sides = st.integers(1, 40)


filters = st.sampled_from(["none", "sub"])


@settings(max_examples=60, deadline=None)
@given(st.data(), st.sampled_from([3, 4]), filters)
def test_rgb_and_rgba_round_trip(data, channels, row_filter):
    shape = (data.draw(sides), data.draw(sides), channels)
    image = data.draw(arrays(np.uint8, shape))
    encoded = encode_png(image, row_filter=row_filter)
    np.testing.assert_array_equal(np.asarray(_pil(encoded)), image)
    # OpenCV (libpng) reads BGR(A).
    order = [2, 1, 0] if channels == 3 else [2, 1, 0, 3]
    np.testing.assert_array_equal(_cv2(encoded)[:, :, order], image)


@settings(max_examples=40, deadline=None)
@given(st.data(), st.sampled_from([np.uint8, np.uint16]), filters)
def test_grey_8_and_16_bit_round_trip(data, dtype, row_filter):
    image = data.draw(arrays(dtype, (data.draw(sides), data.draw(sides))))
    encoded = encode_png(image, row_filter=row_filter)
    decoded = _cv2(encoded)
    assert decoded.dtype == dtype
    np.testing.assert_array_equal(decoded, image)
    np.testing.assert_array_equal(np.asarray(_pil(encoded)).astype(np.int64), image)


@settings(max_examples=40, deadline=None)
@given(st.data(), filters)
def test_indexed_round_trip_with_transparency(data, row_filter):
    n = data.draw(st.integers(1, 256))
    colors = data.draw(arrays(np.uint8, (n, 3)))
    shape = (data.draw(sides), data.draw(sides))
    indices = data.draw(arrays(np.uint8, shape, elements=st.integers(0, n - 1)))
    opacity = data.draw(arrays(np.uint8, (n,)))
    encoded = encode_png(indices, palette=colors, alpha=opacity, row_filter=row_filter)
    image = _pil(encoded)
    assert image.mode == "P"
    np.testing.assert_array_equal(np.asarray(image), indices)
    np.testing.assert_array_equal(np.asarray(image.getpalette()[: 3 * n]).reshape(n, 3), colors)
    rgba = np.asarray(image.convert("RGBA"))
    np.testing.assert_array_equal(rgba[:, :, :3], colors[indices])
    np.testing.assert_array_equal(rgba[:, :, 3], opacity[indices])


def test_the_standard_library_zlib_writes_the_same_image(monkeypatch):
    """Without isal (a platform with no wheel) the files are still right."""
    image = np.random.default_rng(0).integers(0, 256, (30, 50, 3), dtype=np.uint8)
    fast = encode_png(image)
    monkeypatch.setattr(png, "_deflate_module", zlib)
    plain = encode_png(image)
    assert plain != fast  # a different deflate, really used
    for data in (fast, plain):
        np.testing.assert_array_equal(np.asarray(_pil(data)), image)


def test_the_sub_filter_shrinks_a_photo():
    from helpers import small_photo

    photo = small_photo(scale=1)
    assert len(encode_png(photo, row_filter="sub")) < 0.8 * len(encode_png(photo))


def test_a_segmented_image_is_small():
    """k flat colours compress to a few percent of the raw pixels."""
    labels = np.repeat(np.arange(8, dtype=np.uint8), 20_000).reshape(400, 400)
    palette = np.random.default_rng(1).integers(0, 256, (8, 3), dtype=np.uint8)
    assert len(encode_png(palette[labels])) < 0.02 * labels.size * 3


@pytest.mark.parametrize(
    ("pixels", "kwargs", "message"),
    [
        (np.zeros((0, 4, 3), np.uint8), {}, "image"),
        (np.zeros((4, 4, 2), np.uint8), {}, "RGB"),
        (np.zeros((4, 4), np.float32), {}, "grey"),
        (np.zeros((4, 4, 3), np.uint8), {"palette": np.zeros((2, 3), np.uint8)}, "indices"),
        (np.zeros((4, 4), np.uint8), {"palette": np.zeros((257, 3), np.uint8)}, "256"),
        (np.zeros((4, 4), np.uint8), {"palette": np.zeros((2, 4), np.uint8)}, "palette"),
        (np.zeros((4, 4), np.uint8), {"alpha": np.zeros(2, np.uint8)}, "palette"),
        (np.zeros((4, 4), np.uint8), {"row_filter": "paeth"}, "row_filter"),
    ],
)
def test_what_it_cannot_write_is_refused(pixels, kwargs, message):
    with pytest.raises(ValueError, match=message):
        encode_png(pixels, **kwargs)


def test_a_stream_split_over_several_idat_chunks_decodes(monkeypatch):
    """Large images span several IDAT chunks (each holds at most 2**31 - 1 bytes)."""
    monkeypatch.setattr(png, "_IDAT_BYTES", 100)
    image = np.random.default_rng(2).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    encoded = encode_png(image)
    assert encoded.count(b"IDAT") > 3
    np.testing.assert_array_equal(np.asarray(_pil(encoded)), image)
    np.testing.assert_array_equal(_cv2(encoded)[:, :, ::-1], image)
