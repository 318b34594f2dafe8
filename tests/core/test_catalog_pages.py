"""What the terminal browser asks of the catalog: pages in each sort order, the sums
of a filter (with a search too), and the poll that notices changes."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.conftest import add_session


@pytest.fixture
def five(store: Any) -> list[Any]:
    made = []
    for n, (backend, tokens, cost, age) in enumerate([
            ("claude", 500, 0.5, 4), ("codex", 900, None, 3), ("gemini", 100, 0.1, 2),
            ("claude", 700, 0.9, 1), ("codex", 300, None, 0)]):
        made.append(add_session(store, backend=backend, title=f"s{n} parser" if n % 2 else f"s{n}",
                                tokens=(tokens, 0, 0, 0, 0), cost=cost, age_days=age,
                                turns=1 + n % 2))
    return made


def catalog(store: Any) -> Any:
    from clinvk.catalog import Catalog

    return Catalog.open(store)


@pytest.mark.parametrize("order,key", [
    ("last_used", lambda s: -s.last_used_at.timestamp()),
    ("created", lambda s: -s.created_at.timestamp()),
    ("tokens", lambda s: -(s.tokens() or 0)),
    ("cost", lambda s: -(s.cost() if s.cost() is not None else -1)),
    ("duration", lambda s: -sum(t.duration_s or 0 for t in s.turns)),
])
def test_pages_come_in_each_sort_order(store: Any, five: list[Any], order: str, key: Any) -> None:
    expected = [s.id for s in sorted(five, key=lambda s: (key(s), s.id))]
    cat = catalog(store)
    whole = [r.id for r in cat.rows(order=order).rows]
    paged = [r.id for off in range(0, 5, 2) for r in cat.rows(None, off, 2, order=order).rows]
    assert whole == paged == expected


def test_sums_of_a_filter_and_of_a_search(store: Any, five: list[Any]) -> None:
    from clinvk.catalog import Filter

    cat = catalog(store)
    everything = cat.sums()
    # s1 and s3 have two turns each; codex's turns are unpriced.
    assert (everything.sessions, everything.tokens) == (5, 500 + 1800 + 100 + 1400 + 300)
    assert everything.cost == pytest.approx(0.5 + 0.1 + 1.8)
    claude = cat.sums(Filter(backend="claude"))
    assert (claude.sessions, claude.tokens, round(claude.cost or 0, 6)) == (2, 1900, 2.3)
    assert cat.sums(Filter(backend="codex")).cost is None  # two sessions, no price
    found = cat.sums(Filter(search="parser"))  # s1 and s3
    assert (found.sessions, found.tokens) == (2, 900 * 2 + 700 * 2)
    assert cat.sums(Filter(backend="codex", search="nothing-holds-this")).sessions == 0
    # The search's sessions stay right when the filter changes around it.
    assert cat.rows(Filter(search="parser", backend="claude")).total == 1


def test_poll_sees_writes_and_dead_runners_and_nothing_else(
        store: Any, five: list[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from clinvk.catalog import Filter, refresh

    # A directory changed this very tick is looked at again for 2 s (refresh.py): here
    # every mtime counts as settled, so a poll with nothing new really sees nothing.
    monkeypatch.setattr(refresh, "UNSETTLED_NS", -10**12)
    cat = catalog(store)
    assert cat.poll() is False
    add_session(store, title="new one")
    assert cat.poll() is True
    assert cat.rows().total == 6
    # A record left running by a process that is gone: shown as error after a poll.
    ghost = add_session(store, title="ghost", status="running")

    def mark(session: Any) -> None:
        session.status = "running"
        session.pid, session.pid_start = os.getpid(), 1.0  # our pid, another start: dead

    store.update(ghost.id, mark)
    assert cat.poll() is True
    assert cat.rows(Filter(status="error")).total == 1
    assert cat.poll() is False
