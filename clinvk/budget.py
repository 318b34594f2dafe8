"""Spending caps ([budget] daily_usd, monthly_usd, session_usd): checked before every
turn against the cost already recorded in the store (clinvk.spend).

A cap that is reached refuses the turn (exit 1) with what was spent and where to look;
at 80 % of a cap a warning line goes to stderr. `--ignore-budget` skips the check for
one command.

Units run concurrently (`clinvk parallel`, `compare`) pass through a ``Gate`` first: a
unit starts only while what is spent plus what the running units are expected to cost
stays under the caps, so a concurrent run overshoots a cap no more than a sequential
run would.
"""

from __future__ import annotations

import math
import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING

from clinvk.errors import ClinvkError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from clinvk.catalog import Catalog
    from clinvk.config.schema import BudgetConfig
    from clinvk.model import Session
    from clinvk.spend import Spend
    from clinvk.store import SessionStore

WARN_AT = 0.8
# How many of a backend's latest finished turns say what its next turn will cost.
RECENT_TURNS = 20


class BudgetExceededError(ClinvkError):
    """A [budget] cap is reached: the turn does not start."""


def _unpriced(spend: Spend) -> str:
    if not spend.unpriced:
        return ""
    plural = "s" if spend.unpriced != 1 else ""
    return f"; {spend.unpriced} unpriced turn{plural} not counted"


def _judge(cap: float | None, spend: Spend, when: str, kind: str, where: str, key: str) -> None:
    if cap is None:
        return
    from clinvk.output import money

    if spend.usd >= cap:
        raise BudgetExceededError(
            f"budget exceeded: {money(spend.usd)} spent {when} of a {money(cap)} {kind} cap "
            f"({where}){_unpriced(spend)}",
            hint=f"raise {key} (clinvk config set {key} N), or pass --ignore-budget "
                 "for this command")
    if cap > 0 and spend.usd >= WARN_AT * cap:
        from clinvk.output import warn

        warn(f"budget: {money(spend.usd)} spent {when}, {spend.usd / cap:.0%} of the "
             f"{money(cap)} {kind} cap{_unpriced(spend)}")


def enforce(budget: BudgetConfig, store: SessionStore | None, session: Session | None) -> None:
    """Refuse (BudgetExceededError) when a cap is reached; warn from 80 % of one.

    ``session``: the session the turn continues (its own cap), None for a new one.
    """
    if budget.daily_usd is None and budget.monthly_usd is None and budget.session_usd is None:
        return
    from clinvk.spend import session_spent, spent
    from clinvk.timespec import range_bounds

    if store is None:  # an --ephemeral turn still counts what the store recorded
        from clinvk.store import SessionStore

        store = SessionStore()
    if budget.daily_usd is not None:
        start, _end = range_bounds("today")
        _judge(budget.daily_usd, spent(store, start), "today", "daily",
               "clinvk sessions stats --range today", "budget.daily_usd")
    if budget.monthly_usd is not None:
        start, _end = range_bounds("thismonth")
        _judge(budget.monthly_usd, spent(store, start), "this month", "monthly",
               "clinvk sessions stats --range thismonth", "budget.monthly_usd")
    if budget.session_usd is not None and session is not None:
        _judge(budget.session_usd, session_spent(session), f"in session {session.id}",
               "per-session", f"clinvk sessions show {session.id}", "budget.session_usd")


def usage(budget: BudgetConfig, catalog: Catalog) -> list[dict[str, object]]:
    """Each daily/monthly cap that is set, with what is spent of it: for `sessions stats`
    ({cap, limit_usd, spent_usd, used (a fraction), unpriced_turns, range})."""
    from clinvk.spend import spent_in
    from clinvk.timespec import range_bounds

    rows: list[dict[str, object]] = []
    for cap, limit, range_name in (("daily", budget.daily_usd, "today"),
                                   ("monthly", budget.monthly_usd, "thismonth")):
        if limit is None:
            continue
        start, _end = range_bounds(range_name)
        spend = spent_in(catalog, start)
        rows.append({"cap": cap, "limit_usd": limit, "spent_usd": round(spend.usd, 6),
                     "used": round(spend.usd / limit, 4) if limit else None,
                     "unpriced_turns": spend.unpriced, "range": range_name})
    return rows


def caps_set(budget: BudgetConfig) -> bool:
    """Whether a cap that concurrent units share (daily, monthly) is set."""
    return budget.daily_usd is not None or budget.monthly_usd is not None


class Gate:
    """Concurrent units under the daily and monthly caps.

    A unit is admitted only while what is spent plus what the running units are
    expected to cost (their backend's average over its last RECENT_TURNS finished
    turns) stays under each cap; else it waits for a running unit to end. With nothing
    running it is admitted at once, and the turn's own check (``enforce``) refuses it if
    a cap is reached, exactly as in a sequential run. A backend without a finished turn
    has no expected cost: its unit runs alone, and its cost tells the next ones.
    """

    def __init__(self, budget: BudgetConfig) -> None:
        self.budget = budget
        self._changed = threading.Condition()
        self._running: dict[int, float] = {}  # admission -> expected USD (inf: unknown)
        self._count = 0
        self._ended = 0  # how many admitted units have ended

    @contextmanager
    def admit(self, backend: str, stopped: Callable[[], bool]) -> Iterator[bool]:
        """Wait until a unit of ``backend`` may start; yields False (the unit must not
        start) if ``stopped`` turned true first. The unit counts as running until the
        block ends."""
        admission = self._wait(backend, stopped)
        try:
            yield admission is not None
        finally:
            if admission is not None:
                with self._changed:
                    del self._running[admission]
                    self._ended += 1
                    self._changed.notify_all()

    def _wait(self, backend: str, stopped: Callable[[], bool]) -> int | None:
        from clinvk.catalog import Catalog
        from clinvk.store import SessionStore

        with self._changed:
            checked = -1
            while True:
                if stopped():
                    return None
                if not self._running:
                    break
                if checked != self._ended:  # asked again only once a unit has ended
                    checked = self._ended
                    catalog = Catalog.open(SessionStore())
                    try:
                        if self._room(catalog):
                            break
                    finally:
                        catalog.close()
                # Woken when a unit ends; the timeout only notices a stop of the run.
                self._changed.wait(0.1)
            catalog = Catalog.open(SessionStore())
            try:
                expected = catalog.recent_cost(backend, RECENT_TURNS)
            finally:
                catalog.close()
            admission = self._count
            self._count += 1
            self._running[admission] = math.inf if expected is None else expected
            return admission

    def _room(self, catalog: Catalog) -> bool:
        from clinvk.spend import spent_in
        from clinvk.timespec import range_bounds

        ahead = sum(self._running.values())
        for cap, range_name in ((self.budget.daily_usd, "today"),
                                (self.budget.monthly_usd, "thismonth")):
            if cap is None:
                continue
            start, _end = range_bounds(range_name)
            if spent_in(catalog, start).usd + ahead >= cap:
                return False
        return True
