"""Fast checks of scripts/mockapi.py itself, with plain urllib (no vendor CLI needed).

The vendor tests and clinvk's own e2e tests trust the mock's reply text,
usage numbers, error shapes and request log; these pin that contract down.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import MockAPI

pytestmark = pytest.mark.e2e


def post(api: MockAPI, path: str, body: dict[str, Any], timeout: float = 10) -> tuple[int, bytes]:
    request = urllib.request.Request(
        api.url + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def sse_events(raw: bytes) -> list[tuple[str | None, dict[str, Any]]]:
    """(event name, data) pairs from an SSE body; both LF and CRLF framings."""
    events = []
    text = raw.decode().replace("\r\n", "\n")
    for block in text.split("\n\n"):
        name, data = None, None
        for line in block.splitlines():
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data = json.loads(line[len("data: ") :])
        if data is not None:
            events.append((name, data))
    return events


# ---- request bodies as the CLIs send them (shapes taken from real captures) ----


def anthropic_body(*, stream: bool) -> dict[str, Any]:
    return {
        "model": "claude-test",
        "stream": stream,
        "max_tokens": 100,
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "text",
                        "text": "<system-reminder>\nproject notes\n</system-reminder>",
                    },
                    {"type": "text", "text": "first question"},
                ],
            },
            # claude 2.1.330 interleaves role "system" messages on resume.
            {"role": "system", "content": "# Environment"},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "MOCK anthropic reply #1: first question"},
                    {"type": "tool_use", "id": "t1", "name": "Read", "input": {}},
                ],
            },
            # A tool result is not a user turn ...
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "x"}],
            },
            {"role": "assistant", "content": [{"type": "text", "text": "done"}]},
            # ... nor is a reminder-only message; the prompt is stripped.
            {
                "role": "user",
                "content": [{"type": "text", "text": "<system-reminder>x</system-reminder>"}],
            },
            {"role": "user", "content": [{"type": "text", "text": "  second question \n"}]},
        ],
    }


def openai_body() -> dict[str, Any]:
    def msg(role: str, text: str, kind: str = "input_text") -> dict[str, Any]:
        return {"type": "message", "role": role, "content": [{"type": kind, "text": text}]}

    return {
        "model": "gpt-5.5",
        "stream": True,
        "input": [
            msg("developer", "You are Codex"),
            msg("user", "<environment_context>\n  <cwd>/w</cwd>\n</environment_context>"),
            msg("user", "first question"),
            msg("assistant", "MOCK openai reply #1: first question", "output_text"),
            {"type": "function_call_output", "call_id": "c1", "output": "ok"},
            msg("user", "second question"),
        ],
    }


def gemini_body(schema: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": "<session_context>\nThis is the Gemini CLI.\n</session_context>"}
                ],
            },
            {"role": "user", "parts": [{"text": "first question"}]},
            {"role": "model", "parts": [{"text": "MOCK gemini reply #1: first question"}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "ls", "response": {}}}]},
            {"role": "user", "parts": [{"text": "second question"}]},
        ],
        "generationConfig": {"temperature": 1},
    }
    if schema is not None:
        body["generationConfig"]["responseJsonSchema"] = schema
    return body


ROUTER_SCHEMA = {
    "type": "OBJECT",
    "properties": {
        "complexity_reasoning": {"type": "STRING"},
        "complexity_score": {"type": "INTEGER", "description": "Complexity score from 1-100."},
    },
    "required": ["complexity_reasoning", "complexity_score"],
}


# ---- Anthropic --------------------------------------------------------------


def test_anthropic_stream(mock_api: MockAPI) -> None:
    status, raw = post(mock_api, "/v1/messages?beta=true", anthropic_body(stream=True))
    assert status == 200
    events = sse_events(raw)
    names = [name for name, _ in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert all(name == data["type"] for name, data in events)
    deltas = [d["delta"]["text"] for n, d in events if n == "content_block_delta"]
    assert 2 <= len(deltas) <= 3
    assert "".join(deltas) == "MOCK anthropic reply #2: second question"
    start = events[0][1]["message"]["usage"]
    assert (
        start["input_tokens"],
        start["cache_read_input_tokens"],
        start["cache_creation_input_tokens"],
    ) == (123, 67, 8)
    message_delta = events[-2][1]
    assert message_delta["delta"]["stop_reason"] == "end_turn"
    assert message_delta["usage"]["output_tokens"] == 45


def test_anthropic_non_stream_and_count_tokens(mock_api: MockAPI) -> None:
    status, raw = post(mock_api, "/v1/messages", anthropic_body(stream=False))
    assert status == 200
    message = json.loads(raw)
    assert message["content"] == [
        {"type": "text", "text": "MOCK anthropic reply #2: second question"}
    ]
    assert message["stop_reason"] == "end_turn"
    assert message["usage"] == {
        "input_tokens": 123,
        "output_tokens": 45,
        "cache_read_input_tokens": 67,
        "cache_creation_input_tokens": 8,
    }
    status, raw = post(
        mock_api, "/v1/messages/count_tokens?beta=true", anthropic_body(stream=False)
    )
    assert (status, json.loads(raw)) == (200, {"input_tokens": 123})


def test_root_answers_head_and_get(mock_api: MockAPI) -> None:
    for method in ("HEAD", "GET"):
        request = urllib.request.Request(mock_api.url + "/", method=method)
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200


# ---- OpenAI Responses -------------------------------------------------------


def test_openai_stream(mock_api: MockAPI) -> None:
    status, raw = post(mock_api, "/v1/responses", openai_body())
    assert status == 200
    events = sse_events(raw)
    names = [name for name, _ in events]
    assert names[0] == "response.created"
    assert names[-1] == "response.completed"
    for expected in (
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
    ):
        assert expected in names
    deltas = [d["delta"] for n, d in events if n == "response.output_text.delta"]
    assert 2 <= len(deltas) <= 3
    text = "".join(deltas)
    assert text == "MOCK openai reply #2: second question"
    item = dict(events)["response.output_item.done"]["item"]
    assert item["role"] == "assistant" and item["content"][0]["text"] == text
    usage = events[-1][1]["response"]["usage"]
    assert usage["input_tokens"] == 123
    assert usage["output_tokens"] == 45
    assert usage["input_tokens_details"]["cached_tokens"] == 67
    assert usage["input_tokens_details"]["cache_write_tokens"] == 8
    assert usage["output_tokens_details"]["reasoning_tokens"] == 0
    assert usage["total_tokens"] == 168


# ---- Gemini -----------------------------------------------------------------


def test_gemini_stream(mock_api: MockAPI) -> None:
    status, raw = post(
        mock_api, "/v1beta/models/gemini-test:streamGenerateContent?alt=sse", gemini_body()
    )
    assert status == 200
    # The real API frames each chunk with CRLF CRLF.
    assert raw.count(b"\r\n\r\n") == len(sse_events(raw)) >= 2
    chunks = [data for _, data in sse_events(raw)]
    text = "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks)
    assert text == "MOCK gemini reply #2: second question"
    assert "finishReason" not in chunks[0]["candidates"][0]
    last = chunks[-1]
    assert last["candidates"][0]["finishReason"] == "STOP"
    assert last["usageMetadata"] == {
        "promptTokenCount": 123,
        "candidatesTokenCount": 45,
        "cachedContentTokenCount": 67,
        "thoughtsTokenCount": 0,
        "totalTokenCount": 168,
    }


@pytest.mark.parametrize("key", ["responseJsonSchema", "responseSchema"])
def test_gemini_generate_structured(mock_api: MockAPI, key: str) -> None:
    body = gemini_body()
    body["generationConfig"][key] = ROUTER_SCHEMA
    status, raw = post(mock_api, "/v1beta/models/gemini-lite:generateContent", body)
    assert status == 200
    answer = json.loads(json.loads(raw)["candidates"][0]["content"]["parts"][0]["text"])
    # gemini's router rejects anything but an integer 1..100.
    assert isinstance(answer["complexity_score"], int)
    assert 1 <= answer["complexity_score"] <= 100
    assert isinstance(answer["complexity_reasoning"], str)


def test_gemini_generate_text(mock_api: MockAPI) -> None:
    status, raw = post(mock_api, "/v1beta/models/gemini-test:generateContent", gemini_body())
    assert status == 200
    response = json.loads(raw)
    candidate = response["candidates"][0]
    assert candidate["content"]["parts"][0]["text"] == "MOCK gemini reply #2: second question"
    assert candidate["finishReason"] == "STOP"
    assert response["usageMetadata"]["promptTokenCount"] == 123


# ---- control endpoints --------------------------------------------------------

MODEL_CALLS = {
    "anthropic": ("/v1/messages?beta=true", anthropic_body(stream=True)),
    "openai": ("/v1/responses", openai_body()),
    "gemini": ("/v1beta/models/g:streamGenerateContent?alt=sse", gemini_body()),
}


@pytest.mark.parametrize(
    ("provider", "status", "check"),
    [
        (
            "anthropic",
            400,
            lambda b: b["type"] == "error" and b["error"]["type"] == "invalid_request_error",
        ),
        ("anthropic", 529, lambda b: b["error"]["type"] == "overloaded_error"),
        (
            "openai",
            400,
            lambda b: b["error"]["code"] == "invalid_request_error" and "param" in b["error"],
        ),
        ("openai", 401, lambda b: b["error"]["code"] == "invalid_api_key"),
        (
            "gemini",
            400,
            lambda b: b["error"]["code"] == 400 and b["error"]["status"] == "INVALID_ARGUMENT",
        ),
        ("gemini", 401, lambda b: b["error"]["status"] == "UNAUTHENTICATED"),
    ],
)
def test_fail_injection(mock_api: MockAPI, provider: str, status: int, check: Any) -> None:
    mock_api.fail(status, "boom", count=2, provider=provider)
    path, body = MODEL_CALLS[provider]
    for _ in range(2):
        got, raw = post(mock_api, path, body)
        assert got == status
        error = json.loads(raw)
        assert check(error)
        assert "boom" in json.dumps(error)
    # count is used up: the next request succeeds again.
    assert post(mock_api, path, body)[0] == 200
    assert [r["status"] for r in mock_api.requests()] == [status, status, 200]


def test_fail_targets_provider_and_path(mock_api: MockAPI) -> None:
    mock_api.fail(400, provider="gemini", match="streamGenerateContent")
    # Other providers and other gemini methods (e.g. the router) pass through.
    assert post(mock_api, *MODEL_CALLS["anthropic"])[0] == 200
    assert post(mock_api, "/v1beta/models/g:generateContent", gemini_body())[0] == 200
    status, raw = post(mock_api, *MODEL_CALLS["gemini"])
    assert status == 400
    assert json.loads(raw)["error"]["message"] == "mock injected HTTP 400"


def test_fail_any_provider_and_count_tokens_exempt(mock_api: MockAPI) -> None:
    mock_api.fail(500, count=2)
    # Token counting is never failed, so it cannot eat an injected fault.
    assert post(mock_api, "/v1/messages/count_tokens", anthropic_body(stream=False))[0] == 200
    assert post(mock_api, *MODEL_CALLS["openai"])[0] == 500
    assert post(mock_api, *MODEL_CALLS["gemini"])[0] == 500
    assert post(mock_api, *MODEL_CALLS["anthropic"])[0] == 200


def test_delay(mock_api: MockAPI) -> None:
    mock_api.delay(0.4, provider="openai")
    started = time.monotonic()
    assert post(mock_api, *MODEL_CALLS["openai"])[0] == 200
    assert time.monotonic() - started >= 0.4
    started = time.monotonic()
    assert post(mock_api, *MODEL_CALLS["openai"])[0] == 200
    assert time.monotonic() - started < 0.4


def test_reset_releases_delayed_requests(mock_api: MockAPI) -> None:
    mock_api.delay(60, provider="anthropic")
    result: list[int] = []
    worker = threading.Thread(
        target=lambda: result.append(post(mock_api, *MODEL_CALLS["anthropic"], timeout=30)[0])
    )
    started = time.monotonic()
    worker.start()
    deadline = time.monotonic() + 5
    while not mock_api.requests() and time.monotonic() < deadline:
        time.sleep(0.02)
    mock_api.reset()
    worker.join(10)
    assert result == [200]
    assert time.monotonic() - started < 10


def test_request_log(mock_api: MockAPI) -> None:
    post(mock_api, *MODEL_CALLS["anthropic"])
    post(mock_api, *MODEL_CALLS["openai"])
    post(mock_api, *MODEL_CALLS["gemini"])
    log = mock_api.requests()
    assert [r["provider"] for r in log] == ["anthropic", "openai", "gemini"]
    for entry in log:
        assert entry["client"] == "127.0.0.1"
        assert entry["user_turns"] == 2
        assert entry["last_user_text"] == "second question"
        assert entry["status"] == 200
        assert isinstance(entry["time"], float)
        assert "body" not in entry
    assert [r["model"] for r in log] == ["claude-test", "gpt-5.5", "g"]
    assert log[0]["path"] == "/v1/messages?beta=true"
    detailed = mock_api.requests("openai", bodies=True)
    assert len(detailed) == 1
    assert detailed[0]["body"]["model"] == "gpt-5.5"
    assert detailed[0]["headers"]["content-type"] == "application/json"
    mock_api.reset()
    assert mock_api.requests() == []


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/_mock/fail", {"status": 200}),
        ("/_mock/fail", {"status": 400, "provider": "nobody"}),
        ("/_mock/fail", {"status": 400, "count": 0}),
        ("/_mock/delay", {"seconds": -1}),
    ],
)
def test_control_rejects_bad_input(mock_api: MockAPI, path: str, body: dict[str, Any]) -> None:
    assert post(mock_api, path, body)[0] == 400


def test_listens_on_loopback_only(mock_api: MockAPI) -> None:
    proc_tcp = Path("/proc/net/tcp")
    if not proc_tcp.exists():
        pytest.skip("needs Linux /proc/net/tcp")
    listening = []
    for line in proc_tcp.read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, port = local.split(":")
        if state == "0A" and int(port, 16) == mock_api.port:  # 0A = LISTEN
            listening.append(address)
    assert listening == ["0100007F"]  # 127.0.0.1, little-endian hex


# ---- scripted tool calls --------------------------------------------------------

READ_INPUT = {"file_path": "/w/notes.txt"}


def anthropic_tool_body(*, stream: bool = True, history: list[Any] | None = None) -> dict[str, Any]:
    return {
        "model": "claude-test",
        "stream": stream,
        "tools": [{"name": "Read", "input_schema": {}}, {"name": "Bash", "input_schema": {}}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "read it"}]},
                     *(history or [])],
    }


def test_anthropic_tool_call_stream_then_result(mock_api: MockAPI) -> None:
    mock_api.tool([{"name": "Read", "input": READ_INPUT}], provider="anthropic",
                  text="chatter first", final="the answer")
    status, raw = post(mock_api, "/v1/messages?beta=true", anthropic_tool_body())
    assert status == 200
    events = sse_events(raw)
    texts = [d["delta"]["text"] for n, d in events
             if n == "content_block_delta" and d["delta"]["type"] == "text_delta"]
    assert "".join(texts) == "chatter first" and len(texts) == 3
    starts = [d["content_block"] for n, d in events if n == "content_block_start"]
    assert [b["type"] for b in starts] == ["text", "tool_use"]
    call = starts[1]
    assert call["name"] == "Read" and call["id"].startswith("toolu_mock_")
    pieces = [d["delta"]["partial_json"] for n, d in events
              if n == "content_block_delta" and d["delta"]["type"] == "input_json_delta"]
    assert len(pieces) == 2 and json.loads("".join(pieces)) == READ_INPUT
    assert all(d["index"] == 1 for n, d in events
               if n == "content_block_delta" and "partial_json" in d["delta"])
    assert dict(events)["message_delta"]["delta"]["stop_reason"] == "tool_use"
    assert dict(events)["message_delta"]["usage"]["output_tokens"] == 45

    # The client runs the tool and sends the result back: the final text answers it.
    history = [
        {"role": "assistant", "content": [{"type": "text", "text": "chatter first"},
                                          {**call, "input": READ_INPUT}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": call["id"],
             "content": [{"type": "text", "text": "1\tkiwi"}]},
            {"type": "text", "text": "<system-reminder>x</system-reminder>"},
        ]},
    ]
    status, raw = post(mock_api, "/v1/messages?beta=true", anthropic_tool_body(history=history))
    events = sse_events(raw)
    assert "".join(d["delta"]["text"] for n, d in events if n == "content_block_delta") == (
        "the answer")
    assert dict(events)["message_delta"]["delta"]["stop_reason"] == "end_turn"

    first, second = mock_api.requests()
    assert first["tools"] == ["Bash", "Read"]
    assert first["tool_calls"] == [{"id": call["id"], "name": "Read", "input": READ_INPUT}]
    assert first["tool_results"] == []
    assert second["tool_calls"] == []
    assert second["tool_results"] == [
        {"id": call["id"], "name": "Read", "output": "1\tkiwi", "is_error": False}
    ]
    # Tool results are not user turns.
    assert (second["user_turns"], second["last_user_text"]) == (1, "read it")


def test_anthropic_tool_call_non_stream(mock_api: MockAPI) -> None:
    mock_api.tool([{"name": "Read", "input": READ_INPUT}, {"name": "Bash",
                   "input": {"command": "false"}}], provider="anthropic")
    status, raw = post(mock_api, "/v1/messages", anthropic_tool_body(stream=False))
    assert status == 200
    message = json.loads(raw)
    assert message["stop_reason"] == "tool_use"
    # No chatter asked for: only the two calls, in order.
    assert [(b["type"], b["name"], b["input"]) for b in message["content"]] == [
        ("tool_use", "Read", READ_INPUT), ("tool_use", "Bash", {"command": "false"})]
    assert len({b["id"] for b in message["content"]}) == 2


def openai_tool_body(extra: list[Any] | None = None) -> dict[str, Any]:
    return {
        "model": "gpt-5.5",
        "stream": True,
        "tools": [{"type": "function", "name": "exec_command", "parameters": {}},
                  {"type": "custom", "name": "apply_patch"}, {"type": "web_search"}],
        "input": [{"type": "message", "role": "user",
                   "content": [{"type": "input_text", "text": "patch it"}]}, *(extra or [])],
    }


def test_openai_function_and_custom_tool_calls(mock_api: MockAPI) -> None:
    patch = "*** Begin Patch\n*** Add File: /w/a.txt\n+a\n*** End Patch\n"
    mock_api.tool([{"name": "exec_command", "input": {"cmd": "ls /nope"}},
                   {"name": "apply_patch", "input": patch}], provider="openai", text="working")
    status, raw = post(mock_api, "/v1/responses", openai_tool_body())
    assert status == 200
    events = sse_events(raw)
    assert all(name == data["type"] for name, data in events)
    assert [d["sequence_number"] for _, d in events] == list(range(len(events)))
    done = [d["item"] for n, d in events if n == "response.output_item.done"]
    assert [i["type"] for i in done] == ["message", "function_call", "custom_tool_call"]
    assert done[0]["content"][0]["text"] == "working"
    fn, custom = done[1], done[2]
    assert (fn["name"], json.loads(fn["arguments"])) == ("exec_command", {"cmd": "ls /nope"})
    assert (custom["name"], custom["input"]) == ("apply_patch", patch)
    assert fn["call_id"] != custom["call_id"]
    args = "".join(d["delta"] for n, d in events if n == "response.function_call_arguments.delta")
    assert json.loads(args) == {"cmd": "ls /nope"}
    text = "".join(d["delta"] for n, d in events if n == "response.custom_tool_call_input.delta")
    assert text == patch
    completed = events[-1][1]["response"]
    assert completed["output"] == done and completed["usage"]["input_tokens"] == 123

    # Results come back as *_output items; no final given: the default text.
    back = [fn, {"type": "function_call_output", "call_id": fn["call_id"], "output": "exit 2"},
            custom, {"type": "custom_tool_call_output", "call_id": custom["call_id"],
                     "output": "Success"}]
    status, raw = post(mock_api, "/v1/responses", openai_tool_body(back))
    deltas = [d["delta"] for n, d in sse_events(raw) if n == "response.output_text.delta"]
    assert "".join(deltas) == "MOCK openai reply #1 after tools: patch it"
    log = mock_api.requests()
    assert log[0]["tools"] == ["apply_patch", "exec_command"]
    assert [c["name"] for c in log[0]["tool_calls"]] == ["exec_command", "apply_patch"]
    # The interleaved call resets the batch: only the result after the last call is new.
    assert log[1]["tool_results"] == [
        {"id": custom["call_id"], "name": "apply_patch", "output": "Success", "is_error": None}
    ]


def gemini_tool_body(extra: list[Any] | None = None) -> dict[str, Any]:
    return {
        "contents": [{"role": "user", "parts": [{"text": "read it"}]}, *(extra or [])],
        "tools": [{"functionDeclarations": [{"name": "read_file"}, {"name": "write_file"}]}],
    }


def test_gemini_function_call_then_results(mock_api: MockAPI) -> None:
    mock_api.tool([{"name": "read_file", "input": READ_INPUT}], provider="gemini",
                  text="chatter", final="gemini answer")
    path = "/v1beta/models/g:streamGenerateContent?alt=sse"
    status, raw = post(mock_api, path, gemini_tool_body())
    chunks = [d for _, d in sse_events(raw)]
    parts = [p for c in chunks for p in c["candidates"][0]["content"]["parts"]]
    assert "".join(p.get("text", "") for p in parts) == "chatter"
    assert parts[-1] == {"functionCall": {"name": "read_file", "args": READ_INPUT}}
    assert "finishReason" not in chunks[0]["candidates"][0]
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert chunks[-1]["usageMetadata"]["promptTokenCount"] == 123

    back = [
        {"role": "model", "parts": [{"text": "chatter"}, parts[-1]]},
        {"role": "user", "parts": [
            {"functionResponse": {"id": "r1", "name": "read_file", "response": {"output": "kiwi"}}},
            {"functionResponse": {"id": "w1", "name": "write_file",
                                  "response": {"error": "Tool not found"}}},
        ]},
    ]
    status, raw = post(mock_api, path, gemini_tool_body(back))
    assert status == 200
    text = "".join(c["candidates"][0]["content"]["parts"][0]["text"]
                   for _, c in sse_events(raw))
    assert text == "gemini answer"
    first, second = mock_api.requests()
    assert first["tool_calls"] == [{"id": None, "name": "read_file", "input": READ_INPUT}]
    assert second["tool_results"] == [
        {"id": "r1", "name": "read_file", "output": "kiwi", "is_error": False},
        {"id": "w1", "name": "write_file", "output": "Tool not found", "is_error": True},
    ]


def test_gemini_non_stream_tool_call(mock_api: MockAPI) -> None:
    mock_api.tool([{"name": "read_file", "input": READ_INPUT}], provider="gemini", text="hm")
    status, raw = post(mock_api, "/v1beta/models/g:generateContent", gemini_tool_body())
    assert status == 200
    parts = json.loads(raw)["candidates"][0]["content"]["parts"]
    assert parts == [{"text": "hm"}, {"functionCall": {"name": "read_file", "args": READ_INPUT}}]


def test_tool_rule_waits_for_a_request_declaring_the_tools(mock_api: MockAPI) -> None:
    mock_api.tool([{"name": "read_file", "input": READ_INPUT}], provider="gemini")
    # The router call (schema, no tools) and an anthropic request pass it by.
    router = gemini_body(ROUTER_SCHEMA)
    answer = json.loads(post(mock_api, "/v1beta/models/g:generateContent", router)[1])
    assert "complexity_score" in answer["candidates"][0]["content"]["parts"][0]["text"]
    assert post(mock_api, "/v1/messages", anthropic_tool_body(stream=False))[0] == 200
    no_tools = {**gemini_tool_body(), "tools": []}
    raw = post(mock_api, "/v1beta/models/g:generateContent", no_tools)[1]
    assert "functionCall" not in raw.decode()
    raw = post(mock_api, "/v1beta/models/g:generateContent", gemini_tool_body())[1]
    assert "functionCall" in raw.decode()
    assert [len(r["tool_calls"]) for r in mock_api.requests()] == [0, 0, 0, 1]


def test_undeclared_tool_and_chained_rules(mock_api: MockAPI) -> None:
    # undeclared: the model calls a tool the client never offered.
    mock_api.tool([{"name": "Write", "input": {}}], provider="anthropic", undeclared=True)
    mock_api.tool([{"name": "Bash", "input": {"command": "ls"}}], provider="anthropic",
                  final="after both")
    first = json.loads(post(mock_api, "/v1/messages", anthropic_tool_body(stream=False))[1])
    assert first["content"][0]["name"] == "Write"
    second = json.loads(post(mock_api, "/v1/messages", anthropic_tool_body(stream=False))[1])
    assert second["content"][0]["name"] == "Bash"
    history = [
        {"role": "assistant", "content": [second["content"][0]]},
        {"role": "user", "content": [{"type": "tool_result",
                                      "tool_use_id": second["content"][0]["id"],
                                      "content": "Exit code 2", "is_error": True}]},
    ]
    third = json.loads(post(mock_api, "/v1/messages",
                            anthropic_tool_body(stream=False, history=history))[1])
    assert third["content"] == [{"type": "text", "text": "after both"}]
    assert mock_api.requests()[2]["tool_results"][0]["is_error"] is True
    # Rules are used up: a plain reply again.
    fourth = json.loads(post(mock_api, "/v1/messages", anthropic_tool_body(stream=False))[1])
    assert fourth["content"] == [{"type": "text", "text": "MOCK anthropic reply #1: read it"}]


def test_results_before_a_new_prompt_are_not_new(mock_api: MockAPI) -> None:
    # anthropic_body() has a tool result in its history, then a later user prompt.
    post(mock_api, "/v1/messages", anthropic_body(stream=False))
    post(mock_api, *MODEL_CALLS["openai"])
    post(mock_api, *MODEL_CALLS["gemini"])
    assert [r["tool_results"] for r in mock_api.requests()] == [[], [], []]


def test_reset_drops_tool_rules(mock_api: MockAPI) -> None:
    mock_api.tool([{"name": "Read", "input": {}}], provider="anthropic", final="x")
    mock_api.reset()
    message = json.loads(post(mock_api, "/v1/messages", anthropic_tool_body(stream=False))[1])
    assert message["content"][0]["type"] == "text"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"calls": []},
        {"calls": [{"name": ""}]},
        {"calls": [{"input": {}}]},
        {"name": "Read", "text": 3},
        {"name": "Read", "final": ["x"]},
        {"name": "Read", "undeclared": "yes"},
        {"name": "Read", "count": 0},
        {"name": "Read", "provider": "nobody"},
    ],
)
def test_tool_rule_rejects_bad_input(mock_api: MockAPI, body: dict[str, Any]) -> None:
    assert post(mock_api, "/_mock/tool", body)[0] == 400
