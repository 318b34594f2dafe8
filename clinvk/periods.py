"""Grouping the turns of a session: by local day, ISO week or month, or by any key.

Used by `sessions stats --by day|week|month|model` (through the catalog): a session
whose turns span several periods (or models) is cut into one run of turns per key.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from datetime import datetime, timedelta
from datetime import time as dt_time
from operator import attrgetter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from clinvk.stats import TurnFact

NO_MODEL = "(unknown)"

_INF = float("inf")
_started = attrgetter("started")


class LocalCalendar:
    """Turn start → its local day, ISO week or month, and when that period ends.

    The periods met so far are kept sorted, so most lookups are a comparison with the
    last period used (consecutive sessions are close in time) or one bisect; the local
    calendar (datetime, DST) is consulted once per period.
    """

    def __init__(self, by: str):
        self.by = by
        self.starts: list[float] = []
        self.periods: list[tuple[float, float, str]] = []  # (start, end, key), by start
        self.low, self.high, self.current = _INF, -_INF, ""

    def period(self, ts: float) -> tuple[str, float]:
        """(key, timestamp when the next period begins) for an instant."""
        if self.low <= ts < self.high:
            return self.current, self.high
        i = bisect_right(self.starts, ts) - 1
        if i >= 0 and ts < self.periods[i][1]:
            start, end, key = self.periods[i]
        else:
            start, end, key = self._compute(ts)
            j = bisect_right(self.starts, start)
            self.starts.insert(j, start)
            self.periods.insert(j, (start, end, key))
        self.low, self.high, self.current = start, end, key
        return key, end

    def _compute(self, ts: float) -> tuple[float, float, str]:
        day = datetime.fromtimestamp(ts).date()
        if self.by == "day":
            first, key, following = day, day.isoformat(), day + timedelta(days=1)
        elif self.by == "week":
            year, week, weekday = day.isocalendar()
            first = day - timedelta(days=weekday - 1)
            key, following = f"{year}-W{week:02d}", first + timedelta(days=7)
        else:
            first = day.replace(day=1)
            key = f"{day.year:04d}-{day.month:02d}"
            following = (first + timedelta(days=32)).replace(day=1)
        # Local midnights (a naive datetime is local time, DST included).
        start = datetime.combine(first, dt_time()).timestamp()
        end = datetime.combine(following, dt_time()).timestamp()
        return min(start, ts), max(end, ts + 1e-6), key

    def split(self, facts: list[TurnFact]) -> list[tuple[str, list[TurnFact]]]:
        """The turns of each period, for turns in time order."""
        key, ends = self.period(facts[0].started)
        if facts[-1].started < ends:
            return [(key, facts)]
        starts = list(map(_started, facts))
        if starts != sorted(starts):
            return list(split_runs([self.period(t)[0] for t in starts], facts))
        parts = []
        i, n = 0, len(facts)
        while i < n:
            key, ends = self.period(starts[i])
            j = bisect_left(starts, ends, i)
            parts.append((key, facts[i:j]))
            i = j
        return parts


def split_runs(keys: list[str], facts: list[TurnFact]) -> Iterator[tuple[str, list[TurnFact]]]:
    """The turns of each key, in the order the keys first appear."""
    i, n = 0, len(keys)
    while i < n:
        # Runs of one key are contiguous when the keys come in order (days of turns in
        # time order): then a slice does. Keys before i were whole runs, so count() sees
        # only this key's turns from i on.
        key = keys[i]
        j = i + keys.count(key)
        if keys[i:j].count(key) == j - i:
            yield key, facts[i:j]
            i = j
            continue
        break
    else:
        return
    split: dict[str, list[TurnFact]] = {}
    for key, fact in zip(keys[i:], facts[i:]):
        part = split.get(key)
        if part is None:
            split[key] = [fact]
        else:
            part.append(fact)
    yield from split.items()


def split(facts: list[TurnFact], calendar: LocalCalendar | None
          ) -> list[tuple[str, list[TurnFact]]]:
    """A session's turns (at least one) split by period (calendar) or else by model."""
    if calendar is not None:
        return calendar.split(facts)
    models = [f.model or NO_MODEL for f in facts]
    if models.count(models[0]) == len(models):
        return [(models[0], facts)]
    return list(split_runs(models, facts))


def session_key(model: str | None, last_used: float, calendar: LocalCalendar | None) -> str:
    """The group of a session without turns: its model, or the period of its last use."""
    if calendar is not None:
        return calendar.period(last_used)[0]
    return model or NO_MODEL
