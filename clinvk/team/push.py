"""`clinvk team push`: this store's sessions into the team store.

What goes: every session whose file changed since it was last pushed (``pushed`` in
clinvk.team.local: the file's identity as pushed), plus the outbox; with ``since``,
every session used since then. Its rows come from the catalog (metadata, usage, cost,
tool calls); prompts, answers and tool outputs only with ``share_text``, read from the
session files. The first push with ``share_text`` off clears the text shared before. Batches of sessions, one transaction each: the rows are copied (COPY)
into temporary tables, then upserted; a session's turns and tool calls are replaced as a
whole. A batch is recorded as pushed only after its transaction committed, so a push
that fails midway loses nothing and the next one starts where it stopped; pushing the
same version again writes the same rows (nothing is ever duplicated).
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clinvk.team import local
from clinvk.team.migrations import SUM_COLUMNS

if TYPE_CHECKING:
    import sqlite3

    import psycopg

    from clinvk.catalog import Catalog
    from clinvk.catalog.export import Rows
    from clinvk.periods import LocalCalendar
    from clinvk.store import SessionStore
    from clinvk.team.connect import Target

BATCH_SESSIONS = 2_000

_SUMS = ", ".join(SUM_COLUMNS)
_SUM_TYPES = ", ".join(f"{c} {'numeric' if c.endswith('_tokens') else 'double precision'}"
                       for c in SUM_COLUMNS)

_STAGE = f"""
CREATE TEMP TABLE IF NOT EXISTS stage_sessions(
    id text, backend text, status text, origin text, created double precision,
    last_used double precision, model text, title text, workdir text, repo text,
    tags text[], backend_sid text, tokens numeric, cost double precision, {_SUM_TYPES}
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_turns(
    id text, pos integer, started double precision, duration double precision, model text,
    status text, i0 bigint, i1 bigint, i2 bigint, i3 bigint, i4 bigint,
    cost double precision, cost_source text, day text, week text, month text, prompt text,
    response text
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_splits(
    id text, kind text, key text, status text, {_SUM_TYPES}
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_tools(
    id text, turn integer, idx integer, name text, kind text, status text, summary text,
    paths text[], output text
) ON COMMIT DELETE ROWS;
"""

_UPSERT = (
    f"""INSERT INTO clinvk.sessions AS s(member, machine, id, host, backend, status, origin,
        created, last_used, model, title, workdir, repo, tags, backend_sid, tokens, cost,
        {_SUMS}, tz)
    SELECT %(member)s, %(machine)s, id, %(host)s, backend, status, origin,
        to_timestamp(created), to_timestamp(last_used), model, title, workdir, repo, tags,
        backend_sid, tokens, cost, {_SUMS}, %(tz)s
    FROM stage_sessions
    ON CONFLICT (member, machine, id) DO UPDATE SET
        host = excluded.host, backend = excluded.backend, status = excluded.status,
        origin = excluded.origin, created = excluded.created, last_used = excluded.last_used,
        model = excluded.model, title = excluded.title, workdir = excluded.workdir,
        repo = excluded.repo, tags = excluded.tags, backend_sid = excluded.backend_sid,
        tokens = excluded.tokens, cost = excluded.cost,
        {", ".join(f"{c} = excluded.{c}" for c in SUM_COLUMNS)}, tz = excluded.tz,
        pushed_at = now()""",
    *(f"""DELETE FROM clinvk.{table} t USING stage_sessions g
    WHERE t.member = %(member)s AND t.machine = %(machine)s AND t.id = g.id"""
      for table in ("turns", "splits", "tool_calls")),
    """INSERT INTO clinvk.turns(member, machine, id, pos, started, duration, model, status,
        input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
        reasoning_tokens, cost, cost_source, day, week, month, prompt, response)
    SELECT %(member)s, %(machine)s, id, pos, to_timestamp(started), duration, model, status,
        i0, i1, i2, i3, i4, cost, cost_source, day, week, month, prompt, response
    FROM stage_turns""",
    f"""INSERT INTO clinvk.splits(member, machine, id, kind, key, status, {_SUMS})
    SELECT %(member)s, %(machine)s, id, kind, key, status, {_SUMS} FROM stage_splits""",
    """INSERT INTO clinvk.tool_calls(member, machine, id, turn, idx, name, kind, status,
        summary, paths, output)
    SELECT %(member)s, %(machine)s, id, turn, idx, name, kind, status, summary, paths,
        output
    FROM stage_tools""",
)


@dataclass
class Outcome:
    """What a push did (or, dry, would do)."""

    member: str
    machine: str
    sessions: int = 0
    turns: int = 0
    tool_calls: int = 0
    pruned: int = 0
    dry_run: bool = False
    queued: int = 0
    watermark: float | None = None
    seconds: float = 0.0
    ids: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        from clinvk.output import iso

        return {
            "member": self.member, "machine": self.machine, "dry_run": self.dry_run,
            "sessions": self.sessions, "turns": self.turns, "tool_calls": self.tool_calls,
            "pruned": self.pruned, "queued": self.queued,
            "watermark": iso(self.watermark) if self.watermark is not None else None,
            "seconds": round(self.seconds, 3),
        }


class RepoNames:
    """A workdir's repository name: the directory holding ``.git`` at or above it, else
    the workdir's own name (cached per workdir)."""

    def __init__(self) -> None:
        self.known: dict[str, str] = {}

    def __call__(self, workdir: str) -> str:
        found = self.known.get(workdir)
        if found is None:
            found = self.known[workdir] = self._find(workdir)
        return found

    @staticmethod
    def _find(workdir: str) -> str:
        here = Path(workdir)
        for place in (here, *here.parents):
            try:
                if (place / ".git").exists():
                    return place.name or str(place)
            except OSError:
                break
        return here.name or workdir


def _candidates(catalog: Catalog, state: sqlite3.Connection, since: float | None,
                queued: dict[str, float]) -> tuple[list[str], list[str]]:
    """(ids to push, ids pushed before that are gone locally)."""
    pushed = {ident: (size, mtime, inode) for ident, size, mtime, inode in
              state.execute("SELECT id, size, mtime_ns, inode FROM pushed")}
    todo: list[str] = []
    present: set[str] = set()
    for _sid, ident, size, mtime, inode, last_used in catalog.identities():
        present.add(ident)
        if since is not None:
            if last_used >= since:
                todo.append(ident)
        elif pushed.get(ident) != (size, mtime, inode) or ident in queued:
            todo.append(ident)
    gone = [ident for ident in {*pushed, *queued} if ident not in present]
    return todo, gone


def _texts(store: SessionStore, ident: str) -> tuple[dict[int, tuple[str, str]],
                                                     dict[tuple[int, int], str | None]]:
    """A session's prompts and answers per turn, and its tool outputs per call."""
    from clinvk.errors import ClinvkError

    try:
        session = store.read(ident)
    except ClinvkError:
        return {}, {}
    turns = {pos: (t.prompt, t.response) for pos, t in enumerate(session.turns)}
    outputs = {(pos, idx): c.output_preview for pos, t in enumerate(session.turns)
               for idx, c in enumerate(t.tool_calls)}
    return turns, outputs


def _strings(text: str) -> list[str]:
    """A JSON list of strings as the catalog keeps tags and paths."""
    import json

    value = json.loads(text)
    return [p for p in value if isinstance(p, str)] if isinstance(value, list) else []


def _write_batch(pg: psycopg.Connection[Any], rows: Rows, store: SessionStore,
                 target: Target, machine: str, repo: RepoNames,
                 cals: dict[str, LocalCalendar]) -> None:
    ids = {sid: ident for sid, ident, *_ in rows.sessions}
    texts: dict[str, tuple[dict[int, tuple[str, str]], dict[tuple[int, int], str | None]]] = {}
    if target.share_text:
        texts = {ident: _texts(store, ident) for ident in ids.values()}
    share = target.share_text
    day, week, month = cals["day"].period, cals["week"].period, cals["month"].period
    with pg.transaction(), pg.cursor() as cur:
        with cur.copy("COPY stage_sessions FROM STDIN") as copy:
            for (_sid, ident, backend, status, created, last_used, model, tags, title, workdir,
                 tokens, cost, origin, backend_sid, _size, _mtime, _inode, *sums
                 ) in rows.sessions:
                copy.write_row((ident, backend, status, origin, created, last_used, model,
                                title if share else "", workdir, repo(workdir), _strings(tags),
                                backend_sid, tokens, cost, *sums))
        with cur.copy("COPY stage_turns FROM STDIN") as copy:
            for sid, pos, started, *rest in rows.turns:
                ident = ids[sid]
                prompt = response = None
                if share:
                    prompt, response = texts[ident][0].get(pos, (None, None))
                copy.write_row((ident, pos, started, *rest, day(started)[0], week(started)[0],
                                month(started)[0], prompt, response))
        with cur.copy("COPY stage_splits FROM STDIN") as copy:
            for sid, *split in rows.splits:
                copy.write_row((ids[sid], *split))
        with cur.copy("COPY stage_tools FROM STDIN") as copy:
            for sid, turn, idx, name, kind, status, summary, paths in rows.tool_calls:
                ident = ids[sid]
                output = texts[ident][1].get((turn, idx)) if share else None
                copy.write_row((ident, turn, idx, name, kind, status, summary, _strings(paths),
                                output))
        args = {"member": target.member, "machine": machine, "host": socket.gethostname(),
                "tz": zone_name()}
        for statement in _UPSERT:
            cur.execute(statement.encode(), args)


def zone_name() -> str:
    """The local time zone's name, as far as it is known (TZ, /etc/localtime)."""
    import os

    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        return name
    try:
        target = os.path.realpath("/etc/localtime")
    except OSError:
        return "localtime"
    return target.split("zoneinfo/", 1)[1] if "zoneinfo/" in target else "localtime"


def _claim(pg: psycopg.Connection[Any], member: str) -> None:
    """Claim the member name for this database role, or TeamError if another has it."""
    from clinvk.team.connect import TeamError

    with pg.transaction():
        pg.execute("INSERT INTO clinvk.members(member) VALUES (%s) ON CONFLICT DO NOTHING",
                   (member,))
        row = pg.execute("SELECT role, current_user FROM clinvk.members WHERE member = %s",
                         (member,)).fetchone()
    if row is not None and row[0] != row[1]:
        raise TeamError(f"the member name {member!r} belongs to the database role {row[0]!r}, "
                        f"not {row[1]!r}",
                        hint="set team.member to your own name, or connect as that role")


def _follow_share_text(pg: psycopg.Connection[Any], state: sqlite3.Connection,
                       target: Target, machine: str) -> None:
    """With ``share_text`` off, clear the text this machine shared before (titles,
    prompts, answers, tool outputs), once: the push state remembers whether text may be
    on the server (``text_shared``; unknown counts as yes)."""
    if target.share_text:
        # Noted before any text is sent, so that a push cut short is cleared later too.
        local.put(state, "text_shared", "1")
        return
    if local.get(state, "text_shared") == "0":
        return
    owner = (target.member, machine)
    with pg.transaction():
        pg.execute("UPDATE clinvk.sessions SET title = '' WHERE member = %s AND machine = %s "
                   "AND title <> ''", owner)
        pg.execute("UPDATE clinvk.turns SET prompt = NULL, response = NULL WHERE member = %s "
                   "AND machine = %s AND (prompt IS NOT NULL OR response IS NOT NULL)", owner)
        pg.execute("UPDATE clinvk.tool_calls SET output = NULL WHERE member = %s "
                   "AND machine = %s AND output IS NOT NULL", owner)
    local.put(state, "text_shared", "0")


def _prune(pg: psycopg.Connection[Any], member: str, machine: str, present: set[str],
           dry_run: bool) -> int:
    remote = [ident for (ident,) in pg.execute(
        "SELECT id FROM clinvk.sessions WHERE member = %s AND machine = %s",
        (member, machine))]
    extra = [ident for ident in remote if ident not in present]
    if extra and not dry_run:
        with pg.transaction():
            pg.execute("DELETE FROM clinvk.sessions WHERE member = %s AND machine = %s "
                       "AND id = ANY(%s)", (member, machine, extra))
    return len(extra)


def push(store: SessionStore, target: Target, *, since: float | None = None,
         dry_run: bool = False, prune: bool = False, deadline: float | None = None,
         statement_timeout_s: float = 0, batch: int = BATCH_SESSIONS) -> Outcome:
    """Push what changed; ``deadline`` (monotonic) stops between batches (the rest waits
    for the next push)."""
    from clinvk.catalog import Catalog
    from clinvk.catalog.ingest import calendars
    from clinvk.team import migrations
    from clinvk.team.connect import connection, fingerprint

    began = time.monotonic()
    state = local.connect(store.root)
    try:
        machine = local.machine_id(state)
        outcome = Outcome(target.member, machine, dry_run=dry_run)
        catalog = Catalog.open(store)
        try:
            if dry_run:
                queued = local.queued(state)
                todo, _gone = _candidates(catalog, state, since, queued)
                for i in range(0, len(todo), batch):
                    rows = catalog.export(todo[i:i + batch])
                    outcome.sessions += len(rows.sessions)
                    outcome.turns += len(rows.turns)
                    outcome.tool_calls += len(rows.tool_calls)
                outcome.queued = len(queued)
                if prune:
                    with connection(target.url) as pg:
                        migrations.check(pg)
                        present = {ident for _s, ident, *_ in catalog.identities()}
                        outcome.pruned = _prune(pg, target.member, machine, present, True)
                return outcome
            with connection(target.url, statement_timeout_s=statement_timeout_s) as pg:
                migrations.check(pg)
                _claim(pg, target.member)
                local.use_target(state, fingerprint(pg, target.member))
                _follow_share_text(pg, state, target, machine)
                pg.execute(_STAGE.encode())
                pg.commit()
                started = time.time()
                queued = local.queued(state)
                todo, gone = _candidates(catalog, state, since, queued)
                if gone:
                    local.forget(state, gone)
                repo = RepoNames()
                cals = calendars()
                for i in range(0, len(todo), batch):
                    if deadline is not None and time.monotonic() > deadline:
                        break
                    rows = catalog.export(todo[i:i + batch])
                    if rows.sessions:
                        _write_batch(pg, rows, store, target, machine, repo, cals)
                    done = [(row[1], row[14], row[15], row[16]) for row in rows.sessions]
                    local.mark_pushed(state, done, queued)
                    outcome.sessions += len(rows.sessions)
                    outcome.turns += len(rows.turns)
                    outcome.tool_calls += len(rows.tool_calls)
                    outcome.ids.extend(ident for ident, *_ in done)
                else:
                    local.put(state, "watermark", repr(started))
                if prune:
                    present = {ident for _s, ident, *_ in catalog.identities()}
                    outcome.pruned = _prune(pg, target.member, machine, present, False)
        finally:
            catalog.close()
        watermark = local.get(state, "watermark")
        outcome.watermark = float(watermark) if watermark else None
        outcome.queued = len(local.queued(state))
    finally:
        state.close()
    outcome.seconds = time.monotonic() - began
    return outcome

