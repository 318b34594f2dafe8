"""What the catalog holds of some sessions, as plain rows: for copying them elsewhere
(`clinvk team push`). Only metadata, usage, cost and tool calls: the catalog keeps no
prompt or answer apart from its search index.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from clinvk.catalog.schema import SUM_COLUMNS

if TYPE_CHECKING:
    import sqlite3

# SQLite allows 32,766 host parameters; stay far below.
_CHUNK = 900


@dataclass
class Rows:
    """The rows of some sessions, read in one transaction.

    ``sessions``: (sid, id, backend, status, created, last_used, model, tags (JSON),
    title, workdir, tokens, cost, origin, backend_sid, size, mtime_ns, inode, then the
    sums of its turns, schema.SUM_COLUMNS); ``turns``: (sid, pos, started, duration,
    model, status, input, output, cache read, cache write, reasoning, cost,
    cost_source); ``splits``: (sid, kind, key, status, then SUM_COLUMNS) in the local
    time zone; ``tool_calls``: (sid, turn, idx, name, kind, status, summary, paths
    (JSON)).
    """

    sessions: list[tuple[Any, ...]] = field(default_factory=list)
    turns: list[tuple[Any, ...]] = field(default_factory=list)
    splits: list[tuple[Any, ...]] = field(default_factory=list)
    tool_calls: list[tuple[Any, ...]] = field(default_factory=list)


def identities(conn: sqlite3.Connection) -> Iterator[tuple[int, str, int, int, int, float]]:
    """(sid, id, size, mtime_ns, inode, last_used) of every session."""
    yield from conn.execute("SELECT sid, id, size, mtime_ns, inode, last_used FROM sessions")


def _chunks(items: list[Any]) -> Iterator[list[Any]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i:i + _CHUNK]


def rows_of(conn: sqlite3.Connection, ids: list[str]) -> Rows:
    """The rows of the sessions with these ids (those still there), consistent with
    each other."""
    from clinvk.catalog.aggregate import ensure_time_zone

    found = Rows()
    ensure_time_zone(conn)
    sums = ", ".join(SUM_COLUMNS)
    conn.execute("BEGIN")
    try:
        for some in _chunks(ids):
            marks = ", ".join("?" * len(some))
            rows = conn.execute(
                "SELECT sid, id, backend, status, created, last_used, model, tags, title, "
                f"workdir, tokens, cost, origin, backend_sid, size, mtime_ns, inode, {sums} "
                f"FROM sessions WHERE id IN ({marks})", some).fetchall()
            found.sessions.extend(rows)
            part = [row[0] for row in rows]
            if not part:
                continue
            marks = ", ".join("?" * len(part))
            found.turns.extend(conn.execute(
                "SELECT sid, pos, started, duration, model, status, i0, i1, i2, i3, i4, cost, "
                f"cost_source FROM turns WHERE sid IN ({marks})", part))
            found.splits.extend(conn.execute(
                f"SELECT sid, kind, key, status, {sums} FROM splits WHERE sid IN ({marks})",
                part))
            found.tool_calls.extend(conn.execute(
                "SELECT sid, turn, idx, name, kind, status, summary, paths "
                f"FROM tool_calls WHERE sid IN ({marks})", part))
    finally:
        conn.execute("COMMIT")
    return found
