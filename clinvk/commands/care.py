"""Store care: `clinvk sessions storage`, `current`, `recap` and `doctor`."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

from cyclopts import Parameter

from clinvk.errors import SessionError, UsageError

if TYPE_CHECKING:
    from clinvk.catalog import SessionRow
    from clinvk.stats import Report, Totals


# --------------------------------------------------------------------------- storage
def disk_usage(path: str) -> int:
    """Bytes on disk under ``path`` (allocated blocks, like du), symlinks not followed."""
    from clinvk.atomic import disk_bytes

    total = 0
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return 0
    if not os.path.isdir(path) or os.path.islink(path):
        return disk_bytes(st)
    stack = [path]
    while stack:
        directory = stack.pop()
        try:
            entries = os.scandir(directory)
        except OSError:
            continue
        with entries:
            for entry in entries:
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                total += disk_bytes(st)
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
    return total


def storage(*, json: bool = False) -> int:
    """Where the sessions are, how much room they take, and what `clean` would remove.

    Example: clinvk sessions storage --json

    Parameters
    ----------
    json
        Print {"path", "size_bytes", "sessions", "by_status", "by_backend", "oldest",
        "newest", "retention_days", "clean_would_remove", ...}.
    """
    from clinvk.catalog import catalog_path
    from clinvk.commands.sessions import open_catalog, open_store, report_skipped
    from clinvk.config import load

    retention = load().config.session.retention_days
    store = open_store()
    catalog = open_catalog(store)
    cutoff = (datetime.now(UTC) - timedelta(days=retention)).timestamp() if retention else None
    facts = catalog.storage(cutoff)
    # The session files' sizes come from the catalog; everything else (the catalog
    # itself, locks, quarantine) is a few files and directories.
    db = str(catalog_path(store.root))
    size = facts.disk + sum(disk_usage(p) for p in (db, db + "-wal", db + "-shm",
                                                   str(store.locks_dir),
                                                   str(store.quarantine_dir)))
    quarantined = _count_files(store.quarantine_dir)
    report_skipped(catalog)
    data: dict[str, Any] = {
        "path": str(store.root),
        "size_bytes": size,
        "sessions": facts.sessions,
        "turns": facts.turns,
        "by_status": dict(sorted(facts.by_status.items())),
        "by_backend": dict(sorted(facts.by_backend.items(), key=lambda kv: (-kv[1], kv[0]))),
        "oldest": _brief(facts.oldest, "created"),
        "newest": _brief(facts.newest, "last_used"),
        "retention_days": retention,
        "clean_would_remove": facts.cleanable if retention else 0,
        "unreadable_files": len(catalog.skipped),
        "quarantined_files": quarantined,
    }
    if json:
        from clinvk.output import print_json

        print_json(data)
        return 0
    _print_storage(data)
    return 0


def _count_files(path: os.PathLike[str] | str) -> int:
    try:
        return sum(1 for _ in os.scandir(path))
    except OSError:
        return 0


def _brief(summary: SessionRow | None, when: str) -> dict[str, Any] | None:
    from clinvk.output import iso

    if summary is None:
        return None
    return {"id": summary.id, "backend": summary.backend, "title": summary.title,
            when + "_at": iso(getattr(summary, when))}


def _print_storage(data: dict[str, Any]) -> None:
    from humanize import naturalsize

    from clinvk.output import fields, local_time, one_line, out

    def session_line(brief: dict[str, Any] | None, key: str) -> str:
        if brief is None:
            return "-"
        moment = datetime.fromisoformat(brief[key])
        return f"{local_time(moment)}  {brief['id']}  {brief['backend']}  {one_line(brief['title'], 50)}"

    retention = data["retention_days"]
    lines = [
        ("Path", data["path"]),
        ("Size on disk", naturalsize(data["size_bytes"])),
        ("Sessions", f"{data['sessions']:,} ({data['turns']:,} turns)"),
        ("By status", " · ".join(f"{k} {v:,}" for k, v in data["by_status"].items()) or "-"),
        ("By backend", " · ".join(f"{k} {v:,}" for k, v in data["by_backend"].items()) or "-"),
        ("Oldest", session_line(data["oldest"], "created_at")),
        ("Newest", session_line(data["newest"], "last_used_at")),
        ("Retention", f"{retention} days (session.retention_days)" if retention
         else "keep forever (session.retention_days = 0)"),
        ("Clean would remove", f"{data['clean_would_remove']:,} session(s) now"
         + (" (`clinvk sessions clean --dry-run` lists them)" if data["clean_would_remove"] else "")),
    ]
    if data["unreadable_files"]:
        lines.append(("Unreadable", f"{data['unreadable_files']} file(s): see `clinvk sessions doctor`"))
    if data["quarantined_files"]:
        where = os.path.join(data["path"], "quarantine")
        lines.append(("Quarantined", f"{data['quarantined_files']} file(s) in {where}"))
    out(fields(lines))


# --------------------------------------------------------------------------- current
def current(*, json: bool = False,
            id_only: Annotated[bool, Parameter(name="--id", negative="")] = False) -> int:
    """The session of this directory: its id, backend, status and last use.

    The most recently used session whose working directory is the current directory,
    leaving out paused and completed ones. Exit 1 with `no active session` if none.

    Example: clinvk sessions current --id   (then: clinvk resume "$(clinvk sessions current --id)" "go on")

    Parameters
    ----------
    json
        Print the session's summary as in `sessions list --json`.
    id_only
        Print only the session id.
    """
    from clinvk.catalog import Filter
    from clinvk.commands.sessions import (
        here_dir,
        list_item,
        open_catalog,
        open_store,
        report_skipped,
    )
    from clinvk.errors import ClinvkError
    from clinvk.native.auto import auto_sync

    here = here_dir()
    auto_sync()
    catalog = open_catalog(open_store())
    for row in catalog.rows(Filter(workdir=here)).rows:
        if row.status in ("paused", "completed"):
            continue
        report_skipped(catalog)
        if json:
            from clinvk.output import print_json

            print_json(list_item(row))
            return 0
        from clinvk.output import local_time, one_line, out, relative

        if id_only:
            out(row.id)
            return 0

        out(f"{row.id}  {row.backend}  {row.status}  last used {relative(row.last_used)} "
            f"({local_time(row.last_used)})")
        if row.title:
            out(f"  {one_line(row.title, 76)}")
        return 0
    report_skipped(catalog)
    raise ClinvkError("no active session", hint=f"no session of {here} is active, running or "
                      "in error; `clinvk sessions list` shows all")


# --------------------------------------------------------------------------- recap
def recap(*, limit: Annotated[int, Parameter(name=["--limit", "-n"])] = 5,
          json: bool = False) -> int:
    """What happened lately: today and this week by backend, what runs, the last answers.

    Example: clinvk sessions recap

    Parameters
    ----------
    limit
        How many of the latest answers to show (0: none).
    json
        Print {"today": {...}, "week": {...}, "running": [...], "latest": [...]}.
    """
    from clinvk.catalog import Filter
    from clinvk.commands.sessions import check_count, open_catalog, open_store, report_skipped

    if limit < 0:
        raise UsageError("--limit must be 0 or more")
    check_count("--limit", limit)
    store = open_store()
    catalog = open_catalog(store)
    local_now = datetime.now(UTC).astimezone()
    midnight = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
    monday = midnight - timedelta(days=midnight.weekday())
    today = catalog.aggregate("backend", midnight.timestamp(), None)
    week = catalog.aggregate("backend", monday.timestamp(), None)
    # Every running one: a turn may run for days, so running ones are not all recent.
    running = list(catalog.rows(Filter(status="running")).rows)
    latest: list[tuple[SessionRow, Any]] = []
    if limit:
        for row in catalog.rows(Filter()).rows:
            turn = _last_answered_turn(store, row)
            if turn is not None:
                latest.append((row, turn))
                if len(latest) >= limit:
                    break
    report_skipped(catalog)
    if json:
        from clinvk.output import print_json

        print_json(_recap_json(today, week, running, latest, midnight, monday))
        return 0
    _print_recap(today, week, running, latest, midnight, monday)
    return 0


def _last_answered_turn(store: Any, summary: SessionRow) -> Any:
    from clinvk.errors import ClinvkError

    if not summary.turns:
        return None
    try:
        session = store.read(summary.id)
    except ClinvkError:
        return None
    for turn in reversed(session.turns):
        if turn.response or turn.error:
            return turn
    return None


def _answered_at(turn: Any) -> datetime:
    started: datetime = turn.started_at
    return started + timedelta(seconds=turn.duration_s) if turn.duration_s else started


def _period_json(report: Report, since: datetime) -> dict[str, Any]:
    from clinvk.output import iso

    t = report.totals
    data = t.to_json()
    return {
        "since": iso(since),
        "sessions": t.sessions,
        "turns": t.turns,
        "by_backend": {g.key: g.sessions for g in report.sorted_groups()},
        "tokens": data["tokens"]["total"],
        "cost_usd": data["cost_usd"],
        "unpriced_turns": t.unpriced_turns,
    }


def _recap_json(today: Report, week: Report, running: list[SessionRow],
                latest: list[tuple[SessionRow, Any]], midnight: datetime,
                monday: datetime) -> dict[str, Any]:
    from clinvk.output import iso

    return {
        "today": _period_json(today, midnight),
        "week": _period_json(week, monday),
        "running": [{"id": s.id, "backend": s.backend, "title": s.title, "pid": s.pid,
                     "last_used_at": iso(s.last_used)} for s in running],
        "latest": [{"id": s.id, "backend": s.backend, "title": s.title,
                    "turn": t.index, "started_at": iso(t.started_at),
                    "answered_at": iso(_answered_at(t)), "status": t.status,
                    "answer": t.response if t.response else None, "error": t.error}
                   for s, t in latest],
    }


def _period_line(label: str, t: Totals, groups: list[Totals]) -> str:
    from clinvk.commands.stats import cost_text
    from clinvk.output import tokens

    if not t.sessions:
        return f"{label}: no sessions"
    backends = " · ".join(f"{g.key} {g.sessions:,}" for g in groups)
    return (f"{label}: {t.sessions:,} session(s) ({backends}), {t.turns:,} turn(s), "
            f"{tokens(t.total_tokens)} tokens, cost {cost_text(t)}")


def _print_recap(today: Report, week: Report, running: list[SessionRow],
                 latest: list[tuple[SessionRow, Any]], midnight: datetime, monday: datetime) -> None:
    from clinvk.output import one_line, out, relative

    out(_period_line(f"Today ({midnight:%a %d %b})", today.totals, today.sorted_groups()))
    out(_period_line(f"This week (since {monday:%a %d %b})", week.totals, week.sorted_groups()))
    out()
    if running:
        out(f"Running now ({len(running)}):")
        for s in running:
            out(f"  {s.id}  {s.backend}  since {relative(s.last_used)}  "
                f"{one_line(s.title or '(no prompt)', 50)}")
    else:
        out("Running now: nothing")
    if latest:
        out()
        out("Latest answers:")
        for s, turn in latest:
            out(f"  {s.id}  {s.backend}  {relative(_answered_at(turn))}  "
                f"{one_line(s.title or turn.prompt or '(no prompt)', 50)}")
            if turn.response:
                out(f"    → {one_line(turn.response, 100)}")
            else:
                out(f"    ✗ {turn.status}: {one_line(turn.error or '', 96)}")


# --------------------------------------------------------------------------- doctor
def doctor(*, fix: bool = False, json: bool = False) -> int:
    """Check every session file and the catalog; with --fix, repair what it finds.

    Exit 0 when healthy, 4 when it finds problems (each is named). --fix moves
    unreadable files and leftover temp files to the store's quarantine/ folder, marks
    `running` records whose process is gone as interrupted, rebuilds the catalog, checks
    again and exits 0 when all is well.

    Example: clinvk sessions doctor --fix

    Parameters
    ----------
    fix
        Repair: quarantine, mark stale running sessions, rebuild the catalog.
    json
        Print {"healthy": bool, "problems": [...], "fixed": [...]}.
    """
    from clinvk.commands.sessions import open_store
    from clinvk.doctor import check, repair

    store = open_store()
    found = check(store)
    fixed: list[dict[str, Any]] = []
    remaining = found
    if fix and found.problems:
        fixed = repair(store, found)
        remaining = check(store)
    healthy = not remaining.problems
    if json:
        from clinvk.output import print_json

        print_json({"healthy": healthy, "store": str(store.root), "sessions": found.sessions,
                    "problems": [p.to_json() for p in (found.problems if fix else remaining.problems)],
                    "fixed": fixed,
                    "remaining": [p.to_json() for p in remaining.problems] if fix else None})
    else:
        _print_doctor(store.root, found, fixed, remaining, fix)
    if not healthy:
        count = len(remaining.problems)
        raise SessionError(
            f"{count} problem(s) in the session store" + (" remain after --fix" if fix else ""),
            hint=None if fix else "`clinvk sessions doctor --fix` repairs them")
    return 0


# Per kind of problem (or of repair), the lines `doctor` prints; --json lists them all.
DOCTOR_LINES_PER_KIND = 20


def _print_capped(items: list[tuple[str, str]]) -> None:
    """``(kind, line)`` pairs grouped by kind, the first DOCTOR_LINES_PER_KIND of each
    printed and the rest counted, so thousands of problems stay readable."""
    from clinvk.doctor import LABELS
    from clinvk.output import out

    by_kind: dict[str, list[str]] = {}
    for kind, line in items:
        by_kind.setdefault(kind, []).append(line)
    for kind, lines in by_kind.items():
        for line in lines[:DOCTOR_LINES_PER_KIND]:
            out(f"  - {line}")
        if len(lines) > DOCTOR_LINES_PER_KIND:
            out(f"  … and {len(lines) - DOCTOR_LINES_PER_KIND:,} more of kind {kind} "
                f"({LABELS.get(kind, kind)}); --json lists all")


def _print_doctor(root: Any, found: Any, fixed: list[dict[str, Any]], remaining: Any,
                  fix: bool) -> None:
    from clinvk.output import out

    out(f"Checked {found.files:,} session file(s) and the session catalog in {root}.")
    if not found.problems:
        out("Healthy: no problems found.")
        return
    out(f"Found {len(found.problems):,} problem(s):")
    _print_capped([(p.kind, p.text()) for p in found.problems])
    if not fix:
        return
    out(f"Fixed {len(fixed):,}:")
    _print_capped([(item["kind"], item["action"]) for item in fixed])
    if remaining.problems:
        out(f"Still {len(remaining.problems):,} problem(s):")
        _print_capped([(p.kind, p.text()) for p in remaining.problems])
    else:
        out("Healthy now.")
