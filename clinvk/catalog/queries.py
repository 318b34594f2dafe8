"""Questions asked of the catalog: which sessions, how many, which hold some text.

A session's shown status is its recorded one, except that a ``running`` record whose
clinvk process is gone counts as ``error``: the few running rows are checked once per
query (``dead_running``) and the answer joins the SQL as a JSON list of their sids.

Search keeps the meaning it always had — case-insensitive text anywhere in a title,
prompt or answer (or a tool call's summary or paths), also inside a word — and uses FTS5 to narrow the candidates first:
each word of the query becomes a condition on the session's words (the whole word when
the query has other characters on both sides of it, else a prefix, a suffix or any part
of a word, looked up in ``terms``). Candidates are then checked for the exact text,
unless the narrowing was already exact (one plain ASCII word).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    import sqlite3

# A query word that is part of more words than this narrows nothing worth the lookup.
MAX_TERMS = 200


class Filter(msgspec.Struct):
    """Which sessions: every field that is set must hold (tags: all of them).

    This module's small records are msgspec Structs, not dataclasses: a dataclass is
    built by compiling source text when its module is imported, which every
    `sessions list` would pay for (tests/test_imports.py)."""

    backend: str | None = None
    status: str | None = None
    tags: list[str] = msgspec.field(default_factory=list)
    search: str | None = None
    workdir: str | None = None
    start: float | None = None  # last used at or after (epoch seconds)
    end: float | None = None  # last used before
    older_than: float | None = None  # last used before (`clean`)
    origin: str | None = None  # "clinvk" or "native" (adopted by `sessions sync`)
    # A tool call named one of these absolute paths, or a turn changed it (any of them).
    touched: list[str] = msgspec.field(default_factory=list)


class SessionRow(msgspec.Struct):
    """One session as the catalog lists it; ``status`` is the shown one."""

    id: str
    backend: str
    status: str
    recorded_status: str  # as the file has it (``status`` differs for a dead runner)
    created: float  # epoch seconds, UTC
    last_used: float
    model: str | None
    tags: list[str]
    title: str
    workdir: str
    tokens: int | None
    turns: int
    pid: int | None
    pid_start: float | None
    cost: float | None
    disk: int
    origin: str = "clinvk"
    snippet: str | None = None
    duration: float = 0.0  # seconds, all turns added up


ROW_COLUMNS = ("s.id, s.backend, s.status, s.created, s.last_used, s.model, s.tags, s.title, "
               "s.workdir, s.tokens, s.n, s.pid, s.pid_start, s.cost, s.disk, s.origin, "
               "s.duration")
_tags = msgspec.json.Decoder(list[str])

# The rows whose runner is gone: id → sid.
Dead = dict[str, int]


def make_row(r: tuple[Any, ...], dead: Dead) -> SessionRow:
    status = "error" if r[2] == "running" and r[0] in dead else r[2]
    tokens = r[9] if r[9] is None or isinstance(r[9], int) else int(r[9])  # see ingest.fit
    return SessionRow(r[0], r[1], status, r[2], r[3], r[4], r[5], _tags.decode(r[6]), r[7],
                      r[8], tokens, r[10], r[11], r[12], r[13], r[14], r[15], None, r[16])


def dead_running(conn: sqlite3.Connection) -> Dead:
    """The rows that say running although their clinvk process is gone."""
    from clinvk.liveness import effective_status

    return {ident: sid for sid, ident, pid, start in conn.execute(
        "SELECT sid, id, pid, pid_start FROM sessions WHERE status = 'running'")
        if effective_status("running", pid, start) != "running"}


def status_sql(dead: Dead, alias: str = "s") -> tuple[str, list[Any]]:
    """The shown status of the rows of ``alias`` (sessions, or splits) as SQL."""
    if not dead:
        return f"{alias}.status", []
    return ((f"CASE WHEN {alias}.status = 'running' AND {alias}.sid IN "
            f"(SELECT value FROM json_each(?)) THEN 'error' ELSE {alias}.status END"),
            [msgspec.json.encode(sorted(dead.values())).decode()])


def filtered(flt: Filter) -> bool:
    """Whether the filter keeps out any session."""
    return any(x is not None and x != [] for x in (
        flt.backend, flt.status, flt.tags or None, flt.search, flt.workdir, flt.start,
        flt.end, flt.older_than, flt.origin, flt.touched or None))


def where(flt: Filter, dead: Dead, *, hits: bool = False) -> tuple[str, list[Any]]:
    """The WHERE clause (over ``sessions s``) for a filter."""
    clauses: list[str] = []
    params: list[Any] = []
    if flt.backend is not None:
        clauses.append("s.backend = ?")
        params.append(flt.backend)
    if flt.status is not None:
        expr, extra = status_sql(dead)
        clauses.append(f"{expr} = ?")
        params += [*extra, flt.status]
    for tag in dict.fromkeys(flt.tags):
        clauses.append("s.sid IN (SELECT sid FROM tags WHERE tag = ?)")
        params.append(tag)
    if flt.origin is not None:
        clauses.append("s.origin = ?")
        params.append(flt.origin)
    if flt.workdir is not None:
        clauses.append("s.workdir = ?")
        params.append(flt.workdir)
    for bound, op in ((flt.start, ">="), (flt.end, "<"), (flt.older_than, "<")):
        if bound is not None:
            clauses.append(f"s.last_used {op} ?")
            params.append(bound)
    if flt.touched:
        clauses.append("s.sid IN (SELECT sid FROM touched WHERE path IN "
                       "(SELECT value FROM json_each(?)))")
        params.append(msgspec.json.encode(sorted(set(flt.touched))).decode())
    if hits or flt.search:
        # The sessions holding the search text: fill_hits put them there first.
        clauses.append("s.sid IN (SELECT sid FROM temp.hits)")
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def count(conn: sqlite3.Connection, flt: Filter, dead: Dead, *, hits: bool = False) -> int:
    if not hits and not filtered(flt):
        row = conn.execute("SELECT value FROM meta WHERE key = 'count'").fetchone()
        if row is not None:
            return int(row[0])
    sql, params = where(flt, dead, hits=hits)
    return int(conn.execute(f"SELECT count(*) FROM sessions s{sql}", params).fetchone()[0])


# The orders a listing can take, each largest (newest) first; the id breaks ties.
ORDERS = {
    "last_used": "s.last_used DESC",
    "created": "s.created DESC",
    "tokens": "s.tokens DESC",
    "cost": "s.cost DESC",
    "duration": "s.duration DESC",
}


def rows(conn: sqlite3.Connection, flt: Filter, dead: Dead, offset: int,
         limit: int | None, *, hits: bool = False, order: str = "last_used"
         ) -> Iterator[SessionRow]:
    """The filtered rows in ``order`` (one of ORDERS; default newest last use first),
    from ``offset``, at most ``limit``."""
    sql, params = where(flt, dead, hits=hits)
    cursor = conn.execute(f"SELECT {ROW_COLUMNS} FROM sessions s{sql} "
                          f"ORDER BY {ORDERS[order]}, s.id LIMIT ? OFFSET ?",
                          [*params, -1 if limit is None else limit, offset])
    return (make_row(r, dead) for r in cursor)


class Sums(msgspec.Struct):
    """How many sessions pass a filter, and their tokens and cost added up."""

    sessions: int
    tokens: int
    cost: float | None  # None: no session has a price


def sums(conn: sqlite3.Connection, flt: Filter, dead: Dead) -> Sums:
    """The sums of the filtered sessions (with a search: of those in temp.hits)."""
    sql, params = where(flt, dead)
    n, used, cost = conn.execute(
        f"SELECT count(*), total(s.tokens), sum(s.cost) FROM sessions s{sql}",
        params).fetchone()
    return Sums(int(n), int(used), None if cost is None else float(cost))


def owner(conn: sqlite3.Connection, backend: str, backend_sid: str) -> str | None:
    """The session holding the vendor conversation ``backend_sid`` of ``backend`` (the
    first created, should several hold it), or None."""
    row = conn.execute("SELECT id FROM sessions WHERE backend = ? AND backend_sid = ? "
                       "ORDER BY created, id LIMIT 1", (backend, backend_sid)).fetchone()
    return None if row is None else str(row[0])


# --------------------------------------------------------------------------- search
def _quote(word: str) -> str:
    return '"' + word.replace('"', '""') + '"'


def plan(conn: sqlite3.Connection, text: str) -> tuple[str | None, bool] | None:
    """(FTS5 expression narrowing the candidates or None for all, whether candidates
    must be checked for the exact text); None when nothing can match."""
    from clinvk.catalog.ingest import WORD

    needle = text.lower()
    words = list(WORD.finditer(needle))
    parts: list[str] = []
    exact = len(words) == 1 and words[0].group() == needle and needle.isascii()
    for m in words:
        word = m.group()
        bounded_left, bounded_right = m.start() > 0, m.end() < len(needle)
        if bounded_left and bounded_right:
            parts.append(_quote(word))
        elif bounded_left:
            parts.append(_quote(word) + " *")
        else:
            sql = ("SELECT term FROM terms WHERE substr(term, -?) = ? LIMIT ?" if bounded_right
                   else "SELECT term FROM terms WHERE instr(term, ?) > 0 LIMIT ?")
            args: list[Any] = [len(word), word] if bounded_right else [word]
            terms = [r[0] for r in conn.execute(sql, [*args, MAX_TERMS + 1])]
            if len(terms) > MAX_TERMS:
                exact = False
                continue
            if not terms:
                if word.isascii():
                    return None  # no word of any session holds it
                exact = False  # the tokenizer may fold this word unlike str.lower
                continue
            parts.append("(" + " OR ".join(map(_quote, terms)) + ")")
    if not parts:
        return None, True
    return " AND ".join(parts), not exact


def fill_hits(conn: sqlite3.Connection, text: str) -> str | None:
    """Put the sids of the sessions holding ``text`` into temp.hits; returns what the
    snippets look for (the text, lower case), or None when nothing can hold it."""
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS hits(sid INTEGER PRIMARY KEY)")
    conn.execute("DELETE FROM temp.hits")
    planned = plan(conn, text)
    if planned is None:
        return None
    import sqlite3

    expr, check = planned
    needle = text.lower()
    conn.create_function("clinvk_holds", 3, _holds, deterministic=True)
    if expr is not None:
        try:
            if check:  # the candidates, then their text (one indexed look-up each)
                conn.execute("INSERT INTO temp.hits SELECT b.sid FROM texts JOIN bodies b "
                             "ON b.sid = texts.rowid WHERE texts MATCH ? "
                             "AND clinvk_holds(b.title, b.z, ?)", [expr, needle])
            else:
                conn.execute("INSERT INTO temp.hits SELECT rowid FROM texts WHERE texts MATCH ?",
                             [expr])
            return needle
        except sqlite3.OperationalError as exc:
            if "fts5" not in str(exc):
                raise
            conn.execute("DELETE FROM temp.hits")  # an expression FTS5 refuses: check all
    conn.execute("INSERT INTO temp.hits SELECT sid FROM bodies WHERE clinvk_holds(title, z, ?)",
                 [needle])
    return needle


def _holds(title: str | None, z: bytes | None, needle: str) -> bool:
    from clinvk.catalog.bodies import holds

    return needle in (title or "").lower() or (z is not None and holds(z, needle))


def snippets(conn: sqlite3.Connection, needle: str, ids: list[str]) -> dict[str, str]:
    """The fragment of each session's text around the first place it holds ``needle``,
    the words holding it in [ ] (from its title, else its other text)."""
    if not ids:
        return {}
    from clinvk.catalog.bodies import unpack

    found: dict[str, str] = {}
    for ident, title, z in conn.execute(
            "SELECT s.id, b.title, b.z FROM sessions s JOIN bodies b ON b.sid = s.sid "
            "WHERE s.id IN (SELECT value FROM json_each(?))", (msgspec.json.encode(ids).decode(),)):
        fragment = around(title, needle) or around(unpack(z, SNIPPET_SCAN), needle)
        if fragment:
            found[ident] = fragment
    return found


# How much of one session's text a snippet looks through (bytes): the work of a
# table of search results stays linear and bounded however often a session holds the text.
SNIPPET_SCAN = 8 << 20
SNIPPET_CONTEXT = 40  # characters of context on either side of the words that matched
_WORD_MAX = 40  # characters a marked word may reach past the matched text


def around(text: str, needle: str) -> str | None:
    """``text`` around its first case-insensitive ``needle`` (one search over the text,
    then a bounded window): the words holding it in [ ], ``…`` where it was cut."""
    import re

    if not needle:
        return None
    match = re.search(re.escape(needle), text, re.IGNORECASE)
    if match is None:
        return None
    start, end = match.span()
    # The whole words the match lies in (as FTS5 would mark them), within bounds.
    while start > 0 and match.start() - start < _WORD_MAX and text[start - 1].isalnum():
        start -= 1
    while end < len(text) and end - match.end() < _WORD_MAX and text[end].isalnum():
        end += 1
    left = max(0, start - SNIPPET_CONTEXT)
    right = min(len(text), end + SNIPPET_CONTEXT)
    if left > 0:  # start after a space, not inside a word
        space = text.find(" ", left, start)
        left = space + 1 if space >= 0 else left
    if right < len(text):
        space = text.rfind(" ", end, right)
        right = space if space >= 0 else right
    return ("…" if left > 0 else "") + text[left:start] + "[" + text[start:end] + "]" + \
        text[end:right] + ("…" if right < len(text) else "")


# --------------------------------------------------------------------------- storage
class Storage(msgspec.Struct):
    """What `sessions storage` reports of the sessions themselves."""

    sessions: int
    turns: int
    disk: int  # bytes the session files take
    by_status: dict[str, int]
    by_backend: dict[str, int]
    oldest: SessionRow | None
    newest: SessionRow | None
    cleanable: int  # sessions `clean` would remove at the cutoff


def storage(conn: sqlite3.Connection, dead: Dead, cutoff: float | None) -> Storage:
    found = Storage(0, 0, 0, {}, {}, None, None, 0)
    before = -1.0 if cutoff is None else cutoff

    def add(status: str, backend: str, count_: int, turns: int, disk: int, old: int) -> None:
        found.sessions += count_
        found.turns += turns
        found.disk += disk
        found.by_status[status] = found.by_status.get(status, 0) + count_
        found.by_backend[backend] = found.by_backend.get(backend, 0) + count_
        if status not in ("running", "paused"):
            found.cleanable += old

    # One pass over an index that holds every column needed, in group order.
    for row in conn.execute(
            "SELECT status, backend, count(*), coalesce(sum(n), 0), coalesce(sum(disk), 0), "
            "coalesce(sum(last_used < ?), 0) FROM sessions INDEXED BY sessions_kinds "
            "GROUP BY 1, 2", (before,)):
        add(*row)
    # Then the few rows whose runner is gone move from running to error.
    for backend, turns, disk, old in conn.execute(
            "SELECT backend, n, disk, last_used < ? FROM sessions WHERE sid IN "
            "(SELECT value FROM json_each(?))",
            (before, msgspec.json.encode(list(dead.values())).decode())):
        add("running", backend, -1, -turns, -disk, -old)
        add("error", backend, 1, turns, disk, old)
    found.by_status = {k: v for k, v in found.by_status.items() if v}
    oldest = conn.execute(f"SELECT {ROW_COLUMNS} FROM sessions s ORDER BY s.created, s.id "
                          "LIMIT 1").fetchone()
    newest = conn.execute(f"SELECT {ROW_COLUMNS} FROM sessions s "
                          "ORDER BY s.last_used DESC, s.id LIMIT 1").fetchone()
    if found.sessions:
        found.oldest = make_row(oldest, dead)
        found.newest = make_row(newest, dead)
    return found


# --------------------------------------------------------------------------- check
class Mismatch(msgspec.Struct):
    """How the catalog differs from the files (ids, sorted)."""

    missing: list[str]  # readable files without a row
    gone: list[str]  # rows without a readable file
    stale: list[str]  # rows read from an older version of the file

    def __bool__(self) -> bool:
        return bool(self.missing or self.gone or self.stale)


def check(conn: sqlite3.Connection, truth: dict[str, tuple[int, int, int]],
          unreadable: set[str]) -> Mismatch:
    """Compare the rows with the files as they are: ``truth`` maps each readable file's
    id to its (size, mtime_ns, inode)."""
    listed = {r[0]: tuple(r[1:]) for r in conn.execute(
        "SELECT id, size, mtime_ns, inode FROM sessions")}
    return Mismatch(
        missing=sorted(set(truth) - set(listed)),
        gone=sorted(set(listed) - set(truth) - unreadable),
        stale=sorted(i for i in set(truth) & set(listed) if truth[i] != listed[i]))
