"""'5 minutes ago': how long ago a moment was, in words.

The same words as humanize's ``naturaltime`` of a timedelta (English, months on, whole
seconds), which every table's LAST USED column showed until now — without importing
humanize and gettext, a tenth of what `sessions list` adds on a big store
(tests/core/test_ago.py compares the two over every kind of delta).
"""

from __future__ import annotations

from datetime import timedelta


def _count(n: int, one: str, many: str) -> str:
    return (one if n == 1 else many) % n


def duration(delta: timedelta) -> str:
    """'30 minutes', 'a day', '1 year, 2 months' for a length of time (sign ignored)."""
    delta = abs(delta)
    years, days = divmod(delta.days, 365)
    months = round(days / 30.5)
    seconds = delta.seconds
    if years == 0 and days < 1:
        if seconds == 0:
            return "a moment"
        if seconds == 1:
            return "a second"
        if seconds < 60:
            return _count(seconds, "%d second", "%d seconds")
        if seconds < 3600:
            minutes = round(seconds / 60)
            if minutes == 1:
                return "a minute"
            if minutes == 60:
                return "an hour"
            return _count(minutes, "%d minute", "%d minutes")
        hours = round(seconds / 3600)
        if hours == 1:
            return "an hour"
        if hours == 24:
            return "a day"
        return _count(hours, "%d hour", "%d hours")
    if years == 0:
        if days == 1:
            return "a day"
        if months == 0:
            return _count(days, "%d day", "%d days")
        if months == 1:
            return "a month"
        if months == 12:
            return "a year"
        return _count(months, "%d month", "%d months")
    if years == 1:
        if months == 0:
            return "a year" if days == 0 else _count(days, "1 year, %d day", "1 year, %d days")
        if months == 1:
            return "1 year, 1 month"
        if months == 12:
            return "2 years"
        return _count(months, "1 year, %d month", "1 year, %d months")
    years = round(delta.days / 365)
    return f"{years:,} year" if years == 1 else f"{years:,} years"


def ago(delta: timedelta) -> str:
    """'5 minutes ago' for a moment ``delta`` before now ('… from now' if after it;
    'now' within the second)."""
    words = duration(delta)
    if words == "a moment":
        return "now"
    return f"{words} from now" if delta < timedelta(0) else f"{words} ago"
