"""Claude Code (``claude``) adapter.

Runs ``claude -p --output-format stream-json --verbose`` with the prompt on stdin
(with ``-p`` and no positional prompt, claude reads the prompt from stdin verbatim).
See docs/backends.md for the flag mapping and how each field is read.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import msgspec

from clinvk import toolcalls
from clinvk.backends import (
    ErrorEvent,
    Event,
    Invocation,
    Request,
    SessionStarted,
    TextDelta,
    ToolCallEvent,
    ToolResultEvent,
    TurnResult,
    UsageEvent,
)
from clinvk.backends import argv as argv_rules
from clinvk.backends.claude_tools import (
    call_status,
    interpreted,
    meta_by_id,
    result_file,
    tool_kind,
)
from clinvk.backends.diagnostics import exit_message, one_line, stderr_message
from clinvk.backends.jsonlines import decode, timestamp
from clinvk.errors import UsageError
from clinvk.model import ApiRequest, ToolKind, Usage

if TYPE_CHECKING:
    from datetime import datetime

    from clinvk.backends.settings import BackendConfig

NAME = "claude"

# Unified approval mode → claude --permission-mode. "default" adds nothing.
PERMISSION_MODES = {
    "auto-edit": "acceptEdits",
    "full-auto": "bypassPermissions",
    "plan": "plan",
    # dontAsk denies whatever would need a prompt; read tools never need one.
    "read-only": "dontAsk",
}

SESSION_NOT_FOUND = re.compile(
    r"No conversation found with session ID|does not match any session title"
)


class ClaudeBackend:
    name = NAME
    install_hint = "npm install -g @anthropic-ai/claude-code"
    owned_flags = ("--output-format", "--input-format")

    def __init__(self, name: str = NAME, config: BackendConfig | None = None) -> None:
        # One adapter serves every backend name that uses it; nothing to keep per name.
        del name, config

    def invocation(self, request: Request, config: BackendConfig) -> Invocation:
        argv = [
            argv_rules.command(config, NAME),
            "-p",
            "--output-format",
            "stream-json",
            "--verbose",
        ]
        if request.resume_id is not None:
            argv_rules.check_value(request.resume_id, "resume id")
            argv += ["--resume", request.resume_id]
        argv += _options(request, config)
        return Invocation(
            argv=argv_rules.check_argv(argv),
            cwd=request.workdir,
            stdin=argv_rules.prompt_bytes(request.prompt),
            env=dict(config.env),
        )

    def parser(self, request: Request) -> ClaudeParser:
        return ClaudeParser(request)

    def interactive_invocation(self, request: Request, config: BackendConfig) -> Invocation:
        argv = [argv_rules.command(config, NAME)]
        if request.resume_id is not None:
            argv_rules.check_value(request.resume_id, "resume id")
            argv += ["--resume", request.resume_id]
        argv += _options(request, config)
        if request.prompt:
            # The terminal is stdin now, so a first prompt must go in argv, after "--".
            argv += ["--", request.prompt]
        # stdin None here means "the terminal": the runner must not redirect it.
        return Invocation(
            argv=argv_rules.check_argv(argv), cwd=request.workdir, env=dict(config.env)
        )


def _options(request: Request, config: BackendConfig) -> list[str]:
    args: list[str] = []
    model = argv_rules.model(request, config)
    if model:
        args += ["--model", model]
    if request.approval and request.approval != "default":
        mode = PERMISSION_MODES.get(request.approval)
        if mode is None:
            raise UsageError(f"claude has no approval mode {request.approval!r}")
        args += ["--permission-mode", mode]
    if request.system_prompt:
        # Appended, not replacing claude's own prompt, which carries its tool rules.
        # "=" so a prompt starting with "-" stays this option's value.
        args.append("--append-system-prompt=" + request.system_prompt)
    # Already config `args` followed by --backend-arg values (see Request).
    args += request.extra_args
    return args


# View structs: only the fields clinvk reads; everything optional, because a field a
# new claude version drops or nulls must not make the whole line unreadable.
class _Block(msgspec.Struct):
    type: str = ""
    text: Any = None


class _Message(msgspec.Struct):
    id: str | None = None
    model: str | None = None
    content: Any = None
    usage: _Usage | None = None


class _System(msgspec.Struct, tag="system", tag_field="type"):
    subtype: str | None = None
    session_id: str | None = None
    model: str | None = None


class _Assistant(msgspec.Struct, tag="assistant", tag_field="type"):
    message: _Message | None = None
    parent_tool_use_id: str | None = None
    # Set on the synthetic message claude writes for an API error.
    error: Any = None
    timestamp: Any = None


class _User(msgspec.Struct, tag="user", tag_field="type"):
    """A user turn claude writes itself: the results of the tools it ran."""

    message: _Message | None = None
    parent_tool_use_id: str | None = None
    timestamp: Any = None
    tool_use_result: Any = None
    tool_result_meta: Any = None


class _Delta(msgspec.Struct):
    type: str | None = None
    text: Any = None


class _RawEvent(msgspec.Struct):
    type: str | None = None
    message: _Message | None = None
    delta: _Delta | None = None


class _StreamEvent(msgspec.Struct, tag="stream_event", tag_field="type"):
    event: _RawEvent | None = None
    parent_tool_use_id: str | None = None


class _OutputDetails(msgspec.Struct):
    thinking_tokens: int | None = None


class _Usage(msgspec.Struct):
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    output_tokens_details: _OutputDetails | None = None


class _ModelUsage(msgspec.Struct):
    costUSD: float | None = None


class _Result(msgspec.Struct, tag="result", tag_field="type"):
    subtype: str | None = None
    is_error: bool | None = None
    result: str | None = None
    errors: list[Any] | None = None
    session_id: str | None = None
    num_turns: int | None = None
    total_cost_usd: float | None = None
    usage: _Usage | None = None
    model_usage_since_last_result: dict[str, _ModelUsage] | None = None
    # [{tool_name, tool_use_id, tool_input}]: claude's own record of refused calls.
    permission_denials: Any = None


_decoder = msgspec.json.Decoder(_System | _Assistant | _User | _StreamEvent | _Result)

# Marks text streamed by --include-partial-messages deltas that carried no message id.
_NO_ID = "\0no-id"


class ClaudeParser:
    """Reads one ``claude -p --output-format stream-json --verbose`` run.

    Text arrives either whole (``assistant`` events) or, with
    ``--include-partial-messages``, as ``stream_event`` deltas followed by the whole
    message; a message whose deltas were already emitted is not emitted again.
    """

    def __init__(self, request: Request) -> None:
        self._request = request
        self._session_id: str | None = None
        self._init_seen = False
        self._model: str | None = None
        self._result: _Result | None = None
        self._usage: Usage | None = None
        self._cost: float | None = None
        self._streamed: set[str] = set()
        self._partial_id: str = _NO_ID
        # Text per message, in order; the last one is the answer if no result arrives.
        self._texts: dict[str, str] = {}
        self._last_key: str | None = None
        # The message whose text came after the last tool call: the answer so far.
        self._answer_key: str | None = None
        # Tool calls by id: their kind (to read their results) and whether they ended.
        self._tools: dict[str, ToolKind] = {}
        self._denied: set[str] = set()
        # One per API request (message id): each assistant event repeats its usage.
        self._requests: dict[str, ApiRequest] = {}

    def feed(self, line: str) -> list[Event]:
        try:
            event = decode(_decoder, line)
            if event is None:
                return []
            if isinstance(event, _System):
                return self._system(event)
            if isinstance(event, _StreamEvent):
                return self._stream_event(event)
            if isinstance(event, _Assistant):
                return self._assistant(event)
            if isinstance(event, _User):
                return self._tool_results(event)
            return self._on_result(event)
        except Exception:  # noqa: BLE001 - Parser.feed must never raise on vendor output
            return []

    def _system(self, event: _System) -> list[Event]:
        if event.subtype != "init" or not event.session_id:
            return []
        self._init_seen = True
        self._model = _plain_model(event.model) or self._model
        if event.session_id == self._session_id:
            return []
        self._session_id = event.session_id
        return [SessionStarted(backend_session_id=event.session_id, model=self._model)]

    def _stream_event(self, event: _StreamEvent) -> list[Event]:
        raw = event.event
        if raw is None or event.parent_tool_use_id:
            return []
        if raw.type == "message_start":
            self._partial_id = (raw.message.id if raw.message else None) or _NO_ID
            return []
        delta = raw.delta if raw.type == "content_block_delta" else None
        if delta and delta.type == "text_delta" and isinstance(delta.text, str) and delta.text:
            self._streamed.add(self._partial_id)
            return self._text(self._partial_id, delta.text)
        return []

    def _assistant(self, event: _Assistant) -> list[Event]:
        message = event.message
        # Subagent chatter is not the answer; a synthetic error message is reported
        # through the result instead.
        if message is None or event.parent_tool_use_id or event.error is not None:
            return []
        if message.model and message.model != "<synthetic>":
            self._model = message.model
        if message.id and message.usage is not None and message.id not in self._requests:
            self._requests[message.id] = request_of(message.usage, timestamp(event.timestamp))
        key = message.id or _NO_ID
        events: list[Event] = []
        if key not in self._streamed:
            text = "".join(
                block.text
                for block in _blocks(message.content)
                if block.type == "text" and isinstance(block.text, str)
            )
            if text:
                events += self._text(key, text)
        for block in message.content if isinstance(message.content, list) else []:
            if isinstance(block, dict) and block.get("type") == "tool_use":
                call = self._tool_call(block, timestamp(event.timestamp))
                if call is not None:
                    events.append(call)
        return events

    def _text(self, key: str, text: str) -> list[Event]:
        # A new message after earlier text starts a new paragraph in the stream.
        prefix = "\n\n" if self._last_key is not None and key != self._last_key else ""
        self._texts[key] = self._texts.get(key, "") + text
        self._last_key = self._answer_key = key
        return [TextDelta(text=prefix + text)]

    def _tool_call(self, block: dict[str, Any], at: Any) -> ToolCallEvent | None:
        ident, name = block.get("id"), block.get("name")
        if not isinstance(ident, str) or not ident or ident in self._tools:
            return None
        name = name if isinstance(name, str) and name else "unknown"
        kind = tool_kind(name)
        args = block.get("input")
        self._tools[ident] = kind
        self._answer_key = None  # text before a tool call is not the answer
        workdir = self._request.workdir
        return ToolCallEvent(
            id=ident, name=name, kind=kind, summary=toolcalls.summary(kind, args, workdir),
            input=toolcalls.cut_input(args),
            paths=toolcalls.call_paths(kind, args, workdir), at=at)

    def _tool_results(self, event: _User) -> list[Event]:
        message = event.message
        if message is None or event.parent_tool_use_id or not isinstance(message.content, list):
            return []
        at = timestamp(event.timestamp)
        meta = meta_by_id(event.tool_result_meta)
        events: list[Event] = []
        for block in message.content:
            if not isinstance(block, dict) or block.get("type") != "tool_result":
                continue
            ident = block.get("tool_use_id")
            kind = self._tools.get(ident) if isinstance(ident, str) else None
            if kind is None or not isinstance(ident, str):
                continue
            text = toolcalls.text_of(block.get("content"))
            status = call_status(block.get("is_error") is True, meta.get(ident))
            exit_code = None
            if kind == "shell":
                exit_code = toolcalls.exit_code_in(text) if status == "error" else (
                    0 if status == "ok" and not interpreted(event.tool_use_result) else None)
            paths = []
            if len(message.content) == 1:  # the result's own report names this call's file
                paths = toolcalls.paths_in(result_file(event.tool_use_result), ("filePath",),
                                           self._request.workdir)
            events.append(ToolResultEvent(
                id=ident, status=status, exit_code=exit_code,
                output=toolcalls.clip(text) if text is not None else None, paths=paths, at=at))
            if status == "denied":
                self._denied.add(ident)
        return events

    def _on_result(self, result: _Result) -> list[Event]:
        self._result = result
        events: list[Event] = []
        # A resume with --fork-session reports a new id; a failed resume reports the
        # id it was asked for without ever starting (no init, no turns): not an id.
        real = self._init_seen or (result.num_turns or 0) > 0
        if result.session_id and result.session_id != self._session_id and real:
            self._session_id = result.session_id
            events.append(SessionStarted(backend_session_id=result.session_id, model=self._model))
        if result.usage is not None:
            self._usage = _usage(result.usage)
            self._cost = _cost(result)
            events.append(UsageEvent(usage=self._usage, cost_usd=self._cost))
        message = _result_error(result)
        if message:
            events.append(ErrorEvent(message=message))
        # The authoritative record of refusals: a call claude reported as an error may
        # have been a refusal all along.
        for denial in result.permission_denials if isinstance(result.permission_denials, list) else []:
            ident = denial.get("tool_use_id") if isinstance(denial, dict) else None
            if isinstance(ident, str) and ident in self._tools and ident not in self._denied:
                self._denied.add(ident)
                events.append(ToolResultEvent(id=ident, status="denied"))
        return events

    def finish(self, exit_code: int, stderr: str) -> TurnResult:
        result = self._result
        error = _result_error(result) if result is not None else None
        if error is None and exit_code != 0:
            error = stderr_message(stderr) or exit_message(NAME, exit_code)
        if error is None and result is None:
            # Exit 0 yet no result line: not stream-json output (extra args changed it?).
            error = "claude ended without a result"
        text = ""
        if result is not None and error is None and isinstance(result.result, str):
            text = result.result
        elif self._answer_key is not None:
            text = self._texts[self._answer_key]
        return TurnResult(
            status="error" if error else "ok",
            text=text,
            error=error,
            backend_session_id=self._session_id,
            model=self._model or self._request.model,
            usage=self._usage,
            requests=list(self._requests.values()) or None,
            cost_usd=self._cost,
            cost_source="reported" if self._cost is not None else "unpriced",
            session_not_found=bool(
                error and (SESSION_NOT_FOUND.search(error) or SESSION_NOT_FOUND.search(stderr))
            ),
        )


def _blocks(content: Any) -> list[_Block]:
    if isinstance(content, str):
        return [_Block(type="text", text=content)]
    if not isinstance(content, list):
        return []
    return [
        _Block(type=str(item.get("type", "")), text=item.get("text"))
        for item in content
        if isinstance(item, dict)
    ]


def _plain_model(model: str | None) -> str | None:
    # init reports e.g. "claude-opus-4-8[1m]": the bracket is a context-window tag.
    if not model:
        return None
    return re.sub(r"\[[^\]]*\]$", "", model) or None


def _usage(raw: _Usage) -> Usage:
    details = raw.output_tokens_details
    return Usage(
        input_tokens=raw.input_tokens or 0,
        output_tokens=raw.output_tokens or 0,
        cache_read_tokens=raw.cache_read_input_tokens or 0,
        cache_write_tokens=raw.cache_creation_input_tokens or 0,
        reasoning_tokens=(details.thinking_tokens or 0) if details else 0,
    )


def request_of(raw: _Usage, at: datetime | None) -> ApiRequest:
    """One API request from a message's usage, at the vendor's time for it (claude
    2.1.197 gives none: its usage then counts on the turn's start). The prompt counts are
    whole from the message's start; its output may still grow (see fit_requests)."""
    return ApiRequest(raw.input_tokens or 0, raw.output_tokens or 0,
                      raw.cache_read_input_tokens or 0, raw.cache_creation_input_tokens or 0, at)


def _cost(result: _Result) -> float | None:
    # From 2.1.330 on, total_cost_usd covers the whole resumed conversation, and
    # model_usage_since_last_result holds this invocation's share; 2.1.197 has only
    # total_cost_usd, and it is per invocation there. An empty share ({}) means this
    # invocation made no model call that cost anything (e.g. a resume whose request
    # failed): 0, not the running total of the earlier turns.
    per_model = result.model_usage_since_last_result
    if per_model is not None:
        costs = [m.costUSD for m in per_model.values() if m.costUSD is not None]
        if costs or not per_model:
            return sum(costs, 0.0)
    return result.total_cost_usd


def _result_error(result: _Result) -> str | None:
    failed = bool(result.is_error) or (result.subtype or "").startswith("error")
    if not failed:
        return None
    if isinstance(result.result, str) and result.result.strip():
        return one_line(result.result)
    for item in result.errors or []:
        if isinstance(item, str) and item.strip():
            return one_line(re.sub(r"^Error:\s*", "", item.strip()))
    return f"claude stopped: {result.subtype or 'error'}"
