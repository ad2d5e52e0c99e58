"""GeoTIFFs through open_image and `kseg segment`; the CLI options for pixels that don't count."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import rasterio
from PIL import Image

from core import open_image, segment
from core.cli import EXIT_ERROR, main
from core.errors import ImageError
from core.inputs.raster import LABEL_NODATA
from core.inputs.samples import SAMPLE_RASTER


def test_open_image_reads_a_geotiff_with_rasterio():
    loaded = open_image(SAMPLE_RASTER)
    raster = loaded.raster
    assert raster is not None and loaded.format == "GTiff"
    assert loaded.mode == "4-band uint16"
    assert loaded.rgb.shape == (raster.height, raster.width, 3)
    np.testing.assert_array_equal(loaded.alpha > 0, raster.valid)
    assert (loaded.rgb[~raster.valid] == 255).all()  # no-data shown over white
    same = open_image(SAMPLE_RASTER.read_bytes())
    assert same.raster is not None and same.raster.geo == raster.geo
    # segment() leaves the no-data out by default.
    seg = segment(loaded, 3)
    assert (seg.labels[~raster.valid] == -1).all() and seg.counts.sum() == raster.n_valid


def test_open_image_keeps_plain_tiffs_on_pillow(tmp_path, photo):
    path = tmp_path / "photo.tif"
    Image.fromarray(photo).save(path)
    loaded = open_image(path)
    assert loaded.raster is None and loaded.format == "TIFF"
    np.testing.assert_array_equal(loaded.rgb, photo)


def test_open_image_truncated_geotiff_is_a_clear_error(tmp_path):
    scene = open_image(SAMPLE_RASTER).raster
    whole = tmp_path / "whole.tif"
    with rasterio.open(whole, "w", driver="GTiff", width=scene.width, height=scene.height,
                       count=4, dtype="uint16", crs=scene.geo.crs,
                       transform=scene.geo.transform) as dst:  # fmt: skip
        dst.write(scene.data)
    data = whole.read_bytes()
    broken = tmp_path / "broken.tif"
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="truncated or damaged"):
        open_image(broken)


def test_kseg_segment_geotiff_writes_gis_outputs(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["segment", str(SAMPLE_RASTER), "-k", "4", "--indices", "ndvi",
                 "--sieve", "9", "-o", str(out)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "EPSG:32632" in printed and "area (ha)" in printed and "NDVI" in printed
    labels = out / "labels.tif"
    with rasterio.open(labels) as src, rasterio.open(SAMPLE_RASTER) as scene:
        assert src.crs == scene.crs and src.transform == scene.transform
        assert src.nodata == LABEL_NODATA and src.count == 1 and src.dtypes[0] == "uint8"
        band = src.read(1)
        np.testing.assert_array_equal(band == LABEL_NODATA, scene.dataset_mask() == 0)
        assert len(src.colormap(1)) == 256
    rows = list(csv.DictReader((out / "areas.csv").read_text().splitlines()))
    assert len(rows) == 4
    total_ha = sum(float(r["area_ha"]) for r in rows)
    n_valid = int((band != LABEL_NODATA).sum())
    # On the ellipsoid: within UTM's scale factor (0.1-0.2 %) of the plane's 100 m² a pixel.
    assert total_ha == pytest.approx(n_valid * 100 / 10_000, rel=2e-3)
    assert total_ha != pytest.approx(n_valid * 100 / 10_000, rel=1e-5)
    collection = json.loads((out / "classes.geojson").read_text())
    assert collection["features"]
    assert (out / "segmented.tif").exists()


def test_kseg_segment_geotiff_band_errors(tmp_path, capsys):
    code = main(["segment", str(SAMPLE_RASTER), "-k", "3", "--bands", "swir", "-o", str(tmp_path)])
    assert code == EXIT_ERROR
    assert "No band is called 'swir'" in capsys.readouterr().err
    code = main(["segment", str(SAMPLE_RASTER), "-k", "3", "--bands", "3,4", "--no-polygons",
                 "-q", "-o", str(tmp_path / "b")])  # fmt: skip
    assert code == 0
    assert not (tmp_path / "b" / "classes.geojson").exists()


def test_kseg_segment_photo_leaves_transparent_pixels_out(tmp_path, capsys):
    rgba = np.zeros((30, 40, 4), np.uint8)
    rgba[:, :, :3] = 255
    rgba[5:25, 5:20] = (200, 30, 40, 255)
    rgba[5:25, 22:35] = (20, 60, 180, 255)
    path = tmp_path / "logo.png"
    Image.fromarray(rgba, "RGBA").save(path)
    assert main(["segment", str(path), "-k", "2", "-q", "-o", str(tmp_path / "a")]) == 0
    rows = list(csv.DictReader((tmp_path / "a" / "areas.csv").read_text().splitlines()))
    assert {r["hex"] for r in rows} == {"#c81e28", "#143cb4"}
    segmented = np.asarray(Image.open(tmp_path / "a" / "segmented.png"))
    assert segmented.shape == (30, 40, 4) and segmented[0, 0, 3] == 0
    # --keep-transparent: the white background is a cluster again.
    assert main(["segment", str(path), "-k", "3", "-q", "--keep-transparent",
                 "-o", str(tmp_path / "b")]) == 0  # fmt: skip
    rows = list(csv.DictReader((tmp_path / "b" / "areas.csv").read_text().splitlines()))
    assert "#ffffff" in {r["hex"] for r in rows}


def test_kseg_segment_ignore_color_and_mask_file(tmp_path, capsys):
    rgb = np.full((20, 30, 3), 255, np.uint8)
    rgb[:, :10] = (10, 200, 10)
    rgb[:, 10:20] = (10, 10, 200)
    path = tmp_path / "scan.png"
    Image.fromarray(rgb).save(path)
    assert main(["segment", str(path), "-k", "2", "-q", "--ignore-color", "#FFFFFF",
                 "-o", str(tmp_path / "a")]) == 0  # fmt: skip
    rows = list(csv.DictReader((tmp_path / "a" / "areas.csv").read_text().splitlines()))
    assert {r["hex"] for r in rows} == {"#0ac80a", "#0a0ac8"}
    mask = np.zeros((20, 30), np.uint8)
    mask[:, :10] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    assert main(["segment", str(path), "-k", "1", "-q", "--mask", str(tmp_path / "mask.png"),
                 "-o", str(tmp_path / "b")]) == 0  # fmt: skip
    rows = list(csv.DictReader((tmp_path / "b" / "areas.csv").read_text().splitlines()))
    assert [r["hex"] for r in rows] == ["#0ac80a"]
    Image.fromarray(mask[:10]).save(tmp_path / "small.png")
    code = main(["segment", str(path), "-k", "1", "--mask", str(tmp_path / "small.png"),
                 "-o", str(tmp_path / "c")])  # fmt: skip
    assert code == EXIT_ERROR
    assert "Give a mask of the image's size" in capsys.readouterr().err


def test_kseg_segment_geotiff_window_and_reduced_read(tmp_path, capsys):
    out = tmp_path / "w"
    code = main(["segment", str(SAMPLE_RASTER), "-k", "2", "--window", "100,100,50,60",
                 "--no-polygons", "-q", "-o", str(out)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    with rasterio.open(out / "labels.tif") as src, rasterio.open(SAMPLE_RASTER) as s:
        assert (src.height, src.width) == (50, 60)
        assert (
            src.transform.c == s.transform.c + 100 * 10 and src.transform.f == s.transform.f - 1000
        )
    # Over --max-pixels a scene is read reduced only when asked (else: full resolution by blocks).
    code = main(["segment", str(SAMPLE_RASTER), "-k", "2", "--max-pixels", "20000",
                 "--on-large", "reduce", "--no-polygons", "-o", str(tmp_path / "r")])  # fmt: skip
    assert code == 0
    assert "read at 1/3 resolution" in capsys.readouterr().out
    code = main(["segment", str(SAMPLE_RASTER), "-k", "2", "--window", "1,2,3", "-o", str(out)])
    assert code == EXIT_ERROR
    assert "--window takes four whole numbers" in capsys.readouterr().err


def test_kseg_elbow_leaves_transparent_pixels_out(tmp_path, capsys):
    rgba = np.zeros((30, 40, 4), np.uint8)
    rgba[:, :, :3] = 255
    rgba[5:25, 5:20] = (200, 30, 40, 255)
    rgba[5:25, 22:35] = (20, 60, 180, 255)
    path = tmp_path / "logo.png"
    Image.fromarray(rgba, "RGBA").save(path)
    assert main(["elbow", str(path), "--k-max", "4"]) == 0
    lines = capsys.readouterr().out.splitlines()
    wcss = {int(line.split()[0]): float(line.split()[1]) for line in lines[1:5]}
    assert wcss[2] == 0.0  # two opaque colours: k = 2 fits them exactly
    assert main(["elbow", str(path), "--k-max", "4", "--keep-transparent"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert float(lines[2].split()[1]) > 0  # with the white background, k = 2 does not


def test_kseg_elbow_and_sweep_take_the_mask_options_of_segment(tmp_path, capsys):
    rgba = np.zeros((30, 40, 4), np.uint8)
    rgba[:, :, :3] = 255
    rgba[5:25, 5:20] = (200, 30, 40, 255)
    rgba[5:25, 22:35] = (20, 60, 180, 255)
    rgba[26:, :, 3] = 255  # an opaque white strip, near-white at that
    rgba[26:, :20, :3] = 250
    path = tmp_path / "logo.png"
    Image.fromarray(rgba, "RGBA").save(path)

    def elbow_wcss(*options):
        assert main(["elbow", str(path), "--k-max", "3", *options]) == 0
        lines = capsys.readouterr().out.splitlines()
        return [float(line.split()[1]) for line in lines[1:4]]

    assert elbow_wcss()[2] > 0  # the opaque strip is a colour of its own
    assert elbow_wcss("--ignore-color", "#ffffff")[1] > 0  # 250 is not 255
    assert elbow_wcss("--ignore-color", "#ffffff", "--color-tolerance", "5")[1] == 0.0
    assert elbow_wcss("--no-ignore-transparent", "--ignore-color", "#ffffff", "--color-tolerance",
                      "5")[1] == 0.0  # fmt: skip
    assert elbow_wcss("--no-ignore-transparent")[1] > 0

    gif = tmp_path / "sweep.gif"
    assert main(["sweep", str(path), "--ks", "2", "-o", str(gif), "--frames",
                 str(tmp_path / "f.zip"), "--ignore-color", "#fff", ]) == EXIT_ERROR  # fmt: skip
    assert "hex colour" in capsys.readouterr().err
    assert main(["sweep", str(path), "--ks", "2", "-o", str(gif), "--frames",
                 str(tmp_path / "f.zip"), "--ignore-color", "#ffffff", "--color-tolerance",
                 "5"]) == 0  # fmt: skip
    assert float(capsys.readouterr().out.splitlines()[1].split()[1]) == 0.0  # k = 2, two inks
    assert main(["sweep", str(path), "--ks", "2", "-o", str(gif), "--mask",
                 str(tmp_path / "missing.png")]) == EXIT_ERROR  # fmt: skip


def _tiled_scene(path, size=64, block=16):
    """A small tiled 3-band uint8 GeoTIFF in UTM with four colour quarters and some noise."""
    from affine import Affine

    rng = np.random.default_rng(7)
    data = np.zeros((3, size, size), dtype=np.uint8)
    half = size // 2
    data[:, :half, :half] = np.array([200, 30, 30])[:, None, None]
    data[:, :half, half:] = np.array([30, 200, 30])[:, None, None]
    data[:, half:, :half] = np.array([30, 30, 200])[:, None, None]
    data[:, half:, half:] = np.array([220, 220, 220])[:, None, None]
    data = np.clip(data.astype(int) + rng.integers(-6, 7, data.shape), 0, 255).astype(np.uint8)
    utm = Affine(10.0, 0.0, 500_000.0, 0.0, -10.0, 5_000_000.0)
    with rasterio.open(path, "w", driver="GTiff", width=size, height=size, count=3,
                       dtype="uint8", crs="EPSG:32632", tiled=True, blockxsize=block,
                       blockysize=block, transform=utm) as dst:  # fmt: skip
        dst.write(data)
    return path


def test_kseg_segment_large_geotiff_is_labelled_at_full_resolution_by_blocks(tmp_path, capsys):
    from core.outputs.geotiff_blocks import segment_raster_blocks

    scene = _tiled_scene(tmp_path / "scene.tif")
    out = tmp_path / "out"
    code = main(["segment", str(scene), "-k", "4", "--max-pixels", "1000", "-o", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.err == ""
    assert "full resolution by blocks" in captured.out
    for name in ("labels.tif", "segmented.tif", "areas.csv", "recipe.json"):
        assert (out / name).exists(), name
    assert not list(out.glob("scene_*"))  # renamed to the names of an in-memory run
    library = segment_raster_blocks(scene, 4, out_dir=tmp_path / "lib", seed=0)
    with rasterio.open(out / "labels.tif") as ours, rasterio.open(library.files[0]) as theirs:
        assert ours.shape == (64, 64)  # every pixel, not a reduction
        np.testing.assert_array_equal(ours.read(1), theirs.read(1))
        assert ours.crs == theirs.crs and ours.transform == theirs.transform
    rows = list(csv.DictReader((out / "areas.csv").read_text().splitlines()))
    assert [int(r["pixels"]) for r in rows] == library.counts.tolist()
    assert {"class", "name", "hex", "pixels", "share", "area_m2"} <= set(rows[0])
    assert sum(int(r["pixels"]) for r in rows) == 64 * 64
    recipe = json.loads((out / "recipe.json").read_text())
    assert "--max-pixels 1000" in recipe["command"] and recipe["resolution"].startswith("full")


def test_kseg_segment_on_large_reduce_reads_the_scene_reduced(tmp_path, capsys):
    scene = _tiled_scene(tmp_path / "scene.tif")
    out = tmp_path / "out"
    code = main(["segment", str(scene), "-k", "4", "--max-pixels", "1000", "--on-large",
                 "reduce", "--no-polygons", "-o", str(out)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert "full resolution by blocks" not in capsys.readouterr().out
    with rasterio.open(out / "labels.tif") as src:
        assert src.width * src.height <= 1000 and src.width < 64
    assert (out / "model.json").exists()


def test_kseg_segment_blocks_refuse_in_memory_options_with_advice(tmp_path, capsys):
    scene = _tiled_scene(tmp_path / "scene.tif")
    code = main(["segment", str(scene), "-k", "4", "--max-pixels", "1000", "--sieve", "5",
                 "-o", str(tmp_path / "out")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == EXIT_ERROR and "--sieve" in err and "--on-large reduce" in err


def test_kseg_segment_report_for_a_geotiff_is_one_self_contained_page(tmp_path, capsys):
    import re

    out = tmp_path / "out"
    code = main(["segment", str(SAMPLE_RASTER), "-k", "3", "--report", "--no-polygons",
                 "-o", str(out)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?https?://""", page)
    images = re.findall(r"""<img[^>]*src\s*=\s*["']([^"']+)""", page)
    assert images and all(src.startswith("data:image/") for src in images)
    rows = list(csv.DictReader((out / "areas.csv").read_text().splitlines()))
    assert all(row["name"] in page for row in rows)
    assert f"kseg segment {SAMPLE_RASTER.name} -k 3" in page


def test_kseg_segment_window_over_the_limit_is_reduced_only_when_asked(tmp_path, capsys):
    args = ["segment", str(SAMPLE_RASTER), "-k", "2", "--window", "0,0,100,100",
            "--max-pixels", "1000", "--no-polygons", "-q"]  # fmt: skip
    assert main([*args, "-o", str(tmp_path / "a")]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "100 x 100 = 10,000 pixels" in err and "--on-large reduce" in err
    assert not (tmp_path / "a").exists()
    assert main([*args, "--on-large", "reduce", "-o", str(tmp_path / "b")]) == 0
    with rasterio.open(tmp_path / "b" / "labels.tif") as src:
        assert src.width * src.height <= 1000
