"""Writing output files safely: a final name appears only with its complete contents."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["write_atomic"]


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to `path` through a temporary file beside it, renamed into place.

    A crash or a full disk leaves either the old file or none, never a half-written one, and
    no temporary file behind.

    Parameters
    ----------
    path : str or path-like
        The file to write; its folder must exist.
    data : bytes

    Raises
    ------
    OSError
        As the file system reports it (no space, no permission); the temporary file is
        removed first.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> write_atomic(folder / "a.txt", b"hi"); (folder / "a.txt").read_bytes()
    b'hi'
    >>> sorted(p.name for p in folder.iterdir())
    ['a.txt']
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
