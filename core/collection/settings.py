"""The settings of a collection fit, checked once, and the names every step shares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from core.validation import (
    FitParams,
    check_color_space,
    check_k,
)

if TYPE_CHECKING:
    pass

N_IDS: Final = 1 << 24

#: Progress callback: ``progress(stage, done, total)``; stage is "histograms" or "labels".
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class FitSettings:
    k: int
    color_space: str
    seed: int | None
    init: str
    n_init: int
    max_iter: int
    tol: float

    @property
    def fit(self) -> FitParams:
        """The settings in core's one form (:class:`core.validation.FitParams`)."""
        return FitParams(
            seed=0 if self.seed is None else self.seed,
            init=self.init,  # type: ignore[arg-type]
            n_init=self.n_init,
            max_iter=self.max_iter,
            tol=self.tol,
        )


# --------------------------------------------------------------------------------------------
# Public API


def check_fit_params(
    k: object,
    color_space: object,
    seed: object,
    init: object,
    n_init: object,
    max_iter: object,
    tol: object,
) -> FitSettings:
    """Validate with core's checks (:mod:`core.validation`); a None seed is drawn here, so
    the palette records the seed that reproduces it."""
    fit = FitParams.checked(seed=seed, init=init, n_init=n_init, max_iter=max_iter, tol=tol)
    return FitSettings(
        k=check_k(k),
        color_space=check_color_space(color_space),
        seed=fit.seed,
        init=fit.init,
        n_init=fit.n_init,
        max_iter=fit.max_iter,
        tol=fit.tol,
    )


# Per process: a 2**24-entry table colour id -> cluster for the palette in use, filled as
# colours are met, so each distinct colour of a collection is converted and assigned once
# (images of one collection share most of their colours). 255 marks "not yet known".
UNKNOWN: Final = 255
