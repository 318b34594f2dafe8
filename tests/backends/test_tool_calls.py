"""Tool calls in the adapters: the captured tool turns of each CLI, and the shapes
around them (errors, refusals, edits, unknown tools), parsed into tool_call /
tool_result events; the answer is the text after the last call."""

from __future__ import annotations

from typing import Any

import pytest

from clinvk.backends import Event, TextDelta, ToolCallEvent, ToolResultEvent
from clinvk.backends.claude import ClaudeParser
from clinvk.backends.codex import CodexParser
from clinvk.backends.gemini import GeminiParser
from tests.backends.vendor_samples import fixture_text, jsonl, request, run

TMP = "/tmp/capture"


def sample(name: str) -> str:
    return fixture_text(f"tools/{name}").replace("<TMP>", TMP)


def calls(events: list[Event]) -> list[ToolCallEvent]:
    return [e for e in events if isinstance(e, ToolCallEvent)]


def results(events: list[Event]) -> list[ToolResultEvent]:
    return [e for e in events if isinstance(e, ToolResultEvent)]


def kinds(events: list[Event]) -> list[str]:
    return [type(e).__name__ for e in events if isinstance(e, (TextDelta, ToolCallEvent,
                                                               ToolResultEvent))]


# --------------------------------------------------------------------------- samples
def test_claude_sample_read() -> None:
    workdir = f"{TMP}/direct/proj-claude"
    events, result = run(ClaudeParser(request(workdir=workdir)), sample("claude-tool-turn.jsonl"))
    assert kinds(events) == ["TextDelta", "ToolCallEvent", "ToolResultEvent", "TextDelta"]
    [call] = calls(events)
    assert (call.id, call.name, call.kind) == ("toolu_mock_e1df7243c8c649358531", "Read", "read")
    assert call.summary == "notes.txt"
    assert call.input == {"file_path": f"{workdir}/notes.txt"}
    assert call.paths == [f"{workdir}/notes.txt"]
    assert call.at is not None and call.at.isoformat().startswith("2026-11-30T01:21:40.371")
    [done] = results(events)
    assert done.id == call.id and done.status == "ok" and done.exit_code is None
    assert done.output is not None and done.output.startswith("1\tkiwi-claude-7319")
    assert done.at is not None and (done.at - call.at).total_seconds() == pytest.approx(0.032)
    # The answer is the final text, never the chatter before the tool call.
    assert result.text == "MOCK tool result: kiwi-claude-7319 is the first line"


def test_codex_sample_shell() -> None:
    events, result = run(CodexParser(request()), sample("codex-tool-turn.jsonl"))
    assert kinds(events) == ["TextDelta", "ToolCallEvent", "ToolResultEvent", "TextDelta"]
    [call] = calls(events)
    assert (call.id, call.name, call.kind) == ("item_1", "command_execution", "shell")
    # The summary is the command a person would type, not codex's bash -lc wrapper.
    assert call.summary == f"cat {TMP}/direct/proj-codex/notes.txt"
    assert call.input == {"command": f"/bin/bash -lc 'cat {TMP}/direct/proj-codex/notes.txt'"}
    [done] = results(events)
    assert (done.status, done.exit_code, done.timed) == ("ok", 0, True)
    assert done.output == ("kiwi-codex-7319 is the first line\n"
                           "zebra-codex-4421 appears only in the tool output\n")
    assert result.text == "MOCK tool result: kiwi-codex-7319 is the first line"


def test_gemini_sample_read() -> None:
    workdir = f"{TMP}/direct/proj-gemini"
    events, result = run(GeminiParser(request(workdir=workdir)), sample("gemini-tool-turn.jsonl"))
    assert kinds(events)[:3] == ["TextDelta", "ToolCallEvent", "ToolResultEvent"]
    [call] = calls(events)
    assert (call.name, call.kind, call.summary) == ("read_file", "read", "notes.txt")
    assert call.paths == [f"{workdir}/notes.txt"]
    [done] = results(events)
    # gemini's tool_result.output is empty for a read: no preview, still ok.
    assert (done.status, done.output) == ("ok", None)
    assert result.text == "MOCK tool result: kiwi-gemini-7319 is the first line"


# --------------------------------------------------------------------------- claude
def claude_call(name: str, args: dict[str, Any], ident: str = "toolu_1",
                parent: str | None = None) -> dict[str, Any]:
    return {"type": "assistant", "parent_tool_use_id": parent, "timestamp": "2026-11-30T01:00:00Z",
            "message": {"id": "msg_1", "content": [{"type": "tool_use", "id": ident, "name": name,
                                                     "input": args}]}}


def claude_result(content: Any, ident: str = "toolu_1", is_error: bool = False,
                  **extra: Any) -> dict[str, Any]:
    return {"type": "user", "timestamp": "2026-11-30T01:00:02.5Z",
            "message": {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": ident, "content": content,
                 "is_error": is_error}]}, **extra}


def test_claude_failing_bash_records_exit_code() -> None:
    events, _ = run(ClaudeParser(request()), jsonl(
        claude_call("Bash", {"command": "npm test", "description": "run tests"}),
        claude_result("Exit code 1\nnpm ERR! missing script: test", is_error=True)))
    [call], [done] = calls(events), results(events)
    assert (call.kind, call.summary) == ("shell", "npm test")
    assert (done.status, done.exit_code) == ("error", 1)
    assert done.output is not None and "missing script" in done.output


def test_claude_ok_bash_is_exit_0() -> None:
    events, _ = run(ClaudeParser(request()), jsonl(
        claude_call("Bash", {"command": "ls"}),
        claude_result("a\nb", tool_use_result={"stdout": "a\nb", "stderr": ""})))
    assert [(r.status, r.exit_code) for r in results(events)] == [("ok", 0)]


def test_claude_refusals() -> None:
    refused = {"id": "toolu_1", "permission_decision": {"decision": "reject", "source": "config"},
               "non_execution_kind": "permission-rule"}
    events, _ = run(ClaudeParser(request()), jsonl(
        claude_call("Write", {"file_path": "out.txt", "content": "x"}),
        claude_result("Claude requested permissions to write to out.txt", is_error=True,
                      tool_result_meta=[refused])))
    assert [r.status for r in results(events)] == ["denied"]


def test_claude_permission_denials_in_result_mark_the_call_denied() -> None:
    events, _ = run(ClaudeParser(request()), jsonl(
        claude_call("Edit", {"file_path": "/w/a.py", "old_string": "a", "new_string": "b"}),
        claude_result("permission needed", is_error=True),
        {"type": "result", "subtype": "success", "is_error": False, "result": "could not",
         "permission_denials": [{"tool_name": "Edit", "tool_use_id": "toolu_1",
                                 "tool_input": {}}]}))
    assert [r.status for r in results(events)] == ["error", "denied"]


def test_claude_write_and_edit_paths() -> None:
    events, _ = run(ClaudeParser(request(workdir="/w")), jsonl(
        claude_call("Write", {"file_path": "src/new.py", "content": "print(1)"}, "t1"),
        claude_call("Edit", {"file_path": "/w/old.py", "old_string": "a", "new_string": "b"},
                    "t2")))
    assert [(c.kind, c.summary, c.paths) for c in calls(events)] == [
        ("write", "src/new.py", ["/w/src/new.py"]), ("edit", "old.py", ["/w/old.py"])]


def test_claude_unknown_and_mcp_tools() -> None:
    events, _ = run(ClaudeParser(request()), jsonl(
        claude_call("FancyNewTool", {"query": "x"}, "t1"),
        claude_call("mcp__github__search_issues", {"query": "bug"}, "t2")))
    assert [(c.name, c.kind) for c in calls(events)] == [
        ("FancyNewTool", "other"), ("mcp__github__search_issues", "mcp")]


def test_claude_subagent_calls_and_odd_blocks_are_skipped() -> None:
    events, _ = run(ClaudeParser(request()), jsonl(
        claude_call("Read", {"file_path": "/x"}, "sub", parent="toolu_task"),
        {"type": "assistant", "message": {"id": "m", "content": [
            {"type": "tool_use"}, {"type": "tool_use", "id": 5}, "junk", None]}},
        claude_result("orphan result", ident="never-called")))
    assert calls(events) == [] and results(events) == []


def test_claude_answer_is_empty_when_the_turn_ends_on_a_tool_call() -> None:
    _, result = run(ClaudeParser(request()), jsonl(
        {"type": "assistant", "message": {"id": "m1", "content": [{"type": "text",
                                                                    "text": "let me look"}]}},
        claude_call("Read", {"file_path": "/x"})), exit_code=1)
    assert result.text == ""


# --------------------------------------------------------------------------- codex
def codex_item(event: str, **item: Any) -> dict[str, Any]:
    return {"type": event, "item": item}


def test_codex_failing_and_declined_commands() -> None:
    events, _ = run(CodexParser(request()), jsonl(
        codex_item("item.started", id="i1", type="command_execution",
                   command="/bin/bash -lc 'npm test'", status="in_progress"),
        codex_item("item.completed", id="i1", type="command_execution",
                   command="/bin/bash -lc 'npm test'", aggregated_output="boom\n", exit_code=1,
                   status="failed"),
        codex_item("item.completed", id="i2", type="command_execution",
                   command="/bin/bash -lc 'rm -rf /'", exit_code=None, status="declined")))
    assert [(c.summary, c.kind) for c in calls(events)] == [("npm test", "shell"),
                                                             ("rm -rf /", "shell")]
    assert [(r.status, r.exit_code, r.timed) for r in results(events)] == [
        ("error", 1, True), ("denied", None, False)]


def test_codex_file_change_is_an_edit_with_paths() -> None:
    events, _ = run(CodexParser(request(workdir="/w")), jsonl(
        codex_item("item.completed", id="i3", type="file_change", status="completed",
                   changes=[{"path": "/w/a.py", "kind": "update"},
                            {"path": "/w/b.py", "kind": "add"}])))
    [call] = calls(events)
    assert (call.name, call.kind, call.summary) == ("file_change", "edit", "update a.py, add b.py")
    assert call.paths == ["/w/a.py", "/w/b.py"]
    [done] = results(events)
    # Reported only once done: clinvk cannot time it.
    assert (done.status, done.timed) == ("ok", False)


def test_codex_new_file_only_is_a_write() -> None:
    events, _ = run(CodexParser(request(workdir="/w")), jsonl(
        codex_item("item.completed", id="i3", type="file_change", status="completed",
                   changes=[{"path": "/w/new.py", "kind": "add"}])))
    assert [c.kind for c in calls(events)] == ["write"]


def test_codex_mcp_web_and_unknown_items() -> None:
    events, _ = run(CodexParser(request()), jsonl(
        codex_item("item.completed", id="m", type="mcp_tool_call", server="github",
                   tool="search_issues", arguments={"query": "auth bug"}, status="failed",
                   error={"message": "rate limited"}),
        codex_item("item.completed", id="w", type="web_search", query="msgspec docs"),
        codex_item("item.completed", id="z", type="teleport", target="mars"),
        codex_item("item.completed", id="r", type="reasoning", text="thinking")))
    assert [(c.name, c.kind, c.summary) for c in calls(events)] == [
        ("github.search_issues", "mcp", "github.search_issues auth bug"),
        ("web_search", "web", "msgspec docs"),
        ("teleport", "other", "")]
    assert (results(events)[0].status, results(events)[0].output) == ("error", "rate limited")


def test_codex_answer_is_the_message_after_the_last_tool() -> None:
    _, result = run(CodexParser(request()), jsonl(
        {"type": "thread.started", "thread_id": "t"},
        codex_item("item.completed", id="a", type="agent_message", text="let me check"),
        codex_item("item.started", id="i", type="command_execution", command="ls"),
        {"type": "turn.failed", "error": {"message": "stream error"}}), exit_code=1)
    assert result.text == ""


# --------------------------------------------------------------------------- gemini
def gemini_call(name: str, params: dict[str, Any], ident: str = "g1") -> dict[str, Any]:
    return {"type": "tool_use", "timestamp": "2026-11-30T01:00:00Z", "tool_name": name,
            "tool_id": ident, "parameters": params}


def gemini_result(ident: str = "g1", **fields: Any) -> dict[str, Any]:
    return {"type": "tool_result", "timestamp": "2026-11-30T01:00:01Z", "tool_id": ident, **fields}


def test_gemini_shell_exit_code_and_refusal() -> None:
    events, _ = run(GeminiParser(request(workdir="/w")), jsonl(
        gemini_call("run_shell_command", {"command": "npm test", "dir_path": "."}, "s"),
        gemini_result("s", status="success", output="Output: boom\nExit Code: 1"),
        gemini_call("write_file", {"file_path": "/w/x.txt", "content": "hi"}, "w"),
        gemini_result("w", status="error", error={"type": "policy_violation",
                                                  "message": "denied by policy"}),
        gemini_call("some_new_tool", {"thing": 1}, "u"),
        gemini_result("u", status="success", output="")))
    assert [(c.name, c.kind, c.summary) for c in calls(events)] == [
        ("run_shell_command", "shell", "npm test"), ("write_file", "write", "x.txt"),
        ("some_new_tool", "other", "")]
    assert [(r.status, r.exit_code) for r in results(events)] == [
        ("error", 1), ("denied", None), ("ok", None)]
    assert results(events)[1].output == "denied by policy"


def test_gemini_odd_tool_events_never_raise() -> None:
    events, result = run(GeminiParser(request()), jsonl(
        {"type": "tool_use", "tool_id": None, "tool_name": 5},
        {"type": "tool_use", "tool_id": "x", "tool_name": None, "parameters": "not a dict"},
        {"type": "tool_result", "tool_id": "x", "status": 7, "error": "str"},
        {"type": "result", "status": "success", "stats": {}}))
    assert [(c.name, c.kind, c.summary) for c in calls(events)] == [("unknown", "other", "")]
    assert [r.status for r in results(events)] == ["unknown"]
    assert result.status == "ok"


# ----------------------------------------------------- the captures of the real CLIs
# tests/fixtures/vendor/tools/<cli>-<case>.jsonl (scripts/capture_tool_turns.py): per
# case, each call as (name, kind, summary, status, exit_code, paths relative to the project).
CAPTURED = {
    "claude-read": [("Read", "read", "notes.txt", "ok", None, ["notes.txt"])],
    "claude-shell-fail": [("Bash", "shell", "ls {p}/missing-dir", "error", 2, [])],
    "claude-shell-denied": [("Bash", "shell", "touch {p}/new.txt", "denied", None, [])],
    "claude-write-denied": [("Write", "write", "new.txt", "denied", None, ["new.txt"])],
    "claude-edit": [("Read", "read", "notes.txt", "ok", None, ["notes.txt"]),
                    ("Edit", "edit", "notes.txt", "ok", None, ["notes.txt"]),
                    ("Write", "write", "new.txt", "ok", None, ["new.txt"])],
    "codex-read": [("command_execution", "shell", "cat {p}/notes.txt", "ok", 0, [])],
    "codex-shell-fail": [("command_execution", "shell", "ls {p}/missing-dir", "error", 2, [])],
    "codex-edit": [("file_change", "edit", "add new.txt, update notes.txt", "ok", None,
                    ["new.txt", "notes.txt"])],
    "codex-edit-denied": [],  # codex says nothing of the rejected patch on stdout
    "gemini-read": [("read_file", "read", "notes.txt", "ok", None, ["notes.txt"])],
    # gemini reports a failing command as a success and gives no exit code.
    "gemini-shell-fail": [("run_shell_command", "shell", "ls {p}/missing-dir", "ok", None, [])],
    "gemini-edit": [("replace", "edit", "notes.txt", "ok", None, ["notes.txt"]),
                    ("write_file", "write", "new.txt", "ok", None, ["new.txt"])],
    "gemini-write-denied": [("write_file", "write", "new.txt", "error", None, ["new.txt"])],
}
PARSERS = {"claude": ClaudeParser, "codex": CodexParser, "gemini": GeminiParser}


@pytest.mark.parametrize("case", sorted(CAPTURED))
def test_captured_tool_turns(case: str) -> None:
    cli = case.split("-")[0]
    project = f"{TMP}/proj-{cli}"
    events, result = run(PARSERS[cli](request(workdir=project)), sample(f"{case}.jsonl"))
    got = []
    ended = {r.id: r for r in results(events)}
    for call in calls(events):
        done = ended[call.id]  # every call the stream reports gets its result
        paths = sorted({*call.paths, *done.paths})
        got.append((call.name, call.kind, call.summary, done.status, done.exit_code,
                    [p.removeprefix(project + "/") for p in paths]))
        assert call.input and isinstance(call.input, dict)
    want = [(n, k, s.format(p=project), st, code, paths)
            for n, k, s, st, code, paths in CAPTURED[case]]
    assert got == want
    assert result.status == "ok" and result.text == f"MOCK final answer: {case}"
    assert "chatter" not in result.text
