"""Writing a file so that readers see the old bytes or the new ones, never half of them.

Temp file in the same directory → fsync → ``os.replace`` → fsync the directory. Every
file clinvk writes (session records, the config file, export files) goes through
``atomic_write``; only ``os`` is imported, so any path may use it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


def mkdir_private(path: Path) -> None:
    """Create a directory (and its parents) readable by its owner only."""
    if not path.is_dir():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            os.chmod(path, 0o700)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def disk_bytes(st: os.stat_result) -> int:
    """Bytes a file takes on disk (allocated blocks, like du)."""
    blocks = getattr(st, "st_blocks", None)
    return blocks * 512 if blocks is not None else st.st_size


def temp_name(path: Path) -> Path:
    """Where a write of ``path`` is staged: ``.<name>.<pid>.<hex>.tmp`` beside it (the
    pid lets `sessions doctor` tell a live writer's temp file from a dead one's)."""
    return path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")


@contextlib.contextmanager
def atomic_file(path: Path, *, mode: int = 0o600, sync_dir: bool = True) -> Iterator[BinaryIO]:
    """A binary file to write that replaces ``path`` when the block ends without error
    (and is removed when it raises).

    ``sync_dir`` False leaves the directory's fsync to the caller (one per directory
    after many writes).
    """
    tmp = temp_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            if mode != 0o600:
                os.fchmod(f.fileno(), mode)  # the umask may have narrowed what O_CREAT set
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if sync_dir:
        fsync_dir(path.parent)


def atomic_write(path: Path, data: bytes, *, mode: int = 0o600, sync_dir: bool = True) -> None:
    """Replace ``path`` with ``data`` (see atomic_file)."""
    with atomic_file(path, mode=mode, sync_dir=sync_dir) as f:
        f.write(data)
