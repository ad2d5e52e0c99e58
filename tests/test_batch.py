"""``kseg batch`` / ``kseg apply`` end to end, in process, on a LocalCluster and on a real
``dask scheduler`` with ``dask worker`` processes on 127.0.0.1."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from helpers import read_csv, run_kseg, small_photo, write_tif
from PIL import Image

import core
from core.cli import EXIT_ERROR, batch, main
from core.collection import (
    CollectionModel,
    fit_collection,
    read_segmented,
    segment_collection,
)
from devtools.browser import free_port

ROOT = Path(__file__).resolve().parents[1]
Palette = CollectionModel


def apply_palette(image, model):
    """The deprecated core.apply_palette: core.apply, a file read with the model's band
    mapping."""
    with pytest.deprecated_call():
        return core.collection.apply_palette(image, model)


def assert_same_palette(a: Palette, b: Palette) -> None:
    """Two fits of the same pixels: the same clusters; sums equal up to rounding (kernels
    or NumPy, thread counts)."""
    assert a.params == b.params
    assert a.hex_colors == b.hex_colors
    assert a.counts.tolist() == b.counts.tolist()
    np.testing.assert_allclose(a.centers, b.centers, rtol=1e-9, atol=1e-12)
    assert a.wcss == pytest.approx(b.wcss, rel=1e-9)


def _images() -> list[np.ndarray]:
    a, b = small_photo("flower.jpg", 8), small_photo("china.jpg", 8)
    return [np.roll(a if i % 2 else b, 5 * i, axis=1) for i in range(6)]


@pytest.fixture
def folder(tmp_path) -> Path:
    """Six small PNGs and one broken file."""
    folder = tmp_path / "in"
    folder.mkdir()
    for i, image in enumerate(_images()):
        Image.fromarray(image).save(folder / f"img{i}.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    return folder


def test_batch_writes_tables_and_images(folder, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["batch", str(folder), "-k", "4", "-o", str(out), "--workers", "0", "-q"])
    err = capsys.readouterr().err
    assert code == 0
    assert err.strip().splitlines()[-1].startswith("kseg: warning: 1 of 7 file(s)")
    images = _images()
    palette = fit_collection(images, 4)
    assert_same_palette(Palette.from_json((out / "model.json").read_text()), palette)
    rows = read_csv(out / "areas.csv")
    assert list(rows[0]) == ["file", "class", "name", "hex", "pixels", "share"]
    assert len(rows) == 6 * 4
    for i, image in enumerate(images):
        seg = apply_palette(image, palette)
        mine = [r for r in rows if r["file"] == f"img{i}.png"]
        assert [int(r["pixels"]) for r in mine] == seg.counts.tolist()
        assert [r["hex"] for r in mine] == palette.hex_colors
        with Image.open(out / "labels" / f"img{i}.png") as labels:
            np.testing.assert_array_equal(np.asarray(labels), seg.labels)
        with Image.open(out / "segmented" / f"img{i}.png") as painted:
            np.testing.assert_array_equal(np.asarray(painted), seg.segmented)
    errors = read_csv(out / "errors.csv")
    assert [e["file"] for e in errors] == ["broken.png"]
    assert "broken.png" in errors[0]["error"]
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["inputs"], summary["segmented"], summary["failed"]) == (7, 6, 1)
    assert summary["palette"]["hex"] == palette.hex_colors
    assert {"fit", "labels", "total"} <= set(summary["timings_s"])


def test_batch_pixel_size_masks_and_list_file(folder, tmp_path, capsys):
    listing = tmp_path / "files.txt"
    listing.write_text("# two images\nin/img0.png\nin/img1.png  # the flower\n")
    out = tmp_path / "out"
    argv = ["batch", str(listing), "-k", "3", "-o", str(out), "--workers", "0", "-q"]
    assert main([*argv, "--pixel-size", "10", "--masks"]) == 0
    rows = read_csv(out / "areas.csv")
    assert list(rows[0])[-3:] == ["area_m2", "area_ha", "area_basis"]
    assert {r["file"] for r in rows} == {"img0.png", "img1.png"}
    for r in rows:
        assert float(r["area_m2"]) == pytest.approx(int(r["pixels"]) * 100.0)
        assert float(r["area_ha"]) == pytest.approx(int(r["pixels"]) * 0.01)
    assert len(list((out / "masks" / "img0").glob("mask_*.png"))) == 3
    assert not (out / "errors.csv").exists()


def test_batch_exit_2_when_nothing_can_be_read(tmp_path, capsys):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"nope")
    code = main(
        [
            "batch",
            str(bad),
            str(tmp_path / "missing.png"),
            "-k",
            "3",
            "-o",
            str(tmp_path / "o"),
            "--workers",
            "0",
            "-q",
        ]
    )
    err = capsys.readouterr().err
    assert code == EXIT_ERROR
    assert err.startswith("kseg: error: None of the 2 input file(s) could be read")
    assert len(read_csv(tmp_path / "o" / "errors.csv")) == 2


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["batch", "{folder}", "-o", "{out}"], "Give the number of clusters with -k"),
        (["batch", "{folder}", "-k", "3", "--palette", "p.json", "-o", "{out}"], "leave out -k"),
        (["batch", "{folder}/*.heic", "-k", "3", "-o", "{out}"], "No file matches"),
        (["batch", "{empty}", "-k", "3", "-o", "{out}"], "holds no image files"),
        (["batch", "{folder}", "-k", "0", "-o", "{out}"], "positive whole number"),
        (["batch", "{folder}", "-k", "3", "--pixel-size", "-1", "-o", "{out}"], "positive number"),
        (["apply", "{folder}/nope.json", "{folder}", "-o", "{out}"], "was not found"),
        (["apply", "{folder}/img0.png", "{folder}", "-o", "{out}"], "not a kseg class model"),
        (
            [
                "batch",
                "{folder}",
                "-k",
                "3",
                "--scheduler",
                "tcp://127.0.0.1:{port}",
                "-o",
                "{out}",
            ],
            "Could not connect",
        ),
    ],
)
def test_batch_wrong_options_exit_2(folder, tmp_path, capsys, monkeypatch, argv, match):
    monkeypatch.setattr(batch, "CONNECT_TIMEOUT", 1.0)
    empty = tmp_path / "empty"
    empty.mkdir()
    values = {"folder": folder, "out": tmp_path / "o", "empty": empty, "port": free_port()}
    code = main([a.format(**values) for a in argv])
    err = capsys.readouterr().err
    assert code == EXIT_ERROR
    assert err.startswith("kseg: error: ") and match in err, err
    assert len(err.strip().splitlines()) == 1


def test_apply_a_kept_palette(folder, tmp_path, capsys):
    kept = fit_collection(_images()[:2], 5, color_space="oklab")
    palette_file = tmp_path / "kept.json"
    palette_file.write_text(kept.to_json())
    out = tmp_path / "applied"
    assert (
        main(
            [
                "apply",
                str(palette_file),
                str(folder / "img3.png"),
                "-o",
                str(out),
                "-q",
                "--workers",
                "0",
            ]
        )
        == 0
    )
    # One input: kseg segment's layout (the model's classes, no file column).
    rows = read_csv(out / "areas.csv")
    assert [int(r["pixels"]) for r in rows] == apply_palette(_images()[3], kept).counts.tolist()
    assert CollectionModel.load(out / "model.json") == kept
    same = tmp_path / "same"
    assert (
        main(
            [
                "batch",
                str(folder / "img3.png"),
                "--palette",
                str(palette_file),
                "-o",
                str(same),
                "-q",
                "--workers",
                "0",
            ]
        )
        == 0
    )
    same_rows = read_csv(same / "areas.csv")
    assert [r.pop("file") for r in same_rows] == ["img3.png"] * len(rows)
    assert same_rows == rows


def test_per_image_palettes(folder, tmp_path, capsys):
    out = tmp_path / "out"
    assert (
        main(
            [
                "batch",
                str(folder / "img0.png"),
                str(folder / "img1.png"),
                "-k",
                "3",
                "--per-image",
                "-o",
                str(out),
                "-q",
                "--workers",
                "0",
            ]
        )
        == 0
    )
    rows = read_csv(out / "areas.csv")
    first = {r["hex"] for r in rows if r["file"].endswith("img0.png")}
    second = {r["hex"] for r in rows if r["file"].endswith("img1.png")}
    assert first != second
    assert not (out / "model.json").exists()


def test_resume_skips_images_already_written(folder, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["batch", str(folder), "-k", "3", "-o", str(out), "-q", "--workers", "0", "--resume"]
    assert main(argv) == 0
    before = (out / "areas.csv").read_text()
    kept = {p.name: p.stat().st_mtime_ns for p in (out / "segmented").iterdir()}
    (out / "segmented" / "img2.png").unlink()  # this one must be redone
    time.sleep(0.01)
    assert main(argv) == 0
    assert (out / "areas.csv").read_text() == before
    now = {p.name: p.stat().st_mtime_ns for p in (out / "segmented").iterdir()}
    assert set(now) == set(kept)
    redone = {name for name in now if now[name] != kept[name]}
    assert redone == {"img2.png"}
    # Other parameters: nothing is reused.
    assert main([*argv[:3], "4", *argv[4:]]) == 0
    assert all(p.stat().st_mtime_ns != kept[p.name] for p in (out / "segmented").iterdir())


def test_interrupted_run_keeps_what_is_done(folder, tmp_path, capsys, monkeypatch):
    import core.collection

    real = core.collection.segment_collection

    def interrupted(*args, on_row, **kwargs):
        def stop_after_two(row, seen=[]):  # noqa: B006 - a counter for this call only
            on_row(row)
            seen.append(row)
            if len(seen) == 3:
                raise KeyboardInterrupt

        return real(*args, on_row=stop_after_two, **kwargs)

    monkeypatch.setattr(core.collection, "segment_collection", interrupted)
    out = tmp_path / "out"
    code = main(["batch", str(folder), "-k", "3", "-o", str(out), "-q", "--workers", "0"])
    assert code == 130
    assert "interrupted" in capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True
    files = {r["file"] for r in read_csv(out / "areas.csv")} | {
        e["file"] for e in read_csv(out / "errors.csv")
    }
    assert len(files) == 3  # the error row plus two images


def test_find_inputs(folder, tmp_path):
    nested = folder / "sub"
    nested.mkdir()
    Image.fromarray(_images()[0]).save(nested / "deep.jpg")
    (folder / "notes.md").write_text("x")
    flat = batch.find_inputs([str(folder)])
    assert [Path(p).name for p in flat] == ["broken.png", *[f"img{i}.png" for i in range(6)]]
    deep = batch.find_inputs([str(folder)], recursive=True)
    assert Path(deep[-1]).name == "deep.jpg"
    both = batch.find_inputs([str(folder / "img1.png"), str(folder / "img*.png")])
    assert [Path(p).name for p in both] == [
        "img1.png",
        "img0.png",
        *[f"img{i}.png" for i in range(2, 6)],
    ]


# --- a real Dask cluster -------------------------------------------------------------------


@pytest.fixture
def dask_cluster(tmp_path) -> Iterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    """``dask scheduler`` and two ``dask worker`` processes (no nanny) on free ports."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = (tmp_path / "dask.log").open("wb")
    common = {"cwd": ROOT, "env": env, "stdout": log, "stderr": subprocess.STDOUT}
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dask",
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-dashboard",
            ],
            **common,
        )
    ]
    try:
        for _ in range(2):
            processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "dask",
                        "worker",
                        address,
                        "--nthreads",
                        "1",
                        "--no-nanny",
                        "--no-dashboard",
                        "--host",
                        "127.0.0.1",
                        "--memory-limit",
                        "1GB",
                    ],
                    **common,
                )
            )
        from distributed import Client

        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
        yield address, processes[1:]
    finally:
        for process in processes:  # nothing to save: stop at once
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)
        log.close()


def test_batch_on_a_real_cluster_matches_the_in_process_run(folder, tmp_path, dask_cluster, capsys):
    address, _ = dask_cluster
    remote = tmp_path / "remote"
    assert (
        main(["batch", str(folder), "-k", "4", "-o", str(remote), "--scheduler", address, "-q"])
        == 0
    )
    assert "kseg: warning: 1 of 7" in capsys.readouterr().err
    here = tmp_path / "here"
    assert main(["batch", str(folder), "-k", "4", "-o", str(here), "--workers", "0", "-q"]) == 0
    for name in ("areas.csv", "errors.csv"):
        assert (remote / name).read_text() == (here / name).read_text()
    assert_same_palette(
        *(Palette.from_json((o / "model.json").read_text()) for o in (remote, here))
    )
    for name in ("segmented/img0.png", "labels/img5.png"):
        assert (remote / name).read_bytes() == (here / name).read_bytes()
    summary = json.loads((remote / "summary.json").read_text())
    assert (summary["scheduler"], summary["workers"]) == (address, 2)
    traffic = summary["traffic"]
    assert traffic["task_bytes"] > 0 and traffic["result_bytes"] > 0
    assert len(traffic["peak_rss_per_worker"]) == 2
    assert summary["executor"] == "scheduler"
    # A worker's address instead of the scheduler's: said so, in one line.
    from distributed import Client

    capsys.readouterr()

    with Client(address, timeout="60s") as client:
        worker = next(iter(client.scheduler_info()["workers"]))
    assert main(["batch", str(folder), "-k", "4", "-o", str(remote), "--scheduler", worker]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kseg: error: What answers at ") and "is a Dask Worker" in err, err
    assert len(err.strip().splitlines()) == 1


def test_batch_on_the_default_local_cluster(folder, tmp_path):
    """The command as a user runs it: a LocalCluster of worker processes, started and closed."""
    out = tmp_path / "local"
    local = run_kseg("batch", str(folder), "-k", "4", "-o", str(out), "--workers", "2", "-q")
    assert local.returncode == 0, local.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["executor"], summary["workers"]) == ("local cluster", 2)
    assert summary["executor_reason"] == "--workers 2"
    here = tmp_path / "here"
    assert main(["batch", str(folder), "-k", "4", "-o", str(here), "--workers", "0", "-q"]) == 0
    assert (out / "areas.csv").read_text() == (here / "areas.csv").read_text()


def test_killing_a_worker_mid_run_loses_and_duplicates_nothing(tmp_path, dask_cluster):
    from distributed import Client

    address, workers = dask_cluster
    folder = tmp_path / "many"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(24):
        image = np.roll(small_photo("china.jpg" if i % 3 else "flower.jpg", 4), 9 * i, axis=0)
        noisy = np.clip(image + rng.integers(-3, 4, image.shape), 0, 255).astype(np.uint8)
        Image.fromarray(noisy).save(folder / f"tile{i:02d}.png")
    files = sorted(str(p) for p in folder.iterdir())
    undisturbed = segment_collection(files, 5)
    killed: list[str] = []
    seen: list[int] = []
    with Client(address, timeout="60s") as client:
        pids = client.run(os.getpid)

        def kill_one_busy_worker(row) -> None:
            seen.append(row.index)
            if killed or len(seen) < 3:
                return
            busy = [w for w, tasks in client.processing().items() if tasks]
            victim = busy[0] if busy else next(iter(pids))
            os.kill(pids[victim], signal.SIGKILL)
            killed.append(victim)

        result = segment_collection(
            files, 5, client=client, out=tmp_path / "out", on_row=kill_one_busy_worker
        )
        assert len(client.scheduler_info()["workers"]) == 1
    assert killed
    assert sorted(seen) == list(range(24))  # each row once
    assert_same_palette(result.palette, undisturbed.palette)
    assert [(r.file, r.counts) for r in result.rows] == [
        (r.file, r.counts) for r in undisturbed.rows
    ]
    assert len(list((tmp_path / "out" / "segmented").glob("*.png"))) == 24
    assert sum(p.poll() is not None for p in workers) == 1


def test_a_worker_without_kseg_is_explained(folder, tmp_path, capsys, monkeypatch):
    import core.collection

    def missing(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'core'", name="core")

    monkeypatch.setattr(core.collection, "segment_collection", missing)
    code = main(["batch", str(folder), "-k", "3", "-o", str(tmp_path / "o"), "--workers", "0"])
    err = capsys.readouterr().err
    assert code == EXIT_ERROR
    assert err.startswith("kseg: error: A Dask worker could not import core")
    assert "Install kseg on every worker" in err


# --- GeoTIFF inputs (issue 9): GeoTIFF/GeoJSON outputs, areas from the georeference -------


def _rgb_scene(seed: int, height: int = 30, width: int = 40) -> np.ndarray:
    """(3, H, W) uint8: three land covers in vertical bands, a little noise, no zeros."""
    rng = np.random.default_rng(seed)
    covers = np.array([[40, 90, 160], [60, 140, 50], [170, 150, 110]], dtype=np.int16)
    which = np.minimum(np.arange(width) * 3 // width, 2)
    data = covers[which].T[:, None, :] + rng.integers(-6, 7, (3, height, width))
    return np.clip(data, 1, 255).astype(np.uint8)


@pytest.fixture
def geo_folder(tmp_path) -> Path:
    """Two UTM 10 m GeoTIFFs (the second with a no-data corner) and a plain PNG."""
    folder = tmp_path / "tiles"
    folder.mkdir()
    write_tif(folder / "a.tif", _rgb_scene(0))
    b = _rgb_scene(1)
    b[:, :10, :12] = 0  # 120 no-data pixels
    write_tif(folder / "b.tif", b, nodata=0)
    Image.fromarray(_images()[0]).save(folder / "c.png")
    return folder


def test_batch_on_geotiffs_writes_geotiffs_and_areas_from_the_crs(geo_folder, tmp_path):
    import rasterio

    out = tmp_path / "out"
    assert main(["batch", str(geo_folder), "-k", "3", "-o", str(out), "--workers", "0",
                 "--polygons", "-q"]) == 0  # fmt: skip
    rows = read_csv(out / "areas.csv")
    by_file: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_file.setdefault(Path(row["file"]).name, []).append(row)
    assert set(by_file) == {"a.tif", "b.tif", "c.png"}
    # UTM 10 m pixels: 100 m² each on the map, on the ground within UTM's scale factor;
    # b's no-data corner is counted nowhere.
    for name, n_valid in (("a.tif", 30 * 40), ("b.tif", 30 * 40 - 120)):
        assert sum(int(r["pixels"]) for r in by_file[name]) == n_valid
        for r in by_file[name]:
            assert r["area_basis"] == "ellipsoid"
            assert float(r["area_m2"]) == pytest.approx(int(r["pixels"]) * 100.0, rel=2e-3)
            assert float(r["area_ha"]) == pytest.approx(float(r["area_m2"]) / 10_000, abs=1e-6)
        ground = core.open_raster(geo_folder / name).valid_area_m2()
        assert sum(float(r["area_m2"]) for r in by_file[name]) == pytest.approx(ground, abs=0.05)
    assert all(r["area_m2"] == "" for r in by_file["c.png"])  # a photo has no ground size
    assert (out / "labels" / "c.png").exists() and (out / "segmented" / "c.png").exists()
    for name in ("a", "b"):
        with rasterio.open(geo_folder / f"{name}.tif") as scene:
            crs, transform = scene.crs, scene.transform
        with rasterio.open(out / "labels" / f"{name}.tif") as labels:
            assert (labels.crs, labels.transform) == (crs, transform)
            assert labels.dtypes == ("uint8",) and labels.nodata == 255
            assert labels.colormap(1)[0][3] == 255
            data = labels.read(1)
        with rasterio.open(out / "segmented" / f"{name}.tif") as segmented:
            assert (segmented.crs, segmented.transform, segmented.count) == (crs, transform, 4)
        pixels = {int(r["class"]): int(r["pixels"]) for r in by_file[f"{name}.tif"]}
        assert {c: int((data == c).sum()) for c in pixels} == pixels
        geojson = json.loads((out / "polygons" / f"{name}.geojson").read_text())
        assert geojson["type"] == "FeatureCollection" and geojson["features"]
    assert (data[:10, :12] == 255).all() and (data[10:] != 255).all()  # b's no-data


def test_nodata_never_changes_the_palette(geo_folder, tmp_path):
    """Oracle: the no-data pixels of b.tif, filled with any colour, give the same fit as
    b.tif's valid pixels alone (a PNG of them with those pixels transparent)."""
    import core

    loaded = core.open_image(geo_folder / "b.tif")
    assert loaded.alpha is not None and int((loaded.alpha == 0).sum()) == 120
    assert loaded.raster is not None
    bands = np.moveaxis(loaded.raster.data, 0, 2)  # uint8: clustered as stored, no stretch
    rgba = np.dstack([np.where(loaded.alpha[..., None] > 0, bands, 7), loaded.alpha])
    Image.fromarray(rgba).save(tmp_path / "b.png")
    from_raster = fit_collection([geo_folder / "b.tif"], 3)
    from_png = fit_collection([tmp_path / "b.png"], 3)
    assert_same_palette(from_raster, from_png)
    assert from_raster.n_pixels == 30 * 40 - 120
    # The same clusters and shares as segment(mask="auto") on the file.
    row = segment_collection([tmp_path / "b.png"], 3).rows[0]
    seg = core.segment(core.open_image(tmp_path / "b.png"), 3)
    assert list(row.counts) == seg.counts.tolist()


def test_transparent_pixels_are_left_out_and_transparent_in_the_outputs(tmp_path):
    image = _images()[1]
    alpha = np.full(image.shape[:2], 255, dtype=np.uint8)
    alpha[:, :7] = 0
    Image.fromarray(np.dstack([image, alpha])).save(tmp_path / "logo.png")
    result = segment_collection([tmp_path / "logo.png"], 3, out=tmp_path / "out")
    row = result.rows[0]
    assert sum(row.counts) == int((alpha > 0).sum())
    with Image.open(row.outputs["segmented"]) as painted:
        assert painted.mode == "RGBA"
        assert (np.asarray(painted)[:, :7, 3] == 0).all()
    with Image.open(row.outputs["labels"]) as labels:
        values = np.asarray(labels)
        assert (values[:, :7] == 255).all() and (values[:, 7:] < 3).all()


def test_geotiff_uploads_as_bytes_give_label_geotiffs(geo_folder, tmp_path):
    """The dashboard's path: uploads are bytes; the ZIP of outputs holds the GeoTIFFs."""
    import zipfile

    from core.collection import outputs_zip

    sources = {name: (geo_folder / name).read_bytes() for name in ("a.tif", "b.tif")}
    result = segment_collection(sources, 3, out=tmp_path / "out")
    assert all(row.areas_m2 for row in result.rows)
    names = zipfile.ZipFile(io.BytesIO(outputs_zip(tmp_path / "out"))).namelist()
    assert {"labels/a.tif", "labels/b.tif", "segmented/a.tif"} <= set(names)
    # Thumbnails: the painted colours as written, not stretched for display.
    painted = read_segmented(result.rows[1].outputs["segmented"])
    assert painted.shape == (30, 40, 3)
    colors = {tuple(c) for c in result.palette.cluster_colors.tolist()}
    assert {tuple(c) for c in painted[10:].reshape(-1, 3).tolist()} <= colors


def test_an_all_transparent_image_is_listed_empty_not_as_an_error(tmp_path):
    # Issue 23: empty (all no-data / transparent) images are listed at 0 pixels, not as
    # files that could not be read; only a collection with no pixel at all is an error.
    Image.fromarray(np.zeros((8, 8, 4), dtype=np.uint8)).save(tmp_path / "empty.png")
    Image.fromarray(_images()[0]).save(tmp_path / "photo.png")
    result = segment_collection([tmp_path / "empty.png", tmp_path / "photo.png"], 2)
    assert [row.ok for row in result.rows] == [True, True]
    assert result.rows[0].counts == (0, 0) and sum(result.rows[1].counts) > 0
    assert fit_collection([tmp_path / "empty.png", tmp_path / "photo.png"], 2).same_fit(
        fit_collection([tmp_path / "photo.png"], 2)
    )
    with pytest.raises(core.ImageError, match="is transparent or no-data"):
        fit_collection([tmp_path / "empty.png"], 2)


def test_kseg_apply_maps_a_new_uint16_tile_with_the_kept_band_mapping(tmp_path):
    """batch writes the collection's band mapping into model.json; apply uses it, so a new
    tile's areas are those of apply_palette with the kept palette (not a stretch of its own)."""
    rng = np.random.default_rng(4)
    tiles = tmp_path / "tiles"
    tiles.mkdir()
    for i, top in enumerate((1200, 9000)):  # two value ranges
        data = rng.integers(300, top, (3, 16, 20)).astype(np.uint16)
        write_tif(tiles / f"t{i}.tif", data)
    new = write_tif(tmp_path / "new.tif", rng.integers(300, 4000, (3, 16, 20)).astype(np.uint16))
    out = tmp_path / "out"
    assert main(["batch", str(tiles), "-k", "4", "-o", str(out), "--workers", "0", "-q"]) == 0
    text = (out / "model.json").read_text()
    mapping = json.loads(text)["fit"]["band_mapping"]
    assert mapping["dtype"] == "uint16" and mapping["bands"] == [0, 1, 2]
    applied = tmp_path / "applied"
    args = ["apply", str(out / "model.json"), str(new), "-o", str(applied), "--workers", "0"]
    assert main([*args, "-q"]) == 0
    pixels = [int(r["pixels"]) for r in read_csv(applied / "areas.csv")]
    kept = Palette.from_json(text)
    assert pixels == apply_palette(new, kept).counts.tolist()
    own_stretch = apply_palette(core.open_image(new).rgb, kept)  # what per-tile would give
    assert pixels != own_stretch.counts.tolist()


def test_empty_tiles_are_listed_as_empty_not_as_errors(tmp_path, capsys):
    rng = np.random.default_rng(0)
    full = write_tif(tmp_path / "a.tif", rng.integers(1, 3000, (3, 20, 30)).astype(np.uint16),
                     nodata=0, names=["red", "green", "blue"])  # fmt: skip
    void = write_tif(tmp_path / "void.tif", np.zeros((3, 20, 30), np.uint16), nodata=0,
                     names=["red", "green", "blue"])  # fmt: skip
    out = tmp_path / "out"
    code = main(["batch", str(full), str(void), "-k", "3", "--workers", "0", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 0 and "could not be read" not in err and "void.tif" in err
    assert not (out / "errors.csv").exists()
    rows = list(csv.DictReader(io.StringIO((out / "areas.csv").read_text(encoding="utf-8"))))
    assert [r["pixels"] for r in rows if r["file"] == "void.tif"] == ["0", "0", "0"]
    assert sum(int(r["pixels"]) for r in rows if r["file"] == "a.tif") == 600
    assert json.loads((out / "summary.json").read_text(encoding="utf-8"))["empty"] == ["void.tif"]
    # Only empty images: nothing to fit, one clear error.
    code = main(["batch", str(void), "-k", "3", "--workers", "0", "-q", "-o", str(tmp_path / "o2")])
    err = capsys.readouterr().err
    assert code == EXIT_ERROR and "nothing to fit" in err and len(err.strip().splitlines()) == 1
