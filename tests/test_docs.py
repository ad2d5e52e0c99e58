"""Every example in core's docstrings runs and shows what it says (numpydoc Examples)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import warnings

import numpy as np
import pytest

import core

MODULES = sorted(
    info.name for info in pkgutil.iter_modules(core.__path__) if info.name not in ("__main__",)
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"core.{name}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # examples may show a warned-about case
        result = doctest.testmod(
            module,
            extraglobs={"np": np},
            optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
            verbose=False,
        )
    assert result.failed == 0, f"{result.failed} failing example(s) in core.{name}"
