"""The Collection page's cached calls into `core`: read the uploads, run
:func:`core.segment_collection` (in this process: uploads are small jobs), keep the result.

Runs are cached on the SHA-256 of every uploaded file and the parameters, like the
single-image page, in a small store shared by the sessions of one server (a run holds its
thumbnails and a ZIP of its outputs). Nothing here draws: progress is reported through a
callback the page turns into a bar.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

import core
from core import collection as coll
from core.inputs.masking import transparent_outside
from core.outputs.previews import preview_bytes
from dashboard.collection_controls import CollectionParams

#: Pixels of each thumbnail in the grid.
THUMBNAIL_PIXELS = 60_000
#: Collection runs kept per server (each holds thumbnails and a ZIP of outputs).
MAX_RUNS = 4

#: ``progress(stage, done, count)`` from :func:`core.segment_collection`.
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class CollectionRun:
    """A finished run and what the page shows of it."""

    result: core.CollectionResult
    thumbnails: dict[int, bytes]  # row index -> PNG, transparent where pixels don't count
    outputs_zip: bytes
    unreadable: tuple[tuple[str, str], ...] = ()  # (name, message) of files never read
    palette_json: str | None = None


@dataclass
class Store:
    """A small LRU of finished runs, shared by the sessions of one server."""

    runs: OrderedDict[Hashable, CollectionRun] = field(default_factory=OrderedDict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: Hashable) -> CollectionRun | None:
        with self.lock:
            run = self.runs.get(key)
            if run is not None:
                self.runs.move_to_end(key)
            return run

    def put(self, key: Hashable, run: CollectionRun) -> None:
        with self.lock:
            self.runs[key] = run
            while len(self.runs) > MAX_RUNS:
                self.runs.popitem(last=False)


@st.cache_resource(show_spinner=False)
def store() -> Store:
    """The server's one :class:`Store`."""
    return Store()


def named_files(uploads: list[Any]) -> tuple[dict[str, bytes], list[tuple[str, str]]]:
    """Uploaded images by unique name (ZIPs opened), and the ZIPs that could not be."""
    files: dict[str, bytes] = {}
    unreadable: list[tuple[str, str]] = []

    def add(name: str, data: bytes) -> None:
        unique, n = name, 1
        while unique in files:
            n += 1
            unique = f"{Path(name).stem}-{n}{Path(name).suffix}"
        files[unique] = data

    for upload in uploads:
        data = upload.getvalue()
        if upload.name.lower().endswith(".zip"):
            try:
                for inner, content in coll.images_from_zip(data, name=upload.name).items():
                    add(inner, content)
            except core.ImageError as error:
                unreadable.append((upload.name, str(error)))
        else:
            add(upload.name, data)
    return files, unreadable


def run_key(files: dict[str, bytes], params: CollectionParams) -> Hashable:
    """What a run is cached on: every file's name and SHA-256, and the parameters."""
    digests = tuple((name, hashlib.sha256(data).hexdigest()) for name, data in files.items())
    return (digests, params)


def cached_run(files: dict[str, bytes], params: CollectionParams) -> CollectionRun | None:
    """The run for these files and parameters if one is kept, else None."""
    return store().get(run_key(files, params))


def collection_run(
    files: dict[str, bytes],
    params: CollectionParams,
    kept: core.CollectionModel | None,
    unreadable: list[tuple[str, str]],
    progress: Progress | None = None,
) -> CollectionRun:
    """The run for these files and parameters: from the store, or computed (reporting to
    `progress`) and kept.

    Raises
    ------
    ValueError
        If the settings do not fit these images (e.g. k above their pixels).
    """
    key = run_key(files, params)
    cached = store().get(key)
    if cached is not None:
        return cached
    with tempfile.TemporaryDirectory(prefix="kseg-collection-") as folder:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # fewer colours than k
            result = core.segment_collection(
                files,
                kept if kept is not None else params.k,
                color_space=params.color_space,
                seed=params.seed,
                out=folder,
                progress=progress,
            )
        if result.palette is not None:
            (Path(folder) / "model.json").write_text(result.palette.to_json())
        run = CollectionRun(
            result=result,
            thumbnails={row.index: thumbnail(row.outputs["segmented"]) for row in result.ok},
            outputs_zip=coll.outputs_zip(folder),
            unreadable=tuple(unreadable),
            palette_json=None if result.palette is None else result.palette.to_json(),
        )
    store().put(key, run)
    return run


def thumbnail(path: str | Path) -> bytes:
    """A PNG of a ``segmented/`` output for the grid, transparent where the output is
    (pixels that do not count: a PNG's clear pixels, a GeoTIFF's no-data), as in the
    downloaded files."""
    return preview_bytes(read_painted(Path(path)), max_pixels=THUMBNAIL_PIXELS)


def read_painted(path: Path) -> np.ndarray:
    """A ``segmented/`` output as written: (H, W, 3) RGB, or (H, W, 4) RGBA when it has
    transparency (:func:`core.collection.read_segmented` keeps the colours only)."""
    if path.suffix.lower() in (".tif", ".tiff"):
        from core.inputs.raster import open_raster

        data = open_raster(path).data  # (bands, H, W): RGB, or RGBA with no-data clear
        return np.ascontiguousarray(np.moveaxis(data[:4], 0, 2)).astype(np.uint8, copy=False)
    loaded = core.open_image(path)
    return transparent_outside(loaded.rgb, None if loaded.alpha is None else loaded.alpha > 0)
