"""`clinvk sessions doctor --fix` recomputes computed costs from the recorded API
requests; reported costs stay as the vendor reported them (issue 25)."""

from __future__ import annotations

import json

import pytest

from clinvk.model import ApiRequest
from clinvk.store import SessionStore
from tests.usage.conftest import T, at, make

# Three codex requests of 100k prompt tokens (20k uncached + 80k cached, 1k output):
# $0.17 each at gpt-5.5's base rates, $0.325 at its long-context rates.
EACH = (20_000 * 5 + 1_000 * 30 + 80_000 * 0.5) / 1e6
AS_ONE = 3 * (20_000 * 10 + 1_000 * 45 + 80_000 * 1) / 1e6


def requests() -> list[ApiRequest]:
    return [ApiRequest(20_000, 1_000, 80_000, 0, at(f"2026-03-02 10:0{i}")) for i in range(3)]


def test_doctor_finds_and_fixes_a_cost_priced_as_one_request(run, store: SessionStore) -> None:  # type: ignore[no-untyped-def]
    usage = (60_000, 3_000, 240_000, 0, 0)
    # What the old pricing recorded for this turn: the whole turn as one request.
    stale = make(store, backend="codex", model="gpt-5.5", turns=[
        T(at("2026-03-02 10:00"), usage, AS_ONE, "computed", requests=requests())])
    reported = make(store, backend="claude", model="claude-sonnet-4-5", turns=[
        T(at("2026-03-02 11:00"), usage, 9.99, "reported", requests=requests())])
    ran = run("sessions", "doctor", "--json")
    assert ran.code == 4
    problems = json.loads(ran.out)["problems"]
    assert [(p["kind"], p["id"]) for p in problems] == [("cost", stale.id)]
    assert f"${3 * EACH:.6f} by its requests" in problems[0]["detail"]

    ran = run("sessions", "doctor", "--fix")
    assert ran.code == 0, ran.err
    assert "recomputed the cost of 1 turn(s)" in ran.out
    turn = store.read(stale.id).turns[0]
    assert turn.cost_usd == pytest.approx(3 * EACH)
    assert turn.cost_source == "computed"
    assert [r.cost_usd for r in turn.requests or []] == [pytest.approx(EACH)] * 3
    # The vendor's figure is never replaced.
    assert store.read(reported.id).turns[0].cost_usd == 9.99
    # Every view reads the corrected cost.
    data = json.loads(run("sessions", "stats", "--json").out)
    assert data["totals"]["cost"]["computed_usd"] == pytest.approx(3 * EACH)
    assert run("sessions", "doctor").code == 0


def test_a_record_without_requests_is_left_as_it_was_priced(run, store: SessionStore) -> None:  # type: ignore[no-untyped-def]
    make(store, backend="codex", model="gpt-5.5", turns=[
        T(at("2026-03-02 10:00"), (60_000, 3_000, 240_000, 0, 0), AS_ONE, "computed")])
    assert run("sessions", "doctor").code == 0
