"""Gemini CLI (``gemini``) adapter.

Runs ``gemini --output-format stream-json --skip-trust`` with the prompt on stdin and
no ``-p``: with stdin not a TTY and no ``-p``, gemini runs headless and takes stdin,
verbatim, as the whole prompt (``-p`` would be appended to it). See docs/backends.md.
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
from clinvk.backends.diagnostics import exit_message, stderr_message, unwrap_api_error
from clinvk.backends.jsonlines import decode, decode_object, timestamp
from clinvk.errors import UsageError
from clinvk.model import ToolKind, ToolStatus, Usage

if TYPE_CHECKING:
    from clinvk.backends.settings import BackendConfig

NAME = "gemini"

# gemini's readStdin stops at 8 MiB and silently drops the rest.
MAX_PROMPT_BYTES = 8 * 1024 * 1024

# Unified approval mode → gemini --approval-mode. Headless gemini denies every tool
# call that would need a prompt, so its "default" is read-only there; interactively
# "default" asks, which is not read-only, hence the refusal below.
APPROVAL_MODES = {
    "auto-edit": "auto_edit",
    "full-auto": "yolo",
    "plan": "plan",
    "read-only": "default",
}

SESSION_NOT_FOUND = re.compile(
    r"No previous sessions found for this project|Invalid session identifier"
)

# Lines gemini writes to stderr on every run, error or not.
NOISE = (
    re.compile(r"^Warning: 256-color support not detected"),
    re.compile(r"^Security Warning: Skipping system"),
    re.compile(r"^Ripgrep is not available"),
    re.compile(r"^\[STARTUP\]"),
    re.compile(r"^Loaded cached credentials"),
)
# "Error when talking to Gemini API Full report available at: <file> _ApiError: <body>"
_API_REPORT = re.compile(r"^Error when talking to Gemini API.*?\b\w*Error: (.*)$")


class GeminiBackend:
    name = NAME
    install_hint = "npm install -g @google/gemini-cli"
    owned_flags = ("--output-format", "-o")

    def __init__(self, name: str = NAME, config: BackendConfig | None = None) -> None:
        # One adapter serves every backend name that uses it; nothing to keep per name.
        del name, config

    def invocation(self, request: Request, config: BackendConfig) -> Invocation:
        prompt = argv_rules.prompt_bytes(request.prompt)
        if len(prompt) > MAX_PROMPT_BYTES:
            raise UsageError(
                f"the prompt is {len(prompt)} bytes; gemini reads at most {MAX_PROMPT_BYTES} "
                "bytes from stdin and would drop the rest"
            )
        argv = [argv_rules.command(config, NAME), "--output-format", "stream-json", "--skip-trust"]
        if request.resume_id is not None:
            argv_rules.check_value(request.resume_id, "resume id")
            argv += ["--resume", request.resume_id]
        argv += _options(request, config, interactive=False)
        return Invocation(
            argv=argv_rules.check_argv(argv),
            cwd=request.workdir,
            stdin=prompt,
            env=dict(config.env),
        )

    def parser(self, request: Request) -> GeminiParser:
        return GeminiParser(request)

    def interactive_invocation(self, request: Request, config: BackendConfig) -> Invocation:
        argv = [argv_rules.command(config, NAME)]
        if request.resume_id is not None:
            argv_rules.check_value(request.resume_id, "resume id")
            argv += ["--resume", request.resume_id]
        argv += _options(request, config, interactive=True)
        if request.prompt:
            # The terminal is stdin now: -i runs a first prompt, then stays interactive.
            argv.append("--prompt-interactive=" + request.prompt)
        # stdin None here means "the terminal": the runner must not redirect it
        # (gemini only goes interactive when stdin is a TTY).
        return Invocation(
            argv=argv_rules.check_argv(argv), cwd=request.workdir, env=dict(config.env)
        )


def _options(request: Request, config: BackendConfig, *, interactive: bool) -> list[str]:
    args: list[str] = []
    model = argv_rules.model(request, config)
    if model:
        args += ["-m", model]
    if request.approval and request.approval != "default":
        if request.approval == "read-only" and interactive:
            raise UsageError(
                "gemini has no read-only mode for interactive sessions; use --approval plan"
            )
        args += ["--approval-mode", APPROVAL_MODES[request.approval]]
    if request.system_prompt:
        # Its only hook is GEMINI_SYSTEM_MD, a file that replaces the whole system prompt.
        raise UsageError("gemini cannot take a system prompt on the command line")
    # Already config `args` followed by --backend-arg values (see Request).
    args += request.extra_args
    return args


class _Init(msgspec.Struct, tag="init", tag_field="type"):
    session_id: str | None = None
    model: str | None = None


class _Message(msgspec.Struct, tag="message", tag_field="type"):
    role: str | None = None
    content: Any = None


class _ToolUse(msgspec.Struct, tag="tool_use", tag_field="type"):
    tool_name: Any = None
    tool_id: Any = None
    parameters: Any = None
    timestamp: Any = None


class _ToolResult(msgspec.Struct, tag="tool_result", tag_field="type"):
    tool_id: Any = None
    status: Any = None
    output: Any = None
    error: Any = None
    timestamp: Any = None


# gemini's tool names → kinds.
TOOL_KINDS: dict[str, ToolKind] = {
    "read_file": "read", "read_many_files": "read",
    "write_file": "write",
    "replace": "edit", "edit": "edit",
    "run_shell_command": "shell",
    "list_directory": "search", "glob": "search", "grep_search": "search",
    "search_file_content": "search", "grep": "search",
    "google_web_search": "web", "web_fetch": "web",
    "invoke_agent": "agent", "codebase_investigator": "agent", "delegate_to_agent": "agent",
}
# tool_result error types that mean the call was refused, not that it failed.
_DENIED = {"policy_violation", "permission_denied"}
_CANCELLED = {"stop_execution", "cancelled"}


class _Error(msgspec.Struct, tag="error", tag_field="type"):
    severity: str | None = None
    message: Any = None


class _ErrorInfo(msgspec.Struct):
    message: Any = None


class _Tokens(msgspec.Struct):
    # Stream-mode names (result.stats and result.stats.models.*).
    total_tokens: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached: int | None = None
    input: int | None = None


class _Stats(_Tokens):
    models: dict[str, _Tokens] | None = None


class _Result(msgspec.Struct, tag="result", tag_field="type"):
    status: str | None = None
    error: _ErrorInfo | None = None
    stats: _Stats | None = None


_decoder = msgspec.json.Decoder(_Init | _Message | _ToolUse | _ToolResult | _Error | _Result)


class GeminiParser:
    """Reads one ``gemini --output-format stream-json`` run.

    Also accepts ``--output-format json`` output (one pretty-printed object), should
    extra args switch the format: unparsed lines are kept and read at the end.
    """

    def __init__(self, request: Request) -> None:
        self._request = request
        self._session_id: str | None = None
        self._model: str | None = None
        self._by_model: dict[str, Usage] | None = None
        self._segments: list[str] = [""]
        self._result: _Result | None = None
        self._usage: Usage | None = None
        self._error_event: str | None = None
        self._unparsed: list[str] = []
        self._unparsed_size = 0
        self._tools: dict[str, ToolKind] = {}

    def feed(self, line: str) -> list[Event]:
        try:
            return self._feed(line)
        except Exception:  # noqa: BLE001 - Parser.feed must never raise on vendor output
            return []

    def _feed(self, line: str) -> list[Event]:
        event = decode(_decoder, line)
        if event is None:
            self._keep_unparsed(line)
            return []
        if isinstance(event, _Init):
            self._model = event.model or self._model
            if not event.session_id or event.session_id == self._session_id:
                return []
            self._session_id = event.session_id
            return [SessionStarted(backend_session_id=event.session_id, model=event.model)]
        if isinstance(event, _Message):
            if event.role != "assistant" or not isinstance(event.content, str) or not event.content:
                return []
            text = event.content
            if not self._segments[-1] and any(self._segments[:-1]):
                text = "\n\n" + text
            self._segments[-1] += event.content
            return [TextDelta(text=text)]
        if isinstance(event, (_ToolUse, _ToolResult)):
            # Text after a tool call is a new answer; only the last one is the result.
            if self._segments[-1]:
                self._segments.append("")
            return self._tool(event)
        if isinstance(event, _Error):
            # severity "warning" (e.g. loop detection) does not fail the turn.
            if event.severity == "error" and isinstance(event.message, str):
                self._error_event = unwrap_api_error(event.message)
                return [ErrorEvent(message=self._error_event)]
            return []
        return self._on_result(event)

    def _tool(self, event: _ToolUse | _ToolResult) -> list[Event]:
        ident = event.tool_id
        if not isinstance(ident, str) or not ident:
            return []
        at = timestamp(event.timestamp)
        if isinstance(event, _ToolUse):
            if ident in self._tools:
                return []
            name = event.tool_name if isinstance(event.tool_name, str) and event.tool_name \
                else "unknown"
            kind = TOOL_KINDS.get(name, "mcp" if name.startswith("mcp_") else "other")
            self._tools[ident] = kind
            args, workdir = event.parameters, self._request.workdir
            return [ToolCallEvent(id=ident, name=name, kind=kind,
                                  summary=toolcalls.summary(kind, args, workdir),
                                  input=toolcalls.cut_input(args),
                                  paths=toolcalls.call_paths(kind, args, workdir), at=at)]
        known = self._tools.get(ident)
        if known is None:
            return []
        kind = known
        error = event.error if isinstance(event.error, dict) else {}
        output = event.output if isinstance(event.output, str) and event.output else None
        message = error.get("message") if isinstance(error.get("message"), str) else None
        status: ToolStatus = "ok" if event.status == "success" else (
            "error" if event.status == "error" else "unknown")
        if error.get("type") in _DENIED:
            status = "denied"
        elif error.get("type") in _CANCELLED:
            status = "cancelled"
        exit_code = None
        if kind == "shell":
            exit_code = toolcalls.exit_code_in(output) or toolcalls.exit_code_in(message)
            if exit_code is not None and exit_code != 0 and status == "ok":
                status = "error"
        text = output if output is not None else message
        return [ToolResultEvent(id=ident, status=status, exit_code=exit_code,
                                output=toolcalls.clip(text) if text is not None else None, at=at)]

    def _reported_model(self) -> str | None:
        model = self._model or self._request.model
        if (model in (None, "auto") or model.startswith("auto-")) and self._by_model:
            # "auto" routes each turn: the router model is called first, the model that
            # answered last, so the last one named is the turn's model.
            return list(self._by_model)[-1]
        return model

    def _on_result(self, result: _Result) -> list[Event]:
        self._result = result
        events: list[Event] = []
        if result.stats is not None:
            self._usage = _stream_usage(result.stats)
            if result.stats.models:
                self._by_model = {
                    name: _stream_usage(_Stats(**msgspec.structs.asdict(m)))
                    for name, m in result.stats.models.items()
                }
            events.append(UsageEvent(usage=self._usage))
        if result.status == "error":
            events.append(ErrorEvent(message=_result_error(result)))
        return events

    def _keep_unparsed(self, line: str) -> None:
        # Bounded: a json-mode object is small; anything bigger is not one.
        if self._unparsed_size < 1_000_000:
            self._unparsed.append(line)
            self._unparsed_size += len(line)

    def finish(self, exit_code: int, stderr: str) -> TurnResult:
        error: str | None = None
        # The answer is the text after the last tool call (what came before is chatter).
        text = self._segments[-1] if self._tools else next(
            (s for s in reversed(self._segments) if s), "")
        if self._result is not None:
            if self._result.status == "error":
                error = _result_error(self._result)
        else:
            json_out = decode_object("\n".join(self._unparsed)) if self._unparsed else None
            if json_out is not None:
                self._read_json_mode(json_out)
                response = json_out.get("response")
                text = text or (response if isinstance(response, str) else "")
                error = _json_error(json_out)
            elif exit_code == 0:
                # Exit 0 yet no result: not stream-json output (extra args changed it?).
                error = self._error_event or "gemini ended without a result"
        if error is None and exit_code != 0:
            error = self._error_event or _stderr_error(stderr) or exit_message(NAME, exit_code)
        found = SESSION_NOT_FOUND.search(error or "") or SESSION_NOT_FOUND.search(stderr)
        return TurnResult(
            status="error" if error else "ok",
            text=text,
            error=error,
            backend_session_id=self._session_id,
            model=self._reported_model(),
            usage=self._usage,
            usage_by_model=self._by_model,
            session_not_found=bool(error and found),
        )

    def _read_json_mode(self, out: dict[str, Any]) -> None:
        if isinstance(out.get("session_id"), str) and self._session_id is None:
            self._session_id = out["session_id"]
        stats = out.get("stats")
        if isinstance(stats, dict) and isinstance(stats.get("models"), dict):
            self._usage = json_mode_usage(stats["models"])


def _stream_usage(stats: _Stats) -> Usage:
    """Usage from stream-mode ``result.stats``, which already sums every model used
    (the ``auto`` router's call included).

    ``input_tokens`` there is the whole prompt, cached part included; ``input`` is
    prompt − cached. ``output_tokens`` counts candidates only, while ``total_tokens``
    also counts thinking: output is taken as total − prompt so Usage.total equals
    gemini's total and thinking is billed as output, as the other vendors report it.
    """
    if stats.input_tokens is None and stats.models:
        return sum(
            (_stream_usage(_Stats(**msgspec.structs.asdict(m))) for m in stats.models.values()),
            Usage(),
        )
    prompt = stats.input_tokens or 0
    cached = stats.cached or 0
    candidates = stats.output_tokens or 0
    output = max(candidates, (stats.total_tokens or 0) - prompt)
    return Usage(
        input_tokens=stats.input if stats.input is not None else max(0, prompt - cached),
        output_tokens=output,
        cache_read_tokens=cached,
        reasoning_tokens=output - candidates,
    )


def json_mode_usage(models: dict[str, Any]) -> Usage:
    """Usage from json-mode ``stats.models``: the sum over every model used.

    Per model, ``tokens.prompt`` includes ``cached``, ``input`` is prompt − cached,
    ``candidates`` excludes ``thoughts``, and ``tool`` is prompt-side tool-use tokens.
    """
    total = Usage()
    for entry in models.values():
        tokens = entry.get("tokens") if isinstance(entry, dict) else None
        if not isinstance(tokens, dict):
            continue

        def n(key: str, tokens: dict[str, Any] = tokens) -> int:
            value = tokens.get(key)
            return value if isinstance(value, int) else 0

        uncached = n("input") if "input" in tokens else max(0, n("prompt") - n("cached"))
        total = total + Usage(
            input_tokens=uncached + n("tool"),
            output_tokens=n("candidates") + n("thoughts"),
            cache_read_tokens=n("cached"),
            reasoning_tokens=n("thoughts"),
        )
    return total


def _result_error(result: _Result) -> str:
    message = result.error.message if result.error else None
    return (
        unwrap_api_error(message)
        if isinstance(message, str) and message.strip()
        else "gemini reported an error"
    )


def _json_error(out: dict[str, Any]) -> str | None:
    error = out.get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return unwrap_api_error(error["message"])
    return None


def _stderr_error(stderr: str) -> str | None:
    # In json mode (and for some start-up failures) gemini prints its error object
    # on stderr after a stack trace: {"session_id": …, "error": {"message": …}}.
    lines = stderr.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("{"):
            obj = decode_object("\n".join(lines[i:]))
            if obj is not None and (message := _json_error(obj)):
                return message
    message = stderr_message(stderr, NOISE)
    if message is not None:
        report = _API_REPORT.match(message)
        if report:
            return unwrap_api_error(report.group(1))
    return message
