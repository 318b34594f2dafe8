"""`clinvk sessions export` and `clinvk sessions import`: sessions in and out as files.

Formats:

* ``json``: ``{"format": "clinvk-sessions", "version": 1, "exported_at": "…",
  "sessions": [full records]}``;
* ``jsonl``: one full record per line;
* ``markdown``: a readable transcript (export only).

A record is exactly what the session file holds (docs/sessions.md#the-record), so an
import of an export gives back identical records. Import validates every record
against the schema before it writes anything, and never overwrites a session.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any, Literal, cast

import msgspec
from cyclopts import Parameter

from clinvk.commands.params import BackendName, SessionId, Status, TagFilter
from clinvk.errors import ClinvkError, UsageError

if TYPE_CHECKING:
    from clinvk.model import Session, ToolCall
    from clinvk.store import SessionStore

FORMAT_NAME = "clinvk-sessions"
FORMAT_VERSION = 1
ExportFormat = Literal["json", "jsonl", "markdown"]


# --------------------------------------------------------------------------- export
def export(
    *idents: SessionId,
    output: Annotated[Path | None, Parameter(name=["--output", "-o"])] = None,
    format: Annotated[str, Parameter(name=["--format", "-f"])] = "json",
    all_: Annotated[bool, Parameter(name="--all", negative="")] = False,
    backend: BackendName = None,
    status: Status = None,
    tag: TagFilter = None,
    search: Annotated[str | None, Parameter(name=["--search", "-q"])] = None,
    range_: Annotated[str | None, Parameter(name="--range")] = None,
    since: str | None = None,
    until: str | None = None,
    here: bool = False,
) -> int:
    """Write sessions to a file (or stdout) as JSON, JSON Lines or Markdown.

    Name sessions by id, or take --all with the list filters.

    Example: clinvk sessions export --all --range 30d -o sessions.json

    Parameters
    ----------
    idents
        Session ids or unique prefixes.
    output
        Write to this file (replaced atomically) instead of stdout.
    format
        json (one document), jsonl (one record per line) or markdown (a transcript).
    all_
        Every session that passes the filters below, newest first.
    backend
        With --all: only sessions of this backend.
    status
        With --all: only sessions with this status.
    tag
        With --all: only sessions with this tag (repeat for all of several).
    search
        With --all: only sessions whose title, prompts or answers contain this text.
    range_
        With --all: only sessions last used in: today, yesterday, 7d, 30d, thismonth,
        lastmonth, all.
    since
        With --all: only sessions last used on or after this date.
    until
        With --all: only sessions last used before this moment; a plain date includes it.
    here
        With --all: only sessions of the current directory.
    """
    from clinvk.commands.sessions import open_store

    if format not in ("json", "jsonl", "markdown"):
        raise UsageError(f"invalid export format: {format!r}",
                         hint="valid formats: json, jsonl, markdown")
    filtered = any(x is not None for x in (backend, status, tag, search, range_, since, until)) or here
    if idents and all_:
        raise UsageError("give session ids or --all, not both")
    if not idents and not all_:
        raise UsageError("no session given", hint="clinvk sessions export ID [ID...], or --all")
    if filtered and not all_:
        raise UsageError("the filters (-b, --status, -t, -q, --range, --since, --until, "
                         "--here) go with --all")
    store = open_store()
    skipped: list[str] = []
    if idents:
        # Every id is resolved and read before anything is written.
        resolved: list[str] = []
        for ident in idents:
            full = store.resolve(ident)
            if full not in resolved:
                resolved.append(full)
        sessions: Iterable[Session] = [store.read(i) for i in resolved]
    else:
        sessions = _selected(store, skipped, backend=backend, status=status, tags=tag,
                             search=search, range_=range_, since=since, until=until, here=here)
    count = _write(sessions, cast("ExportFormat", format), output)
    from clinvk.output import warn

    for reason in skipped:
        warn(reason)
    if output is not None:
        from clinvk.output import err

        err(f"Exported {count} session(s) to {output}.")
    return 0


def _selected(store: SessionStore, skipped: list[str], *, backend: str | None,
              status: str | None, tags: list[str] | None, search: str | None,
              range_: str | None, since: str | None, until: str | None,
              here: bool) -> Iterator[Session]:
    """The sessions that pass the filters, newest first; what cannot be read goes to
    ``skipped``."""
    from clinvk.commands.sessions import here_dir, make_filter, open_catalog

    flt = make_filter(backend=backend, status=status, tags=tags, search=search, range_=range_,
                      since=since, until=until, workdir=here_dir() if here else None)
    catalog = open_catalog(store)
    skipped.extend(f"skipped {s.path}: {s.reason}" for s in catalog.skipped)
    for row in list(catalog.rows(flt).rows):
        try:
            yield store.read(row.id)
        except ClinvkError as exc:
            skipped.append(f"skipped {store.path_for(row.id)}: {exc.message}")


def _write(sessions: Iterable[Session], fmt: ExportFormat, output: Path | None) -> int:
    if output is None:
        return _emit(sessions, fmt, sys.stdout.buffer)
    from clinvk.atomic import atomic_file

    target = output.expanduser()
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise UsageError(f"cannot write {output}: no directory {directory}")
    try:
        with atomic_file(target) as f:
            return _emit(sessions, fmt, f)
    except OSError as exc:
        raise ClinvkError(f"cannot write {output}: {exc.strerror or exc}") from None


def _emit(sessions: Iterable[Session], fmt: ExportFormat, out: IO[bytes]) -> int:
    """Stream the sessions to ``out``; returns how many."""
    encoder = msgspec.json.Encoder()
    count = 0
    if fmt == "jsonl":
        for session in sessions:
            out.write(encoder.encode(session) + b"\n")
            count += 1
    elif fmt == "json":
        from clinvk.model import utcnow
        from clinvk.output import iso

        out.write(b'{\n  "format": "%s",\n  "version": %d,\n  "exported_at": "%s",\n'
                  b'  "sessions": [' % (FORMAT_NAME.encode(), FORMAT_VERSION,
                                        iso(utcnow()).encode()))
        for session in sessions:
            # JSON strings never hold a raw newline, so indenting by lines is safe.
            record = msgspec.json.format(encoder.encode(session), indent=2)
            out.write((b",\n    " if count else b"\n    ") + record.replace(b"\n", b"\n    "))
            count += 1
        out.write(b"\n  ]\n}\n" if count else b"]\n}\n")
    else:
        for session in sessions:
            if count:
                out.write(b"\n---\n\n")
            out.write(markdown(session).encode())
            count += 1
    out.flush()
    return count


def markdown(session: Session) -> str:
    """A readable transcript of one session."""
    from clinvk.output import local_time, money, tokens

    lines = [f"# {session.title or '(untitled session)'}", ""]
    facts = [f"**Session:** `{session.id}` · {session.backend}"
             + (f" · {session.model}" if session.model else "") + f" · {session.status}",
             f"**Working directory:** `{session.workdir}`",
             (f"**Created:** {local_time(session.created_at)} · "
              f"**Last used:** {local_time(session.last_used_at)}")]
    used = session.tokens()
    cost = session.cost()
    facts.append(f"**Tokens:** {tokens(used)} · **Cost:** {money(cost)}")
    if session.tags:
        facts.append("**Tags:** " + ", ".join(session.tags))
    if session.backend_session_id:
        facts.append(f"**{session.backend} session:** `{session.backend_session_id}`")
    lines.extend(f"- {f}" for f in facts)
    for turn in session.turns:
        duration = f" · {turn.duration_s:.1f}s" if turn.duration_s is not None else ""
        exit_code = f" · exit {turn.exit_code}" if turn.exit_code is not None else ""
        heading = (f"## Turn {turn.index} · {local_time(turn.started_at)} · "
                   f"{turn.status}{duration}{exit_code}")
        lines += ["", heading, "", "**Prompt**", ""]
        lines += [f"> {line}" if line else ">" for line in turn.prompt.splitlines() or [""]]
        if turn.tool_calls:
            lines += ["", "**Tool calls**", ""]
            lines += [_markdown_call(call) for call in turn.tool_calls]
        if turn.files_changed:
            lines += ["", "**Files changed:** " + ", ".join(f"`{p}`" for p in turn.files_changed)]
        lines += ["", "**Answer**", "", turn.response or "*(no answer)*"]
        if turn.error:
            lines += ["", f"**Error:** {turn.error}"]
        if turn.usage is not None or turn.cost_usd is not None:
            u = turn.usage
            usage = (f"input {tokens(u.input_tokens)} · output {tokens(u.output_tokens)} · "
                     f"cache read {tokens(u.cache_read_tokens)} · cache write "
                     f"{tokens(u.cache_write_tokens)}") if u is not None else "no usage"
            price = (f"cost {money(turn.cost_usd)} ({turn.cost_source})"
                     if turn.cost_usd is not None else "unpriced")
            model = turn.model or session.model or "model unknown"
            lines += ["", f"*{model} · {usage} · {price}*"]
    return "\n".join(lines) + "\n"


def _markdown_call(call: ToolCall) -> str:
    """``- `Read` notes.txt · ok · 0.03s`` (code spans keep a summary's markup inert)."""
    from clinvk.activity import outcome, took

    summary = call.summary.replace("`", "'")
    parts = [f"- `{call.name.replace('`', chr(39))}`" + (f" `{summary}`" if summary else ""),
             call.status + outcome(call).replace(f" ({call.status})", "")]
    if call.duration_s is not None:
        parts.append(took(call.duration_s))
    return " · ".join(parts)


# --------------------------------------------------------------------------- import
class _Export(msgspec.Struct):
    format: str
    version: int
    sessions: list[msgspec.Raw]


class _Head(msgspec.Struct):
    format: str | None = None
    version: Any = None
    id: Any = None


class _RecordVersion(msgspec.Struct):
    version: int = 1


def import_(
    file: Annotated[str, Parameter(name="FILE", allow_leading_hyphen=True)],
    /,
    *,
    keep_ids: bool = False,
    json: bool = False,
) -> int:
    """Add sessions from an export (json or jsonl); never overwrites a session.

    Every record is checked before anything is written. Imported sessions get new ids
    unless --keep-ids is given; then an id already in the store is an error and
    nothing is imported.

    Example: clinvk sessions import sessions.json

    Parameters
    ----------
    file
        The export file; - reads stdin.
    keep_ids
        Keep the records' own ids (exit 1, nothing written, if one is taken).
    json
        Print {"imported": [{"id": NEW, "from": OLD}, ...]}.
    """
    from clinvk.commands.sessions import open_store
    from clinvk.inputfile import read_input

    data, name = read_input(file, "export file")
    sessions = parse_records(data, name)
    store = open_store()
    if keep_ids:
        taken = [s.id for s in sessions if store.exists(s.id)]
        if taken:
            shown = ", ".join(taken[:10]) + (f" and {len(taken) - 10} more" if len(taken) > 10 else "")
            raise ClinvkError(f"{len(taken)} session id(s) already in the store: {shown}; "
                              "nothing was imported",
                              hint="import without --keep-ids to give them new ids")
    imported: list[tuple[str, str]] = []
    renamed: dict[str, str] = {}
    # The catalog takes the new sessions in batches, not one transaction per session.
    with store.batch():
        for session in sessions:
            old = session.id
            try:
                if keep_ids:
                    store.insert(session)
                else:
                    if session.parent_id in renamed:
                        session.parent_id = renamed[session.parent_id]
                    store.create(session)
            except ClinvkError as exc:
                done = f"; {len(imported)} imported before it" if imported else ""
                raise ClinvkError(f"cannot import session {old}: {exc.message}{done}",
                                  hint=exc.hint) from None
            renamed[old] = session.id
            imported.append((session.id, old))
    if json:
        from clinvk.output import print_json

        print_json({"imported": [{"id": new, "from": old} for new, old in imported]})
        return 0
    from clinvk.output import out

    for new, old in imported:
        out(f"{old} -> {new}" if new != old else new)
    from clinvk.output import err

    err(f"Imported {len(imported)} session(s) from {name}.")
    return 0


def parse_records(data: bytes, name: str) -> list[Session]:
    """Every record of an export file, checked; ClinvkError (exit 1) naming the first problem."""
    text = data.lstrip()
    if not text:
        raise ClinvkError(f"{name} is empty: no sessions to import")
    head = _head(text)
    if head is not None and head.format is not None:
        if head.format != FORMAT_NAME:
            raise ClinvkError(f"{name} is not a clinvk export: format is {head.format!r}, "
                              f"expected {FORMAT_NAME!r}")
        if head.version != FORMAT_VERSION:
            raise ClinvkError(f"{name}: unsupported export version {head.version!r} "
                              f"(this clinvk reads version {FORMAT_VERSION})",
                              hint="upgrade clinvk to import it")
        try:
            document = msgspec.json.decode(text, type=_Export)
        except msgspec.DecodeError as exc:
            raise ClinvkError(f"{name} is not a valid clinvk export: {exc}") from None
        raws: list[tuple[str, bytes]] = [(f"session {n}", bytes(raw))
                                         for n, raw in enumerate(document.sessions, 1)]
    elif head is not None and head.id is not None:
        raws = [("the record", text)]  # one record, e.g. from `sessions show --json`
    else:
        raws = [(f"line {n}", line) for n, line in enumerate(data.split(b"\n"), 1)
                if line.strip()]
    return _validate(raws, name)


def _head(text: bytes) -> _Head | None:
    """The top-level object's format/version/id, if the whole text is one JSON object."""
    try:
        return msgspec.json.decode(text, type=_Head)
    except msgspec.DecodeError:
        return None


def _validate(raws: list[tuple[str, bytes]], name: str) -> list[Session]:
    from clinvk import ids
    from clinvk.model import SCHEMA_VERSION, Session

    decoder = msgspec.json.Decoder(Session)
    version_decoder = msgspec.json.Decoder(_RecordVersion)
    sessions: list[Session] = []
    seen: set[str] = set()
    if not raws:
        raise ClinvkError(f"{name} holds no sessions")
    for where, raw in raws:
        try:
            version = version_decoder.decode(raw).version
        except msgspec.DecodeError as exc:
            raise ClinvkError(f"{name}: {where} is not a session record: {exc}") from None
        if version > SCHEMA_VERSION:
            raise ClinvkError(f"{name}: {where} has schema version {version}, newer than "
                              f"this clinvk understands ({SCHEMA_VERSION})",
                              hint="upgrade clinvk to import it")
        try:
            session = decoder.decode(raw)
        except msgspec.DecodeError as exc:
            raise ClinvkError(f"{name}: {where} is not a valid session record: {exc}") from None
        if not ids.is_valid_id(session.id):
            raise ClinvkError(f"{name}: {where} has an invalid session id {session.id[:40]!r}",
                              hint=f"an id is {ids.ID_LENGTH} characters of a-z and 0-9")
        if session.id in seen:
            raise ClinvkError(f"{name}: {where} repeats session id {session.id}")
        seen.add(session.id)
        if session.parent_id is not None and not ids.is_valid_id(session.parent_id):
            raise ClinvkError(f"{name}: {where} has an invalid parent id "
                              f"{session.parent_id[:40]!r}")
        problem = _hostile(session)
        if problem:
            raise ClinvkError(f"{name}: {where} (session {session.id}) {problem}; "
                              "nothing was imported")
        _settle_runtime(session)
        sessions.append(session)
    return sessions


def _hostile(session: Session) -> str | None:
    """What makes a record unsafe to store, by the rules the command line enforces."""
    from clinvk.commands.checks import check_tags, workdir_problem
    from clinvk.model import title_problem

    problem = workdir_problem(session.workdir)
    if problem:
        return f"has a working directory {session.workdir[:80]!r} that is {problem}"
    try:
        tags = check_tags(session.tags)
    except UsageError as exc:
        return f"has an {exc.message}"
    if tags != session.tags:
        return "repeats a tag"
    problem = title_problem(session.title)
    if problem:
        return f"cannot be imported: {problem}"
    from clinvk.toolcalls import record_problem

    for turn in session.turns:
        problem = record_problem(turn)
        if problem:
            return f"has a turn ({turn.index}) whose {problem}"
    return None


def _settle_runtime(session: Session) -> None:
    """A file never says which process runs a session on this machine: runtime fields
    are dropped, and a record caught `running` is stored as interrupted."""
    if session.status == "running":
        session.interrupt("it was running when exported; imported as interrupted")
    session.pid = session.pid_start = session.pgid = None
