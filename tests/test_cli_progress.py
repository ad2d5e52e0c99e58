"""Progress on stderr for kseg segment / elbow / sweep: on a terminal only."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from core.cli import main, progress


@pytest.fixture
def image_file(tmp_path, photo) -> Path:
    path = tmp_path / "flower.png"
    Image.fromarray(photo).save(path)
    return path


def _terminal(monkeypatch) -> None:
    monkeypatch.setattr(progress.sys.stderr, "isatty", lambda: True, raising=False)


def test_segment_shows_its_stages_on_a_terminal(image_file, photo, tmp_path, monkeypatch, capsys):
    import numpy as np

    _terminal(monkeypatch)
    assert main(["segment", str(image_file), "-k", "3", "-o", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    distinct = len(np.unique(photo.reshape(-1, 3), axis=0))
    assert f"kseg: reading {image_file.name}…" in err
    assert f"kseg: clustering {distinct:,} distinct colours into k = 3…" in err
    assert "kseg: writing" in err
    assert err.index("reading") < err.index("clustering") < err.index("writing")


def test_quiet_or_no_terminal_means_a_clean_stderr(image_file, tmp_path, monkeypatch, capsys):
    assert main(["segment", str(image_file), "-k", "3", "-o", str(tmp_path / "a")]) == 0
    assert main(["elbow", str(image_file), "--k-max", "3"]) == 0
    assert main(["sweep", str(image_file), "--ks", "2,3", "-o", str(tmp_path / "s.gif")]) == 0
    assert capsys.readouterr().err == ""
    _terminal(monkeypatch)
    assert main(["segment", str(image_file), "-k", "3", "-q", "-o", str(tmp_path / "b")]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("argv", "label", "n"),
    [(["elbow", "--k-max", "4"], "elbow", 4), (["sweep", "--ks", "2,3,5"], "sweep", 3)],
)
def test_elbow_and_sweep_show_a_bar_over_k(image_file, tmp_path, monkeypatch, capsys, argv,
                                           label, n):  # fmt: skip
    _terminal(monkeypatch)
    extra = ["-o", str(tmp_path / "s.gif")] if label == "sweep" else []
    assert main([argv[0], str(image_file), *argv[1:], *extra]) == 0
    err = capsys.readouterr().err
    assert f"kseg: reading {image_file.name}…" in err
    assert f"kseg: {label}" in err and f"{n}/{n}" in err  # the bar reached the end


def test_interactive_is_the_terminal_check():
    class Stream:
        def __init__(self, tty: bool) -> None:
            self.tty = tty

        def isatty(self) -> bool:
            return self.tty

    import argparse

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(progress.sys, "stderr", Stream(True))
        assert progress.interactive(argparse.Namespace(quiet=False))
        assert not progress.interactive(argparse.Namespace(quiet=True))
        mp.setattr(progress.sys, "stderr", Stream(False))
        assert not progress.interactive(None)


def test_segment_geotiff_shows_its_stages_on_a_terminal(tmp_path, monkeypatch, capsys):
    from core.inputs.samples import SAMPLE_RASTER

    _terminal(monkeypatch)
    out = tmp_path / "out"
    assert main(["segment", str(SAMPLE_RASTER), "-k", "3", "--no-polygons", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"kseg: reading {SAMPLE_RASTER.name}…" in err
    assert "kseg: clustering" in err and "into k = 3…" in err and "kseg: writing" in err
    assert main(["segment", str(SAMPLE_RASTER), "-k", "3", "--no-polygons", "--max-pixels",
                 "1000", "-o", str(tmp_path / "blocks")]) == 0  # fmt: skip
    assert "at full resolution by blocks" in capsys.readouterr().err
