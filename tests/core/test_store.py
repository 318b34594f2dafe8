"""The session store: records, atomic writes, locks, and the catalog following the files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import msgspec
import pytest

from clinvk.catalog import Catalog, catalog_path
from clinvk.errors import NotFoundError, SessionBusyError, SessionError, UsageError
from clinvk.model import SCHEMA_VERSION, Session
from clinvk.store import CorruptSessionError, SessionStore
from tests.conftest import add_session


def test_record_round_trips_with_version_and_all_fields(store: SessionStore) -> None:
    s = add_session(store, title="fix the parser", tags=["x"], turns=2)
    raw = msgspec.json.decode(store.path_for(s.id).read_bytes())
    assert raw["version"] == SCHEMA_VERSION
    for key in ("id", "title", "backend", "backend_session_id", "model", "status", "created_at",
                "last_used_at", "workdir", "tags", "parent_id", "turns"):
        assert key in raw
    turn = raw["turns"][0]
    for key in ("index", "prompt", "response", "started_at", "duration_s", "exit_code", "status",
                "error", "backend_session_id", "model", "usage", "cost_usd", "cost_source"):
        assert key in turn
    assert raw["created_at"].endswith("Z")
    again = store.read(s.id)
    assert again == s


def test_old_file_without_new_fields_still_loads(store: SessionStore) -> None:
    s = add_session(store)
    raw = msgspec.json.decode(store.path_for(s.id).read_bytes())
    for key in ("tags", "parent_id", "pid", "pid_start", "pgid", "reason", "version"):
        raw.pop(key, None)
    store.path_for(s.id).write_bytes(msgspec.json.encode(raw))
    loaded = store.read(s.id)
    assert loaded.tags == [] and loaded.version == 1


def test_future_version_is_refused_with_a_clear_error(store: SessionStore) -> None:
    s = add_session(store)
    raw = msgspec.json.decode(store.path_for(s.id).read_bytes())
    raw["version"] = SCHEMA_VERSION + 1
    raw["brand_new_field"] = {"x": 1}
    store.path_for(s.id).write_bytes(msgspec.json.encode(raw))
    with pytest.raises(CorruptSessionError, match="newer than this clinvk"):
        store.read(s.id)


def test_permissions_are_private(store: SessionStore) -> None:
    s = add_session(store)
    assert stat.S_IMODE(os.stat(store.root).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(store.sessions_dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(store.path_for(s.id)).st_mode) == 0o600


def test_ids_are_short_lowercase_and_prefixes_resolve(store: SessionStore) -> None:
    s = add_session(store)
    assert len(s.id) == 8 and s.id.islower() or s.id.isdigit()
    assert store.resolve(s.id[:4]) == s.id
    assert store.resolve(s.id.upper()) == s.id
    with pytest.raises(UsageError):
        store.resolve(s.id[:3])
    with pytest.raises(NotFoundError):
        store.resolve("zzzzzzzz" if not s.id.startswith("zz") else "yyyyyyyy")


def test_ambiguous_prefix_lists_candidates(store: SessionStore) -> None:
    a = add_session(store)
    b = add_session(store)
    # Give b an id sharing a's first five characters.
    twin = a.id[:5] + ("aaa" if a.id[5:] != "aaa" else "bbb")
    data = store.path_for(b.id).read_bytes().replace(b.id.encode(), twin.encode())
    store.path_for(twin).parent.mkdir(parents=True, exist_ok=True)
    store.path_for(twin).write_bytes(data)
    with pytest.raises(UsageError) as info:
        store.resolve(a.id[:5])
    assert a.id in info.value.message and twin in info.value.message


def test_second_writer_fails_fast_with_busy(store: SessionStore) -> None:
    s = add_session(store)
    with store.lock(s.id):
        other = SessionStore(store.root)
        with pytest.raises(SessionBusyError) as info, other.lock(s.id):
            pass
    assert info.value.exit_code == 4
    assert "session busy" in info.value.message


def test_lock_is_a_sidecar_not_the_data_file(store: SessionStore) -> None:
    s = add_session(store)
    before = store.path_for(s.id).read_bytes()
    with store.lock(s.id):
        assert (store.locks_dir / f"{s.id}.lock").exists()
        assert store.path_for(s.id).read_bytes() == before


def listed(store: SessionStore) -> list[str]:
    """Titles as a fresh reader's catalog lists them, newest first."""
    return [r.title for r in Catalog.open(SessionStore(store.root)).rows().rows]


def test_catalog_tracks_creates_updates_and_deletes(store: SessionStore) -> None:
    a = add_session(store, title="one")
    b = add_session(store, title="two")
    assert listed(store) == ["two", "one"]
    store.update(a.id, lambda s: setattr(s, "title", "one renamed"))
    store.delete(b.id)
    catalog = Catalog.open(store)
    assert [s.title for s in catalog.rows().rows] == ["one renamed"]
    assert catalog.rows(limit=0).total == 1


def test_catalog_rebuilt_when_missing(store: SessionStore) -> None:
    ids = {add_session(store).id for _ in range(5)}
    Catalog.open(store).close()
    catalog_path(store.root).unlink()
    catalog = Catalog.open(SessionStore(store.root))
    assert {s.id for s in catalog.rows().rows} == ids
    assert catalog_path(store.root).exists()


def test_catalog_notices_files_added_and_removed_behind_its_back(store: SessionStore) -> None:
    a = add_session(store)
    b = add_session(store)
    Catalog.open(store).close()  # built
    # Added by hand: a copy under a new id in a brand-new shard and in an existing shard.
    for new in ("zq" + a.id[2:], a.id[:2] + "zzzzzz"):
        if new == a.id:
            continue
        data = store.path_for(a.id).read_bytes().replace(a.id.encode(), new.encode())
        store.path_for(new).parent.mkdir(parents=True, exist_ok=True)
        store.path_for(new).write_bytes(data)
    os.unlink(store.path_for(b.id))
    ids = {s.id for s in Catalog.open(SessionStore(store.root)).rows().rows}
    assert b.id not in ids
    assert "zq" + a.id[2:] in ids and a.id[:2] + "zzzzzz" in ids


def test_file_replaced_behind_its_back_is_reread(store: SessionStore) -> None:
    a = add_session(store, title="before")
    assert listed(store) == ["before"]
    raw = msgspec.json.decode(store.path_for(a.id).read_bytes())
    raw["title"] = "after"
    from clinvk.atomic import atomic_write

    atomic_write(store.path_for(a.id), msgspec.json.encode(raw))
    assert listed(store) == ["after"]


def test_unreadable_files_are_skipped_and_reported_every_time(store: SessionStore) -> None:
    add_session(store, title="good")
    shard = store.sessions_dir / "qq"
    shard.mkdir()
    (shard / "qqaaaaaa.json").write_text("{not json")
    (shard / "qqbbbbbb.json").write_text('{"id": "qqbbbbbb", "backend": "x"')  # truncated
    (shard / "qqcccccc.json").mkdir()  # a directory where a file should be
    (shard / "qqdddddd.json").write_text('{"version": 99, "id": "qqdddddd"}')
    for _ in range(2):
        catalog = Catalog.open(SessionStore(store.root))
        assert [s.title for s in catalog.rows().rows] == ["good"]
        skipped = sorted(p.path.name for p in catalog.skipped)
        assert skipped == ["qqaaaaaa.json", "qqbbbbbb.json", "qqcccccc.json", "qqdddddd.json"]
    (shard / "qqaaaaaa.json").unlink()
    assert len(Catalog.open(SessionStore(store.root)).skipped) == 3


def test_show_of_corrupt_file_is_a_session_error(store: SessionStore) -> None:
    shard = store.sessions_dir / "qq"
    shard.mkdir(parents=True)
    (shard / "qqaaaaaa.json").write_text("{not json")
    with pytest.raises(SessionError, match="corrupt"):
        store.read("qqaaaaaa")


def test_a_write_the_catalog_missed_is_recovered(store: SessionStore) -> None:
    """A writer killed between writing its file and putting it in the catalog leaves
    the file the truth: the next reader reads it."""
    a = add_session(store, title="old")
    assert listed(store) == ["old"]
    raw = msgspec.json.decode(store.path_for(a.id).read_bytes())
    raw["title"] = "new"
    from clinvk.atomic import atomic_write

    atomic_write(store.path_for(a.id), msgspec.json.encode(raw))  # no catalog update
    assert listed(store) == ["new"]


def test_delete_many_keeps_busy_sessions(store: SessionStore) -> None:
    a = add_session(store)
    b = add_session(store)
    other = SessionStore(store.root)
    with other.lock(a.id):
        deleted = store.delete_many([a.id, b.id])
    assert deleted == [b.id]
    assert store.exists(a.id) and not store.exists(b.id)


def test_running_with_dead_pid_is_error(store: SessionStore) -> None:
    from clinvk.liveness import effective_status

    assert effective_status("running", 2**22 + 12345, None) == "error"
    assert effective_status("running", os.getpid(), None) == "running"
    assert effective_status("active", None, None) == "active"


def test_session_paths_are_only_built_from_valid_ids(store: SessionStore) -> None:
    from clinvk.errors import ClinvkError

    for bad in ("../../etc/passwd", "/etc/passwd", "a/b", "", "x" * 4000, "abcd\x00efg", "ABCDEFGH"):
        with pytest.raises(ClinvkError):
            store.path_for(bad)


def test_session_struct_defaults_are_sane() -> None:
    from clinvk.model import make_title, utcnow

    s = Session(id="abcdefgh", backend="claude", workdir="/", created_at=utcnow(),
                last_used_at=utcnow())
    assert s.status == "active" and s.turns == [] and s.tokens() is None
    assert make_title("\n\n  first line  \nsecond") == "first line"
    assert len(make_title("x" * 200)) == 80


def test_paths_under_clinvk_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from clinvk.config import data_dir

    monkeypatch.setenv("CLINVK_HOME", str(tmp_path / "elsewhere"))
    assert data_dir() == tmp_path / "elsewhere"
    monkeypatch.delenv("CLINVK_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert data_dir() == tmp_path / "xdg" / "clinvk"


def catalog_titles(store: SessionStore) -> list[str]:
    """Titles in the catalog file as it is, refreshing nothing."""
    import sqlite3

    conn = sqlite3.connect(catalog_path(store.root))
    try:
        return [r[0] for r in conn.execute("SELECT title FROM sessions")]
    finally:
        conn.close()


def test_a_change_reaches_the_catalog_once_its_lock_is_released(store: SessionStore) -> None:
    a = add_session(store, title="t0")
    Catalog.open(store).close()
    with store.lock(a.id):
        s = store.read(a.id)
        s.title = "t1"
        store.save(s)
        assert catalog_titles(store) == ["t0"]  # the writer never waits on the catalog
    assert catalog_titles(store) == ["t1"]


def test_an_import_batch_puts_its_sessions_in_the_catalog_together(store: SessionStore) -> None:
    add_session(store, title="a")
    Catalog.open(store).close()
    with store.batch():
        made = [add_session(store, title=f"b{i}") for i in range(3)]
        assert catalog_titles(store) == ["a"]
    assert sorted(catalog_titles(store)) == ["a", "b0", "b1", "b2"]
    store.delete_many([s.id for s in made])
    assert catalog_titles(store) == ["a"]


def test_replacing_the_newest_row_and_adding_one_in_one_go(store: SessionStore) -> None:
    """The last row's id freed by its replacement is never given to a new session too."""
    add_session(store, title="first")
    Catalog.open(store).close()
    with store.batch():
        newest = add_session(store, title="second")
    with store.batch():  # one catalog transaction: the newest replaced, one more added
        store.update(newest.id, lambda s: setattr(s, "title", "second, renamed"))
        add_session(store, title="third")
    assert sorted(catalog_titles(store)) == ["first", "second, renamed", "third"]


def test_the_kept_session_count_follows_every_change(store: SessionStore) -> None:
    import sqlite3

    def counts() -> tuple[int, int]:
        conn = sqlite3.connect(catalog_path(store.root))
        try:
            kept = int(conn.execute("SELECT value FROM meta WHERE key = 'count'").fetchone()[0])
            return kept, conn.execute("SELECT count(*) FROM sessions").fetchone()[0]
        finally:
            conn.close()

    made = [add_session(store, title=f"c{i}") for i in range(4)]
    catalog = Catalog.open(store)
    assert catalog.rows(limit=0).total == 4 and counts() == (4, 4)
    store.update(made[0].id, lambda s: setattr(s, "title", "renamed"))
    store.delete(made[1].id)
    os.unlink(store.path_for(made[2].id))  # behind clinvk's back
    with store.batch():
        add_session(store, title="c4")
        add_session(store, title="c5")
    assert Catalog.open(SessionStore(store.root)).rows(limit=0).total == 4
    assert counts() == (4, 4)
