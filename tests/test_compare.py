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
    assert kseg.wcss == pytest.approx(segment(china, 4).wcss, rel=1e-6)
    for run in runs[1:]:
        assert run.seconds > 0
        assert run.wcss <= 1.05 * kseg.wcss and kseg.wcss <= 1.05 * run.wcss
        assert 0.5 < run.agreement <= 1.0
