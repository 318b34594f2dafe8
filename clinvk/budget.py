"""Spending caps ([budget] daily_usd, monthly_usd, session_usd): checked before every
turn against the cost already recorded in the store (clinvk.spend).

A cap that is reached refuses the turn (exit 1) with what was spent and where to look;
at 80 % of a cap a warning line goes to stderr. `--ignore-budget` skips the check for
one command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clinvk.errors import ClinvkError

if TYPE_CHECKING:
    from clinvk.catalog import Catalog
    from clinvk.config.schema import BudgetConfig
    from clinvk.model import Session
    from clinvk.spend import Spend
    from clinvk.store import SessionStore

WARN_AT = 0.8


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
    if spend.usd >= cap:
        raise BudgetExceededError(
            f"budget exceeded: ${spend.usd:.2f} spent {when} of a ${cap:.2f} {kind} cap "
            f"({where}){_unpriced(spend)}",
            hint=f"raise {key} (clinvk config set {key} N), or pass --ignore-budget "
                 "for this command")
    if cap > 0 and spend.usd >= WARN_AT * cap:
        from clinvk.output import warn

        warn(f"budget: ${spend.usd:.2f} spent {when}, {spend.usd / cap:.0%} of the "
             f"${cap:.2f} {kind} cap{_unpriced(spend)}")


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
