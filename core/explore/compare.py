"""Engines side by side: kseg, scikit-learn and OpenCV on the same image and parameters.

The honest, reproducible form of kseg's speed claim: every engine clusters the same pixels
in the same colour space with the same settings, through the same calls as
``core.segment(engine=...)`` (:mod:`core.engine.engines`); the table shows time, iterations, WCSS
on all pixels, and how much each labelling agrees with kseg's (adjusted Rand index on a
pixel sample).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from core.engine.engines import sklearn_kmeans
from core.features.colorspaces import rgb_to_features
from core.inputs.arrays import as_rgb_image
from core.results.segmentation import DEFAULT_COLOR_SPACE, segment
from core.validation import (
    DEFAULT_N_INIT,
    ColorSpace,
    Engine,
    FitParams,
    check_color_space,
    check_k,
    check_k_fits,
)

__all__ = ["ENGINE_RUNS", "EngineRun", "compare_engines"]

#: The runs compared, with what each one does.
ENGINE_RUNS: dict[str, str] = {
    "kseg": "kseg's engine: distinct colours, weighted; coarse restarts, exact refinement",
    "scikit-learn (all pixels)": "sklearn.cluster.KMeans on every pixel, as the tutorials use it",
    "scikit-learn (distinct colours)": "sklearn KMeans on the distinct colours, weighted",
    "OpenCV (all pixels)": "cv2.kmeans on every pixel, as segment(engine='opencv') runs it",
}


@dataclass(frozen=True)
class EngineRun:
    """One engine's result on the image.

    Attributes
    ----------
    engine : str
        A key of :data:`ENGINE_RUNS`.
    seconds : float
        Wall time of the clustering call.
    n_iter : int or None
        Lloyd iterations, where the engine reports them.
    wcss : float
        WCSS of its labels on every pixel, centres at the member means, in the colour space.
    agreement : float
        Adjusted Rand index between its labels and kseg's on a pixel sample (1 = identical
        partitions, 0 = chance).
    """

    engine: str
    seconds: float
    n_iter: int | None
    wcss: float
    agreement: float


def _wcss(features: np.ndarray, labels: np.ndarray, k: int) -> float:
    """WCSS of `labels` with every centre at its members' mean (never negative: the
    differences are taken point by point, not as a difference of two large sums)."""
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    sums = np.column_stack(
        [np.bincount(labels, weights=features[:, j], minlength=k) for j in range(features.shape[1])]
    )
    means = sums / np.maximum(counts, 1.0)[:, None]
    residual = features - means[labels]
    return float(np.einsum("ij,ij->", residual, residual))


def compare_engines(
    image: npt.ArrayLike,
    k: int,
    *,
    color_space: ColorSpace = DEFAULT_COLOR_SPACE,
    seed: int = 0,
    n_init: int = DEFAULT_N_INIT,
    sample: int = 20_000,
) -> list[EngineRun]:
    """Run every engine of :data:`ENGINE_RUNS` on `image` with the same parameters.

    Parameters
    ----------
    image : (H, W, 3) array_like of uint8
        Use a working-size copy: two of the engines touch every pixel.
    k : int
    color_space, seed, n_init
        As for :func:`core.segment`; every engine gets the same.
    sample : int
        Pixels used for the adjusted Rand index.

    Returns
    -------
    list of EngineRun
        In the order of :data:`ENGINE_RUNS`; kseg first.

    Raises
    ------
    ValueError
        If the image or a parameter is invalid, as for :func:`core.segment`.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.zeros((4, 6, 3), dtype=np.uint8); image[:, 3:] = 255
    >>> [round(run.wcss, 6) for run in compare_engines(image, 2, n_init=1)]
    [0.0, 0.0, 0.0, 0.0]
    """
    from sklearn.metrics import adjusted_rand_score

    rgb = as_rgb_image(image)
    space = check_color_space(color_space)
    k = check_k(k)
    fit = FitParams.checked(seed=seed, n_init=n_init)
    check_k_fits(k, rgb.shape[0] * rgb.shape[1])
    features = rgb_to_features(rgb.reshape(-1, 3), space)
    runs: list[tuple[str, float, int | None, np.ndarray]] = []

    def through_segment(name: str, engine: Engine) -> None:
        started = time.perf_counter()
        result = segment(rgb, k, color_space=space, seed=fit.seed, n_init=fit.n_init, engine=engine)
        seconds = time.perf_counter() - started
        n_iter = None if engine == "opencv" else result.n_iter  # OpenCV does not report it
        runs.append((name, seconds, n_iter, result.labels.ravel()))

    through_segment("kseg", "kseg")
    started = time.perf_counter()
    every_pixel = sklearn_kmeans(features, k, fit)
    runs.append(
        (
            "scikit-learn (all pixels)",
            time.perf_counter() - started,
            every_pixel.n_iter,
            every_pixel.labels,
        )
    )
    through_segment("scikit-learn (distinct colours)", "sklearn")
    through_segment("OpenCV (all pixels)", "opencv")

    rng = np.random.default_rng(fit.seed)
    picked = rng.choice(features.shape[0], size=min(sample, features.shape[0]), replace=False)
    reference = runs[0][3][picked]
    return [
        EngineRun(
            engine=name,
            seconds=seconds,
            n_iter=n_iter,
            wcss=_wcss(features, labels.astype(np.int64), k),
            agreement=float(adjusted_rand_score(reference, labels[picked])),
        )
        for name, seconds, n_iter, labels in runs
    ]
