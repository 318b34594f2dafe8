"""`clinvk sessions …`: list, show, delete, clean and curate recorded conversations."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Literal

import msgspec
from cyclopts import App, Parameter

from clinvk import completion
from clinvk.commands.params import BackendName, SessionId, Status, TagFilter
from clinvk.errors import SessionBusyError, SessionError, UsageError
from clinvk.model import STATUSES

if TYPE_CHECKING:
    from clinvk.catalog import Catalog, Filter, SessionRow
    from clinvk.model import Session
    from clinvk.store import SessionStore

app = App(
    name="sessions",
    help="List, inspect, resume-prepare, clean and account for recorded sessions.",
)
# The commands are registered at the end of this module, in the order they are offered.

RangeName = Literal["today", "yesterday", "7d", "30d", "thismonth", "lastmonth", "all"]
OriginName = Literal["clinvk", "native"]


def open_store() -> SessionStore:
    from clinvk.store import SessionStore

    return SessionStore()


def open_catalog(store: SessionStore) -> Catalog:
    from clinvk.catalog import Catalog

    return Catalog.open(store)


def report_skipped(catalog: Catalog) -> None:
    from clinvk.output import warn

    for skipped in catalog.skipped:
        warn(f"skipped {skipped.path}: {skipped.reason}")


def check_status(status: str | None) -> None:
    if status is not None and status not in STATUSES:
        raise UsageError(f"invalid status filter: {status!r}",
                         hint="valid statuses: " + ", ".join(STATUSES))


def make_filter(*, backend: str | None = None, status: str | None = None,
                tags: list[str] | None = None, search: str | None = None,
                range_: str | None = None, since: str | None = None, until: str | None = None,
                workdir: str | None = None, older_than: datetime | None = None,
                origin: str | None = None, touched: str | None = None) -> Filter:
    """The list filters from the command line, checked; shared by list, clean, export
    and stats."""
    from clinvk.catalog import Filter
    from clinvk.timespec import window

    check_status(status)
    start, end = window(range_, since, until)
    return Filter(backend=backend, status=status, tags=list(tags or []), search=search or None,
                  workdir=workdir, start=start, end=end,
                  older_than=older_than.timestamp() if older_than else None, origin=origin,
                  touched=touched_paths(touched) if touched is not None else [])


# SQLite's (and PostgreSQL's) integers are 64-bit: a count past this is refused with the
# bound, never an "internal error" of the database.
MAX_COUNT = 2**63 - 1


def check_count(flag: str, value: int) -> None:
    """A count flag (--limit, --offset) no larger than the catalog can take."""
    if value > MAX_COUNT:
        raise UsageError(f"{flag} must be at most {MAX_COUNT}, not {value}")


def check_paging(limit: int | None, offset: int) -> None:
    """--limit and --offset as a listing takes them (shared by list and team list)."""
    if offset < 0:
        raise UsageError("--offset must be 0 or more")
    if limit is not None and limit < 0:
        raise UsageError("--limit must be 0 or more (0 shows all)")
    check_count("--limit", limit or 0)
    check_count("--offset", offset)


def touched_paths(path: str) -> list[str]:
    """The absolute forms of a --touched PATH (against the current directory): as
    written, and with its symlinks resolved, either of which a tool call may have named."""
    import os

    if not path or "\0" in path:
        raise UsageError("--touched needs a file path", hint="e.g. --touched src/auth.go")
    plain = os.path.abspath(path)
    return list(dict.fromkeys([plain, os.path.realpath(plain)]))


class ListItem(msgspec.Struct):
    """One session as `sessions list --json` prints it (docs/json-output.md)."""

    id: str
    backend: str
    status: str
    created_at: datetime
    last_used_at: datetime
    model: str | None
    tags: list[str]
    title: str
    workdir: str
    tokens: int | None
    turns: int
    cost_usd: float | None
    origin: str


def list_item(s: SessionRow) -> ListItem:
    stamp = datetime.fromtimestamp
    return ListItem(s.id, s.backend, s.status, stamp(s.created, UTC),
                    stamp(s.last_used, UTC), s.model, s.tags, s.title, s.workdir,
                    s.tokens, s.turns, s.cost, s.origin)


def here_dir() -> str:
    import os

    return os.path.realpath(os.getcwd())


def list_(
    *,
    backend: BackendName = None,
    status: Status = None,
    limit: Annotated[int | None, Parameter(name=["--limit", "-n"])] = None,
    offset: int = 0,
    tag: TagFilter = None,
    search: Annotated[str | None, Parameter(name=["--search", "-q"])] = None,
    range_: Annotated[RangeName | None, Parameter(name="--range")] = None,
    since: str | None = None,
    here: bool = False,
    origin: OriginName | None = None,
    touched: str | None = None,
    json: bool = False,
) -> int:
    """List sessions, newest first.

    Example: clinvk sessions list -b codex --range 7d

    Parameters
    ----------
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
        Case-insensitive text in titles, prompts, answers, tool call summaries and paths.
    range_
        Only sessions last used in: today, yesterday, 7d, 30d, thismonth, lastmonth, all.
    since
        Only sessions last used on or after this date (YYYY-MM-DD or ISO 8601).
    here
        Only sessions whose working directory is the current directory.
    origin
        Only sessions started through clinvk, or only those adopted from the vendor
        CLIs' own transcripts by `clinvk sessions sync` (native).
    touched
        Only sessions whose tool calls read or changed this file (relative to the
        current directory).
    json
        Print {"items": [...], "total": N, "limit": L, "offset": O}.
    """

    check_paging(limit, offset)
    flt = make_filter(backend=backend, status=status, tags=tag, search=search, range_=range_,
                      since=since, workdir=here_dir() if here else None, origin=origin,
                      touched=touched)
    from clinvk.config import load

    config = load().config
    if limit is None:
        limit = config.session.list_limit
    if config.sync.auto:
        from clinvk.native.auto import auto_sync

        auto_sync(config)
    store = open_store()
    catalog = open_catalog(store)
    page = catalog.rows(flt, offset, limit or None, snippets=not json)
    if json:
        _write_json(settled(store, page.rows), page.total, limit, offset)
        report_skipped(catalog)
        return 0
    rows = list(settled(store, page.rows))
    total = page.total
    report_skipped(catalog)
    _print_table(store, rows, search=bool(flt.search))
    shown_to = offset + len(rows)
    if total > shown_to and rows or (offset and total):
        from clinvk.output import err

        more = f"; --offset {shown_to} for more" if total > shown_to else ""
        err(f"Showing {offset + 1 if rows else 0}-{shown_to} of {total} sessions "
            f"(-n 0 shows all{more}).")
    elif not rows:
        from clinvk.catalog.queries import filtered
        from clinvk.output import err

        err("no sessions" + (" match" if filtered(flt) else
                             " yet: start one with `clinvk \"PROMPT\"`"))
    return 0


def settled(store: SessionStore, rows: Iterator[SessionRow]) -> Iterator[SessionRow]:
    """The rows; a turn left `running` by a clinvk that died is settled in its record on
    the way (clinvk.recovery), which only such rows pay for."""
    for row in rows:
        if row.recorded_status == "running" and row.status != "running":
            from clinvk.recovery import recover

            recover(store, row.id)
        yield row


def _write_json(rows: Iterator[SessionRow], total: int, limit: int, offset: int) -> None:
    """{"items": [...], "total": N, "limit": L, "offset": O}, byte for byte what
    print_json of the whole object gives, written as the rows come (constant memory)."""
    encode = msgspec.json.Encoder().encode
    fmt = msgspec.json.format
    write = sys.stdout.buffer.write
    sep = b",\n    "
    batch: list[bytes] = []
    first = True
    write(b'{\n  "items": [')
    for row in rows:
        batch.append(fmt(encode(list_item(row)), indent=2).replace(b"\n", b"\n    "))
        if len(batch) >= 500:
            write((b"\n    " if first else sep) + sep.join(batch))
            first, batch = False, []
    if batch:
        write((b"\n    " if first else sep) + sep.join(batch))
        first = False
    write((b"]" if first else b"\n  ]") + f',\n  "total": {total},\n  "limit": {limit},\n  '
          f'"offset": {offset}\n}}\n'.encode())
    sys.stdout.flush()


def _print_table(store: SessionStore, rows: list[SessionRow], *, search: bool = False) -> None:
    if not rows:
        return
    from clinvk.output import (
        STATUS_COLORS,
        one_line,
        out,
        relative,
        table,
        terminal_width,
        tokens,
        use_color,
    )

    color = use_color()
    now = datetime.now(UTC)
    cells = []
    colors = []
    prefixes = store.short_ids([s.id for s in rows])
    headers = ["ID", "BACKEND", "STATUS", "LAST USED", "TOKENS", "TITLE/PROMPT"]
    for s in rows:
        cells.append([
            prefixes[s.id],
            s.backend,
            s.status,
            relative(s.last_used, now),
            tokens(s.tokens),
            one_line(s.title or "(no prompt)", 60 if not search else 40),
        ])
        colors.append(["\033[33m", "", STATUS_COLORS.get(s.status, ""), "\033[2m", "", ""])
        if search:
            # Where the text was found: the words that matched in [ ].
            cells[-1].append(one_line(s.snippet or "", 80))
            colors[-1].append("")
    if search:
        headers.append("MATCH")
    # On a terminal the last column gets the width that remains (narrow ones lose
    # TOKENS, then LAST USED, first); piped output keeps every column at full width.
    out(table(headers, cells, colors=colors, color=color, fit=terminal_width(), shrink=-1,
              optional=(4, 3)))


def show(ident: SessionId, /, *, json: bool = False,
         turns: bool = False) -> int:
    """Show one session: backend, model, status, times, workdir, tokens, cost, tags.

    Example: clinvk sessions show 3fk2a9 --turns

    Parameters
    ----------
    ident
        The session id or a unique prefix of at least 4 characters.
    json
        Print the whole record as JSON.
    turns
        Also show each turn: prompt, answer, tokens, duration, exit code.
    """
    from clinvk.liveness import effective_status

    store = open_store()
    session = store.load(ident)
    status = effective_status(session.status, session.pid, session.pid_start)
    if session.status == "running" and status != "running":
        from clinvk.recovery import recover

        session = recover(store, session.id) or session
    if json:
        import msgspec

        from clinvk.output import print_json

        record = msgspec.to_builtins(session)
        record["status"] = status
        print_json(record)
        return 0
    from clinvk.output import fields, out

    out(fields(show_fields(session, status)))
    if turns:
        from clinvk.commands.history import print_turns

        out()
        print_turns(session)
    return 0


def show_fields(session: Session, status: str, now: datetime | None = None
                ) -> list[tuple[str, str]]:
    """What `sessions show` says of a session, as (label, text) lines (also the
    browser's detail view); ``status`` is the shown one."""
    from clinvk.output import local_time, money, relative, tokens

    usage = session.usage_total()
    known = session.tokens() is not None
    cost = session.cost()
    unpriced = sum(1 for t in session.turns if t.usage is not None and t.cost_usd is None)
    lines = [
        ("ID", session.id),
        ("Title", session.title or "-"),
        ("Backend", session.backend),
        ("Model", session.model or "-"),
        ("Status", status + (f" ({session.reason})" if session.reason and status == "error" else "")),
        ("Created", f"{local_time(session.created_at)} ({relative(session.created_at, now)})"),
        ("Last Used",
         f"{local_time(session.last_used_at)} ({relative(session.last_used_at, now)})"),
        ("Working Directory", session.workdir),
        ("Backend Session", session.backend_session_id or "-"),
        ("Turns", str(len(session.turns))),
        ("Token Usage", (
            f"Input {tokens(usage.input_tokens)} / Output {tokens(usage.output_tokens)} / "
            f"Cache {tokens(usage.cache_read_tokens + usage.cache_write_tokens)} / "
            f"Total {tokens(usage.total)}") if known else "-"),
        ("Cost", money(cost) + (f" ({unpriced} turn(s) unpriced)" if unpriced else "")),
        ("Tags", ", ".join(session.tags) or "-"),
    ]
    if session.parent_id:
        lines.insert(9, ("Parent", session.parent_id))
    return lines


def _resolve_all(store: SessionStore, idents: tuple[str, ...]) -> list[str]:
    resolved: list[str] = []
    for ident in idents:
        full = store.resolve(ident)
        if full not in resolved:
            resolved.append(full)
    return resolved


def delete(*idents: SessionId, force: bool = False) -> int:
    """Delete sessions (all ids are checked before any is deleted).

    Example: clinvk sessions delete 3fk2a9 x81bq0

    Parameters
    ----------
    idents
        Session ids or unique prefixes.
    force
        Also delete a session whose turn is still running.
    """
    from clinvk.liveness import effective_status
    from clinvk.output import out

    if not idents:
        raise UsageError("no session id given", hint="usage: clinvk sessions delete ID [ID...]")
    store = open_store()
    targets = _resolve_all(store, idents)
    unreadable: dict[str, str] = {}
    for ident in targets:
        try:
            session = store.read(ident)
        except SessionError as exc:
            unreadable[ident] = exc.message  # a corrupt file can still be deleted
            continue
        if effective_status(session.status, session.pid, session.pid_start) == "running" and not force:
            raise SessionError(f"session {ident} is running (pid {session.pid})",
                               hint=f"`clinvk cancel {ident}` stops it; --force deletes it anyway")
    for ident in targets:
        try:
            with store.lock(ident):  # which drops the lock file once the file is gone
                store.delete(ident)
        except SessionBusyError:
            if not force:
                raise
            # Its holder drops the lock file when it lets go (SessionStore.lock).
            store.delete(ident)
        if ident in unreadable:
            out(f"Session {ident} deleted: removed the unreadable file {store.path_for(ident)} "
                f"({unreadable[ident]}).")
        else:
            out(f"Session {ident} deleted.")
    return 0


def clean(
    *,
    # A negative window (-3d) must reach the duration check, not read as a flag.
    older_than: Annotated[str | None, Parameter(allow_leading_hyphen=True)] = None,
    status: Status = None,
    backend: BackendName = None,
    dry_run: bool = False,
    json: bool = False,
) -> int:
    """Delete sessions not used for longer than the retention window.

    Never removes running or paused sessions. Without --older-than the window is
    session.retention_days from config (default 30; 0 keeps sessions forever).

    Example: clinvk sessions clean --older-than 2w --dry-run

    Parameters
    ----------
    older_than
        The window: 30 (days), 30d, 12h, 90m, 2w.
    status
        Only sessions with this status.
    backend
        Only sessions of this backend.
    dry_run
        List what would be deleted; delete nothing.
    json
        Print {"deleted": [ids], "dry_run": bool, "older_than_seconds": N}.
    """
    from clinvk.output import err, one_line, out, print_json
    from clinvk.timespec import describe_duration, parse_duration

    check_status(status)
    if older_than is not None:
        window = parse_duration(older_than)
    else:
        from clinvk.config import load

        days = load().config.session.retention_days
        if days == 0:
            if json:
                print_json({"deleted": [], "dry_run": dry_run, "older_than_seconds": None})
            else:
                out("session.retention_days is 0 (keep forever): nothing to clean.")
            return 0
        window = timedelta(days=days)
    cutoff = datetime.now(UTC) - window
    store = open_store()
    catalog = open_catalog(store)
    flt = make_filter(backend=backend, status=status, older_than=cutoff)
    victims = [s for s in catalog.rows(flt).rows if s.status not in ("running", "paused")]
    report_skipped(catalog)
    label = describe_duration(window)
    if dry_run:
        if json:
            print_json({"deleted": [s.id for s in victims], "dry_run": True,
                        "older_than_seconds": int(window.total_seconds())})
            return 0
        for s in victims:
            out(f"would delete {s.id}  {s.backend}  {one_line(s.title, 60)}")
        out(f"Would delete {len(victims)} session(s) older than {label}." if victims
            else "no sessions to clean")
        return 0
    deleted = store.delete_many([s.id for s in victims], progress=_progress("Deleting"))
    if json:
        print_json({"deleted": deleted, "dry_run": False,
                    "older_than_seconds": int(window.total_seconds())})
        return 0
    if len(deleted) < len(victims):
        err(f"clinvk: warning: {len(victims) - len(deleted)} session(s) were in use and kept")
    out(f"Deleted {len(deleted)} session(s) older than {label}." if deleted
        else "no sessions to clean")
    return 0


def _progress(verb: str) -> Callable[[int, int], None] | None:
    """A progress line on stderr for long work, only when a person watches."""
    if not sys.stderr.isatty():
        return None
    last = [0.0]

    def show(done: int, total: int) -> None:
        now = time.monotonic()
        if done == total:
            sys.stderr.write("\r\033[K")
        elif now - last[0] > 0.1:
            sys.stderr.write(f"\r{verb} {done}/{total}…")
            last[0] = now
        sys.stderr.flush()

    return show


def _set_status(ident: str, new: Literal["paused", "completed"], wait: float) -> int:
    from clinvk.liveness import effective_status
    from clinvk.output import out
    from clinvk.timespec import check_wait

    check_wait(wait)
    store = open_store()
    full = store.resolve(ident)

    def change(session: Session) -> None:
        if effective_status(session.status, session.pid, session.pid_start) == "running":
            raise SessionError(f"session {full} is running", hint=f"`clinvk cancel {full}` stops it")
        session.status = new
        session.clear_runner()

    store.update(full, change, wait=wait, waitable=True)
    out(f"Session {full} {new}.")
    return 0


def pause(ident: SessionId, /, *, wait: float = 0) -> int:
    """Set a session aside: skipped by --last lookups and never cleaned.

    Example: clinvk sessions pause 3fk2a9

    Parameters
    ----------
    ident
        The session id or a unique prefix.
    wait
        Wait up to this many seconds for a busy session instead of failing at once.
    """
    return _set_status(ident, "paused", wait)


def complete(ident: SessionId, /, *, wait: float = 0) -> int:
    """Close a session; resuming it later re-opens it.

    Example: clinvk sessions complete 3fk2a9

    Parameters
    ----------
    ident
        The session id or a unique prefix.
    wait
        Wait up to this many seconds for a busy session instead of failing at once.
    """
    return _set_status(ident, "completed", wait)


def tag(ident: SessionId, /,
        *changes: Annotated[str, Parameter(name="CHANGES", allow_leading_hyphen=True,
                                             completer=completion.tag_changes)],
        wait: float = 0) -> int:
    """Add (+tag or tag) and remove (-tag) tags.

    Example: clinvk sessions tag 3fk2a9 +review -draft

    Parameters
    ----------
    ident
        The session id or a unique prefix.
    changes
        +name adds a tag, -name removes it; a bare name adds it.
    wait
        Wait up to this many seconds for a busy session instead of failing at once.
    """
    from clinvk.model import TAG_PATTERN, TAG_RULE
    from clinvk.output import out
    from clinvk.timespec import check_wait

    check_wait(wait)

    if not changes:
        raise UsageError("no tag changes given", hint="example: clinvk sessions tag ID +review -draft")
    plan: list[tuple[bool, str]] = []
    for change in changes:
        add = not change.startswith("-")
        name = change[1:] if change[:1] in "+-" else change
        if not TAG_PATTERN.fullmatch(name):
            raise UsageError(f"invalid tag: {change!r}",
                             hint=f"{TAG_RULE}; prefix + to add, - to remove")
        plan.append((add, name))
    store = open_store()
    full = store.resolve(ident)

    def apply(session: Session) -> None:
        for add, name in plan:
            if add and name not in session.tags:
                session.tags.append(name)
            elif not add and name in session.tags:
                session.tags.remove(name)

    session = store.update(full, apply, wait=wait, waitable=True)
    out(f"Session {full} tags: {', '.join(session.tags) or '(none)'}")
    return 0


def rename(ident: SessionId, title: str, /, *,
           wait: float = 0) -> int:
    """Change a session's title.

    Example: clinvk sessions rename 3fk2a9 "parser refactor"

    Parameters
    ----------
    ident
        The session id or a unique prefix.
    title
        The new title.
    wait
        Wait up to this many seconds for a busy session instead of failing at once.
    """
    from clinvk.commands.checks import check_title
    from clinvk.output import out
    from clinvk.timespec import check_wait

    check_wait(wait)

    clean_title = check_title(title)
    store = open_store()
    full = store.resolve(ident)

    def apply(session: Session) -> None:
        session.title = clean_title

    store.update(full, apply, wait=wait, waitable=True)
    out(f"Session {full} renamed to {clean_title!r}.")
    return 0


# The order an unknown command's error offers them in (the first eight shown), most used
# first; `--help` sorts them by name. Commands of other modules are loaded only when
# called (`clinvk … --help` loads them first, for their summaries: see clinvk.app).
for _name, _command in (
    ("list", list_), ("show", show), ("history", "clinvk.commands.history:history"),
    ("stats", "clinvk.commands.stats:stats"), ("current", "clinvk.commands.care:current"),
    ("recap", "clinvk.commands.care:recap"), ("tag", tag), ("delete", delete),
    ("rename", rename), ("pause", pause), ("complete", complete), ("clean", clean),
    ("export", "clinvk.commands.transfer:export"), ("import", "clinvk.commands.transfer:import_"),
    ("browse", "clinvk.commands.browse:browse"), ("sync", "clinvk.commands.sync:sync"),
    ("storage", "clinvk.commands.care:storage"), ("doctor", "clinvk.commands.care:doctor"),
):
    app.command(_command, name=_name)
