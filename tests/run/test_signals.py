"""Timeouts, Ctrl-C, cancel, busy sessions and streaming latency: clinvk as a real process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clinvk.liveness import process_start_time
from clinvk.store import SessionStore
from tests import fakes
from tests.conftest import iter_sessions
from tests.run.conftest import (
    Fakes,
    group_gone,
    process_gone,
    run_proc,
    spawn,
    wait_for,
)


def only_session(store: SessionStore):
    found = [s for _, s, _ in iter_sessions(store)]
    assert len(found) == 1, found
    return found[0]


def running_session(store: SessionStore):
    """Wait until the turn is recorded as running with its vendor's process group."""
    def check():
        found = [s for _, s, _ in iter_sessions(store)]
        return found[0] if found and found[0].status == "running" and found[0].pgid else None

    return wait_for(check, what="a running session with a pgid")


def test_timeout_kills_the_whole_group_and_exits_124(fake: Fakes, workdir: Path,
                                                     store: SessionStore) -> None:
    # The vendor and its child ignore SIGTERM: only the group SIGKILL can stop them.
    fake.set(sleep_before=60, ignore="TERM", child=1)
    started = time.monotonic()
    r = run_proc("prompt", "--timeout", "1", "slow")
    elapsed = time.monotonic() - started
    assert r.code == 124, r.err
    assert "timed out after 1s" in r.err
    assert "not resumable: claude never reported a conversation id" in r.err
    assert elapsed < 15
    vendor = fake.last()
    assert wait_for(lambda: process_gone(vendor["pid"]) and process_gone(vendor["child_pid"]),
                    timeout=5, what="the vendor group to die")
    assert group_gone(vendor["pgid"])
    s = only_session(store)
    assert (s.status, s.reason) == ("error", "timeout")
    assert s.turns[0].status == "timeout" and s.pid is None and s.pgid is None
    # The init line never came, so there is no conversation id: nothing to resume.
    assert s.turns[0].error == "timed out after 1s" and s.backend_session_id is None


def test_timeout_from_config(fake: Fakes, workdir: Path, store: SessionStore,
                             clinvk_home: Path) -> None:
    (clinvk_home / "config.toml").write_text("[backends.codex]\ntimeout = 0.5\n")
    fake.set(sleep_after=30)
    r = run_proc("prompt", "-b", "codex", "-o", "json", "slow")
    assert r.code == 124
    data = json.loads(r.out)
    assert data["status"] == "timeout" and data["text"] == "MOCK openai reply #1: say hi"
    s = only_session(store)
    # Output that arrived before the timeout is kept, and the session stays resumable.
    assert s.backend_session_id == "01a20093-0631-7903-acb4-875f3f4ace11"
    assert s.turns[0].response == "MOCK openai reply #1: say hi"


def test_ctrl_c_forwards_then_kills_the_group_and_exits_130(fake: Fakes, workdir: Path,
                                                            store: SessionStore) -> None:
    # init, the user echo and the first text delta; then hang.
    fake.set(hang_after=3, ignore="INT,TERM", child=1)
    proc = spawn("prompt", "-b", "gemini", "hello")
    running_session(store)
    # The init line is saved as soon as it comes, long before the turn ends.
    session = wait_for(lambda: only_session(store).backend_session_id and only_session(store),
                       what="the backend session id to be saved")
    vendor = wait_for(fake.starts, what="the vendor to start")[-1]
    assert session.pgid == vendor["pgid"] == vendor["pid"] and session.pid == proc.pid
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert wait_for(lambda: group_gone(vendor["pgid"]), timeout=5, what="the group to die")
    s = store.read(session.id)
    assert (s.status, s.reason, s.turns[0].status) == ("error", "interrupted", "interrupted")
    assert s.turns[0].response == "MOCK gemini "  # what streamed before Ctrl-C
    fake.clear("hang_after", "ignore", "child")
    r = run_proc("resume", session.id, "again")
    assert r.code == 0, r.err
    assert store.read(session.id).status == "active"


def test_ctrl_c_lets_a_cooperative_vendor_exit_quickly(fake: Fakes, workdir: Path,
                                                       store: SessionStore) -> None:
    fake.set(sleep_before=60)
    proc = spawn("prompt", "hello")
    running_session(store)
    wait_for(fake.starts, what="the vendor to start")
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=20)
    assert proc.returncode == 130
    assert time.monotonic() - started < 2.5  # no need to wait out the kill grace


def test_cancel_stops_the_runner_which_exits_130(fake: Fakes, workdir: Path,
                                                 store: SessionStore) -> None:
    fake.set(sleep_after=60, child=1)
    proc = spawn("prompt", "-b", "codex", "long job")
    session = running_session(store)
    vendor = wait_for(fake.starts, what="the vendor to start")[-1]
    r = run_proc("cancel", session.id[:6])
    assert r.code == 0, r.err
    assert f"Session {session.id} cancelled." in r.out
    _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130
    assert "cancelled" in err
    assert wait_for(lambda: group_gone(vendor["pgid"]), timeout=5, what="the group to die")
    s = store.read(session.id)
    assert (s.status, s.reason, s.turns[0].status) == ("error", "cancelled", "cancelled")
    assert s.pid is None


def test_cancel_of_a_session_that_is_not_running_is_exit_4(fake: Fakes, workdir: Path,
                                                           run, store: SessionStore) -> None:
    r = run("prompt", "-o", "json", "hi")
    sid = r.json()["id"]
    r = run("cancel", sid)
    assert r.code == 4 and "not running" in r.err
    assert run("cancel", "zzzzzz").code == 4


def _sleeper(*, new_group: bool = False) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                            start_new_session=new_group)


def leaderless_group() -> tuple[int, float, int]:
    """A process group of the test's own whose leader has exited and been reaped,
    leaving one member: (pgid, the leader's start time, the member's pid)."""
    leader = subprocess.Popen(
        [sys.executable, "-c",
         ("import subprocess, sys\n"
         "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'],"
         " stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)\n"
         "print(c.pid, flush=True)\nsys.stdin.read()\n")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True)
    assert leader.stdin is not None and leader.stdout is not None
    member = int(leader.stdout.readline())
    start = process_start_time(leader.pid)
    assert start is not None
    leader.stdin.close()
    leader.stdout.close()
    leader.wait()
    return leader.pid, start, member


def alive(pid: int) -> bool:
    return not process_gone(pid)


def test_cancel_never_signals_a_reused_pid(fake: Fakes, workdir: Path, run,
                                           store: SessionStore) -> None:
    sid = run("prompt", "-o", "json", "hi").json()["id"]
    # The recorded runner's pid now belongs to another program (another start time), and
    # the recorded vendor group has lost its leader: what is left in a group of that id
    # may be anyone's. Both are processes of this test's own, never its runner.
    runner = _sleeper()
    pgid, leader_start, member = leaderless_group()
    try:
        store.update(sid, lambda s: (setattr(s, "status", "running"), setattr(s, "pid", runner.pid),
                                     setattr(s, "pid_start", 1.0), setattr(s, "pgid", pgid),
                                     setattr(s, "pgid_start", leader_start)))
        r = run("cancel", sid)
        # Nothing was signalled; the dead runner's turn is settled instead.
        assert r.code == 0 and "was gone" in r.out
        assert runner.poll() is None and alive(member)
        s = store.read(sid)
        assert (s.status, s.reason, s.pid, s.pgid) == ("error", "interrupted", None, None)
    finally:
        runner.kill()
        runner.wait()
        if process_start_time(member) is not None:
            os.kill(member, signal.SIGKILL)


def test_a_second_resume_of_a_busy_session_exits_4_at_once(fake: Fakes, workdir: Path, run,
                                                           store: SessionStore) -> None:
    sid = run("prompt", "-o", "json", "hi").json()["id"]
    fake.set(sleep_after=2)
    first = spawn("resume", sid, "first")
    wait_for(lambda: store.read(sid).status == "running", what="the first resume to run")
    started = time.monotonic()
    second = run_proc("resume", sid, "second")
    assert second.code == 4 and "session busy" in second.err
    assert time.monotonic() - started < 2.5
    waited = run_proc("resume", sid, "--wait", "30", "third")
    assert waited.code == 0, waited.err
    first.communicate(timeout=30)
    assert first.returncode == 0
    prompts = [t.prompt for t in store.read(sid).turns]
    assert prompts == ["hi", "first", "third"]


def test_a_session_deleted_during_its_turn_is_not_recreated(fake: Fakes, workdir: Path, run,
                                                            store: SessionStore) -> None:
    # The vendor ends its turn only once the delete (a whole clinvk process) is done.
    gate = workdir.parent / "deleted"
    fake.set(wait_for=gate)
    proc = spawn("prompt", "hello")
    session = running_session(store)
    assert run("sessions", "delete", "--force", session.id).code == 0
    gate.touch()
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert "deleted while the turn ran" in err
    assert not store.exists(session.id)


def test_text_reaches_stdout_within_20ms_of_the_vendor_writing_it(fake: Fakes, workdir: Path) -> None:
    # gemini's stream sample: init, user echo, then three text deltas, 0.3 s apart.
    fake.set(sleep_between=0.3)
    proc = spawn("prompt", "-b", "gemini", "-o", "stream-json", "hi")
    assert proc.stdout is not None
    arrivals: list[tuple[float, dict[str, object]]] = []
    for line in iter(proc.stdout.readline, ""):
        arrivals.append((time.time(), json.loads(line)))
    proc.wait(timeout=20)
    assert proc.returncode == 0
    wrote_at = [r for r in fakes.read_log(fake.log) if r["event"] == "end"][-1]["wrote_at"]
    texts = [t for t, e in arrivals if e["type"] == "text"]
    assert len(texts) == 3
    # Lines 2, 3, 4 of the sample are the deltas.
    delays = [arrived - wrote for arrived, wrote in zip(texts, wrote_at[2:5], strict=True)]
    assert all(d >= -0.005 for d in delays), delays
    assert max(delays) <= 0.020, delays


def test_missing_vendor_and_failure_exit_codes_as_processes(fake: Fakes, workdir: Path,
                                                            store: SessionStore) -> None:
    fake.set(sample="extra/gemini-err400-stream.jsonl", exit=144)
    r = run_proc("prompt", "-b", "gemini", "hi")
    assert r.code == 1 and "mock injected HTTP 400" in r.err
    fake.clear("sample", "exit")
    fake.remove("gemini")
    env = {"PATH": str(fake.bin)}
    r = run_proc("prompt", "-b", "gemini", "hi", env=env)
    assert r.code == 1 and "npm install -g @google/gemini-cli" in r.err


@pytest.mark.parametrize("fmt", ["text", "stream-json"])
def test_closed_stdout_does_not_lose_the_turn(fmt: str, fake: Fakes, workdir: Path,
                                              store: SessionStore) -> None:
    fake.set(sleep_between=0.2)
    proc = spawn("prompt", "-b", "gemini", "-o", fmt, "hi")
    assert proc.stdout is not None
    proc.stdout.readline() if fmt == "stream-json" else proc.stdout.read(1)
    proc.stdout.close()  # like `| head -1`
    proc.wait(timeout=20)
    assert proc.returncode == 0
    s = only_session(store)
    assert s.turns[0].status == "ok" and s.turns[0].response == "MOCK gemini reply #1: say hi"
