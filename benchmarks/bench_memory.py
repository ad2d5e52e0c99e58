"""Memory of the dashboard's process after many uploads (issue 10's 1 GB target).

Run it from the repository root::

    python benchmarks/bench_memory.py              # 40 uploads of 2-12 MP photos
    python benchmarks/bench_memory.py --uploads 10
    python benchmarks/bench_memory.py --root ../main   # another checkout, to compare

Each upload is a different photo (scikit-learn's ``china.jpg`` or ``flower.jpg`` scaled to
2-12 MP, with noise, saved as a quality-92 JPEG) pushed through the page's cached pipeline
exactly as the Segmentation tab calls it (``pipeline.load``, ``pipeline.segmentation``, the
two previews), default settings, in this process. It prints the resident memory once the
engine is warm, after each upload, and the peak (VmHWM): what the uploads and the caches
cost on top of the libraries. (Driving the page through ``AppTest`` instead measures
AppTest's own retention of every run's elements and media as well.)
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from sklearn.datasets import load_sample_image

ROOT = Path(__file__).resolve().parents[1]


def _status(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak() -> None:
    """Start VmHWM afresh (Linux: writing 5 to clear_refs resets the peak to the current)."""
    Path("/proc/self/clear_refs").write_text("5")


def photo(index: int, megapixels: float) -> bytes:
    base = load_sample_image(("china.jpg", "flower.jpg")[index % 2])
    scale = (megapixels * 1e6 / (base.shape[0] * base.shape[1])) ** 0.5
    size = (round(base.shape[1] * scale), round(base.shape[0] * scale))
    big = cv2.resize(base, size, interpolation=cv2.INTER_CUBIC).astype(np.int16)
    noise = np.random.default_rng(index).normal(0, 2, big.shape).round().astype(np.int16)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(big + noise, 0, 255).astype(np.uint8)).save(
        buffer, format="JPEG", quality=92
    )
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=40)
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout to measure")
    args = parser.parse_args()
    sys.path.insert(0, str(args.root.resolve()))
    import logging

    logging.getLogger("streamlit").setLevel(logging.ERROR)  # "No runtime found" per cache
    from dashboard import controls, pipeline

    params = controls.Params()
    pipeline.segmentation("warm", *_warm(pipeline), params)
    warm = _status("VmRSS:")
    sizes = np.random.default_rng(0).uniform(2, 12, args.uploads)
    started = time.perf_counter()
    worst = 0.0
    for i, mp in enumerate(sizes):
        data = photo(i, mp)
        _reset_peak()
        key = pipeline.digest(data)
        loaded = pipeline.load(key, data, f"photo_{i}.jpg")
        seg, _ = pipeline.segmentation(key, loaded, params)
        pipeline.original_preview(key, data, loaded)
        pipeline.segmented_preview(key, seg, params)
        del loaded, seg
        peak = _status("VmHWM:")
        worst = max(worst, peak)
        print(
            f"upload {i + 1:>2}: {mp:4.1f} MP, RSS {_status('VmRSS:'):6.0f} MB, "
            f"peak while processing it {peak:6.0f} MB",
            flush=True,
        )
    print(
        f"{args.root.resolve().name}: {args.uploads} uploads of 2-12 MP in "
        f"{time.perf_counter() - started:.0f} s: RSS warm {warm:.0f} MB, at the end "
        f"{_status('VmRSS:'):.0f} MB, peak {worst:.0f} MB"
    )


def _warm(pipeline):
    data = photo(999, 0.3)
    return (pipeline.load("warm", data, "warm.jpg"),)


if __name__ == "__main__":
    main()
