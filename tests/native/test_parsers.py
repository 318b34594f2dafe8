"""The transcript readers, over real transcripts of the pinned CLIs (four turns each:
new, resume, a turn that reads a file through a tool, resume)."""

from __future__ import annotations

from pathlib import Path

import pytest

from clinvk.model import Usage
from clinvk.native import claude, codex, gemini
from clinvk.native.transcript import TranscriptError
from tests.native.conftest import CLAUDE_ID, CODEX_ID, GEMINI_ID, transcript

PARSERS = {"claude": claude.parse, "codex": codex.parse, "gemini": gemini.parse}
IDS = {"claude": CLAUDE_ID, "codex": CODEX_ID, "gemini": GEMINI_ID}
PROVIDER = {"claude": "anthropic", "codex": "openai", "gemini": "gemini"}
# The mock answers each model request with input 123, output 45, cache read 67,
# cache write 8 (gemini reports no cache writes).
PER_CALL = {
    "claude": Usage(123, 45, 67, 8),
    # codex's input_tokens includes the cached and written ones; clinvk's does not.
    "codex": Usage(123 - 67 - 8, 45, 67, 8),
    # gemini's tokens.input includes the cached ones.
    "gemini": Usage(123 - 67, 45, 67),
}


@pytest.mark.parametrize("backend", ["claude", "codex", "gemini"])
def test_reads_every_turn_with_its_answer_usage_and_workdir(
        native_home: Path, tmp_path: Path, backend: str) -> None:
    t = PARSERS[backend](transcript(native_home, backend))
    assert t.backend == backend
    assert t.backend_session_id == IDS[backend]
    # The project dir's name holds "_", "." and a space: read from the records, intact.
    assert t.workdir == str(tmp_path / backend / "my_proj.v2 x")
    turns = [d.to_turn(i, t.backend_session_id) for i, d in enumerate(t.complete())]
    assert [x.prompt for x in turns] == ["say hi", "again", "read notes.txt", "bye"]
    provider = PROVIDER[backend]
    assert [x.response for x in turns] == [
        f"MOCK {provider} reply #1: say hi", f"MOCK {provider} reply #2: again",
        "MOCK final answer: the first line is kiwi", f"MOCK {provider} reply #4: bye"]
    assert all(x.status == "ok" and x.error is None for x in turns)
    # One model call per plain turn, two for the tool turn (call + result) — claude's
    # two records of one response (text block, tool_use block) are counted once.
    one = PER_CALL[backend]
    assert [x.usage for x in turns] == [one, one, one + one, one]
    assert turns[2].chatter == ["MOCK pre-tool chatter"]
    assert all(x.started_at.tzinfo is not None for x in turns)
    assert turns == sorted(turns, key=lambda x: x.started_at)
    assert t.model == {"claude": "claude-opus-5-5", "codex": "gpt-5.5",
                       "gemini": "gemini-3.8-flash"}[backend]


@pytest.mark.parametrize("backend", ["claude", "codex", "gemini"])
def test_tool_call_is_recorded_with_its_outcome(native_home: Path, backend: str) -> None:
    t = PARSERS[backend](transcript(native_home, backend))
    (call,) = t.complete()[2].tool_calls
    notes = str(Path(t.workdir) / "notes.txt")
    if backend == "codex":
        # The mock's unquoted `cat <path with a space>` really failed in codex's shell.
        assert (call.name, call.kind, call.status, call.exit_code) == (
            "CommandExecution", "shell", "error", 1)
        assert call.summary.endswith(f"cat {notes}")
    else:
        assert call.kind == "read" and call.status == "ok"
        assert call.paths == [notes]
        assert call.summary == "notes.txt"
        assert call.output_preview is not None and f"kiwi-{backend}" in call.output_preview
    for d in t.complete()[:2] + t.complete()[3:]:
        assert d.tool_calls == []


def test_claude_cost_is_the_growth_of_its_running_cost(native_home: Path) -> None:
    t = claude.parse(transcript(native_home, "claude"))
    # cost-state totals 0.0014454, 0.0028908, 0.0057816, 0.007227: one call each
    # turn, two in the tool turn.
    assert [d.cost_usd for d in t.complete()] == pytest.approx(
        [0.0014454, 0.0014454, 0.0028908, 0.0014454])


def test_gemini_merges_a_rewritten_message_and_keeps_its_first_tokens(
        native_home: Path) -> None:
    path = transcript(native_home, "gemini")
    t = gemini.parse(path)
    # The file holds the tool message twice (before and after its call ran) and three
    # resume rewrites of the history without tokens; none adds a turn or tokens.
    assert len(t.complete()) == 4
    assert path.read_text().count('"$set"') > 3


@pytest.mark.parametrize("backend", ["claude", "codex", "gemini"])
def test_cut_off_last_line_refuses_the_file(native_home: Path, backend: str) -> None:
    path = transcript(native_home, backend)
    data = path.read_bytes()
    path.write_bytes(data[: data.rindex(b"\n", 0, len(data) - 1) + 20])
    with pytest.raises(TranscriptError, match="cut-off line"):
        PARSERS[backend](path)


@pytest.mark.parametrize("backend", ["claude", "codex", "gemini"])
def test_corrupt_line_in_the_middle_refuses_the_file(native_home: Path, backend: str) -> None:
    path = transcript(native_home, backend)
    lines = path.read_bytes().splitlines(keepends=True)
    lines[3] = b'{"type": "user", "message": \n'
    path.write_bytes(b"".join(lines))
    with pytest.raises(TranscriptError, match="line 4 is not a transcript record"):
        PARSERS[backend](path)


@pytest.mark.parametrize("backend", ["claude", "codex", "gemini"])
def test_unknown_format_is_refused(tmp_path: Path, backend: str) -> None:
    path = tmp_path / ".gemini" / "tmp" / "p" / "chats" / "x.jsonl"
    path.parent.mkdir(parents=True)
    (path.parent.parent / ".project_root").write_text("/somewhere")
    path.write_text('{"format": 99, "entries": []}\n')
    with pytest.raises(TranscriptError, match="not a .* this clinvk knows"):
        PARSERS[backend](path)


def test_a_turn_still_running_is_left_for_later(native_home: Path) -> None:
    path = transcript(native_home, "codex")
    lines = path.read_text().splitlines(keepends=True)
    # Up to the last prompt: its answer and its task_complete are not written yet.
    last_prompt = max(i for i, line in enumerate(lines) if '"UserMessage"' in line)
    path.write_text("".join(lines[: last_prompt + 1]))
    t = codex.parse(path)
    assert len(t.drafts) == 4
    assert [d.prompt for d in t.complete()] == ["say hi", "again", "read notes.txt"]


def test_an_unfinished_turn_before_others_is_kept_as_interrupted(native_home: Path) -> None:
    path = transcript(native_home, "claude")
    lines = path.read_text().splitlines(keepends=True)
    first_answer = next(i for i, line in enumerate(lines) if '"type":"assistant"' in line)
    del lines[first_answer]
    path.write_text("".join(lines))
    turns = [d.to_turn(i, "x") for i, d in enumerate(claude.parse(path).complete())]
    assert len(turns) == 4
    assert turns[0].status == "interrupted" and turns[0].response == ""
    assert turns[1].status == "ok"


def test_missing_project_root_refuses_a_gemini_chat(native_home: Path) -> None:
    path = transcript(native_home, "gemini")
    (path.parent.parent / ".project_root").unlink()
    with pytest.raises(TranscriptError, match="project_root"):
        gemini.parse(path)
