"""`clinvk sessions sync`: adopt the conversations the vendor CLIs recorded themselves."""

from __future__ import annotations

from typing import Annotated, Literal

from cyclopts import Parameter

from clinvk import completion

RangeName = Literal["today", "yesterday", "7d", "30d", "thismonth", "lastmonth", "all"]


def sync(
    *,
    from_: Annotated[str, Parameter(name="--from",
                                    completer=completion.vendor_lists)] = "claude,codex,gemini",
    since: str | None = None,
    range_: Annotated[RangeName | None, Parameter(name="--range")] = None,
    dry_run: bool = False,
    json: bool = False,
) -> int:
    """Record the conversations claude, codex and gemini saved by themselves.

    Reads each vendor CLI's own transcripts (never writes them) and records every
    conversation as a session with origin "native": new ones are added, grown ones get
    their new turns, unchanged files are not read again. Adopted sessions can be listed,
    shown, counted in stats and resumed like any other.

    Example: clinvk sessions sync --from claude,codex --since 2026-11-01

    Parameters
    ----------
    from_
        Vendors to read, comma-separated.
    since
        Only transcripts written since this date (YYYY-MM-DD or an ISO 8601 date-time).
    range_
        Only transcripts written in this period.
    dry_run
        Say what would be recorded; write nothing.
    json
        Print the counts and the sessions as JSON.
    """
    from clinvk.commands.sessions import _progress, open_store
    from clinvk.config import load
    from clinvk.native.adopt import check_backends
    from clinvk.native.adopt import sync as run_sync
    from clinvk.native.auto import homes, pricer
    from clinvk.output import out, print_json, warn
    from clinvk.timespec import window

    backends = check_backends([b.strip() for b in from_.split(",") if b.strip()])
    start, end = window(None if range_ == "all" else range_, since, None)
    config = load().config
    report = run_sync(open_store(), backends, homes=homes(config, backends), start=start,
                      end=end, dry_run=dry_run, price=pricer(config),
                      progress=_progress("Syncing"))
    for line in report.warnings:
        warn(line)
    if json:
        print_json({
            "dry_run": report.dry_run,
            "backends": {b: {"new": c.new, "updated": c.updated, "skipped": c.skipped,
                             "unchanged": c.unchanged} for b, c in report.counts.items()},
            "sessions": [c.to_json() for c in report.changes],
        })
        return 0
    parts = [f"{b}: {c.new} new, {c.updated} updated, {c.skipped} skipped"
             for b, c in report.counts.items()]
    out(("Would sync " if dry_run else "Synced ") + " · ".join(parts))
    return 0
