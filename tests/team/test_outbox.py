"""When the background pusher runs: it retries a server out of reach with backoff inside
its time box, and any clinvk command starts the next one once it is due. (No database
needed: the server is one that cannot be reached.)"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from clinvk.store import SessionStore
from clinvk.team import auto, local, pusher
from tests.conftest import run_clinvk
from tests.team.conftest import wait_for

UNREACHABLE = "postgresql://nobody@/clinvk?host=/nonexistent-dir&port=1"


def auto_push(on: bool) -> None:
    Path(os.environ["CLINVK_CONFIG"]).write_text(f"[team]\nauto_push = {str(on).lower()}\n")


@pytest.fixture(autouse=True)
def _auto_push_on() -> None:
    auto_push(True)


def test_the_background_pusher_retries_with_backoff_inside_its_time_box(
        clinvk_home: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("psycopg")
    from clinvk.commands.team import _background

    monkeypatch.setenv("CLINVK_TEAM_URL", UNREACHABLE)
    monkeypatch.setattr(pusher, "BUDGET_S", 2.0)
    monkeypatch.setattr(auto, "FIRST_RETRY_S", 0.2)
    local.enqueue(clinvk_home, "waiting1")
    began = time.time()
    assert _background(SessionStore()) == 1
    tries = [line for line in capsys.readouterr().err.splitlines()
             if "team push failed: cannot reach the team store" in line]
    assert len(tries) >= 3, tries  # at 0, 0.2, 0.6 and 1.4 s
    # Given up for this time box: the next pusher is due RETRY_S later.
    due = pusher.due_at(clinvk_home)
    assert due is not None and began + pusher.RETRY_S <= due <= time.time() + pusher.RETRY_S


def test_a_refusal_is_not_retried(clinvk_home: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    from clinvk.commands.team import _background

    local.enqueue(clinvk_home, "waiting1")  # and no team store configured at all
    assert _background(SessionStore()) == 1
    assert capsys.readouterr().err.count("team push failed: no team store configured") == 1


def test_any_command_starts_a_pusher_once_one_is_due(clinvk_home: Path) -> None:
    local.enqueue(clinvk_home, "waiting1")
    later = time.time() + 3600
    pusher.set_due(clinvk_home, later)
    # Not due yet: a command leaves it (one stat, nothing started).
    assert run_clinvk("sessions", "list").code == 0
    assert pusher.due_at(clinvk_home) == later
    assert not (clinvk_home / pusher.LOG_NAME).exists()
    # Due: the next command, whatever it is, starts one.
    pusher.set_due(clinvk_home, time.time() - 1)
    assert run_clinvk("sessions", "list").code == 0
    log = clinvk_home / pusher.LOG_NAME
    wait_for(lambda: log.exists() and "team push failed" in log.read_text(),
             what="the background pusher to try")
    assert "no team store configured" in log.read_text()
    # It could not deliver: the outbox still waits, the next pusher due a while later.
    wait_for(lambda: (pusher.due_at(clinvk_home) or 0) < time.time() + pusher.RETRY_S + 5,
             what="the pusher to set the next due time")
    state = local.connect(clinvk_home)
    try:
        assert local.queued(state).keys() == {"waiting1"}
    finally:
        state.close()


def test_a_delivered_outbox_clears_the_due_time(clinvk_home: Path) -> None:
    pusher.set_due(clinvk_home, time.time() - 1)
    assert not auto.outbox_waiting(clinvk_home)
    # An empty outbox: the pusher started by the next command has nothing to do.
    assert run_clinvk("sessions", "list").code == 0
    wait_for(lambda: pusher.due_at(clinvk_home) is None, what="the due time to be cleared")
    assert not (clinvk_home / pusher.LOG_NAME).read_text()


def test_a_pusher_started_after_auto_push_was_turned_off_leaves_the_outbox(
        clinvk_home: Path) -> None:
    auto_push(False)
    local.enqueue(clinvk_home, "waiting1")
    pusher.set_due(clinvk_home, time.time() - 1)
    assert run_clinvk("sessions", "list").code == 0
    wait_for(lambda: pusher.due_at(clinvk_home) is None, what="the due time to be cleared")
    assert auto.outbox_waiting(clinvk_home)  # for `clinvk team push`
    # Nothing is due any more: no command starts another.
    assert run_clinvk("sessions", "list").code == 0
    assert pusher.due_at(clinvk_home) is None
