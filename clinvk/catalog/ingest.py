"""Putting sessions into the catalog: the rows one session record becomes.

A session is always replaced as a whole (its row, turns, tags, splits and text), in the
caller's transaction. ``Batch`` gathers the rows of many sessions so that a build or an
import writes each table with one executemany per batch, not one statement per row.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from clinvk.catalog import bodies
from clinvk.catalog.schema import SUM_COLUMNS
from clinvk.periods import LocalCalendar, session_key, split
from clinvk.stats import SPENT_STEP, Spent, TurnFact, move_spent, sum_turns

if TYPE_CHECKING:
    import sqlite3

    from clinvk.model import Session, Turn

CALENDAR_KINDS = ("day", "week", "month")
# What the FTS5 unicode61 tokenizer counts as a word: letters and digits.
WORD = re.compile(r"[^\W_]+")

_SESSION_COLUMNS = ("sid", "id", "backend", "status", "created", "last_used", "model", "tags",
                    "title", "workdir", "tokens", "pid", "pid_start", "cost", "size",
                    "mtime_ns", "inode", "disk", *SUM_COLUMNS, "origin", "backend_sid")
_INSERT_SESSION = (f"INSERT OR REPLACE INTO sessions({', '.join(_SESSION_COLUMNS)}) "
                   f"VALUES ({', '.join('?' * len(_SESSION_COLUMNS))})")
_INSERT_TURN = "INSERT INTO turns VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
INSERT_SPLIT = (f"INSERT INTO splits(kind, key, sid, status, {', '.join(SUM_COLUMNS)}) "
                 f"VALUES ({', '.join('?' * (4 + len(SUM_COLUMNS)))})")


@dataclass(frozen=True)
class Identity:
    """Which version of a session file a row was read from (and its bytes on disk)."""

    size: int
    mtime_ns: int
    inode: int
    disk: int

    @classmethod
    def of(cls, st: os.stat_result) -> Identity:
        from clinvk.atomic import disk_bytes

        return cls(st.st_size, st.st_mtime_ns, st.st_ino, disk_bytes(st))

    def same_file(self, size: int, mtime_ns: int, inode: int) -> bool:
        return (self.size, self.mtime_ns, self.inode) == (size, mtime_ns, inode)


_INT64 = 2**63 - 1


def fit(value: Any) -> Any:
    """A number SQLite can hold: an integer beyond 64 bits (a sum of many huge token
    counts, each within the record's bounds) is kept as a float."""
    if isinstance(value, int) and not -_INT64 <= value <= _INT64:
        return float(value)
    return value


def fit_sums(sums: tuple[Any, ...]) -> tuple[Any, ...]:
    """fit() for the token sums of a Sums tuple (the only members that can grow so)."""
    if max(sums[3:8]) <= _INT64:
        return sums
    return tuple(map(fit, sums))


def tz_fingerprint() -> str:
    """The local time zone as far as it decides day, week and month keys."""
    return "|".join(map(str, (os.environ.get("TZ"), time.tzname, time.timezone, time.altzone,
                              time.daylight)))


def calendars() -> dict[str, LocalCalendar]:
    return {kind: LocalCalendar(kind) for kind in CALENDAR_KINDS}


def turn_facts(session: Session) -> list[TurnFact]:
    facts = []
    for t in session.turns:
        u = t.usage
        facts.append(TurnFact(
            t.started_at.timestamp(), t.duration_s, t.model or session.model, t.status,
            None if u is None else (u.input_tokens, u.output_tokens, u.cache_read_tokens,
                                    u.cache_write_tokens, u.reasoning_tokens),
            t.cost_usd, t.cost_source, spent_of(t) if t.requests else ()))
    return facts


_STEP = timedelta(seconds=SPENT_STEP)


def spent_of(turn: Turn) -> tuple[Spent, ...]:
    """What a turn's requests spent in other quarter hours than its start's."""
    home = turn.started_at.timestamp() // SPENT_STEP
    # The quarter hour of the start as datetimes: most requests fall in it, and a
    # comparison is cheaper than a timestamp.
    low = datetime.fromtimestamp(home * SPENT_STEP, UTC)
    high = low + _STEP
    pieces: dict[float, list[Any]] = {}
    for r in turn.requests or ():
        at = r.at
        if at is None or low <= at < high:
            continue  # no time (it counts with the turn's start), or the start's quarter
        q = at.timestamp() // SPENT_STEP
        p = pieces.get(q)
        if p is None:
            p = pieces[q] = [0, 0, 0, 0, 0.0]
        p[0] += r.input_tokens
        p[1] += r.output_tokens
        p[2] += r.cache_read_tokens
        p[3] += r.cache_write_tokens
        p[4] += r.cost_usd or 0.0
    return tuple(Spent(q * SPENT_STEP, *p) for q, p in sorted(pieces.items()))


def spent_by_turn(conn: sqlite3.Connection, sids: list[int] | None = None
                  ) -> dict[tuple[int, int], tuple[Spent, ...]]:
    """The ``spent`` rows of some sessions (None: all), by (sid, turn position)."""
    sql = "SELECT sid, pos, at, i0, i1, i2, i3, cost FROM spent"
    args: tuple[Any, ...] = ()
    if sids is not None:
        import msgspec

        sql += " WHERE sid IN (SELECT value FROM json_each(?))"
        args = (msgspec.json.encode(sids).decode(),)
    found: dict[tuple[int, int], list[Spent]] = {}
    for sid, pos, *piece in conn.execute(sql + " ORDER BY sid, pos, at", args):
        found.setdefault((sid, pos), []).append(Spent(*piece))
    return {k: tuple(v) for k, v in found.items()}


def split_rows(sid: int, status: str, model: str | None, last_used: float,
               facts: list[TurnFact], cals: dict[str, LocalCalendar], *,
               by_model: bool = True, whole: tuple[Any, ...] | None = None
               ) -> list[tuple[Any, ...]]:
    """The splits rows of one session: its turn sums per model, day, week and month
    (``whole``: the sums of all its turns, when known)."""
    rows: list[tuple[Any, ...]] = []
    kinds: list[tuple[str, LocalCalendar | None]] = [("model", None)] if by_model else []
    for kind, calendar in [*kinds, *cals.items()]:
        if not facts:
            rows.append((kind, session_key(model, last_used, calendar), sid, status,
                         *sum_turns([])))
            continue
        rows.extend((kind, key, sid, status, *sums)
                    for key, sums in split_sums(facts, calendar, whole))
    return rows


def split_sums(facts: list[TurnFact], calendar: LocalCalendar | None,
               whole: tuple[Any, ...] | None = None) -> list[tuple[str, tuple[Any, ...]]]:
    """The sums of a session's turns (at least one) per period (calendar) or else per
    model; in a period, what the turns' requests spent in other periods moves there."""
    runs = split(facts, calendar)
    # Most sessions fall in one day, week, month or model: their sums are the whole's.
    parts = {key: whole if part is facts and whole is not None else fit_sums(sum_turns(part))
             for key, part in runs}
    if calendar is not None and any(f.spent for f in facts):
        period = calendar.period
        for key, part in runs:
            for fact in part:
                if fact.spent:
                    move_spent(parts, key, fact, lambda ts: period(ts)[0], sum_turns([]))
    return list(parts.items())


def body_of(session: Session) -> str:
    """The searchable text besides the title: every prompt and answer, then each tool
    call's summary and paths."""
    texts = [text for t in session.turns for text in (t.prompt, t.response) if text]
    for t in session.turns:
        for c in t.tool_calls:
            texts.extend(x for x in (c.summary, *c.paths) if x)
    return "\n".join(texts)


def tool_rows(sid: int, session: Session) -> tuple[list[tuple[Any, ...]], list[tuple[str, int]]]:
    """The tool_calls rows of one session, and its touched (path, sid) pairs."""
    import msgspec

    calls: list[tuple[Any, ...]] = []
    paths: dict[str, None] = {}
    for pos, t in enumerate(session.turns):
        for idx, c in enumerate(t.tool_calls):
            calls.append((sid, pos, idx, c.name, c.kind, c.status, c.summary,
                          msgspec.json.encode(c.paths).decode()))
            paths.update(dict.fromkeys(c.paths))
        paths.update(dict.fromkeys(t.files_changed))
    return calls, [(path, sid) for path in paths]


@dataclass
class Batch:
    """Rows of several sessions, written together."""

    cals: dict[str, LocalCalendar] = field(default_factory=calendars)
    sessions: list[tuple[Any, ...]] = field(default_factory=list)
    turns: list[tuple[Any, ...]] = field(default_factory=list)
    tags: list[tuple[str, int]] = field(default_factory=list)
    splits: list[tuple[Any, ...]] = field(default_factory=list)
    texts: list[tuple[int, str, str]] = field(default_factory=list)
    packed: list[tuple[int, str, bytes]] = field(default_factory=list)
    tool_calls: list[tuple[Any, ...]] = field(default_factory=list)
    touched: list[tuple[str, int]] = field(default_factory=list)
    spent: list[tuple[Any, ...]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.sessions)

    def add(self, sid: int, session: Session, ident: Identity) -> None:
        import msgspec

        facts = turn_facts(session)
        sums = fit_sums(sum_turns(facts))
        tags = list(dict.fromkeys(session.tags))
        last_used = session.last_used_at.timestamp()
        self.sessions.append((
            sid, session.id, session.backend, session.status, session.created_at.timestamp(),
            last_used, session.model, msgspec.json.encode(tags).decode(), session.title,
            session.workdir, fit(session.tokens()), session.pid, session.pid_start,
            session.cost(), ident.size, ident.mtime_ns, ident.inode, ident.disk, *sums,
            session.origin, session.backend_session_id or None))
        for pos, (f, t) in enumerate(zip(facts, session.turns)):
            u = f.usage or (None, None, None, None, None)
            self.turns.append((sid, pos, f.started, f.duration, f.model, t.status, *u, f.cost,
                               f.cost_source))
            self.spent.extend((sid, pos, *piece) for piece in f.spent)
        self.tags.extend((tag, sid) for tag in tags)
        self.splits.extend(split_rows(sid, session.status, session.model, last_used, facts,
                                      self.cals, whole=sums))
        body = body_of(session)
        self.texts.append((sid, session.title, body))
        # Compressed here, on a build's reading thread (zlib lets go of the GIL), so the
        # writing thread, the busier one, only inserts it.
        self.packed.append((sid, session.title, bodies.pack(body)))
        calls, touched = tool_rows(sid, session)
        self.tool_calls.extend(calls)
        self.touched.extend(touched)

    def write(self, conn: sqlite3.Connection, *, terms: bool) -> None:
        """Insert the gathered rows (the sessions' old rows are already gone); ``terms``
        also adds their words to ``terms`` (a full build takes them from FTS5 at the end)."""
        conn.executemany(_INSERT_SESSION, self.sessions)
        conn.execute("UPDATE meta SET value = value + ? WHERE key = 'count'",
                     (len(self.sessions),))
        conn.executemany(_INSERT_TURN, self.turns)
        conn.executemany("INSERT OR IGNORE INTO tags(tag, sid) VALUES (?, ?)", self.tags)
        conn.executemany(INSERT_SPLIT, self.splits)
        conn.executemany("INSERT INTO texts(rowid, title, body) VALUES (?, ?, ?)", self.texts)
        conn.executemany("INSERT INTO bodies(sid, title, z) VALUES (?, ?, ?)", self.packed)
        conn.executemany("INSERT INTO tool_calls VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         self.tool_calls)
        conn.executemany("INSERT INTO touched(path, sid) VALUES (?, ?)", self.touched)
        conn.executemany("INSERT INTO spent VALUES (?, ?, ?, ?, ?, ?, ?, ?)", self.spent)
        if terms:
            words: set[str] = set()
            for _sid, title, body in self.texts:
                words.update(WORD.findall(title.lower()))
                words.update(WORD.findall(body.lower()))
            conn.executemany("INSERT OR IGNORE INTO terms(term) VALUES (?)",
                             ((w,) for w in words))


def forget(conn: sqlite3.Connection, sid: int) -> None:
    """Remove every row of one session."""
    # A contentless index forgets a text only when told the text it was given.
    for title, z in conn.execute("SELECT title, z FROM bodies WHERE sid = ?", (sid,)).fetchall():
        conn.execute("INSERT INTO texts(texts, rowid, title, body) VALUES ('delete', ?, ?, ?)",
                     (sid, title, bodies.unpack(z)))
    conn.execute("DELETE FROM bodies WHERE sid = ?", (sid,))
    gone = conn.execute("DELETE FROM sessions WHERE sid = ?", (sid,)).rowcount
    conn.execute("UPDATE meta SET value = value - ? WHERE key = 'count'", (gone,))
    for table in ("turns", "splits", "tool_calls", "touched", "spent"):
        conn.execute(f"DELETE FROM {table} WHERE sid = ?", (sid,))
    conn.execute("DELETE FROM tags WHERE sid = ?", (sid,))


def sid_of(conn: sqlite3.Connection, ident: str) -> int | None:
    row = conn.execute("SELECT sid FROM sessions WHERE id = ?", (ident,)).fetchone()
    return None if row is None else int(row[0])


def put(conn: sqlite3.Connection, sessions: list[tuple[Session, Identity]],
        cals: dict[str, LocalCalendar] | None = None) -> None:
    """Replace (or add) these sessions' rows, in the caller's transaction."""
    batch = Batch(cals=cals or calendars())
    latest = {session.id: (session, ident) for session, ident in sessions}
    if not latest:
        return
    # Before any row goes: a sid freed below is never handed to another session here.
    next_sid = int(conn.execute("SELECT coalesce(max(sid), 0) FROM sessions").fetchone()[0]) + 1
    for session, ident in latest.values():
        sid = sid_of(conn, session.id)
        if sid is not None:
            forget(conn, sid)
        else:
            sid, next_sid = next_sid, next_sid + 1
        conn.execute("DELETE FROM bad WHERE path = ?", (relative_path(session.id),))
        batch.add(sid, session, ident)
    batch.write(conn, terms=True)


def relative_path(ident: str) -> str:
    """A session file's path under the store root, as the ``bad`` table keeps it."""
    return f"sessions/{ident[:2]}/{ident}.json"
