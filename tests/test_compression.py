"""Palette compression: indexed PNGs decode to the segmented image; PSNR is right."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image

from core.explore.compression import compress, indexed_png
from core.results.segmentation import segment


@pytest.mark.parametrize("k", [2, 3, 5, 17])
def test_indexed_png_decodes_to_the_segmented_image(photo, k):
    seg = segment(photo, k)
    png = Image.open(io.BytesIO(indexed_png(seg)))
    assert png.mode == "P"
    np.testing.assert_array_equal(np.asarray(png.convert("RGB")), seg.segmented)


def test_compression_numbers(photo):
    seg = segment(photo, 4)
    result = compress(photo, seg)
    mse = np.mean((photo.astype(float) - seg.segmented) ** 2)
    assert result.psnr == pytest.approx(10 * math.log10(255**2 / mse))
    assert result.index_bits == 2
    assert result.indexed_bytes < result.original_bytes and result.ratio > 1
    assert result.bits_per_pixel == pytest.approx(8 * result.indexed_bytes / photo[..., 0].size)
    more = compress(photo, segment(photo, 12))
    assert more.psnr > result.psnr


def test_exact_palette_has_infinite_psnr(blocks):
    assert compress(blocks, segment(blocks, 4)).psnr == math.inf
    with pytest.raises(ValueError, match="does not match"):
        compress(blocks[:3], segment(blocks, 4))
