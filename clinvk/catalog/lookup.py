"""The quick questions shell completion asks the catalog: which session ids start with
what was typed (newest first, with their titles), and which tags are in use.

Each is one indexed query that reads at most ``limit`` rows, so a TAB press costs the
same at 100,000 sessions as at ten.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite3


def recent_ids(conn: sqlite3.Connection, prefix: str, limit: int) -> list[tuple[str, str]]:
    """(id, title) of the sessions whose id starts with ``prefix`` (lowercase id
    characters only), most recently used first, at most ``limit``."""
    if prefix:
        # Ids are [a-z0-9]; "~" sorts after all of them, so this is a range on the id index.
        return [(r[0], r[1]) for r in conn.execute(
            "SELECT id, title FROM sessions WHERE id >= ? AND id < ? "
            "ORDER BY last_used DESC, id LIMIT ?", (prefix, prefix + "~", limit))]
    return [(r[0], r[1]) for r in conn.execute(
        "SELECT id, title FROM sessions ORDER BY last_used DESC, id LIMIT ?", (limit,))]


def tag_counts(conn: sqlite3.Connection) -> list[tuple[str, int]]:
    """Every tag in use and on how many sessions, the most used first."""
    return [(r[0], int(r[1])) for r in conn.execute(
        "SELECT tag, count(*) AS n FROM tags GROUP BY tag ORDER BY n DESC, tag")]
