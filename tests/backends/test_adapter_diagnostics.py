"""The shared pieces: one-line error extraction, API error bodies, and the promise
that no vendor output, however odd, makes a parser raise."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clinvk.backends import (
    Backend,
    ErrorEvent,
    Request,
    SessionStarted,
    TextDelta,
    TurnResult,
    UsageEvent,
)
from clinvk.backends.claude import ClaudeBackend
from clinvk.backends.codex import CodexBackend
from clinvk.backends.command import CommandBackend
from clinvk.backends.diagnostics import exit_message, one_line, stderr_message, unwrap_api_error
from clinvk.backends.gemini import NOISE as GEMINI_NOISE
from clinvk.backends.gemini import GeminiBackend
from clinvk.config import BackendConfig
from tests.backends.vendor_samples import fixture_text


def test_one_line_folds_whitespace_and_colour() -> None:
    assert one_line("  a\n\tb  \x1b[31mred\x1b[0m\r\n") == "a b red"
    assert one_line("x" * 600) == "x" * 499 + "…"


def test_exit_message() -> None:
    assert exit_message("codex", 3) == "codex exited with code 3"
    assert exit_message("codex", -15) == "codex was killed by signal 15"


def test_stderr_message_prefers_error_lines_over_warnings() -> None:
    stderr = "note: using cache\nwarning: slow disk\nError: it broke\n  hint: try again\n"
    assert stderr_message(stderr) == "it broke"


def test_stderr_message_skips_indented_hints_and_structure() -> None:
    assert stderr_message("  hint first\n}\nThe real message\n") == "The real message"
    assert stderr_message("\n \n") is None


def test_stderr_message_drops_given_noise() -> None:
    stderr = fixture_text("live/gemini-stdin-late.stderr.txt")
    assert stderr_message(stderr).startswith("Warning: 256-color")  # type: ignore[union-attr]
    assert stderr_message(stderr, GEMINI_NOISE) == (
        "No input provided via stdin. Input can be provided by piping data into gemini or using the --prompt option."
    )


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        (
            '{"error": {"message": "bad", "type": "invalid_request_error", "code": "invalid_request_error"}}',
            "API Error: bad",
        ),
        (
            '[API Error: {"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}]',
            "API Error: 400 bad",
        ),
        ('{"error":{"code":429,"message":"slow\\ndown"}}', "API Error: 429 slow down"),
        ("plain words\nhere", "plain words here"),
        ("{not json", "{not json"),
        ('{"error": "just a string"}', '{"error": "just a string"}'),
    ],
)
def test_unwrap_api_error(raw: str, clean: str) -> None:
    assert unwrap_api_error(raw) == clean


# --- properties -----------------------------------------------------------------

BACKENDS: list[Backend] = [
    ClaudeBackend(),
    CodexBackend(),
    GeminiBackend(),
    CommandBackend("tool", BackendConfig(output="json", argv=["{prompt}"])),
]

# Lines that look like each vendor's events, with fields of the wrong types mixed in.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
event_types = st.sampled_from(
    [
        "system",
        "assistant",
        "result",
        "stream_event",
        "thread.started",
        "item.completed",
        "turn.completed",
        "turn.failed",
        "error",
        "init",
        "message",
        "tool_use",
        "user",
        "x",
    ]
)
field_names = st.sampled_from(
    [
        "subtype",
        "session_id",
        "message",
        "event",
        "result",
        "usage",
        "is_error",
        "errors",
        "thread_id",
        "item",
        "error",
        "role",
        "content",
        "delta",
        "stats",
        "status",
        "severity",
        "num_turns",
        "total_cost_usd",
        "model_usage_since_last_result",
        "parent_tool_use_id",
    ]
)


@st.composite
def vendor_lines(draw: st.DrawFn) -> str:
    import json

    kind = draw(st.integers(0, 3))
    if kind == 0:
        return draw(st.text(max_size=40))
    event: dict[str, Any] = {"type": draw(event_types)}
    event.update(draw(st.dictionaries(field_names, json_values, max_size=4)))
    text = json.dumps(event)
    return text[: draw(st.integers(0, len(text)))] if kind == 1 else text


@settings(max_examples=100, deadline=None)
@given(
    lines=st.lists(vendor_lines(), max_size=12),
    exit_code=st.integers(-15, 255),
    stderr=st.text(max_size=200),
)
def test_parsers_never_raise_and_always_give_one_line_errors(
    lines: list[str], exit_code: int, stderr: str
) -> None:
    for backend in BACKENDS:
        parser = backend.parser(Request(prompt="p", workdir="/"))
        for line in lines:
            for event in parser.feed(line):
                assert isinstance(event, (SessionStarted, TextDelta, UsageEvent, ErrorEvent))
        result = parser.finish(exit_code, stderr)
        assert isinstance(result, TurnResult)
        assert result.status in ("ok", "error")
        if result.status == "error":
            assert result.error and "\n" not in result.error
        if exit_code != 0:
            assert result.status == "error"


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_stderr_message_is_one_stripped_line(stderr: str) -> None:
    message = stderr_message(stderr)
    if message is not None:
        assert message == message.strip() and message
        assert not re.search(r"[\r\n]", message)
