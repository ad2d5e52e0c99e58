"""Exceptions raised by kseg.

Every failure a user can cause with their own file surfaces as :class:`ImageError`,
a :class:`ValueError`, with a message that says what is wrong and what to do about it.
"""

from __future__ import annotations

__all__ = ["ImageError"]


class ImageError(ValueError):
    """An image we cannot use: unreadable, corrupt, unsupported, empty or too large.

    The message is meant for a person: it names the problem and the fix, never a
    Python object representation.
    """
