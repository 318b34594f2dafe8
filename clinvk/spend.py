"""Money already spent: the recorded cost of the turns that started in a window.

One function, ``spent``, answers it by reading every session record. It is the figure
the budget caps (clinvk.budget) are checked against before each turn; the session
catalog should answer the same question as one query (the sum of the turns' costs in
[start, end), and the count of finished turns without a price).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

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
    records = (session for _path, session, _problem in store.iter_sessions()
               if session is not None)
    return _add(Spend(), records, start, end)


def session_spent(session: Session) -> Spend:
    """The recorded cost of one session's turns."""
    return _add(Spend(), [session], None, None)
