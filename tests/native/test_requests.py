"""The API requests of adopted turns, from the real transcripts of the pinned CLIs:
what a long-context tier and the per-day split need (issue 25)."""

from __future__ import annotations

from pathlib import Path

import pytest

from clinvk.model import Usage
from clinvk.native import claude, codex, gemini
from tests.native.conftest import transcript


@pytest.mark.parametrize(("backend", "parse"), [
    ("claude", claude.parse), ("codex", codex.parse), ("gemini", gemini.parse)])
def test_adopted_tool_turns_record_each_request_with_its_time(
        native_home: Path, backend: str, parse: object) -> None:
    # The real transcripts' third turn reads a file through a tool: two API requests.
    t = parse(transcript(native_home, backend))  # type: ignore[operator]
    turns = [d.to_turn(i, t.backend_session_id) for i, d in enumerate(t.complete())]
    tool_turn = turns[2]
    requests = tool_turn.requests or []
    assert len(requests) == 2
    assert sum((Usage(r.input_tokens, r.output_tokens, r.cache_read_tokens,
                      r.cache_write_tokens) for r in requests), Usage()) == Usage(tool_turn.usage.input_tokens, tool_turn.usage.output_tokens,
                                    tool_turn.usage.cache_read_tokens,
                                    tool_turn.usage.cache_write_tokens)
    assert all(r.at is not None and r.at >= tool_turn.started_at for r in requests)
    assert requests[0].at <= requests[1].at  # type: ignore[operator]
    # The single-call turns have one request each.
    assert [len(x.requests or []) for x in turns] == [1, 1, 2, 1]
