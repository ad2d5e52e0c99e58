"""Fuzzing the loading funnel: whatever bytes arrive, ``load_image`` returns a valid image
or raises :class:`ImageError` — never another exception, never a crash.

A seeded mutator (bit flips, truncation, duplicated and deleted chunks, lying header sizes)
runs over small files in every format we accept. CI runs a few hundred cases; set
``KSEG_FUZZ_CASES`` (e.g. 20000) to run more, and ``KSEG_FUZZ_SEED`` to explore elsewhere.
"""

from __future__ import annotations

import io
import os
import struct
import time
import zlib

import numpy as np
import pytest
from PIL import Image

from core.errors import ImageError
from core.inputs.io import load_image

CASES = int(os.environ.get("KSEG_FUZZ_CASES", "400"))
SEED = int(os.environ.get("KSEG_FUZZ_SEED", "20261201"))
#: Small enough that a mutated header cannot make a case slow.
MAX_PIXELS = 1 << 20


def _encode(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def seed_files() -> dict[str, bytes]:
    """Small valid files in every format and odd mode the funnel handles."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:24, 0:32]
    rgb = np.dstack([x * 8, y * 10, (x + y) * 4]).astype(np.uint8)
    rgb[::5, ::7] = rng.integers(0, 256, size=(5, 5, 3), dtype=np.uint8)
    photo = Image.fromarray(rgb)
    rgba = np.dstack([rgb, (x * 8).astype(np.uint8)])
    gray16 = (x * 2000 + y).astype(np.uint16)
    pages = [photo, Image.fromarray(255 - rgb)]
    exif = Image.Exif()
    exif[0x0112] = 6
    return {
        "png": _encode(photo, "PNG"),
        "png_interlaced": _encode(photo, "PNG", interlace=1),
        "png_rgba": _encode(Image.fromarray(rgba, mode="RGBA"), "PNG"),
        "png_16": _encode(Image.fromarray(gray16), "PNG"),
        "png_palette": _encode(photo.quantize(16), "PNG", transparency=3),
        "jpeg": _encode(photo, "JPEG", quality=90, exif=exif),
        "jpeg_progressive": _encode(photo, "JPEG", quality=80, progressive=True),
        "gif": _encode(photo, "GIF", save_all=True, append_images=pages[1:]),
        "tiff_pages": _encode(photo, "TIFF", save_all=True, append_images=pages[1:]),
        "tiff_float": _encode(Image.fromarray(x.astype(np.float32) / 31), "TIFF"),
        "tiff_deflate": _encode(photo, "TIFF", compression="tiff_adobe_deflate", dpi=(72, 72)),
        "bmp": _encode(photo, "BMP"),
        "webp": _encode(photo, "WEBP", quality=80),
        "ppm": _encode(photo, "PPM"),
    }


def _png_chunks(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each PNG chunk after the signature."""
    spans, position = [], 8
    while position + 12 <= len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        end = min(len(data), position + 12 + length)
        spans.append((position, end))
        position = end
    return spans


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    """One random, structure-aware mutation of `data`."""
    out = bytearray(data)
    kind = rng.integers(7)
    if kind == 0:  # flip a few bits
        for _ in range(int(rng.integers(1, 9))):
            position = int(rng.integers(len(out)))
            out[position] ^= 1 << int(rng.integers(8))
    elif kind == 1:  # truncate
        out = out[: int(rng.integers(1, len(out)))]
    elif kind == 2:  # duplicate a span (a chunk, for PNG)
        spans = _png_chunks(data) if data.startswith(b"\x89PNG") else []
        if spans:
            start, end = spans[int(rng.integers(len(spans)))]
        else:
            start = int(rng.integers(len(out)))
            end = min(len(out), start + int(rng.integers(1, 256)))
        out[end:end] = out[start:end]
    elif kind == 3:  # delete a span
        start = int(rng.integers(len(out)))
        del out[start : start + int(rng.integers(1, 128))]
    elif kind == 4:  # a lying size field near the start
        position = int(rng.integers(0, max(1, min(len(out) - 4, 256))))
        value = int(rng.choice([0, 1, 2, 255, 65535, 2**31 - 1, 2**32 - 1, 100_000]))
        out[position : position + 4] = struct.pack(">I", value)
    elif kind == 5 and data.startswith(b"\x89PNG"):  # a PNG header with other sizes, valid CRC
        width, height = (int(v) for v in rng.integers(1, 5000, size=2))
        body = struct.pack(">II", width, height) + bytes(out[24:29])
        chunk = b"IHDR" + body
        out[8:33] = struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
    else:  # random bytes over a random span
        start = int(rng.integers(len(out)))
        size = int(rng.integers(1, 64))
        out[start : start + size] = rng.integers(0, 256, size=size, dtype=np.uint8).tobytes()
    return bytes(out)


def check(data: bytes) -> None:
    try:
        image = load_image(data, max_pixels=MAX_PIXELS)
    except ImageError as error:
        message = str(error)
        assert message and "Traceback" not in message and " object at 0x" not in message
        return
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert image.shape[0] >= 1 and image.shape[1] >= 1 and image.flags.c_contiguous


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", sorted(seed_files()))
def test_mutated_files_load_or_raise_image_error(name):
    data = seed_files()[name]
    check(data)  # the seed itself loads
    rng = np.random.default_rng([SEED, sorted(seed_files()).index(name)])
    per_seed = max(1, CASES // len(seed_files()))
    for case in range(per_seed):
        mutated = mutate(data, rng)
        try:
            check(mutated)
        except Exception as error:  # say which case, so it can be replayed
            raise AssertionError(
                f"{name} case {case} (seed {SEED}) escaped: {type(error).__name__}: {error}"
            ) from error


# --- lies about bands, frames and size (issue 24) ----------------------------------------
#
# Each mutation below is a lie a small file can tell: more bands, more frames or a larger
# size than its data holds. Every loader (load_image, open_raster) must end each case fast
# with a valid image or an ImageError; a lie about size must be an ImageError (the data
# cannot fill what the header claims). ``KSEG_FUZZ_LIES`` sets the cases per seed file.

LIES = int(os.environ.get("KSEG_FUZZ_LIES", "8"))
#: Seconds one case may take (the issue's bound is 20 s for any file; these are tiny).
CASE_SECONDS = 5.0
#: Sizes a lying header claims: each far beyond what the data of a 32 × 24 image fills.
LYING_SIDES = (900, 4_000, 20_000, 65_535)


def _geotiff(bands: np.ndarray, **profile) -> bytes:
    from affine import Affine
    from rasterio.io import MemoryFile

    count, height, width = bands.shape
    with MemoryFile() as memfile:
        with memfile.open(
            driver="GTiff", height=height, width=width, count=count, dtype=str(bands.dtype),
            crs="EPSG:32633", transform=Affine(10.0, 0.0, 500_000.0, 0.0, -10.0, 4_200_000.0),
            **profile,
        ) as dst:  # fmt: skip
            dst.write(bands)
        return bytes(memfile.read())


def lie_seeds() -> dict[str, bytes]:
    """Small valid files in the formats whose headers the lies below rewrite."""
    y, x = np.mgrid[0:24, 0:32]
    rgb = np.dstack([x * 8, y * 10, (x + y) * 4]).astype(np.uint8)
    photo = Image.fromarray(rgb)
    frames = [photo, Image.fromarray(255 - rgb), Image.fromarray(rgb[::-1].copy())]
    bands = np.moveaxis(rgb, 2, 0).copy()
    return {
        "tiff": _encode(photo, "TIFF"),
        "tiff_deflate": _encode(photo, "TIFF", compression="tiff_adobe_deflate"),
        "tiff_pages": _encode(photo, "TIFF", save_all=True, append_images=frames[1:]),
        "geotiff": _geotiff(bands),
        "geotiff_tiled_float": _geotiff(
            bands.astype(np.float32),
            tiled=True,
            blockxsize=16,
            blockysize=16,
            compress="deflate",
        ),
        "gif": _encode(photo, "GIF", save_all=True, append_images=frames[1:]),
        "webp": _encode(photo, "WEBP", quality=80),
        "webp_lossless": _encode(photo, "WEBP", lossless=True),
        "webp_animated": _encode(photo, "WEBP", save_all=True, append_images=frames[1:]),
        "jpeg": _encode(photo, "JPEG", quality=90),
        "jpeg_progressive": _encode(photo, "JPEG", quality=80, progressive=True),
        "png": _encode(photo, "PNG"),
    }


def _tiff_lie(data: bytes, tags: tuple[int, ...], value: int) -> bytes:
    """Every page's `tags` (SHORT or LONG) set to `value` (little-endian classic TIFF)."""
    out = bytearray(data)
    offset, seen = struct.unpack_from("<I", data, 4)[0], set()
    while offset and offset not in seen and offset + 2 <= len(data):
        seen.add(offset)
        count = struct.unpack_from("<H", data, offset)[0]
        for position in range(offset + 2, offset + 2 + 12 * count, 12):
            tag, kind = struct.unpack_from("<HH", data, position)
            if tag in tags and kind in (3, 4):
                struct.pack_into("<H" if kind == 3 else "<I", out, position + 8, value)
        offset = struct.unpack_from("<I", data, offset + 2 + 12 * count)[0]
    return bytes(out)


def _gif_frames(data: bytes) -> tuple[int, list[tuple[int, int]]]:
    """Where a GIF's first block starts, and (start, end) of each frame: its extensions
    (graphic control) and its image."""
    position = 13 + (3 * (2 << (data[10] & 7)) if data[10] & 0x80 else 0)
    first, spans, start = position, [], position
    while data[position] in (0x21, 0x2C):
        image = data[position] == 0x2C
        if image:
            packed = data[position + 9]
            position += 10 + (3 * (2 << (packed & 7)) if packed & 0x80 else 0) + 1
        else:
            position += 2
        while data[position]:
            position += data[position] + 1
        position += 1
        if image:
            spans.append((start, position))
            start = position
    return first, spans


def _riff(chunks: list[tuple[bytes, bytes]]) -> bytes:
    body = b"WEBP" + b"".join(
        kind + struct.pack("<I", len(payload)) + payload + b"\x00" * (len(payload) & 1)
        for kind, payload in chunks
    )
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _webp_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    chunks, position = [], 12
    while position + 8 <= len(data):
        kind = data[position : position + 4]
        (length,) = struct.unpack_from("<I", data, position + 4)
        chunks.append((kind, data[position + 8 : position + 8 + length]))
        position += 8 + length + (length & 1)
    return chunks


def _webp_size_lie(data: bytes, width: int, height: int) -> bytes:
    """Every size field of a WebP (canvas, frames, bitstream) set to `width` × `height`."""
    chunks = []
    for kind, payload in _webp_chunks(data):
        body = bytearray(payload)
        if kind == b"VP8X":  # 24-bit canvas width - 1 and height - 1
            body[4:10] = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
        elif kind == b"ANMF":  # 24-bit frame width - 1, height - 1 after x, y
            body[6:12] = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
            inner = _webp_size_lie(b"RIFF\0\0\0\0WEBP" + bytes(body[16:]), width, height)
            body[16:] = inner[12:]
        elif kind == b"VP8 " and len(body) >= 10:  # 14-bit width and height after the tag
            scale = struct.unpack_from("<HH", body, 6)
            struct.pack_into(
                "<HH", body, 6, (scale[0] & 0xC000) | (width & 0x3FFF),
                (scale[1] & 0xC000) | (height & 0x3FFF),
            )  # fmt: skip
        elif kind == b"VP8L" and len(body) >= 5:  # 14 bits width - 1, 14 bits height - 1
            (bits,) = struct.unpack_from("<I", body, 1)
            bits = (bits & ~0x0FFFFFFF) | ((width - 1) & 0x3FFF) | (((height - 1) & 0x3FFF) << 14)
            struct.pack_into("<I", body, 1, bits)
        chunks.append((kind, bytes(body)))
    return _riff(chunks)


def lie(name: str, data: bytes, rng: np.random.Generator) -> tuple[str, bytes]:
    """One lie about bands, frames or size of `data`; returns its kind and the file."""
    side = int(rng.choice(LYING_SIDES))
    many = int(rng.choice([2_000, 10_001, 20_000]))
    if name.startswith(("tiff", "geotiff")):
        kind = ("bands", "frames", "size")[int(rng.integers(3))]
        if kind == "bands":  # SamplesPerPixel (and BitsPerSample's count stays)
            return kind, _tiff_lie(data, (277,), int(rng.choice([4, 200, 34_464, 65_535])))
        if kind == "frames":  # the last page's next-page offset points back at the first
            out = bytearray(data)
            first = offset = struct.unpack_from("<I", data, 4)[0]
            while True:
                next_at = offset + 2 + 12 * struct.unpack_from("<H", data, offset)[0]
                offset = struct.unpack_from("<I", data, next_at)[0]
                if not offset:
                    break
            struct.pack_into("<I", out, next_at, first)
            return kind, bytes(out)
        tag = (256, 257)[int(rng.integers(2))]  # ImageWidth or ImageLength
        return kind, _tiff_lie(data, (tag,), side)
    if name == "gif":
        first, spans = _gif_frames(data)
        if rng.integers(2):  # the first frame repeated `many` times
            start, end = spans[0]
            return "frames", data[:first] + data[start:end] * many + b"\x3b"
        out = bytearray(data)  # the screen and every frame claim `side` rows
        struct.pack_into("<H", out, 8, side)
        for start, _ in spans:
            position = start
            while data[position] == 0x21:
                position += 2
                while data[position]:
                    position += data[position] + 1
                position += 1
            struct.pack_into("<H", out, position + 7, side)
        return "size", bytes(out)
    if name.startswith("webp"):
        chunks = _webp_chunks(data)
        frames = [chunk for chunk in chunks if chunk[0] == b"ANMF"]
        if frames and rng.integers(2):  # the first frame repeated `many` times
            head = [chunk for chunk in chunks if chunk[0] != b"ANMF"]
            return "frames", _riff(head + frames[:1] * many)
        return "size", _webp_size_lie(data, side, side)
    if name.startswith("jpeg"):
        out = bytearray(data)
        sof = max(out.find(b"\xff\xc0"), out.find(b"\xff\xc2"))
        struct.pack_into(">HH", out, sof + 5, side, side)  # the frame header (SOF)
        if rng.integers(2):
            return "size", bytes(out)
        return "truncated", bytes(data[: int(rng.integers(len(data) // 4, len(data) - 2))])
    # PNG: cut inside its pixel data (the IEND chunk kept, so the end looks whole)
    idat = data.index(b"IDAT") - 4
    (length,) = struct.unpack(">I", data[idat : idat + 4])
    body = zlib.decompress(data[idat + 8 : idat + 8 + length])
    cut = zlib.compress(body[: int(rng.integers(1, len(body)))])
    chunk = b"IDAT" + cut
    short = struct.pack(">I", len(cut)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    return "truncated", data[:idat] + short + data[idat + 12 + length :]


def check_every_loader(data: bytes, kind: str) -> None:
    """load_image and open_raster each give a valid image or an ImageError, fast; a lie
    about size or a truncation gives an ImageError."""
    from core.inputs.raster import open_raster

    for loader in (load_image, open_raster):
        started = time.perf_counter()
        try:
            result = loader(data)
        except ImageError as error:
            message = str(error)
            assert message and "Traceback" not in message and " object at 0x" not in message
        else:
            assert kind not in ("size", "truncated"), f"{loader.__name__} accepted a lie"
            pixels = result if loader is load_image else result.data
            assert pixels.size and np.isfinite(pixels.astype(np.float64)).any()
        seconds = time.perf_counter() - started
        assert seconds < CASE_SECONDS, f"{loader.__name__} took {seconds:.1f} s"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", sorted(lie_seeds()))
def test_lies_about_bands_frames_and_size_are_refused_fast_by_every_loader(name):
    data = lie_seeds()[name]
    check_every_loader(data, "seed")  # the seed itself loads
    rng = np.random.default_rng([SEED, 24, sorted(lie_seeds()).index(name)])
    for case in range(LIES):
        kind, lying = lie(name, data, rng)
        try:
            check_every_loader(lying, kind)
        except Exception as error:  # say which case, so it can be replayed
            raise AssertionError(
                f"{name} case {case} ({kind} lie, seed {SEED}) escaped: "
                f"{type(error).__name__}: {error}"
            ) from error
