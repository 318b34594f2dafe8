"""clinvk recording the tool calls of real claude, codex and gemini turns (issue 9).

Each case of scripts/capture_tool_turns.py (a read, a shell command that fails, an
edit/write under the approval mode that allows it, a denied call) runs as
``clinvk prompt -b CLI --approval MODE -o stream-json`` in a fresh project, with the
mock scripting the tool calls. The test then checks:

- the stored turn: every call in order with its name, kind, status, exit code (shell),
  paths and summary; ``files_changed`` for the edits; the final answer as ``response``
  with the pre-tool chatter kept elsewhere in the turn;
- the stream-json ``tool_call`` / ``tool_result`` events, matching the record;
- usage: the sum over every model call the mock answered during the turn.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.conftest import load_script

if TYPE_CHECKING:
    from conftest import MockAPI

pytestmark = pytest.mark.e2e

capture = load_script("capture_tool_turns")

USAGE_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
                "reasoning_tokens")
# One mock call (docs/testing.md) as clinvk normalizes it: its input_tokens exclude
# cached ones (codex reports them inclusive of reads and writes, gemini of reads).
PER_CALL = {"claude": (123, 45, 67, 8, 0), "codex": (48, 45, 67, 8, 0),
            "gemini": (56, 45, 67, 0, 0)}


@dataclass(frozen=True)
class Call:
    """What one recorded tool call must say."""

    name: str
    kind: str
    status: str | tuple[str, ...]  # a tuple: any of these
    exit_code: int | None = None
    paths: tuple[str, ...] = ()  # relative to the project
    summary: str = ""  # a substring of the summary
    output: str = ""  # a substring of output_preview


@dataclass(frozen=True)
class Expect:
    calls: tuple[Call, ...]
    files_changed: tuple[str, ...] = ()
    chatter: tuple[str, ...] = ()
    results: bool = True  # every call has a tool_result event
    extra: dict[str, Any] = field(default_factory=dict)


NOT_OK = ("error", "denied", "unknown")
EXPECT = {
    "claude-read": Expect((Call("Read", "read", "ok", paths=("notes.txt",), summary="notes.txt",
                                output="kiwi-claude-7319"),),
                          chatter=("reading notes.txt",)),
    # ls is a read-only command: claude runs it without asking; "Exit code 2" is how
    # claude reports the exit status.
    "claude-shell-fail": Expect((Call("Bash", "shell", "error", exit_code=2,
                                      summary="ls ", output="missing-dir"),),
                                chatter=("listing",)),
    "claude-shell-denied": Expect((Call("Bash", "shell", "denied", summary="touch "),)),
    "claude-write-denied": Expect((Call("Write", "write", "denied", paths=("new.txt",)),)),
    "claude-edit": Expect(
        (Call("Read", "read", "ok", paths=("notes.txt",)),
         Call("Edit", "edit", "ok", paths=("notes.txt",), summary="notes.txt"),
         Call("Write", "write", "ok", paths=("new.txt",), summary="new.txt")),
        files_changed=("new.txt", "notes.txt"), chatter=("reading first", "editing now")),
    "codex-read": Expect((Call("command_execution", "shell", "ok", exit_code=0, summary="cat ",
                               output="kiwi-codex-7319"),),
                         chatter=("reading notes.txt",)),
    "codex-shell-fail": Expect((Call("command_execution", "shell", "error", exit_code=2,
                                     summary="ls ", output="missing-dir"),),
                               chatter=("listing",)),
    "codex-edit": Expect((Call("file_change", "edit", "ok", paths=("new.txt", "notes.txt")),),
                         files_changed=("new.txt", "notes.txt"), chatter=("patching",)),
    # The read-only sandbox rejects the patch and codex says nothing of it on stdout.
    "codex-edit-denied": Expect(()),
    "gemini-read": Expect((Call("read_file", "read", "ok", paths=("notes.txt",),
                                summary="notes.txt"),),
                          chatter=("reading notes.txt",)),
    # gemini's stream reports the shell call as a success and carries no exit code.
    "gemini-shell-fail": Expect((Call("run_shell_command", "shell", ("ok", "error"),
                                      summary="ls ", output="missing-dir"),),
                                chatter=("listing",)),
    "gemini-edit": Expect(
        (Call("replace", "edit", "ok", paths=("notes.txt",)),
         Call("write_file", "write", "ok", paths=("new.txt",))),
        files_changed=("new.txt", "notes.txt"), chatter=("editing",)),
    # write_file is not declared in default mode: gemini sends no tool_result for it.
    "gemini-write-denied": Expect((Call("write_file", "write", NOT_OK, paths=("new.txt",)),),
                                  results=False),
}


def test_every_capture_case_is_checked() -> None:
    assert {c.key for c in capture.cases(Path("/x"))} == set(EXPECT)


def explain(ran: Any) -> str:
    return f"exit {ran.code}\nstdout: {ran.out[-3000:]}\nstderr: {ran.err[-3000:]}"


def check_call(got: dict[str, Any], want: Call, project: Path) -> None:
    assert got["name"] == want.name, got
    assert got["kind"] == want.kind, got
    statuses = want.status if isinstance(want.status, tuple) else (want.status,)
    assert got["status"] in statuses, got
    if want.kind == "shell":
        assert got.get("exit_code") == want.exit_code, got
    if want.paths:
        assert sorted(got["paths"]) == sorted(str(project / p) for p in want.paths), got
    assert want.summary in got["summary"] and "\n" not in got["summary"], got
    if want.output:
        assert want.output in (got.get("output_preview") or ""), got
    assert isinstance(got["id"], str) and got["id"], got
    assert isinstance(got["input"], (dict, str)) and got["input"], got


@pytest.mark.parametrize("key", sorted(EXPECT))
def test_tool_turn(key: str, cli: Any, vendor_env: dict[str, str], mock_api: MockAPI,
                   tmp_path: Path) -> None:
    backend = key.split("-", 1)[0]
    project = capture.make_project(tmp_path, backend)
    case = next(c for c in capture.cases(project) if c.key == key)
    want = EXPECT[key]
    for rule in case.rules:
        mock_api.tool(rule["calls"], **{k: v for k, v in rule.items() if k != "calls"})

    ran = cli.run("prompt", "-b", backend, "--approval", case.approval, "-o", "stream-json",
                  case.prompt, env=vendor_env, cwd=project, timeout=120)
    assert ran.code == 0, explain(ran)
    requests = mock_api.requests()
    sent = [c for r in requests for c in r["tool_calls"]]
    assert len(sent) == sum(len(r["calls"]) for r in case.rules), requests

    # The edit really happened (or, denied, did not).
    for rel, content in case.creates.items():
        assert (project / rel).read_text() == content
    if "denied" in key:
        assert not (project / "new.txt").exists()

    events = [json.loads(line) for line in ran.out.splitlines()]
    result = events[-1]
    assert result["type"] == "result" and result["status"] == "ok", events
    assert result["text"] == case.final, result

    show = cli.run("sessions", "show", result["id"], "--json", env=vendor_env, cwd=project)
    assert show.code == 0, explain(show)
    turn = json.loads(show.out)["turns"][-1]

    # The record: every call in order, the changed files, the answer apart from chatter.
    calls = turn["tool_calls"]
    assert len(calls) == len(want.calls), calls
    for got, expected in zip(calls, want.calls, strict=True):
        check_call(got, expected, project)
    assert sorted(turn["files_changed"]) == sorted(str(project / p) for p in want.files_changed)
    assert turn["response"] == case.final, turn
    for text in want.chatter:
        assert text not in turn["response"]
        assert text in json.dumps({k: v for k, v in turn.items() if k != "prompt"}), turn

    # sessions history --tools: the same calls, as JSON and as one table row per call.
    ran = cli.run("sessions", "history", result["id"], "--tools", "--json", env=vendor_env,
                  cwd=project)
    assert ran.code == 0, explain(ran)
    listed = json.loads(ran.out)["tool_calls"]
    assert [item.pop("turn") for item in listed] == [1] * len(calls)
    assert listed == calls
    ran = cli.run("sessions", "history", result["id"], "--tools", env=vendor_env, cwd=project)
    assert ran.code == 0, explain(ran)
    lines = ran.out.splitlines()
    if calls:
        assert lines[0].split() == ["TIME", "TURN", "TOOL", "SUMMARY", "STATUS", "DURATION"]
        assert len(lines) == 1 + len(calls), ran.out
        for line, call in zip(lines[1:], calls, strict=True):
            assert f" {call['name']} " in line and f" {call['status']}" in line, line
    else:
        assert (lines, ran.err) == ([], "no tool calls in this session\n"), explain(ran)
    # Shown with `pytest -s`: what a person sees for this turn.
    print(f"\n$ clinvk sessions history {result['id']} --tools  # {key}\n{ran.out}{ran.err}")

    # The stream: tool_call then tool_result per call, ids and fields as recorded.
    stream_calls = [e for e in events if e["type"] == "tool_call"]
    stream_results = [e for e in events if e["type"] == "tool_result"]
    assert [e["id"] for e in stream_calls] == [c["id"] for c in calls], events
    for event, record in zip(stream_calls, calls, strict=True):
        for name in ("name", "kind", "summary", "input"):
            assert event[name] == record[name], (event, record)
    with_result = calls if want.results else []
    assert {e["id"] for e in stream_results} >= {c["id"] for c in with_result}, events
    by_id = {c["id"]: c for c in calls}
    for event in stream_results:
        record = by_id[event["id"]]
        assert (event["status"], event.get("exit_code")) == (record["status"],
                                                             record.get("exit_code"))
        assert event.get("output_preview") == record.get("output_preview")
        position = events.index(event)
        assert events.index(next(e for e in stream_calls if e["id"] == event["id"])) < position

    # Usage: the sum over every model call the mock answered during the turn.
    answered = [r for r in requests if r["kind"] == "generate" and r["status"] == 200]
    expected = dict(zip(USAGE_FIELDS, (len(answered) * n for n in PER_CALL[backend]),
                        strict=True))
    assert turn["usage"] == expected, (turn["usage"], len(answered))
    assert result["usage"] == expected
