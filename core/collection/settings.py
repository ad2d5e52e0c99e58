"""The settings of a collection fit (core's one :class:`~core.validation.FitParams`), checked
once, and the names every step shares."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from core.validation import (
    FitParams,
)

if TYPE_CHECKING:
    pass

N_IDS: Final = 1 << 24

#: Progress callback: ``progress(stage, done, total)``; stage is "histograms" or "labels".
Progress = Callable[[str, int, int], None]


def check_fit_params(
    k: object,
    color_space: object,
    seed: object,
    init: object,
    n_init: object,
    max_iter: object,
    tol: object,
) -> FitParams:
    """Validate with core's checks (:class:`core.validation.FitParams`); a None seed is drawn
    here, so the model records the seed that reproduces it."""
    return FitParams.checked(
        k=k,
        color_space=color_space,
        seed=seed,
        init=init,
        n_init=n_init,
        max_iter=max_iter,
        tol=tol,
    )


# Per process: a 2**24-entry table colour id -> cluster for the palette in use, filled as
# colours are met, so each distinct colour of a collection is converted and assigned once
# (images of one collection share most of their colours). 255 marks "not yet known".
UNKNOWN: Final = 255
