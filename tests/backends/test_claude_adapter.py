from __future__ import annotations

from typing import Any

import pytest

from clinvk.backends import (
    ErrorEvent,
    Event,
    SessionStarted,
    TextDelta,
    TurnResult,
    UsageEvent,
    get_backend,
)
from clinvk.backends.claude import ClaudeBackend
from clinvk.errors import UsageError
from clinvk.model import Usage
from tests.backends.vendor_samples import (
    BIG_PROMPT,
    DASH_PROMPT,
    config,
    fixture_text,
    jsonl,
    request,
    run,
)

BASE = ["claude", "-p", "--output-format", "stream-json", "--verbose"]
MOCK_USAGE = Usage(input_tokens=123, output_tokens=45, cache_read_tokens=67, cache_write_tokens=8)
COST_2_1_197 = 0.0018235000000000003
COST_2_1_330 = 0.0014454


def parse(
    name: str, exit_code: int = 0, stderr: str = "", **req: object
) -> tuple[list[Event], TurnResult]:
    backend = ClaudeBackend()
    return run(
        backend.parser(request(**req)), fixture_text(name) if name else "", exit_code, stderr
    )


# --- invocation -------------------------------------------------------------


@pytest.mark.parametrize("prompt", ["say hi", DASH_PROMPT, "--help", BIG_PROMPT])
def test_new_turn_argv_and_stdin(prompt: str) -> None:
    inv = ClaudeBackend().invocation(request(prompt=prompt), config())
    assert inv.argv == BASE
    assert inv.stdin == prompt.encode("utf-8")
    assert inv.cwd == "/home/user/project"
    assert inv.env == {}


@pytest.mark.parametrize("prompt", ["again", DASH_PROMPT, BIG_PROMPT])
def test_resume_argv_and_stdin(prompt: str) -> None:
    inv = ClaudeBackend().invocation(
        request(prompt=prompt, resume_id="812a5f73-0013-4e7c-b123-31a5133d2aa6"), config()
    )
    assert inv.argv == [*BASE, "--resume", "812a5f73-0013-4e7c-b123-31a5133d2aa6"]
    assert inv.stdin == prompt.encode("utf-8")


def test_big_prompt_never_touches_argv() -> None:
    inv = ClaudeBackend().invocation(request(prompt=BIG_PROMPT), config())
    assert len(BIG_PROMPT.encode()) > 200_000
    assert max(len(a) for a in inv.argv) < 100
    assert inv.stdin is not None and inv.stdin.endswith(b"LAST LINE  \n\n")


def test_command_model_args_and_env_from_config() -> None:
    cfg = config(
        command="/opt/claude", model="sonnet", args=["--bare"], env={"CLAUDE_CODE_MAX_RETRIES": "0"}
    )
    # Request.extra_args already holds config args first, then --backend-arg values.
    inv = ClaudeBackend().invocation(
        request(extra_args=["--bare", "--include-partial-messages"]), cfg
    )
    assert inv.argv == [
        "/opt/claude",
        *BASE[1:],
        "--model",
        "sonnet",
        "--bare",
        "--include-partial-messages",
    ]
    assert inv.env == {"CLAUDE_CODE_MAX_RETRIES": "0"}


def test_request_model_wins_over_config() -> None:
    inv = ClaudeBackend().invocation(request(model="opus"), config(model="sonnet"))
    assert inv.argv == [*BASE, "--model", "opus"]


@pytest.mark.parametrize(
    ("approval", "flags"),
    [
        ("default", []),
        ("auto-edit", ["--permission-mode", "acceptEdits"]),
        ("full-auto", ["--permission-mode", "bypassPermissions"]),
        ("plan", ["--permission-mode", "plan"]),
        ("read-only", ["--permission-mode", "dontAsk"]),
    ],
)
def test_approval_modes(approval: str, flags: list[str]) -> None:
    inv = ClaudeBackend().invocation(request(approval=approval), config())
    assert inv.argv == BASE + flags


def test_system_prompt_is_appended_and_joined_with_equals() -> None:
    inv = ClaudeBackend().invocation(request(system_prompt="- be terse\n--help"), config())
    assert inv.argv == [*BASE, "--append-system-prompt=- be terse\n--help"]


@pytest.mark.parametrize("bad", ["--fork-session", "", "-x"])
def test_resume_id_that_looks_like_a_flag_is_refused(bad: str) -> None:
    with pytest.raises(UsageError, match="resume id"):
        ClaudeBackend().invocation(request(resume_id=bad), config())


def test_model_that_looks_like_a_flag_is_refused() -> None:
    with pytest.raises(UsageError, match="model"):
        ClaudeBackend().invocation(request(model="--dangerously-skip-permissions"), config())


def test_huge_system_prompt_refused_instead_of_e2big() -> None:
    with pytest.raises(UsageError, match="longer than 131071 bytes"):
        ClaudeBackend().invocation(request(system_prompt="x" * 140_000), config())


def test_interactive_resume() -> None:
    inv = ClaudeBackend().interactive_invocation(
        request(prompt="", resume_id="812a5f73-0013-4e7c-b123-31a5133d2aa6", model="opus"),
        config(env={"A": "1"}),
    )
    assert inv.argv == [
        "claude",
        "--resume",
        "812a5f73-0013-4e7c-b123-31a5133d2aa6",
        "--model",
        "opus",
    ]
    # None: the runner hands over the terminal (run_interactive), not /dev/null.
    assert inv.stdin is None
    assert inv.cwd == "/home/user/project"
    assert inv.env == {"A": "1"}


def test_interactive_resume_with_a_first_prompt() -> None:
    inv = ClaudeBackend().interactive_invocation(
        request(prompt=DASH_PROMPT, resume_id="abc"), config()
    )
    assert inv.argv == ["claude", "--resume", "abc", "--", DASH_PROMPT]


def test_registry_and_install_hint() -> None:
    backend = get_backend("claude", config())
    assert isinstance(backend, ClaudeBackend)
    assert backend.install_hint == "npm install -g @anthropic-ai/claude-code"


# --- parsing: normal turns --------------------------------------------------


@pytest.mark.parametrize(
    ("name", "session", "model", "text", "cost"),
    [
        (
            "claude-stream-new.jsonl",
            "812a5f73-0013-4e7c-b123-31a5133d2aa6",
            "claude-opus-4-8",
            "MOCK anthropic reply #1: say hi",
            COST_2_1_197,
        ),
        (
            "claude-stream-resume.jsonl",
            "812a5f73-0013-4e7c-b123-31a5133d2aa6",
            "claude-opus-4-8",
            "MOCK anthropic reply #2: again",
            COST_2_1_197,
        ),
        (
            "claude-2.1.330/claude-stream-new.jsonl",
            "5bddf348-a57b-4957-ae52-0c310e149044",
            "claude-opus-5-5",
            "MOCK anthropic reply #1: say hi",
            COST_2_1_330,
        ),
        # 2.1.330's total_cost_usd is the conversation's (0.0028908); the per-turn
        # share comes from model_usage_since_last_result.
        (
            "claude-2.1.330/claude-stream-resume.jsonl",
            "5bddf348-a57b-4957-ae52-0c310e149044",
            "claude-opus-5-5",
            "MOCK anthropic reply #2: again",
            COST_2_1_330,
        ),
    ],
)
def test_stream_turns(name: str, session: str, model: str, text: str, cost: float) -> None:
    events, result = parse(name)
    assert events == [
        SessionStarted(backend_session_id=session, model=model),
        TextDelta(text=text),
        UsageEvent(usage=MOCK_USAGE, cost_usd=cost),
    ]
    assert result.status == "ok"
    assert result.text == text
    assert result.error is None
    assert result.backend_session_id == session
    assert result.model == model
    assert result.usage == MOCK_USAGE
    assert result.usage.total == 243
    assert result.cost_usd == cost
    assert result.cost_source == "reported"
    assert result.usage_total is None
    assert result.session_not_found is False


@pytest.mark.parametrize(
    ("name", "session", "text", "cost"),
    [
        (
            "claude-json-new.json",
            "542cab8b-03fc-4f21-83b5-e28eb75112ce",
            "MOCK anthropic reply #1: say hi",
            COST_2_1_197,
        ),
        (
            "claude-json-resume.json",
            "542cab8b-03fc-4f21-83b5-e28eb75112ce",
            "MOCK anthropic reply #2: again",
            COST_2_1_197,
        ),
        (
            "extra/claude-preset-id.json",
            "abcbb3b1-80ab-4f27-ba20-bba89db9f828",
            "MOCK anthropic reply #1: preset id",
            COST_2_1_197,
        ),
        (
            "claude-2.1.330/claude-json-new.json",
            "22b686c1-681b-496f-99ab-7b10424e42da",
            "MOCK anthropic reply #1: say hi",
            COST_2_1_330,
        ),
        # json mode on 2.1.330 has no per-turn cost: the conversation total is all there is.
        (
            "claude-2.1.330/claude-json-resume.json",
            "22b686c1-681b-496f-99ab-7b10424e42da",
            "MOCK anthropic reply #2: again",
            0.0028908,
        ),
    ],
)
def test_json_mode_result_object_parses_too(
    name: str, session: str, text: str, cost: float
) -> None:
    events, result = parse(name)
    assert events[0] == SessionStarted(backend_session_id=session, model=None)
    assert result.status == "ok"
    assert result.text == text
    assert result.backend_session_id == session
    assert result.usage == MOCK_USAGE
    assert result.cost_usd == cost


@pytest.mark.parametrize(
    ("name", "session", "model", "text", "cost"),
    [
        (
            "extra/claude-stream-partial.jsonl",
            "1176f84f-02a8-422b-9d49-3b2d06e93dd0",
            "claude-opus-4-8",
            "MOCK anthropic reply #1: partial",
            COST_2_1_197,
        ),
        (
            "live/claude-2.1.330-stream-partial.jsonl",
            "374d9045-a905-492c-b768-49df15dd9ece",
            "claude-opus-5-5",
            "MOCK anthropic reply #1: partial",
            COST_2_1_330,
        ),
    ],
)
def test_partial_messages_stream_deltas_without_duplicating(
    name: str, session: str, model: str, text: str, cost: float
) -> None:
    events, result = parse(name)
    assert events == [
        SessionStarted(backend_session_id=session, model=model),
        TextDelta(text="MOCK anthropic "),
        TextDelta(text="reply #1: "),
        TextDelta(text="partial"),
        UsageEvent(usage=MOCK_USAGE, cost_usd=cost),
    ]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == text
    assert result.text == text


def test_fork_reports_the_new_session_id() -> None:
    events, result = parse(
        "extra/claude-fork.json", resume_id="abcbb3b1-80ab-4f27-ba20-bba89db9f828"
    )
    assert result.backend_session_id == "caf03b36-76f1-4d3a-84b4-5b75aeb2719b"
    assert result.text == "MOCK anthropic reply #3: forked"
    assert SessionStarted(backend_session_id="caf03b36-76f1-4d3a-84b4-5b75aeb2719b") in events


def test_fork_in_stream_mode_switches_to_the_result_id() -> None:
    # The resume's init names the old id; the result names the fork's new one.
    stream = fixture_text("claude-stream-resume.jsonl").splitlines()
    lines = "\n".join(stream[:2] + [fixture_text("extra/claude-fork.json").strip()])
    events, result = run(ClaudeBackend().parser(request()), lines)
    sessions = [e.backend_session_id for e in events if isinstance(e, SessionStarted)]
    assert sessions == [
        "812a5f73-0013-4e7c-b123-31a5133d2aa6",
        "caf03b36-76f1-4d3a-84b4-5b75aeb2719b",
    ]
    assert result.backend_session_id == "caf03b36-76f1-4d3a-84b4-5b75aeb2719b"


def test_garbage_lines_are_skipped() -> None:
    clean = fixture_text("claude-stream-new.jsonl").splitlines()
    noisy = [
        "",
        "not json",
        "{broken",
        '{"type": 5}',
        '{"type":"user","message":{}}',
        "[1,2]",
        "\x1b[2K",
    ]
    mixed = "\n".join(x for pair in zip(noisy, clean + [""] * 4) for x in pair)
    events, result = run(ClaudeBackend().parser(request()), mixed)
    expected, expected_result = parse("claude-stream-new.jsonl")
    assert events == expected
    assert result == expected_result


def test_subagent_text_is_not_the_answer() -> None:
    def said(msg_id: str, text: str, parent: str | None = None) -> dict[str, Any]:
        content = [{"type": "text", "text": text}]
        message = {"id": msg_id, "content": content}
        return {"type": "assistant", "message": message, "parent_tool_use_id": parent}

    tool_call = said("a", "Looking.")
    tool_call["message"]["content"].append({"type": "tool_use", "id": "t", "name": "Task"})
    lines = jsonl(
        {"type": "system", "subtype": "init", "session_id": "s1", "model": "m"},
        tool_call,
        said("b", "sub", parent="t"),
        said("c", "Done."),
        {
            "type": "result",
            "is_error": False,
            "result": "Done.",
            "session_id": "s1",
            "num_turns": 2,
        },
    )
    events, result = run(ClaudeBackend().parser(request()), lines)
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Looking.", "\n\nDone."]
    assert result.text == "Done."


# --- parsing: errors --------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "session", "message"),
    [
        (
            "extra/claude-err400.json",
            "3c9f365b-b9c6-47ad-b920-3ce9cad1ed25",
            "API Error: 400 mock injected HTTP 400",
        ),
        (
            "extra/claude-err401-noretry.json",
            "b2510422-b32c-408b-9f22-0cc4d7db4250",
            "Failed to authenticate. API Error: 401 mock injected HTTP 401",
        ),
        (
            "extra/claude-err500-stream.jsonl",
            "e5b4dfb1-7205-4115-b8c0-506fef700722",
            (
                "API Error: 500 mock injected HTTP 500. This is a server-side issue, usually "
                "temporary — try again in a moment. If it persists, check your inference "
                "gateway (127.0.0.1:<PORT>)."
            ),
        ),
    ],
)
def test_api_errors(name: str, session: str, message: str) -> None:
    # subtype still says "success" in these; is_error is what counts.
    events, result = parse(name, exit_code=1)
    assert result.status == "error"
    assert result.error == message
    assert result.backend_session_id == session
    assert result.usage == Usage()
    assert result.cost_usd == 0
    assert result.text == ""
    assert result.session_not_found is False
    assert [e for e in events if isinstance(e, ErrorEvent)] == [ErrorEvent(message=message)]
    # The synthetic assistant message holding the API error is not answer text.
    assert not any(isinstance(e, TextDelta) for e in events)


@pytest.mark.parametrize(
    "name",
    ["extra/claude-resume-badid.stderr.txt", "extra/claude-resume-othercwd.stderr.txt"],
)
def test_unknown_resume_id_2_1_197_stderr_only(name: str) -> None:
    stderr = fixture_text(name)
    _, result = parse(
        "", exit_code=1, stderr=stderr, resume_id="00000000-0000-4000-8000-000000000000"
    )
    assert result.status == "error"
    assert result.error == stderr.strip()
    assert result.error.startswith("No conversation found with session ID: ")
    assert result.session_not_found is True
    assert result.backend_session_id is None


def test_unknown_resume_id_2_1_330_result_on_stdout() -> None:
    # 2.1.330 also prints a result naming the id it was asked for; that is no session.
    events, result = parse(
        "live/claude-stream-resume-badid.jsonl",
        exit_code=1,
        stderr=fixture_text("live/claude-stream-resume-badid.stderr.txt"),
        resume_id="00000000-0000-4000-8000-000000000000",
    )
    assert result.status == "error"
    assert (
        result.error
        == "No conversation found with session ID: 00000000-0000-4000-8000-000000000000"
    )
    assert result.session_not_found is True
    assert result.backend_session_id is None
    assert not any(isinstance(e, SessionStarted) for e in events)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "extra/claude-stream-noverbose.stderr.txt",
            "When using --print, --output-format=stream-json requires --verbose",
        ),
        ("live/claude-badflag.stderr.txt", "unknown option '--bogus-flag'"),
        (
            "live/claude-bypass-root.stderr.txt",
            "--dangerously-skip-permissions cannot be used with root/sudo privileges for security reasons",
        ),
    ],
)
def test_cli_errors_on_stderr_become_one_line(name: str, message: str) -> None:
    _, result = parse("", exit_code=1, stderr=fixture_text(name))
    assert result.status == "error"
    assert result.error == message
    assert result.session_not_found is False


def test_nonzero_exit_with_nothing_parseable() -> None:
    _, result = parse("", exit_code=3, stderr="")
    assert result.status == "error"
    assert result.error == "claude exited with code 3"
    _, result = parse("", exit_code=-9, stderr="   \n")
    assert result.error == "claude was killed by signal 9"


def test_text_mode_output_is_not_a_result() -> None:
    # What stdout looks like if extra args switch claude to --output-format text.
    _, result = parse("extra/claude-text.txt", exit_code=0)
    assert result.status == "error"
    assert result.error == "claude ended without a result"


def test_node_stack_trace_is_stripped() -> None:
    stderr = (
        "Error: Session ID 3c9f365b is already in use.\n"
        "    at Xq (/$bunfs/root/claude:12:3)\n"
        "    at async main (/$bunfs/root/claude:99:1)\n"
    )
    _, result = parse("", exit_code=1, stderr=stderr)
    assert result.error == "Session ID 3c9f365b is already in use."


def test_failed_resume_with_empty_share_costs_nothing() -> None:
    """claude 2.1.330 prints model_usage_since_last_result = {} on an API error and
    total_cost_usd = the conversation's running total: the turn cost nothing."""
    import json

    lines = [
        {"type": "system", "subtype": "init", "session_id": "s-1", "model": "claude-opus-5-5"},
        {"type": "result", "subtype": "success", "is_error": True, "api_error_status": 400,
         "result": "API Error: 400 bad request", "session_id": "s-1",
         "total_cost_usd": 0.0014454, "usage": {"input_tokens": 0, "output_tokens": 0},
         "model_usage_since_last_result": {}},
    ]
    text = "\n".join(json.dumps(x) for x in lines) + "\n"
    _events, result = run(ClaudeBackend().parser(request(resume_id="s-1")), text, 1, "")
    assert result.status == "error"
    assert result.cost_usd == 0.0 and result.cost_source == "reported"
    # Without the per-invocation share (2.1.197), total_cost_usd is per run and is used.
    del lines[1]["model_usage_since_last_result"]
    text = "\n".join(json.dumps(x) for x in lines) + "\n"
    _events, result = run(ClaudeBackend().parser(request(resume_id="s-1")), text, 1, "")
    assert result.cost_usd == 0.0014454
