#!/usr/bin/env python3
"""Offline mock of the Anthropic, OpenAI Responses and Gemini model APIs.

One process serves all three vendor CLIs (claude, codex, gemini); each picks
its own path prefix. Replies are deterministic so tests can assert on them:

    MOCK <anthropic|openai|gemini> reply #<user turns in request>: <last user text>

A resumed turn therefore only says ``#2`` when the CLI really re-sent the
earlier history. Usage numbers are fixed (input 123, output 45, cache read 67,
cache write 8) so token accounting can be checked exactly.

Tests can also script tool calls: the next model request that declares the
tool gets a tool call (plus optional chatter text) instead of text; the request
that brings the tool results back gets the final text. The log records the
tools each request declared, the tool calls the mock answered and the tool
results it received.

Control endpoints (used by tests, never by the CLIs):

    POST /_mock/fail     {"status": 400, "message": "...", "count": 1, "provider": "any", "match": ""}
    POST /_mock/delay    {"seconds": 30, "count": 1, "provider": "any", "match": ""}
    POST /_mock/tool     {"provider": "anthropic", "calls": [{"name": "Read", "input": {...}}],
                          "text": "chatter", "final": "answer after the results", "count": 1,
                          "match": "", "undeclared": false}
    POST /_mock/reset    forget rules and the request log, wake delayed requests
    GET  /_mock/requests [?provider=P][&bodies=1]  JSON list of model requests seen

Standard library only, and bound to 127.0.0.1 only: it must run on a fresh
machine before any dependency is installed, and must never be reachable from
outside the host.

Usage: python scripts/mockapi.py --port 0 --port-file FILE
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import signal
import sys
import threading
import time
import uuid
import zlib
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

# The reply builders live next to this file; a test may load it by path.
sys.path.insert(0, str(Path(__file__).resolve().parent))
import mockreply
from mockreply import INPUT_TOKENS, Reply, ToolCall, split_text

HOST = "127.0.0.1"
PROVIDERS = ("anthropic", "openai", "gemini")

GEMINI_PATH = re.compile(r"^/v1(?:beta|alpha|)/models/(?P<model>[^/:]+):(?P<method>[A-Za-z]+)$")

# The CLIs wrap their own context into user-role messages. These are not
# turns the human typed, so they must not count towards "#<n>" nor be taken
# as the last user text.
INJECTED_PREFIXES = (
    "<system-reminder>",  # claude: CLAUDE.md, date, skills, ...
    "<local-command",  # claude: slash command transcripts
    "<command-name>",
    "<environment_context>",  # codex
    "<user_instructions>",  # codex: AGENTS.md (old form)
    "# AGENTS.md instructions",  # codex: AGENTS.md (new form)
    "<permissions instructions>",  # codex
    "<turn_aborted>",  # codex: marker left by an interrupted turn
    "<context_window_reminder>",  # codex
    "<current_time_reminder>",  # codex
    "<subagent_notification>",  # codex
    "<session_context>",  # gemini: workspace/env preamble
)


def _is_injected(text: str) -> bool:
    return text.lstrip().startswith(INJECTED_PREFIXES)


# --------------------------------------------------------------------------
# Conversation analysis per API
# --------------------------------------------------------------------------


def _turns(user_texts: list[list[str]]) -> tuple[int, str]:
    """(number of real user turns, last real user text) from per-message text lists."""
    real = [[t for t in texts if t.strip() and not _is_injected(t)] for texts in user_texts]
    real = [texts for texts in real if texts]
    if not real:
        return 0, ""
    return len(real), real[-1][-1].strip()


def anthropic_turns(body: dict[str, Any]) -> tuple[int, str]:
    per_message: list[list[str]] = []
    for msg in body.get("messages") or []:
        if not isinstance(msg, dict) or msg.get("role") != "user":
            continue
        content = msg.get("content")
        if isinstance(content, str):
            per_message.append([content])
            continue
        # tool_result-only messages carry no text block and drop out here.
        per_message.append(
            [
                b.get("text", "")
                for b in content or []
                if isinstance(b, dict) and b.get("type") == "text"
            ]
        )
    return _turns(per_message)


def openai_turns(body: dict[str, Any]) -> tuple[int, str]:
    items = body.get("input")
    if isinstance(items, str):
        return 1, items.strip()
    per_message: list[list[str]] = []
    for item in items or []:
        if not isinstance(item, dict) or item.get("role") != "user":
            continue
        if item.get("type", "message") != "message":
            continue
        content = item.get("content")
        if isinstance(content, str):
            per_message.append([content])
            continue
        per_message.append(
            [
                c.get("text", "")
                for c in content or []
                if isinstance(c, dict) and c.get("type") in ("input_text", "text")
            ]
        )
    return _turns(per_message)


def gemini_turns(body: dict[str, Any]) -> tuple[int, str]:
    per_message: list[list[str]] = []
    for content in body.get("contents") or []:
        if not isinstance(content, dict) or content.get("role", "user") != "user":
            continue
        # functionResponse-only contents are tool results, not user turns.
        per_message.append(
            [
                p["text"]
                for p in content.get("parts") or []
                if isinstance(p, dict) and isinstance(p.get("text"), str) and not p.get("thought")
            ]
        )
    return _turns(per_message)


# --------------------------------------------------------------------------
# Tools: what a request declares, and the tool results it carries back
# --------------------------------------------------------------------------


def declared_tools(provider: str, body: dict[str, Any]) -> dict[str, str]:
    """Tool name -> its type ("function", or OpenAI's "custom" freeform tools)."""
    tools = body.get("tools")
    out: dict[str, str] = {}
    for tool in tools if isinstance(tools, list) else []:
        if not isinstance(tool, dict):
            continue
        if provider == "gemini":
            for decl in tool.get("functionDeclarations") or []:
                if isinstance(decl, dict) and isinstance(decl.get("name"), str):
                    out[decl["name"]] = "function"
        elif isinstance(tool.get("name"), str):
            out[tool["name"]] = str(tool.get("type") or "function")
    return out


def _text_of(value: Any) -> str:
    """A tool result's content as text: a string, or the text of its content blocks."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(str(b.get("text", "")) for b in value if isinstance(b, dict) and "text" in b)
    return json.dumps(value)


def tool_results(provider: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool results this request sends back: those after the model's last message.

    Each: ``id`` (the call id the client used), ``name`` (from the call, when the
    request still shows it), ``output`` (text) and ``is_error`` (None when the API
    has no such flag). A later real user prompt means there are none.
    """
    names: dict[str, str] = {}
    results: list[dict[str, Any]] = []

    def result(call_id: Any, name: Any, output: str, is_error: bool | None) -> None:
        call_id = call_id if isinstance(call_id, str) else None
        if not isinstance(name, str):
            name = names.get(call_id or "")
        results.append({"id": call_id, "name": name, "output": output, "is_error": is_error})

    if provider == "anthropic":
        for msg in body.get("messages") or []:
            if not isinstance(msg, dict) or not isinstance(msg.get("content"), (list, str)):
                continue
            blocks = (
                [b for b in msg["content"] if isinstance(b, dict)]
                if isinstance(msg["content"], list)
                else [{"type": "text", "text": msg["content"]}]
            )
            if msg.get("role") == "assistant":
                results.clear()
                for b in blocks:
                    if b.get("type") == "tool_use" and isinstance(b.get("id"), str):
                        names[b["id"]] = b.get("name")
            elif msg.get("role") == "user":
                found = [b for b in blocks if b.get("type") == "tool_result"]
                if not found and anthropic_turns({"messages": [msg]})[0]:
                    results.clear()
                for b in found:
                    result(
                        b.get("tool_use_id"),
                        None,
                        _text_of(b.get("content")),
                        bool(b.get("is_error")),
                    )
    elif provider == "openai":
        items = body.get("input")
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict):
                continue
            kind = item.get("type", "message")
            if kind in ("function_call", "custom_tool_call"):
                results.clear()
                names[str(item.get("call_id"))] = item.get("name")
            elif kind in ("function_call_output", "custom_tool_call_output"):
                result(item.get("call_id"), None, _text_of(item.get("output")), None)
            elif kind == "message" and (
                item.get("role") == "assistant" or openai_turns({"input": [item]})[0]
            ):
                # The model spoke, or a real prompt followed: earlier results are old.
                results.clear()
    else:
        for content in body.get("contents") or []:
            if not isinstance(content, dict):
                continue
            parts = [p for p in content.get("parts") or [] if isinstance(p, dict)]
            if content.get("role") == "model":
                results.clear()
                continue
            found = [
                p["functionResponse"] for p in parts if isinstance(p.get("functionResponse"), dict)
            ]
            if not found and gemini_turns({"contents": [content]})[0]:
                results.clear()
            for fr in found:
                response = fr.get("response")
                is_error = isinstance(response, dict) and "error" in response
                if isinstance(response, dict) and isinstance(response.get("output"), str):
                    output = response["output"]
                elif is_error and isinstance(response, dict):
                    output = _text_of(response["error"])
                else:
                    output = json.dumps(response)
                result(fr.get("id"), fr.get("name"), output, is_error)
    return results


def reply_deltas(provider: str, turns: int, last_text: str) -> list[str]:
    # 2-3 pieces so clients really have to concatenate stream deltas.
    pieces = [f"MOCK {provider} ", f"reply #{turns}: "]
    if last_text:
        pieces.append(last_text)
    return pieces


# --------------------------------------------------------------------------
# Error bodies shaped like each real API, so each CLI prints its usual error
# --------------------------------------------------------------------------

ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
OPENAI_ERROR_CODES = {
    400: ("invalid_request_error", "invalid_request_error"),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", "server_error"),
    503: ("server_error", "server_is_overloaded"),
}
GEMINI_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def error_body(provider: str, status: int, message: str) -> dict[str, Any]:
    if provider == "anthropic":
        etype = ANTHROPIC_ERROR_TYPES.get(
            status, "api_error" if status >= 500 else "invalid_request_error"
        )
        return {"type": "error", "error": {"type": etype, "message": message}}
    if provider == "openai":
        etype, code = OPENAI_ERROR_CODES.get(
            status,
            ("server_error", "server_error")
            if status >= 500
            else ("invalid_request_error", "invalid_request_error"),
        )
        return {"error": {"message": message, "type": etype, "param": None, "code": code}}
    status_name = GEMINI_STATUS.get(status, "INTERNAL" if status >= 500 else "FAILED_PRECONDITION")
    return {"error": {"code": status, "message": message, "status": status_name}}


# --------------------------------------------------------------------------
# Gemini structured output: the CLI's model router asks for a JSON object
# --------------------------------------------------------------------------


def example_for_schema(schema: Any, name: str = "", depth: int = 0) -> Any:
    """A value matching a (JSON Schema or Gemini OpenAPI-style) schema."""
    if not isinstance(schema, dict) or depth > 8:
        return "mock"
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        options = [
            o for o in schema.get(key) or [] if isinstance(o, dict) and o.get("type") != "null"
        ]
        if options:
            return example_for_schema(options[0], name, depth + 1)
    stype = schema.get("type")
    if isinstance(stype, list):
        stype = next((t for t in stype if str(t).lower() != "null"), "string")
    stype = str(stype or ("object" if "properties" in schema else "string")).lower()
    if stype == "object":
        props = schema.get("properties") or {}
        return {k: example_for_schema(v, k, depth + 1) for k, v in props.items()}
    if stype == "array":
        return [example_for_schema(schema.get("items") or {}, name, depth + 1)]
    if stype in ("integer", "number"):
        # gemini's router Zod-checks complexity_score in 1..100 (0 makes it
        # fall back with a stack trace); a low score keeps it on flash.
        value: float = 10 if "score" in name else 1
        if isinstance(schema.get("minimum"), (int, float)):
            value = max(value, schema["minimum"])
        if isinstance(schema.get("maximum"), (int, float)):
            value = min(value, schema["maximum"])
        return int(value) if stype == "integer" else float(value)
    if stype == "boolean":
        return False
    return f"mock {name}".strip()


# --------------------------------------------------------------------------
# Shared state
# --------------------------------------------------------------------------


@dataclass
class Rule:
    provider: str
    count: int
    match: str = ""
    status: int = 0
    message: str = ""
    seconds: float = 0.0

    def applies(self, provider: str, path: str) -> bool:
        return self.count > 0 and self.provider in ("any", provider) and self.match in path


@dataclass
class ToolRule(Rule):
    """Answer with tool calls: ``calls`` is a list of {"name", "input"}."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    text: str = ""  # chatter sent before the calls
    final: str | None = None  # the text that answers the tool results
    undeclared: bool = False  # also when the request does not declare the tools

    def fits(self, provider: str, path: str, declared: dict[str, str]) -> bool:
        if not self.applies(provider, path):
            return False
        return self.undeclared or all(c["name"] in declared for c in self.calls)


class MockState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.failures: list[Rule] = []
        self.delays: list[Rule] = []
        self.tools: list[ToolRule] = []
        # Final texts of the tool rules used, per provider, for the requests that
        # bring the tool results back (oldest first).
        self.finals: dict[str, deque[str]] = {}
        self.requests: list[dict[str, Any]] = []
        # Raw request bodies and headers, kept apart from the log entries so
        # the default /_mock/requests answer stays small (claude sends ~50 KB).
        self.bodies: list[tuple[Any, dict[str, str]]] = []
        self.seq = 0
        # Set on reset so requests parked in a delay return at once instead of
        # outliving the test that asked for the delay.
        self.wake = threading.Event()

    def next_seq(self) -> int:
        with self.lock:
            self.seq += 1
            return self.seq

    def add_rule(self, kind: str, rule: Rule) -> None:
        with self.lock:
            (self.failures if kind == "fail" else self.delays).append(rule)

    def take(self, kind: str, provider: str, path: str) -> Rule | None:
        with self.lock:
            for rule in self.failures if kind == "fail" else self.delays:
                if rule.applies(provider, path):
                    rule.count -= 1
                    return rule
        return None

    def add_tool_rule(self, rule: ToolRule) -> None:
        with self.lock:
            self.tools.append(rule)

    def take_tool_rule(self, provider: str, path: str, declared: dict[str, str]) -> ToolRule | None:
        """The first tool rule that fits this request (rules are used in order)."""
        with self.lock:
            for rule in self.tools:
                if rule.fits(provider, path, declared):
                    rule.count -= 1
                    if rule.final is not None:
                        self.finals.setdefault(provider, deque()).append(rule.final)
                    return rule
        return None

    def take_final(self, provider: str) -> str | None:
        with self.lock:
            queue = self.finals.get(provider)
            return queue.popleft() if queue else None

    def record(self, entry: dict[str, Any], body: Any, headers: dict[str, str]) -> None:
        with self.lock:
            self.requests.append(entry)
            self.bodies.append((body, headers))

    def snapshot(self, provider: str | None, bodies: bool) -> list[dict[str, Any]]:
        with self.lock:
            out = []
            for entry, (body, headers) in zip(self.requests, self.bodies):
                if provider and entry["provider"] != provider:
                    continue
                item = dict(entry)
                if bodies:
                    item["body"] = body
                    item["headers"] = headers
                out.append(item)
            return out

    def reset(self) -> None:
        with self.lock:
            self.failures.clear()
            self.delays.clear()
            self.tools.clear()
            self.finals.clear()
            self.requests.clear()
            self.bodies.clear()
            old, self.wake = self.wake, threading.Event()
        old.set()


STATE = MockState()


def log(line: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {line}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# HTTP handler
# --------------------------------------------------------------------------


class BadRequest(Exception):
    pass


def tool_rule(provider: str, count: int, match: str, body: dict[str, Any]) -> ToolRule:
    """A checked ToolRule from a /_mock/tool body ("name" + "input" is one call)."""
    calls = body.get("calls")
    if calls is None and "name" in body:
        calls = [{"name": body["name"], "input": body.get("input", {})}]
    if not isinstance(calls, list) or not calls:
        raise BadRequest('give "calls": [{"name": ..., "input": ...}, ...] or "name" and "input"')
    checked = []
    for call in calls:
        if not isinstance(call, dict) or not isinstance(call.get("name"), str) or not call["name"]:
            raise BadRequest("every call needs a non-empty string name")
        checked.append({"name": call["name"], "input": call.get("input", {})})
    text = body.get("text", "")
    final = body.get("final")
    undeclared = body.get("undeclared", False)
    if not isinstance(text, str):
        raise BadRequest("text must be a string")
    if final is not None and not isinstance(final, str):
        raise BadRequest("final must be a string")
    if not isinstance(undeclared, bool):
        raise BadRequest("undeclared must be true or false")
    return ToolRule(
        provider, count, match, calls=checked, text=text, final=final, undeclared=undeclared
    )


class Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keep-alive, as the CLIs' HTTP clients expect; every response
    # therefore carries Content-Length or is chunked.
    protocol_version = "HTTP/1.1"
    server_version = "clinvk-mockapi/1"
    sys_version = ""
    # HTTP status sent for this request ("client-gone" if the client hung up).
    _status: int | str = "-"

    def log_message(self, format: str, *args: Any) -> None:
        # Replaced by our own single line per request (see _log_request).
        pass

    # ---- plumbing -------------------------------------------------------

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                data += self.rfile.read(size)
                self.rfile.readline()
            raw = bytes(data)
        else:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        encoding = self.headers.get("Content-Encoding", "").lower().strip()
        if encoding == "gzip":
            return gzip.decompress(raw)
        if encoding == "deflate":
            return zlib.decompress(raw)
        if encoding not in ("", "identity"):
            raise BadRequest(f"unsupported Content-Encoding {encoding!r}")
        return raw

    def _json_body(self) -> dict[str, Any]:
        raw = self._read_body()
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise BadRequest(f"request body is not JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise BadRequest("request body must be a JSON object")
        return body

    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self._status = status

    def _start_stream(self, headers: dict[str, str] | None = None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self._status = 200

    def _chunk(self, text: str) -> None:
        data = text.encode()
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _sse(self, event: str, data: dict[str, Any]) -> None:
        self._chunk(f"event: {event}\ndata: {json.dumps(data)}\n\n")

    def _log_request(self, extra: str = "") -> None:
        status = self._status
        log(
            f"{self.client_address[0]} {self.command} {self.path} -> {status}{(' ' + extra) if extra else ''}"
        )

    # ---- verbs ----------------------------------------------------------

    def do_HEAD(self) -> None:
        # claude 2.1.197 preconnects with HEAD /; any 200 will do.
        self._send_json(200, {"ok": True})
        self._log_request()

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/_mock/requests":
            query = parse_qs(url.query)
            provider = query.get("provider", [""])[0] or None
            bodies = (query.get("bodies") or ["0"])[0] not in ("0", "", "false")
            self._send_json(200, STATE.snapshot(provider, bodies))
        elif url.path in ("/", "/_mock/health"):
            self._send_json(200, {"ok": True, "service": "clinvk-mockapi"})
        else:
            self._send_json(404, {"error": {"message": f"no route for GET {url.path}"}})
        self._log_request()

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        try:
            if url.path.startswith("/_mock/"):
                self._control(url.path, self._json_body())
                self._log_request()
                return
            provider, kind, model, stream = self._route(url.path, parse_qs(url.query))
            if provider is None:
                self._read_body()
                self._send_json(404, {"error": {"message": f"no route for POST {url.path}"}})
                self._log_request()
                return
            body = self._json_body()
        except BadRequest as exc:
            self._send_json(400, {"error": {"message": str(exc)}})
            self._log_request()
            return
        self._model_request(provider, kind, model, stream, url.path, body)

    # ---- control endpoints ---------------------------------------------

    def _control(self, path: str, body: dict[str, Any]) -> None:
        if path == "/_mock/reset":
            STATE.reset()
            self._send_json(200, {"ok": True})
            return
        if path not in ("/_mock/fail", "/_mock/delay", "/_mock/tool"):
            self._send_json(404, {"error": {"message": f"unknown control endpoint {path}"}})
            return
        provider = body.get("provider", "any")
        count = body.get("count", 1)
        match = body.get("match", "")
        if provider not in (*PROVIDERS, "any"):
            raise BadRequest(f"provider must be one of {(*PROVIDERS, 'any')}")
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise BadRequest("count must be an integer >= 1")
        if not isinstance(match, str):
            raise BadRequest("match must be a string")
        if path == "/_mock/tool":
            STATE.add_tool_rule(tool_rule(provider, count, match, body))
        elif path == "/_mock/fail":
            status = body.get("status", 500)
            if not isinstance(status, int) or not 400 <= status <= 599:
                raise BadRequest("status must be an integer 400..599")
            message = body.get("message") or f"mock injected HTTP {status}"
            rule = Rule(provider, count, match, status=status, message=str(message))
            STATE.add_rule("fail", rule)
        else:
            seconds = body.get("seconds", 30)
            if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds < 0:
                raise BadRequest("seconds must be a number >= 0")
            rule = Rule(provider, count, match, seconds=float(seconds))
            STATE.add_rule("delay", rule)
        self._send_json(200, {"ok": True})

    # ---- model endpoints ------------------------------------------------

    @staticmethod
    def _route(
        path: str, query: dict[str, list[str]]
    ) -> tuple[str | None, str, str | None, bool | None]:
        """(provider, kind, model-from-path, stream-from-path) or provider None."""
        if path == "/v1/messages":
            return "anthropic", "generate", None, None
        if path == "/v1/messages/count_tokens":
            return "anthropic", "count_tokens", None, False
        if path == "/v1/responses":
            return "openai", "generate", None, None
        match = GEMINI_PATH.match(path)
        if match:
            method = match["method"]
            model = match["model"]
            if method == "streamGenerateContent":
                return "gemini", "generate", model, True
            if method == "generateContent":
                return "gemini", "generate", model, False
            if method == "countTokens":
                return "gemini", "count_tokens", model, False
        return None, "", None, None

    def _model_request(
        self,
        provider: str,
        kind: str,
        path_model: str | None,
        path_stream: bool | None,
        path: str,
        body: dict[str, Any],
    ) -> None:
        turns, last_text = {
            "anthropic": anthropic_turns,
            "openai": openai_turns,
            "gemini": gemini_turns,
        }[provider](body)
        model = path_model or str(body.get("model") or "")
        stream = path_stream if path_stream is not None else bool(body.get("stream"))
        entry: dict[str, Any] = {
            "provider": provider,
            "path": self.path,
            "kind": kind,
            "model": model,
            "stream": stream,
            "user_turns": turns,
            "last_user_text": last_text,
            "client": self.client_address[0],
            "time": time.time(),
            "status": None,
            # Tool names the request declares, the tool results it brings back,
            # and the tool calls the mock answered with (set below).
            "tools": sorted(declared := declared_tools(provider, body)),
            "tool_results": (results := tool_results(provider, body)),
            "tool_calls": [],
        }
        STATE.record(entry, body, {k.lower(): v for k, v in self.headers.items()})
        summary = f"[{provider} {model} turns={turns} {last_text[:40]!r}]"

        # Token counting is bookkeeping, not a model turn: it is logged but
        # never delayed or failed, so injected faults hit real turns only.
        if kind == "count_tokens":
            if provider == "anthropic":
                self._send_json(200, {"input_tokens": INPUT_TOKENS})
            else:
                self._send_json(200, {"totalTokens": INPUT_TOKENS})
            entry["status"] = self._status
            self._log_request(summary)
            return

        delay = STATE.take("delay", provider, self.path)
        if delay is not None:
            log(f"delaying {provider} {self.path} by {delay.seconds}s")
            STATE.wake.wait(delay.seconds)

        fail = STATE.take("fail", provider, self.path)
        try:
            if fail is not None:
                self._send_json(
                    fail.status,
                    error_body(provider, fail.status, fail.message),
                    {"request-id": "req_mock", "x-request-id": "req_mock"},
                )
            else:
                reply = self._reply(provider, path, body, declared, results, turns, last_text)
                entry["tool_calls"] = [c.logged() for c in reply.calls]
                getattr(self, f"_send_{provider}")(model, stream, reply)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (e.g. a timeout test killed it): nothing to do.
            self._status = "client-gone"
            self.close_connection = True
        entry["status"] = self._status
        self._log_request(summary)

    def _reply(
        self,
        provider: str,
        path: str,
        body: dict[str, Any],
        declared: dict[str, str],
        results: list[dict[str, Any]],
        turns: int,
        last_text: str,
    ) -> Reply:
        """What to answer: a schema-shaped object, scripted tool calls, or text."""
        config = body.get("generationConfig") if provider == "gemini" else None
        if isinstance(config, dict):
            schema = config.get("responseJsonSchema") or config.get("responseSchema")
            if schema is not None:
                # gemini's router (and other helpers) want a schema-shaped object.
                return Reply(deltas=[json.dumps(example_for_schema(schema))])
        rule = STATE.take_tool_rule(provider, self.path, declared)
        if rule is not None:
            seq = STATE.next_seq()
            prefix = {"anthropic": "toolu_mock", "openai": "call_mock"}.get(provider)
            calls = [
                ToolCall(
                    id=f"{prefix}_{seq:04d}_{i}" if prefix else None,
                    name=c["name"],
                    input=c["input"],
                    custom=declared.get(c["name"]) == "custom",
                )
                for i, c in enumerate(rule.calls)
            ]
            return Reply(deltas=split_text(rule.text), calls=calls)
        if results:
            final = STATE.take_final(provider)
            if final is None:
                final = f"MOCK {provider} reply #{turns} after tools: {last_text}"
            return Reply(deltas=split_text(final))
        return Reply(deltas=reply_deltas(provider, turns, last_text))

    # ---- sending a reply, in each API's framing ---------------------------

    def _send_anthropic(self, model: str, stream: bool, reply: Reply) -> None:
        msg_id = f"msg_{STATE.next_seq():04d}_{uuid.uuid4().hex[:8]}"
        headers = {"request-id": f"req_{msg_id}"}
        if not stream:
            self._send_json(200, mockreply.anthropic_message(model, msg_id, reply), headers)
            return
        self._start_stream(headers)
        for event, data in mockreply.anthropic_events(model, msg_id, reply):
            self._sse(event, data)
        self._end_stream()

    def _send_openai(self, model: str, stream: bool, reply: Reply) -> None:
        seq = STATE.next_seq()
        resp_id = f"resp_mock_{seq:04d}_{uuid.uuid4().hex[:8]}"
        headers = {"x-request-id": f"req_{resp_id}"}
        if not stream:
            self._send_json(200, mockreply.openai_response(model, resp_id, seq, reply), headers)
            return
        self._start_stream(headers)
        for event, data in mockreply.openai_events(model, resp_id, seq, reply):
            self._sse(event, data)
        self._end_stream()

    def _send_gemini(self, model: str, stream: bool, reply: Reply) -> None:
        response_id = f"mock-{STATE.next_seq():04d}"
        if not stream:
            self._send_json(200, mockreply.gemini_response(model, response_id, reply))
            return
        chunks = mockreply.gemini_chunks(model, response_id, reply)
        if "alt=sse" not in self.path:
            self._send_json(200, chunks)
            return
        self._start_stream()
        for c in chunks:
            self._chunk(f"data: {json.dumps(c)}\r\n\r\n")
        self._end_stream()


class MockServer(ThreadingHTTPServer):
    daemon_threads = True
    # A test run may fire many CLIs at once.
    request_queue_size = 64


def serve(port: int, port_file: str | None) -> None:
    server = MockServer((HOST, port), Handler)
    actual = server.server_address[1]
    if port_file:
        # Write-then-rename so a poller never reads a half-written file.
        tmp = f"{port_file}.tmp{os.getpid()}"
        with open(tmp, "w") as fh:
            fh.write(f"{actual}\n")
        os.replace(tmp, port_file)
    # Exact wording is relied upon by scripts that wait for startup.
    print(f"mockapi listening on http://{HOST}:{actual}", file=sys.stderr, flush=True)

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--port", type=int, default=0, help="TCP port on 127.0.0.1 (0 = pick a free one)"
    )
    parser.add_argument("--port-file", help="write the chosen port here once listening")
    args = parser.parse_args(argv)
    serve(args.port, args.port_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
