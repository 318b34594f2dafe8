"""When the background pusher (``clinvk team push --background``) is due, and starting it.

The outbox (clinvk.team.local) lives in SQLite; asking it costs an import and a
query, too much for every command. So its state for scheduling is one file,
``<store>/team-push.due``: it exists while the outbox holds sessions no pusher is
delivering, and its modification time is when the next attempt is due (after a failed
push, when the pusher's own retries ran out of time). After any clinvk command,
``kick`` looks at it — one stat — and starts a pusher once that time has passed.

Standard library only: it runs after every command.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

DUE_NAME = "team-push.due"
LOG_NAME = "team-push.log"
# A background push stops starting batches (and retries) after this long.
BUDGET_S = 60.0
# When a pusher gave up (its time box spent on failures), the next one waits this long.
RETRY_S = 60.0


def due_path(root: Path) -> Path:
    return root / DUE_NAME


def due_at(root: Path) -> float | None:
    """When the next background push is due; None if nothing waits for one."""
    try:
        return os.stat(due_path(root)).st_mtime
    except OSError:
        return None


def set_due(root: Path, when: float) -> None:
    """The outbox waits: the next background push is due at ``when`` (epoch seconds)."""
    path = due_path(root)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        os.close(fd)
        os.utime(path, (when, when))
    except OSError:
        pass  # a convenience: the next turn starts a pusher anyway


def clear_due(root: Path) -> None:
    """Nothing waits in the outbox."""
    try:
        os.unlink(due_path(root))
    except OSError:
        pass


def spawn(root: Path) -> None:
    """Start ``clinvk team push --background``, detached, its output to the log. The due
    time moves past its time box first, so that the commands meanwhile start no other
    (the pusher sets it again, or clears it, when it ends)."""
    import subprocess

    set_due(root, time.time() + BUDGET_S + RETRY_S)
    log = os.open(root / LOG_NAME, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        subprocess.Popen([sys.executable, "-m", "clinvk", "team", "push", "--background"],
                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                         start_new_session=True, close_fds=True)
    finally:
        os.close(log)


def kick() -> None:
    """After any command: start a background pusher if one is due. It asks only what the
    command already loaded: a command that never read the settings (``--help``) leaves
    it to the next one."""
    paths = sys.modules.get("clinvk.config.paths")
    if paths is None:
        return
    try:
        root: Path = paths.data_dir()
        when = due_at(root)
        if when is not None and when <= time.time():
            spawn(root)
    except Exception:  # noqa: BLE001 - a convenience after the command: never its failure
        return
