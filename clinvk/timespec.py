"""Durations (`30d`, `12h`), dates and named ranges (`7d`, `thismonth`) as typed on a command line."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

from clinvk.errors import UsageError

_DURATION_RE = re.compile(r"([+-]?\d{1,7})([smhdw]?)")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "": 86400}
DURATION_FORMS = "a positive number of days (30) or a number with a unit: 90m, 12h, 30d, 2w"
# A window longer than a century is a typo; it would also overflow date arithmetic.
MAX_DURATION = timedelta(days=36500)

RANGES = ("today", "yesterday", "7d", "30d", "thismonth", "lastmonth", "all")


def parse_duration(text: str) -> timedelta:
    """'30' (days), '30d', '12h', '90m', '45s', '2w' → timedelta; zero, negative or malformed → UsageError."""
    value = text.strip().lower()
    match = _DURATION_RE.fullmatch(value)
    if match is None:
        raise UsageError(f"invalid duration: {text!r}", hint=f"expected {DURATION_FORMS}")
    amount = int(match.group(1))
    if amount <= 0:
        raise UsageError(f"invalid duration: {text!r} (must be more than zero)",
                         hint=f"expected {DURATION_FORMS}")
    delta = timedelta(seconds=amount * _UNITS[match.group(2)])
    if delta > MAX_DURATION:
        raise UsageError(f"invalid duration: {text!r} (at most {MAX_DURATION.days} days)",
                         hint=f"expected {DURATION_FORMS}")
    return delta


def check_wait(seconds: float) -> None:
    """A --wait value: how long to wait for a busy session (0: not at all)."""
    if not seconds >= 0:  # also NaN
        raise UsageError("--wait must be 0 or more seconds")


def describe_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("week", 7 * 86400), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0 and seconds >= size:
            n = seconds // size
            if unit == "week":
                return f"{n * 7} days"
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds} seconds"


def parse_date(text: str) -> datetime:
    """A date or date-time (ISO 8601, local time unless it names a zone) → aware UTC datetime."""
    value = text.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            parsed = datetime.combine(day, time())
        else:
            parsed = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"invalid date: {text!r}",
                         hint="expected YYYY-MM-DD or an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        parsed = parsed.astimezone()  # naive means the user's local time
    return parsed.astimezone(UTC)


def range_bounds(name: str, now: datetime | None = None) -> tuple[datetime | None, datetime | None]:
    """[start, end) in UTC for a named range, in the user's local calendar."""
    if name not in RANGES:
        raise UsageError(f"invalid range: {name!r}", hint="valid ranges: " + ", ".join(RANGES))
    local_now = (now or datetime.now(UTC)).astimezone()
    midnight = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
    if name == "all":
        return None, None
    if name == "today":
        return midnight.astimezone(UTC), None
    if name == "yesterday":
        return (midnight - timedelta(days=1)).astimezone(UTC), midnight.astimezone(UTC)
    if name in ("7d", "30d"):
        days = int(name[:-1])
        return (local_now - timedelta(days=days)).astimezone(UTC), None
    first = midnight.replace(day=1)
    if name == "thismonth":
        return first.astimezone(UTC), None
    previous_first = (first - timedelta(days=1)).replace(day=1)
    return previous_first.astimezone(UTC), first.astimezone(UTC)


def window(range_: str | None, since: str | None, until: str | None
           ) -> tuple[float | None, float | None]:
    """[start, end) as epoch seconds from --range, --since and --until (each optional).

    ``--until`` with a plain date includes that whole day.
    """
    start: float | None = None
    end: float | None = None
    if range_ is not None:
        low, high = range_bounds(range_)
        start = low.timestamp() if low else None
        end = high.timestamp() if high else None
    if since is not None:
        since_ts = parse_date(since).timestamp()
        start = since_ts if start is None else max(start, since_ts)
    if until is not None:
        moment = parse_date(until)
        if len(until.strip()) == 10:
            moment = moment + timedelta(days=1)
        until_ts = moment.timestamp()
        end = until_ts if end is None else min(end, until_ts)
    if start is not None and end is not None and end <= start:
        raise UsageError("the time range is empty: --until is not after --since/--range start")
    return start, end
