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
    code = main(["segment", str(SAMPLE_RASTER), "-k", "2", "--max-pixels", "20000",
                 "--no-polygons", "-o", str(tmp_path / "r")])  # fmt: skip
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
