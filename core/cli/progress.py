"""What ``kseg segment`` / ``elbow`` / ``sweep`` are doing, on stderr, when a person watches.

Stage lines (``kseg: reading scene.tif…``) and a per-k bar (tqdm) go to stderr only when it is a
terminal and ``--quiet`` was not given: pipes, files and tests see nothing extra. The one
decision is :func:`interactive`, which tests replace to force either way.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["interactive", "k_progress", "stage"]


def interactive(args: argparse.Namespace | None = None) -> bool:
    """True when progress should show: stderr is a terminal and ``--quiet`` is off."""
    if args is not None and getattr(args, "quiet", False):
        return False
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty is not None and isatty())


def stage(args: argparse.Namespace | None, text: str) -> None:
    """One ``kseg: TEXT…`` line on stderr, when :func:`interactive`."""
    if interactive(args):
        print(f"kseg: {text}…", file=sys.stderr, flush=True)


@contextmanager
def k_progress(
    args: argparse.Namespace | None, total: int, label: str = "k-means"
) -> Iterator[Callable[[int, int, int], None] | None]:
    """A ``progress(done, total, k)`` callback drawing a tqdm bar over the values of k, or
    None when not :func:`interactive`; the bar is closed on leaving.

    Parameters
    ----------
    args : argparse.Namespace or None
        The parsed command line (for ``--quiet``).
    total : int
        Values of k to run.
    label : str
        The bar's description.

    Yields
    ------
    callable or None
        For the ``progress=`` of :func:`core.explore.elbow.elbow` and
        :func:`core.explore.sweep.sweep`.
    """
    if not interactive(args):
        yield None
        return
    from tqdm import tqdm

    bar = tqdm(total=total, desc=f"kseg: {label}", unit="k", file=sys.stderr, leave=False)

    def progress(done: int, _total: int, k: int) -> None:
        bar.set_postfix_str(f"k={k} done", refresh=False)
        bar.update(done - bar.n)
        bar.refresh()  # every k (a k takes seconds): tqdm's rate limit would skip the last

    try:
        yield progress
    finally:
        bar.close()
