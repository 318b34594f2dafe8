"""The catalog's SQLite file: its tables, how it is opened, and which versions it trusts.

``PRAGMA user_version`` holds the schema number. A catalog with any other number (older,
newer, or a file that is not a database at all) is never trusted: it is deleted and
built again from the session files, which are the truth.

The tables (``sid`` is the rowid of ``sessions``):

* ``sessions``: one row per readable session file — what `sessions list` shows, the
  file's identity (size, mtime, inode) it was read from, its bytes on disk, and the sums
  of its turns (what `sessions stats` adds up);
* ``turns``: one row per turn — start, duration, model, status, usage, cost and source;
* ``tags``: (tag, sid) pairs;
* ``splits``: the turn sums of each session per model, local day, ISO week and month,
  so `stats --by day` is one indexed GROUP BY (the calendar keys depend on the time
  zone they were computed in: ``meta.tz``); ``spent``: what a turn's API requests
  spent in other quarter hours than its start's (for the day, week and month splits);
* ``texts``: FTS5 over each session's title and its prompts and answers, contentless
  (the index only: no second copy of the text); ``bodies``: that text once, the title
  as it is and the rest zlib-compressed, for checking a candidate for the exact text
  and for snippets (and for taking a session out of the index); ``terms``, every
  distinct word in it, so a search for part of a word finds the words holding it;
* ``tool_calls``: one row per tool call of a turn — name, kind, status, summary and the
  paths it read or changed (a JSON list); ``turn`` is the turn's position, as in
  ``turns``; ``touched``: (path, sid), every path a session's tool calls named or its
  turns changed (`sessions list --touched`);
* ``shards``: each shard directory's mtime when the catalog last matched it;
* ``bad``: files that could not be read as sessions, with why (reported until fixed);
* ``meta``: ``complete`` once a full build finished, ``tz`` (see splits), ``count``
  (of sessions rows, kept by every insert and delete, so an unfiltered list needs no
  count of 100,000 rows).
"""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path

SCHEMA_VERSION = 5

# The sums of some turns, in this order, wherever they are kept (sessions, splits).
SUM_COLUMNS = ("n", "duration", "timed", "i0", "i1", "i2", "i3", "i4", "rep_cost", "rep_n",
               "comp_cost", "comp_n", "unpriced", "bare", "first", "last")
_SUMS = """n INTEGER NOT NULL, duration REAL NOT NULL, timed INTEGER NOT NULL,
    i0 INTEGER NOT NULL, i1 INTEGER NOT NULL, i2 INTEGER NOT NULL, i3 INTEGER NOT NULL,
    i4 INTEGER NOT NULL, rep_cost REAL NOT NULL, rep_n INTEGER NOT NULL,
    comp_cost REAL NOT NULL, comp_n INTEGER NOT NULL, unpriced INTEGER NOT NULL,
    bare INTEGER NOT NULL, first REAL, last REAL"""

DDL = f"""
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
CREATE TABLE shards(name TEXT PRIMARY KEY, mtime_ns INTEGER) WITHOUT ROWID;
CREATE TABLE sessions(
    sid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    backend TEXT NOT NULL, status TEXT NOT NULL, created REAL NOT NULL,
    last_used REAL NOT NULL, model TEXT, tags TEXT NOT NULL, title TEXT NOT NULL,
    workdir TEXT NOT NULL, tokens INTEGER, pid INTEGER, pid_start REAL, cost REAL,
    size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, inode INTEGER NOT NULL,
    disk INTEGER NOT NULL,
    {_SUMS},
    origin TEXT NOT NULL, backend_sid TEXT);
CREATE INDEX sessions_last_used ON sessions(last_used DESC, id);
CREATE INDEX sessions_running ON sessions(status) WHERE status = 'running';
-- What `sessions storage` adds up, read from the index alone, in group order.
CREATE INDEX sessions_kinds ON sessions(status, backend, n, disk, last_used);
CREATE INDEX sessions_created ON sessions(created);
CREATE INDEX sessions_backend_sid ON sessions(backend, backend_sid)
    WHERE backend_sid IS NOT NULL;
CREATE TABLE turns(
    sid INTEGER NOT NULL, pos INTEGER NOT NULL, started REAL NOT NULL, duration REAL,
    model TEXT, status TEXT NOT NULL, i0 INTEGER, i1 INTEGER, i2 INTEGER, i3 INTEGER,
    i4 INTEGER, cost REAL, cost_source TEXT NOT NULL,
    PRIMARY KEY(sid, pos)) WITHOUT ROWID;
CREATE INDEX turns_started ON turns(started);
CREATE TABLE tags(tag TEXT NOT NULL, sid INTEGER NOT NULL, PRIMARY KEY(tag, sid)) WITHOUT ROWID;
CREATE INDEX tags_sid ON tags(sid);
CREATE TABLE splits(
    kind TEXT NOT NULL, key TEXT NOT NULL, sid INTEGER NOT NULL,
    status TEXT NOT NULL,  -- the session's, so that stats over all sessions need no join
    {_SUMS},
    PRIMARY KEY(kind, key, sid)) WITHOUT ROWID;
CREATE INDEX splits_sid ON splits(sid);
-- What a turn's requests spent in other quarter hours than its start's (stats.Spent).
CREATE TABLE spent(
    sid INTEGER NOT NULL, pos INTEGER NOT NULL, at REAL NOT NULL, i0 INTEGER NOT NULL,
    i1 INTEGER NOT NULL, i2 INTEGER NOT NULL, i3 INTEGER NOT NULL, cost REAL NOT NULL,
    PRIMARY KEY(sid, pos, at)) WITHOUT ROWID;
CREATE VIRTUAL TABLE texts USING fts5(
    title, body, content = '', tokenize = 'unicode61 remove_diacritics 0', detail = none);
CREATE TABLE bodies(sid INTEGER PRIMARY KEY, title TEXT NOT NULL, z BLOB NOT NULL);
CREATE TABLE terms(term TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE tool_calls(
    sid INTEGER NOT NULL, turn INTEGER NOT NULL, idx INTEGER NOT NULL, name TEXT NOT NULL,
    kind TEXT NOT NULL, status TEXT NOT NULL, summary TEXT NOT NULL, paths TEXT NOT NULL,
    PRIMARY KEY(sid, turn, idx)) WITHOUT ROWID;
CREATE TABLE touched(path TEXT NOT NULL, sid INTEGER NOT NULL,
    PRIMARY KEY(path, sid)) WITHOUT ROWID;
CREATE INDEX touched_sid ON touched(sid);
CREATE TABLE bad(
    path TEXT PRIMARY KEY, shard TEXT NOT NULL, size INTEGER, mtime_ns INTEGER,
    inode INTEGER, reason TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX bad_shard ON bad(shard);
"""


# Every table and index the DDL makes: a catalog without one of them is broken.
_NAMES = frozenset(re.findall(r"CREATE (?:VIRTUAL )?(?:TABLE|INDEX) (\w+)", DDL))


class Unusable(Exception):
    """The file is not a catalog this code can trust (wrong schema, unfinished build)."""


def connect(path: Path | str, *, busy_ms: int = 10_000, building: bool = False
            ) -> sqlite3.Connection:
    """A connection in WAL mode; the file (and its -wal, -shm) private to the user.

    ``building``: a fresh file being filled under the build lock, with no journal at all
    (a build that dies midway leaves a file without ``complete``, which is never
    trusted); ``finish_build`` turns it into a WAL database.
    """
    if path != ":memory:":
        # The catalog holds every prompt and answer: never readable by others.
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
    conn = sqlite3.connect(path, timeout=busy_ms / 1000, isolation_level=None,
                           check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {int(busy_ms)}")
    if building:
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -65536")  # 64 MB while building
    elif path != ":memory:":
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        if mode != "wal":
            conn.execute("PRAGMA journal_mode = WAL")
        # WAL with synchronous=NORMAL: a crash may lose the last commits, never the file;
        # a lost commit is only a stale catalog, which the freshness check repairs.
        conn.execute("PRAGMA synchronous = NORMAL")
        # Room for every session row, so a full listing reads each page once; it is
        # only taken as pages are read.
        conn.execute("PRAGMA cache_size = -32768")
    return conn


def finish_build(conn: sqlite3.Connection) -> None:
    """A built catalog file made durable and switched to WAL, as connect() leaves one."""
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA cache_size = -32768")


def check_version(conn: sqlite3.Connection) -> None:
    """Unusable unless the catalog is of this schema and was fully built."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version != SCHEMA_VERSION:
        raise Unusable(f"schema {version}, expected {SCHEMA_VERSION}")
    have = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
    missing = sorted(_NAMES - have)
    if missing:
        raise Unusable(f"missing {', '.join(missing)}")
    row = conn.execute("SELECT value FROM meta WHERE key = 'complete'").fetchone()
    if row is None or row[0] != "1":
        raise Unusable("an unfinished build")


def create(conn: sqlite3.Connection) -> None:
    """The tables of an empty catalog (in a fresh file)."""
    conn.executescript("BEGIN;" + DDL + "INSERT INTO meta VALUES ('count', 0);"
                       f"PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")


def remove(path: Path) -> None:
    """Delete a catalog file with its WAL and shared-memory files."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            os.unlink(f"{path}{suffix}")
        except FileNotFoundError:
            pass


def get_meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))
