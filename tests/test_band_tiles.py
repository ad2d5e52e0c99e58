"""Multiband collections (core.collection.band_tiles): one band model over GeoTIFF tiles."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from affine import Affine
from helpers import write_tif

import core
from core.collection.band_tiles import (
    EMPTY_NOTE,
    fit_band_collection,
    label_band_tiles,
    segment_band_collection,
)

H, W = 40, 50
# Pixel vectors (red, nir) planted in every tile: they must get one class everywhere.
SHARED = np.array([[300, 2500], [1200, 1300], [2600, 900], [800, 3000], [2000, 2100]], np.uint16)


def _tile(rng: np.random.Generator, low: int, high: int) -> np.ndarray:
    """A (2, H, W) uint16 tile of red/nir values in [low, high), SHARED in its first row."""
    data = rng.integers(low, high, size=(2, H, W)).astype(np.uint16)
    data[:, 0, : len(SHARED)] = SHARED.T
    return data


def _transform(i: int) -> Affine:
    return Affine(10.0, 0.0, 500_000.0 + i * W * 10, 0.0, -10.0, 4_200_000.0)


@pytest.fixture
def tiles(tmp_path):
    """Three tiles side by side (UTM, 10 m) with very different statistics."""
    rng = np.random.default_rng(7)
    ranges = [(100, 1500), (1000, 3500), (200, 3200)]
    paths = []
    for i, (low, high) in enumerate(ranges):
        data = _tile(rng, low, high)
        data[:, -3:, -4:] = 0  # a corner of no-data
        paths.append(
            str(write_tif(tmp_path / f"t{i}.tif", data, transform=_transform(i), nodata=0,
                          names=["red", "nir"]))
        )  # fmt: skip
    return paths


def _read(path):
    import rasterio

    with rasterio.open(path) as src:
        return src.read(1)


def test_identical_pixels_get_one_class_in_every_tile(tiles, tmp_path):
    out = tmp_path / "out"
    result = segment_band_collection(tiles, 4, out, bands=["red", "nir"], indices=["ndvi"])
    model = result.model
    assert model.features.kind == "bands"
    assert model.features.bands == ("red", "nir") and model.features.indices == ("ndvi",)
    assert not result.errors and not result.empty
    classes = []
    for i, path in enumerate(tiles):
        labels = _read(out / "labels" / f"t{i}.tif")
        expected = core.apply(model, path).labels  # the model's own scaling
        assert np.array_equal(labels, np.where(expected < 0, 255, expected))
        classes.append(labels[0, : len(SHARED)])
    for other in classes[1:]:
        assert np.array_equal(other, classes[0])
    # The shared vectors are spread over several classes (the check is not trivial) …
    assert len(set(classes[0].tolist())) >= 2
    # … and a per-tile scaling would break it: tile 0 scaled by its own statistics.
    own = core.segment_raster(tiles[0], 4, bands=["red", "nir"], indices=["ndvi"])
    assert own.model.features.mean != model.features.mean
    rows = list(csv.DictReader((out / "areas.csv").read_text(encoding="utf-8").splitlines()))
    assert {r["file"] for r in rows} == {"t0.tif", "t1.tif", "t2.tif"}
    assert sum(int(r["pixels"]) for r in rows) == 3 * (H * W - 12)
    assert core.ClassModel.load(out / "model.json") == model
    assert (out / "segmented" / "t2.tif").exists() and not (out / "errors.csv").exists()


def _raw_features(paths):
    """Every valid pixel's (red, nir, ndvi) of every tile, concatenated (the oracle's data)."""
    rows = []
    for path in paths:
        raster = core.open_raster(path)
        red = raster.data[0][raster.valid].astype(np.float32)
        nir = raster.data[1][raster.valid].astype(np.float32)
        ndvi = (nir - red) / (nir + red)
        rows.append(np.column_stack([red, nir, ndvi]).astype(np.float32))
    return np.concatenate(rows)


def _numpy_lloyd(x, centers, tol_abs, max_iter=300):
    """Plain Lloyd in float64 until the centres' squared movement is at most tol_abs."""
    for _ in range(max_iter):
        d2 = ((x[:, None, :] - centers[None]) ** 2).sum(axis=2)
        labels = d2.argmin(axis=1)
        new = np.array([x[labels == j].mean(axis=0) for j in range(len(centers))])
        shift = float(np.square(new - centers).sum())
        centers = new
        if shift <= tol_abs:
            break
    d2 = ((x[:, None, :] - centers[None]) ** 2).sum(axis=2)
    labels = d2.argmin(axis=1)
    return centers, float(d2.min(axis=1).sum()), np.bincount(labels, minlength=len(centers))


def test_fit_equals_numpy_lloyd_on_the_concatenated_standardised_pixels(tiles):
    raw = _raw_features(tiles)
    x64 = raw.astype(np.float64)
    mean, std = x64.mean(axis=0), x64.std(axis=0)
    # The same float32 scaling steps band_features takes.
    x = ((raw - mean.astype(np.float32)) * (1.0 / std).astype(np.float32)).astype(np.float64)
    init = x[np.random.default_rng(3).choice(len(x), 5, replace=False)]
    model = fit_band_collection(tiles, 5, bands=["red", "nir"], indices=["ndvi"], init=init)
    np.testing.assert_allclose(model.features.mean, mean, rtol=1e-12)
    np.testing.assert_allclose(model.features.std, std, rtol=1e-9)
    centers, wcss, counts = _numpy_lloyd(x, init, tol_abs=1e-4)
    assert model.wcss == pytest.approx(wcss, rel=1e-9)
    order = np.argsort(-counts, kind="stable")
    np.testing.assert_allclose(model.centers, centers[order], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(model.shares, counts[order] / counts.sum())


def test_empty_tiles_are_listed_as_empty_not_as_errors(tiles, tmp_path):
    empty = write_tif(tmp_path / "void.tif", np.zeros((2, H, W), np.uint16), nodata=0,
                      transform=_transform(3), names=["red", "nir"])  # fmt: skip
    out = tmp_path / "out"
    result = segment_band_collection([*tiles, str(empty)], 3, out, bands=["red", "nir"])
    assert [t.name for t in result.empty] == ["void.tif"]
    assert result.empty[0].note == EMPTY_NOTE
    assert not result.errors and not (out / "errors.csv").exists()
    rows = [r for r in csv.DictReader((out / "areas.csv").read_text(encoding="utf-8").splitlines())]
    void = [r for r in rows if r["file"] == "void.tif"]
    assert len(void) == 3 and all(r["pixels"] == "0" for r in void)
    # An unreadable tile is an error, and the others still run.
    broken = tmp_path / "broken.tif"
    broken.write_bytes(b"II*\x00 not a tiff")
    result = segment_band_collection([*tiles, str(broken)], 3, out, bands=["red", "nir"])
    assert [t.name for t in result.errors] == ["broken.tif"]
    assert "broken.tif" in (out / "errors.csv").read_text(encoding="utf-8")


def test_labels_vrt_is_a_mosaic_of_the_tiles(tiles, tmp_path):
    import rasterio

    out = tmp_path / "out"
    # A fourth tile below the first: the mosaic is 2 tiles high, with a hole.
    rng = np.random.default_rng(1)
    shifted = _transform(0) @ Affine.translation(0, H)
    below = write_tif(tmp_path / "below.tif", _tile(rng, 100, 3000), nodata=0,
                      transform=shifted, names=["red", "nir"])  # fmt: skip
    paths = [*tiles, str(below)]
    result = segment_band_collection(paths, 3, out, bands=["red", "nir"])
    assert result.vrt_note == ""
    with rasterio.open(out / "labels.vrt") as vrt:
        assert (vrt.width, vrt.height) == (3 * W, 2 * H)
        assert vrt.crs.to_epsg() == 32633 and vrt.nodata == 255
        assert vrt.transform == _transform(0)
        mosaic = vrt.read(1)
        colormap = vrt.colormap(1)
    offsets = {"t0": (0, 0), "t1": (0, W), "t2": (0, 2 * W), "below": (H, 0)}
    for stem, (row, col) in offsets.items():
        labels = _read(out / "labels" / f"{stem}.tif")
        assert np.array_equal(mosaic[row : row + H, col : col + W], labels)
    assert (mosaic[H:, W:] == 255).all()  # no tile there
    assert colormap[0][:3] == tuple(int(v) for v in result.model.class_colors[0])


def test_labels_vrt_is_skipped_with_a_note_across_crss(tiles, tmp_path):
    rng = np.random.default_rng(2)
    other = write_tif(tmp_path / "wm.tif", _tile(rng, 100, 3000), nodata=0, crs="EPSG:3857",
                      names=["red", "nir"])  # fmt: skip
    out = tmp_path / "out"
    result = segment_band_collection([*tiles, str(other)], 3, out, bands=["red", "nir"])
    assert "different CRSs" in result.vrt_note
    assert not (out / "labels.vrt").exists() and len(result.labelled) == 4


def test_kept_model_on_new_tiles_writes_the_same_layout(tiles, tmp_path):
    model = fit_band_collection(tiles[:2], 3, bands=["red", "nir"], indices=["ndvi"])
    out = tmp_path / "applied"
    result = label_band_tiles(model, tiles, out)
    assert len(result.labelled) == 3 and (out / "labels.vrt").exists()
    labels = _read(out / "labels" / "t2.tif")
    expected = core.apply(model, tiles[2]).labels
    assert np.array_equal(labels, np.where(expected < 0, 255, expected))
    assert core.ClassModel.load(out / "model.json") == model


def test_dask_run_equals_the_in_process_run(tiles, tmp_path):
    distributed = pytest.importorskip("distributed")
    options = {"bands": ["red", "nir"], "indices": ["ndvi"]}
    here = segment_band_collection(tiles, 3, tmp_path / "here", **options)
    with (
        distributed.LocalCluster(
            n_workers=2, processes=False, threads_per_worker=1, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        there = segment_band_collection(tiles, 3, tmp_path / "there", client=client, **options)
    assert there.model.to_json() == here.model.to_json()
    assert there.n_iter == here.n_iter
    for name in ("areas.csv", "labels.vrt", "labels/t0.tif", "labels/t2.tif"):
        assert (tmp_path / "there" / name).read_bytes() == (tmp_path / "here" / name).read_bytes()


def test_bad_arguments_say_what_to_do(tiles):
    with pytest.raises(ValueError, match="fewer than k"):
        fit_band_collection(tiles, 10_000, bands=["red", "nir"])
    with pytest.raises(ValueError, match="init must be"):
        fit_band_collection(tiles, 2, bands=["red", "nir"], init=np.zeros((3, 2)))
    with pytest.raises(ValueError, match="No tile could be read"):
        fit_band_collection(tiles, 2, bands=["swir"])


def test_k_above_the_distinct_values_stops_at_once(tmp_path):
    data = np.ones((2, H, W), np.uint16)
    data[:, : H // 2] = 7  # two distinct pixel vectors
    path = str(write_tif(tmp_path / "two.tif", data, names=["red", "nir"]))
    assert fit_band_collection([path], 2, bands=["red", "nir"]).shares.tolist() == [0.5, 0.5]
    with pytest.raises(ValueError, match=r"k=3 is more than the distinct .* \(2 found\)"):
        fit_band_collection([path], 3, bands=["red", "nir"])


# --- kseg batch --bands / kseg apply: the CLI face -----------------------------------------


def _cli(capsys, *argv):
    from core.cli.main import main

    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_kseg_batch_with_bands_equals_the_library_and_apply_reuses_its_model(
    tiles, tmp_path, capsys
):
    empty = write_tif(tmp_path / "void.tif", np.zeros((2, H, W), np.uint16), nodata=0,
                      transform=_transform(3), names=["red", "nir"])  # fmt: skip
    out = tmp_path / "cli"
    argv = ["batch", *tiles, empty, "--bands", "red,nir", "--indices", "ndvi", "-k", "4"]
    code, stdout, err = _cli(capsys, *argv, "--workers", "0", "-o", out)
    assert code == 0, err
    assert "void.tif" in err and "could not" not in err and not (out / "errors.csv").exists()
    assert "classified 3 of 4" in stdout
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["empty"] == ["void.tif"] and summary["failed"] == 0
    assert summary["model"]["converged"] and summary["labels_vrt"] == "labels.vrt"
    library = segment_band_collection(
        tiles, 4, tmp_path / "lib", bands=["red", "nir"], indices=["ndvi"]
    )
    model = core.ClassModel.load(out / "model.json")
    assert model == library.model
    for i in range(3):
        assert np.array_equal(
            _read(out / "labels" / f"t{i}.tif"), _read(tmp_path / "lib" / "labels" / f"t{i}.tif")
        )
    assert (out / "labels.vrt").exists()
    # kseg apply of that model on new tiles: the same layout.
    rng = np.random.default_rng(5)
    new = []
    for i in range(2):
        new.append(write_tif(tmp_path / f"new{i}.tif", _tile(rng, 500, 2500), nodata=0,
                             transform=_transform(i), names=["red", "nir"]))  # fmt: skip
    applied = tmp_path / "applied"
    code, _, err = _cli(capsys, "apply", out / "model.json", *new, "-o", applied, "-q")
    assert code == 0, err
    names = sorted(p.relative_to(applied).as_posix() for p in applied.rglob("*") if p.is_file())
    assert names == [
        "areas.csv", "labels.vrt", "labels/new0.tif", "labels/new1.tif", "model.json",
        "segmented/new0.tif", "segmented/new1.tif", "summary.json",
    ]  # fmt: skip
    shared = [_read(applied / "labels" / f"new{i}.tif")[0, : len(SHARED)] for i in range(2)]
    assert np.array_equal(shared[0], shared[1])
    assert np.array_equal(shared[0], _read(out / "labels" / "t0.tif")[0, : len(SHARED)])


def test_kseg_batch_bands_refuses_what_it_cannot_do(tiles, tmp_path, capsys):
    code, _, err = _cli(capsys, "batch", *tiles, "--bands", "red,nir", "-k", "2",
                        "--per-image", "-o", tmp_path / "o")  # fmt: skip
    assert code == 2 and "--per-image" in err
    code, _, err = _cli(capsys, "batch", *tiles, "--bands", "swir", "-k", "2",
                        "--workers", "0", "-o", tmp_path / "o2")  # fmt: skip
    assert code == 2 and err.startswith("kseg: error: ") and "swir" in err
