"""One run per run folder: ``<output_dir>/run.lock``, held with a POSIX record lock for as long as the run lives.

Two ``pretrain`` runs writing into one folder interleave their CSV rows and checkpoints. The second one is refused
at once, with the PID and command of the first. The kernel drops the lock when its process dies, however it dies
(SIGKILL included), so a lock file left by a killed run is stale by construction: the next run takes it over.
A POSIX lock (``lockf``), unlike ``flock``, is not shared with forked children, so a DataLoader worker that
outlives a killed run for a moment does not keep its folder locked. The file is removed when the run ends.

>>> with RunLock("runs/clmr"):   # doctest: +SKIP
...     train()
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path

__all__ = ["RunLock", "RunLockedError"]

LOCK_NAME = "run.lock"


class RunLockedError(RuntimeError):
    """Another live process holds the run folder's lock; the message names it."""


class RunLock:
    """An exclusive, non-blocking lock on a run folder (created if missing)."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self._fd: int | None = None
        self.created_folder = False

    def acquire(self) -> RunLock:
        self.created_folder = not self.folder.exists()
        self.folder.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                if err.errno not in (errno.EACCES, errno.EAGAIN):
                    os.close(fd)
                    raise
                holder = _read_holder(fd)
                os.close(fd)
                raise RunLockedError(
                    f"{self.folder} is in use by another run ({holder}); wait for it to end, or choose another "
                    "output_dir"
                ) from None
            # The file may have been removed (and a new one made) by the previous holder between our open and our
            # lock: only a lock on the file that is at the path now counts.
            with contextlib.suppress(FileNotFoundError):
                if os.fstat(fd).st_ino == os.stat(self.path).st_ino:
                    break
            os.close(fd)
        os.ftruncate(fd, 0)
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        os.write(fd, json.dumps({**holder, "command": " ".join(sys.argv)}).encode())
        self._fd = fd
        return self

    def moved_to(self, folder: str | os.PathLike) -> None:
        """The locked folder was renamed to ``folder`` (``pretrain --fresh`` moving an old run aside)."""
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            if os.fstat(self._fd).st_ino == os.stat(self.path).st_ino:
                self.path.unlink()  # while still locked, so that nobody takes a lock on a file about to vanish
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "a process that has not yet written its PID"
    return f"PID {info.get('pid')} on {info.get('host')}, started {info.get('started')}: {info.get('command')}"
