"""`clinvk team …`: this machine's sessions in a shared PostgreSQL database (docs/team.md).

init creates or migrates the schema, push copies what changed, list/show/stats ask the
server. psycopg is imported by these commands only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from cyclopts import App, Parameter

from clinvk.errors import UsageError

if TYPE_CHECKING:
    from clinvk.team.connect import Target
    from clinvk.team.queries import TeamFilter, TeamRow

app = App(name="team", help="Share sessions with a team through a PostgreSQL database.")

RangeName = Literal["today", "yesterday", "7d", "30d", "thismonth", "lastmonth", "all"]
GroupName = Literal["member", "machine", "backend", "model", "day", "week", "month", "workdir",
                    "repo", "tool"]


def _target() -> Target:
    from clinvk.config import load
    from clinvk.team.connect import target

    return target(load().config)


@app.command
def init(*, json: bool = False) -> int:
    """Create the team store's tables in the database, or migrate them; safe to repeat.

    Run it once as the database's owner (see docs/team.md for the roles it grants).

    Example: clinvk team init

    Parameters
    ----------
    json
        Print {"from_version": N, "version": M, "applied": [...]}.
    """
    from clinvk.output import out, print_json
    from clinvk.team import migrations
    from clinvk.team.connect import connection

    target = _target()
    with connection(target.url) as pg:
        found, applied = migrations.migrate(pg)
    if json:
        print_json({"from_version": found, "version": migrations.LATEST, "applied": applied})
    elif applied:
        out(f"team store schema {'created' if found == 0 else 'migrated'}: version "
            f"{migrations.LATEST}")
    else:
        out(f"team store schema already at version {migrations.LATEST}")
    return 0


@app.command
def push(
    *,
    since: str | None = None,
    dry_run: bool = False,
    prune: bool = False,
    json: bool = False,
    background: Annotated[bool, Parameter(show=False)] = False,
) -> int:
    """Upsert every session changed since the last push into the team store.

    Idempotent: a second push with nothing changed sends nothing. A session deleted
    here stays in the team store unless --prune.

    Example: clinvk team push --dry-run

    Parameters
    ----------
    since
        Push every session used on or after this date (YYYY-MM-DD or ISO 8601), pushed
        before or not.
    dry_run
        Only say how many sessions, turns and tool calls would be pushed.
    prune
        Also delete from the team store this machine's sessions deleted here.
    json
        Print {"sessions": N, "turns": N, "tool_calls": N, "pruned": N, ...}.
    background
        The detached auto-push process (team.auto_push): time-boxed, quiet, one push at
        a time.
    """
    from clinvk.output import err, print_json
    from clinvk.store import SessionStore
    from clinvk.team.push import push as run_push

    store = SessionStore()
    if background:
        return _background(store)
    start = None
    if since is not None:
        from clinvk.timespec import parse_date

        start = parse_date(since).timestamp()
    target = _target()
    if dry_run:
        outcome = run_push(store, target, since=start, dry_run=True, prune=prune)
    else:
        from clinvk.team import auto

        fd = auto.try_lock(store.root, wait=True)
        assert fd is not None
        try:
            outcome = run_push(store, target, since=start, prune=prune)
        finally:
            auto.unlock(fd)
        auto.record_failure(store.root, None)
        if not outcome.queued:
            from clinvk.team import pusher

            pusher.clear_due(store.root)
    if json:
        print_json(outcome.to_json())
        return 0
    verb = "would push" if dry_run else "pushed"
    text = (f"{verb} {outcome.sessions:,} session(s), {outcome.turns:,} turn(s), "
            f"{outcome.tool_calls:,} tool call(s) as {outcome.member} (machine "
            f"{outcome.machine})")
    if prune:
        text += f"; {'would prune' if dry_run else 'pruned'} {outcome.pruned:,}"
    if not dry_run:
        text += f" in {outcome.seconds:.1f}s"
    err(text)
    return 0


def _background(store: Any) -> int:
    """The auto-push process: push while the outbox has sessions, within BUDGET_S. A
    server out of reach is tried again with backoff (FIRST_RETRY_S, doubling) while the
    time box lasts; then, or after any other failure, the next pusher is due RETRY_S
    later."""
    import sys
    import time

    from clinvk.config import load
    from clinvk.errors import ClinvkError
    from clinvk.team import auto, pusher
    from clinvk.team.connect import UnreachableError
    from clinvk.team.push import push as run_push

    root = store.root
    if not load().config.team.auto_push:
        pusher.clear_due(root)  # turned off since: the outbox waits for `clinvk team push`
        return 0
    deadline = time.monotonic() + pusher.BUDGET_S
    delay = auto.FIRST_RETRY_S
    while True:
        fd = auto.try_lock(root)
        if fd is None:
            return 0  # another pusher runs
        failed, transient = None, False
        try:
            # Also after each push: a turn queued while it finished found it under way.
            if not auto.outbox_waiting(root):
                pusher.clear_due(root)
                return 0
            try:
                left = max(1.0, deadline - time.monotonic())
                run_push(store, _target(), deadline=deadline, statement_timeout_s=left)
            except ClinvkError as exc:
                failed, transient = exc.message, isinstance(exc, UnreachableError)
                auto.record_failure(root, failed)
                stamp = datetime.now(UTC).isoformat(timespec="seconds")
                sys.stderr.write(f"{stamp} clinvk: team push failed: {failed}\n")
                sys.stderr.flush()
            else:
                auto.record_failure(root, None)
        finally:
            auto.unlock(fd)
        if failed is None:
            if time.monotonic() > deadline:
                # Time is up: the next command after a short pause goes on.
                pusher.set_due(root, time.time() + auto.FIRST_RETRY_S)
                return 0
            continue
        # Only a server out of reach may answer later; a refusal or a bad setting will not.
        if not transient or time.monotonic() + delay > deadline:
            pusher.set_due(root, time.time() + pusher.RETRY_S)
            return 1
        pusher.set_due(root, time.time() + delay + pusher.BUDGET_S)  # this pusher is on it
        time.sleep(delay)
        delay *= 2


def _filter(*, backend: str | None, status: str | None, tags: list[str] | None,
            search: str | None, range_: str | None, since: str | None, here: bool,
            origin: str | None, touched: str | None, member: str | None, machine: str | None,
            repo: str | None, for_stats: bool = False) -> TeamFilter:
    from clinvk.commands.sessions import check_status, here_dir, touched_paths
    from clinvk.team.queries import TeamFilter

    check_status(status)
    flt = TeamFilter(backend=backend, status=status, tags=list(tags or []),
                     search=search or None, workdir=here_dir() if here else None,
                     origin=origin, touched=touched_paths(touched) if touched else [],
                     member=member, machine=machine, repo=repo)
    if not for_stats:
        from clinvk.timespec import window

        flt.used_from, flt.used_until = window(range_, since, None)
    return flt


@app.command(name="list")
def list_(
    *,
    member: str | None = None,
    machine: str | None = None,
    repo: str | None = None,
    backend: Annotated[str | None, Parameter(name=["--backend", "-b"])] = None,
    status: str | None = None,
    limit: Annotated[int | None, Parameter(name=["--limit", "-n"])] = None,
    offset: int = 0,
    tag: Annotated[list[str] | None, Parameter(name=["--tag", "-t"])] = None,
    search: Annotated[str | None, Parameter(name=["--search", "-q"])] = None,
    range_: Annotated[RangeName | None, Parameter(name="--range")] = None,
    since: str | None = None,
    here: bool = False,
    origin: Literal["clinvk", "native"] | None = None,
    touched: str | None = None,
    json: bool = False,
) -> int:
    """List the team's sessions, newest first.

    Example: clinvk team list --member alice@laptop --repo api --range 7d

    Parameters
    ----------
    member
        Only this member's sessions.
    machine
        Only sessions of this machine (its id or host name).
    repo
        Only sessions whose working directory is in this repository (its directory name).
    backend
        Only sessions of this backend.
    status
        Only sessions with this status: active, completed, error, paused, running.
    limit
        How many rows (default: session.list_limit, 20); 0 shows all.
    offset
        Skip this many rows first.
    tag
        Only sessions with this tag (repeat for all of several).
    search
        Case-insensitive text in titles, working directories, tool call summaries and
        paths (and prompts and answers where shared).
    range_
        Only sessions last used in: today, yesterday, 7d, 30d, thismonth, lastmonth, all.
    since
        Only sessions last used on or after this date (YYYY-MM-DD or ISO 8601).
    here
        Only sessions whose working directory is the current directory.
    origin
        Only sessions started through clinvk, or only adopted ones (native).
    touched
        Only sessions whose tool calls read or changed this file (relative to the
        current directory, as paths are recorded on each machine).
    json
        Print {"items": [...], "total": N, "limit": L, "offset": O}.
    """
    from clinvk.commands.sessions import check_paging
    from clinvk.config import load
    from clinvk.team import migrations, queries
    from clinvk.team.connect import connection, target

    check_paging(limit, offset)
    flt = _filter(backend=backend, status=status, tags=tag, search=search, range_=range_,
                  since=since, here=here, origin=origin, touched=touched, member=member,
                  machine=machine, repo=repo)
    config = load().config
    if limit is None:
        limit = config.session.list_limit
    with connection(target(config).url) as pg:
        migrations.check(pg)
        found, total = queries.rows(pg, flt, offset, limit or None)
    if json:
        from clinvk.output import print_json

        print_json({"items": [r.to_json() for r in found], "total": total, "limit": limit,
                    "offset": offset})
        return 0
    _print_rows(found)
    from clinvk.output import err

    shown_to = offset + len(found)
    if total > shown_to:
        err(f"Showing {offset + 1 if found else 0}-{shown_to} of {total} sessions "
            f"(-n 0 shows all; --offset {shown_to} for more).")
    elif not found:
        err("no sessions in the team store match" if total == 0 and offset == 0 else
            "no more sessions")
    return 0


def _print_rows(found: list[TeamRow]) -> None:
    if not found:
        return
    from clinvk.output import money, one_line, out, relative, table, terminal_width, tokens

    now = datetime.now(UTC)
    cells = [[r.id[:8], r.member, r.host, r.backend, r.status, relative(r.last_used, now),
              tokens(r.tokens), money(r.cost), one_line(r.title or f"({r.repo})", 50)]
             for r in found]
    out(table(["ID", "MEMBER", "HOST", "BACKEND", "STATUS", "LAST USED", "TOKENS", "COST",
               "TITLE"], cells, fit=terminal_width(), shrink=-1, optional=(6, 7, 5, 2)))


@app.command
def show(ident: Annotated[str, Parameter(name="ID")], /, *, member: str | None = None,
         json: bool = False) -> int:
    """Show one session of the team store: who, where, its turns and tool calls.

    Example: clinvk team show 3fk2a9

    Parameters
    ----------
    ident
        A session id or a unique prefix of one.
    member
        The member whose session it is, when several members have one with this prefix.
    json
        Print the session with its turns as JSON.
    """
    from clinvk.config import load
    from clinvk.errors import NotFoundError
    from clinvk.team import migrations, queries
    from clinvk.team.connect import connection, target

    if not ident or len(ident) > 64:
        raise UsageError(f"invalid session id: {ident!r}")
    with connection(target(load().config).url) as pg:
        migrations.check(pg)
        found = [r for r in queries.find(pg, ident) if member is None or r.member == member]
        exact = [r for r in found if r.id == ident]
        found = exact or found
        if not found:
            raise NotFoundError(f"no session {ident!r} in the team store",
                                hint="clinvk team list shows what is there")
        if len(found) > 1:
            names = ", ".join(f"{r.id} ({r.member} on {r.host})" for r in found[:5])
            raise UsageError(f"{ident!r} matches several sessions: {names}",
                             hint="give more of the id, or --member")
        row = found[0]
        turns, calls = queries.details(pg, row)
    if json:
        from clinvk.output import iso, print_json

        for turn in turns:
            turn["started_at"] = iso(turn.pop("started"))
            turn["tool_calls"] = calls.get(turn["index"] - 1, [])
        print_json({**row.to_json(), "turns_detail": turns})
        return 0
    _print_show(row, turns, calls)
    return 0


def _print_show(row: TeamRow, turns: list[dict[str, Any]],
                calls: dict[int, list[dict[str, Any]]]) -> None:
    from clinvk.output import fields, local_time, money, one_line, out, tokens

    out(fields([
        ("ID", row.id), ("Member", row.member), ("Machine", f"{row.host} ({row.machine})"),
        ("Backend", row.backend), ("Model", row.model or "-"), ("Status", row.status),
        ("Title", row.title or "(not shared)"), ("Workdir", row.workdir),
        ("Repo", row.repo), ("Tags", ", ".join(row.tags) or "-"),
        ("Created", local_time(row.created)), ("Last used", local_time(row.last_used)),
        ("Turns", f"{row.turns:,}"), ("Tokens", tokens(row.tokens)),
        ("Cost", money(row.cost)),
    ]))
    for turn in turns:
        usage = turn["usage"]
        used = tokens(sum(v for k, v in usage.items() if k != "reasoning_tokens")) \
            if usage else "-"
        out()
        out(f"#{turn['index']} {local_time(turn['started'])} · {turn['status']} · "
            f"{turn['model'] or '-'} · {used} tokens · {money(turn['cost_usd'])}"
            f" ({turn['cost_source']})")
        if turn["prompt"] is not None:
            out(f"  > {one_line(turn['prompt'], 100)}")
        if turn["response"] is not None:
            out(f"  {one_line(turn['response'], 100)}")
        for call in calls.get(turn["index"] - 1, []):
            out(f"  [{call['kind']}] {call['name']} {one_line(call['summary'], 80)}"
                f"{'' if call['status'] == 'ok' else ' (' + call['status'] + ')'}")


@app.command
def stats(
    *,
    by: GroupName | None = None,
    range_: Annotated[RangeName | None, Parameter(name="--range")] = None,
    since: str | None = None,
    until: str | None = None,
    member: str | None = None,
    machine: str | None = None,
    repo: str | None = None,
    backend: Annotated[str | None, Parameter(name=["--backend", "-b"])] = None,
    tag: Annotated[list[str] | None, Parameter(name=["--tag", "-t"])] = None,
    here: bool = False,
    json: bool = False,
) -> int:
    """The team's totals of sessions, turns, time, tokens and cost, optionally per group
    (added up by the database server).

    Costs keep their provenance, as in `sessions stats`: reported, computed, unpriced.

    Example: clinvk team stats --range 7d --by member

    Parameters
    ----------
    by
        One row per: member, machine, backend, model, day, week, month, workdir, repo,
        tool (tool calls per tool name and kind).
    range_
        Only turns started in: today, yesterday, 7d, 30d, thismonth, lastmonth, all.
    since
        Only turns started on or after this date (YYYY-MM-DD or ISO 8601).
    until
        Only turns started before this moment; a plain date includes that day.
    member
        Only this member's sessions.
    machine
        Only sessions of this machine (its id or host name).
    repo
        Only sessions in this repository (its directory name).
    backend
        Only sessions of this backend.
    tag
        Only sessions with this tag (repeat for all of several).
    here
        Only sessions whose working directory is the current directory.
    json
        Print {"totals": {...}, "groups": [...], ...} as `sessions stats --json` does.
    """
    from clinvk.commands.stats import print_text, report_json
    from clinvk.config import load
    from clinvk.team import migrations, queries
    from clinvk.team.connect import connection, target
    from clinvk.timespec import window

    start, end = window(range_, since, until)
    flt = _filter(backend=backend, status=None, tags=tag, search=None, range_=None,
                  since=None, here=here, origin=None, touched=None, member=member,
                  machine=machine, repo=repo, for_stats=True)
    with connection(target(load().config).url) as pg:
        migrations.check(pg)
        report = queries.aggregate(pg, by, start, end, flt)
        tools = queries.tools(pg, start, end, flt)
    if json:
        from clinvk.output import print_json

        found = report_json(report, range_, backend, tag, here, tools)
        found["filters"].update({"member": member, "machine": machine, "repo": repo})
        print_json(found)
    else:
        print_text(report, range_, tools)
    return 0
