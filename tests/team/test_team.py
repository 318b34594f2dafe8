"""`clinvk team` against a real PostgreSQL server: init, push, list, show, stats, row-level
security, what is shared, and auto push with the server going away."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from clinvk.team import pusher
from tests.conftest import REPO, run_clinvk
from tests.team.conftest import Server, TeamDb, wait_for


def ok(*args: str, env: dict[str, str] | None = None) -> Any:
    """The JSON a successful `clinvk ARGS` printed (or its stdout when not JSON)."""
    ran = run_clinvk(*args, env=env)
    assert ran.code == 0, ran.err
    try:
        return json.loads(ran.out)
    except ValueError:
        return ran.out


def prompt(backend: str, text: str, env: dict[str, str] | None = None) -> str:
    """A turn through a fake vendor; the new session's id."""
    found = ok("prompt", "-b", backend, "-o", "json", text, env=env)
    return str(found["id"])


def count(db: TeamDb, sql: str) -> int:
    return int(db.sql(sql)[0][0])


def local_sessions(env: dict[str, str] | None = None) -> dict[str, int]:
    """id → turns, as `sessions list` sees this store."""
    items = ok("sessions", "list", "--json", "-n", "0", env=env)["items"]
    return {item["id"]: item["turns"] for item in items}


def remote_sessions(db: TeamDb, member: str | None = None) -> dict[str, int]:
    where = f" WHERE member = '{member}'" if member else ""
    return {ident: n for ident, n in db.sql(
        f"SELECT s.id, (SELECT count(*) FROM clinvk.turns t WHERE t.member = s.member AND "
        f"t.machine = s.machine AND t.id = s.id) FROM clinvk.sessions s{where}")}


# ------------------------------------------------------------------ init

def test_init_creates_the_schema_and_a_second_init_changes_nothing(team_db: TeamDb) -> None:
    first = ok("team", "init", "--json")
    assert first == {"from_version": 0, "version": 1, "applied": [1]}
    tables = {name for (name,) in team_db.sql(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'clinvk'")}
    assert {"sessions", "turns", "tool_calls", "splits", "members", "schema_version"} <= tables
    again = ok("team", "init", "--json")
    assert again == {"from_version": 1, "version": 1, "applied": []}
    assert count(team_db, "SELECT count(*) FROM clinvk.schema_version") == 1
    text = run_clinvk("team", "init")
    assert text.code == 0 and "already at version 1" in text.out


def test_concurrent_inits_apply_the_schema_once(team_db: TeamDb) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    procs = [subprocess.Popen([sys.executable, "-m", "clinvk", "team", "init", "--json"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    results = [(p.wait(60), *p.communicate()) for p in procs]
    assert all(code == 0 for code, _out, _err in results), results
    applied = [json.loads(out)["applied"] for _code, out, _err in results]
    assert sorted(v for versions in applied for v in versions) == [1]
    assert count(team_db, "SELECT count(*) FROM clinvk.schema_version") == 1


def test_commands_before_init_say_to_run_init(team_db: TeamDb) -> None:
    ran = run_clinvk("team", "list")
    assert ran.code == 1
    assert ran.err.splitlines()[0] == "clinvk: error: the team store has no clinvk tables yet"
    assert "clinvk team init" in ran.err


def test_no_team_store_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLINVK_TEAM_URL", raising=False)
    ran = run_clinvk("team", "push")
    assert ran.code == 1
    assert "no team store configured" in ran.err and "team.url" in ran.err


# ------------------------------------------------------------------ push

def test_push_of_real_sessions_then_a_second_push_changes_nothing(
        team_db: TeamDb, fake_vendors: Path, tmp_path: Path) -> None:
    ok("team", "init")
    tool_env = {"FAKE_SAMPLE_CLAUDE": "tools/claude-tool-turn.jsonl", "FAKE_TMP": str(tmp_path)}
    (tmp_path / "direct" / "proj-claude").mkdir(parents=True)
    ids = [prompt("claude", "read the notes", tool_env), prompt("codex", "hello"),
           prompt("gemini", "hi")]
    ok("resume", ids[2], "-o", "json", "and again")
    local = local_sessions()
    assert sorted(local.values()) == [1, 1, 2]

    dry = ok("team", "push", "--dry-run", "--json")
    assert (dry["dry_run"], dry["sessions"], dry["turns"]) == (True, 3, 4)
    assert count(team_db, "SELECT count(*) FROM clinvk.sessions") == 0

    pushed = ok("team", "push", "--json")
    assert (pushed["sessions"], pushed["turns"], pushed["tool_calls"]) == (3, 4, 1)
    assert remote_sessions(team_db) == local
    [(name, kind, paths)] = team_db.sql("SELECT name, kind, paths FROM clinvk.tool_calls")
    assert (name, kind) == ("Read", "read") and paths and paths[0].endswith("notes.txt")
    team_tools = ok("team", "stats", "--by", "tool", "--json")
    local_tools = ok("sessions", "stats", "--by", "tool", "--json")
    assert team_tools["groups"] == local_tools["groups"]
    assert [(g["name"], g["kind"], g["calls"]) for g in team_tools["groups"]] == [
        ("Read", "read", 1)]
    assert team_tools["tools"] == local_tools["tools"]
    before = team_db.sql("SELECT xmin::text, id FROM clinvk.sessions UNION ALL "
                         "SELECT xmin::text, id FROM clinvk.turns ORDER BY 2, 1")

    again = ok("team", "push", "--json")
    assert (again["sessions"], again["turns"]) == (0, 0)
    after = team_db.sql("SELECT xmin::text, id FROM clinvk.sessions UNION ALL "
                        "SELECT xmin::text, id FROM clinvk.turns ORDER BY 2, 1")
    assert after == before  # not a row written

    ok("resume", ids[1], "-o", "json", "one more")
    third = ok("team", "push", "--json")
    assert (third["sessions"], third["turns"]) == (1, 2)
    assert remote_sessions(team_db) == local_sessions()


def test_list_and_show_read_the_team_store(team_db: TeamDb, fake_vendors: Path) -> None:
    ok("team", "init")
    a = prompt("claude", "first")
    b = prompt("codex", "second")
    ok("team", "push")
    listed = ok("team", "list", "--json")
    assert listed["total"] == 2
    assert {item["id"] for item in listed["items"]} == {a, b}
    member = listed["items"][0]["member"]
    assert member and "@" in member
    assert [i["id"] for i in ok("team", "list", "--json", "-b", "codex")["items"]] == [b]
    assert ok("team", "list", "--json", "--member", "nobody@nowhere")["total"] == 0
    assert ok("team", "list", "--json", "--repo", "project")["total"] == 2
    machine = listed["items"][0]["machine"]
    assert ok("team", "list", "--json", "--machine", machine)["total"] == 2
    table = run_clinvk("team", "list")
    assert table.code == 0 and a[:8] in table.out and "MEMBER" in table.out

    shown = ok("team", "show", a[:5], "--json")
    assert shown["id"] == a and shown["backend"] == "claude"
    assert [t["index"] for t in shown["turns_detail"]] == [1]
    text = run_clinvk("team", "show", b)
    assert text.code == 0 and f"ID:        {b}" in text.out
    missing = run_clinvk("team", "show", "zzzzzz")
    assert missing.code == 1 and "no session 'zzzzzz' in the team store" in missing.err


def test_a_session_deleted_here_stays_remote_unless_prune(team_db: TeamDb,
                                                         fake_vendors: Path) -> None:
    ok("team", "init")
    keep, gone = prompt("claude", "keep me"), prompt("claude", "delete me")
    ok("team", "push")
    ok("sessions", "delete", gone, "--force")
    ok("team", "push")
    assert set(remote_sessions(team_db)) == {keep, gone}
    dry = ok("team", "push", "--prune", "--dry-run", "--json")
    assert dry["pruned"] == 1 and set(remote_sessions(team_db)) == {keep, gone}
    pruned = ok("team", "push", "--prune", "--json")
    assert pruned["pruned"] == 1
    assert set(remote_sessions(team_db)) == {keep}


def test_share_text_false_keeps_prompts_answers_and_outputs_local(
        team_db: TeamDb, fake_vendors: Path, tmp_path: Path) -> None:
    ok("team", "init")
    marker = "zebra-canary-4711"
    (tmp_path / "direct" / "proj-claude").mkdir(parents=True)
    tool_env = {"FAKE_SAMPLE_CLAUDE": "tools/claude-tool-turn.jsonl", "FAKE_TMP": str(tmp_path)}
    ident = prompt("claude", f"{marker}: read the notes", tool_env)
    answer = ok("sessions", "show", ident, "--json")["turns"][0]["response"]
    assert answer
    ok("team", "push")
    for table in ("sessions", "turns", "tool_calls", "splits"):
        assert count(team_db, f"SELECT count(*) FROM clinvk.{table} x "
                              f"WHERE x::text LIKE '%{marker}%'") == 0, table
    assert team_db.sql("SELECT prompt, response FROM clinvk.turns") == [(None, None)]
    assert team_db.sql("SELECT output FROM clinvk.tool_calls") == [(None,)]
    assert team_db.sql("SELECT title FROM clinvk.sessions") == [("",)]
    # Metadata, usage and tool names, kinds, summaries and paths are shared.
    assert count(team_db, "SELECT count(*) FROM clinvk.turns WHERE input_tokens > 0") == 1
    assert count(team_db, "SELECT count(*) FROM clinvk.tool_calls WHERE summary <> ''") == 1

    # With share_text = true the same push does carry them (so the check above can fail).
    config = Path(os.environ["CLINVK_CONFIG"])
    config.write_text("[team]\nshare_text = true\n")
    ok("team", "push", "--since", "2000-01-01")
    [(prompt_text, response)] = team_db.sql("SELECT prompt, response FROM clinvk.turns")
    assert marker in prompt_text and response == answer
    assert count(team_db, "SELECT count(*) FROM clinvk.tool_calls WHERE output IS NOT NULL") == 1


def test_turning_share_text_off_clears_the_shared_text_at_the_next_push(
        team_db: TeamDb, fake_vendors: Path, tmp_path: Path) -> None:
    ok("team", "init")
    config = Path(os.environ["CLINVK_CONFIG"])
    config.write_text("[team]\nshare_text = true\n")
    (tmp_path / "direct" / "proj-claude").mkdir(parents=True)
    tool_env = {"FAKE_SAMPLE_CLAUDE": "tools/claude-tool-turn.jsonl", "FAKE_TMP": str(tmp_path)}
    prompt("claude", "okapi-canary-977: read the notes", tool_env)
    ok("team", "push")
    assert count(team_db, "SELECT count(*) FROM clinvk.turns WHERE prompt IS NOT NULL") == 1
    assert count(team_db, "SELECT count(*) FROM clinvk.tool_calls WHERE output IS NOT NULL") == 1
    # Off again: the next push, with nothing changed locally, clears what was shared.
    config.write_text("[team]\nshare_text = false\n")
    assert ok("team", "push", "--json")["sessions"] == 0
    for table in ("sessions", "turns", "tool_calls"):
        assert count(team_db, f"SELECT count(*) FROM clinvk.{table} x "
                              "WHERE x::text LIKE '%okapi-canary%'") == 0, table
    assert team_db.sql("SELECT title FROM clinvk.sessions") == [("",)]
    assert team_db.sql("SELECT output FROM clinvk.tool_calls") == [(None,)]
    # Usage and tool summaries stay.
    assert count(team_db, "SELECT count(*) FROM clinvk.turns WHERE input_tokens > 0") == 1


# ------------------------------------------------------------------ security

def test_row_level_security_member_a_cannot_write_b_rows(team_db: TeamDb,
                                                         fake_vendors: Path) -> None:
    import psycopg

    ok("team", "init")
    alice = team_db.role("clinvk_t_alice")
    bob = team_db.role("clinvk_t_bob")
    reader = team_db.role("clinvk_t_reader", "clinvk_reader")
    prompt("claude", "alice's work")
    ok("team", "push", env={"CLINVK_TEAM_URL": alice, "CLINVK_TEAM_MEMBER": "alice@laptop"})
    assert {r[0] for r in team_db.sql("SELECT member FROM clinvk.sessions")} == {
        "alice@laptop"}

    # Bob pushing under alice's name is refused, one line, nothing written.
    ran = run_clinvk("team", "push", env={"CLINVK_TEAM_URL": bob,
                                          "CLINVK_TEAM_MEMBER": "alice@laptop"})
    assert ran.code == 1
    assert "belongs to the database role 'clinvk_t_alice'" in ran.err.splitlines()[0]

    with psycopg.connect(bob, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM clinvk.sessions").fetchone() == (1,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO clinvk.sessions SELECT * FROM clinvk.sessions")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO clinvk.members(member, role) VALUES ('mallory', "
                         "'clinvk_t_alice')")
        assert conn.execute("UPDATE clinvk.sessions SET title = 'pwned'").rowcount == 0
        assert conn.execute("UPDATE clinvk.turns SET cost = 0").rowcount == 0
        assert conn.execute("DELETE FROM clinvk.turns").rowcount == 0
        assert conn.execute("DELETE FROM clinvk.sessions").rowcount == 0
    assert count(team_db, "SELECT count(*) FROM clinvk.sessions WHERE title = 'pwned'") == 0
    assert count(team_db, "SELECT count(*) FROM clinvk.turns") == 1

    # Bob's own name works, and his rows are his.
    ok("team", "push", "--since", "2000-01-01",
       env={"CLINVK_TEAM_URL": bob, "CLINVK_TEAM_MEMBER": "bob@desk"})
    assert count(team_db, "SELECT count(*) FROM clinvk.sessions WHERE member = 'bob@desk'") == 1

    # The read-only role reads and cannot write.
    with psycopg.connect(reader, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM clinvk.sessions").fetchone() == (2,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM clinvk.sessions")
    listed = ok("team", "list", "--json", env={"CLINVK_TEAM_URL": reader})
    assert listed["total"] == 2


# ------------------------------------------------------------------ stats

def _totals(found: dict[str, Any]) -> dict[str, Any]:
    t = found["totals"]
    return {"sessions": t["sessions"], "by_status": t["sessions_by_status"],
            "turns": t["turns"], "tokens": t["tokens"], "cost": t["cost"],
            "cost_usd": t["cost_usd"]}


def _add(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    if isinstance(a, dict):
        return {k: _add(a[k], b[k]) for k in a}
    if a is None or b is None:
        return a if b is None else b
    return round(a + b, 9) if isinstance(a, float) or isinstance(b, float) else a + b


def _rounded(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return round(value, 9) if isinstance(value, float) else value


def test_team_stats_equal_the_sum_of_each_machine_s_local_stats(
        team_db: TeamDb, fake_vendors: Path, tmp_path: Path) -> None:
    ok("team", "init")
    machines = []
    for name, backends in (("one", ("claude", "claude", "gemini")), ("two", ("codex", "gemini"))):
        home = tmp_path / f"home-{name}"
        env = {"CLINVK_HOME": str(home), "CLINVK_TEAM_MEMBER": f"{name}@ci"}
        ids = [prompt(b, f"work on {name}", env) for b in backends]
        ok("resume", ids[-1], "-o", "json", "more", env=env)
        ok("team", "push", env=env)
        machines.append(env)
    local = [ok("sessions", "stats", "--json", env=env) for env in machines]
    team = ok("team", "stats", "--json")
    assert _rounded(_totals(team)) == _add(_totals(local[0]), _totals(local[1]))
    assert team["totals"]["sessions"] == 5

    by_member = {g["key"]: g for g in ok("team", "stats", "--by", "member", "--json")["groups"]}
    for env, mine in zip(machines, local):
        assert _rounded(_totals({"totals": by_member[env["CLINVK_TEAM_MEMBER"]]})) == \
            _rounded(_totals(mine))
    for by in ("backend", "model", "day"):
        team_groups = {g["key"]: _rounded(_totals({"totals": g}))
                       for g in ok("team", "stats", "--by", by, "--json")["groups"]}
        summed: dict[str, Any] = {}
        for env in machines:
            for g in ok("sessions", "stats", "--by", by, "--json", env=env)["groups"]:
                mine = _totals({"totals": g})
                summed[g["key"]] = _add(summed[g["key"]], mine) if g["key"] in summed else \
                    _rounded(mine)
        assert team_groups == summed, by
    text = run_clinvk("team", "stats", "--by", "member")
    assert text.code == 0 and "one@ci" in text.out and "MEMBER" in text.out


# ------------------------------------------------------------------ many machines

def test_eight_machines_push_2000_sessions_each_concurrently(team_db: TeamDb,
                                                             tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from gen_store import ensure_store
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    ok("team", "init")
    homes = [tmp_path / f"machine-{k}" for k in range(8)]
    for k, home in enumerate(homes):
        ensure_store(home, 2000, turns_min=1, turns_max=3, seed=100 + k, workers=1,
                     log=lambda *_a, **_k: None)
    local_turns = 0
    for home in homes:
        conn = sqlite3.connect(home / "catalog.db")
        local_turns += conn.execute("SELECT count(*) FROM turns").fetchone()[0]
        conn.close()

    def push_all() -> list[dict[str, Any]]:
        env = dict(os.environ, PYTHONPATH=str(REPO))
        procs = [subprocess.Popen(
            [sys.executable, "-m", "clinvk", "team", "push", "--json"],
            env={**env, "CLINVK_HOME": str(home), "CLINVK_TEAM_MEMBER": f"dev{k % 4}@ci"},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for k, home in enumerate(homes)]
        done = [(p.wait(120), *p.communicate()) for p in procs]
        assert all(code == 0 for code, _o, _e in done), [e for _c, _o, e in done]
        return [json.loads(out) for _c, out, _e in done]

    first = push_all()
    assert sum(r["sessions"] for r in first) == 16_000
    assert count(team_db, "SELECT count(*) FROM clinvk.sessions") == 16_000
    assert count(team_db, "SELECT count(DISTINCT (member, machine, id)) "
                          "FROM clinvk.sessions") == 16_000
    assert count(team_db, "SELECT count(DISTINCT machine) FROM clinvk.sessions") == 8
    assert count(team_db, "SELECT count(*) FROM clinvk.turns") == local_turns
    second = push_all()
    assert sum(r["sessions"] for r in second) == 0
    assert count(team_db, "SELECT count(*) FROM clinvk.sessions") == 16_000
    assert count(team_db, "SELECT count(*) FROM clinvk.turns") == local_turns


# ------------------------------------------------------------------ auto push

def _outbox(home: Path) -> set[str]:
    path = home / "team.db"
    if not path.exists():
        return set()
    conn = sqlite3.connect(path)
    try:
        return {ident for (ident,) in conn.execute("SELECT id FROM outbox")}
    finally:
        conn.close()


def _failure(home: Path) -> str | None:
    conn = sqlite3.connect(home / "team.db")
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'failure'").fetchone()
    finally:
        conn.close()
    return None if row is None else str(row[0])


def test_auto_push_survives_the_server_going_away(team_db: TeamDb, fake_vendors: Path,
                                                  pg_server: Server,
                                                  clinvk_home: Path) -> None:
    ok("team", "init")
    Path(os.environ["CLINVK_CONFIG"]).write_text("[team]\nauto_push = true\n")
    first = prompt("claude", "while the server is up")
    # Pushed in the background, without any team command.
    wait_for(lambda: first in remote_sessions(team_db), what="the background push")
    wait_for(lambda: not _outbox(clinvk_home), what="an empty outbox")

    pg_server.down()
    try:
        # Every turn succeeds; the first to find the failed background push says so,
        # once (at most one warning an hour), the others are quiet.
        turns = [run_clinvk("prompt", "-b", "codex", "-o", "json", "while the server is down"),
                 run_clinvk("resume", first, "-o", "json", "still down")]
        wait_for(lambda: _failure(clinvk_home), what="the background push to fail")
        turns += [run_clinvk("prompt", "-b", "gemini", "-o", "json", "after the failure"),
                  run_clinvk("prompt", "-b", "claude", "-o", "json", "and another")]
        assert all(t.code == 0 for t in turns), [t.err for t in turns]
        warnings = [line for t in turns for line in t.err.splitlines()
                    if "team store push failed" in line]
        assert len(warnings) == 1, warnings
        assert "cannot reach the team store" in warnings[0]
        made = {json.loads(t.out)["id"] for t in turns}
        assert _outbox(clinvk_home) == made
        failed = run_clinvk("team", "push")
        assert failed.code == 1
        assert failed.err.splitlines()[0].startswith("clinvk: error: cannot reach the team store")
        assert _outbox(clinvk_home) == made
    finally:
        pg_server.up()

    # Back up: once the retry is due, any command (not only a turn) starts the pusher that
    # delivers the outbox (or the pusher still retrying inside its time box does).
    pusher.set_due(clinvk_home, time.time() - 1)
    assert run_clinvk("sessions", "list").code == 0
    wait_for(lambda: not _outbox(clinvk_home), what="the outbox to be delivered")
    assert remote_sessions(team_db) == local_sessions()
    assert count(team_db, "SELECT count(*) FROM clinvk.turns") == 5
    assert ok("team", "push", "--json")["sessions"] == 0
