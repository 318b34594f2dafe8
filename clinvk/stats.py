"""The numbers behind `clinvk sessions stats`: sessions, turns, time, tokens and cost.

Everything comes from the index (one Summary and a list of TurnFacts per session), never
from the session files. A session's turns are summed in one plain loop (sum_turns) right
after they are decoded, while they are in the CPU cache; per-session sums the index
keeps (Summary.sums, where the index has them) spare decoding the turns at all unless a
session straddles the range's edge or falls in several groups.

Counting rules (docs/stats.md):

* A time range selects *turns* by their start; a session counts in a range (or a day,
  week or month group) when one of its turns started there. A session without turns
  counts by its last use.
* A turn with usage but no cost is *unpriced*: it adds nothing to the cost, is never
  taken as $0, and is counted. A turn without usage or cost (it failed before the model
  answered, or still runs) is counted apart as "no usage".
* ``cost_usd`` is None when no turn of the group has a cost; the average cost per
  session divides by the sessions that have at least one priced turn.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from clinvk.errors import UsageError
from clinvk.model import STATUSES
from clinvk.periods import LocalCalendar, split_runs

if TYPE_CHECKING:
    from clinvk.index import IndexState, Summary, TurnFact
    from clinvk.store import SessionStore

GROUPS = ("backend", "model", "day", "week", "month", "workdir", "tag")
NO_TAG = "(untagged)"
NO_MODEL = "(unknown)"

_started = attrgetter("started")
_model = attrgetter("model")


def check_group(by: str | None) -> None:
    if by is not None and by not in GROUPS:
        raise UsageError(f"invalid group: {by!r}", hint="valid groups: " + ", ".join(GROUPS))


# Positions in the Sums tuple that sum_turns returns (and session_sums, which adds one).
REPORTED_TURNS, COMPUTED_TURNS, FIRST, LAST, SAME_MODEL = 9, 11, 14, 15, 16
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
        if not self.reported_turns and not self.computed_turns:
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

    The hot loop of `sessions stats`: local variables only, one pass per turn. (Summing
    columns with map/sum over many sessions' turns at once is slower: the turns are no
    longer in the CPU cache by then.)
    """
    duration = 0.0
    timed = i0 = i1 = i2 = i3 = i4 = 0
    reported = computed = 0.0
    n_reported = n_computed = unpriced = bare = 0
    for f in facts:
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
    if facts:
        first, last = facts[0].started, facts[-1].started
    else:
        first = last = 0.0  # finite: sums are stored in the index, also as JSON
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
        self.elapsed = 0.0

    def sorted_groups(self) -> list[Totals]:
        groups = list(self.groups.values())
        if self.by in ("day", "week", "month"):
            return sorted(groups, key=attrgetter("key"))
        return sorted(groups, key=lambda g: (-(g.cost or 0.0), -g.turns, g.key))


def session_sums(facts: list[TurnFact], model: str | None) -> tuple[int | float, ...]:
    """What the index may keep per session so that stats need not decode its turns:
    sum_turns(facts) and 1 if every turn's model is ``model`` (the session's), else 0."""
    same = all(f.model == model for f in facts)
    return (*sum_turns(facts), 1 if same else 0)


def _entries(state: IndexState) -> Iterator[tuple[Summary, Any, Any]]:
    """(summary, its precomputed sums or None, a handle for _facts) for every session;
    the index decodes a session's turn facts only when _facts asks for them."""
    for summary, handle in state.iter_lazy():
        yield summary, summary.sums, _Handle(handle)


class _Handle:
    """A session's facts not decoded yet."""

    __slots__ = ("handle",)

    def __init__(self, handle: Any):
        self.handle = handle


def _facts(state: IndexState, summary: Summary, got: Any) -> list[TurnFact]:
    facts: list[TurnFact]
    if isinstance(got, _Handle):
        facts = state.facts_of(summary, got.handle)
    else:
        facts = got
    return facts


def compute(store: SessionStore, state: IndexState, *, by: str | None = None,
            start: float | None = None, end: float | None = None,
            keep: Callable[[Summary], bool] | None = None,
            verify: bool = False) -> Report:
    """Aggregate every session of the index that ``keep`` accepts, turns in [start, end).

    A session's turns are decoded only when its precomputed sums cannot answer: it
    straddles the range's edge, or it falls in several groups (models, days…).
    """
    from clinvk.liveness import effective_status

    check_group(by)
    began = time.perf_counter()
    report = Report(by, start, end)
    totals = report.totals
    groups = report.groups
    calendar = LocalCalendar(by) if by in ("day", "week", "month") else None
    lo = -_INF if start is None else start
    hi = _INF if end is None else end
    windowed = start is not None or end is not None

    def group(key: str) -> Totals:
        found = groups.get(key)
        if found is None:
            found = groups[key] = Totals(key)
        return found

    entries: Iterable[tuple[Summary, Any, Any]] = _entries(state)
    if verify:
        entries = _verified(store, state, entries)
    for summary, pre, got in entries:
        if summary.last_used < lo:
            # Newest first: every later session was last used before the range began, and
            # a turn starts before its session's last use.
            break
        if keep is not None and not keep(summary):
            continue
        facts: list[TurnFact] | None = None
        if pre is not None:
            if not pre[0]:
                facts = []
            elif windowed and not (pre[FIRST] >= lo and pre[LAST] < hi):
                if pre[LAST] < lo or pre[FIRST] >= hi:
                    continue  # no turn in the range
                pre = None  # some turns in, some out
        if pre is None and facts is None:
            facts = _facts(state, summary, got)
        if windowed and facts is not None:
            if facts:
                facts = _in_window(facts, start, end)
                if not facts:
                    continue
            elif summary.last_used >= hi:
                continue
        status = summary.status
        if status == "running":
            status = effective_status(status, summary.pid, summary.pid_start)
        sid = summary.id
        if by is None or by == "tag" or by == "backend" or by == "workdir":
            sums = pre if pre is not None else sum_turns(facts or [])
            priced = bool(sums[REPORTED_TURNS] or sums[COMPUTED_TURNS])
            totals.add_session(sid, status, priced)
            if by is None:
                totals.add(sums)
            elif by == "tag":
                totals.add(sums)
                for key in summary.tags or [NO_TAG]:
                    g = group(key)
                    g.add_session(sid, status, priced)
                    g.add(sums)
            else:
                # Each session in exactly one group: the totals' turn sums are added up
                # from the groups at the end.
                g = group(summary.backend if by == "backend" else summary.workdir)
                g.add_session(sid, status, priced)
                g.add(sums)
            continue
        # Grouped by turn: model, day, week or month.
        if facts is not None and not facts or pre is not None and not pre[0]:
            totals.add_session(sid, status, False)
            group(_session_key(summary, calendar)).add_session(sid, status, False)
            continue
        parts: list[tuple[str, Any]] | None = None
        if pre is not None:
            if calendar is not None:
                key, ends = calendar.period(pre[FIRST])
                if pre[LAST] < ends:
                    parts = [(key, pre)]
            elif pre[SAME_MODEL]:
                parts = [(summary.model or NO_MODEL, pre)]
            if parts is None:
                facts = _facts(state, summary, got)
        if parts is None:
            assert facts is not None
            parts = _parts(facts, calendar)
        session_priced = False
        for key, part in parts:
            sums = part if part is pre else sum_turns(part)
            priced = bool(sums[REPORTED_TURNS] or sums[COMPUTED_TURNS])
            session_priced = session_priced or priced
            g = group(key)
            g.add_session(sid, status, priced)
            g.add(sums)
        totals.add_session(sid, status, session_priced)
    if by is not None and by != "tag":
        for g in groups.values():
            totals.merge(g)
    report.elapsed = time.perf_counter() - began
    return report


def _parts(facts: list[TurnFact], calendar: LocalCalendar | None
           ) -> list[tuple[str, list[TurnFact]]]:
    """A session's turns split by period (calendar) or by model."""
    if calendar is not None:
        return calendar.split(facts)
    models = list(map(_model, facts))
    if models.count(models[0]) == len(models):
        return [(models[0] or NO_MODEL, facts)]
    return list(split_runs([m or NO_MODEL for m in models], facts))


def _session_key(summary: Summary, calendar: LocalCalendar | None) -> str:
    if calendar is not None:
        return calendar.period(summary.last_used)[0]
    return summary.model or NO_MODEL


def _in_window(facts: list[TurnFact], start: float | None, end: float | None) -> list[TurnFact]:
    starts = list(map(_started, facts))
    low, high = min(starts), max(starts)
    if (start is None or low >= start) and (end is None or high < end):
        return facts
    lo = float("-inf") if start is None else start
    hi = float("inf") if end is None else end
    return [f for f, s in zip(facts, starts) if lo <= s < hi]


def _verified(store: SessionStore, state: IndexState,
              entries: Iterable[tuple[Summary, Any, Any]]) -> Iterator[tuple[Summary, Any, Any]]:
    """Entries checked against their files: one stat each, a re-read only when changed.

    Off by default: the index already follows every write clinvk makes and every file
    added, replaced or removed; this also catches files edited in place by other tools,
    at the price of 100,000 stat calls.
    """
    import os

    base = f"{store.sessions_dir}{os.sep}"
    stat = os.stat
    sep = os.sep
    for summary, pre, got in entries:
        ident = summary.id
        try:
            mtime = stat(f"{base}{ident[:2]}{sep}{ident}.json").st_mtime_ns
        except FileNotFoundError:
            continue
        except OSError:
            yield summary, pre, got
            continue
        if mtime == summary.mtime_ns:
            yield summary, pre, got
            continue
        fresh = store.verify_entry(summary, _facts(state, summary, got))
        if fresh is not None:
            yield fresh[0], None, fresh[1]
