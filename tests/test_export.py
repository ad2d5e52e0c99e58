"""Exports decode back to exactly what the Segmentation holds."""

from __future__ import annotations

import csv
import io
import json
import shlex
import zipfile

import numpy as np
import pytest
from PIL import Image

from core.cli import main
from core.inputs.io import resize_to_max_pixels
from core.outputs.export import (
    PALETTE_FIELDS,
    cutout,
    cutouts_zip,
    mask_png,
    masks_zip,
    palette_csv,
    palette_gpl,
    palette_json,
    palette_rows,
    png_bytes,
    recipe,
    recipe_json,
)
from core.results.segmentation import segment


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def add_noise(image: np.ndarray, seed: int = 0, sigma: float = 4.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(image + rng.normal(0, sigma, image.shape), 0, 255).astype(np.uint8)


@pytest.fixture
def noisy_blocks(blocks) -> np.ndarray:
    """The four conftest blocks (20 x 30) with mild seeded noise: many distinct colours."""
    return add_noise(blocks)


@pytest.fixture
def result(noisy_blocks):
    return segment(noisy_blocks, 4)


@pytest.mark.parametrize(
    ("shape", "mode"), [((5, 7), "L"), ((5, 7, 3), "RGB"), ((5, 7, 4), "RGBA")]
)
def test_png_round_trip_keeps_channels_in_order(shape, mode):
    image = np.random.default_rng(1).integers(0, 256, size=shape, dtype=np.uint8)
    decoded = Image.open(io.BytesIO(png_bytes(image)))
    assert decoded.mode == mode
    np.testing.assert_array_equal(np.asarray(decoded), image)


def test_png_red_stays_red():
    red = np.zeros((2, 2, 3), np.uint8)
    red[..., 0] = 255
    assert decode(png_bytes(red))[0, 0].tolist() == [255, 0, 0]


@pytest.mark.parametrize(
    ("array", "match"),
    [
        (np.zeros((4, 4, 2), np.uint8), "uint8 array of shape"),
        (np.zeros((4, 4), np.float32), "uint8 array of shape"),
        (np.zeros((0, 4, 3), np.uint8), "at least one pixel"),
    ],
)
def test_png_rejects_wrong_arrays(array, match):
    with pytest.raises(ValueError, match=match):
        png_bytes(array)


def test_masks_zip_holds_exactly_every_mask(result):
    with zipfile.ZipFile(io.BytesIO(masks_zip(result))) as archive:
        names = archive.namelist()
        assert names == [f"mask_{i:02d}_{result.hex_colors[i][1:]}.png" for i in range(result.k)]
        for i, name in enumerate(names):
            mask = decode(archive.read(name))
            assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 255}
            np.testing.assert_array_equal(mask == 255, result.cluster_mask(i))
    np.testing.assert_array_equal(decode(mask_png(result, 1)) == 255, result.cluster_mask(1))
    with pytest.raises(IndexError, match="cluster index"):
        mask_png(result, result.k)


def test_cutouts_are_transparent_exactly_outside_the_cluster(noisy_blocks, result):
    for i in range(result.k):
        rgba = cutout(noisy_blocks, result, i)
        np.testing.assert_array_equal(rgba[:, :, 3] == 255, result.cluster_mask(i))
        np.testing.assert_array_equal(rgba[:, :, 3] == 0, ~result.cluster_mask(i))
        inside = result.cluster_mask(i)
        np.testing.assert_array_equal(rgba[inside, :3], noisy_blocks[inside])
        # Outside, transparent *black*: zeroed so the PNG compresses well.
        assert not rgba[~inside].any()
    with zipfile.ZipFile(io.BytesIO(cutouts_zip(noisy_blocks, result))) as archive:
        names = archive.namelist()
        assert len(names) == result.k
        for i, name in enumerate(names):
            np.testing.assert_array_equal(
                decode(archive.read(name)), cutout(noisy_blocks, result, i)
            )


def test_cutout_multiplies_the_images_own_alpha(noisy_blocks, result):
    alpha = np.random.default_rng(2).integers(0, 256, size=result.shape, dtype=np.uint8)
    rgba = cutout(noisy_blocks, result, 0, alpha=alpha)
    np.testing.assert_array_equal(rgba[:, :, 3], np.where(result.cluster_mask(0), alpha, 0))
    kept = rgba[:, :, 3] > 0
    np.testing.assert_array_equal(rgba[kept, :3], noisy_blocks[kept])
    assert not rgba[~kept].any()  # fully transparent pixels are black, inside or out


@pytest.mark.parametrize(
    ("image", "alpha", "match"),
    [
        (lambda im: im[:5], None, "does not match the segmentation"),
        (lambda im: im.astype(np.float64), None, r"\(H, W, 3\) uint8"),
        (lambda im: im[:, :, 0], None, r"\(H, W, 3\) uint8"),
        (lambda im: im, np.zeros((3, 3), np.uint8), "alpha must be"),
    ],
)
def test_cutout_rejects_mismatched_inputs(noisy_blocks, result, image, alpha, match):
    with pytest.raises(ValueError, match=match):
        cutout(image(noisy_blocks), result, 0, alpha=alpha)


def test_palette_csv_parses_back(result):
    text = palette_csv(result)
    assert text.splitlines()[0] == ",".join(PALETTE_FIELDS)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == result.k
    assert [int(r["cluster"]) for r in rows] == list(range(result.k))
    assert [r["hex"] for r in rows] == result.hex_colors
    np.testing.assert_array_equal(
        [[int(r["r"]), int(r["g"]), int(r["b"])] for r in rows], result.palette
    )
    assert [int(r["pixels"]) for r in rows] == result.counts.tolist()
    np.testing.assert_allclose([float(r["share"]) for r in rows], result.shares, atol=1e-6)


def test_palette_json_parses_back_at_full_precision(result):
    parsed = json.loads(palette_json(result))
    assert parsed == palette_rows(result)
    np.testing.assert_array_equal([[p["r"], p["g"], p["b"]] for p in parsed], result.palette)
    np.testing.assert_array_equal([p["share"] for p in parsed], result.shares)
    assert sum(p["pixels"] for p in parsed) == result.shape[0] * result.shape[1]


def test_palette_gpl_parses_back(result):
    lines = palette_gpl(result, name="blocks\nsecond line").splitlines()
    assert lines[:4] == ["GIMP Palette", "Name: blocks second line", "Columns: 4", "#"]
    colours = [list(map(int, line.split("\t")[0].split())) for line in lines[4:]]
    np.testing.assert_array_equal(colours, result.palette)
    shares = [float(line.split("(")[1].rstrip("%)")) / 100 for line in lines[4:]]
    np.testing.assert_allclose(shares, result.shares, atol=0.0005 + 1e-12)


@pytest.mark.parametrize("downscale_to", [None, 2_000])
def test_recipe_command_reproduces_the_labels(tmp_path, monkeypatch, blocks, downscale_to):
    # 80 x 120 px: big enough that a 2,000 px working size really downscales.
    image = add_noise(np.repeat(np.repeat(blocks, 4, axis=0), 4, axis=1), seed=3, sigma=12)
    name = "my blocks.png"  # a space, so the command must quote it
    (tmp_path / name).write_bytes(png_bytes(image))
    work = image if downscale_to is None else resize_to_max_pixels(image, downscale_to)
    original = segment(work, 3, color_space="oklab", seed=11, n_init=2, init="random")

    described = recipe(original, image_name=name, downscale_to=downscale_to)
    assert json.loads(recipe_json(original, image_name=name, downscale_to=downscale_to)) == (
        described
    )
    # The old keyword name keeps working.
    assert recipe(original, image_name=name, working_pixels=downscale_to) == described
    assert described["parameters"] == original.params
    assert (described["image"]["height"], described["image"]["width"]) == original.shape
    assert described["result"]["palette"] == original.hex_colors
    words = shlex.split(described["command"])
    assert words[:3] == ["kseg", "segment", name]
    assert ("--downscale-to" in words) == (downscale_to is not None)

    monkeypatch.chdir(tmp_path)  # run the command where the image is, as a user would
    assert main([*words[1:], "-o", "again", "--quiet"]) == 0
    masks = [
        decode(path.read_bytes())
        for path in sorted((tmp_path / "again" / "masks").glob("mask_*.png"))
    ]
    labels = np.argmax(np.stack(masks), axis=0)
    assert all(mask.shape == original.shape for mask in masks)
    np.testing.assert_array_equal(sum(mask == 255 for mask in masks), 1)  # a partition
    np.testing.assert_array_equal(labels, original.labels)


@pytest.mark.parametrize(
    "options",
    [
        {"position_weight": 1.5},
        {"texture_weight": 1.0, "texture_components": 4},
        {"min_region": 6},
        {"seed": None},  # a random seed: the recipe records the one drawn
    ],
)
def test_recipe_reproduces_features_clean_up_and_random_seeds(
    tmp_path, monkeypatch, noisy_blocks, options
):
    (tmp_path / "blocks.png").write_bytes(png_bytes(noisy_blocks))
    original = segment(noisy_blocks, 3, n_init=2, **options)
    words = shlex.split(recipe(original, image_name="blocks.png")["command"])
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        assert words[words.index(flag) + 1] == str(value if value is not None else original.seed)
    monkeypatch.chdir(tmp_path)
    assert main([*words[1:], "-o", "again", "--quiet"]) == 0
    again = json.loads((tmp_path / "again" / "recipe.json").read_text())
    assert again["parameters"] == original.params
    assert again["result"]["shares"] == recipe(original)["result"]["shares"]


def test_recipe_is_json_even_with_numpy_parameters(noisy_blocks):
    seg = segment(noisy_blocks, np.int64(2), seed=np.int64(4), n_init=1)
    parsed = json.loads(recipe_json(seg))
    assert parsed["parameters"]["k"] == 2 and parsed["parameters"]["seed"] == 4
    assert shlex.split(parsed["command"])[:5] == ["kseg", "segment", "IMAGE", "-k", "2"]


def test_compact_number_is_one_convention():
    from core.outputs.export import compact_number

    assert [compact_number(v) for v in (24_441_400.2, 36_600, 3511.4, 0.1234, 0)] == [
        "24.4 M",
        "36.6 k",
        "3,511",
        "0.123",
        "0",
    ]
