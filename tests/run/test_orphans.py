"""Signals other than Ctrl-C, a clinvk killed outright, and the turn it leaves behind.

clinvk runs as a real process here, over a fake vendor that sleeps (and starts a child
in its group, to prove that whole groups are stopped).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from clinvk.liveness import process_start_time
from clinvk.recovery import WATCHDOG_NAME, stop_group, watchdog_argv
from clinvk.store import SessionStore
from tests.run.conftest import (
    Fakes,
    group_gone,
    process_gone,
    run_proc,
    spawn,
    wait_for,
)
from tests.run.test_signals import leaderless_group, running_session


def _watchdog_pids(pgid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if WATCHDOG_NAME.encode() in cmdline and str(pgid).encode() in cmdline:
            found.append(int(entry))
    return found


def _pending_signals(pid: int) -> int:
    """The signals sent to ``pid`` and not yet taken (its own and its group's)."""
    fields = dict(line.split(":", 1) for line in
                  Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["SigPnd"], 16) | int(fields["ShdPnd"], 16)


def _started_vendor(fake: Fakes, store: SessionStore):  # type: ignore[no-untyped-def]
    session = running_session(store)
    vendor = wait_for(lambda: next((v for v in fake.starts() if v["pgid"] == session.pgid), None),
                      what="the vendor to start")
    return session, vendor


@pytest.mark.parametrize(("signum", "name"), [(signal.SIGHUP, "SIGHUP"),
                                              (signal.SIGTERM, "SIGTERM"),
                                              (signal.SIGQUIT, "SIGQUIT")])
def test_hangup_term_and_quit_stop_the_vendor_and_exit_128_plus_the_signal(
        signum: int, name: str, fake: Fakes, workdir: Path, store: SessionStore) -> None:
    fake.set(sleep_before=60, child=1)
    proc = spawn("prompt", "long job")
    session, vendor = _started_vendor(fake, store)
    proc.send_signal(signum)
    _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 128 + signum, err
    assert f"interrupted ({name}" in err
    assert wait_for(lambda: group_gone(vendor["pgid"]), timeout=5, what="the group to die")
    s = store.read(session.id)
    assert (s.status, s.reason, s.turns[0].status) == ("error", "interrupted", "interrupted")
    assert s.turns[0].error is not None and name in s.turns[0].error
    assert (s.pid, s.pgid, s.pgid_start) == (None, None, None)


def test_kill_9_of_clinvk_stops_its_vendor_group(fake: Fakes, workdir: Path,
                                                 store: SessionStore) -> None:
    fake.set(sleep_before=60, child=1)
    proc = spawn("prompt", "long job")
    session, vendor = _started_vendor(fake, store)
    # The turn records the vendor leader's start time, to verify the group later.
    assert session.pgid_start == process_start_time(vendor["pid"])
    proc.kill()
    proc.wait(timeout=10)
    # The watchdog notices clinvk is gone: SIGINT to the group, SIGKILL after a grace.
    assert wait_for(lambda: group_gone(vendor["pgid"]), timeout=10, what="the group to die")
    assert process_gone(vendor["child_pid"])
    assert wait_for(lambda: not _watchdog_pids(vendor["pgid"]), timeout=5,
                    what="the watchdog to exit")
    # Nobody saved the turn; the next clinvk that lists the sessions settles it.
    assert store.read(session.id).status == "running"
    listed = run_proc("sessions", "list")
    assert listed.code == 0 and "error" in listed.out
    s = store.read(session.id)
    assert (s.status, s.reason, s.turns[0].status) == ("error", "interrupted", "interrupted")
    assert s.pid is None and s.pgid is None
    assert "died before the turn ended" in (s.turns[0].error or "")


def test_a_normal_turn_leaves_no_watchdog_behind(fake: Fakes, workdir: Path,
                                                 store: SessionStore) -> None:
    fake.set(sleep_before=0.5)
    proc = spawn("prompt", "hi")
    _session, vendor = _started_vendor(fake, store)
    assert wait_for(lambda: _watchdog_pids(vendor["pgid"]), what="the watchdog to start")
    proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert not _watchdog_pids(vendor["pgid"])


def _orphan(fake: Fakes, store: SessionStore, *args: str):  # type: ignore[no-untyped-def]
    """A turn whose clinvk AND watchdog were killed: the vendor is left running."""
    fake.set(sleep_before=60, child=1, ignore="INT")
    proc = spawn(*args)
    session, vendor = _started_vendor(fake, store)
    watchdogs = wait_for(lambda: _watchdog_pids(vendor["pgid"]), what="the watchdog")
    for pid in watchdogs:
        os.kill(pid, signal.SIGKILL)
    proc.kill()
    proc.wait(timeout=10)
    wait_for(lambda: all(process_gone(pid) for pid in watchdogs), what="the watchdogs to die")
    assert not group_gone(vendor["pgid"])  # the orphan is still there, ppid 1
    fake.clear("sleep_before", "child", "ignore")
    return session, vendor


def test_cancel_of_a_turn_whose_clinvk_died_stops_the_orphaned_vendor(
        fake: Fakes, workdir: Path, store: SessionStore) -> None:
    session, vendor = _orphan(fake, store, "prompt", "long job")
    r = run_proc("cancel", session.id)
    assert r.code == 0, r.err
    assert "was gone" in r.out and "interrupted" in r.out
    assert group_gone(vendor["pgid"])  # it ignored SIGINT: killed after the grace
    s = store.read(session.id)
    assert (s.status, s.reason, s.turns[0].status) == ("error", "interrupted", "interrupted")
    assert run_proc("cancel", session.id).code == 4  # now it really is not running


def test_resume_never_runs_a_second_vendor_beside_an_orphan(
        fake: Fakes, workdir: Path, run, store: SessionStore) -> None:  # type: ignore[no-untyped-def]
    sid = run("prompt", "-b", "codex", "-o", "json", "hi").json()["id"]
    _session, vendor = _orphan(fake, store, "resume", sid, "long job")
    r = run_proc("resume", sid, "again")
    assert r.code == 0, r.err
    assert group_gone(vendor["pgid"])
    s = store.read(sid)
    assert [t.status for t in s.turns] == ["ok", "interrupted", "ok"]
    assert s.status == "active" and s.pid is None


def test_a_reused_vendor_pgid_is_never_signalled(fake: Fakes, workdir: Path, run,
                                                 store: SessionStore) -> None:  # type: ignore[no-untyped-def]
    sid = run("prompt", "-o", "json", "hi").json()["id"]
    # Some other program now leads a group with the recorded pgid (a reused pid).
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                             start_new_session=True)
    try:
        real_start = process_start_time(other.pid)
        assert real_start is not None
        store.update(sid, lambda s: (setattr(s, "status", "running"), setattr(s, "pid", 2**22 + 7),
                                     setattr(s, "pid_start", 5.0), setattr(s, "pgid", other.pid),
                                     setattr(s, "pgid_start", real_start - 1)))
        listed = run_proc("sessions", "list", "--json")
        assert listed.code == 0
        # Untouched: alive, and no signal on its way (a signal sent is pending until taken).
        assert not process_gone(other.pid)
        assert _pending_signals(other.pid) == 0
        s = store.read(sid)
        assert (s.status, s.reason, s.pgid) == ("error", "interrupted", None)
    finally:
        other.kill()
        other.wait()


def test_a_dead_runner_is_not_settled_while_someone_alive_holds_the_lock(
        fake: Fakes, workdir: Path, run, store: SessionStore) -> None:  # type: ignore[no-untyped-def]
    sid = run("prompt", "-o", "json", "hi").json()["id"]
    store.update(sid, lambda s: (setattr(s, "status", "running"), setattr(s, "pid", 2**22 + 7),
                                 setattr(s, "pid_start", 5.0)))
    with store.lock(sid):
        listed = run_proc("sessions", "list")
        assert listed.code == 0 and "error" in listed.out  # shown as error...
        assert store.read(sid).status == "running"  # ...but left for the lock holder
    assert run_proc("sessions", "show", sid).code == 0
    assert store.read(sid).status == "error"


def _group_whose_child_ignores_sigint() -> tuple[subprocess.Popen[bytes], int]:
    """A process group of the test's own: its leader exits on SIGINT, its child (whose
    pid is returned with the leader) ignores SIGINT."""
    code = ("import subprocess, sys, time\n"
            "c = subprocess.Popen([sys.executable, '-c', 'import signal, time; "
            "signal.signal(signal.SIGINT, signal.SIG_IGN); print(1, flush=True); time.sleep(60)'],"
            " stdout=subprocess.PIPE)\n"
            "c.stdout.readline()\nprint(c.pid, flush=True)\ntime.sleep(60)\n")
    leader = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                              start_new_session=True)
    assert leader.stdout is not None
    child = int(leader.stdout.readline())
    return leader, child


def test_stop_group_kills_what_a_proven_vendor_leaves_behind() -> None:
    leader, child = _group_whose_child_ignores_sigint()
    start = process_start_time(leader.pid)
    reaper = threading.Thread(target=leader.wait)  # reaped at once: the leader is gone
    reaper.start()
    try:
        assert stop_group(leader.pid, start, grace=0.5)
        reaper.join(timeout=10)
        # The leader went during the grace; its child, seen while the leader proved the
        # group, is killed on its own.
        assert wait_for(lambda: process_gone(child), timeout=5, what="the child to be killed")
    finally:
        if process_start_time(child) is not None:
            os.kill(child, signal.SIGKILL)
        reaper.join(timeout=10)


def test_a_leaderless_group_is_left_alone_by_the_next_clinvk(
        fake: Fakes, workdir: Path, run, store: SessionStore) -> None:  # type: ignore[no-untyped-def]
    sid = run("prompt", "-o", "json", "hi").json()["id"]
    pgid, leader_start, member = leaderless_group()
    try:
        store.update(sid, lambda s: (setattr(s, "status", "running"), setattr(s, "pid", 2**22 + 7),
                                     setattr(s, "pid_start", 5.0), setattr(s, "pgid", pgid),
                                     setattr(s, "pgid_start", leader_start)))
        listed = run_proc("sessions", "list", "--json")
        assert listed.code == 0
        assert not process_gone(member)  # nothing proves it the vendor's: untouched
        s = store.read(sid)
        assert (s.status, s.reason, s.pgid) == ("error", "interrupted", None)
    finally:
        if process_start_time(member) is not None:
            os.kill(member, signal.SIGKILL)


def test_the_watchdog_kills_what_a_vendor_that_exited_on_sigint_leaves_behind() -> None:
    # The watchdog's clinvk "dies" (end of file on its pipe).
    leader, child = _group_whose_child_ignores_sigint()
    start = process_start_time(leader.pid)
    assert start is not None
    reaper = threading.Thread(target=leader.wait)  # reaped at once: the leader is gone
    reaper.start()
    watchdog = subprocess.Popen(watchdog_argv(leader.pid, start), stdin=subprocess.PIPE)
    try:
        assert watchdog.stdin is not None
        watchdog.stdin.close()
        assert watchdog.wait(timeout=20) == 0
        reaper.join(timeout=10)
        assert process_gone(child)
    finally:
        if process_start_time(child) is not None:
            os.kill(child, signal.SIGKILL)
        reaper.join(timeout=10)
