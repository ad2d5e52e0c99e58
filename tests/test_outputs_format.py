"""One areas.csv for every producer (issue 21): ``kseg segment`` (photo and GeoTIFF),
``kseg batch``, ``kseg apply`` (one image and several) and the dashboard's downloads (image
page, the GeoTIFF's band classes, the Collection page), all read by one reader,
:func:`core.formats.tables.read_areas_csv`, with the pixel counts checked against the label
image each producer wrote."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from PIL import Image
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from core.cli.main import main
from core.formats.tables import AREA_COLUMNS, read_areas_csv
from dashboard.controls import UPLOAD

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")
K = 4
PHOTO = ("class", "name", "hex", "pixels", "share")
SCENE = (*PHOTO, "area_m2", "area_ha", "area_basis")
COLLECTION = ("file", *PHOTO)


def photo(seed: int) -> np.ndarray:
    """Three colour blocks (borders moved by `seed`) and one yellow pixel: four colours, so
    four classes, one of them at a share of 2e-5."""
    image = np.zeros((200, 250, 3), np.uint8)
    image[: 90 + 5 * seed] = (200, 30, 40)
    image[90 + 5 * seed :, : 125 + 7 * seed] = (20, 60, 180)
    image[90 + 5 * seed :, 125 + 7 * seed :] = (30, 160, 40)
    image[7, 11] = (255, 255, 0)
    return image


def png_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("inputs")
    (root / "folder").mkdir()
    for i in range(3):
        Image.fromarray(photo(i)).save(root / "folder" / f"p{i}.png")
    Image.fromarray(photo(0)).save(root / "photo.png")
    data = np.zeros((3, 20, 30), np.uint16)
    data[:, :, :10] = np.array([100, 200, 300])[:, None, None]
    data[:, :, 10:] = np.array([900, 50, 400])[:, None, None]
    data[:, 15:, 20:] = np.array([10, 800, 20])[:, None, None]
    data[:, 0, 0] = 0  # no-data: left out of every count
    profile = dict(driver="GTiff", height=20, width=30, count=3, dtype="uint16", nodata=0)
    transform = Affine(10, 0, 500_000, 0, -10, 5_000_000)
    with rasterio.open(
        root / "scene.tif", "w", crs="EPSG:32632", transform=transform, **profile
    ) as f:
        f.write(data)
    return root


def counts_of(labels: np.ndarray, valid: np.ndarray | None = None) -> list[int]:
    """Pixels per class of a label image (the oracle), every class up to the largest."""
    values = labels if valid is None else labels[valid]
    return np.bincount(values.ravel().astype(np.int64)).tolist()


def png_labels(data: bytes | Path) -> np.ndarray:
    with Image.open(data if isinstance(data, Path) else io.BytesIO(data)) as image:
        return np.asarray(image)


def tif_counts(data: bytes | Path) -> list[int]:
    with rasterio.open(data if isinstance(data, Path) else io.BytesIO(data)) as src:
        labels = src.read(1, masked=True)
    return counts_of(labels.data, ~np.ma.getmaskarray(labels))


def check(text: bytes, columns: tuple[str, ...], counts: dict[str | None, list[int]]) -> None:
    """One areas.csv: header, plain-decimal shares, and pixels per (file, class)."""
    header = text.decode("utf-8").splitlines()[0].split(",")
    assert tuple(header) == columns
    assert [c for c in AREA_COLUMNS if c in header] == header  # a subsequence, in order
    cells = list(csv.reader(io.StringIO(text.decode("utf-8"))))[1:]
    shares = [row[header.index("share")] for row in cells]
    assert shares and not [s for s in shares if "e" in s.lower()]
    rows = read_areas_csv(text)
    for file, expected in counts.items():
        mine = [r for r in rows if r.get("file") == file]
        pixels = [0] * max(len(expected), len(mine))
        for r in mine:
            pixels[r["class"]] = r["pixels"]
        assert pixels[: len(expected)] == expected
        assert sum(pixels) == sum(expected)
        total = sum(expected)
        for r in mine:
            assert r["share"] == pytest.approx(r["pixels"] / total, abs=1e-6)


def test_cli_outputs_share_one_areas_format(inputs, tmp_path):
    out = tmp_path
    assert (
        main(["segment", str(inputs / "photo.png"), "-k", str(K), "-o", str(out / "s"), "-q"]) == 0
    )
    labels = png_labels(out / "s" / "labels.png")
    check((out / "s" / "areas.csv").read_bytes(), PHOTO, {None: counts_of(labels)})
    assert min(counts_of(labels)) == 1  # the yellow pixel: a share of 2e-5, written 0.000020

    args = ["segment", str(inputs / "scene.tif"), "-k", "3", "-o", str(out / "t"), "-q"]
    assert main([*args, "--no-polygons"]) == 0
    counts = tif_counts(out / "t" / "labels.tif")
    assert sum(counts) == 599
    check((out / "t" / "areas.csv").read_bytes(), SCENE, {None: counts})

    folder = ["--workers", "0", "-q"]
    assert main(["batch", str(inputs / "folder"), "-k", str(K), "-o", str(out / "b"), *folder]) == 0
    batch = {
        f"p{i}.png": counts_of(png_labels(out / "b" / "labels" / f"p{i}.png")) for i in range(3)
    }
    check((out / "b" / "areas.csv").read_bytes(), COLLECTION, batch)

    model = str(out / "s" / "model.json")
    assert (
        main(["apply", model, str(inputs / "folder" / "p1.png"), "-o", str(out / "a1"), "-q"]) == 0
    )
    check(
        (out / "a1" / "areas.csv").read_bytes(),
        PHOTO,
        {None: counts_of(png_labels(out / "a1" / "labels.png"))},
    )

    assert main(["apply", model, str(inputs / "folder"), "-o", str(out / "an"), *folder]) == 0
    applied = {
        f"p{i}.png": counts_of(png_labels(out / "an" / "labels" / f"p{i}.png")) for i in range(3)
    }
    check((out / "an" / "areas.csv").read_bytes(), COLLECTION, applied)


@pytest.fixture
def downloads(monkeypatch):
    """Every download's data callable, by file name, as the page registers them."""
    captured: dict[str, object] = {}
    original = MediaFileManager.add_deferred

    def add_deferred(self, data_callable, mimetype, coordinates, file_name=None, **kwargs):
        captured[file_name] = data_callable
        return original(self, data_callable, mimetype, coordinates, file_name, **kwargs)

    added = MediaFileManager.add

    def add(self, path_or_data, mimetype, coordinates, file_name=None, *args, **kwargs):
        if file_name is not None:  # a download given as bytes, not as a callable
            captured[file_name] = lambda: path_or_data
        return added(self, path_or_data, mimetype, coordinates, file_name, *args, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", add_deferred)
    monkeypatch.setattr(MediaFileManager, "add", add)
    return captured


def fetch(downloads: dict, name: str) -> bytes:
    data = downloads[name]()
    return data.encode("utf-8") if isinstance(data, str) else data


def test_dashboard_downloads_share_one_areas_format(inputs, downloads):
    at = AppTest.from_file(APP, default_timeout=90).run()
    at.selectbox(key="image").set_value(UPLOAD).run()
    at.file_uploader(key="upload").set_value(
        ("photo.png", (inputs / "photo.png").read_bytes(), "image/png")
    )
    at.slider(key="k").set_value(K).run()
    assert not at.exception and not at.error
    labels = png_labels(fetch(downloads, f"photo_k{K}_lab_labels.png"))
    check(fetch(downloads, f"photo_k{K}_lab_areas.csv"), PHOTO, {None: counts_of(labels)})

    at.file_uploader(key="upload").set_value(
        ("scene.tif", (inputs / "scene.tif").read_bytes(), "image/tiff")
    )
    at.slider(key="k").set_value(3).run()
    assert not at.exception and not at.error
    # The display colours' clusters of the same scene: the same columns, areas included.
    counts = tif_counts(fetch(downloads, "scene_k3_lab_display_labels.tif"))
    check(fetch(downloads, "scene_k3_lab_areas.csv"), SCENE, {None: counts})
    band = "scene_k3_bands"
    counts = tif_counts(fetch(downloads, f"{band}_labels.tif"))
    check(fetch(downloads, f"{band}_areas.csv"), SCENE, {None: counts})


def test_collection_download_shares_one_areas_format(inputs, downloads):
    at = AppTest.from_string("from dashboard.collection import main\nmain()\n", default_timeout=60)
    at.run()
    files = [
        (f"p{i}.png", (inputs / "folder" / f"p{i}.png").read_bytes(), "image/png") for i in range(3)
    ]
    at.file_uploader(key="coll_uploads").set_value(files).run()
    assert not at.exception and not at.error
    with zipfile.ZipFile(io.BytesIO(fetch(downloads, "kseg_collection.zip"))) as archive:
        names = [n for n in archive.namelist() if "labels/" in n and n.endswith(".png")]
        counts = {Path(n).name: counts_of(png_labels(archive.read(n))) for n in sorted(names)}
    assert sorted(counts) == ["p0.png", "p1.png", "p2.png"]
    check(fetch(downloads, "areas.csv"), COLLECTION, counts)
