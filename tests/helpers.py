"""Helpers shared by the test modules (fixtures live in conftest.py and use these).

Import them as ``from helpers import APP, png`` (pytest puts tests/ on the path); never
import ``conftest``.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from affine import Affine
from PIL import Image
from sklearn.datasets import load_sample_image

ROOT = Path(__file__).resolve().parents[1]
#: The Streamlit entry point, for ``AppTest.from_file``.
APP = str(ROOT / "streamlit_app.py")

#: A UTM grid of 10 m pixels (EPSG:32633 in write_tif).
UTM = Affine(10.0, 0.0, 500_000.0, 0.0, -10.0, 4_200_000.0)


def png(image: np.ndarray) -> bytes:
    """`image` encoded as PNG bytes, as an upload would carry it."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def small_photo(name: str = "flower.jpg", scale: int = 4) -> np.ndarray:
    """A real photo, downscaled by `scale` (area average) to keep tests fast."""
    image = load_sample_image(name)
    h, w = image.shape[0] // scale, image.shape[1] // scale
    trimmed = image[: h * scale, : w * scale].reshape(h, scale, w, scale, 3)
    return trimmed.mean(axis=(1, 3)).round().astype(np.uint8)


def write_tif(path, data, *, crs="EPSG:32633", transform=None, nodata=None, names=None, **extra):
    """Write (B, H, W) `data` as a GeoTIFF (default: UTM 33N, 10 m pixels) and return the path."""
    import rasterio
    from rasterio.crs import CRS

    count, height, width = data.shape
    profile = dict(
        driver="GTiff", height=height, width=width, count=count, dtype=str(data.dtype),
        transform=UTM if transform is None else transform, nodata=nodata, **extra,
    )  # fmt: skip
    if crs is not None:
        profile["crs"] = CRS.from_user_input(crs)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        for i, name in enumerate(names or []):
            dst.set_band_description(i + 1, name)
    return path


def run_python(code: str, *args: str, env: dict[str, str] | None = None) -> str:
    """Run `code` in a fresh interpreter that imports this checkout's `core`; return stdout.

    `env` replaces the environment (default: this one, without ``KSEG_*`` switches);
    ``PYTHONPATH`` always points at the checkout. Fails the test on a non-zero exit.
    """
    root = Path(__file__).resolve().parents[1]
    if env is None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KSEG")}
    env = {**env, "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def read_csv(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV file kseg wrote, as dicts of strings."""
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def run_kseg(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """``python -m core ARGS`` in a fresh process, as a user runs the command."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "core", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
