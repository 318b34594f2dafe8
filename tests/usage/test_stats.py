"""`clinvk sessions stats`: exact totals and groups on a store built for the purpose.

The store (local time UTC):

* S1 claude, claude-opus-4-8, active, /w/a, [review]: two turns on Mon 2026-03-02,
  reported costs $0.50 and $0.25;
* S2 codex, gpt-5.5, completed, /w/b: Tue 2026-03-03 computed $0.01, and Mon 2026-03-09
  with usage but no price (unpriced);
* S3 gemini, error, /w/a, [review, ci]: Fri 2026-02-27 failed before any usage (model
  gemini-2.5-pro), Sun 2026-03-01 computed $0.002 with gemini-2.5-flash;
* S4 claude, `running` but its process is gone (counts as error), /w/c: one turn on
  2026-03-10 still marked running, no usage;
* S5 claude, paused, /w/c: no turns, last used 2026-03-05.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest

from clinvk.model import utcnow
from clinvk.store import SessionStore
from tests.usage.conftest import DEAD_PID, T, at, make


@pytest.fixture
def sample(store: SessionStore, utc: None) -> dict[str, str]:
    s1 = make(store, backend="claude", model="claude-opus-4-8", status="active", workdir="/w/a",
              tags=["review"], title="parser fix", turns=[
                  T(at("2026-03-02 10:00"), (100, 50, 1000, 200, 0), 0.5, "reported", 10.0),
                  T(at("2026-03-02 11:00"), (200, 100, 2000, 0, 0), 0.25, "reported", 20.0),
              ])
    s2 = make(store, backend="codex", model="gpt-5.5", status="completed", workdir="/w/b",
              title="codex work", turns=[
                  T(at("2026-03-03 09:00"), (1000, 300, 500, 0, 100), 0.01, "computed", 5.0),
                  T(at("2026-03-09 09:00"), (10, 20, 0, 0, 5), None, "unpriced", 7.0),
              ])
    s3 = make(store, backend="gemini", model="gemini-2.5-flash", status="error",
              workdir="/w/a", tags=["review", "ci"], title="gemini work", turns=[
                  T(at("2026-02-27 23:30"), None, None, "unpriced", None, model="gemini-2.5-pro",
                    status="error", exit_code=1, error="API Error: 500"),
                  T(at("2026-03-01 08:00"), (400, 40, 0, 0, 10), 0.002, "computed", 3.0,
                    model="gemini-2.5-flash"),
              ])
    s4 = make(store, backend="claude", model="claude-opus-4-8", status="running",
              workdir="/w/c", title="died", pid=DEAD_PID, pid_start=12345.0, turns=[
                  T(at("2026-03-10 12:00"), None, None, "unpriced", None, status="running",
                    exit_code=None),
              ])
    s5 = make(store, backend="claude", status="paused", workdir="/w/c", title="idle",
              created=at("2026-03-05 08:00"), last_used=at("2026-03-05 08:00"))
    return {"s1": s1.id, "s2": s2.id, "s3": s3.id, "s4": s4.id, "s5": s5.id}


def stats_json(run, *args: str) -> dict:  # type: ignore[no-untyped-def]
    ran = run("sessions", "stats", "--json", *args)
    assert ran.code == 0, ran.err
    return json.loads(ran.out)


def groups(data: dict) -> dict[str, dict]:  # type: ignore[type-arg]
    return {g["key"]: g for g in data["groups"]}


def test_totals_are_exact(run, sample) -> None:  # type: ignore[no-untyped-def]
    data = stats_json(run)
    t = data["totals"]
    assert data["by"] is None and data["groups"] is None
    assert data["range"] == {"name": None, "start": None, "end": None}
    assert t["sessions"] == 5
    assert t["sessions_by_status"] == {"active": 1, "completed": 1, "error": 2, "paused": 1,
                                       "running": 0}
    assert t["turns"] == 7
    assert t["duration_s"] == 45.0
    assert t["avg_turn_duration_s"] == 9.0  # 45 s over the 5 turns that have a duration
    assert t["tokens"] == {"input": 1710, "output": 510, "cache_read": 3500,
                           "cache_write": 200, "reasoning": 115, "total": 5920}
    assert t["cost_usd"] == pytest.approx(0.762)
    assert t["cost"] == {"reported_usd": 0.75, "reported_turns": 2, "computed_usd": 0.012,
                         "computed_turns": 2, "unpriced_turns": 1, "no_usage_turns": 2}
    # Three sessions have a priced turn: the average is over them, not over all five.
    assert t["avg_cost_per_session_usd"] == pytest.approx(0.762 / 3)
    assert t["first_turn_at"] == "2026-02-27T23:30:00Z"
    assert t["last_turn_at"] == "2026-03-10T12:00:00Z"


def test_text_report_names_provenance_and_unpriced(run, sample) -> None:  # type: ignore[no-untyped-def]
    ran = run("sessions", "stats")
    assert ran.code == 0
    lines = dict(line.split(":", 1) for line in ran.out.splitlines() if ":" in line)
    assert lines["Sessions"].strip() == "5 (active 1 · completed 1 · error 2 · paused 1)"
    assert lines["Turns"].strip() == "7 (2 without usage)"
    assert lines["Duration"].strip() == "45.0s total · 9.0s per turn"
    assert lines["Tokens"].strip() == ("input 1,710 · output 510 · cache read 3,500 · "
                                       "cache write 200 · reasoning 115 · total 5,920")
    assert lines["Cost"].strip() == ("$0.7620 (reported $0.7500 over 2 turns · computed "
                                     "$0.0120 over 2 turns); 1 turn(s) unpriced, not included")
    assert lines["Per session"].strip() == "$0.2540 (over 3 priced sessions)"


def test_by_backend(run, sample) -> None:  # type: ignore[no-untyped-def]
    data = stats_json(run, "--by", "backend")
    g = groups(data)
    assert [x["key"] for x in data["groups"]] == ["claude", "codex", "gemini"]  # by cost
    assert g["claude"]["sessions"] == 3 and g["claude"]["turns"] == 3
    assert g["claude"]["sessions_by_status"]["error"] == 1  # the dead running one
    assert g["claude"]["sessions_by_status"]["paused"] == 1
    assert g["claude"]["cost_usd"] == 0.75 and g["claude"]["cost"]["reported_turns"] == 2
    assert g["claude"]["cost"]["no_usage_turns"] == 1
    assert g["codex"]["cost_usd"] == 0.01 and g["codex"]["cost"]["unpriced_turns"] == 1
    assert g["codex"]["tokens"]["input"] == 1010 and g["codex"]["tokens"]["reasoning"] == 105
    assert g["gemini"]["cost_usd"] == 0.002 and g["gemini"]["cost"]["computed_turns"] == 1
    assert g["gemini"]["duration_s"] == 3.0
    # The groups add up to the totals.
    assert sum(x["turns"] for x in data["groups"]) == data["totals"]["turns"] == 7
    assert sum(x["sessions"] for x in data["groups"]) == 5


def test_by_model_uses_each_turns_model(run, sample) -> None:  # type: ignore[no-untyped-def]
    g = groups(stats_json(run, "--by", "model"))
    assert set(g) == {"claude-opus-4-8", "gpt-5.5", "gemini-2.5-pro", "gemini-2.5-flash",
                      "(unknown)"}
    assert g["claude-opus-4-8"]["sessions"] == 2 and g["claude-opus-4-8"]["turns"] == 3
    assert g["gemini-2.5-pro"]["turns"] == 1 and g["gemini-2.5-pro"]["cost_usd"] is None
    assert g["gemini-2.5-pro"]["cost"]["no_usage_turns"] == 1
    assert g["gemini-2.5-flash"]["cost_usd"] == 0.002
    assert g["gemini-2.5-flash"]["tokens"]["total"] == 440
    # S3 is in both gemini groups; its priced turn is only in -flash.
    assert g["gemini-2.5-pro"]["avg_cost_per_session_usd"] is None
    assert g["(unknown)"]["sessions"] == 1 and g["(unknown)"]["turns"] == 0  # S5, no turns


def test_by_day_week_month(run, sample) -> None:  # type: ignore[no-untyped-def]
    days = stats_json(run, "--by", "day")
    assert [g["key"] for g in days["groups"]] == [
        "2026-02-27", "2026-03-01", "2026-03-02", "2026-03-03", "2026-03-05", "2026-03-09",
        "2026-03-10"]
    d = groups(days)
    assert d["2026-03-02"]["turns"] == 2 and d["2026-03-02"]["cost_usd"] == 0.75
    assert d["2026-03-02"]["duration_s"] == 30.0
    assert d["2026-03-05"]["sessions"] == 1 and d["2026-03-05"]["turns"] == 0
    assert d["2026-03-09"]["cost"]["unpriced_turns"] == 1 and d["2026-03-09"]["cost_usd"] is None
    weeks = groups(stats_json(run, "--by", "week"))
    assert list(weeks) == ["2026-W09", "2026-W10", "2026-W11"]
    assert weeks["2026-W09"]["turns"] == 2 and weeks["2026-W09"]["sessions"] == 1  # S3 only
    assert weeks["2026-W10"]["turns"] == 3 and weeks["2026-W10"]["sessions"] == 3  # S1 S2 S5
    assert weeks["2026-W10"]["cost_usd"] == pytest.approx(0.76)
    assert weeks["2026-W11"]["turns"] == 2 and weeks["2026-W11"]["sessions"] == 2  # S2 S4
    months = groups(stats_json(run, "--by", "month"))
    assert list(months) == ["2026-02", "2026-03"]
    assert months["2026-02"]["turns"] == 1 and months["2026-03"]["turns"] == 6
    assert months["2026-03"]["sessions"] == 5  # S3 also has a March turn


def test_by_workdir_and_tag(run, sample) -> None:  # type: ignore[no-untyped-def]
    w = groups(stats_json(run, "--by", "workdir"))
    assert {k: v["sessions"] for k, v in w.items()} == {"/w/a": 2, "/w/b": 1, "/w/c": 2}
    assert w["/w/a"]["cost_usd"] == pytest.approx(0.752)
    tags = stats_json(run, "--by", "tag")
    t = groups(tags)
    assert {k: v["sessions"] for k, v in t.items()} == {"review": 2, "ci": 1, "(untagged)": 3}
    assert t["review"]["turns"] == 4 and t["ci"]["turns"] == 2
    # A session with two tags counts in both groups, once in the totals.
    assert tags["totals"]["sessions"] == 5 and tags["totals"]["turns"] == 7


def test_since_until_select_turns(run, sample) -> None:  # type: ignore[no-untyped-def]
    data = stats_json(run, "--since", "2026-03-02", "--until", "2026-03-03")
    t = data["totals"]
    assert data["range"]["start"] == "2026-03-02T00:00:00Z"
    assert data["range"]["end"] == "2026-03-04T00:00:00Z"  # a plain --until date is included
    assert t["sessions"] == 2 and t["turns"] == 3
    assert t["cost_usd"] == pytest.approx(0.76)
    assert t["tokens"]["input"] == 1300


def test_backend_and_tag_filters(run, sample) -> None:  # type: ignore[no-untyped-def]
    t = stats_json(run, "-b", "codex")["totals"]
    assert t["sessions"] == 1 and t["turns"] == 2 and t["cost"]["unpriced_turns"] == 1
    t = stats_json(run, "-t", "review")["totals"]
    assert t["sessions"] == 2 and t["turns"] == 4


def test_csv_shape(run, sample) -> None:  # type: ignore[no-untyped-def]
    ran = run("sessions", "stats", "--csv", "--by", "backend")
    assert ran.code == 0
    rows = list(csv.DictReader(io.StringIO(ran.out)))
    assert [r["group"] for r in rows] == ["claude", "codex", "gemini"]
    codex = rows[1]
    assert codex["sessions"] == "1" and codex["completed"] == "1" and codex["turns"] == "2"
    assert codex["input_tokens"] == "1010" and codex["total_tokens"] == "1830"
    assert codex["cost_usd"] == "0.01" and codex["computed_turns"] == "1"
    assert codex["unpriced_turns"] == "1"
    ran = run("sessions", "stats", "--csv")
    rows = list(csv.DictReader(io.StringIO(ran.out)))
    assert len(rows) == 1 and rows[0]["group"] == "total" and rows[0]["turns"] == "7"
    assert rows[0]["reported_cost_usd"] == "0.75"


def test_group_table(run, sample) -> None:  # type: ignore[no-untyped-def]
    ran = run("sessions", "stats", "--by", "backend")
    table = ran.out.split("\n\n", 1)[1].splitlines()
    assert table[0].split() == ["BACKEND", "SESSIONS", "TURNS", "DURATION", "INPUT", "OUTPUT",
                                "CACHE", "READ", "CACHE", "WRITE", "REASONING", "COST",
                                "UNPRICED"]
    assert table[1].split()[:3] == ["claude", "3", "3"] and table[1].split()[-2:] == ["$0.7500", "-"]
    assert table[2].split()[-2:] == ["$0.0100", "1"]


def test_only_unpriced_is_no_cost_not_zero(run, store, utc) -> None:  # type: ignore[no-untyped-def]
    make(store, backend="command", turns=[T(at("2026-03-02 10:00"), (5, 5, 0, 0, 0))])
    data = stats_json(run)
    assert data["totals"]["cost_usd"] is None
    assert data["totals"]["avg_cost_per_session_usd"] is None
    assert data["totals"]["cost"]["unpriced_turns"] == 1
    ran = run("sessions", "stats")
    assert "Cost:" in ran.out and "- (no priced turns); 1 turn(s) unpriced" in ran.out
    assert "$0.0000" not in ran.out


def test_relative_ranges(run, store) -> None:  # type: ignore[no-untyped-def]
    now = utcnow()
    make(store, backend="claude", turns=[T(now - timedelta(seconds=2), cost=1.0, source="reported")])
    make(store, backend="codex", turns=[T(now - timedelta(days=10), cost=2.0, source="computed")])
    make(store, backend="gemini", turns=[T(now - timedelta(days=40), cost=4.0, source="computed")])
    costs = {r: stats_json(run, "--range", r)["totals"]["cost_usd"] for r in ("7d", "30d", "all")}
    assert costs == {"7d": 1.0, "30d": 3.0, "all": 7.0}
    today = stats_json(run, "--range", "today")["totals"]
    if now.astimezone().hour or now.astimezone().minute or now.astimezone().second > 5:
        assert today["sessions"] == 1 and today["cost_usd"] == 1.0


def test_empty_store(run) -> None:  # type: ignore[no-untyped-def]
    data = stats_json(run, "--by", "model")
    assert data["totals"]["sessions"] == 0 and data["totals"]["turns"] == 0
    assert data["groups"] == [] and data["totals"]["cost_usd"] is None
    ran = run("sessions", "stats")
    assert ran.code == 0 and "Sessions:" in ran.out


@pytest.mark.parametrize(("args", "words"), [
    (["--range", "lastyear"], ["invalid range", "today, yesterday, 7d, 30d, thismonth, lastmonth, all"]),
    (["--by", "team"], ["invalid group", "backend, model, day, week, month, workdir, tag"]),
    (["--json", "--csv"], ["exclude each other"]),
    (["--since", "2026-13-45"], ["invalid date"]),
    (["--since", "2026-03-05", "--until", "2026-03-01"], ["range is empty"]),
])
def test_bad_arguments_exit_1_and_say_what_is_valid(run, args, words) -> None:  # type: ignore[no-untyped-def]
    ran = run("sessions", "stats", *args)
    assert ran.code == 1 and ran.out == ""
    for word in words:
        assert word in ran.err


def test_stats_as_a_process_exit_codes(cli, sample) -> None:  # type: ignore[no-untyped-def]
    ok = cli.run("sessions", "stats", "--json", env={"TZ": "UTC"})
    assert ok.code == 0 and json.loads(ok.out)["totals"]["turns"] == 7
    bad = cli.run("sessions", "stats", "--by", "nope")
    assert bad.code == 1 and "valid groups: backend, model, day, week, month, workdir, tag" in bad.err


def test_a_file_changed_by_a_writer_is_counted_from_the_index_log(run, store, sample) -> None:  # type: ignore[no-untyped-def]
    def bump(session):  # type: ignore[no-untyped-def]
        session.turns[0].cost_usd = 1.5

    store.update(sample["s1"], bump)
    t = stats_json(run)["totals"]
    assert t["cost"]["reported_usd"] == pytest.approx(1.75)


def test_local_calendar_follows_the_time_zone(run, store, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import time

    # 03:30 UTC is still the previous day in New York (UTC-5 in winter).
    make(store, turns=[T(at("2026-01-10 03:30"), cost=1.0, source="reported")])
    monkeypatch.setenv("TZ", "EST5EDT,M3.2.0,M11.1.0")
    time.tzset()
    try:
        g = groups(stats_json(run, "--by", "day"))
        assert list(g) == ["2026-01-09"]
    finally:
        monkeypatch.undo()
        time.tzset()
