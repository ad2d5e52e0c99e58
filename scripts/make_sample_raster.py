"""Make the bundled sample raster, core/data/sample_scene.tif (run from the repository root).

    python scripts/make_sample_raster.py

A synthetic 4-band (blue, green, red, NIR) uint16 scene from
:func:`core.inputs.samples.synthetic_scene`,
256 × 320 pixels of 10 m in UTM zone 32N (EPSG:32632), with a tilted-swath no-data border
(0) as real scenes have, deflate-compressed. Deterministic: the same bytes every run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.inputs.samples import SAMPLE_RASTER, SCENE_BANDS, synthetic_scene  # noqa: E402

HEIGHT, WIDTH = 256, 320
TRANSFORM = Affine(10.0, 0.0, 600_000.0, 0.0, -10.0, 5_100_000.0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Make kseg's bundled sample raster, core/data/sample_scene.tif: a synthetic "
        "4-band uint16 scene (not real data), the same bytes every run.",
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=SAMPLE_RASTER,
        help="where to write it (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    out: Path = args.output
    bands, _ = synthetic_scene(HEIGHT, WIDTH, seed=2026)
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    # A satellite swath is tilted against the map grid: blank the corners outside it.
    outside = (cols < 0.18 * (HEIGHT - rows)) | (cols > WIDTH - 1 - 0.18 * rows)
    bands[:, outside] = 0
    out.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "GTiff",
        "height": HEIGHT,
        "width": WIDTH,
        "count": 4,
        "dtype": "uint16",
        "crs": "EPSG:32632",
        "transform": TRANSFORM,
        "nodata": 0,
        "compress": "deflate",
        "predictor": 2,
        "tiled": True,
        "blockxsize": 128,
        "blockysize": 128,
    }
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(bands)
        for i, name in enumerate(SCENE_BANDS, start=1):
            dst.set_band_description(i, name)
        dst.update_tags(
            SOURCE="synthetic scene made by kseg scripts/make_sample_raster.py (not real data)"
        )
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
