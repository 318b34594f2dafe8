"""Background turns (`prompt --detach`, `resume --detach`) and `clinvk wait`: clinvk
as a real process, fake vendors with per-run delays and failures."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from clinvk.model import utcnow
from clinvk.store import SessionStore
from tests import fakes
from tests.conftest import add_session
from tests.run.conftest import REPO, Fakes, Result, run_proc, spawn, wait_for


def ends(fake: Fakes) -> list[float]:
    return [r["at"] for r in fakes.read_log(fake.log) if r.get("event") == "end"]


def test_detach_prints_the_id_at_once_and_wait_collects_the_turn(
        fake: Fakes, workdir: Path, store: SessionStore) -> None:
    started = time.monotonic()
    r = run_proc("prompt", "--detach", "long job [fake sleep=2]")
    assert r.code == 0, r.err
    assert time.monotonic() - started < 1.8  # back before the vendor is done
    ident = r.out.strip()
    assert store.read(ident).status == "running"
    assert ends(fake) == []
    waited = run_proc("wait", ident[:6])
    assert waited.code == 0, waited.err
    assert waited.out == f"{ident}  ok\n"
    assert ends(fake) and ends(fake)[0] <= time.time()
    session = store.read(ident)
    assert session.status == "active"
    assert session.turns[0].prompt == "long job [fake sleep=2]"
    assert session.turns[0].response == "MOCK anthropic reply #1: say hi"


def test_detach_takes_the_prompt_from_stdin_and_prints_json(fake: Fakes, workdir: Path) -> None:
    proc = spawn("prompt", "--detach", "-o", "json", "-b", "gemini", stdin=subprocess.PIPE)
    out, err = proc.communicate("from stdin --detach\n", timeout=30)
    assert proc.returncode == 0, err
    shown = json.loads(out)
    assert shown["status"] == "running" and len(shown["id"]) == 8
    assert run_proc("wait", shown["id"]).code == 0
    assert fake.last()["stdin"] == "from stdin --detach\n"
    assert fake.last()["name"] == "gemini"


def test_resume_detach_continues_the_session(fake: Fakes, workdir: Path,
                                             store: SessionStore) -> None:
    first = run_proc("prompt", "-o", "json", "start")
    ident = first.json()["id"]
    r = run_proc("resume", "--detach", ident, "more [fake sleep=0.5]")
    assert r.code == 0, r.err
    assert r.out.strip() == ident
    assert run_proc("wait", ident).code == 0
    assert [t.prompt for t in store.read(ident).turns] == ["start", "more [fake sleep=0.5]"]


def test_an_error_before_the_turn_starts_is_the_commands_own(
        fake: Fakes, workdir: Path, store: SessionStore, clinvk_home: Path) -> None:
    add_session(store, cost=3.0)
    (clinvk_home / "config.toml").write_text("[budget]\ndaily_usd = 2\n")
    r = run_proc("prompt", "--detach", "anything")
    assert r.code == 1
    assert r.err.startswith("clinvk: error: budget exceeded: $3.00 spent today")
    assert r.out == ""
    assert fake.starts() == []
    refused = run_proc("prompt", "--detach", "--ephemeral", "x")
    assert refused.code == 1 and "--detach cannot be combined with --ephemeral" in refused.err


def test_wait_exits_with_the_first_failures_code(fake: Fakes, workdir: Path) -> None:
    good = run_proc("prompt", "--detach", "fine [fake sleep=0.3]").out.strip()
    bad = run_proc("prompt", "--detach", "broken [fake sleep=0.3 exit=1]").out.strip()
    slow = run_proc("prompt", "--detach", "slow [fake hang=0]", "--timeout", "1").out.strip()
    r = run_proc("wait", good, slow, bad, "-o", "json")
    assert r.code == 124  # slow timed out, and it comes before bad in the order given
    assert [(s["id"], s["status"], s["exit_code"]) for s in r.json()["sessions"]] == [
        (good, "ok", 0), (slow, "timeout", 124), (bad, "error", 1)]
    assert run_proc("wait", good, bad).code == 1


def test_wait_any_and_timeout(fake: Fakes, workdir: Path) -> None:
    quick = run_proc("prompt", "--detach", "quick [fake sleep=0.2]").out.strip()
    hang = run_proc("prompt", "--detach", "hang [fake hang=0]").out.strip()
    started = time.monotonic()
    r = run_proc("wait", hang, quick, "--any")
    assert r.code == 0, r.err
    assert r.out.splitlines() == [f"{hang}  running", f"{quick}  ok"]
    timed = run_proc("wait", hang, "--timeout", "0.5")
    assert timed.code == 124
    assert "1 of 1 turns still running after 0.5s" in timed.err
    assert time.monotonic() - started < 20
    assert run_proc("cancel", hang).code == 0
    assert run_proc("wait", hang).code == 130


def test_wait_settles_a_turn_whose_runner_died(fake: Fakes, workdir: Path,
                                               store: SessionStore) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    session = add_session(store, status="running", workdir=str(workdir))
    session.turns[-1].status = "running"
    session.pid, session.pid_start = gone.pid, 1.0
    session.last_used_at = utcnow()
    store.save(session)
    r = run_proc("wait", session.id)
    assert r.code == 130
    assert store.read(session.id).turns[-1].status == "interrupted"
    wait_for(lambda: store.read(session.id).status != "running", what="settled")


def test_detach_reruns_the_words_main_was_given_not_sys_argv(
        fake: Fakes, workdir: Path, store: SessionStore, run: Callable[..., Result],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # In-process, sys.argv is the test runner's own: the background turn must not rerun it.
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.setattr(sys, "argv", ["clinvk", "prompt", "not this one"])
    r = run("prompt", "-b", "codex", "--detach", "from main [fake sleep=0.2]")
    assert r.code == 0, r.err
    ident = r.out.strip()
    assert run_proc("wait", ident).code == 0
    session = store.read(ident)
    assert session.backend == "codex"
    assert [t.prompt for t in session.turns] == ["from main [fake sleep=0.2]"]
