"""The real vendor CLIs, run directly (no clinvk), against the mock API.

These prove the offline harness itself works: each CLI starts a session, the
resumed turn re-sends the history (so the mock answers "#2"), and an injected
HTTP 400 surfaces in each CLI's documented error shape. If these fail after a
vendor upgrade, fix the mock or the sandbox before looking at clinvk.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import MockAPI

pytestmark = pytest.mark.e2e

# Generous: a healthy call takes 0.3-4 s, but CI boxes can be slow. A hang
# (e.g. a CLI waiting on stdin or the network) still fails within a minute.
CALL_TIMEOUT = 60.0


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def jsonl(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


def run(cmd: list[str], env: dict[str, str], cwd: Path, timeout: float = CALL_TIMEOUT) -> Run:
    # Own process group: gemini re-launches itself as a child and its parent
    # ignores SIGTERM, so killing only the direct child would leak the worker.
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,  # codex blocks reading a piped stdin
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(
            f"{cmd[0]} timed out after {timeout}s\nstdout: {stdout}\nstderr: {stderr[-3000:]}"
        )
    return Run(proc.returncode, stdout, stderr)


def explain(result: Run) -> str:
    return (
        f"rc={result.returncode}\nstdout: {result.stdout[-3000:]}\nstderr: {result.stderr[-3000:]}"
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    # Resume is cwd-scoped for gemini (and older claude): keep one cwd per test.
    path = tmp_path / "work"
    path.mkdir()
    return path


def assert_loopback_only(mock_api: MockAPI) -> None:
    clients = {r["client"] for r in mock_api.requests()}
    assert clients <= {"127.0.0.1"}, clients


# ---- claude -------------------------------------------------------------------


def test_claude_new_then_resume(
    vendor_env: dict[str, str], mock_api: MockAPI, workdir: Path
) -> None:
    new = run(
        ["claude", "-p", "say hi", "--output-format", "stream-json", "--verbose"],
        vendor_env,
        workdir,
    )
    assert new.returncode == 0, explain(new)
    events = new.jsonl()
    init, result = events[0], events[-1]
    assert (init["type"], init["subtype"]) == ("system", "init")
    assert init["apiKeySource"] == "ANTHROPIC_API_KEY"
    assert init["analytics_disabled"] is True
    session = init["session_id"]
    assert result["type"] == "result" and result["is_error"] is False
    assert result["result"] == "MOCK anthropic reply #1: say hi"
    assert result["session_id"] == session
    usage = result["usage"]
    assert (
        usage["input_tokens"],
        usage["output_tokens"],
        usage["cache_read_input_tokens"],
        usage["cache_creation_input_tokens"],
    ) == (123, 45, 67, 8)

    resumed = run(
        ["claude", "--resume", session, "-p", "again", "--output-format", "json"],
        vendor_env,
        workdir,
    )
    assert resumed.returncode == 0, explain(resumed)
    answer = resumed.json()
    assert answer["result"] == "MOCK anthropic reply #2: again"
    assert answer["session_id"] == session

    turns = [(r["user_turns"], r["last_user_text"]) for r in mock_api.requests("anthropic")]
    assert turns == [(1, "say hi"), (2, "again")]
    assert_loopback_only(mock_api)


def test_claude_api_error(vendor_env: dict[str, str], mock_api: MockAPI, workdir: Path) -> None:
    # claude 2.1.330 answers a 400 from a non-Anthropic base URL by retrying up
    # to 5 more times with fewer anthropic-beta flags, even with
    # CLAUDE_CODE_MAX_RETRIES=0: fail enough requests to exhaust that.
    mock_api.fail(400, count=10, provider="anthropic")
    result = run(["claude", "-p", "fail", "--output-format", "json"], vendor_env, workdir)
    assert result.returncode == 1, explain(result)
    answer = result.json()
    assert answer["is_error"] is True
    assert answer["api_error_status"] == 400
    assert answer["result"] == "API Error: 400 mock injected HTTP 400"
    assert answer["subtype"] == "success"  # sic: not a usable error signal


# ---- codex --------------------------------------------------------------------


CODEX = ["codex", "exec", "--json", "--skip-git-repo-check"]


def test_codex_new_then_resume(
    vendor_env: dict[str, str], mock_api: MockAPI, workdir: Path
) -> None:
    new = run([*CODEX, "say hi"], vendor_env, workdir)
    assert new.returncode == 0, explain(new)
    events = new.jsonl()
    assert events[0]["type"] == "thread.started"
    thread = events[0]["thread_id"]
    messages = [
        e["item"]["text"]
        for e in events
        if e["type"] == "item.completed" and e["item"]["type"] == "agent_message"
    ]
    assert messages == ["MOCK openai reply #1: say hi"]
    # No "Model metadata ... not found" warning item with the gpt-5.5 slug.
    assert not [e for e in events if e["type"] == "item.completed" and e["item"]["type"] == "error"]
    assert events[-1]["type"] == "turn.completed"
    assert events[-1]["usage"] == {
        "input_tokens": 123,
        "cached_input_tokens": 67,
        "cache_write_input_tokens": 8,
        "output_tokens": 45,
        "reasoning_output_tokens": 0,
    }

    resumed = run(
        ["codex", "exec", "resume", "--json", "--skip-git-repo-check", thread, "again"],
        vendor_env,
        workdir,
    )
    assert resumed.returncode == 0, explain(resumed)
    events = resumed.jsonl()
    assert events[0] == {"type": "thread.started", "thread_id": thread}
    messages = [
        e["item"]["text"]
        for e in events
        if e["type"] == "item.completed" and e["item"]["type"] == "agent_message"
    ]
    assert messages == ["MOCK openai reply #2: again"]
    # Cumulative over the thread, not per turn.
    assert events[-1]["usage"]["input_tokens"] == 246

    turns = [(r["user_turns"], r["last_user_text"]) for r in mock_api.requests("openai")]
    assert turns == [(1, "say hi"), (2, "again")]
    assert_loopback_only(mock_api)


def test_codex_api_error(vendor_env: dict[str, str], mock_api: MockAPI, workdir: Path) -> None:
    mock_api.fail(400, provider="openai")
    result = run([*CODEX, "fail"], vendor_env, workdir)
    assert result.returncode == 1, explain(result)
    events = result.jsonl()
    assert events[0]["type"] == "thread.started"
    assert events[-1]["type"] == "turn.failed"
    # codex passes a 400's raw JSON body through as the message.
    body = json.loads(events[-1]["error"]["message"])
    assert body["error"]["message"] == "mock injected HTTP 400"
    assert any(e["type"] == "error" for e in events)


# ---- gemini -------------------------------------------------------------------


def gemini_main_calls(mock_api: MockAPI) -> list[tuple[int, str]]:
    # The default "auto" model adds a router generateContent call per turn,
    # and gemini may send helper calls (e.g. session summaries); keep the turns.
    return [
        (r["user_turns"], r["last_user_text"])
        for r in mock_api.requests("gemini")
        if "streamGenerateContent" in r["path"]
    ]


def test_gemini_new_then_resume(
    vendor_env: dict[str, str], mock_api: MockAPI, workdir: Path
) -> None:
    new = run(["gemini", "-p", "say hi", "--output-format", "stream-json"], vendor_env, workdir)
    assert new.returncode == 0, explain(new)
    events = new.jsonl()
    assert events[0]["type"] == "init"
    session = events[0]["session_id"]
    deltas = [e["content"] for e in events if e["type"] == "message" and e["role"] == "assistant"]
    assert len(deltas) >= 2
    assert "".join(deltas) == "MOCK gemini reply #1: say hi"
    assert events[-1]["type"] == "result" and events[-1]["status"] == "success"

    resumed = run(
        ["gemini", "--resume", session, "-p", "again", "--output-format", "json"],
        vendor_env,
        workdir,
    )
    assert resumed.returncode == 0, explain(resumed)
    answer = resumed.json()
    assert answer["session_id"] == session
    assert answer["response"] == "MOCK gemini reply #2: again"
    tokens = [m["tokens"] for m in answer["stats"]["models"].values()]
    assert all((t["prompt"], t["candidates"], t["cached"]) == (123, 45, 67) for t in tokens)

    assert gemini_main_calls(mock_api) == [(1, "say hi"), (2, "again")]
    assert_loopback_only(mock_api)


def test_gemini_api_error(vendor_env: dict[str, str], mock_api: MockAPI, workdir: Path) -> None:
    # Only the main call: a failed router call is swallowed (gemini falls back
    # to a default model), so count=1 without match would not fail the turn.
    mock_api.fail(400, provider="gemini", match="streamGenerateContent")
    result = run(["gemini", "-p", "fail", "--output-format", "json"], vendor_env, workdir)
    assert result.returncode == 400 % 256, explain(result)
    assert result.stdout == ""
    # json mode prints the error object on stderr, after a stack trace.
    start = result.stderr.index('{\n  "session_id"')
    error = json.JSONDecoder().raw_decode(result.stderr, start)[0]["error"]
    assert error["code"] == 400
    assert json.loads(error["message"])["error"]["status"] == "INVALID_ARGUMENT"
