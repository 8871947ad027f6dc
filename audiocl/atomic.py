"""Atomic file writes: a reader sees the old file or the new one, never half of one.

The temporary files and folders that ``tempfile`` makes are private (0600, 0700); what is renamed into place
gets the mode any new file or folder would get under the process's umask (0644 and 0755 under umask 022), so a
shared cache or run folder stays readable by the people it is shared with.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["write_atomic", "current_umask", "make_public_dir"]


def current_umask() -> int:
    """The process's umask, read without changing it (Linux: ``/proc/self/status``; elsewhere set and restored)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # no other portable way to read it
    os.umask(mask)
    return mask


def make_public_dir(path: str | os.PathLike) -> None:
    """Give a folder made by ``tempfile.mkdtemp`` the mode ``mkdir`` would have given it."""
    os.chmod(path, 0o777 & ~current_umask())


def write_atomic(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> None:
    """Write ``path`` through ``write(file)`` into a temporary file in the same folder, fsync, then rename.

    A process killed mid-write leaves the previous file intact and at worst a hidden ``.<name>.*.tmp`` file; an
    exception removes the temporary file and propagates. The file gets ``0666 & ~umask``, as ``open`` gives.

    >>> write_atomic("results.json", lambda f: f.write(b"{}"))  # doctest: +SKIP
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fchmod(f.fileno(), 0o666 & ~current_umask())
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
