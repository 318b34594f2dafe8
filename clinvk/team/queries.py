"""The team store's questions, answered by the server: `team list`, `team show` and
`team stats` (SQL aggregates, counted by clinvk.stats' rules so that a team total is the
sum of each machine's `sessions stats`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

    from clinvk.catalog.tools import ToolReport
    from clinvk.stats import Report, Totals

GROUPS = ("member", "machine", "backend", "model", "day", "week", "month", "workdir", "repo",
          "tool")


@dataclass
class TeamFilter:
    """The `team list` / `team stats` filters (None or empty: no condition)."""

    backend: str | None = None
    status: str | None = None
    tags: list[str] = field(default_factory=list)
    search: str | None = None
    workdir: str | None = None
    origin: str | None = None
    touched: list[str] = field(default_factory=list)
    member: str | None = None
    machine: str | None = None
    repo: str | None = None
    # last use in [used_from, used_until) (list), turn start in [start, end) (stats)
    used_from: float | None = None
    used_until: float | None = None


# The filters that are one column equal to one value (same name in TeamFilter).
_EQUALS = ("backend", "status", "workdir", "origin", "member", "repo")


def _session_where(flt: TeamFilter, s: str = "s") -> tuple[list[str], dict[str, Any]]:
    conds: list[str] = []
    args: dict[str, Any] = {}
    for column in _EQUALS:
        value = getattr(flt, column)
        if value:
            conds.append(f"{s}.{column} = %({column})s")
            args[column] = value
    if flt.tags:
        conds.append(f"{s}.tags @> %(tags)s")
        args["tags"] = list(flt.tags)
    if flt.machine:
        conds.append(f"({s}.machine = %(machine)s OR {s}.host = %(machine)s)")
        args["machine"] = flt.machine
    if flt.used_from is not None:
        conds.append(f"{s}.last_used >= to_timestamp(%(used_from)s)")
        args["used_from"] = flt.used_from
    if flt.used_until is not None:
        conds.append(f"{s}.last_used < to_timestamp(%(used_until)s)")
        args["used_until"] = flt.used_until
    if flt.touched:
        conds.append(f"EXISTS (SELECT 1 FROM clinvk.tool_calls c WHERE c.member = {s}.member "
                     f"AND c.machine = {s}.machine AND c.id = {s}.id "
                     "AND c.paths && %(touched)s)")
        args["touched"] = list(flt.touched)
    if flt.search:
        like = "%" + flt.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conds.append(
            f"({s}.title ILIKE %(like)s OR {s}.workdir ILIKE %(like)s OR EXISTS ("
            f"SELECT 1 FROM clinvk.turns t WHERE t.member = {s}.member AND t.machine = "
            f"{s}.machine AND t.id = {s}.id AND (t.prompt ILIKE %(like)s OR t.response "
            f"ILIKE %(like)s)) OR EXISTS (SELECT 1 FROM clinvk.tool_calls c WHERE "
            f"c.member = {s}.member AND c.machine = {s}.machine AND c.id = {s}.id AND "
            f"(c.summary ILIKE %(like)s OR array_to_string(c.paths, ' ') ILIKE %(like)s)))")
        args["like"] = like
    return conds, args


_LIST_COLUMNS = ("member, machine, host, id, backend, status, origin, "
                 "extract(epoch FROM created), extract(epoch FROM last_used), model, title, "
                 "workdir, repo, tags, turns, tokens, cost")


@dataclass
class TeamRow:
    member: str
    machine: str
    host: str
    id: str
    backend: str
    status: str
    origin: str
    created: float
    last_used: float
    model: str | None
    title: str
    workdir: str
    repo: str
    tags: list[str]
    turns: int
    tokens: int | None
    cost: float | None

    def to_json(self) -> dict[str, Any]:
        from clinvk.output import iso

        return {"id": self.id, "member": self.member, "machine": self.machine,
                "host": self.host, "backend": self.backend, "status": self.status,
                "created_at": iso(self.created), "last_used_at": iso(self.last_used),
                "model": self.model, "tags": self.tags, "title": self.title,
                "workdir": self.workdir, "repo": self.repo, "tokens": self.tokens,
                "turns": self.turns, "cost_usd": self.cost, "origin": self.origin}


def _row(values: tuple[Any, ...]) -> TeamRow:
    (member, machine, host, ident, backend, status, origin, created, last_used, model, title,
     workdir, repo, tags, turns, tokens, cost) = values
    return TeamRow(member, machine, host, ident, backend, status, origin, float(created),
                   float(last_used), model, title, workdir, repo, list(tags), int(turns),
                   None if tokens is None else int(tokens), cost)


def rows(pg: psycopg.Connection[Any], flt: TeamFilter, offset: int, limit: int | None
         ) -> tuple[list[TeamRow], int]:
    """One page of sessions, last used first, and how many match in all."""
    conds, args = _session_where(flt)
    where = (" WHERE " + " AND ".join(conds)) if conds else ""
    args["offset"] = offset
    page = "" if limit is None else " LIMIT %(limit)s"
    if limit is not None:
        args["limit"] = limit
    found = [_row(r) for r in pg.execute(
        f"SELECT {_LIST_COLUMNS} FROM clinvk.sessions s{where} "
        f"ORDER BY last_used DESC, id, member, machine{page} OFFSET %(offset)s".encode(), args)]
    total_row = pg.execute(f"SELECT count(*) FROM clinvk.sessions s{where}".encode(),
                           args).fetchone()
    return found, int(total_row[0]) if total_row else 0


def find(pg: psycopg.Connection[Any], prefix: str) -> list[TeamRow]:
    """The sessions whose id starts with ``prefix`` (any member, any machine)."""
    like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return [_row(r) for r in pg.execute(
        f"SELECT {_LIST_COLUMNS} FROM clinvk.sessions WHERE id LIKE %s "
        "ORDER BY last_used DESC LIMIT 20".encode(), (like,))]


def details(pg: psycopg.Connection[Any], row: TeamRow) -> tuple[list[dict[str, Any]],
                                                               dict[int, list[dict[str, Any]]]]:
    """A session's turns and, per turn, its tool calls."""
    key = (row.member, row.machine, row.id)
    turns = []
    for (pos, started, duration, model, status, i0, i1, i2, i3, i4, cost, source, prompt,
         response) in pg.execute(
            "SELECT pos, extract(epoch FROM started), duration, model, status, input_tokens, "
            "output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, cost, "
            "cost_source, prompt, response FROM clinvk.turns WHERE member = %s AND "
            "machine = %s AND id = %s ORDER BY pos", key):
        usage = None if i0 is None else {
            "input_tokens": i0, "output_tokens": i1, "cache_read_tokens": i2,
            "cache_write_tokens": i3, "reasoning_tokens": i4}
        turns.append({"index": pos + 1, "started": float(started), "duration_s": duration,
                      "model": model, "status": status, "usage": usage, "cost_usd": cost,
                      "cost_source": source, "prompt": prompt, "response": response})
    calls: dict[int, list[dict[str, Any]]] = {}
    for turn, name, kind, status, summary, paths, output in pg.execute(
            "SELECT turn, name, kind, status, summary, paths, output FROM clinvk.tool_calls "
            "WHERE member = %s AND machine = %s AND id = %s ORDER BY turn, idx", key):
        calls.setdefault(turn, []).append({"name": name, "kind": kind, "status": status,
                                           "summary": summary, "paths": list(paths),
                                           "output_preview": output})
    return turns, calls


# ------------------------------------------------------------------ stats
#
# As the catalog does it (clinvk.catalog.aggregate): every session keeps the sums of its
# turns, ``splits`` its sums per model and per local day, week and month; a session whose
# turns all fall in the range (or with no range) adds those rows, one GROUP BY on the
# server, no turn read. Only sessions that straddle an edge of the range are added up
# turn by turn (each turn keeps its day, week and month keys).

_SESSION_KEYS = {"member": "s.member", "machine": "s.host || ' (' || s.machine || ')'",
                 "backend": "s.backend", "workdir": "s.workdir", "repo": "s.repo"}
_SPLIT_KINDS = ("model", "day", "week", "month")
_TURN_KEYS = {"model": "coalesce(t.model, '(unknown)')", "day": "t.day", "week": "t.week",
              "month": "t.month"}


def _sums_of(alias: str) -> str:
    from clinvk.team.migrations import SUM_COLUMNS

    parts = []
    for col in SUM_COLUMNS:
        if col == "first_started":
            parts.append(f"min({alias}.{col}) FILTER (WHERE {alias}.turns > 0)")
        elif col == "last_started":
            parts.append(f"max({alias}.{col}) FILTER (WHERE {alias}.turns > 0)")
        else:
            parts.append(f"coalesce(sum({alias}.{col}), 0)")
    return ", ".join(parts)


def _head(alias: str) -> str:
    """sessions, priced sessions, the turn sums (clinvk.stats.Sums) of rows ``alias``."""
    # Priced as clinvk.stats.priced: a priced turn, or cost spent here by a turn that
    # started in another period (the splits follow each API request's time).
    return (f"count(*), count(*) FILTER (WHERE {alias}.reported_turns + "
            f"{alias}.computed_turns + {alias}.reported_cost + {alias}.computed_cost > 0), "
            f"{_sums_of(alias)}")


_TURN_SUMS = """count(*) AS turns, coalesce(sum(t.duration), 0) AS duration,
    count(t.duration) AS timed, coalesce(sum(t.input_tokens), 0) AS input_tokens,
    coalesce(sum(t.output_tokens), 0) AS output_tokens,
    coalesce(sum(t.cache_read_tokens), 0) AS cache_read_tokens,
    coalesce(sum(t.cache_write_tokens), 0) AS cache_write_tokens,
    coalesce(sum(t.reasoning_tokens), 0) AS reasoning_tokens,
    coalesce(sum(t.cost) FILTER (WHERE t.cost_source = 'reported'), 0) AS reported_cost,
    count(t.cost) FILTER (WHERE t.cost_source = 'reported') AS reported_turns,
    coalesce(sum(t.cost) FILTER (WHERE t.cost_source <> 'reported'), 0) AS computed_cost,
    count(t.cost) FILTER (WHERE t.cost_source <> 'reported') AS computed_turns,
    count(*) FILTER (WHERE t.input_tokens IS NOT NULL AND t.cost IS NULL) AS unpriced_turns,
    count(*) FILTER (WHERE t.input_tokens IS NULL AND t.cost IS NULL) AS bare_turns,
    extract(epoch FROM min(t.started))::float8 AS first_started,
    extract(epoch FROM max(t.started))::float8 AS last_started"""


def _grouped(pg: psycopg.Connection[Any], by: str | None, flt: TeamFilter,
             start: float | None, end: float | None) -> list[tuple[Any, ...]]:
    """(key, status, sessions, priced sessions, the 16 sums) per key and session status."""
    conds, args = _session_where(flt)
    ranged = start is not None or end is not None
    args["lo"] = -1e11 if start is None else start
    args["hi"] = 1e12 if end is None else end
    whole = list(conds)
    if ranged:
        whole.append("s.last_used >= to_timestamp(%(lo)s) AND CASE WHEN s.turns > 0 THEN "
                     "s.first_started >= %(lo)s AND s.last_started < %(hi)s "
                     "ELSE s.last_used < to_timestamp(%(hi)s) END")
    queries = []
    if by in _SPLIT_KINDS:
        args["kind"] = by
        where = " AND ".join(["g.kind = %(kind)s", *whole])
        join = (" JOIN clinvk.sessions s ON s.member = g.member AND s.machine = g.machine "
                "AND s.id = g.id") if whole else ""
        queries.append(f"SELECT g.key, g.status, {_head('g')} FROM clinvk.splits g{join} "
                       f"WHERE {where} GROUP BY 1, 2")
    else:
        key = _SESSION_KEYS.get(by or "", "''")
        where = (" WHERE " + " AND ".join(whole)) if whole else ""
        queries.append(f"SELECT {key}, s.status, {_head('s')} FROM clinvk.sessions s{where} "
                       "GROUP BY 1, 2")
    if ranged:
        key = _TURN_KEYS.get(by or "") or _SESSION_KEYS.get(by or "", "''")
        edge = " AND ".join([
            *conds, "s.turns > 0", "s.last_used >= to_timestamp(%(lo)s)",
            "s.first_started < %(hi)s", "s.last_started >= %(lo)s",
            "NOT (s.first_started >= %(lo)s AND s.last_started < %(hi)s)",
            "t.started >= to_timestamp(%(lo)s)", "t.started < to_timestamp(%(hi)s)"])
        queries.append(f"""SELECT key, status, {_head('x')} FROM (
            SELECT {key} AS key, s.status AS status, {_TURN_SUMS}
            FROM clinvk.sessions s JOIN clinvk.turns t
                ON t.member = s.member AND t.machine = s.machine AND t.id = s.id
            WHERE {edge}
            GROUP BY 1, 2, s.member, s.machine, s.id) x GROUP BY 1, 2""")
    found: list[tuple[Any, ...]] = []
    for query in queries:
        found.extend(pg.execute(query.encode(), args).fetchall())
    return found


def _fill(totals: Totals, rows: list[tuple[Any, ...]]) -> None:
    for _key, status, sessions, priced, *sums in rows:
        totals.sessions += int(sessions)
        totals.by_status[status] = totals.by_status.get(status, 0) + int(sessions)
        totals.priced_sessions += int(priced)
        (n, duration, timed, i0, i1, i2, i3, i4, rep, rep_n, comp, comp_n, unpriced, bare,
         first, last) = sums
        totals.add((int(n), float(duration), int(timed), int(i0), int(i1), int(i2), int(i3),
                    int(i4), float(rep), int(rep_n), float(comp), int(comp_n), int(unpriced),
                    int(bare), float("inf") if first is None else float(first),
                    float("-inf") if last is None else float(last)))


def aggregate(pg: psycopg.Connection[Any], by: str | None, start: float | None,
              end: float | None, flt: TeamFilter) -> Report:
    """The totals and, with ``by`` (not tool), one Totals per group."""
    from clinvk.stats import Report, Totals

    report = Report(by, start, end)
    _fill(report.totals, _grouped(pg, None, flt, start, end))
    if by is not None and by != "tool":
        per: dict[str, list[tuple[Any, ...]]] = {}
        for row in _grouped(pg, by, flt, start, end):
            per.setdefault(str(row[0]), []).append(row)
        for key, found in per.items():
            report.groups[key] = group = Totals(key)
            _fill(group, found)
    return report


def tools(pg: psycopg.Connection[Any], start: float | None, end: float | None,
          flt: TeamFilter) -> ToolReport:
    """The tool calls of the filtered sessions' turns started in [start, end)."""
    from clinvk.catalog.tools import ToolGroup, ToolReport

    conds, args = _session_where(flt)
    if start is not None:
        conds.append("t.started >= to_timestamp(%(start)s)")
        args["start"] = start
    if end is not None:
        conds.append("t.started < to_timestamp(%(end)s)")
        args["end"] = end
    where = (" WHERE " + " AND ".join(conds)) if conds else ""
    join = """FROM clinvk.tool_calls c
        JOIN clinvk.sessions s ON s.member = c.member AND s.machine = c.machine AND s.id = c.id
        JOIN clinvk.turns t ON t.member = c.member AND t.machine = c.machine AND t.id = c.id
            AND t.pos = c.turn"""
    report = ToolReport()
    for name, kind, calls, errors, denied, sessions in pg.execute(
            f"""SELECT c.name, c.kind, count(*), count(*) FILTER (WHERE c.status = 'error'),
                count(*) FILTER (WHERE c.status = 'denied'),
                count(DISTINCT (c.member, c.machine, c.id))
            {join}{where} GROUP BY c.name, c.kind
            ORDER BY count(*) DESC, c.name, c.kind""".encode(), args):
        report.groups.append(ToolGroup(name, kind, int(calls), int(errors), int(denied),
                                       int(sessions)))
    row = pg.execute(f"SELECT count(DISTINCT (c.member, c.machine, c.id)) {join}{where}"
                     .encode(), args).fetchone()
    report.sessions = int(row[0]) if row else 0
    return report
