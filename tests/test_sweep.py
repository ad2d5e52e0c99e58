"""sweep(): the same answers as segment() per k, and a GIF with one captioned frame per k."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from core.explore.sweep import sweep, sweep_frames, sweep_gif, sweep_zip
from core.results.segmentation import segment


def test_each_k_equals_segment(photo):
    results = sweep(photo, [6, 2, 4, 4], color_space="oklab", seed=3)
    assert [r.k for r in results] == [2, 4, 6]
    for result in results:
        alone = segment(photo, result.k, color_space="oklab", seed=3)
        np.testing.assert_array_equal(result.labels, alone.labels)
        np.testing.assert_array_equal(result.palette, alone.palette)
        assert result.wcss == pytest.approx(alone.wcss, rel=1e-12)


def test_gif_has_one_frame_per_k_with_a_caption(photo):
    results = sweep(photo, [2, 3, 5])
    data = sweep_gif(results, max_side=120, frame_ms=500)
    gif = Image.open(io.BytesIO(data))
    assert gif.format == "GIF" and gif.n_frames == 3
    assert max(gif.size) == 120
    durations = []
    for index, result in enumerate(results):
        gif.seek(index)
        durations.append(gif.info["duration"])
        frame = np.asarray(gif.convert("RGB"))
        # The caption box (black, white text) sits in the top-left corner.
        corner = frame[: frame.shape[0] // 6, : frame.shape[1] // 4]
        assert (corner.sum(axis=2) < 30).mean() > 0.3 and (corner.min(axis=2) > 225).any()
        # The rest of the frame holds the k palette colours (GIF-exact).
        body = frame[frame.shape[0] // 3 :].reshape(-1, 3)
        assert len(np.unique(body, axis=0)) <= result.k
    assert durations == [500, 500, 1000]


def test_captions_differ_per_k(photo):
    frames = sweep_frames(sweep(photo, [2, 12]), max_side=160)
    corners = [f[:20, :40] for f in frames]
    assert not np.array_equal(corners[0] > 128, corners[1] > 128)


def test_frames_zip(photo):
    results = sweep(photo, [2, 4])
    with zipfile.ZipFile(io.BytesIO(sweep_zip(results))) as archive:
        assert archive.namelist() == ["k02.png", "k04.png"]


@pytest.mark.parametrize(
    ("ks", "match"), [([], "empty"), ([0], "positive"), ([10**7], "limit of 64"), ([30], "pixels")]
)
def test_invalid_ks(photo, ks, match):
    with pytest.raises(ValueError, match=match):
        sweep(photo[:5, :5], ks)
