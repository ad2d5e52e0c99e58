"""Old names that still work and warn: one descriptor for every renamed attribute or method.

Every alias says what replaces it and the version that removes it (:data:`REMOVED_IN`); the
CHANGELOG lists them under that version.
"""

from __future__ import annotations

import warnings
from typing import Any, Final

__all__ = ["REMOVED_IN", "DeprecatedAlias", "warn_deprecated"]

#: The version that removes the names deprecated in 0.2.0.
REMOVED_IN: Final = "0.3.0"


def warn_deprecated(old: str, new: str, *, stacklevel: int = 3) -> None:
    """Warn once per call site that `old` is deprecated in favour of `new`.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_deprecated("Palette.inertia", "Palette.wcss", stacklevel=2)
    >>> str(caught[0].message)
    'Palette.inertia is deprecated and will be removed in kseg 0.3.0: use Palette.wcss.'
    """
    warnings.warn(
        f"{old} is deprecated and will be removed in kseg {REMOVED_IN}: use {new}.",
        DeprecationWarning,
        stacklevel=stacklevel,
    )


class DeprecatedAlias:
    """A class attribute that forwards to `new` (an attribute, property or method), warning
    :class:`DeprecationWarning` on every use.

    Examples
    --------
    >>> class Result:
    ...     shares = (0.5, 0.5)
    ...     fractions = DeprecatedAlias("shares")
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     Result().fractions
    (0.5, 0.5)
    """

    def __init__(self, new: str) -> None:
        self.new = new
        self.old = new  # set by __set_name__

    def __set_name__(self, owner: type, name: str) -> None:
        self.old = name
        self.owner = owner.__name__

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        if instance is None:
            return self
        warn_deprecated(f"{self.owner}.{self.old}", f"{self.owner}.{self.new}")
        return getattr(instance, self.new)
