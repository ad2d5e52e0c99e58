"""Exports decode back to exactly what the Segmentation holds."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from core.cli import main
from core.export import (
    cutout,
    cutouts_zip,
    mask_png,
    masks_zip,
    palette_csv,
    palette_gpl,
    palette_json,
    png_bytes,
    recipe,
    recipe_json,
)
from core.segmentation import segment


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


@pytest.fixture
def noisy_blocks(blocks) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.clip(blocks + rng.normal(0, 4, blocks.shape), 0, 255).astype(np.uint8)


@pytest.fixture
def result(noisy_blocks):
    return segment(noisy_blocks, 4)


@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 3), (5, 7, 4)])
def test_png_round_trip_keeps_channels_in_order(shape):
    image = np.random.default_rng(1).integers(0, 256, size=shape, dtype=np.uint8)
    np.testing.assert_array_equal(decode(png_bytes(image)), image)


def test_png_rejects_wrong_arrays():
    with pytest.raises(ValueError, match="uint8 array of shape"):
        png_bytes(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(ValueError, match="uint8 array of shape"):
        png_bytes(np.zeros((4, 4), np.float32))


def test_masks_zip_holds_every_mask(result):
    with zipfile.ZipFile(io.BytesIO(masks_zip(result))) as archive:
        names = archive.namelist()
        assert len(names) == result.k
        for i, name in enumerate(names):
            assert name == f"mask_{i:02d}_{result.hex_colors[i][1:]}.png"
            np.testing.assert_array_equal(decode(archive.read(name)) == 255, result.mask(i))
    np.testing.assert_array_equal(decode(mask_png(result, 1)) > 0, result.mask(1))


def test_cutouts_are_transparent_exactly_outside_the_cluster(noisy_blocks, result):
    for i in range(result.k):
        rgba = cutout(noisy_blocks, result, i)
        np.testing.assert_array_equal(rgba[:, :, 3] == 255, result.mask(i))
        np.testing.assert_array_equal(rgba[:, :, 3] == 0, ~result.mask(i))
        np.testing.assert_array_equal(rgba[:, :, :3], noisy_blocks)
    with zipfile.ZipFile(io.BytesIO(cutouts_zip(noisy_blocks, result))) as archive:
        first = decode(archive.read(archive.namelist()[0]))
    np.testing.assert_array_equal(first, cutout(noisy_blocks, result, 0))
    half = np.full(result.shape, 128, np.uint8)
    assert set(np.unique(cutout(noisy_blocks, result, 0, alpha=half)[:, :, 3])) <= {0, 128}
    with pytest.raises(ValueError, match="does not match"):
        cutout(noisy_blocks[:5], result, 0)


def test_palette_formats_parse_back(result):
    rows = list(csv.DictReader(io.StringIO(palette_csv(result))))
    assert [row["hex"] for row in rows] == result.hex_colors
    np.testing.assert_array_equal(
        [[int(r["r"]), int(r["g"]), int(r["b"])] for r in rows], result.palette
    )
    np.testing.assert_allclose([float(r["share"]) for r in rows], result.fractions, atol=1e-6)
    assert [int(r["pixels"]) for r in rows] == result.counts.tolist()
    parsed = json.loads(palette_json(result))
    assert [p["hex"] for p in parsed] == result.hex_colors
    gpl = palette_gpl(result, name="blocks").splitlines()
    assert gpl[:2] == ["GIMP Palette", "Name: blocks"]
    colours = [list(map(int, line.split("\t")[0].split())) for line in gpl[4:]]
    np.testing.assert_array_equal(colours, result.palette)


def test_recipe_command_reproduces_the_labels(noisy_blocks, tmp_path):
    original = segment(noisy_blocks, 3, color_space="oklab", seed=11, n_init=2)
    path = tmp_path / "blocks.png"
    path.write_bytes(png_bytes(noisy_blocks))
    described = recipe(original, image_name="blocks.png")
    assert json.loads(recipe_json(original, image_name="blocks.png")) == described
    assert described["parameters"] == original.params
    words = described["command"].split()
    assert words[:3] == ["kseg", "segment", "blocks.png"]
    assert main([*words[1:], "-o", str(tmp_path / "out"), "--quiet"]) == 2  # not in the cwd
    words[2] = str(path)
    assert main([*words[1:], "-o", str(tmp_path / "out"), "--quiet"]) == 0
    again = decode((tmp_path / "out" / "segmented.png").read_bytes())
    np.testing.assert_array_equal(again, original.segmented)
