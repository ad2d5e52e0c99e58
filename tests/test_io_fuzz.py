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
