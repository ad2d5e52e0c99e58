"""compare_engines(): every engine on the same pixels, comparable numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.explore.compare import ENGINE_RUNS, compare_engines
from core.features.colorspaces import rgb_to_features
from core.results.segmentation import segment


def test_engines_agree_and_kseg_is_the_reference(china):
    runs = compare_engines(china, 4, seed=0)
    assert [r.engine for r in runs] == list(ENGINE_RUNS)
    by_name = {r.engine: r for r in runs}
    kseg = runs[0]
    assert kseg.agreement == pytest.approx(1.0)
    # compare_engines measures WCSS with centres at the member means; segment's WCSS is
    # against the centres it reports, to which its labels are the last assignment: never
    # lower, and as close as one Lloyd half-step.
    fitted = segment(china, 4)
    assert kseg.wcss <= fitted.wcss * (1 + 1e-12)
    assert kseg.wcss == pytest.approx(fitted.wcss, rel=1e-3)
    # The table shows the runs segment(engine=...) makes, not look-alikes.
    assert by_name["scikit-learn (distinct colours)"].wcss == pytest.approx(
        segment(china, 4, engine="sklearn").wcss, rel=1e-3
    )
    assert by_name["OpenCV (all pixels)"].wcss == pytest.approx(
        segment(china, 4, engine="opencv").wcss, rel=1e-3
    )
    assert by_name["OpenCV (all pixels)"].n_iter is None  # OpenCV does not report it
    for run in runs:
        assert math.isfinite(run.seconds) and run.seconds > 0
        assert run.wcss <= 1.05 * kseg.wcss and kseg.wcss <= 1.05 * run.wcss
        assert 0.5 < run.agreement <= 1.0 + 1e-12
        assert run.n_iter is None or run.n_iter >= 1


def test_wcss_is_measured_on_every_pixel_with_centres_at_member_means(blocks):
    # Four flat blocks, k = 4: every engine must find the blocks exactly: WCSS 0, ARI 1.
    runs = compare_engines(blocks, 4, seed=3, n_init=3)
    for run in runs:
        assert run.wcss == pytest.approx(0.0, abs=1e-9), run.engine
        assert run.agreement == pytest.approx(1.0), run.engine
    # k = 1: every engine's WCSS is the total sum of squares about the mean.
    features = rgb_to_features(blocks.reshape(-1, 3), "lab")
    total = float(((features - features.mean(axis=0)) ** 2).sum())
    for run in compare_engines(blocks, 1, seed=0, n_init=1):
        assert run.wcss == pytest.approx(total, rel=1e-9), run.engine


def test_same_seed_same_numbers(blocks):
    noisy = np.clip(
        blocks.astype(int) + np.random.default_rng(0).integers(-20, 21, blocks.shape), 0, 255
    ).astype(np.uint8)
    first = compare_engines(noisy, 3, seed=5, n_init=2)
    again = compare_engines(noisy, 3, seed=5, n_init=2)
    assert [(r.wcss, r.agreement, r.n_iter) for r in first] == [
        (r.wcss, r.agreement, r.n_iter) for r in again
    ]


def test_one_pixel_image_runs_in_every_engine():
    dot = np.array([[[200, 40, 90]]], dtype=np.uint8)
    runs = compare_engines(dot, 1)
    assert [r.wcss for r in runs] == pytest.approx([0.0] * len(runs), abs=1e-9)
    assert segment(dot, 1, engine="opencv").palette.tolist() == [[200, 40, 90]]
