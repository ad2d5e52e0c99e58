"""Shared fixtures: small images made in memory (nothing is downloaded)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pytest
from helpers import ROOT, small_photo

_warming: list[subprocess.Popen] = []


def pytest_sessionstart(session: pytest.Session) -> None:
    """With worker processes (pytest-xdist), fill numba's disk cache while they start.

    Otherwise each worker, and each dashboard server a browser test starts, compiles the same
    kernels at the same time on a fresh clone (about a minute of one core each). Each group
    of kernels (and the N-d engine's) compiles in its own child process, all at once, while
    the workers collect the tests; no test starts before they are done
    (:func:`pytest_xdist_node_collection_finished`), and no test process starts with the
    kernels loaded (``core.accel.compiled`` decides by what its own process has loaded). A
    warm cache costs about a second; a failure is left to the tests that use the kernels.
    """
    config = session.config
    if hasattr(config, "workerinput") or not getattr(config.option, "numprocesses", 0):
        return  # a worker, or one process (-n0, -p no:xdist): the tests compile on first use
    from core.accel import compiled, compiled_nd

    warm = (
        "import sys, importlib; importlib.import_module(sys.argv[1]).compile_kernels(sys.argv[2:])"
    )
    for module in (compiled, compiled_nd):
        for group in module.KERNEL_GROUPS:
            child = [sys.executable, "-c", warm, module.__name__, group]
            _warming.append(subprocess.Popen(child, cwd=ROOT))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids) -> None:
    """The controller schedules tests once every worker has collected: wait for the kernels
    (see :func:`pytest_sessionstart`) before that."""
    while _warming:
        _warming.pop().wait(timeout=900)


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    """Flower photo at 106 x 160 (a real, camera-like colour distribution)."""
    return small_photo("flower.jpg", 4)


@pytest.fixture(scope="session")
def china() -> np.ndarray:
    """China temple photo at 106 x 160."""
    return small_photo("china.jpg", 4)


@pytest.fixture(scope="session")
def photo_colors(photo) -> tuple[np.ndarray, np.ndarray]:
    """Distinct colours of `photo` (RGB / 255) and their pixel counts."""
    colors, counts = np.unique(photo.reshape(-1, 3), axis=0, return_counts=True)
    return colors / 255.0, counts.astype(np.float64)


@pytest.fixture
def blocks() -> np.ndarray:
    """Four flat colour blocks of different sizes: a known answer for k = 4."""
    image = np.zeros((20, 30, 3), dtype=np.uint8)
    image[:, :15] = (200, 30, 30)  # 300 px
    image[:10, 15:] = (30, 200, 30)  # 150 px
    image[10:, 15:25] = (30, 30, 200)  # 100 px
    image[10:, 25:] = (240, 240, 240)  # 50 px
    return image


@pytest.fixture
def kernels_loaded() -> None:
    """Load the compiled kernels, so that even small jobs take the compiled path.

    Without it a small job in a process that has not loaded them takes the NumPy path
    (see ``core.accel.compiled.enabled``), and a test comparing the two paths would compare NumPy
    with itself.
    """
    from core.accel import compiled as _accel

    if not _accel.AVAILABLE:  # pragma: no cover - numba missing
        pytest.skip("numba is not installed")
    _accel.compile_kernels()
    assert _accel.enabled(work=1)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``streamlit run streamlit_app.py`` on a free port for the browser tests; always
    terminated. CI must have Chromium; elsewhere the tests are skipped without it."""
    from devtools.browser import CHROMIUM, ServerFailed, streamlit_server

    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run the browser test: /usr/bin/chromium is missing (see .ci/run).")
        pytest.skip("/usr/bin/chromium is not installed (apt-get install chromium).")
    try:
        with streamlit_server(tmp_path_factory.mktemp("streamlit") / "server.log") as url:
            yield url
    except ServerFailed as error:
        pytest.fail(str(error))
