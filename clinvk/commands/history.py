"""`clinvk sessions history ID`: every turn of a session, for a person or a script."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from cyclopts import Parameter

if TYPE_CHECKING:
    from clinvk.model import Session


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
        if turn.response:
            out(turn.response)
        if turn.error:
            out(f"error: {turn.error}")
        if turn.warning:
            out(f"warning: {turn.warning}")
        out()


def history(ident: Annotated[str, Parameter(name="ID")], /, *, json: bool = False) -> int:
    """Every turn of a session: time, prompt, answer, tokens, cost, duration, exit code.

    Example: clinvk sessions history 3fk2a9 --json

    Parameters
    ----------
    ident
        The session id or a unique prefix.
    json
        Print {"id": ..., "turns": [...]} with each turn's full record.
    """
    from clinvk.store import SessionStore

    session = SessionStore().load(ident)
    if json:
        import msgspec

        from clinvk.output import print_json

        print_json({"id": session.id, "turns": msgspec.to_builtins(session.turns)})
        return 0
    print_turns(session)
    return 0
