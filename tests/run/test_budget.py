"""[budget] caps: checked before every turn (prompt, resume, each unit of parallel)
against the cost recorded in the store; clinvk as a real process with fake vendors."""

from __future__ import annotations

import json
from pathlib import Path

from clinvk.store import SessionStore
from tests import fakes
from tests.conftest import add_session
from tests.run.conftest import Fakes, Result, run_proc


def caps(home: Path, **values: float) -> None:
    body = "".join(f"{k} = {v}\n" for k, v in values.items())
    (home / "config.toml").write_text(f"[budget]\n{body}")


def test_a_reached_daily_cap_refuses_the_turn(fake: Fakes, workdir: Path, store: SessionStore,
                                              clinvk_home: Path) -> None:
    add_session(store, cost=5.12)
    add_session(store, cost=40.0, age_days=40)  # before today: not counted
    add_session(store, cost=None, title="no price")  # an unpriced turn, named
    caps(clinvk_home, daily_usd=5)
    before = sorted(p.name for p in (clinvk_home / "sessions").rglob("*.json"))
    r = run_proc("prompt", "hello")
    assert r.code == 1
    assert r.err.splitlines()[0] == (
        "clinvk: error: budget exceeded: $5.12 spent today of a $5.00 daily cap "
        "(clinvk sessions stats --range today); 1 unpriced turn not counted")
    assert "--ignore-budget" in r.err.splitlines()[1]
    assert fake.starts() == []
    assert sorted(p.name for p in (clinvk_home / "sessions").rglob("*.json")) == before
    ok = run_proc("prompt", "--ignore-budget", "hello")
    assert ok.code == 0, ok.err
    assert len(fake.starts()) == 1


def test_env_overrides_the_file_and_80_percent_warns(fake: Fakes, workdir: Path,
                                                     store: SessionStore,
                                                     clinvk_home: Path) -> None:
    add_session(store, cost=4.2)
    caps(clinvk_home, daily_usd=1)
    r = run_proc("prompt", "hello", env={"CLINVK_BUDGET_DAILY_USD": "5"})
    assert r.code == 0, r.err
    assert "clinvk: warning: budget: $4.20 spent today, 84% of the $5.00 daily cap" in r.err
    monthly = run_proc("prompt", "hello", env={"CLINVK_BUDGET_DAILY_USD": "100",
                                               "CLINVK_BUDGET_MONTHLY_USD": "4"})
    assert monthly.code == 1
    assert "spent this month of a $4.00 monthly cap" in monthly.err
    bad = run_proc("prompt", "hello", env={"CLINVK_BUDGET_DAILY_USD": "lots"})
    assert bad.code == 1 and "CLINVK_BUDGET_DAILY_USD='lots'" in bad.err


def test_session_cap_refuses_a_resume(fake: Fakes, workdir: Path, store: SessionStore,
                                      clinvk_home: Path) -> None:
    session = add_session(store, cost=0.6, turns=2, workdir=str(workdir))
    caps(clinvk_home, session_usd=1)
    r = run_proc("resume", session.id, "more")
    assert r.code == 1
    assert (f"budget exceeded: $1.20 spent in session {session.id} of a $1.00 per-session cap"
            in r.err)
    assert fake.starts() == []
    assert len(store.read(session.id).turns) == 2


def test_each_parallel_unit_is_checked_before_it_starts(fake: Fakes, workdir: Path,
                                                        clinvk_home: Path) -> None:
    # Each fake claude turn costs $0.0018235: two fit under $0.003, the third does not.
    caps(clinvk_home, daily_usd=0.003)
    tasks = workdir / "t.jsonl"
    tasks.write_text("".join(json.dumps({"prompt": f"p{i}"}) + "\n" for i in range(3)))
    r = run_proc("parallel", "-f", str(tasks), "--max-parallel", "1", "-o", "json")
    assert r.code == 1
    results = r.json()["results"]
    assert [u["status"] for u in results] == ["ok", "ok", "error"]
    assert results[2]["id"] is None
    # Amounts are shown with the digits they need: never "$0.00" of a "$0.00" cap.
    assert results[2]["error"].startswith(
        "budget exceeded: $0.0036 spent today of a $0.0030 daily cap")
    assert len(fake.starts()) == 2


def test_stats_shows_each_cap_and_how_much_of_it_is_used(store: SessionStore,
                                                         clinvk_home: Path) -> None:
    add_session(store, cost=4.2)
    add_session(store, cost=None, title="no price")
    add_session(store, cost=40.0, age_days=400)  # neither today nor this month
    caps(clinvk_home, daily_usd=5, monthly_usd=100, session_usd=1)
    r = run_proc("sessions", "stats", "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["budget"] == [
        {"cap": "daily", "limit_usd": 5.0, "spent_usd": 4.2, "used": 0.84,
         "unpriced_turns": 1, "range": "today"},
        {"cap": "monthly", "limit_usd": 100.0, "spent_usd": 4.2, "used": 0.042,
         "unpriced_turns": 1, "range": "thismonth"}]
    text = run_proc("sessions", "stats", "--range", "all")
    assert text.code == 0, text.err
    (line,) = [ln for ln in text.out.splitlines() if ln.startswith("Budget")]
    assert line.split(None, 1)[1] == (
        "daily $4.20 of $5.00 (84%), 1 unpriced turn(s) not counted · monthly $4.20 of "
        "$100.00 (4%), 1 unpriced turn(s) not counted")
    # The caps follow the environment, as the check before each turn does.
    env = run_proc("sessions", "stats", "--json", env={"CLINVK_BUDGET_DAILY_USD": "8.4"})
    assert json.loads(env.out)["budget"][0]["used"] == 0.5


def test_stats_without_caps_has_no_budget_line(store: SessionStore) -> None:
    add_session(store, cost=1.0)
    r = run_proc("sessions", "stats")
    assert r.code == 0 and "Budget" not in r.out
    assert json.loads(run_proc("sessions", "stats", "--json").out)["budget"] == []


def _vendor_runs(fake: Fakes) -> list[tuple[float, float]]:
    """(start, end) of each fake vendor run, by the fake's own log."""
    log = fakes.read_log(fake.log)
    starts = {r["pid"]: r["at"] for r in log if r.get("event") == "start"}
    return [(starts[r["pid"]], r["at"]) for r in log if r.get("event") == "end"]


def _four_at_a_time(workdir: Path, *, tasks: int, sleep: float) -> Result:
    """`parallel -o json` over TASKS fake turns of SLEEP seconds each, 4 at a time."""
    path = workdir / "t.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"p{i} [fake sleep={sleep}]"}) + "\n"
                            for i in range(tasks)))
    return run_proc("parallel", "-f", str(path), "--max-parallel", "4", "-o", "json")


def test_concurrent_units_overshoot_a_cap_no_more_than_a_sequential_run(
        fake: Fakes, workdir: Path, store: SessionStore, clinvk_home: Path) -> None:
    # Each fake claude turn costs $0.0018235; run one at a time, two start under $0.003
    # and spend $0.0036. At four at a time, without knowing what a turn costs, four
    # would start at once and spend $0.0073.
    caps(clinvk_home, daily_usd=0.003)
    r = _four_at_a_time(workdir, tasks=8, sleep=0.3)
    assert r.code == 1
    results = r.json()["results"]
    assert sum(u["status"] == "ok" for u in results) == 2
    assert sum(u["cost_usd"] or 0 for u in results) <= 0.0037
    assert len(fake.starts()) == 2
    refused = [u["error"] for u in results if u["status"] != "ok"]
    assert all(e.startswith("budget exceeded: $0.0036 spent today") for e in refused), refused


def test_units_run_together_while_their_expected_cost_fits(
        fake: Fakes, workdir: Path, store: SessionStore, clinvk_home: Path) -> None:
    # Yesterday's claude turn says what one costs: two fit under the cap side by side.
    add_session(store, cost=0.0018, age_days=1)
    caps(clinvk_home, daily_usd=0.003)
    r = _four_at_a_time(workdir, tasks=6, sleep=0.5)
    assert r.code == 1
    assert [u["status"] for u in r.json()["results"]].count("ok") == 2
    (first, second) = _vendor_runs(fake)
    assert second[0] < first[1] and first[0] < second[1]  # they overlapped
