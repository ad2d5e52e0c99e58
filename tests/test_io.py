"""load_image / open_image: every format and odd mode we accept, every file we refuse."""

from __future__ import annotations

import io
import struct
import time
import zlib

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from core.errors import ImageError
from core.inputs.io import DEFAULT_MAX_PIXELS, load_image, open_image


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


@pytest.fixture
def rgb() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(12, 17, 3), dtype=np.uint8)


@pytest.mark.parametrize(
    ("fmt", "params"),
    [("PNG", {}), ("BMP", {}), ("TIFF", {}), ("WEBP", {"lossless": True}), ("PPM", {})],
)
def test_lossless_formats_round_trip_exactly(rgb, fmt, params):
    data = encode(Image.fromarray(rgb), fmt, **params)
    loaded = open_image(data)
    np.testing.assert_array_equal(loaded.rgb, rgb)
    assert loaded.rgb.flags.c_contiguous and loaded.rgb.dtype == np.uint8
    assert loaded.alpha is None and loaded.n_frames == 1


def test_jpeg_is_close():
    y, x = np.mgrid[0:48, 0:64]
    smooth = np.dstack([x * 4, y * 5, (x + y) * 2]).astype(np.uint8)
    loaded = load_image(encode(Image.fromarray(smooth), "JPEG", quality=95))
    assert np.abs(loaded.astype(int) - smooth).mean() < 4


def test_path_bytes_and_file_object_agree(rgb, tmp_path):
    data = encode(Image.fromarray(rgb), "PNG")
    path = tmp_path / "photo.png"
    path.write_bytes(data)
    by_path = open_image(path)
    assert by_path.name == "photo.png" and by_path.format == "PNG"
    np.testing.assert_array_equal(load_image(str(path)), by_path.rgb)
    np.testing.assert_array_equal(load_image(data), by_path.rgb)
    np.testing.assert_array_equal(load_image(bytearray(data)), by_path.rgb)
    with path.open("rb") as handle:
        np.testing.assert_array_equal(load_image(handle), by_path.rgb)
    np.testing.assert_array_equal(load_image(io.BytesIO(data)), by_path.rgb)


def test_grayscale_becomes_three_equal_channels():
    gray = np.arange(60, dtype=np.uint8).reshape(6, 10) * 4
    loaded = load_image(encode(Image.fromarray(gray), "PNG"))
    assert loaded.shape == (6, 10, 3)
    for channel in range(3):
        np.testing.assert_array_equal(loaded[:, :, channel], gray)


def test_sixteen_bit_grayscale_is_scaled_not_clipped():
    values = np.array([[0, 257, 32768, 65535]], dtype=np.uint16)
    ok, png = cv2.imencode(".png", values)
    assert ok
    loaded = open_image(png.tobytes())
    assert loaded.mode.startswith("I")
    np.testing.assert_allclose(loaded.rgb[0, :, 0], [0, 1, 128, 255], atol=1)


def test_sixteen_bit_rgb_is_scaled_not_clipped():
    bgr = np.zeros((1, 3, 3), dtype=np.uint16)
    bgr[0, :, 2] = [1000, 32768, 65535]  # the red channel, in OpenCV's BGR order
    ok, png = cv2.imencode(".png", bgr)
    assert ok
    loaded = load_image(png.tobytes())
    np.testing.assert_allclose(loaded[0, :, 0], [4, 128, 255], atol=1)
    np.testing.assert_array_equal(loaded[0, :, 1:], 0)


def test_float_and_one_bit_images():
    ramp = np.linspace(0, 1, 11, dtype=np.float32).reshape(1, 11)
    loaded = load_image(encode(Image.fromarray(ramp, mode="F"), "TIFF"))
    np.testing.assert_allclose(loaded[0, :, 0], np.rint(ramp[0] * 255), atol=1)
    bits = Image.fromarray(np.array([[0, 255, 0, 255]], dtype=np.uint8)).convert("1")
    np.testing.assert_array_equal(load_image(encode(bits, "PNG"))[0, :, 0], [0, 255, 0, 255])


def test_alpha_is_composited_over_white_and_kept():
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    rgba[0, 0] = (200, 10, 10, 255)  # opaque red
    rgba[0, 1] = (0, 0, 0, 0)  # fully transparent
    rgba[1, 0] = (0, 0, 0, 128)  # half-transparent black
    rgba[1, 1] = (10, 200, 10, 255)
    loaded = open_image(encode(Image.fromarray(rgba, mode="RGBA"), "PNG"))
    assert loaded.rgb[0, 0].tolist() == [200, 10, 10]
    assert loaded.rgb[0, 1].tolist() == [255, 255, 255]
    np.testing.assert_allclose(loaded.rgb[1, 0], [127, 127, 127], atol=1)
    np.testing.assert_array_equal(loaded.alpha, rgba[:, :, 3])


def test_opaque_alpha_channel_is_dropped():
    rgba = np.full((3, 3, 4), 255, dtype=np.uint8)
    assert open_image(encode(Image.fromarray(rgba, mode="RGBA"), "PNG")).alpha is None


def test_palette_with_transparency():
    palette_image = Image.new("P", (4, 1))
    palette_image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    palette_image.putdata([0, 1, 0, 1])
    loaded = open_image(encode(palette_image, "PNG", transparency=1))
    assert loaded.mode == "P"
    assert loaded.rgb[0].tolist() == [[255, 0, 0], [255, 255, 255]] * 2
    assert loaded.alpha.tolist() == [[255, 0, 255, 0]]


def test_cmyk_jpeg_becomes_rgb():
    cmyk = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # pure red in print terms
    loaded = open_image(encode(cmyk, "JPEG", quality=95))
    assert loaded.mode == "CMYK"
    red, green, blue = loaded.rgb.reshape(-1, 3).mean(axis=0)
    assert red > 200 and green < 60 and blue < 60


def test_animated_gif_gives_first_frame():
    frames = [Image.new("RGB", (5, 5), color) for color in [(255, 0, 0), (0, 0, 255)]]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    loaded = open_image(data)
    assert loaded.n_frames == 2
    red, _, blue = loaded.rgb[2, 2]
    assert red > 200 and blue < 50


def test_multi_page_tiff_gives_first_page():
    pages = [Image.new("RGB", (4, 3), color) for color in [(0, 255, 0), (255, 0, 0)]]
    loaded = open_image(encode(pages[0], "TIFF", save_all=True, append_images=pages[1:]))
    assert loaded.n_frames == 2
    assert loaded.rgb[0, 0].tolist() == [0, 255, 0]


def test_exif_orientation_is_applied_like_a_browser():
    image = np.zeros((10, 20, 3), dtype=np.uint8)
    image[:, :10] = 255  # white on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    data = encode(Image.fromarray(image), "JPEG", quality=95, exif=exif)
    loaded = load_image(data)
    assert loaded.shape == (20, 10, 3)
    assert loaded[:5].mean() > 200 and loaded[-5:].mean() < 50  # left became top


@settings(max_examples=30, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(1, 9), st.integers(1, 9), st.just(3))))
def test_png_round_trip_property(pixels):
    np.testing.assert_array_equal(load_image(encode(Image.fromarray(pixels), "PNG")), pixels)


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge image (the body is a few bytes of zeros)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 1024))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("side", [20_000, 60_000])
def test_decompression_bomb_refused_from_header_quickly(side):
    bomb = png_header_only(side, side)
    assert len(bomb) < 1000
    started = time.perf_counter()
    with pytest.raises(ImageError, match=r"(over the limit|decompression bomb)"):
        load_image(bomb)
    assert time.perf_counter() - started < 1.0


def test_default_limit_admits_a_50_megapixel_photo_and_max_pixels_is_honoured(rgb):
    assert DEFAULT_MAX_PIXELS >= 8688 * 5792
    data = encode(Image.fromarray(rgb), "PNG")
    with pytest.raises(ImageError, match=r"17 × 12 = 204 pixels, over the limit of 100"):
        load_image(data, max_pixels=100)
    with pytest.raises(ValueError, match="max_pixels must be a positive integer"):
        load_image(data, max_pixels=0)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "is empty"),
        (b"<!DOCTYPE html><html><body>404</body></html>", "web page"),
        (b"just some text, not a picture\n" * 5, "not an image we can read"),
        (bytes(np.random.default_rng(1).integers(0, 256, 3000, dtype=np.uint8)), "not an image"),
        (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"></svg>', "SVG"),
        (b"<svg width='10'></svg>", "SVG"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "HEIC"),
        (b"%PDF-1.7\n%...", "PDF"),
    ],
)
def test_refusals_say_what_is_wrong_and_what_to_do(data, match):
    with pytest.raises(ImageError, match=match) as caught:
        load_image(data)
    message = str(caught.value)
    assert "object at 0x" not in message and "Traceback" not in message
    assert message.endswith(".")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_file_is_refused(rgb, fmt):
    big = cv2.resize(rgb, (300, 200), interpolation=cv2.INTER_NEAREST)
    data = encode(Image.fromarray(big), fmt)
    with pytest.raises(ImageError, match=r"(truncated|damaged)"):
        load_image(data[: len(data) // 2])


def test_corrupt_body_is_refused(rgb):
    data = bytearray(encode(Image.fromarray(rgb), "PNG"))
    data[60:80] = b"\xff" * 20  # inside the compressed pixel data
    with pytest.raises(ImageError, match=r"(damaged|truncated)"):
        load_image(bytes(data))


def test_missing_paths_and_folders(tmp_path):
    with pytest.raises(ImageError, match=r"'nope\.png' was not found"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(ImageError, match="is a folder"):
        load_image(tmp_path)
    with pytest.raises(ImageError, match=r"'named\.png' is empty"):
        (tmp_path / "named.png").write_bytes(b"")
        load_image(tmp_path / "named.png")


def test_errors_are_value_errors_and_bad_sources_type_errors():
    assert issubclass(ImageError, ValueError)
    with pytest.raises(TypeError, match="path, bytes or a binary file object"):
        load_image(12345)
    with pytest.raises(TypeError, match="binary mode"):
        load_image(io.StringIO("text"))


# --- hardening (issue 10) ------------------------------------------------------------


def _tiff_ifds(data: bytearray) -> list[int]:
    offset, found = struct.unpack_from("<I", data, 4)[0], []
    while offset:
        found.append(offset)
        count = struct.unpack_from("<H", data, offset)[0]
        offset = struct.unpack_from("<I", data, offset + 2 + 12 * count)[0]
    return found


def _tiff_retag(data: bytearray, page: int, tag: int, *, new_tag=None, new_type=None) -> None:
    """Change one tag's id or type in place (little-endian TIFF)."""
    offset = _tiff_ifds(data)[page]
    for i in range(struct.unpack_from("<H", data, offset)[0]):
        position = offset + 2 + 12 * i
        if struct.unpack_from("<H", data, position)[0] == tag:
            if new_tag is not None:
                struct.pack_into("<H", data, position, new_tag)
            if new_type is not None:
                struct.pack_into("<H", data, position + 2, new_type)
            return
    raise AssertionError(f"tag {tag} not found")


def _two_page_tiff() -> bytearray:
    pages = [Image.new("RGB", (4, 3), color) for color in [(0, 255, 0), (255, 0, 0)]]
    return bytearray(encode(pages[0], "TIFF", save_all=True, append_images=pages[1:]))


def test_tiff_whose_later_page_lacks_a_width_still_gives_its_first_page():
    # Pillow raises TypeError("Missing dimensions") when counting the pages.
    data = _two_page_tiff()
    _tiff_retag(data, 1, 256, new_tag=0x7FFF)  # page 2 loses ImageWidth
    loaded = open_image(bytes(data))
    assert loaded.rgb[0, 0].tolist() == [0, 255, 0]


def test_tiff_with_rational_strip_offsets_is_an_image_error():
    # Pillow raises TypeError("'IFDRational' object cannot be interpreted as an integer").
    data = _two_page_tiff()
    _tiff_retag(data, 0, 273, new_type=5)  # StripOffsets typed RATIONAL
    with pytest.raises(ImageError, match="is damaged or incomplete"):
        load_image(bytes(data))


def test_png_with_damaged_header_says_damaged_not_unknown_format(rgb):
    data = bytearray(encode(Image.fromarray(rgb), "PNG"))
    data[29] ^= 0xFF  # the IHDR checksum
    with pytest.raises(ImageError, match="starts like a PNG file but is damaged"):
        load_image(bytes(data))


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_with_rows(width: int, height: int, rows: int, *, interlace: int = 0) -> bytes:
    """An RGB PNG whose header says `height` rows but whose data holds `rows` of them."""
    raw = b"".join(b"\x00" + bytes([200, 100, 50]) * width for _ in range(rows))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, interlace)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw))
        + _chunk(b"IEND", b"")
    )


def test_png_whose_header_lies_about_its_size_is_refused_quickly():
    lying = png_with_rows(100_000, 500, 3)
    assert len(lying) < 2000
    started = time.perf_counter()
    with pytest.raises(ImageError, match=r"truncated: its header promises 100,000 × 500"):
        load_image(lying)
    assert time.perf_counter() - started < 1.0
    assert load_image(png_with_rows(7, 5, 5)).shape == (5, 7, 3)  # complete: accepted


@pytest.mark.parametrize("rows_kept", [0.25, 0.5, 0.99])
def test_truncated_png_data_is_refused_even_interlaced(rgb, rows_kept):
    for interlace in (0, 1):
        data = encode(Image.fromarray(np.tile(rgb, (8, 8, 1))), "PNG", interlace=interlace)
        idat = data.index(b"IDAT") - 4
        (length,) = struct.unpack(">I", data[idat : idat + 4])
        body = data[idat + 8 : idat + 8 + length]
        inflated = zlib.decompress(body)
        cut = zlib.compress(inflated[: int(len(inflated) * rows_kept)])
        damaged = data[:idat] + _chunk(b"IDAT", cut) + _chunk(b"IEND", b"")
        with pytest.raises(ImageError, match="truncated"):
            load_image(damaged)


def test_truncated_files_are_refused_even_if_pillow_was_told_to_accept_them(rgb, monkeypatch):
    from PIL import ImageFile

    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    big = cv2.resize(rgb, (300, 200), interpolation=cv2.INTER_NEAREST)
    data = encode(Image.fromarray(big), "JPEG")
    with pytest.raises(ImageError, match=r"(truncated|damaged)"):
        load_image(data[: len(data) // 2])


def test_float_images_with_nan_and_inf_scale_by_their_finite_range():
    values = np.array([[0.0, 2.0, 4.0, np.inf, -np.inf, np.nan]], dtype=np.float32)
    loaded = load_image(encode(Image.fromarray(values, mode="F"), "TIFF"))
    assert loaded[0, :, 0].tolist() == [0, 128, 255, 255, 0, 0]
    nothing = np.full((2, 3), np.nan, dtype=np.float32)
    with pytest.raises(ImageError, match="no finite pixel values"):
        load_image(encode(Image.fromarray(nothing, mode="F"), "TIFF"))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_pillow(orientation):
    from PIL import ImageOps

    image = np.random.default_rng(orientation).integers(0, 256, (6, 9, 4), dtype=np.uint8)
    image[..., 3] = np.maximum(image[..., 3], 1)
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(Image.fromarray(image, mode="RGBA"), "PNG", exif=exif)
    loaded = open_image(data)
    expected = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    np.testing.assert_array_equal(loaded.alpha, np.asarray(expected)[..., 3])
    reference = open_image(encode(expected, "PNG")).rgb
    np.testing.assert_array_equal(loaded.rgb, reference)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_of_a_jpeg_matches_pillow(orientation):
    # A plain RGB JPEG is decoded by simplejpeg; its EXIF orientation comes from the header.
    from PIL import ImageOps

    image = np.random.default_rng(orientation).integers(0, 256, (6, 9, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(Image.fromarray(image), "JPEG", quality=95, exif=exif)
    with Image.open(io.BytesIO(data)) as decoded:
        expected = np.asarray(ImageOps.exif_transpose(decoded).convert("RGB"))
    np.testing.assert_array_equal(open_image(data).rgb, expected)


def test_wide_strips_convert_like_the_whole_image(monkeypatch):
    """Band-by-band conversion gives the same pixels as converting in one go."""
    import core.inputs.io

    rng = np.random.default_rng(3)
    rgba = rng.integers(0, 256, (37, 23, 4), dtype=np.uint8)
    gray16 = rng.integers(0, 65536, (37, 23), dtype=np.uint16)
    files = [encode(Image.fromarray(rgba, mode="RGBA"), "PNG"), cv2.imencode(".png", gray16)[1]]
    whole = [open_image(bytes(f)) for f in files]
    monkeypatch.setattr(core.inputs.io, "_STRIP_PIXELS", 50)  # two rows per band
    for data, reference in zip(files, whole, strict=True):
        banded = open_image(bytes(data))
        np.testing.assert_array_equal(banded.rgb, reference.rgb)
    np.testing.assert_array_equal(whole[1].rgb[..., 0], np.rint(gray16 / 257).astype(np.uint8))


@settings(max_examples=60, deadline=None)
@given(
    height=st.integers(1, 40),
    width=st.integers(1, 40),
    seed=st.integers(0, 2**32 - 1),
    quality=st.sampled_from([60, 95]),
    subsampling=st.sampled_from([0, 1, 2]),  # 4:4:4, 4:2:2, 4:2:0
    progressive=st.booleans(),
    smooth=st.booleans(),
)
def test_an_rgb_jpeg_loads_as_pillow_decodes_it_into_a_writable_array(
    height, width, seed, quality, subsampling, progressive, smooth
):
    # core.inputs.io decodes a plain RGB JPEG with simplejpeg (libjpeg-turbo straight into NumPy):
    # the same pixels as Pillow's, whatever the subsampling and partial 8 x 8 or 16 x 16
    # blocks at the edges, and an array the caller may write to.
    from unittest import mock

    from core.inputs import io as core_io

    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    if smooth:  # smooth gradients, where upsampling differences would show
        pixels = cv2.GaussianBlur(pixels, (0, 0), 3)
    data = encode(
        Image.fromarray(pixels),
        "JPEG",
        quality=quality,
        subsampling=subsampling,
        progressive=progressive,
    )
    decoded = []
    fast = core_io._jpeg_rgb
    with mock.patch.object(
        core_io, "_jpeg_rgb", lambda *a: decoded.append(fast(*a)) or decoded[-1]
    ):
        loaded = load_image(io.BytesIO(data))
    assert decoded and decoded[0] is not None  # by simplejpeg, not by Pillow
    with Image.open(io.BytesIO(data)) as reference:
        np.testing.assert_array_equal(loaded, np.asarray(reference.convert("RGB")))
    assert loaded.flags.writeable and loaded.flags.c_contiguous
    loaded[0, 0] = 7
