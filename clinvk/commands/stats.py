"""`clinvk sessions stats`: how much was used — sessions, turns, time, tokens, cost."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from cyclopts import Parameter

from clinvk import completion
from clinvk.commands.params import BackendName, TagFilter
from clinvk.errors import UsageError

if TYPE_CHECKING:
    from clinvk.catalog import Catalog
    from clinvk.catalog.tools import ToolReport
    from clinvk.config import Config
    from clinvk.stats import Report, Totals

CSV_COLUMNS = (
    "group", "sessions", "active", "completed", "error", "paused", "running", "turns",
    "duration_s", "avg_turn_duration_s", "input_tokens", "output_tokens", "cache_read_tokens",
    "cache_write_tokens", "reasoning_tokens", "total_tokens", "cost_usd", "reported_cost_usd",
    "reported_turns", "computed_cost_usd", "computed_turns", "unpriced_turns",
    "no_usage_turns", "avg_cost_per_session_usd",
)
TOOL_CSV_COLUMNS = ("tool", "kind", "calls", "errors", "denied", "error_rate", "sessions")


def stats(
    *,
    range_: Annotated[str | None, Parameter(name="--range")] = None,
    since: str | None = None,
    until: str | None = None,
    by: Annotated[str | None, Parameter(completer=completion.stats_groups)] = None,
    backend: BackendName = None,
    tag: TagFilter = None,
    here: bool = False,
    json: bool = False,
    csv: bool = False,
) -> int:
    """Totals of sessions, turns, time, tokens and cost, optionally per group.

    Costs keep their provenance: reported by the vendor, computed from prices, or
    unpriced (counted, never taken as $0).

    Example: clinvk sessions stats --range 30d --by model

    Parameters
    ----------
    range_
        Only turns started in: today, yesterday, 7d, 30d, thismonth, lastmonth, all.
    since
        Only turns started on or after this date (YYYY-MM-DD or ISO 8601).
    until
        Only turns started before this moment; a plain date includes that day.
    by
        One row per: backend, model, day, week, month, workdir, tag, tool (tool calls
        per tool name and kind).
    backend
        Only sessions of this backend.
    tag
        Only sessions with this tag (repeat for all of several).
    here
        Only sessions whose working directory is the current directory.
    json
        Print {"totals": {...}, "groups": [...], "budget": [...], ...} (see docs/stats.md).
    csv
        Print CSV: one row per group (or one "total" row without --by).
    """
    from clinvk.commands.sessions import (
        here_dir,
        make_filter,
        open_catalog,
        open_store,
        report_skipped,
    )
    from clinvk.native.auto import auto_sync
    from clinvk.stats import check_group
    from clinvk.timespec import window

    if json and csv:
        raise UsageError("--json and --csv exclude each other")
    from clinvk.config import load

    config = load().config  # read once: for sync.auto and the budget caps
    auto_sync(config)
    check_group(by)
    start, end = window(range_, since, until)
    flt = make_filter(backend=backend, tags=tag, workdir=here_dir() if here else None)
    catalog = open_catalog(open_store())
    # --by tool: the usual totals, and the tool calls per tool instead of the groups.
    report = catalog.aggregate(by, start, end, flt)
    caps = budget_usage(catalog, config) if not csv else []
    tools = catalog.tools(start, end, flt)
    report_skipped(catalog)
    if json:
        from clinvk.output import print_json

        print_json({**report_json(report, range_, backend, tag, here, tools), "budget": caps})
    elif csv:
        write_csv(report, tools)
    else:
        print_text(report, range_, tools, caps)
    return 0


def budget_usage(catalog: Catalog, config: Config) -> list[dict[str, Any]]:
    """The [budget] caps that are set and how much of each is spent (clinvk.budget)."""
    from clinvk.budget import usage

    return usage(config.budget, catalog)


def budget_text(caps: list[dict[str, Any]]) -> str:
    """daily $4.20 of $5.00 (84%) · monthly …; unpriced turns named, as the caps do."""
    from clinvk.output import money

    parts = []
    for cap in caps:
        used = "" if cap["used"] is None else f" ({cap['used']:.0%})"
        part = f"{cap['cap']} {money(cap['spent_usd'])} of {money(cap['limit_usd'])}{used}"
        if cap["unpriced_turns"]:
            part += f", {cap['unpriced_turns']:,} unpriced turn(s) not counted"
        parts.append(part)
    return " · ".join(parts)


def report_json(report: Report, range_: str | None, backend: str | None,
                tags: list[str] | None, here: bool, tools: ToolReport | None = None
                ) -> dict[str, Any]:
    from clinvk.output import iso

    found = {
        "range": {
            "name": range_,
            "start": iso(report.start) if report.start is not None else None,
            "end": iso(report.end) if report.end is not None else None,
        },
        "filters": {"backend": backend, "tags": tags or [], "here": here},
        "by": report.by,
        "totals": report.totals.to_json(),
        "groups": ([{"key": g.key, **g.to_json()} for g in report.sorted_groups()]
                   if report.by else None),
    }
    if tools is not None:
        found["tools"] = tools.to_json()
        if report.by == "tool":
            found["groups"] = [g.to_json() for g in tools.groups]
    return found


def _csv_row(key: str, t: Totals) -> list[object]:
    data = t.to_json()
    tokens = data["tokens"]
    cost = data["cost"]

    def cell(value: object) -> object:
        return "" if value is None else value

    return [
        key, t.sessions, *(t.by_status.get(s, 0) for s in
                           ("active", "completed", "error", "paused", "running")),
        t.turns, data["duration_s"], cell(data["avg_turn_duration_s"]),
        tokens["input"], tokens["output"], tokens["cache_read"], tokens["cache_write"],
        tokens["reasoning"], tokens["total"], cell(data["cost_usd"]), cost["reported_usd"],
        cost["reported_turns"], cost["computed_usd"], cost["computed_turns"],
        cost["unpriced_turns"], cost["no_usage_turns"], cell(data["avg_cost_per_session_usd"]),
    ]


def write_csv(report: Report, tools: ToolReport | None = None) -> None:
    import csv as csvlib
    import sys

    writer = csvlib.writer(sys.stdout, lineterminator="\n")
    if report.by == "tool" and tools is not None:
        writer.writerow(TOOL_CSV_COLUMNS)
        for tg in tools.groups:
            data = tg.to_json()
            writer.writerow([tg.name, tg.kind, tg.calls, tg.errors, tg.denied,
                             "" if data["error_rate"] is None else data["error_rate"],
                             tg.sessions])
        return
    writer.writerow(CSV_COLUMNS)
    if report.by:
        for g in report.sorted_groups():
            writer.writerow(_csv_row(g.key, g))
    else:
        writer.writerow(_csv_row("total", report.totals))


def span(seconds: float) -> str:
    """12.3s, 4m 05s, 3h 12m, 2d 4h."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def _range_label(report: Report, range_: str | None) -> str:
    from clinvk.output import local_time

    if report.start is None and report.end is None:
        return "all time"
    parts = []
    if report.start is not None:
        parts.append(f"from {local_time(report.start)}")
    if report.end is not None:
        parts.append(f"until {local_time(report.end)}")
    label = " ".join(parts)
    return f"{range_} ({label})" if range_ else label


def cost_text(t: Totals) -> str:
    from clinvk.output import money

    cost = t.cost
    if cost is None:
        text = "- (no priced turns)"
    else:
        pieces = []
        if t.reported_turns:
            pieces.append(f"reported {money(t.reported_cost)} over {t.reported_turns:,} turns")
        if t.computed_turns:
            pieces.append(f"computed {money(t.computed_cost)} over {t.computed_turns:,} turns")
        text = f"{money(cost)} ({' · '.join(pieces)})"
    if t.unpriced_turns:
        text += f"; {t.unpriced_turns:,} turn(s) unpriced, not included"
    return text


def tools_text(tools: ToolReport) -> str:
    """The Tools: line: calls, how many failed, the most used tools."""
    if not tools.calls:
        return "no tool calls recorded"
    from clinvk.output import count

    text = (f"{count(tools.calls, 'call')} · {count(tools.errors, 'error')} "
            f"({tools.errors / tools.calls:.1%})")
    if tools.denied:
        text += f" · {tools.denied:,} denied"
    most = ", ".join(f"{name} {calls:,}" for name, calls in tools.most_used())
    return f"{text} · most used: {most}"


def summary(report: Report, range_: str | None, tools: ToolReport | None = None,
            caps: list[dict[str, Any]] | None = None) -> list[tuple[str, str]]:
    """The totals of plain `sessions stats` as (label, text) lines (also the browser's)."""
    from clinvk.output import money, tokens

    t = report.totals
    statuses = " · ".join(f"{k} {v:,}" for k, v in t.by_status.items() if v)
    avg_turn = f" · {span(t.duration / t.timed_turns)} per turn" if t.timed_turns else ""
    tk = t.tokens
    lines = [
        ("Range", _range_label(report, range_)),
        ("Sessions", f"{t.sessions:,}" + (f" ({statuses})" if statuses else "")),
        ("Turns", f"{t.turns:,}" + (f" ({t.no_usage_turns:,} without usage)"
                                    if t.no_usage_turns else "")),
        ("Duration", f"{span(t.duration)} total{avg_turn}"),
        ("Tokens", (f"input {tokens(tk[0])} · output {tokens(tk[1])} · cache read "
                    f"{tokens(tk[2])} · cache write {tokens(tk[3])} · reasoning "
                    f"{tokens(tk[4])} · total {tokens(t.total_tokens)}")),
        ("Cost", cost_text(t)),
    ]
    cost = t.cost
    if cost is not None and t.priced_sessions:
        per = money(cost / t.priced_sessions)
        lines.append(("Per session", f"{per} (over {t.priced_sessions:,} priced sessions)"))
    if tools is not None:
        lines.append(("Tools", tools_text(tools)))
    if caps:
        lines.append(("Budget", budget_text(caps)))
    return lines


def print_text(report: Report, range_: str | None, tools: ToolReport | None = None,
               caps: list[dict[str, Any]] | None = None) -> None:
    from clinvk.output import fields, money, out, table, terminal_width, tokens

    out(fields(summary(report, range_, tools, caps)))
    if not report.by:
        return
    if report.by == "tool":
        _print_tools(tools)
        return
    rows = []
    for g in report.sorted_groups():
        rows.append([
            g.key, f"{g.sessions:,}", f"{g.turns:,}", span(g.duration),
            tokens(g.tokens[0]), tokens(g.tokens[1]), tokens(g.tokens[2]),
            tokens(g.tokens[3]), tokens(g.tokens[4]), money(g.cost),
            f"{g.unpriced_turns:,}" if g.unpriced_turns else "-",
        ])
    out()
    out(table([report.by.upper(), "SESSIONS", "TURNS", "DURATION", "INPUT", "OUTPUT",
               "CACHE READ", "CACHE WRITE", "REASONING", "COST", "UNPRICED"], rows,
              fit=terminal_width(), shrink=0, optional=_droppable(rows)))


def _print_tools(tools: ToolReport | None) -> None:
    from clinvk.output import out, table, terminal_width

    if tools is None or not tools.groups:
        return
    rows = [[g.name, g.kind, f"{g.calls:,}", f"{g.errors:,}", f"{g.denied:,}",
             f"{g.errors / g.calls:.1%}", f"{g.sessions:,}"] for g in tools.groups]
    out()
    out(table(["TOOL", "KIND", "CALLS", "ERRORS", "DENIED", "ERROR RATE", "SESSIONS"], rows,
              fit=terminal_width(), shrink=0, optional=[4, 6, 5]))


# Columns a narrow terminal loses first (the totals above still name every figure).
_DROP_ORDER = (7, 8, 6, 3, 2, 5, 10)


def _droppable(rows: list[list[str]]) -> list[int]:
    """The optional columns of the --by table, the ones that say nothing first."""
    empty = [i for i in _DROP_ORDER if all(row[i] in ("0", "-") for row in rows)]
    return empty + [i for i in _DROP_ORDER if i not in empty]
