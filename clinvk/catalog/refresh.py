"""Keeping the catalog in step with the session files: the freshness check and builds.

Freshness is decided in one place, here. Every shard directory
(``sessions/<first two chars of the id>/``) has its mtime recorded in ``shards`` when
the catalog last matched it. Any file written, renamed or removed in a shard changes
that mtime, so a reader lists the directories (one stat each) and rescans only the
shards whose mtime moved: there, every file whose (size, mtime, inode) differs from its
row is read again, rows of vanished files go, and new files come in. A shard whose mtime
is too recent to trust (a write in the same clock tick would not move it) is rescanned
again next time.

Rows are only ever replaced by what a file holds at that moment: before a change is
applied, in the write transaction, the file is stat'ed once more and the change dropped
if the file moved on meanwhile (whoever moved it puts it, or the next reader does).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from clinvk import ids
from clinvk.catalog import schema
from clinvk.errors import ClinvkError, NotFoundError

if TYPE_CHECKING:
    from clinvk.catalog import ingest
    from clinvk.model import Session

# A directory mtime this close to now may yet hide a write made in the same tick.
UNSETTLED_NS = 2_000_000_000
BUILD_BATCH = 1000

Progress = Callable[[int, int], None]


class Files(Protocol):
    """What the catalog needs of the session store."""

    root: Path
    sessions_dir: Path
    stamp_path: Path  # its mtime moves with every write through the store

    def read_file(self, path: Path) -> Session: ...


def shard_mtimes(sessions_dir: Path) -> dict[str, int]:
    result: dict[str, int] = {}
    try:
        entries = os.scandir(sessions_dir)
    except (FileNotFoundError, NotADirectoryError):
        return result
    with entries:
        for entry in entries:
            if len(entry.name) == 2 and entry.is_dir(follow_symlinks=False):
                result[entry.name] = entry.stat(follow_symlinks=False).st_mtime_ns
    return result


def _settled(mtime_ns: int) -> int | None:
    return mtime_ns if time.time_ns() - mtime_ns > UNSETTLED_NS else None


class _Scan:
    """What rescanning some shards found: rows to put, to drop, and unreadable files."""

    def __init__(self) -> None:
        self.puts: list[tuple[Session, ingest.Identity, Path]] = []
        # Rows to drop: (id, its path, the identity its file had: None when gone).
        self.drops: list[tuple[str, Path, tuple[int, int, int] | None]] = []
        self.bad: list[tuple[Any, ...]] = []
        self.bad_drops: list[str] = []
        self.shards: dict[str, int | None] = {}
        self.gone_shards: list[str] = []


def _read(files: Files, path: Path) -> tuple[Session | None, str | None]:
    try:
        return files.read_file(path), None
    except NotFoundError:
        return None, None
    except ClinvkError as exc:
        return None, exc.message


def _scan_shard(conn: sqlite3.Connection, files: Files, shard: str, scan: _Scan) -> None:
    from clinvk.catalog import ingest

    rows = {r[0]: r[1:] for r in conn.execute(
        "SELECT id, sid, size, mtime_ns, inode FROM sessions WHERE id >= ? AND id < ?",
        (shard, shard + "~"))}
    bad = {r[0]: r[1:] for r in conn.execute(
        "SELECT path, size, mtime_ns, inode FROM bad WHERE shard = ?", (shard,))}
    directory = files.sessions_dir / shard
    try:
        names = os.listdir(directory)
    except (FileNotFoundError, NotADirectoryError):
        names = []
    for name in names:
        ident = ids.file_id(name, shard)
        if ident is None:
            continue
        path = directory / name
        try:
            st = os.stat(path)
        except OSError:
            continue
        known = rows.pop(ident, None)
        key = (st.st_size, st.st_mtime_ns, st.st_ino)
        if known is not None and tuple(known[1:]) == key:
            continue
        rel = ingest.relative_path(ident)
        was_bad = bad.pop(rel, None)
        if was_bad is not None and tuple(was_bad) == key:
            continue
        session, reason = _read(files, path)
        if session is not None and session.id == ident:
            scan.puts.append((session, ingest.Identity.of(st), path))
            continue
        if known is not None:
            scan.drops.append((ident, path, key))
        if reason is not None:
            scan.bad.append((rel, shard, *key, reason))
    scan.drops.extend((ident, directory / f"{ident}.json", None) for ident in rows)
    scan.bad_drops.extend(bad)


def refresh(conn: sqlite3.Connection, files: Files, *, max_shards: int | None = None
            ) -> bool:
    """Bring the catalog in line with every shard whose directory changed; True if
    anything had to be looked at. With ``max_shards``, a catalog that more shards than
    that moved away from is left as it is (False): a caller that must answer at once
    (shell completion) takes it as it stands rather than read a whole store."""
    actual = shard_mtimes(files.sessions_dir)
    recorded = dict(conn.execute("SELECT name, mtime_ns FROM shards").fetchall())
    stale = sorted(s for s, m in actual.items() if recorded.get(s) != m)
    gone = [s for s in recorded if s not in actual]
    if not stale and not gone:
        return False
    if max_shards is not None and len(stale) + len(gone) > max_shards:
        return False
    scan = _Scan()
    for shard in stale:
        _scan_shard(conn, files, shard, scan)
        scan.shards[shard] = _settled(actual[shard])
    scan.gone_shards = gone
    _apply(conn, scan)
    return True


def _apply(conn: sqlite3.Connection, scan: _Scan) -> None:
    from clinvk.catalog import ingest

    conn.execute("BEGIN IMMEDIATE")
    try:
        puts = []
        for session, ident, path in scan.puts:
            try:
                now = os.stat(path)
            except OSError:
                now = None
            if now is None or not ident.same_file(now.st_size, now.st_mtime_ns, now.st_ino):
                # Changed since it was read: look again next time.
                scan.shards[session.id[:2]] = None
                continue
            puts.append((session, ident))
        for gone, gone_path, key in scan.drops:
            try:
                st = os.stat(gone_path)
                there: tuple[int, int, int] | None = (st.st_size, st.st_mtime_ns, st.st_ino)
            except FileNotFoundError:
                there = None
            sid = ingest.sid_of(conn, gone)
            if there != key:
                scan.shards[gone[:2]] = None  # written again meanwhile: look next time
            elif sid is not None:
                ingest.forget(conn, sid)
        ingest.put(conn, puts)
        conn.executemany("DELETE FROM bad WHERE path = ?", ((p,) for p in scan.bad_drops))
        conn.executemany("INSERT OR REPLACE INTO bad VALUES (?, ?, ?, ?, ?, ?)", scan.bad)
        for shard in scan.gone_shards:
            for (sid,) in conn.execute("SELECT sid FROM sessions WHERE id >= ? AND id < ?",
                                       (shard, shard + "~")).fetchall():
                ingest.forget(conn, sid)
            conn.execute("DELETE FROM bad WHERE shard = ?", (shard,))
            conn.execute("DELETE FROM shards WHERE name = ?", (shard,))
        conn.executemany("INSERT OR REPLACE INTO shards(name, mtime_ns) VALUES (?, ?)",
                         scan.shards.items())
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def put_written(conn: sqlite3.Connection, changes: list[tuple[str, Session | None, Path]]
                ) -> None:
    """What a writer just did (session saved, or None: deleted), applied only where the
    file is still what the writer left."""
    from clinvk.catalog import ingest

    conn.execute("BEGIN IMMEDIATE")
    try:
        schema.check_version(conn)
        puts = []
        for ident, session, path in changes:
            try:
                st = os.stat(path)
            except FileNotFoundError:
                st = None
            if session is None:
                if st is None:
                    sid = ingest.sid_of(conn, ident)
                    if sid is not None:
                        ingest.forget(conn, sid)
                continue
            if st is not None:
                puts.append((session, ingest.Identity.of(st)))
        ingest.put(conn, puts)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def build(conn: sqlite3.Connection, files: Files, progress: Progress | None = None) -> None:
    """Fill an empty catalog from every session file.

    Two threads on two cores: this one reads the files and makes their rows (Python),
    a writer thread inserts them (SQLite, which lets go of the GIL while it works, FTS5
    tokenizing above all).
    """
    import queue
    import threading

    from clinvk.catalog import ingest

    actual = shard_mtimes(files.sessions_dir)
    listing: list[tuple[str, list[str]]] = []
    total = 0
    for shard in sorted(actual):
        try:
            names = sorted(os.listdir(files.sessions_dir / shard))
        except OSError:
            names = []
        listing.append((shard, names))
        total += len(names)
    batches: queue.Queue[ingest.Batch | None] = queue.Queue(maxsize=2)
    failed: list[BaseException] = []

    def write() -> None:
        while (batch := batches.get()) is not None:
            if failed:
                continue  # drain, so that the reader never blocks
            try:
                batch.write(conn, terms=False)
            except BaseException as exc:  # noqa: BLE001 - raised again by the reader
                failed.append(exc)

    writer = threading.Thread(target=write, name="clinvk-catalog-build", daemon=True)
    batch = ingest.Batch()
    bad: list[tuple[Any, ...]] = []
    sid = done = 0
    conn.execute("BEGIN")
    # FTS5 gathers terms in memory up to this size before writing a segment (1 MB by
    # default): fewer, bigger segments to merge.
    conn.execute("INSERT INTO texts(texts, rank) VALUES ('hashsize', ?)", (32 << 20,))
    writer.start()
    try:
        for shard, names in listing:
            for name in names:
                done += 1
                ident = ids.file_id(name, shard)
                if ident is None:
                    continue
                path = files.sessions_dir / shard / name
                try:
                    st = os.stat(path)
                except OSError:
                    continue
                session, reason = _read(files, path)
                if session is not None and session.id == ident:
                    sid += 1
                    batch.add(sid, session, ingest.Identity.of(st))
                elif reason is not None:
                    bad.append((ingest.relative_path(ident), shard, st.st_size, st.st_mtime_ns,
                                st.st_ino, reason))
                if len(batch) >= BUILD_BATCH:
                    batches.put(batch)
                    batch = ingest.Batch(cals=batch.cals)
                    if failed:
                        raise failed[0]
                    if progress is not None:
                        progress(done, total)
        batches.put(batch)
    finally:
        batches.put(None)
        writer.join()
    if failed:
        raise failed[0]
    conn.executemany("INSERT OR REPLACE INTO bad VALUES (?, ?, ?, ?, ?, ?)", bad)
    conn.executemany("INSERT INTO shards(name, mtime_ns) VALUES (?, ?)",
                     ((s, _settled(m)) for s, m in actual.items()))
    conn.execute("CREATE VIRTUAL TABLE temp.vocab USING fts5vocab(main, texts, row)")
    conn.execute("INSERT OR IGNORE INTO terms(term) SELECT term FROM temp.vocab")
    conn.execute("DROP TABLE temp.vocab")
    schema.set_meta(conn, "tz", ingest.tz_fingerprint())
    schema.set_meta(conn, "complete", "1")
    conn.execute("COMMIT")
    if progress is not None:
        progress(total, total)


def resplit(conn: sqlite3.Connection) -> None:
    """Recompute the day, week and month splits in this time zone (they were made in
    another one)."""
    from clinvk.catalog import ingest
    from clinvk.stats import TurnFact

    cals = ingest.calendars()
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("DELETE FROM splits WHERE kind IN ('day', 'week', 'month')")
        facts: dict[int, list[TurnFact]] = {}
        spent = ingest.spent_by_turn(conn)
        for r in conn.execute("SELECT sid, started, duration, model, status, i0, i1, i2, i3, "
                              "i4, cost, cost_source, pos FROM turns ORDER BY sid, pos"):
            usage = None if r[5] is None else (r[5], r[6], r[7], r[8], r[9])
            facts.setdefault(r[0], []).append(TurnFact(r[1], r[2], r[3], r[4], usage, r[10],
                                                       r[11], spent.get((r[0], r[12]), ())))
        rows: list[tuple[Any, ...]] = []
        for sid, status, model, last_used in conn.execute(
                "SELECT sid, status, model, last_used FROM sessions"):
            rows.extend(ingest.split_rows(sid, status, model, last_used, facts.get(sid, []),
                                          cals, by_model=False))
        conn.executemany(ingest.INSERT_SPLIT, rows)
        schema.set_meta(conn, "tz", ingest.tz_fingerprint())
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
