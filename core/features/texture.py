"""Texture features: per-pixel responses to the Leung–Malik filter bank.

Pixels in regions of the same texture respond alike to a bank of oriented edge and bar
filters, blobs and blurs at several scales, so clustering the response vectors groups
pixels by texture rather than by colour.

The bank follows ``makeLMfilters`` by Varma and Zisserman (the MATLAB reference for
T. Leung and J. Malik, "Representing and recognizing the visual appearance of materials
using three-dimensional textons", IJCV 43(1), 2001): 48 filters of support 49 × 49.

=========  =====  ===============================================================
Indices    Count  Filters
=========  =====  ===============================================================
0–5        6      first derivative of Gaussian, σ = √2, θ = 0°, 30°, …, 150°
6–11       6      second derivative of Gaussian, σ = √2, same orientations
12–23      12     the same two kinds at σ = 2
24–35      12     the same two kinds at σ = 2√2
36–39      4      Laplacian of Gaussian, σ = √2, 2, 2√2, 4
40–43      4      Laplacian of Gaussian, σ = 3√2, 6, 6√2, 12
44–47      4      Gaussian, σ = √2, 2, 2√2, 4
=========  =====  ===============================================================

The oriented filters are elongated 3:1: the Gaussian along the bar has standard
deviation 3σ, the derivative is taken across it with standard deviation σ. At θ = 0° the
bar is horizontal; as θ grows it turns clockwise as displayed (rows running downwards),
exactly as in the MATLAB code, whose y axis points up.

Deliberate differences from the MATLAB file, none of which changes a derivative or LoG
filter: the oriented filters are grouped per scale (MATLAB stores all 18 first
derivatives, then all 18 second derivatives); the rotation-invariant filters are grouped
by kind (8 LoG, then 4 Gaussians) instead of interleaved per scale; and the Gaussians are
normalised to unit sum instead of being made zero-mean (which turns them into faint blob
detectors). The LoG is the 2-D one, as MATLAB's ``fspecial('log')``; some Python ports
use the 1-D formula, which changes sign at r = σ instead of r = σ√2.

Responses are not pooled over a neighbourhood (as in the tutorial this follows): fine
periodic textures give per-pixel features that vary with the phase of the pattern, and
image borders and boundaries between textures show up as textures of their own.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from core.validation import is_integer

__all__ = ["LM_FILTER_NAMES", "LM_N_FILTERS", "lm_filter_bank", "texture_features"]

_SQRT2: Final = float(np.sqrt(2.0))
#: Scales σ (across the bar) of the oriented derivative filters.
_ORIENTED_SCALES: Final = tuple(_SQRT2**i for i in (1, 2, 3))
_N_ORIENTATIONS: Final = 6
#: Scales of the LoG filters (the second four are three times the first four).
_LOG_SCALES: Final = tuple(_SQRT2**i for i in (1, 2, 3, 4)) + tuple(
    3 * _SQRT2**i for i in (1, 2, 3, 4)
)
_GAUSSIAN_SCALES: Final = tuple(_SQRT2**i for i in (1, 2, 3, 4))
_ELONGATION: Final = 3.0

#: Number of filters in the Leung–Malik bank.
LM_N_FILTERS: Final = 48


def _names() -> tuple[str, ...]:
    oriented = []
    for scale in _ORIENTED_SCALES:
        for order in (1, 2):
            oriented += [
                f"d{order} σ={scale:.3g} θ={180 * k // _N_ORIENTATIONS}°"
                for k in range(_N_ORIENTATIONS)
            ]
    log = [f"LoG σ={scale:.3g}" for scale in _LOG_SCALES]
    gaussian = [f"G σ={scale:.3g}" for scale in _GAUSSIAN_SCALES]
    return (*oriented, *log, *gaussian)


#: Short label per filter of :func:`lm_filter_bank`, in the same order, for figures:
#: ``"d1 σ=1.41 θ=30°"`` (first derivative), ``"d2 …"`` (second derivative),
#: ``"LoG σ=4.24"``, ``"G σ=2"``.
LM_FILTER_NAMES: Final[tuple[str, ...]] = _names()

# Responses are in grey levels on [0, 1] times the filter's L1 norm. A response whose
# standard deviation is below this (1/400 of one 8-bit grey level) is float32 rounding
# (about 1e-7 here), not texture: standardising it would blow noise up to unit variance.
_NOISE_FLOOR: Final = 1e-5
# Filters whose responses are held at once: 16 float32 columns are one 64-byte line.
_GROUP: Final = 16


def _gaussian_1d(x: np.ndarray, sigma: float, order: int) -> np.ndarray:
    """Gaussian (order 0) or its first or second derivative, evaluated at `x`."""
    variance = sigma * sigma
    g = np.exp(-x * x / (2.0 * variance)) / np.sqrt(2.0 * np.pi * variance)
    if order == 1:
        return -g * x / variance
    if order == 2:
        return g * (x * x - variance) / (variance * variance)
    return g


def _zero_mean_unit_l1(f: np.ndarray) -> np.ndarray:
    """MATLAB ``normalise``: subtract the mean, then divide by the sum of magnitudes."""
    f = f - f.mean()
    return f / np.abs(f).sum()


def lm_filter_bank(support: int = 49) -> np.ndarray:
    """Build the 48 Leung–Malik filters.

    Parameters
    ----------
    support : int, optional
        Side of each (square) filter in pixels; a positive odd integer. The default 49
        is the reference size; the largest filters (σ = 12 LoG, 3σ = 8.5 bars) are
        truncated at smaller supports.

    Returns
    -------
    (48, support, support) ndarray of float64
        The filters in the order of :data:`LM_FILTER_NAMES` (see the module docstring).

    Raises
    ------
    ValueError
        If `support` is not a positive odd integer.

    Notes
    -----
    Guarantees:

    - first- and second-derivative and LoG filters sum to 0 and their absolute values
      sum to 1;
    - Gaussians are non-negative and sum to 1;
    - first-derivative filters are odd (``f == -rot180(f)``), all others are even
      (``f == rot180(f)``); LoG and Gaussians are unchanged by a 90° rotation.

    Examples
    --------
    >>> lm_filter_bank(15).shape
    (48, 15, 15)
    """
    if not is_integer(support):
        raise ValueError(f"support must be a positive odd integer such as 49, got {support!r}.")
    if support < 1 or support % 2 == 0:
        raise ValueError(
            f"support must be a positive odd integer such as 49 (the filters need a centre "
            f"pixel), got {support}."
        )
    half = (support - 1) // 2
    # As in MATLAB: x to the right, y *up* (row 0 is y = +half).
    x, y = np.meshgrid(np.arange(-half, half + 1.0), np.arange(half, -half - 1.0, -1.0))

    first, second = [], []
    for scale in _ORIENTED_SCALES:
        for k in range(_N_ORIENTATIONS):
            angle = np.pi * k / _N_ORIENTATIONS
            cos, sin = np.cos(angle), np.sin(angle)
            along = cos * x - sin * y
            across = sin * x + cos * y
            bar = _gaussian_1d(along, _ELONGATION * scale, 0)
            first.append(_zero_mean_unit_l1(bar * _gaussian_1d(across, scale, 1)))
            second.append(_zero_mean_unit_l1(bar * _gaussian_1d(across, scale, 2)))
    # MATLAB stores all 18 first derivatives, then all 18 second derivatives; we group
    # them per scale (6 first, then 6 second), as documented in the module table.
    oriented = []
    for s in range(len(_ORIENTED_SCALES)):
        block = slice(s * _N_ORIENTATIONS, (s + 1) * _N_ORIENTATIONS)
        oriented += first[block] + second[block]

    radius2 = x * x + y * y
    log = []
    for scale in _LOG_SCALES:
        variance = scale * scale
        g = np.exp(-radius2 / (2.0 * variance))
        log.append(_zero_mean_unit_l1(g * (radius2 - 2.0 * variance) / variance**2))
    gaussian = []
    for scale in _GAUSSIAN_SCALES:
        g = np.exp(-radius2 / (2.0 * scale * scale))
        gaussian.append(g / g.sum())
    return np.stack(oriented + log + gaussian)


def texture_features(
    image: npt.ArrayLike,
    *,
    filters: npt.ArrayLike | None = None,
    n_components: int | None = None,
) -> np.ndarray:
    """Per-pixel texture features: standardised absolute filter-bank responses.

    Parameters
    ----------
    image : (H, W, 3) array_like of uint8 or (H, W) array_like of uint8
        An RGB image (as returned by :func:`core.load_image`) or a grey image. RGB is
        converted to grey with ``cv2.cvtColor(..., cv2.COLOR_RGB2GRAY)``; grey levels are
        then scaled to [0, 1]. Resize large images before calling (see
        :func:`core.resize_to_max_pixels`): the cost grows with the number of pixels.
    filters : (n_filters, s, s) array_like of float, optional
        The filter bank, ``s`` odd. Default: :func:`lm_filter_bank` ``()``, the 48
        Leung–Malik filters.
    n_components : int, optional
        If given, project the standardised responses on their first `n_components`
        principal components (scikit-learn PCA) and return those instead.

    Returns
    -------
    (H * W, n_filters) or (H * W, n_components) ndarray of float32
        One row per pixel in row-major order (pixel ``(r, c)`` is row ``r * W + c``).
        Without `n_components`: column ``j`` is ``|image ⋆ filters[j]|`` (correlation, as
        ``cv2.filter2D``, borders reflected as ``cv2.BORDER_REFLECT_101``), standardised
        to zero mean and unit variance; a column that does not vary over the image (for
        instance any filter on a flat image) is all zeros. With `n_components`: the
        principal-component scores, zero mean and in decreasing order of variance. They
        are not whitened, so Euclidean distances (what k-means uses) approximate those
        between the full standardised rows.

    Raises
    ------
    ValueError
        If `image` is not a non-empty (H, W) or (H, W, 3) uint8 array, if `filters` is
        not a non-empty stack of finite, square, odd-sized filters, or if `n_components`
        is not an integer between 1 and ``min(n_filters, H * W)``.

    Notes
    -----
    Guarantees: no NaN or infinity for any valid input; the same input gives the same
    output; a grey image and the RGB image with that grey in all three channels give the
    same output.

    The responses are computed by FFT (one forward transform of the image, one per filter
    and one inverse per filter), so the cost does not depend on the filter size:
    about 1 s for 48 filters on a 1000 × 1000 image on two cores.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.zeros((32, 48), dtype=np.uint8)
    >>> image[:, ::4] = 255                   # vertical stripes
    >>> texture_features(image).shape
    (1536, 48)
    >>> texture_features(image, n_components=5).shape
    (1536, 5)
    """
    gray = _to_gray(image)
    bank = lm_filter_bank() if filters is None else _check_filters(filters)
    n_pixels = gray.size
    if n_components is not None:
        _check_n_components(n_components, bank.shape[0], n_pixels)

    features, varying = _standardised_responses(gray, bank)
    if n_components is None:
        return features
    if not varying.any():
        # Nothing to project (a flat image); PCA would divide 0 by 0.
        return np.zeros((n_pixels, n_components), dtype=np.float32)
    # "covariance_eigh" forms the small (n_filters, n_filters) covariance once: for
    # n_pixels >> n_filters it is the fastest exact solver, and it is deterministic.
    from sklearn.decomposition import PCA  # here, not at the top: ``import core`` stays light

    pca = PCA(n_components=n_components, svd_solver="covariance_eigh")
    return pca.fit_transform(features).astype(np.float32, copy=False)


def _to_gray(image: npt.ArrayLike) -> np.ndarray:
    """Validate `image` and return it as (H, W) float32 grey levels in [0, 1]."""
    image = np.asarray(image)
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise ValueError(
            f"image must have shape (H, W, 3) for RGB or (H, W) for grey, got shape "
            f"{image.shape}. Drop an alpha channel with image[..., :3]."
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image is empty (shape {image.shape}); pass an image with pixels.")
    if image.dtype != np.uint8:
        raise ValueError(
            f"image must be uint8 (as returned by core.load_image), got {image.dtype}. "
            "Convert values in [0, 1] with (image * 255).round().astype(np.uint8)."
        )
    if image.ndim == 3:
        import cv2

        image = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    return image.astype(np.float32) / np.float32(255.0)


def _check_filters(filters: npt.ArrayLike) -> np.ndarray:
    """Validate a user filter bank and return it as float64 (n, s, s)."""
    bank = np.asarray(filters, dtype=np.float64)
    if bank.ndim != 3 or bank.shape[0] == 0 or bank.shape[1] != bank.shape[2]:
        raise ValueError(
            f"filters must be a non-empty stack of square filters, shape (n_filters, s, s), "
            f"got shape {bank.shape}. Use filters[np.newaxis] for a single filter."
        )
    if bank.shape[1] % 2 == 0:
        raise ValueError(
            f"filters must have an odd size s so that each has a centre pixel, got "
            f"{bank.shape[1]} × {bank.shape[2]}. Pad them with a row and a column of zeros."
        )
    if not np.isfinite(bank).all():
        raise ValueError("filters contain NaN or infinite values; pass finite filters.")
    return bank


def _check_n_components(n_components: object, n_filters: int, n_pixels: int) -> None:
    limit = min(n_filters, n_pixels)
    if not is_integer(n_components) or not 1 <= n_components <= limit:  # type: ignore[operator]
        raise ValueError(
            f"n_components must be an integer from 1 to {limit} (the smaller of the number "
            f"of filters, {n_filters}, and of pixels, {n_pixels}), got {n_components!r}. "
            "Pass n_components=None to keep one column per filter."
        )


def _standardised_responses(gray: np.ndarray, bank: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Standardised ``|gray ⋆ f|`` per filter ``f`` as (H * W, n_filters) float32.

    Prior validation assumed. Also returns which columns vary (bool, (n_filters,)).

    One real FFT of the reflect-padded image is shared by all filters, so each filter
    costs a kernel FFT and an inverse FFT whatever its size. Measured on 1000 × 1000,
    48 filters, 2 cores: half the time of ``cv2.filter2D`` per filter (which also goes
    through a DFT for kernels this large, but transforms the image every time, on one
    thread) and of ``scipy.signal.fftconvolve``. Filters are processed in groups of 16, so that
    only 16 response images are held at once and each group fills whole 64-byte lines
    of the feature rows.
    """
    import scipy.fft

    height, width = gray.shape
    n_filters, size = bank.shape[:2]
    half = size // 2
    # Filter the image minus its mean and add the mean back through each filter's sum:
    # exact (reflected borders keep a constant constant), better conditioned in float32,
    # and a flat image gives exactly zero from every zero-sum filter.
    offset = float(gray.mean(dtype=np.float64))
    padded = np.pad(gray - np.float32(offset), half, mode="reflect")
    # Circular convolution of size >= the padded image is exact on the valid part.
    shape = tuple(scipy.fft.next_fast_len(n, real=True) for n in padded.shape)
    image_spectrum = scipy.fft.rfft2(padded, shape, workers=-1)
    window = (slice(2 * half, 2 * half + height), slice(2 * half, 2 * half + width))
    l1_norms = np.abs(bank).sum(axis=(1, 2))

    features = np.empty((height * width, n_filters), dtype=np.float32)
    varying = np.zeros(n_filters, dtype=bool)
    responses = np.empty((min(_GROUP, n_filters), height, width), dtype=np.float32)
    for first in range(0, n_filters, _GROUP):
        group = range(first, min(first + _GROUP, n_filters))
        scaling = np.zeros((3, len(group)), dtype=np.float32)
        for slot, index in enumerate(group):
            kernel = bank[index]
            # Flipping turns FFT convolution into correlation, as cv2.filter2D computes.
            spectrum = _kernel_spectrum(kernel[::-1, ::-1].astype(np.float32), shape)
            spectrum *= image_spectrum
            response = scipy.fft.irfft2(spectrum, shape, workers=-1)[window]
            gain = float(kernel.sum())
            if abs(gain) > 1e-9:
                response += np.float32(offset * gain)
            np.abs(response, out=responses[slot])
            scaling[:, slot] = _scaling(responses[slot], l1_norms[index])
            varying[index] = scaling[1, slot] != 0
        _write_standardised(
            responses[: len(group)], *scaling, out=features[:, group.start : group.stop]
        )
    return features, varying


def _kernel_spectrum(kernel: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """rfft2 of `kernel` zero-padded to `shape`; row transforms only on the kernel's rows."""
    import scipy.fft

    rows = scipy.fft.rfft(kernel, n=shape[1], axis=1, workers=-1)
    return scipy.fft.fft(rows, n=shape[0], axis=0, workers=-1)


def _scaling(response: np.ndarray, l1_norm: float) -> tuple[float, float, float]:
    """``(offset, scale, correction)`` that standardise `response`; all 0 if it is flat.

    ``(x - offset) * scale - correction`` standardises ``x``. The float32 ``offset`` is
    the mean rounded, and ``correction`` removes that rounding, which matters when the
    mean is large against the spread (a blurred, low-contrast image).
    """
    # cv2 accumulates in float64, at the speed of numpy's float32 path.
    import cv2

    mean, std = (float(stat[0, 0]) for stat in cv2.meanStdDev(response))
    if std <= _NOISE_FLOOR * l1_norm:
        return 0.0, 0.0, 0.0
    offset = float(np.float32(mean))
    return offset, 1.0 / std, (mean - offset) / std


def _write_standardised(
    responses: np.ndarray,
    offsets: np.ndarray,
    scales: np.ndarray,
    corrections: np.ndarray,
    *,
    out: np.ndarray,
) -> None:
    """Write (k, H, W) `responses`, standardised, into the (H * W, k) view `out`.

    Standardised in contiguous blocks that fit in cache, then transposed into place:
    one pass over memory, twice as fast as scaling the strided columns of `out`.
    """
    stacked = responses.reshape(responses.shape[0], -1)
    offsets, scales, corrections = offsets[:, None], scales[:, None], corrections[:, None]
    block = 8192
    buffer = np.empty((stacked.shape[0], block), dtype=np.float32)
    for start in range(0, stacked.shape[1], block):
        source = stacked[:, start : start + block]
        scaled = buffer[:, : source.shape[1]]
        np.subtract(source, offsets, out=scaled)  # error relative to |x - mean|: small
        scaled *= scales
        scaled -= corrections
        out[start : start + block] = scaled.T
