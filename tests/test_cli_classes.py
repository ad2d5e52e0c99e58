"""``kseg classes`` and ``kseg apply`` of any model; model.json, class names and one areas
table from every command; the collection's model (the old Palette) and its old JSON."""

from __future__ import annotations

import ctypes
import glob
import json
import os
from pathlib import Path

import numpy as np
import pytest
import rasterio
from helpers import small_photo, write_tif
from PIL import Image

import core
from core.cli import EXIT_ERROR, main
from core.collection import CollectionModel
from core.formats.tables import AREA_COLUMNS, read_areas_csv
from core.outputs import export

BASE = ["class", "name", "hex", "pixels", "share"]
AREAS = ["area_m2", "area_ha", "area_basis"]


def read_png(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)


def header(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()[0].split(",")


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return small_photo("flower.jpg", 8)


@pytest.fixture
def photo_file(tmp_path, photo) -> Path:
    path = tmp_path / "flower.png"
    Image.fromarray(photo).save(path)
    return path


def scene(seed: int, shape=(4, 24, 30)) -> np.ndarray:
    """Four bands (blue, green, red, nir) of uint16 with a few distinct land covers."""
    rng = np.random.default_rng(seed)
    covers = np.array(
        [
            [300, 500, 400, 3000],
            [900, 1100, 1300, 1500],
            [200, 300, 250, 150],
            [2500, 2600, 2700, 2800],
        ]
    )
    which = rng.integers(0, 4, shape[1:])
    data = covers[which].transpose(2, 0, 1) + rng.integers(0, 60, shape)
    return data.astype(np.uint16)


@pytest.fixture
def tifs(tmp_path) -> tuple[Path, Path]:
    names = ["blue", "green", "red", "nir"]
    first = write_tif(tmp_path / "scene1.tif", scene(0), names=names)
    # Other statistics (the left part twice as bright), the right part the first scene's.
    second = scene(1)
    second[:, :, :15] = np.clip(second[:, :, :15].astype(np.int64) * 2, 0, 65535)
    second[:, :, 15:] = scene(0)[:, :, 15:]
    return first, write_tif(tmp_path / "scene2.tif", second, names=names)


def run(capsys, *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --- kseg classes -------------------------------------------------------------------------


def test_kseg_classes_edits_as_the_library_does(photo_file, photo, tmp_path, capsys):
    out = tmp_path / "seg"
    assert run(capsys, "segment", photo_file, "-k", "5", "-o", out, "-q")[0] == 0
    model = core.ClassModel.load(out / "model.json")
    assert model == core.segment(photo, 5).model  # the library's fit, bit for bit
    edited_path = tmp_path / "named.json"
    code, printed, err = run(
        capsys, "classes", out / "model.json", "--group", "petals=0,3", "--group", "leaves=1",
        "--drop", "4", "--rename", "cluster 2=sky", "-o", edited_path,
    )  # fmt: skip
    assert code == 0, err
    expected = model.with_classes({"petals": [0, 3], "leaves": [1]}, drop=[4]).rename(
        "cluster 2", "sky"
    )
    assert core.ClassModel.load(edited_path) == expected
    assert expected.class_names == ("petals", "leaves", "sky")
    lines = printed.splitlines()
    assert lines[1].split() == ["class", "name", "colour", "share", "clusters"]
    assert lines[2].split()[:3] == ["0", "petals", expected.hex_colors[0]]
    assert lines[2].split()[-2:] == ["0,", "3"]
    assert "dropped: cluster(s) 4" in printed
    # Without -o: the table only, nothing written.
    before = sorted(p.name for p in tmp_path.iterdir())
    assert run(capsys, "classes", edited_path)[0] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize(
    ("options", "match"),
    [
        (["--group", "water=0,9"], "Cluster 9 in class 'water' is out of range"),
        (["--group", "a=0", "--group", "b=0,1"], "Cluster 0 is in 'a' and 'b'"),
        (["--group", " =0"], "must not be empty"),
        (["--group", "a=0", "--group", "a=1"], "Two --group options name the class 'a'"),
        (["--group", "cluster 2=0"], "Two classes are called 'cluster 2'"),
        (["--drop", "1", "--group", "x=1"], "both in 'x' and dropped"),
        (["--rename", "cluster 0=cluster 1"], "Two classes are called 'cluster 1'"),
        (["--rename", "nothing=x"], "No class is called 'nothing'"),
        (["--group", "water"], "--group takes NAME=VALUE"),
        (["--drop", "one"], "not a list of cluster numbers"),
    ],
)
def test_kseg_classes_bad_edits_exit_2_and_write_nothing(tmp_path, capsys, options, match):
    model = core.segment(small_photo("china.jpg", 16), 4).model
    path = model.save(tmp_path / "model.json")
    new = tmp_path / "new.json"
    code, _, err = run(capsys, "classes", path, *options, "-o", new)
    assert code == EXIT_ERROR
    assert err.startswith("kseg: error: ") and match in err, err
    assert len(err.strip().splitlines()) == 1
    assert not new.exists()


# --- kseg apply: the oracles --------------------------------------------------------------


def test_apply_on_the_fitted_photo_equals_segment(photo_file, photo, tmp_path, capsys):
    seg_out, applied = tmp_path / "seg", tmp_path / "applied"
    assert run(capsys, "segment", photo_file, "-k", "5", "-o", seg_out, "-q")[0] == 0
    assert run(capsys, "apply", seg_out / "model.json", photo_file, "-o", applied, "-q")[0] == 0
    np.testing.assert_array_equal(
        read_png(applied / "labels.png"), read_png(seg_out / "labels.png")
    )
    assert read_areas_csv(applied / "areas.csv") == read_areas_csv(seg_out / "areas.csv")
    assert sorted(p.name for p in applied.iterdir()) == sorted(p.name for p in seg_out.iterdir())


def test_an_edited_model_gives_the_same_classes_in_the_cli_and_the_library(
    photo_file, photo, tmp_path, capsys
):
    seg = core.segment(photo, 5)
    seg.model.save(tmp_path / "model.json")
    argv = ["classes", tmp_path / "model.json", "--group", "warm=0,2", "--drop", "1"]
    assert run(capsys, *argv, "-o", tmp_path / "named.json")[0] == 0
    edited = seg.model.with_classes({"warm": [0, 2]}, drop=[1])
    out = tmp_path / "out"
    assert run(capsys, "apply", tmp_path / "named.json", photo_file, "-o", out, "-q")[0] == 0
    library = core.apply(edited, photo)
    relabelled = seg.relabel(edited)
    np.testing.assert_array_equal(library.labels, relabelled.labels)
    written = read_png(out / "labels.png").astype(np.int64)
    np.testing.assert_array_equal(np.where(written == 255, -1, written), relabelled.labels)
    rows = read_areas_csv(out / "areas.csv")
    # A dropped cluster has no row, and there is no total row.
    assert [r["name"] for r in rows] == ["warm", "cluster 3", "cluster 4"]
    assert [r["pixels"] for r in rows] == relabelled.counts.tolist()
    assert sum(r["share"] for r in rows) == pytest.approx(1.0, abs=1e-5)
    recipe = json.loads((out / "recipe.json").read_text())
    assert recipe["result"]["names"] == ["warm", "cluster 3", "cluster 4"]
    assert core.ClassModel.load(out / "model.json") == edited
    assert len(list((out / "masks").iterdir())) == 3


def test_a_band_model_applied_to_another_scene_uses_the_fitted_scaling(tifs, tmp_path, capsys):
    first, second = tifs
    seg_out = tmp_path / "seg"
    code, _, err = run(
        capsys, "segment", first, "-k", "4", "--indices", "ndvi", "--no-polygons",
        "-o", seg_out, "-q",
    )  # fmt: skip
    assert code == 0, err
    model = core.ClassModel.load(seg_out / "model.json")
    assert model.features.kind == "bands" and model.axes == ("blue", "green", "red", "nir", "NDVI")
    assert run(capsys, "classes", seg_out / "model.json", "--group", "bright=0,1",
               "-o", tmp_path / "named.json")[0] == 0  # fmt: skip
    named = core.ClassModel.load(tmp_path / "named.json")
    # The fitted image: apply equals segment's labels.
    same = tmp_path / "same"
    assert run(capsys, "apply", seg_out / "model.json", first, "-o", same, "-q")[0] == 0
    with rasterio.open(same / "labels.tif") as a, rasterio.open(seg_out / "labels.tif") as b:
        np.testing.assert_array_equal(a.read(1), b.read(1))
    # Another scene, other statistics: the library's classes, and identical pixels alike.
    out = tmp_path / "out"
    assert run(capsys, "apply", tmp_path / "named.json", second, "-o", out, "-q")[0] == 0
    with rasterio.open(out / "labels.tif") as src:
        labels = src.read(1)
    expected = core.apply(named, second)
    np.testing.assert_array_equal(np.where(labels == 255, -1, labels), expected.labels)
    # Identical band values, identical classes, whatever the rest of the scene.
    on_first = core.apply(named, first).labels
    np.testing.assert_array_equal(expected.labels[:, 15:], on_first[:, 15:])
    assert core.open_raster(second).data[:, :, :15].mean() > 1.5 * scene(0).mean()
    assert [r["name"] for r in read_areas_csv(out / "areas.csv")] == list(named.class_names)


def _gdal_category_names(path: Path) -> list[str]:
    """Category names as GDAL itself reads them (rasterio's libgdal, through ctypes)."""
    import rasterio

    libs = os.path.join(os.path.dirname(rasterio.__file__), "..", "rasterio.libs", "libgdal*")
    found = glob.glob(libs)
    if not found:
        pytest.skip("rasterio's GDAL library is not where a wheel puts it")
    gdal = ctypes.CDLL(found[0])
    gdal.GDALAllRegister()
    gdal.GDALOpen.restype = ctypes.c_void_p
    gdal.GDALOpen.argtypes = [ctypes.c_char_p, ctypes.c_int]
    gdal.GDALGetRasterBand.restype = ctypes.c_void_p
    gdal.GDALGetRasterBand.argtypes = [ctypes.c_void_p, ctypes.c_int]
    gdal.GDALGetDefaultRAT.restype = ctypes.c_void_p
    gdal.GDALGetDefaultRAT.argtypes = [ctypes.c_void_p]
    gdal.GDALGetRasterCategoryNames.restype = ctypes.POINTER(ctypes.c_char_p)
    gdal.GDALGetRasterCategoryNames.argtypes = [ctypes.c_void_p]
    gdal.GDALClose.argtypes = [ctypes.c_void_p]
    dataset = gdal.GDALOpen(str(path).encode(), 0)
    band = gdal.GDALGetRasterBand(dataset, 1)
    assert gdal.GDALGetDefaultRAT(band)  # the attribute table is read
    names = gdal.GDALGetRasterCategoryNames(band)
    found_names = []
    i = 0
    while names and names[i]:
        found_names.append(names[i].decode())
        i += 1
    gdal.GDALClose(dataset)
    return found_names


def test_class_names_reach_the_gis_files(tifs, tmp_path, capsys):
    first, _ = tifs
    model = core.segment_raster(core.open_raster(first), 3).model
    model = model.with_classes({"water & shade": [0], "<field>": [1, 2]})
    model.save(tmp_path / "named.json")
    out = tmp_path / "out"
    assert run(capsys, "apply", tmp_path / "named.json", first, "-o", out, "-q")[0] == 0
    names = ["water & shade", "<field>"]
    assert _gdal_category_names(out / "labels.tif") == names
    qml = (out / "labels.qml").read_text()
    assert 'type="paletted"' in qml and 'label="water &amp; shade"' in qml
    assert f'color="{model.hex_colors[1]}"' in qml and 'label="&lt;field&gt;"' in qml
    with rasterio.open(out / "labels.tif") as src:
        assert src.colormap(1)[1][:3] == tuple(model.class_colors[1])
    features = json.loads((out / "classes.geojson").read_text())["features"]
    assert features and {f["properties"]["name"] for f in features} == set(names)


# --- bad input: one line, exit 2, nothing written ------------------------------------------


def test_bad_models_exit_2_and_write_nothing(photo_file, tifs, tmp_path, capsys):
    first, _ = tifs
    band_model = core.segment_raster(core.open_raster(first), 3).model
    band_model.save(tmp_path / "bands.json")
    (tmp_path / "text.json").write_text("not json {")
    newer = json.loads(band_model.to_json())
    newer["version"] = 99
    (tmp_path / "newer.json").write_text(json.dumps(newer))
    three = write_tif(tmp_path / "three.tif", scene(2)[:3], names=["blue", "green", "red"])
    cases = [
        ("text.json", photo_file, "not valid JSON"),
        ("newer.json", photo_file, "format version 99, newer than this kseg reads"),
        ("missing.json", photo_file, "was not found"),
        ("bands.json", photo_file, "needs band 'nir'"),
        ("bands.json", three, "needs band 'nir'"),
    ]
    for model, image, match in cases:
        out = tmp_path / "out"
        code, _, err = run(capsys, "apply", tmp_path / model, image, "-o", out)
        assert code == EXIT_ERROR, err
        assert err.startswith("kseg: error: ") and match in err, err
        assert len(err.strip().splitlines()) == 1
        assert not out.exists(), f"{model} on {image}: the output folder was created"
    # Several inputs: the first is classified before the folder is made.
    code, _, err = run(capsys, "apply", tmp_path / "bands.json", three, first, "-o", tmp_path / "o")
    assert code == EXIT_ERROR and "needs band 'nir'" in err
    assert not (tmp_path / "o").exists()
    code, _, err = run(capsys, "classes", tmp_path / "newer.json")
    assert code == EXIT_ERROR and "newer than this kseg" in err


# --- one areas table from every command -----------------------------------------------------


def test_every_areas_csv_reads_through_one_reader(photo_file, tifs, tmp_path, capsys):
    first, second = tifs
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, name in enumerate(("a.png", "b.png")):
        Image.fromarray(small_photo("china.jpg", 12 + i)).save(photos / name)
    calls = {
        "segment photo": ["segment", photo_file, "-k", "3"],
        "segment GeoTIFF": ["segment", first, "-k", "3", "--no-polygons"],
        "batch": ["batch", photos, "-k", "3", "--workers", "0"],
        "apply photo": ["apply", "{segment photo}/model.json", photo_file],
        "apply photos": ["apply", "{segment photo}/model.json", photos, "--workers", "0"],
        "apply GeoTIFF": ["apply", "{segment GeoTIFF}/model.json", second],
        "apply GeoTIFFs": ["apply", "{segment GeoTIFF}/model.json", first, second],
    }
    folders = {name: tmp_path / name.replace(" ", "_") for name in calls}
    for name, argv in calls.items():
        argv = [str(a).format(**{k: str(v) for k, v in folders.items()}) for a in argv]
        code, _, err = run(capsys, *argv, "-o", folders[name], "-q")
        assert code == 0, f"{name}: {err}"
    expected = {
        "segment photo": BASE,
        "segment GeoTIFF": BASE + AREAS,
        "batch": ["file", *BASE],
        "apply photo": BASE,
        "apply photos": ["file", *BASE],
        "apply GeoTIFF": BASE + AREAS,
        "apply GeoTIFFs": ["file", *BASE, *AREAS],
    }
    for name, columns in expected.items():
        path = folders[name] / "areas.csv"
        assert header(path) == columns, name
        assert [c for c in AREA_COLUMNS if c in columns] == columns  # one order everywhere
        rows = read_areas_csv(path)
        assert rows and all(list(row) == columns for row in rows), name
        assert all(isinstance(row["pixels"], int) and 0 <= row["share"] <= 1 for row in rows)
        assert (folders[name] / "model.json").exists(), name
    files = {r["file"] for r in read_areas_csv(folders["apply GeoTIFFs"] / "areas.csv")}
    assert files == {"scene1.tif", "scene2.tif"}


# --- the collection's model -----------------------------------------------------------------


def test_the_collection_model_is_a_class_model_with_one_vocabulary(photo):
    images = [photo, photo[::-1]]
    model = core.fit_collection(images, 3)
    assert isinstance(model, core.ClassModel) and model.k == 3
    assert model.wcss > 0 and model.shares.sum() == pytest.approx(1.0)
    assert model.counts.sum() == model.n_pixels == 2 * photo.shape[0] * photo.shape[1]
    for old, new in (("inertia", "wcss"), ("fractions", "shares"), ("palette", "cluster_colors")):
        with pytest.warns(DeprecationWarning, match=f"CollectionModel.{old} is deprecated"):
            value = getattr(model, old)
        assert value is getattr(model, new)
    with pytest.warns(DeprecationWarning, match="core.Palette is deprecated"):
        assert core.Palette is CollectionModel
    with pytest.warns(DeprecationWarning, match="apply_palette"):
        old = core.apply_palette(photo, model)
    new = core.apply(model, photo)
    np.testing.assert_array_equal(old.labels, new.labels)
    np.testing.assert_array_equal(old.counts, new.counts)
    # Edits keep the fit's record, and survive JSON.
    edited = model.with_classes({"one": [0, 2]})
    assert isinstance(edited, CollectionModel) and edited.n_images == 2
    again = CollectionModel.from_json(edited.to_json())
    assert again == edited and again.counts.tolist() == model.counts.tolist()
    result = core.segment_collection(images, edited)
    assert [r["name"] for r in result.areas()][:2] == ["one", "cluster 1"]


def test_exports_carry_class_names(photo):
    seg = core.segment(photo, 3)
    named = seg.relabel(seg.model.with_classes({"sky": [0], "ground": [1, 2]}))
    assert export.palette_gpl(named).splitlines()[4].endswith(f"sky ({named.shares[0]:.1%})")
    assert export.palette_csv(named).splitlines()[0].split(",")[:2] == ["cluster", "name"]
    assert export.palette_csv(named).splitlines()[2].split(",")[1] == "ground"
    assert [row["name"] for row in json.loads(export.palette_json(named))] == ["sky", "ground"]
    assert export.recipe(named)["result"]["names"] == ["sky", "ground"]
    # An unnamed result keeps its GIMP lines as before.
    assert export.palette_gpl(seg).splitlines()[4].split("\t")[1].startswith("cluster 0 (")
