"""`sessions stats --by day|week|month`: usage counts on the day each API request was
made, where the record says; a turn across midnight spends on both days (issue 25)."""

from __future__ import annotations

import json
import time

import pytest

from clinvk.model import ApiRequest
from clinvk.store import SessionStore
from tests.usage.conftest import T, at, make


def stats(run, *args: str) -> dict:  # type: ignore[no-untyped-def]
    ran = run("sessions", "stats", "--json", *args)
    assert ran.code == 0, ran.err
    return json.loads(ran.out)  # type: ignore[no-any-return]


def by_key(data: dict) -> dict[str, dict]:  # type: ignore[type-arg]
    return {g["key"]: g for g in data["groups"]}


@pytest.fixture
def night(store: SessionStore, utc: None) -> None:
    # An agent loop from 23:50 to 00:20: one request before midnight, two after.
    make(store, backend="codex", model="gpt-5.5", turns=[
        T(at("2026-03-02 23:50"), (600, 60, 0, 0, 0), 0.6, "computed", 1800.0, requests=[
            ApiRequest(100, 10, 0, 0, at("2026-03-02 23:55"), 0.1),
            ApiRequest(200, 20, 0, 0, at("2026-03-03 00:10"), 0.2),
            ApiRequest(300, 30, 0, 0, at("2026-03-03 00:20"), 0.3)]),
        T(at("2026-03-05 09:00"), (1, 1, 0, 0, 0), 0.01, "computed"),
    ])
    # A turn of another session on the second day, recorded without requests.
    make(store, backend="claude", turns=[
        T(at("2026-03-03 10:00"), (1000, 100, 0, 0, 0), 1.0, "reported")])


def test_a_turn_across_midnight_spends_on_each_day(run, night) -> None:  # type: ignore[no-untyped-def]
    data = stats(run, "--by", "day")
    g = by_key(data)
    assert list(g) == ["2026-03-02", "2026-03-03", "2026-03-05"]
    first, second = g["2026-03-02"], g["2026-03-03"]
    # The turn counts where it started; its usage where each request was made.
    assert (first["turns"], second["turns"]) == (1, 1)
    assert first["tokens"]["input"] == 100 and first["tokens"]["output"] == 10
    assert first["cost_usd"] == pytest.approx(0.1)
    assert second["tokens"]["input"] == 200 + 300 + 1000
    assert second["cost_usd"] == pytest.approx(0.2 + 0.3 + 1.0)
    assert second["cost"]["computed_usd"] == pytest.approx(0.5)
    # The session spent on both days: it counts on both, priced on both.
    assert (first["sessions"], second["sessions"]) == (1, 2)
    assert second["avg_cost_per_session_usd"] == pytest.approx(1.5 / 2)
    # The totals are the turns' own: nothing counted twice or lost.
    t = data["totals"]
    assert t["turns"] == 3 and t["cost_usd"] == pytest.approx(1.61)
    assert t["tokens"]["input"] == 1601
    assert sum(x["cost_usd"] for x in g.values()) == pytest.approx(t["cost_usd"])


def test_week_and_month_take_the_request_times_too(run, night) -> None:  # type: ignore[no-untyped-def]
    # 2026-03-02 is a Monday: one ISO week, one month; all of it lands there.
    week = by_key(stats(run, "--by", "week"))
    assert list(week) == ["2026-W10"] and week["2026-W10"]["cost_usd"] == pytest.approx(1.61)
    month = by_key(stats(run, "--by", "month"))
    assert month["2026-03"]["tokens"]["input"] == 1601


def test_a_range_cutting_the_session_keeps_the_split(run, night) -> None:  # type: ignore[no-untyped-def]
    # The codex session has a turn outside the range: added up turn by turn.
    g = by_key(stats(run, "--by", "day", "--since", "2026-03-01", "--until", "2026-03-04"))
    assert list(g) == ["2026-03-02", "2026-03-03"]
    assert g["2026-03-02"]["cost_usd"] == pytest.approx(0.1)
    assert g["2026-03-03"]["cost_usd"] == pytest.approx(1.5)
    assert g["2026-03-03"]["tokens"]["input"] == 1500


def test_the_split_follows_the_time_zone(run, night, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    stats(run, "--by", "day")  # splits made in UTC, then the zone changes
    # In New York (UTC-5) the whole loop ran on the evening of 2026-03-02.
    monkeypatch.setenv("TZ", "EST5EDT,M3.2.0,M11.1.0")
    time.tzset()
    try:
        g = by_key(stats(run, "--by", "day"))
        assert g["2026-03-02"]["cost_usd"] == pytest.approx(0.6)
        assert g["2026-03-02"]["tokens"]["input"] == 600
        assert g["2026-03-03"]["cost_usd"] == pytest.approx(1.0)
    finally:
        monkeypatch.undo()
        time.tzset()
