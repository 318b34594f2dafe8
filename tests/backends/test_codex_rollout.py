"""A live codex turn's API requests, read from the rollout codex wrote for its thread
(`codex exec --json` gives only the turn's total). The rollout is the real one of codex
0.169.0 in tests/fixtures/native, cut after its third turn: one tool call, so two API
requests (issue 25)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from clinvk.backends import TurnResult
from clinvk.backends.codex import CodexBackend
from clinvk.backends.settings import BackendConfig
from clinvk.model import ApiRequest, Usage
from tests.backends.vendor_samples import request, run
from tests.native.conftest import CODEX_ID, install, transcript

# The thread's totals (clinvk's counting: input uncached) after turn 2 and turn 3.
AFTER_2 = Usage(246 - 134 - 16, 90, 134, 16)
AFTER_3 = Usage(492 - 268 - 32, 180, 268, 32)


def stream(total: dict[str, int]) -> str:
    """What `codex exec resume --json` prints for the third turn (usage: thread totals)."""
    return "\n".join(json.dumps(e) for e in (
        {"type": "thread.started", "thread_id": CODEX_ID},
        {"type": "turn.started"},
        {"type": "item.completed", "item": {"id": "i", "type": "agent_message", "text": "ok"}},
        {"type": "turn.completed", "usage": total}))


RAW_3 = {"input_tokens": 492, "cached_input_tokens": 268, "cache_write_input_tokens": 32,
         "output_tokens": 180, "reasoning_output_tokens": 0}


@pytest.fixture
def codex_home(tmp_path: Path) -> Path:
    native_home = install(tmp_path / "home", tmp_path)
    path = transcript(native_home, "codex")
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:41]))  # up to the third turn's task_complete
    return native_home / ".codex"


def finish(codex_home: Path, raw: dict[str, int], before: Usage | None) -> TurnResult:
    backend = CodexBackend("codex", BackendConfig(env={"CODEX_HOME": str(codex_home)}))
    parser = backend.parser(request(resume_id=CODEX_ID, previous_usage_total=before))
    return run(parser, stream(raw))[1]


def test_the_requests_of_the_turn_come_from_the_rollout(codex_home: Path) -> None:
    result = finish(codex_home, RAW_3, AFTER_2)
    assert result.usage == AFTER_3 - AFTER_2
    each = Usage(123 - 67 - 8, 45, 67, 8)  # the mock's fixed figures, per request
    assert result.requests == [
        ApiRequest(each.input_tokens, 45, 67, 8, datetime(2026, 11, 30, 3, 22, 4, 714000, UTC)),
        ApiRequest(each.input_tokens, 45, 67, 8, datetime(2026, 11, 30, 3, 22, 4, 739000, UTC))]


def test_a_small_tail_is_widened_until_the_turn_starts_in_it(codex_home: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from clinvk.backends import codex_rollout

    monkeypatch.setattr(codex_rollout, "TAIL", 64)
    assert len(finish(codex_home, RAW_3, AFTER_2).requests or []) == 2


def test_totals_that_do_not_meet_give_no_requests(codex_home: Path, tmp_path: Path) -> None:
    # Another total than the rollout's last: the rollout is not this turn's.
    assert finish(codex_home, dict(RAW_3, output_tokens=181), AFTER_2).requests is None
    # No rollout at all (another CODEX_HOME): priced as one request, as before.
    assert finish(tmp_path / "nowhere", RAW_3, AFTER_2).requests is None
