"""Auto push (``team.auto_push = true``): a finished turn queues its session in the
outbox and starts a background pusher; the turn never waits for the team store.

The pusher is ``clinvk team push --background`` (clinvk.team.pusher starts it): a
detached process (its own session, output appended to ``<store>/team-push.log``) holding
``locks/team-push.lock`` while it pushes, time-boxed to pusher.BUDGET_S. A turn starts
one only when none is due later or holds the lock; the pusher looks at the outbox again
after releasing it, so a turn queued while it was finishing is never left behind. A
failed push is retried by the pusher itself, with backoff, within its time box; when
that runs out, the outbox waits pusher.RETRY_S, and then any clinvk command (not only a
turn) starts the next pusher (clinvk.team.pusher.kick). The turn that finds a failure
says so on stderr at most once per WARN_EVERY_S. The outbox keeps every queued session
until a push commits it.

No psycopg here: this is the per-turn path.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from clinvk.team import local, pusher

# At most one warning about a failing background push per this many seconds.
WARN_EVERY_S = 3600.0
# The pusher's first retry after a failure waits this long; each next one twice as long.
FIRST_RETRY_S = 2.0


def _lock_path(root: Path) -> Path:
    return root / "locks" / "team-push.lock"


def try_lock(root: Path, *, wait: bool = False) -> int | None:
    """The push lock, held (a descriptor), or None if another process holds it; with
    ``wait``, once that process is done (`clinvk team push` waits for a background one,
    so that two pushes of one store never write the same rows at once)."""
    import fcntl

    from clinvk.atomic import mkdir_private

    mkdir_private(root / "locks")
    fd = os.open(_lock_path(root), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def unlock(fd: int) -> None:
    os.close(fd)  # closing the descriptor releases the flock


def after_turn(root: Path, session_id: str) -> None:
    """The hook after a finished turn: queue, maybe start a pusher, maybe warn.
    Nothing here can fail the turn."""
    import sqlite3

    try:
        conn = local.connect(root)
        try:
            now = time.time()
            conn.execute("INSERT OR REPLACE INTO outbox(id, queued) VALUES (?, ?)",
                         (session_id, now))
            failure = local.get(conn, "failure")
            warned_at = float(local.get(conn, "warned_at") or 0)
            if failure and now - warned_at >= WARN_EVERY_S:
                waiting = conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
                local.put(conn, "warned_at", repr(now))
                from clinvk.output import warn

                warn(f"the team store push failed: {failure}; {waiting:,} session(s) wait "
                     "in the outbox (`clinvk team push` retries now)")
        finally:
            conn.close()
        due = pusher.due_at(root)
        if due is not None and due > now:
            return  # a pusher is on it, or the next one is due then: it takes this one too
        fd = try_lock(root)
        if fd is None:
            return  # a pusher runs; it looks at the outbox again before it ends
        unlock(fd)
        pusher.spawn(root)
    except (OSError, sqlite3.Error):
        pass  # the outbox is a convenience: `clinvk team push` finds changes without it


def record_failure(root: Path, message: str | None) -> None:
    """Remember how the last push ended (None: it succeeded)."""
    conn = local.connect(root)
    try:
        if message is None:
            local.put(conn, "failure", None)
            local.put(conn, "warned_at", None)
        else:
            local.put(conn, "failure", message)
    finally:
        conn.close()


def outbox_waiting(root: Path) -> bool:
    """Whether the outbox still holds sessions."""
    conn = local.connect(root)
    try:
        return bool(local.queued(conn))
    finally:
        conn.close()
