"""`clinvk wait ID…`: block until background turns (`--detach`) end."""

from __future__ import annotations

from typing import Annotated, Literal

from cyclopts import Parameter

from clinvk import completion
from clinvk.errors import SessionError, TimedOutError, UsageError

__all__ = ["wait"]

# How often the records are looked at: the wait ends at most this long after a turn does.
POLL = 0.03

# A turn status → the exit code `clinvk prompt` had for it.
EXIT_FOR = {"ok": 0, "error": 1, "timeout": 124, "cancelled": 130, "interrupted": 130}


def wait(
    ident: Annotated[list[str], Parameter(name="ID", completer=completion.session_ids)],
    /,
    *,
    timeout: float | None = None,
    any_: Annotated[bool, Parameter(name="--any", negative="")] = False,
    output_format: Annotated[Literal["text", "json"],
                             Parameter(name=["--output-format", "-o"])] = "text",
) -> int:
    """Wait until the running turns of these sessions end; exit with the first failure's code.

    Exit 0 when every turn succeeded, else the exit code the first failed one (in the
    order given) had: 1, 124 or 130. A session not running is already done.

    Example: clinvk wait 3fk2a9 8bq0zz --timeout 600

    Parameters
    ----------
    ident
        Session ids or unique prefixes.
    timeout
        Give up after this many seconds (exit 124; the turns keep running).
    any_
        Return as soon as one of them ends, with its exit code.
    output_format
        text (one line per session: id, status) or json.
    """
    import math
    import os
    import time

    from clinvk.commands.run import open_store
    from clinvk.liveness import runner_dead
    from clinvk.recovery import recover

    if timeout is not None and not (math.isfinite(timeout) and timeout >= 0):
        raise UsageError(f"--timeout {timeout:g} is not valid: expected a number of seconds ≥ 0")
    store = open_store()
    idents: list[str] = []
    for text in ident:
        full = store.resolve(text, not_found_exit=4)
        if full not in idents:
            idents.append(full)
    deadline = None if timeout is None else time.monotonic() + timeout
    # id → (file mtime, runner pid, its start time) when last seen running
    seen: dict[str, tuple[int, int | None, float | None]] = {}
    ended: dict[str, tuple[str, str | None]] = {}  # id → (turn status, error)
    while True:
        for full in idents:
            if full in ended:
                continue
            path = store.path_for(full)
            try:
                stamp = os.stat(path).st_mtime_ns
            except FileNotFoundError:
                raise SessionError(f"session {full} was deleted while waiting") from None
            last_seen = seen.get(full)
            if last_seen is not None and last_seen[0] == stamp \
                    and not runner_dead("running", last_seen[1], last_seen[2]):
                continue  # unchanged since the last look, and its runner is alive
            session = store.read(full)
            if session.status == "running" and runner_dead(session.status, session.pid,
                                                           session.pid_start):
                session = recover(store, full) or store.read(full)
            if session.status == "running":
                seen[full] = (stamp, session.pid, session.pid_start)
                continue
            last = session.turns[-1] if session.turns else None
            ended[full] = ((last.status, last.error) if last is not None else ("ok", None))
        if len(ended) == len(idents) or (any_ and ended):
            break
        if deadline is not None and time.monotonic() >= deadline:
            left = len(idents) - len(ended)
            raise TimedOutError(f"{left} of {len(idents)} turns still running after "
                                f"{timeout:g}s", hint="they keep running; wait again or "
                                "`clinvk cancel ID`")
        time.sleep(POLL)
    _show(idents, ended, output_format)
    for full in idents:
        if full in ended and EXIT_FOR.get(ended[full][0], 1):
            return EXIT_FOR.get(ended[full][0], 1)
    return 0


def _show(idents: list[str], ended: dict[str, tuple[str, str | None]], fmt: str) -> None:
    from clinvk.output import out, print_json

    rows = [{"id": full, "status": ended[full][0] if full in ended else "running",
             "exit_code": EXIT_FOR.get(ended[full][0], 1) if full in ended else None,
             "error": ended[full][1] if full in ended else None} for full in idents]
    if fmt == "json":
        print_json({"sessions": rows})
        return
    for row in rows:
        out(f"{row['id']}  {row['status']}" + (f"  {row['error']}" if row["error"] else ""))
