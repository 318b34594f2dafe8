"""The catalog's stats (SQL over kept sums, turn by turn only at a range's edge) give
exactly what adding up every turn of every session file gives.

The reference below reads the session files and applies the counting rules of
docs/stats.md one turn at a time, with no catalog involved.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest

from clinvk import stats
from clinvk.catalog import Catalog, Filter
from clinvk.liveness import effective_status
from clinvk.periods import LocalCalendar, split_runs
from clinvk.store import SessionStore
from tests.conftest import iter_sessions
from tests.usage.conftest import DEAD_PID, T, at, make


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


def reference(store: SessionStore, by: str | None, start: float | None, end: float | None,
              backend: str | None = None, tag: str | None = None) -> dict[str, Any]:
    """Totals and groups by the counting rules, one turn at a time, from the files."""
    lo = float("-inf") if start is None else start
    hi = float("inf") if end is None else end
    totals = stats.Totals("total")
    groups: dict[str, stats.Totals] = {}
    calendar = LocalCalendar(by) if by in ("day", "week", "month") else None

    def group(key: str) -> stats.Totals:
        return groups.setdefault(key, stats.Totals(key))

    for _path, session, _why in iter_sessions(store):
        assert session is not None
        if backend is not None and session.backend != backend:
            continue
        if tag is not None and tag not in session.tags:
            continue
        status = effective_status(session.status, session.pid, session.pid_start)
        facts = [f for f in (stats.TurnFact(
            t.started_at.timestamp(), t.duration_s, t.model or session.model, t.status,
            None if t.usage is None else (t.usage.input_tokens, t.usage.output_tokens,
                                          t.usage.cache_read_tokens, t.usage.cache_write_tokens,
                                          t.usage.reasoning_tokens),
            t.cost_usd, t.cost_source) for t in session.turns) if lo <= f.started < hi]
        last_used = session.last_used_at.timestamp()
        if not facts and (session.turns or not lo <= last_used < hi):
            continue
        sums = stats.sum_turns(facts)
        priced = bool(sums[stats.REPORTED_TURNS] or sums[stats.COMPUTED_TURNS])
        totals.add_session(session.id, status, priced)
        totals.add(sums)
        if by in ("backend", "workdir", "tag"):
            keys = ([session.backend] if by == "backend" else [session.workdir]
                    if by == "workdir" else list(dict.fromkeys(session.tags)) or [stats.NO_TAG])
            for key in keys:
                group(key).add_session(session.id, status, priced)
                group(key).add(sums)
        elif by is not None:
            if not facts:
                key = (calendar.period(last_used)[0] if calendar is not None
                       else session.model or "(unknown)")
                parts: list[tuple[str, list[stats.TurnFact]]] = [(key, [])]
            elif calendar is not None:
                parts = list(split_runs([calendar.period(f.started)[0] for f in facts], facts))
            else:
                parts = list(split_runs([f.model or "(unknown)" for f in facts], facts))
            for key, part in parts:
                part_sums = stats.sum_turns(part)
                group(key).add_session(session.id, status, bool(
                    part_sums[stats.REPORTED_TURNS] or part_sums[stats.COMPUTED_TURNS]))
                group(key).add(part_sums)
    return {"totals": totals.to_json(), "groups": {k: g.to_json() for k, g in groups.items()}}


def same(a: Any, b: Any) -> bool:
    """Equal, floats up to rounding (SQL adds in another order than a loop)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, float) or isinstance(b, float):
        return a == pytest.approx(b, rel=1e-9, abs=1e-9)
    return bool(a == b)


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
def test_catalog_stats_equal_turn_by_turn_sums(varied, by, start, end) -> None:  # type: ignore[no-untyped-def]
    report = Catalog.open(varied).aggregate(by, start, end)
    expected = reference(varied, by, start, end)
    assert same(snapshot(report), expected), (snapshot(report), expected)
    assert report.totals.sessions > 0
    if by is not None:
        assert report.groups


@pytest.mark.parametrize("by", ["day", "tag", "model"])
def test_filters_apply_to_the_sums_too(varied, by) -> None:  # type: ignore[no-untyped-def]
    start = at("2026-02-28 00:00").timestamp()
    for flt, args in ((Filter(backend="claude"), {"backend": "claude"}),
                      (Filter(tags=["x"]), {"tag": "x"})):
        report = Catalog.open(varied).aggregate(by, start, None, flt)
        assert same(snapshot(report), reference(varied, by, start, None, **args))


def test_a_change_to_one_session_moves_only_its_numbers(varied) -> None:  # type: ignore[no-untyped-def]
    before = Catalog.open(varied).aggregate("day", None, None)
    row = next(Catalog.open(varied).rows(Filter(), limit=1).rows)

    def bump(session):  # type: ignore[no-untyped-def]
        for turn in session.turns:
            turn.cost_usd, turn.cost_source = 2.0, "reported"

    varied.update(row.id, bump)
    after = Catalog.open(varied).aggregate("day", None, None)
    assert same(snapshot(after), reference(varied, "day", None, None))
    assert after.totals.reported_cost > before.totals.reported_cost


def test_split_runs() -> None:
    assert list(split_runs(list("AABBC"), [1, 2, 3, 4, 5])) == [
        ("A", [1, 2]), ("B", [3, 4]), ("C", [5])]
    # Not in runs: grouped by key, in order of first appearance.
    assert list(split_runs(list("ABA"), [1, 2, 3])) == [("A", [1, 3]), ("B", [2])]
    assert list(split_runs(list("AABCB"), [1, 2, 3, 4, 5])) == [
        ("A", [1, 2]), ("B", [3, 5]), ("C", [4])]


@pytest.mark.parametrize(("start", "end"), WINDOWS)
def test_the_catalogs_spend_is_the_files_spend(varied, start, end) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from clinvk.spend import Spend, _add

    sessions = [s for _p, s, _why in iter_sessions(varied)]
    when = [None if t is None else datetime.fromtimestamp(t, UTC) for t in (start, end)]
    expected = _add(Spend(), sessions, when[0], when[1])
    usd, unpriced = Catalog.open(varied).spent(start, end)
    assert usd == pytest.approx(expected.usd) and unpriced == expected.unpriced
    assert expected.usd > 0 and expected.unpriced > 0
