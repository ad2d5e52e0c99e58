"""Engines side by side: kseg, scikit-learn and OpenCV on the same image and parameters.

The honest, reproducible form of kseg's speed claim: every engine clusters the same pixels
in the same colour space; the table shows time, iterations, WCSS on all pixels, and how
much each labelling agrees with kseg's (adjusted Rand index on a pixel sample).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from core.colorspaces import check_color_space, rgb_to_features
from core.segmentation import DEFAULT_N_INIT, as_rgb_image, segment

__all__ = ["ENGINE_RUNS", "EngineRun", "compare_engines"]

#: The runs compared, with what each one does.
ENGINE_RUNS: dict[str, str] = {
    "kseg": "kseg's engine: distinct colours, weighted; coarse restarts, exact refinement",
    "scikit-learn (all pixels)": "sklearn.cluster.KMeans on every pixel, as the tutorials use it",
    "scikit-learn (distinct colours)": "sklearn KMeans on the distinct colours, weighted",
    "OpenCV (all pixels)": "cv2.kmeans on every pixel with k-means++ seeding",
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
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    sums = np.column_stack(
        [np.bincount(labels, weights=features[:, j], minlength=k) for j in range(features.shape[1])]
    )
    squares = np.bincount(labels, weights=np.einsum("ij,ij->i", features, features), minlength=k)
    filled = counts > 0
    return float(squares[filled].sum() - ((sums[filled] ** 2).sum(1) / counts[filled]).sum())


def compare_engines(
    image: npt.ArrayLike,
    k: int,
    *,
    color_space: Literal["rgb", "hsv", "lab", "oklab"] = "rgb",
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
    """
    import cv2
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    rgb = as_rgb_image(image)
    space = check_color_space(color_space)
    features = rgb_to_features(rgb.reshape(-1, 3), space)
    runs: list[tuple[str, float, int | None, np.ndarray]] = []

    started = time.perf_counter()
    ours = segment(rgb, k, color_space=space, seed=seed, n_init=n_init)
    runs.append(("kseg", time.perf_counter() - started, ours.n_iter, ours.labels.ravel()))

    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "fewer distinct points than clusters" on flat images
        model = KMeans(k, n_init=n_init, random_state=seed).fit(features)
    runs.append(
        (
            "scikit-learn (all pixels)",
            time.perf_counter() - started,
            int(model.n_iter_),
            model.labels_.astype(np.int64),
        )
    )

    started = time.perf_counter()
    weighted = segment(rgb, k, color_space=space, seed=seed, n_init=n_init, engine="sklearn")
    runs.append(
        (
            "scikit-learn (distinct colours)",
            time.perf_counter() - started,
            weighted.n_iter,
            weighted.labels.ravel(),
        )
    )

    started = time.perf_counter()
    cv2.setRNGSeed(seed)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 300, 1e-4)
    # (n, 1, 3) three-channel points: a single (1, 3) row would be read as 3 points.
    _, cv_labels, _ = cv2.kmeans(
        features.astype(np.float32).reshape(-1, 1, 3),
        k,
        None,
        criteria,
        n_init,
        cv2.KMEANS_PP_CENTERS,
    )
    runs.append(("OpenCV (all pixels)", time.perf_counter() - started, None, cv_labels.ravel()))

    rng = np.random.default_rng(seed)
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
