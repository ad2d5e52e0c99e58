"""``kseg batch`` runs that must not mislead (issue 24): a bad --scheduler, a resumed run, a
full disk, where the run goes, web inputs, and the CLI's numbers and limits."""

from __future__ import annotations

import errno
import functools
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from helpers import read_csv, run_kseg, small_photo, write_tif
from PIL import Image

from core.cli import EXIT_ERROR, batch, main
from core.collection import segment_collection
from core.formats import files

ROOT = Path(__file__).resolve().parents[1]


def _images() -> list[np.ndarray]:
    a, b = small_photo("flower.jpg", 8), small_photo("china.jpg", 8)
    return [np.roll(a if i % 2 else b, 5 * i, axis=1) for i in range(6)]


@pytest.fixture
def folder(tmp_path) -> Path:
    """Six small PNGs."""
    folder = tmp_path / "in"
    folder.mkdir()
    for i, image in enumerate(_images()):
        Image.fromarray(image).save(folder / f"img{i}.png")
    return folder


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("kseg: error: "), err
    return lines[0]


# --- a bad --scheduler: one line, exit 2, soon ---------------------------------------------


@pytest.fixture
def fake_servers() -> Iterator[dict[str, int]]:
    """Two real sockets on 127.0.0.1: one answers every connection with an HTTP error (not
    Dask's protocol), one accepts connections and never says a word. Closed after."""
    stop = threading.Event()
    listeners: dict[str, socket.socket] = {}
    accepted: list[socket.socket] = []
    threads = []

    def serve(kind: str, listener: socket.socket) -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(conn)
            if kind == "garbage":
                with np.errstate(all="ignore"):
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n" * 3)

    for kind in ("garbage", "silent"):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listeners[kind] = listener
        thread = threading.Thread(target=serve, args=(kind, listener), daemon=True)
        thread.start()
        threads.append(thread)
    try:
        yield {kind: s.getsockname()[1] for kind, s in listeners.items()}
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5)
        for s in [*listeners.values(), *accepted]:
            s.close()


@pytest.mark.parametrize(
    ("address", "match"),
    [
        ("tcp://127.0.0.1:{garbage}", "is not a Dask scheduler: its reply is not Dask's protocol"),
        ("tcp://127.0.0.1:{silent}", "did not answer within 2 s"),
        ("tls://127.0.0.1:{garbage}", "tls:// needs certificates"),
        ("inproc://x", "an inproc:// address only reaches a scheduler inside the same"),
        ("tcp://127.0.0.1:99999", "'99999' is not a port (a whole number from 1 to 65535"),
        ("tcp://127.0.0.1:0", "'0' is not a port"),
        ("http://127.0.0.1:8786", "'http://' is not a kind of Dask address"),
        ("tcp://no-such-host.invalid:8786", "does not resolve"),
    ],
)
def test_a_bad_scheduler_is_one_line_and_exit_2_soon(
    folder, tmp_path, capsys, fake_servers, address, match
):
    started = time.perf_counter()
    code = main(
        [
            "batch",
            str(folder),
            "-k",
            "3",
            "-o",
            str(tmp_path / "o"),
            "--scheduler",
            address.format(**fake_servers),
            "--connect-timeout",
            "1",
        ]
    )
    seconds = time.perf_counter() - started
    assert code == EXIT_ERROR
    line = one_error_line(capsys)
    assert match in line, line
    assert seconds < 10  # the timeout is 1 s: the probe, at most once more for the client
    assert not (tmp_path / "o" / "segmented").exists()  # refused before any work


def test_an_invalid_port_is_refused_without_waiting(folder, tmp_path, capsys):
    started = time.perf_counter()
    argv = ["batch", str(folder), "-k", "3", "-o", str(tmp_path / "o")]
    assert main([*argv, "--scheduler", "tcp://127.0.0.1:99999"]) == EXIT_ERROR
    assert time.perf_counter() - started < 2  # not the 10 s connect timeout
    one_error_line(capsys)


def test_a_silent_scheduler_from_the_command_line(folder, tmp_path, fake_servers):
    """The command as a user runs it, with the default timeout: within 30 s, one line,
    no traceback, exit 2."""
    started = time.perf_counter()
    address = f"tcp://127.0.0.1:{fake_servers['silent']}"
    done = run_kseg(
        "batch", str(folder), "-k", "3", "-o", str(tmp_path / "o"), "--scheduler", address
    )
    assert time.perf_counter() - started < 30
    assert done.returncode == EXIT_ERROR
    assert done.stderr.startswith("kseg: error: The Dask scheduler at"), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "did not answer within 15.5 s" in done.stderr


# --- --resume: what was done, what was skipped ---------------------------------------------


def test_resume_reports_only_the_work_it_did(folder, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["batch", str(folder), "-k", "3", "-o", str(out), "--workers", "0", "--resume"]
    assert main(argv) == 0
    first = json.loads((out / "summary.json").read_text())
    assert (first["segmented"], first["skipped"]) == (6, 0)
    table = (out / "areas.csv").read_text()
    capsys.readouterr()

    assert main(argv) == 0  # nothing left to do
    captured = capsys.readouterr()
    assert captured.out.startswith("nothing to do: skipped 6 image(s) already written"), captured
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["segmented"], summary["skipped"], summary["megapixels"]) == (6 - 6, 6, 0)
    assert summary["megapixels_per_s"] is None
    assert (out / "areas.csv").read_text() == table  # the table still has every image

    (out / "labels" / "img4.png").unlink()  # one image to redo
    assert main(argv) == 0
    line = capsys.readouterr().out
    height, width = _images()[4].shape[:2]
    assert line.startswith(f"segmented 1 image(s), {width * height / 1e6:.3g} MP in "), line
    assert "skipped 5 already written" in line
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["segmented"], summary["skipped"]) == (1, 5)
    assert summary["megapixels"] == pytest.approx(width * height / 1e6, abs=1e-3)
    timings = summary["timings_s"]
    # The rate is the run's: megapixels / run seconds, start-up given apart.
    assert summary["megapixels_per_s"] == pytest.approx(
        width * height / 1e6 / timings["run"], rel=0.1, abs=0.01
    )
    assert timings["startup"] <= timings["total"] and timings["run"] <= timings["total"]
    assert (out / "areas.csv").read_text() == table


def test_the_stages_are_reported_histograms_fit_labels(folder):
    seen: list[tuple[str, int, int]] = []
    files = sorted(str(p) for p in folder.iterdir())
    segment_collection(files, 3, progress=lambda *a: seen.append(a))
    stages = [stage for stage, _, _ in seen]
    first_fit = stages.index("fit")
    assert set(stages[:first_fit]) == {"histograms"}
    assert seen[first_fit : first_fit + 2] == [("fit", 0, 1), ("fit", 1, 1)]
    assert set(stages[first_fit + 2 :]) == {"labels"}
    assert seen[-1] == ("labels", 6, 6)


def test_the_progress_bar_names_the_fit(capsys):
    progress = batch._Progress(quiet=False)
    progress("histograms", 2, 2)
    progress("fit", 0, 1)
    progress("fit", 1, 1)
    progress.close()
    err = capsys.readouterr().err
    assert "fitting palette" in err and "histograms" in err


# --- a full disk ------------------------------------------------------------------------


def fail_after(monkeypatch, n_files: int) -> list[Path]:
    """From the (n_files + 1)-th file on, write half of it and then fail with ENOSPC, as a
    full disk does."""
    real = files._write_file
    written: list[Path] = []

    def write(path: Path, data: bytes) -> None:
        if len(written) >= n_files:
            with open(path, "wb") as handle:
                handle.write(data[: len(data) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(path, data)
        written.append(path)

    monkeypatch.setattr(files, "_write_file", write)
    return written


def assert_nothing_half_written(out: Path) -> None:
    leftovers = [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    assert not leftovers
    segmented = {p.stem for p in (out / "segmented").iterdir()}
    labels = {p.stem for p in (out / "labels").iterdir()}
    rows = {p.stem for p in (out / "rows").glob("*.json")} - {"fit"}
    assert segmented == labels == rows  # every image whole, or not there
    for name in ("areas.csv", "summary.json", "palette.json"):
        path = out / name
        assert not path.exists() or path.stat().st_size > 0


@pytest.mark.parametrize("n_files", [0, 5, 9])
def test_a_full_disk_names_the_file_and_leaves_nothing_half_written(
    folder, tmp_path, capsys, monkeypatch, n_files
):
    out = tmp_path / "out"
    argv = ["batch", str(folder), "-k", "3", "-o", str(out), "--workers", "0", "-q"]
    fail_after(monkeypatch, n_files)
    assert main([*argv, "--resume"]) == EXIT_ERROR
    line = one_error_line(capsys)
    assert "No space left on device" in line
    assert f"Could not write '{out}{os.sep}" in line  # the file, not its temporary name
    assert ".tmp" not in line and "--resume" in line
    assert_nothing_half_written(out)
    done_before = {p.stem for p in (out / "segmented").iterdir()}
    # palette.json and rows/fit.json first, then three files per image: segmented, labels, row
    assert len(done_before) == max(n_files - 2, 0) // 3

    monkeypatch.undo()
    (out / "segmented" / ".img5.png.999-1.tmp").write_bytes(b"left by a killed worker")
    assert main([*argv, "--resume"]) == 0
    assert_nothing_half_written(out)
    summary = json.loads((out / "summary.json").read_text())
    keys = {json.loads(p.read_text())["key"] for p in (out / "rows").glob("img*.json")}
    assert (summary["segmented"], summary["skipped"]) == (6 - len(done_before), len(done_before)), (
        keys
    )
    clean = tmp_path / "clean"
    assert main(["batch", str(folder), "-k", "3", "-o", str(clean), "--workers", "0", "-q"]) == 0
    assert (out / "areas.csv").read_text() == (clean / "areas.csv").read_text()
    for name in ("segmented/img0.png", "labels/img5.png"):
        assert (out / name).read_bytes() == (clean / name).read_bytes()


def test_a_full_disk_while_writing_the_table(folder, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    argv = ["batch", str(folder), "-k", "3", "-o", str(out), "--workers", "0", "-q"]
    fail_after(monkeypatch, 2 + 6 * 3)  # the palette and every image, then areas.csv fails
    assert main(argv) == EXIT_ERROR
    line = one_error_line(capsys)
    assert f"Could not write '{out / 'areas.csv'}': No space left on device" in line
    assert not (out / "areas.csv").exists()
    assert_nothing_half_written(out)


def test_write_all_is_all_or_nothing(tmp_path, monkeypatch):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    a.write_bytes(b"old a")
    fail_after(monkeypatch, 1)
    with pytest.raises(OSError, match="No space left") as caught:
        files.write_all({a: b"new a", b: b"new b"})
    assert caught.value.filename == str(b)
    assert a.read_bytes() == b"old a" and not b.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


def _mount_small_tmpfs(where: Path, size: str) -> bool:
    if os.geteuid() != 0 or sys.platform != "linux":
        return False
    where.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


@pytest.mark.slow
@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_really_full_disk_from_the_command_line(tmp_path, workers):
    """A real ENOSPC (a 56 KiB tmpfs), the command as a user runs it, in process and on
    the local cluster: one line, no Dask task dump, nothing half-written."""
    disk = tmp_path / "disk"
    if not _mount_small_tmpfs(disk, "56k"):
        pytest.skip("needs root to mount a small tmpfs")
    try:
        folder = tmp_path / "in"
        folder.mkdir()
        rng = np.random.default_rng(0)
        for i in range(8):
            noise = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
            Image.fromarray(noise).save(folder / f"n{i}.png")
        out = disk / "out"
        done = run_kseg("batch", str(folder), "-k", "3", "-o", str(out), "--workers", workers)
        assert done.returncode == EXIT_ERROR, done.stderr
        lines = [line for line in done.stderr.splitlines() if "kseg:" in line or "Error" in line]
        assert lines[-1].startswith("kseg: error: Could not write '"), done.stderr
        assert "No space left on device" in lines[-1]
        assert "Compute Failed" not in done.stderr and "Traceback" not in done.stderr
        assert_nothing_half_written(out)
    finally:
        subprocess.run(["umount", str(disk)], check=False)


# --- where the run goes ----------------------------------------------------------------


def test_a_small_job_runs_in_process_and_says_so(folder, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["batch", str(folder), "-k", "3", "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert "MP/s); ran in process (0.0254 MP to do; a local cluster pays from 250 MP" in (
        captured.out
    )
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["executor"], summary["workers"]) == ("in process", 0)


def test_the_job_size_decides_the_cluster(folder, tmp_path, monkeypatch):
    args = batch.add_parsers  # keep the import used
    del args
    files = sorted(str(p) for p in folder.iterdir())
    pixels = sum(im.shape[0] * im.shape[1] for im in _images()) / 1e6
    assert batch._job_megapixels(files, tmp_path, False, 1e9) == pytest.approx(pixels)
    # Counting stops once the job is big enough.
    one = _images()[0].shape[0] * _images()[0].shape[1] / 1e6
    assert batch._job_megapixels(files, tmp_path, False, one / 2) == pytest.approx(one)

    def plan(**kw):
        defaults = {"scheduler": None, "workers": None, "resume": False}
        return batch._plan(type("A", (), {**defaults, **kw})(), files, tmp_path)

    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    assert plan().kind == "in process"
    monkeypatch.setattr(batch, "LOCAL_CLUSTER_MIN_MEGAPIXELS", pixels / 2)
    big = plan()
    assert (big.kind, big.workers) == ("local cluster", 4)
    assert plan(workers=0).kind == "in process"
    assert (plan(workers=3).kind, plan(workers=3).workers) == ("local cluster", 3)
    # Images a resumed run will skip do not count.
    (tmp_path / "rows").mkdir()
    for i in range(5):
        (tmp_path / "rows" / f"img{i}.json").write_text("{}")
    assert plan(resume=True).kind == "in process"


# --- web inputs --------------------------------------------------------------------------


@pytest.fixture
def web(folder) -> Iterator[str]:
    """The folder served over HTTP on 127.0.0.1 by http.server, in a thread."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_batch_reads_http_urls(folder, web, tmp_path, capsys):
    # aiohttp and requests (kseg[cloud]'s HTTP backend) come with the test extra.
    urls = [f"{web}/img{i}.png" for i in range(3)]
    out = tmp_path / "web"
    assert main(["batch", *urls, "-k", "3", "-o", str(out), "--workers", "0", "-q"]) == 0
    local = tmp_path / "local"
    paths = [str(folder / f"img{i}.png") for i in range(3)]
    assert main(["batch", *paths, "-k", "3", "-o", str(local), "--workers", "0", "-q"]) == 0
    web_rows, local_rows = read_csv(out / "areas.csv"), read_csv(local / "areas.csv")
    assert [r["file"] for r in web_rows][::3] == urls
    assert [(r["hex"], r["pixels"]) for r in web_rows] == [
        (r["hex"], r["pixels"]) for r in local_rows
    ]
    assert (out / "labels" / "img2.png").read_bytes() == (
        local / "labels" / "img2.png"
    ).read_bytes()


def test_a_missing_url_package_names_the_extra_before_any_work(
    folder, tmp_path, capsys, monkeypatch
):
    import fsspec

    registry = sys.modules["fsspec.registry"]
    monkeypatch.setitem(sys.modules, "aiohttp", None)  # "not installed"
    monkeypatch.delitem(sys.modules, "fsspec.implementations.http", raising=False)
    monkeypatch.delitem(registry._registry, "http", raising=False)  # imported again
    with pytest.raises(ImportError):
        fsspec.get_filesystem_class("http")
    out = tmp_path / "o"
    argv = [
        "batch",
        str(folder / "img0.png"),
        "http://127.0.0.1:9/t00.jpg",
        "-k",
        "3",
        "-o",
        str(out),
    ]
    assert main(argv) == EXIT_ERROR
    line = one_error_line(capsys)
    assert "Reading http:// inputs needs packages that are not installed" in line
    assert "pip install 'kseg[cloud]'" in line
    assert not out.exists()  # up front: nothing was done


def test_the_cloud_extra_lists_the_url_packages():
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    names = {req.split(">")[0].split("=")[0].split("[")[0].strip() for req in extras["cloud"]}
    assert names == {"aiohttp", "requests", "s3fs", "gcsfs"}


# --- the CLI's numbers and limits --------------------------------------------------------


def test_sieve_must_not_be_negative(tmp_path, capsys):
    scene = tmp_path / "scene.tif"
    write_tif(scene, np.random.default_rng(0).integers(1, 255, (3, 20, 30), dtype=np.uint8))
    assert main(["segment", str(scene), "-k", "2", "--sieve", "-1", "-o", str(tmp_path / "o")]) == 2
    assert "--sieve: expected 0 or more, got -1" in one_error_line(capsys)


def test_band_numbers_are_answered_from_1(tmp_path, capsys):
    scene = tmp_path / "scene.tif"
    write_tif(scene, np.random.default_rng(0).integers(1, 255, (3, 20, 30), dtype=np.uint8))
    argv = ["segment", str(scene), "-k", "2", "-o", str(tmp_path / "o"), "-q"]
    assert main([*argv, "--bands", "1,99"]) == EXIT_ERROR
    line = one_error_line(capsys)
    assert "has no band 99; it has 3 band(s), numbered 1 to 3" in line
    assert "98" not in line


def test_the_k_limit_names_the_cli_flag_not_the_python_argument(folder, tmp_path, capsys):
    argv = ["batch", str(folder), "-k", "300", "-o", str(tmp_path / "o"), "--workers", "0"]
    assert main(argv) == EXIT_ERROR
    line = one_error_line(capsys)
    assert "-k 300 is over the limit of 256 clusters; give -k 256 or less" in line
    assert "allow_large_k" not in line
    image = tmp_path / "photo.png"
    Image.fromarray(_images()[0]).save(image)
    assert main(["segment", str(image), "-k", "300", "-o", str(tmp_path / "s")]) == EXIT_ERROR
    line = one_error_line(capsys)
    assert "--allow-large-k" in line and "pass allow_large_k" not in line
