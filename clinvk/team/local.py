"""This store's push state, in ``<store>/team.db`` beside the catalog.

It is not in ``catalog.db`` on purpose: the catalog is a cache that is deleted and
rebuilt from the session files whenever its schema changes or it is damaged, while what
this file holds cannot be derived from the files — which version of each session the
team store already has, the turns queued for a push, this machine's id. A catalog
rebuild therefore never drops a queued push nor makes a push send everything again.

Tables: ``meta`` (machine id, the target the push state belongs to, the watermark,
whether text may have been shared there, the last background failure and when it was
last shown), ``outbox`` (session ids queued by
finished turns, with when), ``pushed`` (each session's file identity as last pushed:
a session is pushed again only when its file changed).

SQLite only (no psycopg): the per-turn hook uses it.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

FILE_NAME = "team.db"

_DDL = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox(id TEXT PRIMARY KEY, queued REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pushed(
    id TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    inode INTEGER NOT NULL) WITHOUT ROWID;
"""


def state_path(root: Path) -> Path:
    return root / FILE_NAME


def connect(root: Path) -> sqlite3.Connection:
    """The push state of the store at ``root`` (created on first use, private)."""
    from clinvk.atomic import mkdir_private

    mkdir_private(root)
    path = state_path(root)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    conn = sqlite3.connect(path, timeout=10, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 10000")
    if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.executescript(_DDL)
    return conn


def get(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def put(conn: sqlite3.Connection, key: str, value: str | None) -> None:
    if value is None:
        conn.execute("DELETE FROM meta WHERE key = ?", (key,))
    else:
        conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))


def machine_id(conn: sqlite3.Connection) -> str:
    """This store's machine id: random, made once, kept with the push state (a copied
    store that pushes under the same id would overwrite the original's rows)."""
    found = get(conn, "machine")
    if found:
        return found
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = get(conn, "machine")
        if not found:
            found = os.urandom(6).hex()
            put(conn, "machine", found)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return found


def use_target(conn: sqlite3.Connection, target: str) -> None:
    """Forget what was pushed when it was pushed elsewhere (another database or member)."""
    if get(conn, "target") != target:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("DELETE FROM pushed")
        put(conn, "target", target)
        put(conn, "watermark", None)
        put(conn, "text_shared", None)
        conn.execute("COMMIT")


def enqueue(root: Path, session_id: str) -> None:
    """Queue a session for the next push (the hook after a finished turn)."""
    conn = connect(root)
    try:
        conn.execute("INSERT OR REPLACE INTO outbox(id, queued) VALUES (?, ?)",
                     (session_id, time.time()))
    finally:
        conn.close()


def queued(conn: sqlite3.Connection) -> dict[str, float]:
    return {ident: float(at) for ident, at in conn.execute("SELECT id, queued FROM outbox")}


def mark_pushed(conn: sqlite3.Connection, done: list[tuple[str, int, int, int]],
                queued_at: dict[str, float]) -> None:
    """Record sessions as pushed (id, size, mtime_ns, inode) and take them out of the
    outbox unless queued again since the push read them."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany("INSERT OR REPLACE INTO pushed(id, size, mtime_ns, inode) "
                         "VALUES (?, ?, ?, ?)", done)
        conn.executemany("DELETE FROM outbox WHERE id = ? AND queued <= ?",
                         [(ident, queued_at[ident]) for ident, *_ in done if ident in queued_at])
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def forget(conn: sqlite3.Connection, ids: list[str]) -> None:
    """Sessions that no longer exist locally: nothing to push, nothing to remember."""
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])
    conn.executemany("DELETE FROM pushed WHERE id = ?", [(i,) for i in ids])
    conn.execute("COMMIT")
