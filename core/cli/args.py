"""The command line's shared pieces: the parser that fails in one line, argument types, and
the options several commands share. Every ``kseg`` command module imports from here; this module
imports no command."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NoReturn

from core.features.colorspaces import COLOR_SPACES
from core.validation import DEFAULT_COLOR_SPACE, DEFAULT_N_INIT, INITS, LIMITS

__all__ = [
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "Failure",
    "Parser",
    "UsageError",
    "add_fit_options",
    "add_image_options",
    "band_list",
    "k_list",
    "non_negative_int",
    "output_path",
    "plural",
    "positive_float",
    "positive_float_seconds",
    "positive_int",
    "seed_value",
]

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """A command line argparse rejected; carries argparse's own message."""


class Failure(Exception):
    """A user-facing failure whose message is already written for people."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that reports a bad command line as one line, not a usage dump."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (``10_000`` allowed)."""
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {value}")
    return value


def output_path(text: str) -> Path:
    # Path("") is ".": an empty -o would quietly write into the current folder.
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a file or folder name, got an empty one")
    return Path(text)


def seed_value(text: str) -> int | None:
    if text.strip().lower() == "random":
        return None
    try:
        return int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number from 0 to 2**32 - 1 or 'random', got {text!r}"
        ) from None


def k_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected k values like 2,4,8, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive k values like 2,4,8, got {text!r}")
    return values


def add_fit_options(parser: argparse.ArgumentParser) -> None:
    """The k-means options every fitting subcommand shares (``segment``, ``elbow``,
    ``sweep``, ``batch``): colour space, seed, init, n_init, max_iter, tol."""
    parser.add_argument(
        "--color-space",
        choices=list(COLOR_SPACES),
        default=DEFAULT_COLOR_SPACE,
        help="space in which colour distances are measured (default: %(default)s)",
    )
    parser.add_argument(
        "--seed",
        type=seed_value,
        default=0,
        help="random seed, 0 to 2**32 - 1, or 'random' (default: %(default)s)",
    )
    parser.add_argument(
        "--init", choices=INITS, default="k-means++", help="seeding (default: %(default)s)"
    )
    parser.add_argument(
        "--n-init",
        type=positive_int,
        default=DEFAULT_N_INIT,
        metavar="N",
        help=f"restarts, at most {LIMITS['n_init']}; the lowest WCSS wins (default: %(default)s)",
    )
    parser.add_argument(
        "--max-iter",
        type=positive_int,
        default=300,
        metavar="N",
        help=f"cap on Lloyd iterations per restart, at most {LIMITS['max_iter']} "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--tol",
        type=float,
        default=1e-4,
        help="stop when centres move less than this, relative (default: %(default)s)",
    )


def add_image_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by every subcommand that fits k-means to one image."""
    parser.add_argument("image", help="image file (PNG, JPEG, WebP, TIFF, BMP, GIF, …)")
    add_fit_options(parser)
    parser.add_argument(
        "--downscale-to",
        "--working-pixels",  # its old name, kept working
        dest="downscale_to",
        type=positive_int,
        default=None,
        metavar="N",
        help="first shrink the image to at most N pixels (area average) and work on that "
        "copy: outputs are at the smaller size (compare --fit-pixels)",
    )
    parser.add_argument(
        "--max-pixels",
        type=positive_int,
        default=None,
        metavar="N",
        help="refuse images with more than N pixels (default: 100 million)",
    )


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of metres, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of metres, got {text}")
    return value


def positive_float_seconds(text: str) -> float:
    """An argparse type: a positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text}")
    return value


def plural(n: int, noun: str) -> str:
    """``"1 iteration"``, ``"2 iterations"``: a count with its noun in agreement.

    Examples
    --------
    >>> plural(1, "iteration"), plural(3, "iteration")
    ('1 iteration', '3 iterations')
    """
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def band_list(text: str | None) -> list[int | str] | None:
    """``red,nir`` or ``3,4`` (GDAL's band numbers, from 1) as band names and 0-based
    positions, for ``--bands`` and ``--rgb``; None for nothing given.

    Raises
    ------
    ValueError
        For a band number below 1.

    Examples
    --------
    >>> band_list("red, 4"), band_list(None)
    (['red', 3], None)
    """
    if text is None:
        return None
    bands: list[int | str] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if item.isdigit():
            if int(item) < 1:
                raise ValueError(f"Band numbers start at 1 (as in GDAL), got {item}.")
            bands.append(int(item) - 1)
        else:
            bands.append(item)
    return bands or None
