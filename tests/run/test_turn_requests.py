"""A real clinvk turn records its API requests: a claude tool turn (two requests) keeps
each one's prompt, time and share of the reported cost (issue 25). The fake vendor
replays the captured turn of claude 2.1.330 (tests/fixtures/vendor/tools/)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from clinvk.store import SessionStore
from tests.conftest import iter_sessions
from tests.run.conftest import Fakes


def test_a_claude_tool_turn_records_each_request(tmp_path: Path, fake: Fakes, run,  # type: ignore[no-untyped-def]
                                                 store: SessionStore) -> None:
    fake.set(TMP=str(tmp_path), SAMPLE="tools/claude-tool-turn.jsonl")
    workdir = tmp_path / "direct" / "proj-claude"
    workdir.mkdir(parents=True)
    r = run("prompt", "-b", "claude", "-w", str(workdir), "-o", "json", "read the notes")
    assert r.code == 0, r.err
    [session] = [s for _, s, _ in iter_sessions(store)]
    turn = session.turns[-1]
    requests = turn.requests or []
    assert [r.prompt for r in requests] == [100, 200]
    # The stream gives each message's output as it started (1): the rest of the turn's
    # 30 output tokens is the last request's.
    assert [r.output_tokens for r in requests] == [1, 29]
    assert [r.at for r in requests] == [datetime(2026, 11, 30, 1, 21, 40, 368000, tzinfo=UTC),
                                        datetime(2026, 11, 30, 1, 21, 40, 429000, tzinfo=UTC)]
    # claude reported the cost: it stays, shared out by what each request costs.
    assert turn.cost_source == "reported" and turn.cost_usd is not None
    assert sum(r.cost_usd or 0 for r in requests) == pytest.approx(turn.cost_usd)
    assert all((r.cost_usd or 0) > 0 for r in requests)
