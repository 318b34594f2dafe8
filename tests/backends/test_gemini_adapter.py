from __future__ import annotations

import json
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
from clinvk.backends.gemini import GeminiBackend, json_mode_usage
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

BASE = ["gemini", "--output-format", "stream-json", "--skip-trust"]
SESSION = "b1347ebd-5585-47a6-8927-3f4230e16030"
# Router call + main call, each prompt 123 (67 cached) and 45 candidates.
TWO_CALLS = Usage(input_tokens=112, output_tokens=90, cache_read_tokens=134)


def parse(
    name: str, exit_code: int = 0, stderr: str = "", **req: object
) -> tuple[list[Event], TurnResult]:
    return run(
        GeminiBackend().parser(request(**req)),
        fixture_text(name) if name else "",
        exit_code,
        stderr,
    )


# --- invocation -------------------------------------------------------------


@pytest.mark.parametrize("prompt", ["say hi", DASH_PROMPT, "--help", BIG_PROMPT])
def test_new_turn_prompt_on_stdin_without_p(prompt: str) -> None:
    inv = GeminiBackend().invocation(request(prompt=prompt), config())
    # No -p: gemini would append its value to stdin; stdin alone is the prompt.
    assert inv.argv == BASE
    assert inv.stdin == prompt.encode("utf-8")
    assert inv.cwd == "/home/user/project"


@pytest.mark.parametrize("prompt", ["again", DASH_PROMPT, BIG_PROMPT])
def test_resume_turn(prompt: str) -> None:
    inv = GeminiBackend().invocation(request(prompt=prompt, resume_id=SESSION), config())
    assert inv.argv == [*BASE, "--resume", SESSION]
    assert inv.stdin == prompt.encode("utf-8")


def test_model_and_args_and_env() -> None:
    cfg = config(model="gemini-2.5-flash", env={"GEMINI_CLI_HOME": "/g"})
    inv = GeminiBackend().invocation(request(extra_args=["--include-directories", "../lib"]), cfg)
    assert inv.argv == [*BASE, "-m", "gemini-2.5-flash", "--include-directories", "../lib"]
    assert inv.env == {"GEMINI_CLI_HOME": "/g"}


@pytest.mark.parametrize(
    ("approval", "flags"),
    [
        ("default", []),
        ("auto-edit", ["--approval-mode", "auto_edit"]),
        ("full-auto", ["--approval-mode", "yolo"]),
        ("plan", ["--approval-mode", "plan"]),
        # Headless gemini denies whatever would ask: its "default" is read-only there.
        ("read-only", ["--approval-mode", "default"]),
    ],
)
def test_approval_modes(approval: str, flags: list[str]) -> None:
    assert GeminiBackend().invocation(request(approval=approval), config()).argv == BASE + flags


def test_read_only_interactive_is_refused() -> None:
    with pytest.raises(UsageError, match="read-only"):
        GeminiBackend().interactive_invocation(
            request(approval="read-only", resume_id=SESSION), config()
        )


def test_system_prompt_is_refused() -> None:
    with pytest.raises(UsageError, match="system prompt"):
        GeminiBackend().invocation(request(system_prompt="be terse"), config())


def test_prompt_over_gemini_stdin_limit_is_refused() -> None:
    with pytest.raises(UsageError, match="8388608"):
        GeminiBackend().invocation(request(prompt="x" * (8 * 1024 * 1024 + 1)), config())


def test_interactive_resume() -> None:
    inv = GeminiBackend().interactive_invocation(
        request(prompt="", resume_id=SESSION, approval="plan"), config()
    )
    assert inv.argv == ["gemini", "--resume", SESSION, "--approval-mode", "plan"]
    assert inv.stdin is None
    inv = GeminiBackend().interactive_invocation(
        request(prompt=DASH_PROMPT, resume_id=SESSION), config()
    )
    assert inv.argv == ["gemini", "--resume", SESSION, "--prompt-interactive=" + DASH_PROMPT]


def test_registry_and_install_hint() -> None:
    backend = get_backend("gemini", config())
    assert isinstance(backend, GeminiBackend)
    assert backend.install_hint == "npm install -g @google/gemini-cli"


# --- parsing ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "number", "prompt"),
    [("gemini-stream-new.jsonl", 1, "say hi"), ("gemini-stream-resume.jsonl", 2, "again")],
)
def test_stream_turns(name: str, number: int, prompt: str) -> None:
    events, result = parse(name)
    assert events == [
        SessionStarted(backend_session_id=SESSION, model="auto"),
        TextDelta(text="MOCK gemini "),
        TextDelta(text=f"reply #{number}: "),
        TextDelta(text=prompt),
        UsageEvent(usage=TWO_CALLS),
    ]
    assert result.status == "ok"
    assert result.text == f"MOCK gemini reply #{number}: {prompt}"
    assert result.backend_session_id == SESSION
    assert result.usage == TWO_CALLS
    assert result.cost_usd is None
    assert result.cost_source == "unpriced"


def test_stream_usage_sums_every_model_and_matches_gemini_total() -> None:
    result_line = json.loads(fixture_text("gemini-stream-new.jsonl").splitlines()[-1])
    stats = result_line["stats"]
    # The aggregate gemini prints is the sum over the router and main models...
    assert stats["input_tokens"] == sum(m["input_tokens"] for m in stats["models"].values()) == 246
    _, result = parse("gemini-stream-new.jsonl")
    # ...and clinvk's total equals gemini's total_tokens, cached counted once.
    assert result.usage is not None
    assert result.usage.total == stats["total_tokens"] == 336
    # Without the aggregate, the per-model numbers give the same answer.
    del result_line["stats"]["input_tokens"]
    _, fallback = run(GeminiBackend().parser(request()), json.dumps(result_line))
    assert fallback.usage == TWO_CALLS


def test_thinking_tokens_count_as_output() -> None:
    line = (
        '{"type":"result","status":"success","stats":{"total_tokens":1200,"input_tokens":1000,'
        '"output_tokens":150,"cached":400,"input":600,"models":{}}}'
    )
    _, result = run(GeminiBackend().parser(request()), line)
    assert result.usage == Usage(
        input_tokens=600, output_tokens=200, cache_read_tokens=400, reasoning_tokens=50
    )
    assert result.usage.total == 1200


@pytest.mark.parametrize(
    ("name", "session", "text"),
    [
        (
            "gemini-json-new.json",
            "78ca0a47-5eb5-4494-91ff-ec58e50ef1ed",
            "MOCK gemini reply #1: say hi",
        ),
        (
            "gemini-json-resume.json",
            "78ca0a47-5eb5-4494-91ff-ec58e50ef1ed",
            "MOCK gemini reply #2: again",
        ),
        (
            "extra/gemini-stdin.json",
            "fc689238-e5f7-407e-af38-b16e5a13e18f",
            "MOCK gemini reply #1: prompt on stdin",
        ),
    ],
)
def test_json_mode_output_is_read_at_the_end(name: str, session: str, text: str) -> None:
    events, result = parse(name)
    assert events == []
    assert result.status == "ok"
    assert result.text == text
    assert result.backend_session_id == session
    # Summed over gemini-3.5-flash-lite (utility_router) and gemini-3.8-flash (main).
    assert result.usage == TWO_CALLS


def test_json_mode_usage_counts_thoughts_and_tool_tokens() -> None:
    models = {
        "router": {
            "tokens": {
                "input": 56,
                "prompt": 123,
                "candidates": 45,
                "total": 168,
                "cached": 67,
                "thoughts": 0,
                "tool": 0,
            }
        },
        "main": {
            "tokens": {
                "input": 900,
                "prompt": 1000,
                "candidates": 80,
                "total": 1130,
                "cached": 100,
                "thoughts": 20,
                "tool": 30,
            }
        },
    }
    usage = json_mode_usage(models)
    assert usage == Usage(
        input_tokens=986, output_tokens=145, cache_read_tokens=167, reasoning_tokens=20
    )
    assert usage.total == 168 + 1130


def test_text_after_a_tool_call_is_the_answer() -> None:
    def said(text: str) -> dict[str, Any]:
        return {"type": "message", "role": "assistant", "content": text, "delta": True}

    stats = {"total_tokens": 10, "input_tokens": 6, "output_tokens": 4, "cached": 0, "input": 6}
    lines = jsonl(
        {"type": "init", "session_id": "s", "model": "gemini-2.5-flash"},
        said("Let me look."),
        {"type": "tool_use", "tool_name": "read_file", "tool_id": "t1", "parameters": {}},
        {"type": "tool_result", "tool_id": "t1", "status": "success", "output": "..."},
        said("It says "),
        said("hi."),
        {"type": "result", "status": "success", "stats": stats},
    )
    events, result = run(GeminiBackend().parser(request()), lines)
    assert [e.text for e in events if isinstance(e, TextDelta)] == [
        "Let me look.",
        "\n\nIt says ",
        "hi.",
    ]
    assert result.text == "It says hi."
    assert result.model == "gemini-2.5-flash"


def test_warning_event_does_not_fail_the_turn() -> None:
    # Real gemini output: loop detection cut the answer short, as a warning.
    events, result = parse("live/gemini-stream-loop-warning.jsonl")
    assert result.status == "ok"
    assert result.error is None
    assert result.text == "MOCK gemini reply #1: "
    assert result.backend_session_id == "9bf309b3-bdb2-4fc9-af39-b40ee3caf5a6"
    assert result.usage == Usage()
    assert not any(isinstance(e, ErrorEvent) for e in events)


def test_error_severity_event_is_reported() -> None:
    line = jsonl({"type": "error", "severity": "error", "message": "quota exhausted"})
    events, result = run(GeminiBackend().parser(request()), line, 1)
    assert events == [ErrorEvent(message="quota exhausted")]
    assert result.error == "quota exhausted"


def test_garbage_lines_are_skipped() -> None:
    clean = fixture_text("gemini-stream-new.jsonl").splitlines()
    noisy = "\n".join(
        [
            "Loaded cached credentials.",
            *clean[:3],
            "{not json",
            '{"type":"mystery"}',
            *clean[3:],
            "]",
        ]
    )
    assert run(GeminiBackend().parser(request()), noisy) == parse("gemini-stream-new.jsonl")


# --- parsing: errors --------------------------------------------------------


def test_stream_api_error() -> None:
    events, result = parse("extra/gemini-err400-stream.jsonl", exit_code=144)
    assert result.status == "error"
    assert result.error == "API Error: 400 mock injected HTTP 400"
    assert result.backend_session_id == "e51dd32e-37f1-4eea-ad19-35e572bbf24f"
    assert result.usage == Usage()
    assert ErrorEvent(message="API Error: 400 mock injected HTTP 400") in events


def test_stream_api_error_with_real_stderr_noise() -> None:
    _, result = parse(
        "live/gemini-err400-stream-live.jsonl",
        exit_code=144,
        stderr=fixture_text("live/gemini-err400-stream-live.stderr.txt"),
    )
    assert result.error == "API Error: 400 mock injected HTTP 400"
    assert result.backend_session_id == "604e9dca-542e-4107-b0f6-95f3d1c0b601"
    assert result.model == "gemini-2.5-flash"


@pytest.mark.parametrize(
    ("name", "exit_code", "message"),
    [
        ("extra/gemini-err400.stderr.json", 144, "API Error: 400 mock injected HTTP 400"),
        ("extra/gemini-err401.stderr.json", 145, "API Error: 401 mock injected HTTP 401"),
        ("live/gemini-err400-json-live.stderr.txt", 144, "API Error: 400 mock injected HTTP 400"),
        ("extra/gemini-noauth-setting.stderr.json", 41, "Invalid auth method selected."),
    ],
)
def test_json_mode_error_object_on_stderr(name: str, exit_code: int, message: str) -> None:
    _, result = parse("", exit_code=exit_code, stderr=fixture_text(name))
    assert result.status == "error"
    assert result.error == message
    assert result.session_not_found is False


def test_api_error_from_stderr_report_line_alone() -> None:
    # Stream mode died before printing its result: only the stderr report is left.
    _, result = parse(
        "", exit_code=144, stderr=fixture_text("live/gemini-err400-stream-live.stderr.txt")
    )
    assert result.error == "API Error: 400 mock injected HTTP 400"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "extra/gemini-resume-badid.stderr.txt",
            'Error resuming session: Invalid session identifier "00000000-0000-4000-8000-000000000000".',
        ),
        (
            "live/gemini-resume-badid-stream.stderr.txt",
            'Error resuming session: Invalid session identifier "00000000-0000-4000-8000-000000000000".',
        ),
        (
            "extra/gemini-resume-othercwd.stderr.txt",
            "Error resuming session: No previous sessions found for this project.",
        ),
        (
            "live/gemini-resume-othercwd-stream.stderr.txt",
            "Error resuming session: No previous sessions found for this project.",
        ),
    ],
)
def test_unknown_session(name: str, message: str) -> None:
    _, result = parse(
        "",
        exit_code=42,
        stderr=fixture_text(name),
        resume_id="00000000-0000-4000-8000-000000000000",
    )
    assert result.status == "error"
    assert result.error == message
    assert result.session_not_found is True
    assert result.backend_session_id is None


@pytest.mark.parametrize(
    ("name", "exit_code", "message"),
    [
        (
            "live/gemini-stdin-late.stderr.txt",
            42,
            "No input provided via stdin. Input can be provided by piping data into gemini or using the --prompt option.",
        ),
        ("live/gemini-badflag.stderr.txt", 1, "Unknown arguments: bogus-flag, bogusFlag"),
    ],
)
def test_cli_errors_drop_the_startup_noise(name: str, exit_code: int, message: str) -> None:
    stderr = fixture_text(name)
    assert "Security Warning" in stderr or "256-color" in stderr
    _, result = parse("", exit_code=exit_code, stderr=stderr)
    assert result.error == message
    assert result.session_not_found is False


def test_nonzero_exit_with_only_noise() -> None:
    noise = "\n".join(fixture_text("live/gemini-stdin-late.stderr.txt").splitlines()[:-1])
    _, result = parse("", exit_code=55, stderr=noise)
    assert result.error == "gemini exited with code 55"
