"""Every number a vendor file holds goes through the record's bounds: one out of range is
dropped with the turn's warning, and a session that cannot be adopted is skipped with one
warning without stopping the others."""

from __future__ import annotations

import json
import re
from pathlib import Path

from clinvk.model import COST_MAX
from clinvk.store import SessionStore
from tests.native.conftest import CLAUDE_ID, CODEX_ID, GEMINI_ID, transcript
from tests.native.test_sync_cli import grow_codex_transcript, sessions, sync


def edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert text.count(old) >= count, old
    path.write_text(text.replace(old, new, count))


def test_an_out_of_range_reported_cost_is_dropped_with_a_warning_and_syncs_go_on(
        native_home: Path, clinvk_home: Path) -> None:
    path = transcript(native_home, "claude")
    # The first turn's running cost leaps beyond any bound.
    edit(path, '"totalCostUSD":0.0014454', '"totalCostUSD":1e300')
    ran = sync(native_home)
    assert ran.code == 0, ran.err
    assert "claude: 1 new" in ran.out and "codex: 1 new" in ran.out
    first = sessions(clinvk_home)[CLAUDE_ID].turns[0]
    assert first.cost_usd is None or first.cost_usd <= COST_MAX
    assert first.cost_source != "reported"
    assert first.warning is not None and "cost out of range" in first.warning
    assert "1e+300 USD" in first.warning
    assert f"{path}: turn 0: claude reported a cost out of range" in ran.err
    # The session is sound: the next sync, and every reader, goes on as usual.
    grow_codex_transcript(native_home)
    again = sync(native_home, "--json")
    assert again.code == 0, again.err
    assert [c["backend"] for c in json.loads(again.out)["sessions"]] == ["codex"]
    listed = sync(native_home)
    assert listed.code == 0


def test_an_out_of_range_token_count_leaves_the_usage_unknown_with_a_warning(
        native_home: Path, clinvk_home: Path) -> None:
    path = transcript(native_home, "gemini")
    edit(path, '"output":45', '"output":100000000000000000000')
    ran = sync(native_home, "--from", "gemini")
    assert ran.code == 0, ran.err
    first = sessions(clinvk_home)[GEMINI_ID].turns[0]
    assert first.usage is None
    assert first.warning is not None
    assert first.warning.startswith("gemini reported token usage out of range")
    assert first.response == "MOCK gemini reply #1: say hi" and first.status == "ok"
    assert "turn 0: gemini reported token usage out of range" in ran.err


def test_a_tool_call_that_lasts_beyond_the_bounds_keeps_the_turn(
        native_home: Path, clinvk_home: Path) -> None:
    path = transcript(native_home, "claude")
    lines = path.read_text().splitlines(keepends=True)
    result = next(i for i, line in enumerate(lines) if '"tool_result"' in line)
    lines[result] = re.sub(r'"timestamp":"2026-', '"timestamp":"9026-', lines[result])
    path.write_text("".join(lines))
    ran = sync(native_home, "--from", "claude")
    assert ran.code == 0, ran.err
    turn = sessions(clinvk_home)[CLAUDE_ID].turns[2]
    (call,) = turn.tool_calls
    assert call.duration_s is None and turn.duration_s is None
    assert turn.warning is not None and f"tool call {call.id}" in turn.warning


def test_a_session_that_cannot_be_adopted_is_skipped_and_the_others_are_not(
        native_home: Path, clinvk_home: Path) -> None:
    assert sync(native_home).code == 0
    found = sessions(clinvk_home)
    # The claude session's file is damaged (an older clinvk, a hand edit) and both
    # conversations grow.
    damaged = next((clinvk_home / "sessions").rglob(f"{found[CLAUDE_ID].id}.json"))
    damaged.write_text(damaged.read_text().replace('"cost_usd": 0.0014454',
                                                   '"cost_usd": 1e300', 1))
    claude = transcript(native_home, "claude")
    claude.write_text(claude.read_text() + "\n")
    grow_codex_transcript(native_home)
    ran = sync(native_home)
    assert ran.code == 0, ran.err
    assert ran.out.strip() == ("Synced claude: 0 new, 0 updated, 1 skipped · codex: 0 new, "
                               "1 updated, 0 skipped · gemini: 0 new, 0 updated, 0 skipped")
    (warning,) = ran.err.splitlines()
    assert warning.startswith(f"clinvk: warning: skipped {claude}: ")
    assert len(SessionStore(clinvk_home).read(found[CODEX_ID].id).turns) == 5
