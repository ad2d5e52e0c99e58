"""Parameter validation: the one table of allowed values and one function per check.

Every public function of :mod:`core` checks its parameters here, first, and its private
helpers then assume prior validation (scikit-learn's convention). A check returns the value
in its canonical form (a Python ``int`` for a NumPy integer, the lower-case name of a colour
space) or raises :class:`ValueError` with a message that says how to fix the call.

Limits on work (:data:`LIMITS`) keep one call from running for minutes: ``k`` is at most
256 (pass ``allow_large_k=True`` to go beyond), ``n_init`` at most 100, ``max_iter`` at
most 10,000, and a range of k (elbow, sweep) at most 64 (and at most 65,536 values). Limits
on files (:data:`FILE_LIMITS`: bands, frames, decoded memory, pixels a reduced read decodes)
keep one file from doing the same; :mod:`core.inputs.bounds` checks them from the header, before
any pixel is decoded.
"""

from __future__ import annotations

import itertools
import math
import secrets
import warnings
from dataclasses import dataclass
from typing import Final, Literal, get_args

import numpy as np

__all__ = [
    "COLOR_SPACE_VALUES",
    "DEFAULT_COLOR_SPACE",
    "DEFAULT_N_INIT",
    "ENGINE_VALUES",
    "FILE_LIMITS",
    "INITS",
    "LIMITS",
    "MAX_KS_VALUES",
    "MAX_SEED",
    "ColorSpace",
    "Engine",
    "FitParams",
    "Init",
    "check_color_space",
    "check_engine",
    "check_index",
    "check_init",
    "check_k",
    "check_k_fits",
    "check_ks",
    "check_max_iter",
    "check_n_init",
    "check_positive_int",
    "check_seed",
    "check_tol",
    "check_weight",
    "is_integer",
    "resolve_seed",
    "warn_fewer_colors",
]

#: Colour spaces (display names and axes: :mod:`core.features.colorspaces`).
ColorSpace = Literal["rgb", "hsv", "lab", "oklab"]
#: How the first centres are picked.
Init = Literal["k-means++", "random"]
#: k-means implementations (descriptions: :data:`core.engine.engines.ENGINES`).
Engine = Literal["kseg", "sklearn", "opencv"]

COLOR_SPACE_VALUES: Final[tuple[str, ...]] = get_args(ColorSpace)
INITS: Final[tuple[str, ...]] = get_args(Init)
ENGINE_VALUES: Final[tuple[str, ...]] = get_args(Engine)

#: Upper limits on the work one call may ask for.
LIMITS: Final[dict[str, int]] = {
    "k": 256,  # clusters; segment(..., allow_large_k=True) lifts it
    "k_max": 64,  # largest k of a range (elbow, sweep)
    "n_init": 100,  # restarts
    "max_iter": 10_000,  # Lloyd iterations per restart
}
#: Values a range of k (elbow, sweep) may hold, counted before it is sorted or stored.
MAX_KS_VALUES: Final = 65_536
#: Upper limits on what one file may make a loader do (:mod:`core.inputs.bounds`), beside each
#: loader's ``max_pixels``.
FILE_LIMITS: Final[dict[str, int]] = {
    "bands": 1_024,  # bands of a raster (a hyperspectral cube has a few hundred)
    "frames": 10_000,  # frames or pages of a file (only the first is shown)
    "memory": 1_000_000_000,  # bytes one decoded image may take, its decoder's copies included
    "read_pixels": 1_000_000_000,  # file pixels x bands that one reduced read may decode
}
#: Restarts run by default: scikit-learn's classic 10 (and the tutorials' cv2 ``attempts``).
#: kseg runs them on a coarse colour histogram, so 10 cost ~5 % more time than 4, and they
#: matter: on a 12 MP photo at k = 16, 4 restarts ended up to 2.3 % above scikit-learn's
#: best WCSS of 10 (mean over seeds 0.9 %), 10 restarts within 0.8 % (mean 0.5 %).
DEFAULT_N_INIT: Final = 10
#: The colour space of every fit unless told otherwise: perceptual distances.
DEFAULT_COLOR_SPACE: Final[ColorSpace] = "lab"
#: Seeds are integers in ``[0, MAX_SEED]`` (what every engine, OpenCV included, accepts).
MAX_SEED: Final = 2**32 - 1

_WEIGHT_LIMIT: Final = 1e6


def is_integer(value: object) -> bool:
    """Whether `value` is a Python or NumPy integer, and not a bool.

    Parameters
    ----------
    value : object

    Returns
    -------
    bool

    Examples
    --------
    >>> is_integer(3), is_integer(np.int64(3)), is_integer(True), is_integer(3.0)
    (True, True, False, False)
    """
    return not isinstance(value, bool | np.bool_) and isinstance(value, int | np.integer)


_is_int = is_integer


def check_index(i: object, n: int, what: str) -> int:
    """Check an index into `n` things (a cluster, an iteration): an integer in ``[0, n)``.

    Parameters
    ----------
    i : object
    n : int
    what : str
        What is indexed, for the message ("cluster index").

    Returns
    -------
    int
        The index as a Python ``int``.

    Raises
    ------
    IndexError
        If `i` is not an integer in ``[0, n)``.

    Examples
    --------
    >>> check_index(2, 3, "cluster index")
    2
    """
    if not is_integer(i) or not 0 <= i < n:  # type: ignore[operator]
        raise IndexError(f"{what} must be an integer in [0, {n}), got {i!r}.")
    return int(i)  # type: ignore[call-overload]


def check_positive_int(value: object, name: str, *, limit: int | None = None) -> int:
    """Return `value` as an ``int`` if it is an integer in ``[1, limit]``, else raise.

    Parameters
    ----------
    value : object
        The value to check; bools and floats are refused, NumPy integers accepted.
    name : str
        The parameter's name, for the message.
    limit : int, optional
        Upper bound, inclusive.

    Returns
    -------
    int
        `value` as a Python ``int``.

    Raises
    ------
    ValueError
        If `value` is not an integer, is below 1 or above `limit`.

    Examples
    --------
    >>> check_positive_int(3, "n_init")
    3
    """
    if not _is_int(value) or value < 1:  # type: ignore[operator]
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    if limit is not None and value > limit:  # type: ignore[operator]
        raise ValueError(f"{name}={value} is over the limit of {limit}; use at most {limit}.")
    return int(value)  # type: ignore[call-overload]


def check_k(k: object, *, allow_large_k: bool = False) -> int:
    """Check a number of clusters: a positive integer, at most ``LIMITS["k"]`` (256).

    Parameters
    ----------
    k : object
    allow_large_k : bool
        Lift the limit of 256 (the work grows with k).

    Returns
    -------
    int
        The number of clusters as a Python ``int``.

    Raises
    ------
    ValueError
        If `k` is not a positive integer, or is over the limit.

    Examples
    --------
    >>> check_k(6)
    6
    """
    if not _is_int(k) or k < 1:  # type: ignore[operator]
        raise ValueError(f"k must be a positive integer, got {k!r}.")
    limit = LIMITS["k"]
    if k > limit and not allow_large_k:  # type: ignore[operator]
        raise ValueError(
            f"k={k} is over the limit of {limit} clusters; use k <= {limit}, or lift the "
            "limit if you need more (kseg segment: --allow-large-k; in Python: "
            "allow_large_k=True)."
        )
    return int(k)  # type: ignore[call-overload]


def check_ks(ks: object, *, allow_large_k: bool = False) -> list[int]:
    """Check a collection of k values; return them sorted and de-duplicated.

    Parameters
    ----------
    ks : iterable of int
    allow_large_k : bool
        Lift the limit on the largest k (``LIMITS["k_max"]``, 64).

    Returns
    -------
    list of int
        Ascending, without repeats.

    Raises
    ------
    ValueError
        If `ks` is not iterable, is empty, holds more than :data:`MAX_KS_VALUES` values (counted
        before anything is sorted or stored: ``range(1, 10**7)`` is refused at once), holds
        a value that is not a positive integer, or its largest value is over the limit.

    Examples
    --------
    >>> check_ks([4, 2, 4])
    [2, 4]
    """
    count_limit = MAX_KS_VALUES
    try:
        length = len(ks)  # type: ignore[arg-type]
    except TypeError:  # a generator or another iterable without a length: count as we take
        length = None
    if length is not None and length > count_limit:
        raise ValueError(_too_many_ks(length, count_limit))
    try:
        values = list(itertools.islice(ks, count_limit + 1))  # type: ignore[call-overload]
    except TypeError:
        raise ValueError(f"ks must be an iterable of positive integers, got {ks!r}.") from None
    if len(values) > count_limit:
        raise ValueError(_too_many_ks(None, count_limit))
    if not values:
        raise ValueError("ks is empty; give at least one k, e.g. [2, 4, 8].")
    for k in values:
        if not _is_int(k) or k < 1:
            raise ValueError(f"every k must be a positive integer, got {k!r}.")
    checked = sorted({int(k) for k in values})
    limit = LIMITS["k_max"]
    if checked[-1] > limit and not allow_large_k:
        raise ValueError(
            f"k={checked[-1]} is over the limit of {limit} for a range of k (k_max); "
            f"use values up to {limit}."
        )
    return checked


def _too_many_ks(length: int | None, limit: int) -> str:
    how_many = f"{length:,} values" if length is not None else f"more than {limit:,} values"
    return (
        f"ks holds {how_many}, over the limit of {limit:,} values of k; give a few, "
        "e.g. range(2, 13)."
    )


def check_k_fits(k: int, n_pixels: int) -> None:
    """Check that an image of `n_pixels` pixels can be cut into `k` clusters.

    Fewer *distinct colours* than `k` is allowed (the extra clusters stay empty, with a
    warning); fewer *pixels* is not.

    Parameters
    ----------
    k : int
        Prior validation assumed (:func:`check_k`).
    n_pixels : int

    Returns
    -------
    None

    Raises
    ------
    ValueError
        If ``k > n_pixels``.

    Examples
    --------
    >>> check_k_fits(4, 100)
    """
    if k > n_pixels:
        raise ValueError(f"k={k} is more than the number of pixels ({n_pixels}); lower k.")


def warn_fewer_colors(n_colors: int, k: int, *, stacklevel: int = 2) -> None:
    """Warn that an image with `n_colors` distinct colours leaves clusters of `k` empty.

    Degenerate but usable input warns rather than fails (scikit-learn's "Number of
    distinct clusters found smaller than n_clusters"): every colour gets its own cluster.

    Parameters
    ----------
    n_colors : int
        Distinct colours of the image.
    k : int
        Clusters asked for.
    stacklevel : int
        As for :func:`warnings.warn`, counted from the caller of this function.

    Returns
    -------
    None

    Warns
    -----
    UserWarning
        When ``n_colors < k``; nothing happens otherwise.

    Examples
    --------
    >>> warn_fewer_colors(4, 4)  # enough colours: silent
    """
    if n_colors < k:
        warnings.warn(
            f"The image has only {n_colors} distinct colour(s), fewer than k={k}: "
            f"{k - n_colors} cluster(s) are empty. Lower k to at most {n_colors}.",
            UserWarning,
            stacklevel=stacklevel + 1,
        )


def check_n_init(n_init: object) -> int:
    """Check a number of restarts: a positive integer, at most ``LIMITS["n_init"]`` (100).

    Parameters
    ----------
    n_init : object

    Returns
    -------
    int
        The number of restarts as a Python ``int``.

    Raises
    ------
    ValueError
        If `n_init` is not a positive integer or is over the limit.

    Examples
    --------
    >>> check_n_init(10)
    10
    """
    return check_positive_int(n_init, "n_init", limit=LIMITS["n_init"])


def check_max_iter(max_iter: object) -> int:
    """Check a cap on iterations: a positive integer, at most ``LIMITS["max_iter"]``.

    Parameters
    ----------
    max_iter : object

    Returns
    -------
    int
        The iteration cap as a Python ``int``.

    Raises
    ------
    ValueError
        If `max_iter` is not a positive integer or is over the limit (10,000).

    Examples
    --------
    >>> check_max_iter(300)
    300
    """
    return check_positive_int(max_iter, "max_iter", limit=LIMITS["max_iter"])


def check_tol(tol: object) -> float:
    """Check a relative tolerance: a finite number ``>= 0``.

    Parameters
    ----------
    tol : object

    Returns
    -------
    float
        The tolerance as a Python ``float``.

    Raises
    ------
    ValueError
        If `tol` is not a finite non-negative number.

    Examples
    --------
    >>> check_tol(1e-4)
    0.0001
    """
    if (
        isinstance(tol, bool | np.bool_)
        or not isinstance(tol, int | float | np.integer | np.floating)
        or not (math.isfinite(tol) and tol >= 0)
    ):
        raise ValueError(f"tol must be a non-negative number, got {tol!r}.")
    return float(tol)


def _check_choice(value: object, name: str, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}.")
    return value


def check_init(init: object) -> Init:
    """Check an initialisation method, one of :data:`INITS`.

    Parameters
    ----------
    init : object

    Returns
    -------
    str
        The method, unchanged.

    Raises
    ------
    ValueError
        If `init` is not ``"k-means++"`` or ``"random"``.

    Examples
    --------
    >>> check_init("random")
    'random'
    """
    return _check_choice(init, "init", INITS)  # type: ignore[return-value]


def check_engine(engine: object) -> Engine:
    """Check an engine name, one of :data:`ENGINE_VALUES`.

    Parameters
    ----------
    engine : object

    Returns
    -------
    str
        The engine name, unchanged.

    Raises
    ------
    ValueError
        If `engine` is not ``"kseg"``, ``"sklearn"`` or ``"opencv"``.

    Examples
    --------
    >>> check_engine("sklearn")
    'sklearn'
    """
    return _check_choice(engine, "engine", ENGINE_VALUES)  # type: ignore[return-value]


def check_color_space(color_space: object) -> ColorSpace:
    """Return the canonical (lower-case) name of `color_space`, or raise.

    Parameters
    ----------
    color_space : object

    Returns
    -------
    str
        One of :data:`COLOR_SPACE_VALUES`.

    Raises
    ------
    ValueError
        If `color_space` is not one of :data:`COLOR_SPACE_VALUES` (case and surrounding
        spaces are ignored).

    Examples
    --------
    >>> check_color_space(" LAB ")
    'lab'
    """
    name = color_space.strip().lower() if isinstance(color_space, str) else None
    if name not in COLOR_SPACE_VALUES:
        choices = ", ".join(repr(c) for c in COLOR_SPACE_VALUES)
        raise ValueError(f"Unknown colour space {color_space!r}; use one of {choices}.")
    return name  # type: ignore[return-value]


def check_seed(seed: object) -> int | None:
    """Check a random seed: None (random) or an integer in ``[0, 2**32)``.

    Parameters
    ----------
    seed : object

    Returns
    -------
    int or None
        The seed as a Python ``int``, or None.

    Raises
    ------
    ValueError
        If `seed` is a bool, a float, a negative or too large integer, a NumPy Generator
        or anything else: the same seed must give the same result everywhere, in the
        recipe and on the command line too.

    Examples
    --------
    >>> check_seed(7), check_seed(None)
    (7, None)
    """
    if seed is None:
        return None
    if isinstance(seed, np.random.Generator | np.random.RandomState):
        raise ValueError(
            "seed must be an integer (or None), not a NumPy random generator: a recipe "
            "can only record an integer. Pass e.g. seed=0."
        )
    if not _is_int(seed) or not 0 <= seed <= MAX_SEED:  # type: ignore[operator]
        raise ValueError(
            f"seed must be a whole number from 0 to 2**32 - 1 (or None for a random one), "
            f"got {seed!r}."
        )
    return int(seed)  # type: ignore[call-overload]


def resolve_seed(seed: object) -> int:
    """Check `seed` (:func:`check_seed`) and draw a random one when it is None.

    The drawn seed is what the result records, so the recipe reproduces it.

    Parameters
    ----------
    seed : object

    Returns
    -------
    int
        In ``[0, 2**32)``.

    Raises
    ------
    ValueError
        As :func:`check_seed`.

    Examples
    --------
    >>> resolve_seed(3)
    3
    >>> 0 <= resolve_seed(None) < 2**32
    True
    """
    checked = check_seed(seed)
    return secrets.randbelow(MAX_SEED + 1) if checked is None else checked


def check_weight(value: object, name: str) -> float:
    """Check a feature weight: a finite number ``>= 0`` (and below a million).

    Parameters
    ----------
    value : object
    name : str
        The parameter's name, for the message.

    Returns
    -------
    float
        The weight as a Python ``float``.

    Raises
    ------
    ValueError
        If `value` is not a number in ``[0, 1e6)``.

    Examples
    --------
    >>> check_weight(1, "position_weight")
    1.0
    """
    if (
        isinstance(value, bool | np.bool_)
        or not isinstance(value, int | float | np.integer | np.floating)
        or not 0 <= value < _WEIGHT_LIMIT
    ):
        raise ValueError(f"{name} must be a number >= 0, got {value!r}.")
    return float(value)


@dataclass(frozen=True)
class FitParams:
    """The settings of one k-means fit, checked once, passed around whole: kseg's one
    settings object (photos, collections and every analysis use it).

    Attributes
    ----------
    seed : int
        Seed of the initialisation (a drawn one when the caller passed None).
    init : {"k-means++", "random"}
    n_init : int
    max_iter : int
    tol : float
    k : int or None
        Number of clusters, where the settings name one (None: given per call, as by an
        elbow curve over many k).
    color_space : {"rgb", "hsv", "lab", "oklab"}
        Where colour distances are measured (:data:`DEFAULT_COLOR_SPACE`).
    """

    seed: int = 0
    init: Init = "k-means++"
    n_init: int = DEFAULT_N_INIT
    max_iter: int = 300
    tol: float = 1e-4
    k: int | None = None
    color_space: ColorSpace = DEFAULT_COLOR_SPACE

    @classmethod
    def checked(
        cls,
        *,
        seed: object = 0,
        init: object = "k-means++",
        n_init: object = DEFAULT_N_INIT,
        max_iter: object = 300,
        tol: object = 1e-4,
        k: object = None,
        color_space: object = DEFAULT_COLOR_SPACE,
    ) -> FitParams:
        """Validate every setting (:mod:`core.validation`) and build the parameters.

        Parameters
        ----------
        seed, init, n_init, max_iter, tol, color_space
            As for :func:`core.segment`; each is checked by its function here.
        k : int, optional
            Checked as :func:`core.segment`'s `k` when given.

        Returns
        -------
        FitParams
            With `seed` resolved: None becomes a random seed, recorded here.

        Raises
        ------
        ValueError
            If a setting is invalid or over its limit.

        Examples
        --------
        >>> FitParams.checked(seed=1, n_init=3).n_init
        3
        """
        return cls(
            seed=resolve_seed(seed),
            init=check_init(init),
            n_init=check_n_init(n_init),
            max_iter=check_max_iter(max_iter),
            tol=check_tol(tol),
            k=None if k is None else check_k(k),
            color_space=check_color_space(color_space),
        )
