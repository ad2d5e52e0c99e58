"""The kseg command end to end, in a temporary folder."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.cli import main
from core.segmentation import segment

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def image_file(tmp_path, photo) -> Path:
    path = tmp_path / "flower.png"
    Image.fromarray(photo).save(path)
    return path


def test_segment_writes_every_output(image_file, photo, tmp_path, capsys):
    out = tmp_path / "result"
    assert (
        main(["segment", str(image_file), "-k", "4", "--color-space", "lab", "-o", str(out)]) == 0
    )
    expected = segment(photo, 4, color_space="lab")
    written = np.asarray(Image.open(out / "segmented.png"))
    np.testing.assert_array_equal(written, expected.segmented)
    masks = sorted(out.glob("mask_*.png"))
    assert [m.name for m in masks] == [f"mask_{i:02d}.png" for i in range(4)]
    np.testing.assert_array_equal(np.asarray(Image.open(masks[2])) == 255, expected.mask(2))
    with (out / "palette.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["hex"] for r in rows] == expected.hex_colors
    assert (out / "recipe.json").exists()
    printed = capsys.readouterr().out
    for hex_color in expected.hex_colors:
        assert hex_color in printed
    assert "WCSS" in printed


def test_segment_default_output_folder(image_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["segment", str(image_file), "-k", "2", "--quiet"]) == 0
    assert (tmp_path / "flower_k2" / "segmented.png").exists()


def test_elbow_lists_every_k_and_a_suggestion(image_file, capsys):
    assert main(["elbow", str(image_file), "--k-max", "6"]) == 0
    printed = capsys.readouterr().out
    lines = printed.splitlines()
    assert [line.split()[0] for line in lines[1:7]] == [str(k) for k in range(1, 7)]
    assert "Suggested k =" in printed or "No clear elbow" in printed


def test_fewer_colours_than_k_is_a_one_line_warning(tmp_path, blocks, capsys):
    path = tmp_path / "blocks.png"
    Image.fromarray(blocks).save(path)
    assert main(["segment", str(path), "-k", "6", "-o", str(tmp_path / "o"), "-q"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("kseg: warning: The image has only 4")


@pytest.mark.parametrize(
    ("make", "args", "match"),
    [
        (None, ["-k", "3"], "was not found"),
        (b"hello, I am text", ["-k", "3"], "not an image"),
        (b"", ["-k", "3"], "is empty"),
        ("photo", ["-k", "100000"], "more than the number of pixels"),
        ("photo", ["-k", "3", "--max-pixels", "10"], "over the limit"),
    ],
)
def test_errors_are_one_line_and_exit_2(tmp_path, photo, capsys, make, args, match):
    path = tmp_path / "input.png"
    if make == "photo":
        Image.fromarray(photo).save(path)
    elif make is not None:
        path.write_bytes(make)
    assert main(["segment", str(path), *args, "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kseg: error: ") and match in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize("args", [["-k", "0"], ["-k", "3", "--color-space", "xyz"]])
def test_bad_arguments_exit_2(image_file, args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["segment", str(image_file), *args])
    assert exit_info.value.code == 2
    assert "kseg segment: error:" in capsys.readouterr().err


def test_unwritable_output_is_a_clean_error(image_file, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["segment", str(image_file), "-k", "2", "-o", str(blocker / "sub")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kseg: error: ") and "Traceback" not in err


def test_python_dash_m_core_runs_and_fails_cleanly(image_file, tmp_path):
    env_path = {"PYTHONPATH": str(ROOT)}
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
        env={**_env(), **env_path},
        timeout=120,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "m" / "segmented.png").exists()
    bad = subprocess.run(
        [sys.executable, "-m", "core", "elbow", str(tmp_path / "missing.jpg")],
        capture_output=True,
        text=True,
        env={**_env(), **env_path},
        timeout=120,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stderr.startswith("kseg: error: ") and "Traceback" not in bad.stderr
    version = subprocess.run(
        [sys.executable, "-m", "core", "--version"],
        capture_output=True,
        text=True,
        env={**_env(), **env_path},
        timeout=120,
        check=False,
    )
    assert version.returncode == 0 and version.stdout.startswith("kseg ")


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)
