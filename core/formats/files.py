"""Writing output files safely: a final name appears only with its complete contents.

:func:`write_atomic` writes one file, :func:`write_all` a set that belongs together (an image's
``segmented/`` and ``labels/`` twins): through temporary files beside the final names
(``.NAME.PID-THREAD.tmp``), renamed into place when complete. A crash or a full disk leaves
the old files or none, never a half-written one, and no temporary file behind; the OSError
names the final path.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Final

__all__ = ["TEMP_SUFFIX", "write_all", "write_atomic"]

#: Suffix of the temporary files :func:`write_all` writes next to their final names.
TEMP_SUFFIX: Final = ".tmp"


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to `path` so that `path` holds the whole file or is left as it was.

    Parameters
    ----------
    path : str or path-like
        The file to write; its folder must exist.
    data : bytes

    Raises
    ------
    OSError
        As the file system reports it (no space, no permission), naming `path`; the
        temporary file is removed first.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> write_atomic(folder / "a.txt", b"hi"); (folder / "a.txt").read_bytes()
    b'hi'
    >>> sorted(p.name for p in folder.iterdir())
    ['a.txt']
    """
    write_all({Path(path): data})


def write_all(files: Mapping[Path, bytes]) -> None:
    """Write files that belong together (an image's ``segmented/`` and ``labels/`` twins and
    its row): each to a temporary file first, then all renamed to their final names.

    If a write fails, every temporary file is removed and no final name is touched; if a
    rename fails, the files already renamed are removed too. Either way no final name holds
    half a set, and the OSError names the final path that failed.

    Raises
    ------
    OSError
        The first failure, with ``filename`` the final path.
    """
    temps: dict[Path, Path] = {}
    renamed: list[Path] = []
    path = Path()
    try:
        for path, data in files.items():
            temps[path] = tmp = _temp_name(path)
            _write_file(tmp, data)
        for path, tmp in temps.items():
            os.replace(tmp, path)
            renamed.append(path)
    except OSError as e:
        for tmp in temps.values():
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
        for done in renamed:
            with contextlib.suppress(OSError):
                done.unlink(missing_ok=True)
        raise OSError(e.errno, e.strerror or str(e), str(path)) from e


def _temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}{TEMP_SUFFIX}")


def _write_file(path: Path, data: bytes) -> None:
    """The one place bytes reach the disk (tests make it fail to simulate a full disk)."""
    with open(path, "wb") as handle:
        handle.write(data)
