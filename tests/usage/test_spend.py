"""clinvk.spend and clinvk.budget.usage: the recorded cost in a window, and how much of
each cap it uses (what `sessions stats` shows, asked of an open catalog)."""

from __future__ import annotations

from datetime import timedelta

from clinvk.budget import usage
from clinvk.catalog import Catalog
from clinvk.config.schema import BudgetConfig
from clinvk.model import utcnow
from clinvk.spend import session_spent, spent
from clinvk.store import SessionStore
from tests.conftest import add_session


def test_spent_sums_the_window_and_counts_unpriced_turns(store: SessionStore) -> None:
    add_session(store, cost=1.25, turns=2)
    add_session(store, cost=None)  # used tokens, no price
    add_session(store, cost=9.0, age_days=3)
    today = spent(store, utcnow() - timedelta(hours=1))
    assert (round(today.usd, 6), today.unpriced) == (2.5, 1)
    everything = spent(store)
    assert (round(everything.usd, 6), everything.unpriced) == (11.5, 1)
    old = spent(store, utcnow() - timedelta(days=4), utcnow() - timedelta(days=2))
    assert round(old.usd, 6) == 9.0


def test_session_spent_and_cap_usage(store: SessionStore) -> None:
    session = add_session(store, cost=0.5, turns=3)
    assert round(session_spent(session).usd, 6) == 1.5
    catalog = Catalog.open(store)
    try:
        rows = usage(BudgetConfig(daily_usd=3.0, session_usd=1.0), catalog)
        assert rows == [{"cap": "daily", "limit_usd": 3.0, "spent_usd": 1.5, "used": 0.5,
                         "unpriced_turns": 0, "range": "today"}]
        assert usage(BudgetConfig(), catalog) == []
    finally:
        catalog.close()
