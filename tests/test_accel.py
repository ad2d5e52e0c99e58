"""The compiled kernels' switch: warming up in the background falls back to NumPy meanwhile."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import run_python
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import core
from core.accel import compiled as _accel
from core.results.segmentation import segment

pytestmark = pytest.mark.skipif(not _accel.AVAILABLE, reason="numba is not installed")


def test_warm_up_in_background_uses_numpy_until_ready(photo):
    thread = core.warm_up()
    assert thread is not None
    assert not _accel.enabled()  # the compiler may be busy: NumPy answers meanwhile
    during = segment(photo, 4)
    thread.join(timeout=600)
    assert not thread.is_alive()
    assert _accel.enabled()
    after = segment(photo, 4)
    np.testing.assert_array_equal(after.palette, during.palette)
    assert after.wcss == pytest.approx(during.wcss, rel=1e-9)
    assert core.warm_up(background=False) is None and _accel.enabled()


def test_distinct_colours_match_numpy():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(5000, 3), dtype=np.uint8)
    pixels[::2] = pixels[1::2]  # duplicates
    ids, counts = _accel.color_counts(pixels)
    keys = pixels[:, 0].astype(np.int64) | (pixels[:, 1].astype(np.int64) << 8)
    keys |= pixels[:, 2].astype(np.int64) << 16
    expected_ids, expected_counts = np.unique(keys, return_counts=True)
    np.testing.assert_array_equal(ids, expected_ids)
    np.testing.assert_array_equal(counts, expected_counts)


@settings(max_examples=40, deadline=None)
@given(
    pixels=arrays(
        np.uint8, st.tuples(st.integers(1, 3000), st.just(3)), elements=st.integers(0, 255)
    ),
    repeat=st.integers(1, 3),
)
def test_color_counts_match_numpy(pixels, repeat):
    # The ids first seen, radix-sorted, against NumPy's unique: every id order, duplicates
    # in every position, ids that differ only in their high or low 12 bits.
    pixels = np.ascontiguousarray(np.tile(pixels, (repeat, 1)))
    ids, counts = _accel.color_counts(pixels)
    keys = pixels[:, 0].astype(np.int64) | (pixels[:, 1].astype(np.int64) << 8)
    keys |= pixels[:, 2].astype(np.int64) << 16
    expected_ids, expected_counts = np.unique(keys, return_counts=True)
    np.testing.assert_array_equal(ids, expected_ids)
    np.testing.assert_array_equal(counts, expected_counts)
    # The counting table is kept for the next call: every bin written is cleared again.
    assert not _accel._TABLES[np.dtype(np.int32)].any()


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 700),
    k=st.integers(1, 20),
    grid=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_lloyd_pass_equals_a_direct_nearest_centre_search(n, k, grid, seed):
    # The pass over colours works centre by centre on blocks of 128 points: labels and
    # distances must be those of the textbook search, bit for bit (ties to the lower
    # centre: grid points make many), across block edges, with the sums it reports.
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 4, size=(n, 3)).astype(float) if grid else rng.normal(size=(n, 3))
    w = rng.integers(1, 5, size=n).astype(float)
    centers = rng.integers(0, 4, size=(k, 3)).astype(float) if grid else rng.normal(size=(k, 3))
    labels = np.full(n, -1, dtype=np.int32)
    labels[: n // 2] = 0
    distances = np.empty(n)
    sums, mass, changed, inertia = _accel.lloyd_pass(x, w, centers, labels, distances)
    table = ((x[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
    expected = table.argmin(axis=1)
    np.testing.assert_array_equal(labels, expected)
    np.testing.assert_array_equal(distances, table[np.arange(n), expected])
    assert changed == n - np.count_nonzero(expected[: n // 2] == 0)
    np.testing.assert_allclose(mass, np.bincount(expected, weights=w, minlength=k))
    for t in range(3):
        np.testing.assert_allclose(
            sums[:, t], np.bincount(expected, weights=w * x[:, t], minlength=k), atol=1e-9
        )
    assert inertia == pytest.approx(float(w @ distances), rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    image=arrays(
        np.uint8,
        st.tuples(st.integers(1, 60), st.integers(1, 60), st.just(3)),
        elements=st.integers(0, 255),
    ),
    k=st.integers(1, 12),
    seed=st.integers(0, 2**16),
)
def test_group_sums_equal_numpys_bincounts_to_the_bit(image, k, seed):
    # The coarse cells' sums (engines) and each cluster's mean colour (the palette), in one
    # compiled pass or with NumPy's bincount per column: the same numbers, not just close.
    from core.engine import engines
    from core.features.colortable import ColorTable, cluster_means

    _accel.compile_kernels()
    table = ColorTable.from_image(image)
    weights = table.counts.astype(np.float64)
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(table.n_colors, 3))
    labels = rng.integers(0, k, size=table.n_colors)
    pixel_labels = rng.integers(0, k, size=image.shape[0] * image.shape[1])

    def results():
        return (
            engines._coarse_sums(table, weights, features),
            cluster_means(table.colors, labels, k, table.counts),
            cluster_means(image.reshape(-1, 3), pixel_labels, k),
        )

    calls = []
    with pytest.MonkeyPatch.context() as patch:
        for name in ("coarse_sums", "group_sums"):
            kernel = getattr(_accel, name)
            patch.setattr(_accel, name, lambda *a, kernel=kernel: calls.append(1) or kernel(*a))
        compiled = results()
        assert len(calls) == 3
        patch.setattr(_accel, "enabled", lambda work=None: False)
        plain = results()
        assert len(calls) == 3
    for got, expected in zip(compiled, plain, strict=True):
        for a, b in zip(got, expected, strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("compiled", [True, False])
def test_cluster_means_refuses_labels_outside_k(compiled, monkeypatch):
    from core.features.colortable import cluster_means

    if not compiled:
        monkeypatch.setattr(_accel, "enabled", lambda work=None: False)
    colors = np.zeros((4, 3), dtype=np.uint8)
    for labels in ([0, 1, 2, 3], [0, -1, 0, 0]):
        with pytest.raises(ValueError, match=r"labels must be in \[0, 3\)"):
            cluster_means(colors, np.array(labels), 3)


def test_a_kept_table_is_reused_clean_and_dropped_when_its_call_fails():
    with _accel.zeroed_table(np.uint8) as first:
        assert not first.any() and first.shape == (1 << 24,)
    with _accel.zeroed_table(np.uint8) as again:
        assert again is first  # kept between calls
        with _accel.zeroed_table(np.uint8) as other:
            assert other is not first  # one call at a time: another gets a fresh one
        again[123] = 9  # a call that fails half-way, leaving its table dirty...
        with pytest.raises(RuntimeError), _accel.zeroed_table(np.uint8) as dirty:
            dirty[5] = 1
            raise RuntimeError
        again[123] = 0
    with _accel.zeroed_table(np.uint8) as next_one:
        assert not next_one.any()  # ...never hands it to the next call


def test_read_only_install_imports_and_runs_without_a_disk_cache(tmp_path):
    """No writable ``__pycache__`` and no writable user cache: numba cannot cache, kseg
    must still import (the CLI's ``--help``) and compute, with nothing on stderr."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    install = tmp_path / "site"
    shutil.copytree(root / "core", install / "core", ignore=shutil.ignore_patterns("__pycache__"))
    for package in (install / "core").rglob("__init__.py"):
        (package.parent / "__pycache__").write_text("")  # a file: no cache folder can be made
    blocked = tmp_path / "blocked"
    blocked.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_CACHE", "KSEG"))}
    env.update(
        PYTHONPATH=str(install),
        HOME=str(blocked),
        XDG_CACHE_HOME=str(blocked / "cache"),
        PYTHONDONTWRITEBYTECODE="1",
    )
    code = (
        "import numpy as np, core.cli\n"
        "from core.accel import compiled as _accel\n"
        "pixels = np.array([[1, 2, 3], [1, 2, 3], [9, 9, 9]], dtype=np.uint8)\n"
        "print(_accel.color_counts(pixels)[1].tolist())\n"
    )
    outputs = []
    for args in (["-c", code], ["-m", "core", "--help"]):
        done = subprocess.run(
            [sys.executable, *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-1500:]
        assert "cannot cache" not in done.stderr and "Traceback" not in done.stderr
        outputs.append(done.stdout)
    assert outputs[0].strip() == "[2, 1]"
    assert "usage: kseg" in outputs[1]


def test_a_small_first_job_does_not_load_numba_and_the_budget_then_loads_it():
    """Rent or buy: small jobs take the NumPy path until it has cost about a load."""
    out = run_python(
        "import sys, numpy as np\n"
        "from core import segment\nfrom core.accel import compiled as _accel\n"
        "rng = np.random.default_rng(0)\n"
        "image = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)\n"
        "first = segment(image, 5, color_space='rgb')\n"
        "print('numba' in sys.modules, _accel.loaded())\n"
        "_accel.charge(_accel.LOAD_AFTER_SECONDS)\n"
        "second = segment(image, 5, color_space='rgb')\n"
        "print('numba' in sys.modules, _accel.loaded())\n"
        "print((first.labels == second.labels).all(), abs(first.wcss - second.wcss) / first.wcss)\n"
    )
    before, after, same = out.split("\n")[:3]
    assert before == "False False"
    assert after == "True True"
    equal, gap = same.split()
    assert equal == "True" and float(gap) < 1e-9


def test_a_large_job_loads_the_kernels_at_once():
    out = run_python(
        "import sys, numpy as np\n"
        "from core import kmeans\nfrom core.accel import compiled as _accel\n"
        "k = 8\n"
        "points = np.random.default_rng(0).random((_accel.LOAD_AT_ONCE_WORK // k, 1))\n"
        "print(_accel.enabled(work=10), _accel.loaded())\n"
        "kmeans(points, k, max_iter=2)\n"
        "print(_accel.loaded(), _accel.enabled(work=10))\n"
    )
    assert out.split("\n")[:2] == ["False False", "True True"]


def test_enabled_without_a_size_loads_when_needed(monkeypatch):
    monkeypatch.setattr(_accel, "_loaded", None)
    monkeypatch.setattr(_accel, "_numpy_seconds", 0.0)
    assert not _accel.enabled(work=100)
    assert not _accel.loaded()
    assert _accel.enabled()
    assert _accel.loaded()


@pytest.mark.parametrize("groups", [["lloyd", "bound"], "lloyd", ["assign", "lloyd"]])
def test_compile_kernels_refuses_a_group_it_does_not_have(groups):
    # A misspelt group (or a bare string, read as its letters; or another engine's group)
    # would otherwise compile nothing and leave the work to the first job.
    from core.accel import compiled_nd

    for module in (_accel, compiled_nd):
        with pytest.raises(ValueError, match="kernel groups are"):
            module.compile_kernels(groups)
