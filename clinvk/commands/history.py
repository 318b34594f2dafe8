"""`clinvk sessions history ID`: every turn of a session, or every tool call of it
(`--tools`), for a person or a script."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from clinvk.commands.params import SessionId
from clinvk.errors import NotFoundError, UsageError

if TYPE_CHECKING:
    from clinvk.model import Session, ToolCall
    from clinvk.store import SessionStore


def print_turns(session: Session) -> None:
    from clinvk.output import local_time, money, out, tokens

    if not session.turns:
        out("(no turns)")
        return
    for turn in session.turns:
        used = turn.usage.total if turn.usage is not None else None
        duration = f"{turn.duration_s:.1f}s" if turn.duration_s is not None else "-"
        exit_code = "-" if turn.exit_code is None else str(turn.exit_code)
        cost = money(turn.cost_usd) if turn.cost_usd is not None else turn.cost_source
        out(f"--- turn {turn.index}  {local_time(turn.started_at)}  {turn.status}  "
            f"tokens {tokens(used)}  cost {cost}  {duration}  exit {exit_code}")
        out(f"> {turn.prompt}")
        if turn.tool_calls:
            from clinvk.activity import line, took
            from clinvk.output import safe

            for call in turn.tool_calls:
                out(f"  {safe(line(call))}  {call.status}  {took(call.duration_s)}")
        if turn.files_changed:
            out("  files changed: " + ", ".join(turn.files_changed))
        if turn.response:
            out(turn.response)
        if turn.error:
            out(f"error: {turn.error}")
        if turn.warning:
            out(f"warning: {turn.warning}")
        out()


def history(ident: SessionId | None = None, /, *, last: bool = False, json: bool = False,
            tools: bool = False, kind: str | None = None, status: str | None = None) -> int:
    """Every turn of a session: time, prompt, answer, tokens, cost, duration, exit code.

    With --tools, every tool call of the session instead: one row per call.

    Example: clinvk sessions history 3fk2a9 --tools --status error

    Parameters
    ----------
    ident
        The session id or a unique prefix (omit with --last).
    last
        The most recently used session.
    json
        Print {"id": ..., "turns": [...]} with each turn's full record; with --tools,
        {"id": ..., "tool_calls": [...]} with each call's record and its turn.
    tools
        List the tool calls: TIME, TURN, TOOL, SUMMARY, STATUS, DURATION.
    kind
        With --tools: only calls of this kind (read, edit, write, shell, search, web,
        mcp, agent, other).
    status
        With --tools: only calls with this status (ok, error, denied, cancelled, unknown).
    """
    from clinvk.model import TOOL_KINDS, TOOL_STATUSES
    from clinvk.store import SessionStore

    if (kind is not None or status is not None) and not tools:
        raise UsageError("--kind and --status filter tool calls: add --tools")
    if kind is not None and kind not in TOOL_KINDS:
        raise UsageError(f"invalid tool kind: {kind!r}", hint="valid kinds: " + ", ".join(TOOL_KINDS))
    if status is not None and status not in TOOL_STATUSES:
        raise UsageError(f"invalid tool status: {status!r}",
                         hint="valid statuses: " + ", ".join(TOOL_STATUSES))
    if last and ident is not None:
        raise UsageError("with --last, give no session id")
    if ident is None and not last:
        raise UsageError("no session id given",
                         hint="clinvk sessions history ID, or --last for the latest session")
    store = SessionStore()
    session = store.load(ident if ident is not None else _latest(store))
    if tools:
        return _tools(session, kind=kind, status=status, json=json)
    if json:
        import msgspec

        from clinvk.output import print_json

        print_json({"id": session.id, "turns": msgspec.to_builtins(session.turns)})
        return 0
    print_turns(session)
    return 0


def _latest(store: SessionStore) -> str:
    from clinvk.catalog import Catalog

    rows = list(Catalog.open(store).rows(limit=1).rows)
    if not rows:
        raise NotFoundError("no sessions yet", hint='start one with `clinvk "PROMPT"`')
    return rows[0].id


def _tools(session: Session, *, kind: str | None, status: str | None, json: bool) -> int:
    rows = [(turn.index, call) for turn in session.turns for call in turn.tool_calls
            if (kind is None or call.kind == kind) and (status is None or call.status == status)]
    if json:
        import msgspec

        from clinvk.output import print_json

        items: list[dict[str, Any]] = [{"turn": index, **msgspec.to_builtins(call)}
                                       for index, call in rows]
        print_json({"id": session.id, "tool_calls": items})
        return 0
    from clinvk.activity import took
    from clinvk.output import err, out, table, terminal_width

    if not rows:
        filtered = kind is not None or status is not None
        err("no tool calls" + (" match" if filtered else " in this session"))
        return 0
    cells = [[_time(call), str(index), call.name, call.summary or "-", _status(call),
              took(call.duration_s)]
             for index, call in rows]
    # SUMMARY takes the width a terminal leaves; piped output keeps it whole.
    out(table(["TIME", "TURN", "TOOL", "SUMMARY", "STATUS", "DURATION"], cells,
              fit=terminal_width(), shrink=3, min_shrink=20))
    return 0


def _time(call: ToolCall) -> str:
    if call.started_at is None:
        return "-"
    return call.started_at.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _status(call: ToolCall) -> str:
    if call.exit_code not in (None, 0):
        return f"{call.status} (exit {call.exit_code})"
    return call.status
