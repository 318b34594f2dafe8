"""clinvk.stats.compute: the per-session-sums path gives exactly what the per-turn path does.

The index keeps per-session sums (``Summary.sums``) and decodes turn facts lazily
(``IndexState.iter_lazy`` / ``facts_of``). These tests compare stats over the real index
with stats over the same index stripped of its sums (every turn decoded), for every
group and range.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import msgspec
import pytest

from clinvk import stats
from clinvk.index import Summary, TurnFact
from clinvk.periods import split_runs
from clinvk.store import SessionStore
from tests.usage.conftest import DEAD_PID, T, at, make


class CountingState:
    """A real IndexState that counts how many sessions' turn facts were decoded, and can
    hide its per-session sums to force the per-turn path."""

    def __init__(self, state: Any, *, hide_sums: bool = False):
        self.state = state
        self.hide_sums = hide_sums
        self.decoded = 0

    def iter_lazy(self) -> Iterator[tuple[Summary, int | None]]:
        for summary, handle in self.state.iter_lazy():
            assert summary.sums is not None  # the index always keeps them
            yield (msgspec.structs.replace(summary, sums=None) if self.hide_sums else summary,
                   handle)

    def facts_of(self, summary: Summary, handle: int | None) -> list[TurnFact]:
        self.decoded += 1
        return self.state.facts_of(summary, handle)  # type: ignore[no-any-return]


@pytest.fixture
def varied(store: SessionStore, utc: None) -> SessionStore:
    rng = random.Random(5)
    models = {"claude": ["claude-opus-4-8", "claude-sonnet-4-5"], "codex": ["gpt-5.5"],
              "gemini": ["gemini-2.5-pro", "gemini-2.5-flash"]}
    base = at("2026-02-20 06:00")
    for n in range(60):
        backend = rng.choice(list(models))
        when = base + timedelta(hours=rng.randint(0, 24 * 30))
        turns = []
        for _ in range(rng.randint(0, 6)):
            when += timedelta(hours=rng.choice([0.1, 0.5, 3, 20, 50]))
            usage = None if rng.random() < 0.1 else tuple(rng.randint(0, 5000) for _ in range(5))
            source = rng.choice(["reported", "computed", "unpriced"]) if usage else "unpriced"
            turns.append(T(when, usage, None if source == "unpriced" else rng.randint(1, 900) / 1000,
                           source, rng.choice([None, 1.5, 30.0]), model=rng.choice(models[backend])))
        make(store, backend=backend, model=rng.choice(models[backend]),
             status=rng.choice(["active", "completed", "error", "paused"]),
             workdir=rng.choice(["/w/a", "/w/b"]), tags=rng.sample(["x", "y", "z"], rng.randint(0, 2)),
             turns=turns, created=base + timedelta(hours=n), last_used=when)
    make(store, status="running", pid=DEAD_PID, pid_start=1.0, turns=[T(at("2026-03-01 00:00"))])
    return store


def snapshot(report: stats.Report) -> dict[str, Any]:
    return {"totals": report.totals.to_json(),
            "groups": {g.key: g.to_json() for g in report.sorted_groups()}}


WINDOWS = [
    (None, None),
    (at("2026-03-01 00:00").timestamp(), None),
    (None, at("2026-03-05 12:00").timestamp()),
    (at("2026-02-25 00:00").timestamp(), at("2026-03-08 00:00").timestamp()),
]


@pytest.mark.parametrize("by", [None, *stats.GROUPS])
@pytest.mark.parametrize(("start", "end"), WINDOWS)
def test_sums_path_equals_turn_path(varied, by, start, end) -> None:  # type: ignore[no-untyped-def]
    state = varied.index()
    plain = stats.compute(varied, CountingState(state, hide_sums=True),  # type: ignore[arg-type]
                          by=by, start=start, end=end)
    fast = stats.compute(varied, state, by=by, start=start, end=end)
    assert snapshot(fast) == snapshot(plain)
    assert plain.totals.sessions > 0


def test_sums_path_decodes_turns_only_when_it_must(varied) -> None:  # type: ignore[no-untyped-def]
    state = varied.index()
    lazy = CountingState(state)
    stats.compute(varied, lazy, by="backend")  # type: ignore[arg-type]
    assert lazy.decoded == 0
    stats.compute(varied, lazy, by="model")  # type: ignore[arg-type]
    mixed = lazy.decoded
    assert 0 < mixed < state.count()  # only the sessions whose turns use several models


def test_split_runs() -> None:
    assert list(split_runs(list("AABBC"), [1, 2, 3, 4, 5])) == [
        ("A", [1, 2]), ("B", [3, 4]), ("C", [5])]
    # Not in runs: grouped by key, in order of first appearance.
    assert list(split_runs(list("ABA"), [1, 2, 3])) == [("A", [1, 3]), ("B", [2])]
    assert list(split_runs(list("AABCB"), [1, 2, 3, 4, 5])) == [
        ("A", [1, 2]), ("B", [3, 5]), ("C", [4])]
