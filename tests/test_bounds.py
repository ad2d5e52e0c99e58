"""Limits on what one file may make a loader do (issue 24): bands, frames, pixels, memory;
truncated files refused by every loader; complex rasters named as an unsupported type."""

from __future__ import annotations

import io
import struct
import time

import numpy as np
import pytest
import rasterio
from affine import Affine
from helpers import UTM, write_tif
from PIL import Image
from rasterio.io import MemoryFile

from core.errors import ImageError
from core.explore.elbow import elbow
from core.explore.sweep import sweep
from core.inputs.bounds import (
    count_frames,
    file_format,
    gif_frame_pixels,
    is_jpeg_damage,
    jpeg_damage,
)
from core.inputs.display import stretch_rgb
from core.inputs.io import load_image, open_image
from core.inputs.raster import open_raster
from core.validation import FILE_LIMITS, MAX_KS_VALUES, check_ks

LOADERS = [load_image, open_image, open_raster]


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def gradient(height: int = 24, width: int = 32) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return np.dstack([x * 255 // width, y * 255 // height, (x + y) % 256]).astype(np.uint8)


def geotiff_bytes(data: np.ndarray, **profile) -> bytes:
    """(B, H, W) `data` as GeoTIFF bytes in UTM 33N."""
    count, height, width = data.shape
    with MemoryFile() as memfile:
        with memfile.open(
            driver="GTiff", height=height, width=width, count=count, dtype=str(data.dtype),
            crs="EPSG:32633", transform=UTM, **profile,
        ) as dst:  # fmt: skip
            dst.write(data)
        return bytes(memfile.read())


def tiff_set_tag(data: bytes, tag: int, value: int) -> bytes:
    """A little-endian TIFF with one SHORT or LONG tag of its first page set to `value`."""
    out = bytearray(data)
    (ifd,) = struct.unpack_from("<I", out, 4)
    for i in range(struct.unpack_from("<H", out, ifd)[0]):
        position = ifd + 2 + 12 * i
        found, kind = struct.unpack_from("<HH", out, position)
        if found == tag:
            struct.pack_into("<H" if kind == 3 else "<I", out, position + 8, value)
            return bytes(out)
    raise AssertionError(f"tag {tag} not found")


def gif_with_frames(frames: int, side: int = 16) -> bytes:
    """A GIF of `frames` copies of one `side` × `side` frame (built from bytes: fast)."""
    one = encode(Image.new("P", (side, side), 3), "GIF")
    start = one.index(b"\x2c", 13 + 3 * (2 << (one[10] & 7)))
    return one[:start] + one[start:-1] * frames + b"\x3b"


def jpeg_claiming(width: int, height: int, mode: str = "RGB") -> bytes:
    """A small JPEG whose frame header (SOF) claims `width` × `height`: data for a few rows."""
    data = bytearray(encode(Image.new(mode, (16, 16), 120 if mode == "L" else None), "JPEG"))
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def elapsed(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


# --- bands -----------------------------------------------------------------------------


def test_a_geotiff_declaring_34464_bands_is_refused_from_the_header_by_every_loader(tmp_path):
    small = geotiff_bytes(gradient(64, 64)[:, :, :1].transpose(2, 0, 1).copy())
    lying = tiff_set_tag(small, 277, 34_464)  # SamplesPerPixel
    assert len(lying) < 17_000
    path = tmp_path / "bands.tif"
    path.write_bytes(lying)
    for loader in LOADERS:
        for source in (path, lying):
            with pytest.raises(ImageError, match=r"34,464 bands, over the limit of 1,024 bands"):
                started = time.perf_counter()
                loader(source)
            assert time.perf_counter() - started < 5.0


def test_band_limit_admits_the_limit_itself(monkeypatch):
    data = np.arange(5 * 4 * 3, dtype=np.uint16).reshape(5, 4, 3)
    monkeypatch.setitem(FILE_LIMITS, "bands", 5)
    assert open_raster(geotiff_bytes(data)).n_bands == 5
    monkeypatch.setitem(FILE_LIMITS, "bands", 4)
    with pytest.raises(ImageError, match="the limit on bands"):
        open_raster(geotiff_bytes(data))


# --- frames ----------------------------------------------------------------------------


def test_frames_are_counted_from_the_structure_and_counting_stops_past_the_limit():
    gif = gif_with_frames(7)
    assert count_frames(gif, "GIF") == 7 == Image.open(io.BytesIO(gif)).n_frames
    assert gif_frame_pixels(gif) == (7, 7 * 16 * 16)
    assert count_frames(gif_with_frames(50), "GIF", limit=10) == 11
    pages = [Image.new("RGB", (4, 3), (i, 0, 0)) for i in range(5)]
    tiff = encode(pages[0], "TIFF", save_all=True, append_images=pages[1:])
    assert count_frames(tiff, file_format(tiff)) == 5
    webp = encode(pages[0], "WEBP", save_all=True, append_images=pages[1:], lossless=True)
    assert count_frames(webp, file_format(webp)) == Image.open(io.BytesIO(webp)).n_frames == 5
    assert count_frames(encode(pages[0], "PNG"), "PNG") == 1


def test_a_tiff_whose_pages_loop_counts_each_page_once():
    pages = [Image.new("RGB", (4, 3), (i, 0, 0)) for i in range(2)]
    data = bytearray(encode(pages[0], "TIFF", save_all=True, append_images=pages[1:]))
    first = struct.unpack_from("<I", data, 4)[0]
    second = struct.unpack_from(
        "<I", data, first + 2 + 12 * struct.unpack_from("<H", data, first)[0]
    )[0]
    end = second + 2 + 12 * struct.unpack_from("<H", data, second)[0]
    struct.pack_into("<I", data, end, first)  # page 2 points back to page 1
    assert count_frames(bytes(data), "TIFF") == 2


def test_a_gif_of_20000_frames_is_refused_fast_by_every_loader(tmp_path):
    data = gif_with_frames(20_000)
    path = tmp_path / "frames.gif"
    path.write_bytes(data)
    for loader in LOADERS:
        with pytest.raises(ImageError, match=r"more than 10,000 frames .*the limit on frames"):
            started = time.perf_counter()
            loader(path)
        assert time.perf_counter() - started < 5.0


def test_a_gif_of_10000_frames_still_loads_its_first():
    assert load_image(gif_with_frames(10_000)).shape == (16, 16, 3)


def test_open_raster_refuses_a_300_frame_4_mp_gif_before_gdal_decodes_every_frame():
    data = gif_with_frames(300, side=2000)
    started = time.perf_counter()
    with pytest.raises(ImageError, match=r"1\.2 GB of memory .*300 frames.*the limit on memory"):
        open_raster(data)
    assert time.perf_counter() - started < 5.0
    assert load_image(data).shape == (2000, 2000, 3)  # the first frame is all load_image needs


# --- memory ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "mode", "params", "per_pixel"),
    [
        ("PNG", "RGB", {}, 7),  # Pillow's 4 bytes + the result's 3
        ("PNG", "RGBA", {}, 8),  # + alpha
        ("PNG", "I;16", {}, 5),
        ("JPEG", "RGB", {}, 3),  # simplejpeg writes the result itself
        ("WEBP", "RGB", {"lossless": True}, 7),  # libwebp's buffer + the result
        ("WEBP", "RGBA", {"lossless": True}, 16),  # Pillow's three copies + result + alpha
        ("TIFF", "F", {}, 7),
    ],
)
def test_the_decode_memory_is_estimated_from_the_header(monkeypatch, fmt, mode, params, per_pixel):
    image = Image.new(mode, (40, 25), (10, 20, 30, 40)[: len(mode)] if "RGB" in mode else 7)
    data = encode(image, fmt, **params)
    monkeypatch.setitem(FILE_LIMITS, "memory", 40 * 25 * per_pixel)
    assert load_image(data).shape == (25, 40, 3)
    monkeypatch.setitem(FILE_LIMITS, "memory", 40 * 25 * per_pixel - 1)
    with pytest.raises(ImageError, match=r"40 × 25 pixels, about \d+ bytes each\), over the limit"):
        load_image(data)


def test_open_raster_reduces_to_fit_the_memory_limit_or_names_it(monkeypatch):
    data = np.arange(4 * 60 * 80, dtype=np.float32).reshape(4, 60, 80)
    source = geotiff_bytes(data)
    per_pixel = 4 * 4 + 2
    monkeypatch.setitem(FILE_LIMITS, "memory", 60 * 80 * per_pixel)
    assert open_raster(source).reduced_by == 1.0
    monkeypatch.setitem(FILE_LIMITS, "memory", 60 * 80 * per_pixel // 3)
    reduced = open_raster(source)
    assert reduced.reduced_by == 2.0 and reduced.data.shape == (4, 30, 40)
    assert "over the memory limit" in reduced.note
    with pytest.raises(ImageError, match=r"4 band\(s\) of float32 would take .* memory limit"):
        open_raster(source, on_large="error")
    assert open_raster(source, memory_limit=10**9).reduced_by == 1.0


def test_a_sparse_100k_by_100k_geotiff_is_refused_fast(tmp_path):
    path = tmp_path / "sparse.tif"
    with rasterio.open(
        path, "w", driver="GTiff", height=100_000, width=100_000, count=1, dtype="uint8",
        crs="EPSG:32633", transform=UTM, tiled=True, blockxsize=1024, blockysize=1024,
        compress="deflate", SPARSE_OK=True,
    ):  # fmt: skip
        pass
    assert path.stat().st_size < 400_000
    for loader in LOADERS:
        with pytest.raises(ImageError, match=r"10,000\.0 million file pixels.*the limit on pixels"):
            started = time.perf_counter()
            loader(path)
        assert time.perf_counter() - started < 5.0


def test_a_reduced_read_is_bounded_by_read_pixels_unless_overviews_serve_it(tmp_path, monkeypatch):
    path = write_tif(tmp_path / "scene.tif", np.ones((1, 64, 64), dtype=np.uint8))
    monkeypatch.setitem(FILE_LIMITS, "read_pixels", 1000)
    with pytest.raises(ImageError, match="Build overviews first"):
        open_raster(path, max_pixels=256)
    with rasterio.open(path, "r+") as dst:
        dst.build_overviews([2, 4])
    raster = open_raster(path, max_pixels=256)  # through the 1/4 overview: 256 file pixels
    assert raster.data.shape == (1, 16, 16) and "from the overviews" in raster.note


# --- truncated and damaged -------------------------------------------------------------


def test_a_692_byte_jpeg_claiming_10000_by_9999_is_refused_by_every_loader(tmp_path):
    data = jpeg_claiming(10_000, 9_999)
    assert len(data) < 1000
    path = tmp_path / "lie.jpg"
    path.write_bytes(data)
    assert "premature end" in jpeg_damage(data).lower()
    for loader in LOADERS:
        with pytest.raises(ImageError, match=r"truncated.*premature end of data segment"):
            loader(path)


@pytest.mark.parametrize("mode", ["L", "CMYK"])
def test_a_lying_grayscale_or_cmyk_jpeg_is_refused(mode):
    data = bytearray(encode(Image.new(mode, (16, 16)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, 900, 800)
    with pytest.raises(ImageError, match="truncated"):
        load_image(bytes(data))


def test_harmless_jpeg_warnings_still_load_as_pillow_decodes_them():
    data = encode(Image.fromarray(gradient()), "JPEG", quality=90)
    padded = data[:-2] + b"\x00\x00" + data[-2:]  # extraneous bytes before the EOI marker
    assert jpeg_damage(padded) is None
    with Image.open(io.BytesIO(padded)) as reference:
        np.testing.assert_array_equal(load_image(padded), np.asarray(reference.convert("RGB")))
    assert is_jpeg_damage("Corrupt JPEG data: bad Huffman code")
    assert not is_jpeg_damage("Corrupt JPEG data: bad ICC marker")


def test_grayscale_jpegs_and_webps_decode_as_pillow_does():
    pixels = gradient(37, 53)
    gray = encode(Image.fromarray(pixels[:, :, 0]), "JPEG", quality=85)
    for data in (
        gray,
        encode(Image.fromarray(pixels), "WEBP", quality=70),
        encode(Image.fromarray(pixels), "WEBP", lossless=True),
        encode(Image.fromarray(np.dstack([pixels, pixels[:, :, :1]])), "WEBP", quality=70),
    ):
        with Image.open(io.BytesIO(data)) as image:
            rgba = np.asarray(image.convert("RGBA")).astype(np.uint16)
        alpha = rgba[:, :, 3:]
        expected = (rgba[:, :, :3] * alpha + 255 * (255 - alpha) + 127) // 255
        np.testing.assert_array_equal(load_image(data), expected)


def test_open_raster_refuses_a_png_with_data_for_10_of_9999_rows(tmp_path):
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    rows = b"".join(b"\x00" + bytes(range(100)) for _ in range(10))
    header = struct.pack(">IIBBBBB", 100, 9_999, 8, 0, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
    data += chunk(b"IEND", b"")
    assert len(data) < 400
    path = tmp_path / "short.png"
    path.write_bytes(data)
    for source in (path, data):
        with pytest.raises(ImageError, match=r"truncated: its header promises 100 × 9,999"):
            open_raster(source)


def test_a_tiff_whose_strips_cover_part_of_its_height_is_refused():
    data = tiff_set_tag(encode(Image.fromarray(gradient()), "TIFF"), 257, 900)  # ImageLength
    with pytest.raises(ImageError, match=r"truncated: its header promises 32 × 900"):
        load_image(data)


def test_a_geotiff_with_corrupt_jpeg_tiles_is_refused_when_read():
    clean = geotiff_bytes(
        np.moveaxis(gradient(64, 64), 2, 0).copy(), compress="jpeg", tiled=True,
        blockxsize=16, blockysize=16,
    )  # fmt: skip
    assert open_raster(clean).data.shape == (3, 64, 64)
    damaged = bytearray(clean)
    middle = len(damaged) // 2  # inside the tiles' entropy-coded data
    damaged[middle : middle + 400] = b"\x00" * 400
    with pytest.raises(ImageError, match="truncated or damaged"):
        open_raster(bytes(damaged))


@pytest.mark.parametrize("dtype", ["complex64", "complex128", "complex_int16"])
def test_complex_rasters_are_an_unsupported_data_type_not_damaged(tmp_path, dtype):
    path = tmp_path / "complex.tif"
    with rasterio.open(
        path, "w", driver="GTiff", height=8, width=8, count=1, dtype=dtype,
        crs="EPSG:32633", transform=Affine(10.0, 0.0, 500_000.0, 0.0, -10.0, 4_200_000.0),
    ):  # fmt: skip
        pass
    for loader in LOADERS:
        with pytest.raises(ImageError, match=rf"complex values \({dtype}\), an unsupported"):
            loader(path)


# --- the display image of a georeferenced file -----------------------------------------


def test_the_display_image_in_strips_equals_stretch_rgb():
    rng = np.random.default_rng(3)
    data = rng.normal(1000, 300, size=(4, 1100, 4000)).astype(np.float32)
    data[:, :20] = -9999  # no data in the first rows
    loaded = open_image(geotiff_bytes(data, nodata=-9999))
    assert loaded.raster.n_pixels > 4 << 20  # the strips' path
    np.testing.assert_array_equal(
        loaded.rgb[loaded.raster.valid], stretch_rgb(loaded.raster)[loaded.raster.valid]
    )
    assert (loaded.rgb[:20] == 255).all()  # no data shows as white


# --- ranges of k -----------------------------------------------------------------------


@pytest.mark.parametrize("call", [check_ks, elbow, sweep])
def test_ten_million_ks_are_refused_at_once(call):
    image = np.zeros((4, 4, 3), dtype=np.uint8)
    args = (range(1, 10**7),) if call is check_ks else (image, range(1, 10**7))
    started = time.perf_counter()
    with pytest.raises(ValueError, match=r"9,999,999 values, over the limit of 65,536"):
        call(*args)
    assert time.perf_counter() - started < 0.5
    started = time.perf_counter()
    with pytest.raises(ValueError, match=r"more than 65,536 values"):
        check_ks(k for k in range(1, 10**7))  # no length: taken one past the limit
    assert time.perf_counter() - started < 0.5
    assert check_ks([2] * MAX_KS_VALUES) == [2]


def test_a_lying_progressive_jpeg_is_refused_before_libjpeg_holds_its_coefficients():
    data = bytearray(encode(Image.fromarray(gradient()), "JPEG", progressive=True))
    sof = data.index(b"\xff\xc2")
    struct.pack_into(">HH", data, sof + 5, 20_000, 20_000)  # 400 MP: 2.4 GB of coefficients
    started = time.perf_counter()
    with pytest.raises(ImageError, match=r"progressive JPEG of 20,000 × 20,000.*limit on memory"):
        open_raster(bytes(data))
    with pytest.raises(ImageError, match="decompression bomb"):
        load_image(bytes(data))
    assert time.perf_counter() - started < 1.0
