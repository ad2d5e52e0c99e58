"""The kseg command end to end, in a temporary folder."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import ROOT
from PIL import Image

from core import __version__
from core.cli import EXIT_ERROR, main
from core.explore.elbow import elbow
from core.formats.tables import read_areas_csv
from core.inputs.io import resize_to_max_pixels
from core.outputs import export
from core.results.segmentation import segment


@pytest.fixture
def image_file(tmp_path, photo) -> Path:
    path = tmp_path / "flower.png"
    Image.fromarray(photo).save(path)
    return path


def read_png(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)


def assert_one_error_line(err: str, match: str) -> None:
    assert err.startswith("kseg: error: "), err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    assert re.search(match, err), err


def test_segment_writes_every_output(image_file, photo, tmp_path, capsys):
    out = tmp_path / "result"
    argv = ["segment", str(image_file), "-k", "4", "--color-space", "lab", "--seed", "2"]
    assert main([*argv, "-o", str(out)]) == 0
    expected = segment(photo, 4, color_space="lab", seed=2)

    np.testing.assert_array_equal(read_png(out / "segmented.png"), expected.segmented)
    np.testing.assert_array_equal(read_png(out / "labels.png"), expected.labels)
    masks = sorted((out / "masks").glob("mask_*.png"))
    # The same names as the dashboard's ZIP of masks.
    assert [m.name for m in masks] == [export.mask_file_name(expected, i) for i in range(4)]
    for i, mask in enumerate(masks):
        np.testing.assert_array_equal(read_png(mask) == 255, expected.cluster_mask(i))
    rows = read_areas_csv(out / "areas.csv")
    assert [r["hex"] for r in rows] == expected.hex_colors
    assert [r["pixels"] for r in rows] == expected.counts.tolist()
    np.testing.assert_allclose([r["share"] for r in rows], expected.shares, atol=5e-7)
    recipe = json.loads((out / "recipe.json").read_text())
    assert recipe["parameters"] == expected.params
    assert recipe["command"].startswith("kseg segment flower.png -k 4 --color-space lab --seed 2")

    lines = capsys.readouterr().out.splitlines()
    table = lines[1 : 2 + expected.k]
    assert table[0].split() == ["class", "name", "colour", "share", "pixels"]
    for i, line in enumerate(table[1:]):
        assert line.split()[:4] == [str(i), "cluster", str(i), expected.hex_colors[i]]
        assert line.split()[5] == f"{expected.counts[i]:,}"
    assert len({line.index("#") for line in table[1:]}) == 1  # the colour column is aligned
    summary = lines[2 + expected.k]
    assert f"WCSS {export.compact_number(expected.wcss)}," in summary
    noun = "iteration" if expected.n_iter == 1 else "iterations"
    assert f"{expected.n_iter} {noun}" in summary
    assert f"{expected.n_colors:,} distinct colours" in summary


def test_segment_default_output_folder_and_quiet(image_file, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["segment", str(image_file), "-k", "2", "--quiet"]) == 0
    names = sorted(p.name for p in (tmp_path / "flower_k2").iterdir())
    masks = sorted(p.name for p in (tmp_path / "flower_k2" / "masks").iterdir())
    assert [name[:8] for name in masks] == ["mask_00_", "mask_01_"]
    assert names == [
        "areas.csv",
        "labels.png",
        "masks",
        "model.json",
        "recipe.json",
        "segmented.png",
    ]
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("flag", ["--downscale-to", "--working-pixels"])  # new name, old name
def test_downscale_to_segments_a_downscaled_copy(image_file, photo, tmp_path, flag):
    out = tmp_path / "small"
    assert (
        main(
            [
                "segment",
                str(image_file),
                "-k",
                "3",
                flag,
                "4000",
                "-o",
                str(out),
                "-q",
            ]
        )
        == 0
    )
    expected = segment(resize_to_max_pixels(photo, 4000), 3)
    written = read_png(out / "segmented.png")
    assert written.shape[0] * written.shape[1] <= 4000
    np.testing.assert_array_equal(written, expected.segmented)
    assert "--downscale-to 4000" in json.loads((out / "recipe.json").read_text())["command"]


def test_fit_pixels_labels_every_pixel(image_file, photo, tmp_path):
    out = tmp_path / "fit"
    assert (
        main(["segment", str(image_file), "-k", "3", "--fit-pixels", "3000", "-o", str(out), "-q"])
        == 0
    )
    expected = segment(photo, 3, fit_pixels=3000)
    np.testing.assert_array_equal(read_png(out / "segmented.png"), expected.segmented)
    assert expected.segmented.shape == photo.shape


def test_elbow_lists_every_k_and_a_suggestion(image_file, photo, capsys):
    assert main(["elbow", str(image_file), "--k-min", "2", "--k-max", "6", "--n-init", "2"]) == 0
    expected = elbow(photo, range(2, 7), n_init=2)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["k", "WCSS"]
    rows = [line.split() for line in lines[1:6]]
    assert [int(row[0]) for row in rows] == [2, 3, 4, 5, 6]
    for line, wcss in zip(lines[1:6], expected.wcss, strict=True):  # as the dashboard shows it
        assert f"  {export.compact_number(wcss)}" in line
    assert lines[6] == expected.message
    marked = [int(row[0]) for row in rows if "suggested" in row]
    assert marked == ([] if expected.knee is None else [expected.knee])


def test_fewer_colours_than_k_is_a_one_line_warning(tmp_path, blocks, capsys):
    path = tmp_path / "blocks.png"
    Image.fromarray(blocks).save(path)
    assert main(["segment", str(path), "-k", "6", "-o", str(tmp_path / "o"), "-q"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("kseg: warning: The image has only 4")
    assert len(list((tmp_path / "o" / "masks").glob("mask_*.png"))) == 6


@pytest.mark.parametrize(
    ("content", "args", "match"),
    [
        (None, ["-k", "3"], "was not found"),
        (b"hello, I am text", ["-k", "3"], "not an image"),
        (b"", ["-k", "3"], "is empty"),
        ("photo", ["-k", "100000"], "over the limit of 256"),
        ("photo", ["-k", "100000", "--allow-large-k"], "more than the number of pixels"),
        ("photo", ["-k", "3", "--n-init", "1000"], "n_init=1000 is over the limit of 100"),
        ("photo", ["-k", "3", "--seed", "-1"], "seed must be a whole number"),
        ("photo", ["-k", "3", "--seed", "1.5"], "seed"),
        ("photo", ["-k", "3", "--seed", str(2**64)], "seed must be a whole number"),
        ("photo", ["-k", "3", "--max-pixels", "10"], "over the limit"),
        ("photo", ["-k", "3", "--tol", "-1"], "tol must be"),
        ("photo", ["-k", "0"], "argument -k: expected a positive whole number, got 0"),
        ("photo", ["-k", "three"], "argument -k: expected a whole number"),
        ("photo", ["-k", "3", "--color-space", "xyz"], "invalid choice: 'xyz'"),
        ("photo", [], "required: -k"),
    ],
)
def test_segment_errors_are_one_line_and_exit_2(tmp_path, photo, capsys, content, args, match):
    path = tmp_path / "input.png"
    if content == "photo":
        Image.fromarray(photo).save(path)
    elif content is not None:
        path.write_bytes(content)
    assert main(["segment", str(path), *args, "-o", str(tmp_path / "o")]) == EXIT_ERROR
    captured = capsys.readouterr()
    assert captured.out == ""
    assert_one_error_line(captured.err, match)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--k-min", "5", "--k-max", "3"], r"--k-min \(5\) is larger than --k-max \(3\)"),
        (["--k-max", "0"], "argument --k-max"),
        (["--k-max", "100000"], "k=100000 is over the limit of 64"),
        (["--max-iter", "20000"], "max_iter=20000 is over the limit of 10000"),
        (["--seed", "abc"], "argument --seed"),
    ],
)
def test_elbow_errors_are_one_line(image_file, capsys, args, match):
    assert main(["elbow", str(image_file), *args]) == EXIT_ERROR
    assert_one_error_line(capsys.readouterr().err, match)


@pytest.mark.parametrize(
    ("argv", "match"), [([], "required: COMMAND"), (["frobnicate"], "invalid choice")]
)
def test_missing_or_unknown_command(argv, match, capsys):
    assert main(argv) == EXIT_ERROR
    assert_one_error_line(capsys.readouterr().err, match)


def test_unwritable_output_is_a_clean_error(image_file, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["segment", str(image_file), "-k", "2", "-o", str(blocker / "sub")]) == EXIT_ERROR
    assert_one_error_line(
        capsys.readouterr().err, r"Could not use .*file.*Choose another output folder with -o"
    )


def test_interrupt_exits_130_without_traceback(image_file, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("core.results.segmentation.segment", interrupted)
    assert main(["segment", str(image_file), "-k", "2"]) == 130
    assert capsys.readouterr().err == "kseg: interrupted\n"


def test_version_and_help_return_0(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"kseg {__version__}"
    for argv, expected in [([], "segment"), (["segment"], "--fit-pixels"), (["elbow"], "--k-max")]:
        assert main([*argv, "--help"]) == 0
        text = capsys.readouterr().out
        assert expected in text and "examples:" in text


def test_python_dash_m_core_runs_and_fails_cleanly(image_file, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "core",
            "segment",
            str(image_file),
            "-k",
            "2",
            "-o",
            str(tmp_path / "m"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stderr == "" and "WCSS" in ok.stdout
    assert (tmp_path / "m" / "segmented.png").exists()
    bad = subprocess.run(
        [sys.executable, "-m", "core", "elbow", str(tmp_path / "missing.jpg")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert bad.returncode == EXIT_ERROR
    assert_one_error_line(bad.stderr, "was not found")


def test_sweep_writes_a_gif_with_a_frame_per_k(tmp_path, photo, capsys):
    from PIL import Image as PILImage

    source = tmp_path / "flower.png"
    PILImage.fromarray(photo).save(source)
    gif, frames = tmp_path / "sweep.gif", tmp_path / "frames.zip"
    args = ["sweep", str(source), "--ks", "2,4,8", "-o", str(gif), "--frames", str(frames)]
    assert main([*args, "--size", "100"]) == 0
    with PILImage.open(gif) as animation:
        assert animation.n_frames == 3 and max(animation.size) == 100
    assert frames.stat().st_size > 0
    printed = capsys.readouterr().out
    assert [line.split()[0] for line in printed.splitlines()[1:4]] == ["2", "4", "8"]
    assert main(["sweep", str(source), "--ks", "2,x"]) == 2
    assert "expected k values" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [["segment", "IMG", "-o", ""], ["sweep", "IMG", "-o", " "], ["sweep", "IMG", "--frames", ""]],
)
def test_empty_output_name_is_refused_not_the_current_folder(
    argv, image_file, capsys, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    argv = [str(image_file) if a == "IMG" else a for a in argv]
    assert main(argv) == EXIT_ERROR
    assert_one_error_line(capsys.readouterr().err, "got an empty one")


def test_corrupt_tiff_is_one_error_line_not_a_traceback(tmp_path, capsys):
    # Pillow raises TypeError on this file ("'IFDRational' object cannot be interpreted as
    # an integer"); the CLI used to print a traceback and exit 1.
    import io
    import struct

    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), (0, 255, 0)).save(buffer, format="TIFF")
    data = bytearray(buffer.getvalue())
    offset = struct.unpack_from("<I", data, 4)[0]
    for i in range(struct.unpack_from("<H", data, offset)[0]):
        entry = offset + 2 + 12 * i
        if struct.unpack_from("<H", data, entry)[0] == 273:  # StripOffsets
            struct.pack_into("<H", data, entry + 2, 5)  # typed RATIONAL
    path = tmp_path / "scan.tif"
    path.write_bytes(bytes(data))
    assert main(["segment", str(path), "-k", "2", "-o", str(tmp_path / "out")]) == EXIT_ERROR
    assert_one_error_line(capsys.readouterr().err, r"'scan\.tif' is damaged")


def test_random_seed_is_drawn_recorded_and_reproduces(image_file, tmp_path):
    out = tmp_path / "random"
    assert (
        main(["segment", str(image_file), "-k", "3", "--seed", "random", "-o", str(out), "-q"]) == 0
    )
    recipe = json.loads((out / "recipe.json").read_text())
    seed = recipe["parameters"]["seed"]
    assert isinstance(seed, int) and 0 <= seed < 2**32
    assert f"--seed {seed}" in recipe["command"]
    again = tmp_path / "again"
    assert (
        main(["segment", str(image_file), "-k", "3", "--seed", str(seed), "-o", str(again), "-q"])
        == 0
    )
    np.testing.assert_array_equal(
        read_png(again / "segmented.png"), read_png(out / "segmented.png")
    )


def test_cli_defaults_are_the_librarys(image_file, photo, tmp_path):
    # kseg segment photo -k 6 == core.segment(image, 6): CIELAB, seed 0, 10 restarts.
    out = tmp_path / "defaults"
    assert main(["segment", str(image_file), "-k", "4", "-o", str(out), "-q"]) == 0
    expected = segment(photo, 4)
    assert expected.color_space == "lab"
    np.testing.assert_array_equal(read_png(out / "segmented.png"), expected.segmented)
    assert json.loads((out / "recipe.json").read_text())["parameters"] == expected.params


def test_segment_report_is_one_self_contained_page(image_file, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["segment", str(image_file), "-k", "3", "--report", "-o", str(out)]) == 0
    assert "report.html" in capsys.readouterr().out
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?https?://""", page)
    images = re.findall(r"""<img[^>]*src\s*=\s*["']([^"']+)""", page)
    assert len(images) >= 2 and all(src.startswith("data:image/") for src in images)
    for row in read_areas_csv((out / "areas.csv").read_bytes()):
        assert row["name"] in page and row["hex"] in page
    command = json.loads((out / "recipe.json").read_text())["command"]
    assert command.startswith("kseg segment") and command in page
    # Without --report, no report.
    assert main(["segment", str(image_file), "-k", "3", "-o", str(tmp_path / "plain")]) == 0
    assert not (tmp_path / "plain" / "report.html").exists()
