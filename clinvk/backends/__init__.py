"""Backend adapters: pure translation between clinvk and one vendor CLI.

An adapter never spawns anything. It turns a :class:`Request` into an
:class:`Invocation` (argv, stdin, env, cwd), then a :class:`Parser` turns the vendor's
stdout lines into normalized :data:`Event` values and, once the process exited, the
exit code and stderr into a :class:`TurnResult`. ``clinvk.runner`` does the spawning.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

import msgspec

from clinvk.model import ApiRequest, CostSource, ToolKind, ToolStatus, Usage

if TYPE_CHECKING:
    from collections.abc import Iterable

    from clinvk.backends.settings import BackendConfig

ApprovalMode = Literal["default", "auto-edit", "full-auto", "plan", "read-only"]


class Request(msgspec.Struct, kw_only=True):
    """What clinvk wants from one turn, in vendor-neutral terms."""

    prompt: str
    workdir: str
    model: str | None = None
    # The vendor's conversation id to resume; None starts a new conversation.
    resume_id: str | None = None
    system_prompt: str | None = None
    approval: ApprovalMode | None = None
    # Extra argv for the vendor: config `args` first, then --backend-arg values.
    extra_args: list[str] = msgspec.field(default_factory=list)
    # The vendor's running usage total after the previous turn (codex reports thread
    # totals; the parser subtracts this to get this turn's usage).
    previous_usage_total: Usage | None = None
    interactive: bool = False


class Invocation(msgspec.Struct, kw_only=True):
    argv: list[str]
    cwd: str
    # Bytes to write to the vendor's stdin then close it; None means stdin is /dev/null.
    stdin: bytes | None = None
    # Variables to set on top of the inherited environment.
    env: dict[str, str] = msgspec.field(default_factory=dict)


# Normalized events: the same schema for every backend (docs/json-output.md).
class SessionStarted(msgspec.Struct, tag="session", tag_field="type"):
    backend_session_id: str
    model: str | None = None


class TextDelta(msgspec.Struct, tag="text", tag_field="type"):
    text: str


class UsageEvent(msgspec.Struct, tag="usage", tag_field="type"):
    usage: Usage
    cost_usd: float | None = None


class ErrorEvent(msgspec.Struct, tag="error", tag_field="type"):
    message: str


class ResultEvent(msgspec.Struct, tag="result", tag_field="type"):
    status: Literal["ok", "error"]
    text: str = ""
    error: str | None = None


class ToolCallEvent(msgspec.Struct, tag="tool_call", tag_field="type", kw_only=True):
    """The agent called a tool (its arguments already cut to size: clinvk.toolcalls)."""

    id: str
    name: str
    kind: ToolKind = "other"
    summary: str = ""
    input: Any = None
    paths: list[str] = msgspec.field(default_factory=list)
    # The vendor's own time for the call, where it gives one.
    at: datetime | None = None


class ToolResultEvent(msgspec.Struct, tag="tool_result", tag_field="type", kw_only=True):
    """A tool call ended (``output`` is already the preview: clinvk.toolcalls.clip)."""

    id: str
    status: ToolStatus = "ok"
    exit_code: int | None = None
    output: str | None = None
    # Paths only the result names (codex reports a file_change once it is done).
    paths: list[str] = msgspec.field(default_factory=list)
    at: datetime | None = None
    # False when the vendor reported the call only once it was over: no duration.
    timed: bool = True


Event = (SessionStarted | TextDelta | UsageEvent | ErrorEvent | ResultEvent | ToolCallEvent
         | ToolResultEvent)


class TurnResult(msgspec.Struct, kw_only=True):
    """What a finished vendor process amounted to."""

    status: Literal["ok", "error"]
    text: str = ""
    error: str | None = None
    backend_session_id: str | None = None
    model: str | None = None
    usage: Usage | None = None
    usage_total: Usage | None = None
    # Where a vendor used several models in one turn (gemini's router + main model),
    # each model's share, so the turn can be priced model by model.
    usage_by_model: dict[str, Usage] | None = None
    # Each API request of the turn, where the vendor reports them one by one (claude's
    # assistant messages); None: only the turn's sums are known.
    requests: list[ApiRequest] | None = None
    cost_usd: float | None = None
    cost_source: CostSource = "unpriced"
    # The vendor said it has no such conversation to resume (clinvk exits 4).
    session_not_found: bool = False


class Parser(Protocol):
    """Per-turn, stateful reader of one vendor process's output."""

    def feed(self, line: str) -> list[Event]:
        """One stdout line (without the newline) → zero or more events. Never raises."""
        ...

    def finish(self, exit_code: int, stderr: str) -> TurnResult:
        """Called once after the process exited, with everything it wrote on stderr."""
        ...


class Backend(Protocol):
    name: str
    # Shown when the command is missing, e.g. "npm install -g @openai/codex".
    install_hint: str
    # Vendor flags that set the machine-readable mode clinvk parses; extra arguments
    # may not repeat them (see argv.check_owned).
    owned_flags: tuple[str, ...]

    def invocation(self, request: Request, config: BackendConfig) -> Invocation: ...

    def parser(self, request: Request) -> Parser: ...

    def interactive_invocation(self, request: Request, config: BackendConfig) -> Invocation:
        """The vendor's own interactive resume (for `clinvk resume -i`)."""
        ...


# The registry: adapter name → "module:Class", imported only when used. Every adapter
# class is built as Class(backend_name, backend_config); built-ins and the `command`
# adapter (what a user-defined backend uses) are registered the same way.
ADAPTERS: dict[str, str] = {}


def register(adapter: str, target: str) -> None:
    ADAPTERS[adapter] = target


register("claude", "clinvk.backends.claude:ClaudeBackend")
register("codex", "clinvk.backends.codex:CodexBackend")
register("gemini", "clinvk.backends.gemini:GeminiBackend")
register("command", "clinvk.backends.command:CommandBackend")

# Adapters that are backends by their own name; `command` needs a config table.
BUILTIN_BACKENDS = tuple(name for name in ADAPTERS if name != "command")


def backend_names(configured: Iterable[str]) -> list[str]:
    """Every backend there is: the built-in ones, then those the config defines."""
    return [*BUILTIN_BACKENDS, *(n for n in configured if n not in BUILTIN_BACKENDS)]


def get_backend(name: str, config: BackendConfig) -> Backend:
    """The adapter for a backend name: built-in, or the one its config table names."""
    import importlib

    from clinvk.errors import UsageError

    adapter = config.adapter or name
    target = ADAPTERS.get(adapter)
    if target is None:
        raise UsageError(
            f"unknown backend: {name}",
            hint=f"built-in backends are {', '.join(BUILTIN_BACKENDS)}; define others in "
            'config under [backends.NAME] with adapter = "command"',
        )
    module, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module), attr)
    backend: Backend = cls(name, config)
    return backend
