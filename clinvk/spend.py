"""Money already spent: the recorded cost of the turns that started in a window.

``spent`` answers it with one query of the session catalog (the sum of the turns' costs
in [start, end), and the count of finished turns without a price). It is the figure the
budget caps (clinvk.budget) are checked against before each turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

    from clinvk.catalog import Catalog
    from clinvk.model import Session
    from clinvk.store import SessionStore


@dataclass
class Spend:
    # Computed and reported costs together, in USD.
    usd: float = 0.0
    # Finished turns that used tokens but have no price: their cost is unknown.
    unpriced: int = 0


def _add(total: Spend, sessions: Iterable[Session], start: datetime | None,
         end: datetime | None) -> Spend:
    for session in sessions:
        for turn in session.turns:
            if start is not None and turn.started_at < start:
                continue
            if end is not None and turn.started_at >= end:
                continue
            if turn.cost_usd is not None:
                total.usd += turn.cost_usd
            elif turn.status != "running" and (turn.usage is not None or turn.status == "ok"):
                total.unpriced += 1
    return total


def spent(store: SessionStore, start: datetime | None = None,
          end: datetime | None = None) -> Spend:
    """The recorded cost of every stored turn that started in [start, end) (UTC)."""
    from clinvk.catalog import Catalog

    catalog = Catalog.open(store)
    try:
        return spent_in(catalog, start, end)
    finally:
        catalog.close()


def spent_in(catalog: Catalog, start: datetime | None = None,
             end: datetime | None = None) -> Spend:
    """spent() asked of a catalog that is already open."""
    usd, unpriced = catalog.spent(None if start is None else start.timestamp(),
                                  None if end is None else end.timestamp())
    return Spend(usd, unpriced)


def session_spent(session: Session) -> Spend:
    """The recorded cost of one session's turns."""
    return _add(Spend(), [session], None, None)
