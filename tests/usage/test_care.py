"""`clinvk sessions storage`, `current`, `recap` and `doctor` on stores built for them."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest

from clinvk.commands.care import disk_usage
from clinvk.liveness import process_start_time
from clinvk.model import utcnow
from clinvk.store import SessionStore
from tests.usage.conftest import DEAD_PID, T, at, make


# --------------------------------------------------------------------------- storage
@pytest.fixture
def aged(store: SessionStore, clinvk_home: Path) -> dict[str, str]:
    (clinvk_home / "config.toml").write_text("[session]\nretention_days = 10\n")
    now = utcnow()
    old = make(store, backend="claude", status="completed", title="oldest",
               created=now - timedelta(days=90), last_used=now - timedelta(days=80))
    make(store, backend="codex", status="error", last_used=now - timedelta(days=20),
         created=now - timedelta(days=21))
    make(store, backend="codex", status="paused", last_used=now - timedelta(days=30),
         created=now - timedelta(days=31))  # old, but paused: clean keeps it
    make(store, backend="gemini", status="active", created=now - timedelta(days=1),
         last_used=now - timedelta(days=1))
    make(store, backend="claude", status="running", pid=DEAD_PID, pid_start=1.0,
         created=now - timedelta(days=40), last_used=now - timedelta(days=40))  # dead: error
    new = make(store, backend="claude", status="active", title="newest",
               created=now - timedelta(hours=1), last_used=now - timedelta(minutes=1),
               turns=[T(now - timedelta(minutes=2)), T(now - timedelta(minutes=1))])
    return {"oldest": old.id, "newest": new.id}


def test_storage_numbers(run, aged, clinvk_home) -> None:  # type: ignore[no-untyped-def]
    ran = run("sessions", "storage", "--json")
    assert ran.code == 0
    data = json.loads(ran.out)
    assert data["path"] == str(clinvk_home)
    assert data["sessions"] == 6 and data["turns"] == 2
    assert data["by_status"] == {"active": 2, "completed": 1, "error": 2, "paused": 1}
    assert data["by_backend"] == {"claude": 3, "codex": 2, "gemini": 1}
    assert data["oldest"]["id"] == aged["oldest"] and data["newest"]["id"] == aged["newest"]
    assert data["retention_days"] == 10
    # 80-, 20- and 40-day-old unpaused sessions; the paused one is kept.
    assert data["clean_would_remove"] == 3
    dry = json.loads(run("sessions", "clean", "--dry-run", "--json").out)
    assert len(dry["deleted"]) == data["clean_would_remove"]
    assert data["size_bytes"] >= sum(p.stat().st_size for p in clinvk_home.rglob("*.json"))
    assert abs(data["size_bytes"] - disk_usage(str(clinvk_home))) <= 64 * 1024


def test_storage_text(run, aged) -> None:  # type: ignore[no-untyped-def]
    ran = run("sessions", "storage")
    lines = dict(line.split(":", 1) for line in ran.out.splitlines())
    assert lines["Sessions"].strip() == "6 (2 turns)"
    assert lines["By status"].strip() == "active 2 · completed 1 · error 2 · paused 1"
    assert lines["By backend"].strip() == "claude 3 · codex 2 · gemini 1"
    assert lines["Retention"].strip() == "10 days (session.retention_days)"
    assert lines["Clean would remove"].strip().startswith("3 session(s) now")
    assert aged["oldest"] in lines["Oldest"] and aged["newest"] in lines["Newest"]
    assert lines["Size on disk"].strip().endswith(("kB", "MB"))


def test_storage_keep_forever_and_empty(run, clinvk_home) -> None:  # type: ignore[no-untyped-def]
    (clinvk_home / "config.toml").write_text("[session]\nretention_days = 0\n")
    data = json.loads(run("sessions", "storage", "--json").out)
    assert data["sessions"] == 0 and data["oldest"] is None and data["clean_would_remove"] == 0
    assert "keep forever" in run("sessions", "storage").out


def test_disk_usage_counts_blocks(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f").write_bytes(b"x" * 10_000)
    assert disk_usage(str(tmp_path)) >= 10_000


# --------------------------------------------------------------------------- current
def test_current_picks_the_latest_usable_session_here(run, store, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    here = tmp_path / "proj"
    here.mkdir()
    monkeypatch.chdir(here)
    now = utcnow()
    wd = os.path.realpath(here)
    older = make(store, workdir=wd, backend="codex", last_used=now - timedelta(hours=2),
                 created=now - timedelta(hours=3), title="older work")
    make(store, workdir=wd, status="paused", last_used=now - timedelta(minutes=5))
    make(store, workdir=wd, status="completed", last_used=now - timedelta(minutes=4))
    make(store, workdir="/elsewhere", last_used=now)
    ran = run("sessions", "current")
    assert ran.code == 0
    assert ran.out.startswith(f"{older.id}  codex  active  last used 2 hours ago")
    assert "older work" in ran.out
    assert run("sessions", "current", "--id").out == older.id + "\n"
    data = json.loads(run("sessions", "current", "--json").out)
    assert data["id"] == older.id and data["status"] == "active" and data["workdir"] == wd
    running = make(store, workdir=wd, status="running", pid=os.getpid(),
                   pid_start=process_start_time(os.getpid()), last_used=now - timedelta(minutes=1))
    assert run("sessions", "current", "--id").out.strip() == running.id


def test_no_current_session_is_exit_1(cli, store, tmp_path) -> None:  # type: ignore[no-untyped-def]
    empty = tmp_path / "empty"
    empty.mkdir()
    make(store, workdir="/somewhere/else")
    proc = cli.run("sessions", "current", cwd=empty)
    assert proc.code == 1 and proc.out == ""
    assert "no active session" in proc.err


# --------------------------------------------------------------------------- recap
def test_recap_today_week_running_and_latest(run, store) -> None:  # type: ignore[no-untyped-def]
    now = utcnow()
    make(store, backend="claude", title="today's fix", turns=[
        T(now - timedelta(seconds=30), (1000, 100, 0, 0, 0), 0.25, "reported",
          response="Fixed the off-by-one in the parser loop.")])
    make(store, backend="codex", title="old codex", turns=[
        T(now - timedelta(days=40), (5000, 500, 0, 0, 0), 1.0, "computed", response="old")])
    make(store, backend="gemini", status="running", pid=os.getpid(),
         pid_start=process_start_time(os.getpid()), title="long job", turns=[
             T(now - timedelta(seconds=20), None, None, "unpriced", None, status="running",
               response="", exit_code=None)])
    make(store, backend="claude", title="failed", turns=[
        T(now - timedelta(seconds=10), None, None, "unpriced", 2.0, status="error",
          response="", error="API Error: 529 overloaded", exit_code=1)])
    data = json.loads(run("sessions", "recap", "--json").out)
    today = data["today"]
    if (now.astimezone() - timedelta(seconds=40)).date() == now.astimezone().date():
        assert today["sessions"] == 3 and today["by_backend"] == {"claude": 2, "gemini": 1}
        assert today["tokens"] == 1100 and today["cost_usd"] == 0.25
    assert data["week"]["sessions"] >= today["sessions"]
    assert [r["title"] for r in data["running"]] == ["long job"]
    latest = data["latest"]
    assert [x["title"] for x in latest] == ["failed", "today's fix", "old codex"]
    assert latest[0]["error"] == "API Error: 529 overloaded" and latest[0]["answer"] is None
    assert latest[1]["answer"] == "Fixed the off-by-one in the parser loop."
    text = run("sessions", "recap").out
    assert "Running now (1):" in text and "long job" in text
    assert "→ Fixed the off-by-one in the parser loop." in text
    assert "✗ error: API Error: 529 overloaded" in text
    assert text.startswith("Today (")
    assert json.loads(run("sessions", "recap", "-n", "1", "--json").out)["latest"][0]["title"] == "failed"


def test_recap_of_an_empty_store(run) -> None:  # type: ignore[no-untyped-def]
    ran = run("sessions", "recap")
    assert ran.code == 0
    assert "no sessions" in ran.out.splitlines()[0] and "Running now: nothing" in ran.out


# --------------------------------------------------------------------------- doctor
@pytest.fixture
def broken(store: SessionStore) -> dict[str, Path | str]:
    good = make(store, title="fine", turns=[T(at("2026-03-02 10:00"))])
    corrupt = make(store, title="to be corrupted")
    corrupt_path = store.path_for(corrupt.id)
    corrupt_path.write_text('{"id": "' + corrupt.id + '", "backend": ')  # torn by hand
    stale = make(store, status="running", pid=DEAD_PID, pid_start=7.0, title="died",
                 turns=[T(at("2026-03-02 11:00"), None, status="running", exit_code=None,
                          duration=None)])
    shard = store.path_for(good.id).parent
    temp = shard / f".{good.id}.json.{DEAD_PID}.deadbeef.tmp"
    temp.write_text('{"partial": ')
    return {"good": good.id, "corrupt": corrupt.id, "corrupt_path": corrupt_path,
            "stale": stale.id, "temp": temp}


def test_doctor_on_a_healthy_store(run, store) -> None:  # type: ignore[no-untyped-def]
    make(store, turns=[T(at("2026-03-02 10:00"))])
    ran = run("sessions", "doctor")
    assert ran.code == 0 and "Healthy: no problems found." in ran.out
    data = json.loads(run("sessions", "doctor", "--json").out)
    assert data["healthy"] is True and data["problems"] == [] and data["sessions"] == 1


def test_doctor_names_each_problem_and_exits_4(run, broken) -> None:  # type: ignore[no-untyped-def]
    ran = run("sessions", "doctor")
    assert ran.code == 4
    assert "Found 3 problem(s):" in ran.out
    assert f"unreadable session file {broken['corrupt_path']}: is corrupt" in ran.out
    assert "stale running session" in ran.out and broken["stale"] in ran.out
    assert f"leftover temp file {broken['temp']}" in ran.out and f"pid {DEAD_PID}" in ran.out
    assert "3 problem(s) in the session store" in ran.err and "doctor --fix" in ran.err
    data = json.loads(run("sessions", "doctor", "--json").out)
    assert sorted(p["kind"] for p in data["problems"]) == ["corrupt", "stale-running", "temp"]


def test_doctor_fix_repairs_then_a_second_doctor_is_healthy(run, store, broken) -> None:  # type: ignore[no-untyped-def]
    ran = run("sessions", "doctor", "--fix")
    assert ran.code == 0, ran.out + ran.err
    assert "Healthy now." in ran.out
    quarantined = sorted(p.name for p in store.quarantine_dir.iterdir())
    assert len(quarantined) == 2
    assert any(name.endswith(f"{broken['corrupt']}.json") for name in quarantined)
    assert any(name.endswith(".tmp") for name in quarantined)
    assert not Path(broken["corrupt_path"]).exists() and not Path(broken["temp"]).exists()
    repaired = store.read(str(broken["stale"]))
    assert repaired.status == "error" and repaired.reason == "interrupted"
    assert repaired.pid is None and repaired.turns[-1].status == "interrupted"
    assert "doctor --fix" in (repaired.turns[-1].error or "")
    again = run("sessions", "doctor")
    assert again.code == 0 and "Healthy" in again.out
    listed = json.loads(run("sessions", "list", "--json").out)
    assert listed["total"] == 2 and run("sessions", "list").err == ""


def test_doctor_finds_a_catalog_that_missed_an_edit(run, store) -> None:  # type: ignore[no-untyped-def]
    s = make(store, title="before", turns=[T(at("2026-03-02 10:00"), cost=1.0, source="reported")])
    path = store.path_for(s.id)
    os.utime(path.parent, ns=(10**18, 10**18))  # a shard last changed long ago
    run("sessions", "list")  # the catalog is built and saved
    shard_stat = path.parent.stat()
    # An edit in place that leaves the directory's mtime alone: the catalog cannot see it.
    path.write_text(path.read_text().replace('"before"', '"after!"'))
    os.utime(path.parent, ns=(shard_stat.st_atime_ns, shard_stat.st_mtime_ns))
    ran = run("sessions", "doctor")
    assert ran.code == 4 and "session catalog" in ran.out and "older version of the file" in ran.out
    assert s.id in ran.out
    assert run("sessions", "doctor", "--fix").code == 0
    assert run("sessions", "doctor").code == 0


def test_doctor_finds_a_damaged_catalog(run, store) -> None:  # type: ignore[no-untyped-def]
    from clinvk.catalog import catalog_path

    make(store, title="x")
    run("sessions", "list")
    path = catalog_path(store.root)
    for extra in ("-wal", "-shm"):
        path.with_name(path.name + extra).unlink(missing_ok=True)
    path.write_bytes(b"not a database at all" * 100)
    ran = run("sessions", "doctor")
    assert ran.code == 4 and f"session catalog {path}: cannot be used" in ran.out
    assert run("sessions", "doctor", "--fix").code == 0
    assert run("sessions", "doctor").code == 0


def test_doctor_stray_files_and_process_exit_codes(cli, store) -> None:  # type: ignore[no-untyped-def]
    make(store)
    (store.sessions_dir / "notes.txt").write_text("mine")
    proc = cli.run("sessions", "doctor")
    assert proc.code == 4 and "unexpected file" in proc.out and "notes.txt" in proc.out
    fixed = cli.run("sessions", "doctor", "--fix")
    assert fixed.code == 0, fixed.out + fixed.err
    assert cli.run("sessions", "doctor").code == 0


def test_doctor_leaves_a_live_writers_temp_file_alone(run, store) -> None:  # type: ignore[no-untyped-def]
    s = make(store)
    temp = store.path_for(s.id).parent / f".{s.id}.json.{os.getpid()}.cafe.tmp"
    temp.write_text("{")
    assert run("sessions", "doctor").code == 0
