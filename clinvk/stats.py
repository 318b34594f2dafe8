"""The numbers behind `clinvk sessions stats`: sessions, turns, time, tokens and cost.

This module holds the counting rules: what one group's numbers are (Totals) and how the
turns of one session add up (sum_turns). The catalog (clinvk.catalog.aggregate) feeds
it: sums it keeps per session and per group, added up by SQL, and the turns of the few
sessions that straddle a time range's edge.

Counting rules (docs/stats.md):

* A time range selects *turns* by their start; a session counts in a range (or a day,
  week or month group) when one of its turns started there. A session without turns
  counts by its last use.
* In a day, week or month group a turn counts where it started, but its tokens and cost
  count where each of its API requests was made, where the record has their times
  (``TurnFact.spent``): a turn across midnight spends on both days, and the session
  counts on both.
* A turn with usage but no cost is *unpriced*: it adds nothing to the cost, is never
  taken as $0, and is counted. A turn without usage or cost (it failed before the model
  answered, or still runs) is counted apart as "no usage".
* ``cost_usd`` is None when no turn of the group has a cost; the average cost per
  session divides by the sessions that have at least one priced turn.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any, NamedTuple

from clinvk.errors import UsageError
from clinvk.model import STATUSES

GROUPS = ("backend", "model", "day", "week", "month", "workdir", "tag")
# `--by tool` groups the tool calls, not the turn sums (clinvk.catalog.tools).
TOOL_GROUP = "tool"
NO_TAG = "(untagged)"


class TurnFact(NamedTuple):
    """What `sessions stats` needs of one turn."""

    started: float  # epoch seconds
    duration: float | None
    model: str | None  # the turn's, else its session's
    status: str
    usage: tuple[int, int, int, int, int] | None  # input, output, cache read, cache write, reasoning
    cost: float | None
    cost_source: str
    # The turn's usage spent away from its start (its requests' own times): one Spent
    # per quarter hour of UTC after (or before) the one the turn started in.
    spent: tuple[Spent, ...] = ()


class Spent(NamedTuple):
    """Some requests of a turn, made within one quarter hour of UTC (every local
    midnight is one of its edges, so they fall in one local day): their time, tokens
    (input, output, cache read, cache write) and share of the turn's cost."""

    at: float  # epoch seconds: the quarter hour's start
    i0: int
    i1: int
    i2: int
    i3: int
    cost: float


# Where a turn's requests are grouped (see Spent): 15 minutes.
SPENT_STEP = 900.0


def check_group(by: str | None) -> None:
    if by is not None and by not in GROUPS and by != TOOL_GROUP:
        raise UsageError(f"invalid group: {by!r}",
                         hint="valid groups: " + ", ".join((*GROUPS, TOOL_GROUP)))


# Positions in the Sums tuple that sum_turns returns.
REPORTED_COST, REPORTED_TURNS, COMPUTED_COST, COMPUTED_TURNS = 8, 9, 10, 11


def priced(sums: Sums) -> bool:
    """Whether these sums hold a cost: a priced turn, or cost spent by a turn that
    started in another period."""
    return bool(sums[REPORTED_TURNS] or sums[COMPUTED_TURNS] or sums[REPORTED_COST]
                or sums[COMPUTED_COST])


def move_spent(parts: dict[str, Sums], key: str, fact: TurnFact,
               period: Callable[[float], str], empty: Sums) -> None:
    """Move the usage a turn spent in other periods than its start's (``key``) from that
    period's sums to theirs (``empty``: the sums of no turn, for a period new here)."""
    col = REPORTED_COST if fact.cost_source == "reported" else COMPUTED_COST
    for piece in fact.spent:
        other = period(piece.at)
        if other == key:
            continue
        for k, sign in ((key, -1), (other, 1)):
            sums = list(parts.get(k, empty))
            sums[3] += sign * piece.i0
            sums[4] += sign * piece.i1
            sums[5] += sign * piece.i2
            sums[6] += sign * piece.i3
            sums[col] += sign * piece.cost
            parts[k] = tuple(sums)  # type: ignore[assignment]
_INF = float("inf")


class Totals:
    """The sums of one group (or of everything)."""

    __slots__ = ("_last_sid", "by_status", "computed_cost", "computed_turns", "duration",
                 "first", "key", "last", "no_usage_turns", "priced_sessions", "reported_cost",
                 "reported_turns", "sessions", "timed_turns", "tokens", "turns",
                 "unpriced_turns")

    def __init__(self, key: str = ""):
        self.key = key
        self.sessions = 0
        self.by_status = dict.fromkeys(STATUSES, 0)
        self.priced_sessions = 0
        self.turns = 0
        self.duration = 0.0
        self.timed_turns = 0
        self.tokens = [0, 0, 0, 0, 0]  # input, output, cache read, cache write, reasoning
        self.reported_cost = 0.0
        self.reported_turns = 0
        self.computed_cost = 0.0
        self.computed_turns = 0
        self.unpriced_turns = 0
        self.no_usage_turns = 0
        self.first = _INF  # earliest turn start (epoch seconds)
        self.last = -_INF
        self._last_sid = ""

    # ------------------------------------------------------------ accumulating
    def add_session(self, sid: str, status: str, priced: bool) -> None:
        if sid == self._last_sid:
            return
        self._last_sid = sid
        self.sessions += 1
        self.by_status[status] = self.by_status.get(status, 0) + 1
        if priced:
            self.priced_sessions += 1

    def add(self, sums: Sums) -> None:
        """Add the turn sums of one session (or of its turns in this group)."""
        # Plain attribute updates: three times faster than list(map(add, …)) here.
        (turns, duration, timed, i0, i1, i2, i3, i4, reported, n_reported, computed,
         n_computed, unpriced, bare, first, last) = sums[:16]
        self.turns += turns
        self.duration += duration
        self.timed_turns += timed
        tokens = self.tokens
        tokens[0] += i0
        tokens[1] += i1
        tokens[2] += i2
        tokens[3] += i3
        tokens[4] += i4
        self.reported_cost += reported
        self.reported_turns += n_reported
        self.computed_cost += computed
        self.computed_turns += n_computed
        self.unpriced_turns += unpriced
        self.no_usage_turns += bare
        if turns:
            self.first = min(self.first, first)
            self.last = max(self.last, last)

    def absorb(self, other: Totals) -> None:
        """Add another Totals of other sessions: its sessions and its turn sums."""
        self.sessions += other.sessions
        for status, count in other.by_status.items():
            self.by_status[status] = self.by_status.get(status, 0) + count
        self.priced_sessions += other.priced_sessions
        self.merge(other)

    def merge(self, other: Totals) -> None:
        """Add another group's turn sums (not its sessions)."""
        t = other.tokens
        self.add((other.turns, other.duration, other.timed_turns, t[0], t[1], t[2], t[3], t[4],
                  other.reported_cost, other.reported_turns, other.computed_cost,
                  other.computed_turns, other.unpriced_turns, other.no_usage_turns,
                  other.first, other.last))

    # ------------------------------------------------------------ reading
    @property
    def cost(self) -> float | None:
        if not (self.reported_turns or self.computed_turns or self.reported_cost
                or self.computed_cost):
            return None
        return self.reported_cost + self.computed_cost

    @property
    def total_tokens(self) -> int:
        return sum(self.tokens[:4])

    def to_json(self) -> dict[str, Any]:
        from clinvk.output import iso

        cost = self.cost
        return {
            "sessions": self.sessions,
            "sessions_by_status": dict(self.by_status),
            "turns": self.turns,
            "duration_s": round(self.duration, 3),
            "avg_turn_duration_s": (round(self.duration / self.timed_turns, 3)
                                    if self.timed_turns else None),
            "tokens": {
                "input": self.tokens[0],
                "output": self.tokens[1],
                "cache_read": self.tokens[2],
                "cache_write": self.tokens[3],
                "reasoning": self.tokens[4],
                "total": self.total_tokens,
            },
            "cost_usd": _money(cost),
            "avg_cost_per_session_usd": (_money(cost / self.priced_sessions)
                                         if cost is not None and self.priced_sessions else None),
            "cost": {
                "reported_usd": _money(self.reported_cost),
                "reported_turns": self.reported_turns,
                "computed_usd": _money(self.computed_cost),
                "computed_turns": self.computed_turns,
                "unpriced_turns": self.unpriced_turns,
                "no_usage_turns": self.no_usage_turns,
            },
            "first_turn_at": iso(self.first) if self.turns else None,
            "last_turn_at": iso(self.last) if self.turns else None,
        }


# turns, duration, timed turns, 5 token counts, reported cost, reported turns, computed
# cost, computed turns, unpriced turns, turns without usage, first start, last start
Sums = tuple[int, float, int, int, int, int, int, int, float, int, float, int, int, int,
             float, float]


def sum_turns(facts: list[TurnFact]) -> Sums:
    """The sums of some turns of one session, in order.

    One pass, local variables only: the catalog runs it for every session it reads.
    ``first`` and ``last`` are the earliest and latest start (0.0 without turns).
    """
    duration = 0.0
    timed = i0 = i1 = i2 = i3 = i4 = 0
    reported = computed = 0.0
    n_reported = n_computed = unpriced = bare = 0
    first, last = _INF, -_INF
    for f in facts:
        s = f.started
        first = min(first, s)
        last = max(last, s)
        d = f.duration
        if d is not None:
            duration += d
            timed += 1
        u = f.usage
        c = f.cost
        if u is not None:
            a, b, cr, cw, r = u
            i0 += a
            i1 += b
            i2 += cr
            i3 += cw
            i4 += r
            if c is None:
                unpriced += 1
        elif c is None:
            bare += 1
        if c is not None:
            if f.cost_source == "reported":
                reported += c
                n_reported += 1
            else:
                computed += c
                n_computed += 1
    if not facts:
        first = last = 0.0
    return (len(facts), duration, timed, i0, i1, i2, i3, i4, reported, n_reported, computed,
            n_computed, unpriced, bare, first, last)


def _money(value: float | None) -> float | None:
    return None if value is None else round(value, 10)


class Report:
    """What stats found: the totals and, with a group, one Totals per key."""

    def __init__(self, by: str | None, start: float | None, end: float | None):
        self.by = by
        self.start = start
        self.end = end
        self.totals = Totals("total")
        self.groups: dict[str, Totals] = {}

    def sorted_groups(self) -> list[Totals]:
        groups = list(self.groups.values())
        if self.by in ("day", "week", "month"):
            return sorted(groups, key=attrgetter("key"))
        return sorted(groups, key=lambda g: (-(g.cost or 0.0), -g.turns, g.key))
