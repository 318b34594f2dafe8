"""`clinvk cancel ID`: stop the turn another clinvk process is running."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from clinvk.commands.params import SessionId
from clinvk.errors import ClinvkError, SessionError

if TYPE_CHECKING:
    from clinvk.model import Session
    from clinvk.store import SessionStore

# How long cancel gives the runner to stop its vendor and save, beyond the runner's
# own grace period, before it kills the vendor's group itself.
CANCEL_SLACK = 2.0


def cancel(
    ident: SessionId,
    /,
) -> int:
    """Stop the turn a session is running; the clinvk process running it exits 130.

    Signals that clinvk process (SIGUSR1), which stops its vendor and records the turn
    as cancelled; the vendor's process group is killed if it does not stop in time.
    If that clinvk died, its vendor is stopped and the turn is recorded as interrupted.

    Example: clinvk cancel 3fk2a9

    Parameters
    ----------
    ident
        The session id or a unique prefix.
    """
    import signal
    import time

    from clinvk.liveness import effective_status, runner_dead, running
    from clinvk.output import out
    from clinvk.runner import CANCEL_SIGNAL, INTERRUPT_GRACE
    from clinvk.store import SessionStore

    store = SessionStore()
    full = store.resolve(ident, not_found_exit=4)
    session = store.read(full)
    if runner_dead(session.status, session.pid, session.pid_start):
        from clinvk.recovery import recover

        if recover(store, full) is not None:
            out(f"Session {full}: the clinvk process running it was gone; any vendor it "
                "left is stopped and the turn is recorded as interrupted.")
            return 0
        session = store.read(full)  # someone else settled or took it meanwhile
    status = effective_status(session.status, session.pid, session.pid_start)
    if status != "running":
        raise SessionError(f"session {full} is not running (status {status})")
    if session.pid_start is None or not session.pid:
        # Without a start time a reused pid cannot be told apart: never signal blindly.
        raise SessionError(f"session {full}: cannot verify which process runs it on this system",
                           hint=f"stop pid {session.pid} yourself if it is clinvk")
    pid, start, pgid, pgid_start = session.pid, session.pid_start, session.pgid, session.pgid_start
    try:
        os.kill(pid, CANCEL_SIGNAL)
    except ProcessLookupError:
        pass

    def wait_gone(seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while running(pid, start):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    if not wait_gone(INTERRUPT_GRACE + CANCEL_SLACK):
        _kill_group(pgid, pgid_start)
        if not wait_gone(CANCEL_SLACK) and running(pid, start):
            os.kill(pid, signal.SIGKILL)
            wait_gone(CANCEL_SLACK)
    _mark_cancelled(store, full)
    out(f"Session {full} cancelled.")
    return 0


def _kill_group(pgid: int | None, leader_start: float | None) -> None:
    import signal

    from clinvk.liveness import group_safe_to_signal

    if pgid is None or not group_safe_to_signal(pgid, leader_start):
        return
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _mark_cancelled(store: SessionStore, ident: str) -> None:
    """Record the cancel ourselves when the runner could not (it was killed)."""
    from clinvk.model import utcnow

    try:
        session = store.read(ident)
    except ClinvkError:
        return  # deleted meanwhile
    if session.status != "running":
        return  # the runner saved it

    def change(record: Session) -> None:
        if record.status != "running":
            return
        record.status, record.reason = "error", "cancelled"
        record.clear_runner()
        record.last_used_at = utcnow()
        if record.turns and record.turns[-1].status == "running":
            record.turns[-1].status = "cancelled"
            record.turns[-1].error = "cancelled by `clinvk cancel`"

    try:
        store.update(ident, change, wait=2)
    except ClinvkError:
        pass
