"""Codex CLI (``codex``) adapter.

Runs ``codex exec --json --skip-git-repo-check … -`` (resume: ``codex exec resume
--json --skip-git-repo-check … ID -``). The ``-`` prompt makes codex read the prompt
from stdin, whole and verbatim; a positional prompt would both be open to flag
parsing and make codex append any piped stdin to it. See docs/backends.md.
"""

from __future__ import annotations

import json
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
from clinvk.backends.jsonlines import decode
from clinvk.errors import UsageError
from clinvk.model import ApiRequest, ToolKind, ToolStatus, Usage

if TYPE_CHECKING:
    from clinvk.backends.settings import BackendConfig

NAME = "codex"

# Unified approval mode → codex sandbox_mode. codex exec never asks (its approval
# policy is "never"), so the sandbox alone decides what the agent may do. Given with
# -c rather than --sandbox because `codex exec resume` has no --sandbox flag.
SANDBOX_MODES = {"full-auto": "workspace-write", "read-only": "read-only"}
REFUSED_APPROVALS = {
    "auto-edit": "codex cannot auto-approve file edits without also running commands; "
    "use --approval full-auto (sandbox workspace-write)",
    "plan": "codex exec has no plan mode",
}

SESSION_NOT_FOUND = re.compile(r"no rollout found for thread id|thread not found", re.IGNORECASE)

# Harmless stderr lines codex prints on many runs.
NOISE = (
    re.compile(r"^WARNING: proceeding, even though we could not create PATH aliases"),
    re.compile(r"^Reading additional input from stdin"),
    re.compile(r"^warning: Codex could not find bubblewrap"),
    re.compile(r"^\d{4}-\d\d-\d\dT[\d:.]+Z\s+(TRACE|DEBUG|INFO|WARN)\b"),
)


class CodexBackend:
    name = NAME
    install_hint = "npm install -g @openai/codex"
    owned_flags = ("--json",)

    def __init__(self, name: str = NAME, config: BackendConfig | None = None) -> None:
        del name
        # Where the vendor process writes its rollouts (its env over clinvk's).
        self._env = dict(config.env) if config is not None else {}

    def invocation(self, request: Request, config: BackendConfig) -> Invocation:
        cmd = argv_rules.command(config, NAME)
        if request.resume_id is not None:
            argv_rules.check_value(request.resume_id, "resume id")
            argv = [cmd, "exec", "resume", "--json", "--skip-git-repo-check"]
            argv += _options(request, config)
            argv += [request.resume_id, "-"]
        else:
            argv = [cmd, "exec", "--json", "--skip-git-repo-check"]
            argv += _options(request, config)
            argv.append("-")
        return Invocation(
            argv=argv_rules.check_argv(argv),
            cwd=request.workdir,
            stdin=argv_rules.prompt_bytes(request.prompt),
            env=dict(config.env),
        )

    def parser(self, request: Request) -> CodexParser:
        return CodexParser(request, self._env)

    def interactive_invocation(self, request: Request, config: BackendConfig) -> Invocation:
        argv = [argv_rules.command(config, NAME)]
        # The terminal is stdin now, so a first prompt must go in argv, after "--".
        prompt = [request.prompt] if request.prompt else []
        if request.resume_id is not None:
            argv_rules.check_value(request.resume_id, "resume id")
            argv += ["resume", *_options(request, config), "--", request.resume_id, *prompt]
        else:
            argv += [*_options(request, config), *(["--", *prompt] if prompt else [])]
        # stdin None here means "the terminal": the runner must not redirect it.
        return Invocation(
            argv=argv_rules.check_argv(argv), cwd=request.workdir, env=dict(config.env)
        )


def _options(request: Request, config: BackendConfig) -> list[str]:
    args: list[str] = []
    model = argv_rules.model(request, config)
    if model:
        args += ["-m", model]
    if request.approval and request.approval != "default":
        if request.approval in REFUSED_APPROVALS:
            raise UsageError(REFUSED_APPROVALS[request.approval])
        args += ["-c", "sandbox_mode=" + _toml_string(SANDBOX_MODES[request.approval])]
    if request.system_prompt:
        if request.resume_id is not None:
            # Measured on 0.169: a resumed thread keeps the instructions it started
            # with and silently ignores new ones.
            raise UsageError(
                "codex keeps the system prompt a conversation started with; "
                "--system-prompt can only be given on its first turn"
            )
        args += ["-c", "developer_instructions=" + _toml_string(request.system_prompt)]
    # Already config `args` followed by --backend-arg values (see Request).
    args += request.extra_args
    return args


def _toml_string(value: str) -> str:
    # -c parses its value as TOML; a JSON string (non-ASCII kept) is a valid TOML
    # basic string, and quoting keeps codex from reading it as a number or table.
    return json.dumps(value, ensure_ascii=False)


class _ThreadStarted(msgspec.Struct, tag="thread.started", tag_field="type"):
    thread_id: str | None = None


class _Item(msgspec.Struct):
    id: Any = None
    type: str | None = None
    text: Any = None
    message: Any = None
    # Tool items: command_execution, file_change, mcp_tool_call, web_search, todo_list…
    command: Any = None
    aggregated_output: Any = None
    exit_code: Any = None
    status: Any = None
    changes: Any = None
    server: Any = None
    tool: Any = None
    arguments: Any = None
    result: Any = None
    error: Any = None
    query: Any = None
    items: Any = None
    prompt: Any = None


class _ItemStarted(msgspec.Struct, tag="item.started", tag_field="type"):
    item: _Item | None = None


class _ItemCompleted(msgspec.Struct, tag="item.completed", tag_field="type"):
    item: _Item | None = None


class _Usage(msgspec.Struct):
    input_tokens: int | None = None
    cached_input_tokens: int | None = None
    cache_write_input_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_output_tokens: int | None = None


class _TurnCompleted(msgspec.Struct, tag="turn.completed", tag_field="type"):
    usage: _Usage | None = None


class _ErrorBody(msgspec.Struct):
    message: Any = None


class _TurnFailed(msgspec.Struct, tag="turn.failed", tag_field="type"):
    error: _ErrorBody | None = None


class _Error(msgspec.Struct, tag="error", tag_field="type"):
    message: Any = None


_decoder = msgspec.json.Decoder(
    _ThreadStarted | _ItemStarted | _ItemCompleted | _TurnCompleted | _TurnFailed | _Error
)

# Item types that are not tool calls; every other type is one (unknown ones as "other").
_NOT_TOOLS = {"agent_message", "reasoning", "error", "user_message"}
TOOL_KINDS: dict[str, ToolKind] = {
    "command_execution": "shell", "file_change": "edit", "mcp_tool_call": "mcp",
    "web_search": "web", "collab_tool_call": "agent", "todo_list": "other",
}


class CodexParser:
    """Reads one ``codex exec --json`` run.

    ``turn.completed`` carries the thread's running totals, so this turn's usage is
    the total minus ``request.previous_usage_total``.
    """

    def __init__(self, request: Request, env: dict[str, str] | None = None) -> None:
        self._request = request
        self._env = env or {}
        self._session_id: str | None = None
        # codex --json never names its model: the requested one, else its config's.
        self._model = request.model or configured_model(request.extra_args)
        self._messages: list[str] = []
        self._total: Usage | None = None
        self._usage: Usage | None = None
        self._completed = False
        self._failed: str | None = None
        self._last_error: str | None = None
        # The agent_message after the last tool call: the answer so far.
        self._answer: str | None = None
        self._started: set[str] = set()

    def feed(self, line: str) -> list[Event]:
        try:
            return self._feed(line)
        except Exception:  # noqa: BLE001 - Parser.feed must never raise on vendor output
            return []

    def _feed(self, line: str) -> list[Event]:
        event = decode(_decoder, line)
        if isinstance(event, _ThreadStarted):
            if not event.thread_id or event.thread_id == self._session_id:
                return []
            self._session_id = event.thread_id
            return [SessionStarted(backend_session_id=event.thread_id, model=self._model)]
        if isinstance(event, _ItemStarted):
            item = event.item
            if item is None or not _is_tool(item) or item.id in self._started:
                return []
            self._started.add(item.id)
            self._answer = None
            return [self._call(item)]
        if isinstance(event, _ItemCompleted):
            item = event.item
            if item is not None and _is_tool(item):
                self._answer = None
                timed = item.id in self._started
                events: list[Event] = [] if timed else [self._call(item)]
                self._started.discard(item.id)
                return [*events, self._result(item, timed)]
            # item type "error" is a non-fatal warning (e.g. unknown model metadata);
            # reasoning is not answer text.
            if item is None or item.type != "agent_message" or not isinstance(item.text, str):
                return []
            prefix = "\n\n" if self._messages else ""
            self._messages.append(item.text)
            self._answer = item.text
            return [TextDelta(text=prefix + item.text)] if item.text else []
        if isinstance(event, _TurnCompleted):
            self._completed = True
            if event.usage is None:
                return []
            self._total = _usage(event.usage)
            self._usage = self._per_turn(self._total)
            return [UsageEvent(usage=self._usage)] if self._usage is not None else []
        if isinstance(event, _TurnFailed):
            message = event.error.message if event.error else None
            self._failed = unwrap_api_error(message) if isinstance(message, str) else "turn failed"
            # The same words already came as an `error` event just before.
            return [] if self._failed == self._last_error else [ErrorEvent(message=self._failed)]
        if isinstance(event, _Error) and isinstance(event.message, str):
            self._last_error = unwrap_api_error(event.message)
            return [ErrorEvent(message=self._last_error)]
        return []

    def _call(self, item: _Item) -> ToolCallEvent:
        kind, args = _kind_and_input(item)
        workdir = self._request.workdir
        name = item.type or "unknown"
        if item.type == "mcp_tool_call" and isinstance(item.tool, str) and item.tool:
            name = f"{item.server}.{item.tool}" if isinstance(item.server, str) else item.tool
        if item.type == "file_change":
            paths = _changed_paths(item, workdir)
            summary = toolcalls.one_line(", ".join(
                f"{c.get('kind', 'update')} {toolcalls.shown_path(c['path'], workdir)}"
                for c in _changes(item)))
        else:
            # An MCP call's own arguments say which file it touches.
            inner = item.arguments if item.type == "mcp_tool_call" else args
            paths = toolcalls.call_paths(kind, inner, workdir)
            summary = toolcalls.summary(kind, inner, workdir)
            if item.type == "mcp_tool_call":
                summary = toolcalls.one_line(f"{name} {summary}".strip())
            elif item.type == "todo_list" and isinstance(item.items, list):
                summary = f"{len(item.items)} item(s)"
        return ToolCallEvent(id=item.id, name=name, kind=kind, summary=summary,
                             input=toolcalls.cut_input(args), paths=paths)

    def _result(self, item: _Item, timed: bool) -> ToolResultEvent:
        status: ToolStatus = "ok"
        raw = item.status if isinstance(item.status, str) else ""
        exit_code = item.exit_code if isinstance(item.exit_code, int) and not isinstance(
            item.exit_code, bool) else None
        if raw == "declined":
            status = "denied"
        elif raw == "failed" or (exit_code is not None and exit_code != 0):
            status = "error"
        elif raw == "in_progress":
            status = "unknown"
        output = _output(item)
        paths = _changed_paths(item, self._request.workdir) if item.type == "file_change" else []
        return ToolResultEvent(id=item.id, status=status, exit_code=exit_code,
                               output=toolcalls.clip(output) if output is not None else None,
                               paths=paths, timed=timed)

    def _per_turn(self, total: Usage) -> Usage | None:
        previous = self._request.previous_usage_total
        if previous is not None:
            return total - previous
        # A resumed thread's total includes turns clinvk has no total for: this
        # turn's share is unknown, and the thread total would overcount it.
        return total if self._request.resume_id is None else None

    def finish(self, exit_code: int, stderr: str) -> TurnResult:
        error = self._failed
        if error is None and exit_code != 0:
            error = (
                self._last_error or stderr_message(stderr, NOISE) or exit_message(NAME, exit_code)
            )
        if error is None and not (self._completed or self._messages):
            # Exit 0 yet no turn: not --json output (extra args changed it?).
            error = "codex ended without finishing the turn"
        found = SESSION_NOT_FOUND.search(error or "") or SESSION_NOT_FOUND.search(stderr)
        return TurnResult(
            status="error" if error else "ok",
            text=self._answer or "",
            error=error,
            backend_session_id=self._session_id,
            model=self._model,
            usage=self._usage,
            usage_total=self._total,
            requests=self._requests(),
            session_not_found=bool(error and found),
        )

    def _requests(self) -> list[ApiRequest] | None:
        """This turn's API requests, from codex's own rollout of the thread (its
        ``--json`` output has only the turn's total)."""
        if self._usage is None or self._total is None or not self._session_id:
            return None
        before = self._request.previous_usage_total or Usage()
        try:
            from clinvk.backends import codex_rollout

            path = codex_rollout.find(codex_rollout.home(self._env), self._session_id)
            return None if path is None else codex_rollout.requests(path, before, self._total)
        except Exception:  # noqa: BLE001 - finish() never raises: the turn is priced as one request
            return None


def _is_tool(item: _Item) -> bool:
    return isinstance(item.id, str) and bool(item.id) and item.type not in _NOT_TOOLS \
        and isinstance(item.type, str)


def _kind_and_input(item: _Item) -> tuple[ToolKind, Any]:
    """The call's kind and its arguments: what the agent asked for, not what came back."""
    kind = TOOL_KINDS.get(item.type or "", "other")
    if item.type == "command_execution":
        return kind, {"command": item.command}
    if item.type == "file_change":
        if _changes(item) and all(c.get("kind") == "add" for c in _changes(item)):
            kind = "write"
        return kind, {"changes": _changes(item)}
    if item.type == "mcp_tool_call":
        return kind, {"server": item.server, "tool": item.tool, "arguments": item.arguments}
    if item.type == "web_search":
        return kind, {"query": item.query}
    if item.type == "todo_list":
        return kind, {"items": item.items}
    if item.type == "collab_tool_call":
        return kind, {"tool": item.tool, "prompt": item.prompt}
    return kind, None


def _changes(item: _Item) -> list[dict[str, Any]]:
    if not isinstance(item.changes, list):
        return []
    return [c for c in item.changes if isinstance(c, dict) and isinstance(c.get("path"), str)]


def _changed_paths(item: _Item, workdir: str) -> list[str]:
    return toolcalls.paths_in({"paths": [c["path"] for c in _changes(item)]}, ("paths",), workdir)


def _output(item: _Item) -> str | None:
    if isinstance(item.aggregated_output, str):
        return item.aggregated_output
    if isinstance(item.error, dict) and isinstance(item.error.get("message"), str):
        return str(item.error["message"])
    if isinstance(item.result, dict):
        return toolcalls.text_of(item.result.get("content"))
    return None


def configured_model(extra_args: list[str], environ: dict[str, str] | None = None) -> str | None:
    """The model codex will use when clinvk names none: `-m`/`--model` among the extra
    args, else `model` in $CODEX_HOME/config.toml (default ~/.codex)."""
    import os
    import tomllib

    for i, arg in enumerate(extra_args):
        if arg in ("-m", "--model") and i + 1 < len(extra_args):
            return extra_args[i + 1]
        if arg.startswith("--model="):
            return arg.split("=", 1)[1]
    env = os.environ if environ is None else environ
    home = env.get("CODEX_HOME") or os.path.join(env.get("HOME") or os.path.expanduser("~"), ".codex")
    try:
        with open(os.path.join(home, "config.toml"), "rb") as f:
            value = tomllib.load(f).get("model")
    except (OSError, tomllib.TOMLDecodeError):
        return None
    return value if isinstance(value, str) and value else None


def _usage(raw: _Usage) -> Usage:
    # codex's input_tokens counts cached (and cache-write) tokens too, as the
    # Responses API does; clinvk's input_tokens is the uncached rest, so that
    # Usage.total equals codex's input + output.
    cached = raw.cached_input_tokens or 0
    written = raw.cache_write_input_tokens or 0
    return Usage(
        input_tokens=max(0, (raw.input_tokens or 0) - cached - written),
        output_tokens=raw.output_tokens or 0,
        cache_read_tokens=cached,
        cache_write_tokens=written,
        reasoning_tokens=raw.reasoning_output_tokens or 0,
    )
