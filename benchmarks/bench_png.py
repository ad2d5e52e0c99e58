"""Writing kseg's PNGs: ``core.formats.png.encode_png`` against Pillow and OpenCV, in one run.

Run it from the repository root (after ``pip install -e ".[test]"``)::

    python benchmarks/bench_png.py            # a 12 MP photo
    python benchmarks/bench_png.py --mp 1     # another size

kseg writes its own PNG container over ISA-L's deflate (``isal``) because its outputs are
written by the hundred (``kseg batch``: two PNGs per image) and downloaded at full size (the
dashboard). This checks that it is worth it, on the images kseg writes:

    segmented   the photo segmented with k = 6 (``core.outputs.export.segmented_image``): k flat
                colours, RGB
    mask        the largest cluster as a black-and-white mask, grey
    cut-out     the largest cluster's own pixels on a transparent background (RGBA photo
                pixels), the cut-outs ZIP's content

with, for each, ``core.formats.png.encode_png`` (no row filter for flat colours, "sub" for the
cut-out: what kseg uses), Pillow at zlib level 6 (its default, what
``core.outputs.export.png_bytes`` writes) and level 1, and ``cv2.imencode`` at zlib level 1
without row filters (what ``kseg batch`` used before). Every output is decoded again and
compared with the input.
Seconds are the best of 3; sizes in MB. The photo is ``bench_segment.make_photo`` (a
bundled photo scaled up with σ = 2 noise).
"""

from __future__ import annotations

import argparse
import io
import platform
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from bench_segment import make_photo  # noqa: E402


def best_of(fn, repeat: int = 3) -> tuple[float, bytes]:
    times, out = [], b""
    for _ in range(repeat):
        started = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - started)
    return min(times), out


def pillow(image: np.ndarray, level: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=level)
    return buffer.getvalue()


def opencv(image: np.ndarray) -> bytes:
    import cv2

    flags = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_NONE]
    swapped = image if image.ndim == 2 else cv2.cvtColor(
        image, cv2.COLOR_RGB2BGR if image.shape[2] == 3 else cv2.COLOR_RGBA2BGRA
    )  # fmt: skip
    ok, encoded = cv2.imencode(".png", swapped, flags)
    assert ok
    return encoded.tobytes()


def decoded(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mp", type=float, default=12.0, help="photo size in megapixels")
    args = parser.parse_args(argv)

    import core
    from core.formats.png import encode_png
    from core.outputs import export

    photo = make_photo(args.mp)
    seg = core.segment(photo, 6)
    images = {
        "segmented": (export.segmented_image(seg), "none"),
        "mask": (seg.cluster_mask(0).astype(np.uint8) * 255, "none"),
        "cut-out": (export.cutout(photo, seg, 0), "sub"),
    }
    print(
        f"PNG writing — {platform.machine()}, {photo.shape[1]} × {photo.shape[0]} "
        f"({photo.shape[0] * photo.shape[1] / 1e6:.1f} MP), k = 6; best of 3\n"
    )
    print(f"{'image':<10} {'encoder':<34} {'seconds':>8} {'MB':>7} {'time vs kseg':>13}")
    for name, (image, row_filter) in images.items():
        rows = [
            (f"kseg encode_png ({row_filter})", partial(encode_png, image, row_filter=row_filter)),
            ("Pillow, zlib 6 (png_bytes)", partial(pillow, image, 6)),
            ("Pillow, zlib 1", partial(pillow, image, 1)),
            ("OpenCV, zlib 1, no filter", partial(opencv, image)),
        ]
        ours = None
        for label, encode in rows:
            seconds, data = best_of(encode)
            if not np.array_equal(decoded(data), image):
                raise SystemExit(f"{label} did not round-trip the {name} image")
            ours = ours or seconds
            print(
                f"{name:<10} {label:<34} {seconds:>8.3f} {len(data) / 1e6:>7.2f} "
                f"{seconds / ours:>12.1f}×"
            )
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
