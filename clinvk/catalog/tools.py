"""The tool calls the catalog keeps, counted: `sessions stats --by tool` and the `Tools:`
line of plain `sessions stats`.

One GROUP BY over ``tool_calls`` per (tool name, kind): calls, errors, denied calls and
the sessions that made them. A session filter joins ``sessions``; a time range keeps the
calls of the turns started in it (joined through ``turns``), as the other stats do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from clinvk.catalog.queries import Dead, Filter, filtered, where

if TYPE_CHECKING:
    import sqlite3

_INF = float("inf")
MOST_USED = 3  # tool names the Tools: line names


@dataclass
class ToolGroup:
    """The calls of one tool (name and kind)."""

    name: str
    kind: str
    calls: int = 0
    errors: int = 0
    denied: int = 0
    sessions: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"key": self.name, "name": self.name, "kind": self.kind, "calls": self.calls,
                "errors": self.errors, "denied": self.denied,
                "error_rate": rate(self.errors, self.calls), "sessions": self.sessions}


def rate(part: int, whole: int) -> float | None:
    return None if not whole else round(part / whole, 6)


@dataclass
class ToolReport:
    """Every tool's calls, most called first, and their sums."""

    groups: list[ToolGroup] = field(default_factory=list)
    sessions: int = 0  # sessions with at least one call

    @property
    def calls(self) -> int:
        return sum(g.calls for g in self.groups)

    @property
    def errors(self) -> int:
        return sum(g.errors for g in self.groups)

    @property
    def denied(self) -> int:
        return sum(g.denied for g in self.groups)

    def most_used(self, n: int = MOST_USED) -> list[tuple[str, int]]:
        """The ``n`` tool names with the most calls (a name of several kinds counted once)."""
        by_name: dict[str, int] = {}
        for g in self.groups:
            by_name[g.name] = by_name.get(g.name, 0) + g.calls
        return sorted(by_name.items(), key=lambda item: (-item[1], item[0]))[:n]

    def to_json(self) -> dict[str, Any]:
        return {"calls": self.calls, "errors": self.errors, "denied": self.denied,
                "error_rate": rate(self.errors, self.calls), "sessions": self.sessions,
                "most_used": [{"name": name, "calls": calls}
                              for name, calls in self.most_used()]}


def tool_report(conn: sqlite3.Connection, start: float | None, end: float | None,
                flt: Filter, dead: Dead) -> ToolReport:
    """The tool calls of the filtered sessions' turns started in [start, end)."""
    joins = ""
    params: list[Any] = []
    if filtered(flt):
        cond, params = where(flt, dead)
        joins += f" JOIN sessions s ON s.sid = c.sid{cond.replace(' WHERE ', ' AND ', 1)}"
    if start is not None or end is not None:
        joins += " JOIN turns t ON t.sid = c.sid AND t.pos = c.turn AND t.started >= ? " \
                 "AND t.started < ?"
        params = [*params, -_INF if start is None else start, _INF if end is None else end]
    report = ToolReport()
    for name, kind, calls, errors, denied, sessions in conn.execute(
            "SELECT c.name, c.kind, count(*), coalesce(sum(c.status = 'error'), 0), "
            "coalesce(sum(c.status = 'denied'), 0), count(DISTINCT c.sid) "
            f"FROM tool_calls c{joins} GROUP BY 1, 2", params):
        report.groups.append(ToolGroup(name, kind, calls, errors, denied, sessions))
    report.groups.sort(key=lambda g: (-g.calls, g.name, g.kind))
    report.sessions = int(conn.execute(
        f"SELECT count(DISTINCT c.sid) FROM tool_calls c{joins}", params).fetchone()[0])
    return report
