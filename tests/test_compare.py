"""compare_engines(): every engine on the same pixels, comparable numbers."""

from __future__ import annotations

import pytest

from core.compare import ENGINE_RUNS, compare_engines
from core.segmentation import segment


def test_engines_agree_and_kseg_is_the_reference(china):
    runs = compare_engines(china, 4, seed=0)
    assert [r.engine for r in runs] == list(ENGINE_RUNS)
    kseg = runs[0]
    assert kseg.agreement == pytest.approx(1.0)
    assert kseg.wcss == pytest.approx(segment(china, 4).inertia, rel=1e-6)
    for run in runs[1:]:
        assert run.seconds > 0
        assert run.wcss <= 1.05 * kseg.wcss and kseg.wcss <= 1.05 * run.wcss
        assert 0.5 < run.agreement <= 1.0


def test_one_pixel_image_runs_in_every_engine():
    import numpy as np

    from core.segmentation import segment

    dot = np.array([[[200, 40, 90]]], dtype=np.uint8)
    runs = compare_engines(dot, 1)
    assert [r.wcss for r in runs] == pytest.approx([0.0] * len(runs), abs=1e-9)
    assert segment(dot, 1, engine="opencv").palette.tolist() == [[200, 40, 90]]
