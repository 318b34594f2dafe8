"""A turn whose clinvk died: stop the vendor it left behind and record the turn as over.

Two things cover a clinvk that is killed outright (``kill -9``, the OOM killer) and so
cannot stop its vendor itself:

- while a turn runs, a tiny watchdog process (``_WATCH_SH`` below, started by the runner
  through ``Watchdog``) waits for clinvk to go away and then stops the vendor's
  process group;
- any later clinvk that meets a record still saying ``running`` although the clinvk
  running it is gone (``recover``) stops the recorded group if it is still there and
  marks the turn ``interrupted`` in the record itself, under the session's lock.

Neither ever signals a process that is not the recorded vendor: a group is signalled
only while its leader is there with the recorded start time (clinvk.liveness); a group
whose leader is gone is left alone, and the turn is marked interrupted all the same. This module imports
only the standard library and clinvk.liveness at the top.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from typing import TYPE_CHECKING

from clinvk.liveness import (
    group_members,
    group_safe_to_signal,
    proven_members,
    runner_dead,
)

if TYPE_CHECKING:
    import subprocess

    from clinvk.model import Session
    from clinvk.store import SessionStore

# How long an orphaned vendor gets to wind down after SIGINT (claude and gemini save
# their transcript on it) before its group is killed. The watchdog has time; a later
# clinvk (e.g. `sessions list`) should not keep its user waiting long.
WATCHDOG_GRACE = 3.0
RECOVER_GRACE = 1.0

DIED_MESSAGE = "its clinvk process died before the turn ended"


def stop_group(pgid: int | None, leader_start: float | None, grace: float) -> bool:
    """SIGINT the vendor's group, SIGKILL what is left after ``grace``; False if it
    was already gone or cannot be verified as the recorded one (then nothing is sent).

    The group is signalled only while its leader proves it (``group_safe_to_signal``).
    If the leader exits during the grace, what it leaves behind is killed one process at
    a time, and only the processes proven the vendor's: members seen while the leader
    was there, and their descendants (``proven_members``).
    """
    known = _members_while_proven(pgid, leader_start)
    if pgid is None or known is None:
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGINT)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        seen = _members_while_proven(pgid, leader_start)
        known = seen if seen is not None else proven_members(pgid, known)
        if not known:
            return True
        time.sleep(0.05)
    if group_safe_to_signal(pgid, leader_start):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        return True
    for pid in proven_members(pgid, known):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return True


def _members_while_proven(pgid: int | None, leader_start: float | None) -> dict[int, float] | None:
    """The live members of the group (pid -> start time), read while its leader proves
    it ours; None if the leader does not (then they prove nothing)."""
    if pgid is None or not group_safe_to_signal(pgid, leader_start):
        return None
    members = {pid: start for pid, (start, _parent) in group_members(pgid).items()}
    return members if group_safe_to_signal(pgid, leader_start) else None


# The watchdog, a POSIX shell script: it runs beside every vendor (eight at once under
# `clinvk parallel`), and a shell costs about 1 MB and 1 ms to start where a Python
# interpreter costs about 9 MB and 15 ms. Its stdin is a pipe whose only writer is the
# clinvk running the turn: that clinvk writes one byte when the turn is over (and then
# stops the group itself); end of file without it means clinvk died, and the vendor must
# not outlive it. It signals the group only while it is provably the recorded one: the
# leader is still there with the recorded start time (field 22 of /proc/PID/stat; the
# rule of clinvk.liveness.group_safe_to_signal). SIGINT first, so claude and gemini save
# their transcript; after the grace, SIGKILL for the group if its leader is still there,
# else for each process seen in the group while the leader was (pid and start time, as
# stop_group does), one at a time.
_WATCH_SH = r"""
pgid=$1 start=$2 grace=$3
IFS= read -r done
[ -n "$done" ] && exit 0
ours() {
  IFS= read -r stat 2>/dev/null < "/proc/$pgid/stat" || return 1
  set -- ${stat##*") "}
  [ "${20}" = "$start" ]
}
members() {
  for dir in /proc/[0-9]*; do
    IFS= read -r stat 2>/dev/null < "$dir/stat" || continue
    set -- ${stat##*") "}
    [ "$3" = "$pgid" ] && printf '%s:%s ' "${dir#/proc/}" "${20}"
  done
  return 0
}
ours && known=$(members) && ours && kill -s INT -- "-$pgid" 2>/dev/null || exit 0
i=0
while [ "$i" -lt $((grace * 10)) ]; do
  kill -s 0 -- "-$pgid" 2>/dev/null || exit 0
  seen=$(members)
  ours && known=$seen
  sleep 0.1
  i=$((i + 1))
done
if ours; then
  kill -s KILL -- "-$pgid" 2>/dev/null
  exit 0
fi
for member in $known; do
  IFS= read -r stat 2>/dev/null < "/proc/${member%%:*}/stat" || continue
  set -- ${stat##*") "}
  [ "$3" = "$pgid" ] && [ "${20}" = "${member#*:}" ] && kill -s KILL "${member%%:*}" 2>/dev/null
done
exit 0
"""

WATCHDOG_NAME = "clinvk-watchdog"


def watchdog_argv(pgid: int, leader_start: float) -> list[str]:
    """The command that watches group ``pgid`` (named ``clinvk-watchdog`` in ps)."""
    return ["/bin/sh", "-c", _WATCH_SH, WATCHDOG_NAME, str(pgid), str(int(leader_start)),
            str(int(WATCHDOG_GRACE))]


class Watchdog:
    """clinvk's end of the watchdog (``_WATCH_SH``) for one vendor process group.

    A separate small process blocks reading a pipe only clinvk writes to, and stops the
    vendor's group when that pipe reaches end of file without clinvk having said the
    turn is over. Why not the kernel's parent-death signal (prctl PR_SET_PDEATHSIG)? It
    can only be set in the child between fork and exec, i.e. with subprocess's
    ``preexec_fn``, which is unsafe while other threads run (clinvk saves on worker
    threads) and rules out the fast spawn path; and it reaches only the vendor itself,
    not the tool processes it started, while the watchdog stops the whole group. It
    costs one small shell process per turn, started without waiting for it.
    """

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._fd: int | None = None

    def start(self, pgid: int, leader_start: float) -> None:
        """Start watching the group; best effort (a later clinvk still settles the turn)."""
        import subprocess

        read_end, write_end = os.pipe()  # not inheritable: only clinvk holds write_end
        try:
            self._process = subprocess.Popen(
                watchdog_argv(pgid, leader_start), stdin=read_end,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                # Its own session: the terminal's hangup or Ctrl-C never reaches it.
                start_new_session=True)
        except OSError:
            os.close(write_end)
            return
        finally:
            os.close(read_end)
        self._fd = write_end

    def release(self) -> None:
        """The turn is over (clinvk stops the group itself): end the watchdog.

        It is killed rather than told and waited for: after a quick turn it may still be
        starting its interpreter, and the turn must not wait for that. Killing it is
        safe: it holds nothing and, with the turn over, has nothing left to do.
        """
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.write(fd, b"d")
            os.close(fd)
        process, self._process = self._process, None
        if process is not None:
            with contextlib.suppress(OSError):
                process.kill()
            process.wait()


def settle_dead_turn(session: Session, note: str | None = None) -> bool:
    """If the record's runner is gone: stop its vendor, mark the turn interrupted.

    The caller holds the session's lock and saves the record. False: nothing to do.
    ``note`` is added to the turn's error (e.g. which command noticed).
    """
    if not runner_dead(session.status, session.pid, session.pid_start):
        return False
    from clinvk.model import utcnow

    stop_group(session.pgid, session.pgid_start, RECOVER_GRACE)
    session.interrupt(f"{DIED_MESSAGE} ({note})" if note else DIED_MESSAGE)
    session.last_used_at = utcnow()
    return True


def recover(store: SessionStore, ident: str) -> Session | None:
    """Settle a dead runner's turn in the record of ``ident``; the record if it did.

    The session's lock is only tried, never waited for: if someone holds it, that
    someone is alive and the record is theirs to write.
    """
    from clinvk.errors import ClinvkError

    try:
        with store.lock(ident):
            session = store.read(ident)
            if not settle_dead_turn(session):
                return None
            store.save(session)
            return session
    except ClinvkError:
        return None  # busy, deleted or unreadable meanwhile: not ours to settle
    except OSError:
        return None  # a read-only store: the record stays shown as error
