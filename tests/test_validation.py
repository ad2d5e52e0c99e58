"""core.validation: one check per parameter, the limits on work, and seeds."""

from __future__ import annotations

from typing import get_args

import numpy as np
import pytest

import core
from core.engine.engines import ENGINES
from core.explore.elbow import elbow
from core.explore.steps import kmeans_steps
from core.explore.sweep import sweep
from core.features.colorspaces import SPACES
from core.validation import (
    COLOR_SPACE_VALUES,
    LIMITS,
    MAX_SEED,
    ColorSpace,
    FitParams,
    check_color_space,
    check_k,
    check_ks,
    check_max_iter,
    check_n_init,
    check_seed,
    check_tol,
    resolve_seed,
)


@pytest.fixture(scope="module")
def tiny() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)


def test_one_table_per_list_of_values():
    assert tuple(SPACES) == COLOR_SPACE_VALUES == get_args(ColorSpace)
    assert tuple(ENGINES) == tuple(core.ENGINES)
    assert set(core.COLOR_SPACE_NAMES) == set(core.COLOR_SPACES) == set(core.AXIS_TITLES)


@pytest.mark.parametrize("seed", [0, 7, np.int64(3), MAX_SEED])
def test_valid_seeds_pass_as_python_ints(seed):
    checked = check_seed(seed)
    assert checked == seed and type(checked) is int


@pytest.mark.parametrize(
    "seed", [True, 1.5, 2.0, -1, 2**32, 2**64, "3", np.random.default_rng(0), [1]]
)
def test_invalid_seeds_are_refused_with_a_clear_message(seed):
    with pytest.raises(ValueError, match="seed must be"):
        check_seed(seed)
    with pytest.raises(ValueError, match="seed must be"):
        core.segment(np.zeros((2, 2, 3), np.uint8), 1, seed=seed)


def test_opencv_never_sees_an_overflowing_seed():
    with pytest.raises(ValueError, match="seed must be a whole number"):
        core.segment(np.zeros((2, 2, 3), np.uint8), 1, engine="opencv", seed=2**64)


def test_none_draws_a_seed_that_is_recorded_and_reproduces(tiny):
    drawn = {resolve_seed(None) for _ in range(5)}
    assert all(0 <= s <= MAX_SEED for s in drawn) and len(drawn) > 1
    result = core.segment(tiny, 4, seed=None, n_init=1, init="random")
    assert isinstance(result.seed, int)
    again = core.segment(tiny, **result.params)
    np.testing.assert_array_equal(again.labels, result.labels)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda im: core.segment(im, 257), "k=257 is over the limit of 256"),
        (lambda im: core.segment(im, 4, n_init=101), "n_init=101 is over the limit of 100"),
        (lambda im: core.segment(im, 4, max_iter=10**6), "max_iter=1000000 is over the limit"),
        (lambda im: elbow(im, range(1, 66)), "k=65 is over the limit of 64"),
        (lambda im: sweep(im, [2, 100]), "k=100 is over the limit of 64"),
        (lambda im: kmeans_steps(im, 300), "k=300 is over the limit of 256"),
        (lambda im: core.kmeans(im.reshape(-1, 3), 300), "k=300 is over the limit of 256"),
    ],
)
def test_limits_on_work_name_the_limit(tiny, call, match):
    with pytest.raises(ValueError, match=match):
        call(tiny)


def test_allow_large_k_lifts_the_limit(tiny):
    result = core.segment(tiny, 300, allow_large_k=True, n_init=1, max_iter=5)
    assert result.k == 300 and result.palette.shape == (300, 3)
    assert check_ks([70], allow_large_k=True) == [70]


def test_limits_are_documented_numbers():
    assert LIMITS == {"k": 256, "k_max": 64, "n_init": 100, "max_iter": 10_000}
    assert check_k(256) == 256 and check_n_init(100) == 100 and check_max_iter(10_000) == 10_000


@pytest.mark.parametrize(
    ("check", "value", "match"),
    [
        (check_k, 0, "k must be a positive integer"),
        (check_k, 2.0, "k must be a positive integer"),
        (check_k, True, "k must be a positive integer"),
        (check_ks, [], "empty"),
        (check_ks, 3, "iterable"),
        (check_ks, [2, -1], "every k must be a positive integer"),
        (check_tol, -1e-3, "tol must be a non-negative number"),
        (check_tol, float("nan"), "tol"),
        (check_tol, True, "tol"),
        (check_color_space, "xyz", "Unknown colour space"),
        (check_color_space, None, "Unknown colour space"),
    ],
)
def test_each_check_refuses_with_what_to_fix(check, value, match):
    with pytest.raises(ValueError, match=match):
        check(value)


def test_fit_params_are_checked_frozen_and_resolve_the_seed():
    params = FitParams.checked(seed=None, init="random", n_init=np.int64(2), tol=0)
    assert isinstance(params.seed, int) and params.n_init == 2 and params.tol == 0.0
    with pytest.raises(AttributeError):
        params.n_init = 3  # type: ignore[misc]
    with pytest.raises(ValueError, match="init must be one of"):
        FitParams.checked(init="forgy")


def test_the_dashboards_own_limits_are_smaller():
    from dashboard.controls import K_RANGE, N_INIT_RANGE

    assert K_RANGE[1] <= LIMITS["k_max"] <= LIMITS["k"] and N_INIT_RANGE[1] <= LIMITS["n_init"]
