"""Sidecar locks (clinvk.locks): exclusive across processes, never inherited by a child,
never held on a lock file that was removed while we waited for it."""

from __future__ import annotations

import fcntl
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from clinvk.locks import FileLock, LockBusy

# A process that takes the lock with flock(2) itself, as any other flock user would
# (an older clinvk through its lock library), says so, and holds it until stdin closes.
HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.read()
"""


def hold_elsewhere(path: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "held\n"
    return proc


def let_go(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(timeout=10)


def test_a_lock_another_process_holds_is_busy_until_it_lets_go(tmp_path: Path) -> None:
    path = tmp_path / "s.lock"
    holder = hold_elsewhere(path)
    try:
        lock = FileLock(path)
        with pytest.raises(LockBusy):
            lock.acquire()
        began = time.monotonic()
        with pytest.raises(LockBusy):
            lock.acquire(timeout=0.3)
        assert 0.25 <= time.monotonic() - began < 2
        assert not lock.is_locked
    finally:
        let_go(holder)
    lock.acquire()
    assert lock.is_locked
    lock.release()


def test_a_waiting_acquire_gets_the_lock_once_released(tmp_path: Path) -> None:
    path = tmp_path / "s.lock"
    first = FileLock(path)
    first.acquire()
    threading.Timer(0.2, first.release).start()
    second = FileLock(path)
    began = time.monotonic()
    second.acquire(timeout=5)
    assert 0.15 <= time.monotonic() - began < 2
    second.release()


def test_two_locks_in_one_process_exclude_each_other(tmp_path: Path) -> None:
    a, b = FileLock(tmp_path / "s.lock"), FileLock(tmp_path / "s.lock")
    a.acquire()
    with pytest.raises(LockBusy):
        b.acquire()
    a.release()
    b.acquire()
    b.release()


def test_the_lock_file_is_private_and_stays_after_release(tmp_path: Path) -> None:
    path = tmp_path / "s.lock"
    lock = FileLock(path)
    lock.acquire()
    lock.release()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# Takes the lock, starts a long-lived child that could inherit it, and dies holding it.
DIES_HOLDING = """
import os, subprocess, sys
from pathlib import Path
from clinvk.locks import FileLock
FileLock(Path(sys.argv[1])).acquire()
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"],
                         close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(child.pid, flush=True)
os._exit(9)
"""


def test_a_child_process_never_inherits_the_lock(tmp_path: Path) -> None:
    """A vendor started while a session is locked must not keep it locked once the
    clinvk that started it is gone."""
    path = tmp_path / "s.lock"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    proc = subprocess.run([sys.executable, "-c", DIES_HOLDING, str(path)], env=env,
                          capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 9, proc.stderr
    child = int(proc.stdout.strip())
    try:
        os.kill(child, 0)  # still alive
        lock = FileLock(path)
        lock.acquire()
        lock.release()
    finally:
        os.kill(child, 9)


def test_a_lock_file_removed_between_open_and_flock_is_not_trusted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The holder of a deleted session's lock removes the lock file before letting go.
    A waiter that opened the old file and then wins the lock on it must lock the path
    anew, so that it and a newcomer on the path never both hold "the" lock."""
    path = tmp_path / "s.lock"
    path.touch()
    real_flock = fcntl.flock
    raced: list[int] = []

    def flock_after_the_holder_left(fd: int, op: int) -> None:
        if not raced:  # the old file, opened just before the holder removed it and let go
            raced.append(fd)
            os.unlink(path)
        real_flock(fd, op)

    monkeypatch.setattr(fcntl, "flock", flock_after_the_holder_left)
    lock = FileLock(path)
    lock.acquire()
    monkeypatch.setattr(fcntl, "flock", real_flock)
    assert raced and path.exists()
    with pytest.raises(LockBusy):
        FileLock(path).acquire()
    lock.release()


def test_a_lock_cannot_be_taken_twice_by_one_object(tmp_path: Path) -> None:
    lock = FileLock(tmp_path / "s.lock")
    lock.acquire()
    with pytest.raises(RuntimeError):
        lock.acquire()
    lock.release()
    lock.release()  # a second release is harmless
