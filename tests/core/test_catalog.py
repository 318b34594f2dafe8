"""The catalog never stops the store from answering: damaged, foreign, busy or killed
mid-write, it is rebuilt (one warning) or bypassed (one more), never an error."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clinvk.catalog import Catalog, catalog_path
from clinvk.store import SessionStore
from tests.conftest import REPO, add_session, run_clinvk


def listed_ids(*args: str) -> tuple[set[str], str]:
    ran = run_clinvk("sessions", "list", "--json", "-n", "0", *args)
    assert ran.code == 0, ran.err
    assert "Traceback" not in ran.err and "internal error" not in ran.err
    return {item["id"] for item in json.loads(ran.out)["items"]}, ran.err


def warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("clinvk: warning:")]


@pytest.fixture
def built(store: SessionStore) -> tuple[SessionStore, set[str]]:
    made = {add_session(store, title=f"s{i}", prompt=f"needle {i}").id for i in range(5)}
    assert listed_ids()[0] == made  # built and saved
    return store, made


def settle_wal(path: Path) -> None:
    """Fold the WAL into the file, as when the last connection closes."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def random_bytes(path: Path) -> None:
    path.write_bytes(os.urandom(64 * 1024))


def truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def foreign_schema(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()


def half_a_schema(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE splits")
    conn.close()


@pytest.mark.parametrize("damage", [random_bytes, truncated, foreign_schema, half_a_schema])
def test_a_damaged_catalog_is_rebuilt_with_one_warning(built, damage) -> None:  # type: ignore[no-untyped-def]
    store, made = built
    path = catalog_path(store.root)
    settle_wal(path)
    damage(path)
    ids, err = listed_ids()
    assert ids == made
    (warning,) = warnings(err)
    assert "session catalog" in warning and "rebuilding it" in warning
    # Every other question is answered too, and the next command finds it sound.
    stats = run_clinvk("sessions", "stats", "--json", "--by", "day")
    assert stats.code == 0 and json.loads(stats.out)["totals"]["sessions"] == 5
    assert warnings(stats.err) == []
    assert len(listed_ids("-q", "needle 3")[0]) == 1
    assert run_clinvk("sessions", "doctor").code == 0


def test_a_deleted_catalog_is_rebuilt_silently(built) -> None:  # type: ignore[no-untyped-def]
    store, made = built
    for suffix in ("", "-wal", "-shm"):
        Path(f"{catalog_path(store.root)}{suffix}").unlink(missing_ok=True)
    ids, err = listed_ids()
    assert ids == made and err == ""


def test_when_no_catalog_can_be_made_the_files_are_read_with_a_warning(built) -> None:  # type: ignore[no-untyped-def]
    store, made = built
    path = catalog_path(store.root)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.mkdir()  # a directory where the catalog belongs: it cannot be opened nor replaced
    (path / "keep").write_text("x")
    ids, err = listed_ids()
    assert ids == made
    assert len(warnings(err)) == 2 and "reading the session files directly" in err
    stats = run_clinvk("sessions", "stats", "--json")
    assert stats.code == 0 and json.loads(stats.out)["totals"]["sessions"] == 5
    found = run_clinvk("sessions", "list", "-q", "needle 2")
    assert found.code == 0 and "s2" in found.out


def test_a_busy_catalog_never_fails_a_writer(built) -> None:  # type: ignore[no-untyped-def]
    store, made = built
    ident = min(made)
    blocker = sqlite3.connect(catalog_path(store.root), timeout=0, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another process in the middle of a long write
    try:
        began = time.monotonic()
        store.update(ident, lambda s: setattr(s, "title", "changed while busy"))
        assert time.monotonic() - began < 5  # gave up on the catalog, not on the write
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert store.read(ident).title == "changed while busy"
    # The catalog was left stale; the next reader repairs it from the file.
    rows = {r.id: r.title for r in Catalog.open(SessionStore(store.root)).rows().rows}
    assert rows[ident] == "changed while busy"


WRITER = """
import sys
from clinvk.store import SessionStore
from clinvk.model import Session, Turn, utcnow
store = SessionStore()
sys.stdout.write("ready\\n"); sys.stdout.flush()
n = 0
while True:
    with store.batch():  # one catalog transaction for many sessions: long writes
        for _ in range(40):
            n += 1
            now = utcnow()
            store.create(Session(id="", backend="claude", workdir="/tmp", created_at=now,
                                 last_used_at=now, title=f"w{n}",
                                 turns=[Turn(index=1, prompt="p " * 2000, started_at=now,
                                             status="ok", response="r " * 4000)]))
"""


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.4, 0.9, 1.7])
def test_kill_9_mid_catalog_write_loses_no_session(built, delay: float) -> None:  # type: ignore[no-untyped-def]
    store, _made = built
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-c", WRITER], env=env, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    on_disk = {p.stem for p in store.sessions_dir.glob("*/*.json")}
    ids, err = listed_ids()
    assert ids == on_disk and len(on_disk) > 5
    assert warnings(err) == []
    doctor = json.loads(run_clinvk("sessions", "doctor", "--json").out)
    assert [p for p in doctor["problems"] if p["kind"] != "temp"] == [], doctor


BUILDER = """
import sys
from clinvk.catalog import Catalog
from clinvk.store import SessionStore
sys.stdout.write("ready\\n"); sys.stdout.flush()
Catalog(SessionStore(), None).rebuild()
"""


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.2, 0.5])
def test_kill_9_mid_build_is_rebuilt_by_the_next_command(store: SessionStore, delay: float) -> None:
    made = {add_session(store, title=f"b{i}", prompt="p " * 3000, turns=5).id for i in range(300)}
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-c", BUILDER], env=env, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    ids, err = listed_ids()
    assert ids == made
    assert len(warnings(err)) <= 1  # an unfinished build is said to be rebuilt
    assert listed_ids()[1] == ""
