"""Sidecar lock files: an exclusive ``flock(2)`` on a small file beside what it guards.

The session locks (``locks/<id>.lock``) and the sync state lock. The kernel drops a
lock when its holder exits, however it exits, so a crash never leaves a session locked.
Any other process that flocks the same file (an older clinvk through its lock library)
takes the same lock. Stdlib only and small: every turn takes a lock, and a lock library
is slower to import than everything else a turn records.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from pathlib import Path

from clinvk.errors import ClinvkError

# How often a waiting acquire tries again (a busy session is rare and waits are short).
POLL_S = 0.05
_BUSY = frozenset({errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK})


class LockBusy(TimeoutError):
    """Another process holds the lock (and the wait, if any, ran out)."""


class FileLock:
    """One exclusive lock on ``path`` (created 0600 if missing), not re-entrant."""

    def __init__(self, path: Path, mode: int = 0o600) -> None:
        self.path = path
        self.mode = mode
        self._fd: int | None = None

    @property
    def is_locked(self) -> bool:
        return self._fd is not None

    def acquire(self, timeout: float = 0) -> None:
        """Take the lock, waiting up to ``timeout`` seconds (0: try once); LockBusy if
        another process keeps it."""
        if self._fd is not None:
            raise RuntimeError(f"lock {self.path} is already held by this object")
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                         self.mode)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno == errno.ENOSYS:
                    raise ClinvkError(
                        f"the file system of {self.path.parent} does not support file locks",
                        hint="point CLINVK_HOME at a directory on a local file system") from None
                if exc.errno not in _BUSY:
                    raise
                if time.monotonic() >= deadline:
                    raise LockBusy(f"{self.path} is locked by another process") from None
                time.sleep(min(POLL_S, max(0.0, deadline - time.monotonic())))
                continue
            if self._still_there(fd):
                self._fd = fd
                return
            # The file was removed (a deleted session's lock) while we waited for it, so
            # this lock guards nothing: try again on whatever the path is now.
            os.close(fd)

    def _still_there(self, fd: int) -> bool:
        try:
            return os.path.samestat(os.fstat(fd), os.stat(self.path))
        except FileNotFoundError:
            return False

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)
