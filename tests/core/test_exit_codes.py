"""The documented exit codes (docs/exit-codes.md), each through a real process.

124 and 130 come from turns: see tests/run/ (timeout and Ctrl-C with fake backends).
"""

from __future__ import annotations

import os

from clinvk.store import SessionStore
from tests.conftest import add_session, run_clinvk


def _one_line_error(err: str) -> None:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines and lines[0].startswith("clinvk: error: ")
    assert all(line.startswith(("clinvk: error: ", "hint: ")) for line in lines)


def test_0_success_and_results_only_on_stdout() -> None:
    ran = run_clinvk("sessions", "list", "--json")
    assert ran.code == 0 and ran.out.startswith("{")
    ran = run_clinvk("--version")
    assert ran.code == 0 and ran.out.strip() == __import__("clinvk").__version__


def test_1_usage_errors_from_the_parser() -> None:
    for args in (["sessions", "list", "--bogus"], ["sessions", "nope"],
                 ["sessions", "list", "-n", "abc"], ["sessions", "list", "--range", "decade"]):
        ran = run_clinvk(*args)
        assert ran.code == 1, args
        assert ran.out == ""
        _one_line_error(ran.err)


def test_1_invalid_range_lists_the_valid_ones() -> None:
    ran = run_clinvk("sessions", "list", "--range", "decade")
    assert ran.code == 1
    for name in ("today", "yesterday", "7d", "30d", "thismonth", "lastmonth", "all"):
        assert name in ran.err


def test_1_not_found_in_sessions_commands() -> None:
    ran = run_clinvk("sessions", "show", "abcd1234")
    assert ran.code == 1 and "session not found: abcd1234" in ran.err
    _one_line_error(ran.err)


def test_1_config_error(clinvk_home) -> None:
    (clinvk_home / "config.toml").write_text("[session]\nretention_days = 'x'\n")
    ran = run_clinvk("sessions", "clean")
    assert ran.code == 1 and "retention_days" in ran.err
    _one_line_error(ran.err)


def test_4_session_error_running_session(store: SessionStore) -> None:
    s = add_session(store)
    store.update(s.id, lambda x: (setattr(x, "status", "running"), setattr(x, "pid", os.getpid())))
    ran = run_clinvk("sessions", "delete", s.id)
    assert ran.code == 4 and "running" in ran.err
    _one_line_error(ran.err)


def test_4_session_busy(store: SessionStore) -> None:
    s = add_session(store)
    with store.lock(s.id):
        ran = run_clinvk("sessions", "rename", s.id, "new")
    assert ran.code == 4 and "session busy" in ran.err
    _one_line_error(ran.err)
    assert store.read(s.id).title == "a session"


def test_4_corrupt_session(store: SessionStore) -> None:
    shard = store.sessions_dir / "qq"
    shard.mkdir(parents=True)
    (shard / "qqqqqqqq.json").write_text("{")
    ran = run_clinvk("sessions", "show", "qqqq")
    assert ran.code == 4 and "corrupt" in ran.err
    _one_line_error(ran.err)
