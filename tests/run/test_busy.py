"""Busy sessions for the curating commands, and what delete leaves behind, as real processes."""

from __future__ import annotations

import time
from pathlib import Path

from clinvk.store import SessionStore
from tests.run.conftest import Fakes, run_proc, spawn, wait_for


def _busy(fake: Fakes, run, store: SessionStore, seconds: float = 1.5) -> tuple[str, object]:  # type: ignore[no-untyped-def]
    sid = run("prompt", "-o", "json", "hi").json()["id"]
    fake.set(sleep_after=seconds)
    proc = spawn("resume", sid, "long")
    wait_for(lambda: store.read(sid).status == "running", what="the turn to run")
    return sid, proc


def test_a_busy_session_names_wait_only_where_the_command_takes_it(
        fake: Fakes, workdir: Path, run, store: SessionStore) -> None:  # type: ignore[no-untyped-def]
    sid = run("prompt", "-o", "json", "hi").json()["id"]
    with store.lock(sid):  # another process holds it
        for args in (("pause",), ("complete",), ("tag", "+x"), ("rename", "new")):
            r = run_proc("sessions", args[0], sid, *args[1:])
            assert r.code == 4 and "session busy" in r.err, r.err
            assert "retry with --wait SECONDS" in r.err  # these take --wait now
        r = run_proc("sessions", "delete", sid)  # cannot take --wait: not offered
        assert r.code == 4 and "session busy" in r.err and "--wait" not in r.err, r.err
    assert store.exists(sid) and store.read(sid).tags == []


def test_tag_rename_pause_wait_for_a_busy_session(fake: Fakes, workdir: Path, run,  # type: ignore[no-untyped-def]
                                                  store: SessionStore) -> None:
    sid, proc = _busy(fake, run, store)
    waiting = [spawn("sessions", "tag", sid, "+review", "--wait", "30"),
               spawn("sessions", "rename", sid, "renamed", "--wait", "30")]
    for p in waiting:
        _out, err = p.communicate(timeout=40)
        assert p.returncode == 0, err
    proc.communicate(timeout=30)  # type: ignore[attr-defined]
    assert proc.returncode == 0  # type: ignore[attr-defined]
    s = store.read(sid)
    assert s.tags == ["review"] and s.title == "renamed" and len(s.turns) == 2
    fake.set(sleep_after=1.0)
    turn = spawn("resume", sid, "again")
    wait_for(lambda: store.read(sid).status == "running", what="the turn to run")
    r = run_proc("sessions", "pause", sid, "--wait", "30")
    assert r.code == 0, r.err
    turn.communicate(timeout=30)
    assert store.read(sid).status == "paused"
    assert run_proc("sessions", "complete", sid, "--wait", "-1").code == 1


def test_delete_of_a_corrupt_file_says_what_it_removed_and_cleans_up(
        fake: Fakes, workdir: Path, run, store: SessionStore) -> None:  # type: ignore[no-untyped-def]
    sid = run("prompt", "-o", "json", "hi").json()["id"]
    path = store.path_for(sid)
    lock = store.locks_dir / f"{sid}.lock"
    assert lock.exists()
    path.write_text('{"id": "' + sid + '", "backend": ')  # torn by hand
    r = run_proc("sessions", "delete", sid)
    assert r.code == 0, r.err
    assert f"removed the unreadable file {path}" in r.out and "corrupt" in r.out
    assert not path.exists()
    assert not lock.exists()  # no lock file left behind
    assert not path.parent.exists()  # nor the shard directory it emptied
    assert run_proc("sessions", "list").code == 0


def test_clean_removes_lock_files_and_empty_shards(fake: Fakes, workdir: Path, run,  # type: ignore[no-untyped-def]
                                                   store: SessionStore) -> None:
    ids = [run("prompt", "-o", "json", f"hi {n}").json()["id"] for n in range(3)]
    time.sleep(1.1)  # past the window
    r = run_proc("sessions", "clean", "--older-than", "1s")
    assert r.code == 0 and "Deleted 3 session(s)" in r.out, r.out + r.err
    assert not any(store.exists(i) for i in ids)
    assert not any((store.locks_dir / f"{i}.lock").exists() for i in ids)
    assert not any(store.path_for(i).parent.exists() for i in ids)


def test_a_writer_waiting_on_a_deleted_session_fails_cleanly(
        fake: Fakes, workdir: Path, run, store: SessionStore) -> None:  # type: ignore[no-untyped-def]
    sid, proc = _busy(fake, run, store, seconds=2)
    # tag opens the lock file and waits on it...
    waiter = spawn("sessions", "tag", sid, "+late", "--wait", "30")
    # ...while the session is force-deleted under the running turn, whose end then
    # removes the lock file it holds.
    assert run_proc("sessions", "delete", "--force", sid).code == 0
    _out, err = proc.communicate(timeout=30)  # type: ignore[attr-defined]
    assert "deleted while the turn ran" in err
    _out, err = waiter.communicate(timeout=30)
    assert waiter.returncode == 1 and "session not found" in err, err
    assert not store.exists(sid)
    assert not (store.locks_dir / f"{sid}.lock").exists()
