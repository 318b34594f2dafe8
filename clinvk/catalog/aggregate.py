"""`sessions stats` as SQL: GROUP BY over the sums the catalog keeps.

Each session row carries the sums of all its turns, and ``splits`` the sums of its turns
per model, local day, ISO week and month. So for every session whose turns all fall in
the time range (or with no range), a group's numbers are sums of those rows: one
GROUP BY, no turn read. Only the sessions that straddle an edge of the range (turns
inside and outside it) are added up turn by turn, from ``turns``, with the same counting
rules (clinvk.stats).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from clinvk.catalog.queries import Dead, Filter, filtered, status_sql, where
from clinvk.catalog.schema import SUM_COLUMNS
from clinvk.model import STATUSES
from clinvk.periods import LocalCalendar
from clinvk.stats import NO_TAG, Report, Totals, TurnFact, sum_turns
from clinvk.stats import priced as is_priced

_INF = float("inf")


_TOKENS = ("i0", "i1", "i2", "i3", "i4")


def _sum_sql(alias: str) -> str:
    parts = []
    for col in SUM_COLUMNS:
        if col == "first":
            parts.append(f"min(CASE WHEN {alias}.n > 0 THEN {alias}.first END)")
        elif col == "last":
            parts.append(f"max(CASE WHEN {alias}.n > 0 THEN {alias}.last END)")
        elif col in _TOKENS:
            # total(): a float, where sum() of huge counts would overflow 64 bits.
            parts.append(f"total({alias}.{col})")
        else:
            parts.append(f"coalesce(sum({alias}.{col}), 0)")
    return ", ".join(parts)


_TOKEN_POSITIONS = [SUM_COLUMNS.index(c) for c in _TOKENS]


def _priced(alias: str) -> str:
    # As stats.priced: a priced turn, or cost a turn of another period spent here (all
    # four are never negative: one sum tells).
    return (f"coalesce(sum({alias}.rep_n + {alias}.comp_n + {alias}.rep_cost "
            f"+ {alias}.comp_cost > 0), 0)")


def _sums(values: tuple[Any, ...]) -> Any:
    sums = list(values)
    for i in _TOKEN_POSITIONS:
        sums[i] = int(sums[i])
    first, last = sums[-2], sums[-1]
    sums[-2] = _INF if first is None else first
    sums[-1] = -_INF if last is None else last
    return tuple(sums)


def _whole_sql(start: float | None, end: float | None) -> tuple[str, list[Any]]:
    """Sessions whose turns (or, without turns, whose last use) all lie in the range."""
    if start is None and end is None:
        return "", []
    lo = -_INF if start is None else start
    hi = _INF if end is None else end
    # A turn starts before its session's last use: last_used >= lo narrows by an index.
    return ((" AND s.last_used >= ? AND (CASE WHEN s.n > 0 THEN s.first >= ? AND s.last < ? "
             "ELSE s.last_used < ? END)"), [lo, lo, hi, hi])


def aggregate(conn: sqlite3.Connection, by: str | None, start: float | None, end: float | None,
              flt: Filter, dead: Dead) -> Report:
    report = Report(by, start, end)
    cond, params = where(flt, dead)
    whole, whole_params = _whole_sql(start, end)
    cond = (cond or " WHERE 1") + whole
    params = [*params, *whole_params]
    if by in ("backend", "workdir"):
        # Each session is in exactly one group: the totals are the groups added up.
        _groups(conn, report, by, dead, cond, params, everything=False)
        for group in report.groups.values():
            report.totals.absorb(group)
    else:
        # Groups by model or period partition the turns of the sessions (and what their
        # requests spent): the totals' turn sums are the groups' added up, so the
        # sessions need only be counted here (a third of the time of adding them up).
        by_turn = by in ("model", "day", "week", "month")
        head, args = _head(dead, "s", turn_sums=not by_turn)
        row = conn.execute(f"SELECT {head} FROM sessions s{cond}", [*args, *params]).fetchone()
        _add_row(report.totals, row)
        if by is not None:
            everything = not filtered(flt) and start is None and end is None
            _groups(conn, report, by, dead, cond, params, everything, start is not None)
            if by_turn:
                for group in report.groups.values():
                    report.totals.merge(group)
    if start is not None or end is not None:
        _straddlers(conn, report, flt, dead, start, end)
    return report


def _head(dead: Dead, alias: str, sums: str | None = None, *, turn_sums: bool = True
          ) -> tuple[str, list[Any]]:
    """The aggregate columns of a group: sessions, sessions per shown status (of rows
    ``alias``), priced sessions, then (``turn_sums``) the turn sums (SUM_COLUMNS, of rows
    ``sums``, default ``alias``) — and the parameters they take."""
    status, status_params = status_sql(dead, alias)
    counts = ", ".join(f"coalesce(sum({status} = '{s}'), 0)" for s in STATUSES)
    sums = sums or alias
    tail = f", {_sum_sql(sums)}" if turn_sums else ""
    # The shown status is used once per status column.
    return (f"count(*), {counts}, {_priced(sums)}{tail}", status_params * len(STATUSES))


def _add_row(group: Totals, row: tuple[Any, ...]) -> None:
    """Add a row of _head's columns to a group (its turn sums, if it has them)."""
    group.sessions += row[0]
    for s, n in zip(STATUSES, row[1:1 + len(STATUSES)]):
        group.by_status[s] += n
    rest = row[1 + len(STATUSES):]
    group.priced_sessions += rest[0]
    if len(rest) > 1:
        group.add(_sums(rest[1:]))


def _groups(conn: sqlite3.Connection, report: Report, by: str, dead: Dead, cond: str,
            params: list[Any], everything: bool, ranged: bool = False) -> None:
    """The groups of the sessions that ``cond`` selects (``everything``: all of them;
    ``ranged``: a time range is part of ``cond``)."""
    by_turn = by in ("model", "day", "week", "month")
    head, args = _head(dead, "g" if by_turn and everything else "s", "g" if by_turn else "s")
    queries: list[tuple[str, list[Any]]] = []
    if by in ("backend", "workdir"):
        sql = f"SELECT s.{by}, {head} FROM sessions s{cond} GROUP BY 1"
        queries.append((sql, [*args, *params]))
    elif by == "tag":
        # Each session's (distinct) tags from its own row: no index lookup per session.
        sql = f"SELECT j.value, {head} FROM sessions s, json_each(s.tags) j{cond} GROUP BY 1"
        queries.append((sql, [*args, *params]))
        sql = f"SELECT '{NO_TAG}', {head} FROM sessions s{cond} AND s.tags = '[]'"
        queries.append((sql, [*args, *params]))
    else:
        if by in ("day", "week", "month"):
            ensure_time_zone(conn)
        if everything:
            # In (kind, key) order: one pass, no sort, no join.
            sql = f"SELECT g.key, {head} FROM splits g WHERE g.kind = ? GROUP BY 1"
            queries.append((sql, [*args, by]))
        else:
            # With a range, the sessions come first, by their index of last use (a turn
            # starts before its session's last use), then their splits.
            join = "sessions s CROSS JOIN splits g" if ranged else "splits g JOIN sessions s"
            sql = f"SELECT g.key, {head} FROM {join} ON s.sid = g.sid{cond} AND g.kind = ?"
            queries.append((sql + " GROUP BY 1", [*args, *params, by]))
    for sql, sql_args in queries:
        for row in conn.execute(sql, sql_args):
            if not row[1]:
                continue
            group = report.groups.get(row[0])
            if group is None:
                group = report.groups[row[0]] = Totals(row[0])
            _add_row(group, row[1:])


def ensure_time_zone(conn: sqlite3.Connection) -> None:
    """The splits' day, week and month keys computed in the local time zone."""
    from clinvk.catalog import ingest, refresh, schema

    if schema.get_meta(conn, "tz") != ingest.tz_fingerprint():
        refresh.resplit(conn)


def _straddlers(conn: sqlite3.Connection, report: Report, flt: Filter, dead: Dead,
                start: float | None, end: float | None) -> None:
    """Add the sessions with turns both inside and outside the range, turn by turn."""
    lo = -_INF if start is None else start
    hi = _INF if end is None else end
    cond, params = where(flt, dead)
    cond = (cond or " WHERE 1") + (" AND s.last_used >= ? AND s.n > 0 AND s.first < ? "
                                   "AND s.last >= ? AND NOT (s.first >= ? AND s.last < ?)")
    status, status_params = status_sql(dead)
    sessions = {r[0]: r[1:] for r in conn.execute(
        f"SELECT s.sid, s.id, {status}, s.backend, s.workdir, s.tags FROM sessions s{cond}",
        [*status_params, *params, lo, hi, lo, lo, hi])}
    if not sessions:
        return
    import msgspec

    from clinvk.catalog.ingest import spent_by_turn, split_sums

    by = report.by
    calendar = LocalCalendar(by) if by in ("day", "week", "month") else None
    spent = spent_by_turn(conn, list(sessions)) if calendar is not None else {}
    facts: dict[int, list[TurnFact]] = {}
    for r in conn.execute(
            "SELECT sid, started, duration, model, status, i0, i1, i2, i3, i4, cost, "
            "cost_source, pos FROM turns WHERE sid IN (SELECT value FROM json_each(?)) "
            "AND started >= ? AND started < ? ORDER BY sid, pos",
            (msgspec.json.encode(list(sessions)).decode(), lo, hi)):
        usage = None if r[5] is None else (r[5], r[6], r[7], r[8], r[9])
        facts.setdefault(r[0], []).append(TurnFact(r[1], r[2], r[3], r[4], usage, r[10], r[11],
                                                   spent.get((r[0], r[12]), ())))
    extra = Report(by, start, end)
    for sid, in_range in facts.items():
        ident, status_, backend, workdir, tags = sessions[sid]
        sums = sum_turns(in_range)
        priced = is_priced(sums)
        extra.totals.add_session(ident, status_, priced)
        extra.totals.add(sums)
        if by is None:
            continue
        if by in ("backend", "workdir", "tag"):
            keys = ([backend] if by == "backend" else [workdir] if by == "workdir"
                    else msgspec.json.decode(tags, type=list[str]) or [NO_TAG])
            for key in keys:
                group = _group(extra, key)
                group.add_session(ident, status_, priced)
                group.add(sums)
            continue
        for key, part_sums in split_sums(in_range, calendar):
            group = _group(extra, key)
            group.add_session(ident, status_, is_priced(part_sums))
            group.add(part_sums)
    report.totals.absorb(extra.totals)
    for key, group in extra.groups.items():
        _group(report, key).absorb(group)


def spent(conn: sqlite3.Connection, start: float | None, end: float | None
          ) -> tuple[float, int]:
    """The cost of the turns started in [start, end), and the count of finished turns
    that used tokens (or succeeded) without a price."""
    usd, unpriced = conn.execute(
        "SELECT total(cost), coalesce(sum(cost IS NULL AND status != 'running' AND "
        "(i0 IS NOT NULL OR status = 'ok')), 0) FROM turns WHERE started >= ? AND started < ?",
        (-_INF if start is None else start, _INF if end is None else end)).fetchone()
    return float(usd), int(unpriced)


def recent_cost(conn: sqlite3.Connection, backend: str, turns: int) -> float | None:
    """The average recorded cost of ``backend``'s last ``turns`` finished turns (an
    unpriced turn adds nothing, as in ``spent``); None if it has none."""
    count, usd = conn.execute(
        "SELECT count(*), total(cost) FROM (SELECT t.cost FROM turns t JOIN sessions s "
        "ON s.sid = t.sid WHERE s.backend = ? AND t.status != 'running' "
        "ORDER BY t.started DESC LIMIT ?)", (backend, turns)).fetchone()
    return float(usd) / count if count else None


def _group(report: Report, key: str) -> Totals:
    found = report.groups.get(key)
    if found is None:
        found = report.groups[key] = Totals(key)
    return found
