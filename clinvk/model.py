"""The session record: what one conversation with one vendor CLI looks like on disk.

Schema rules: ``version`` is always written; every field added after version 1 has a
default so that older files keep loading; a file with a newer version than this
code knows is refused rather than half-read.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec

SCHEMA_VERSION = 3

# Bounds of every number in the record, in one place: the store's decoder, import and
# the turn's own check of what a vendor reported all enforce them, so no record can
# hold a value that a derived view (the index, sums, JSON output) cannot carry.
TOKENS_MAX = 2**53  # the largest count a JSON number holds exactly everywhere
COST_MAX = 1e12  # US dollars, per turn
SECONDS_MAX = 1e9  # about 31 years
Tokens = Annotated[int, msgspec.Meta(ge=0, le=TOKENS_MAX)]
Count = Annotated[int, msgspec.Meta(ge=0, le=TOKENS_MAX)]
Dollars = Annotated[float, msgspec.Meta(ge=0, le=COST_MAX)]
Seconds = Annotated[float, msgspec.Meta(ge=0, le=SECONDS_MAX)]
ExitCode = Annotated[int, msgspec.Meta(ge=-(2**31), le=2**32)]
Pid = Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]
Version = Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]

# What a tag and a title may be, on the command line and in an imported record alike.
TAG_PATTERN = re.compile(r"[\w][\w.:/-]{0,63}")
TAG_RULE = "a tag is 1-64 letters, digits, _ . : / - (starting with a letter or digit)"
TITLE_MAX = 200

SessionStatus = Literal["active", "completed", "error", "paused", "running"]
STATUSES: tuple[str, ...] = ("active", "completed", "error", "paused", "running")

Origin = Literal["clinvk", "native"]
ORIGINS: tuple[str, ...] = ("clinvk", "native")

TurnStatus = Literal["running", "ok", "error", "timeout", "cancelled", "interrupted"]
CostSource = Literal["reported", "computed", "unpriced"]
ToolKind = Literal["read", "edit", "write", "shell", "search", "web", "mcp", "agent", "other"]
TOOL_KINDS: tuple[str, ...] = ("read", "edit", "write", "shell", "search", "web", "mcp", "agent",
                               "other")
ToolStatus = Literal["ok", "error", "denied", "cancelled", "unknown"]
TOOL_STATUSES: tuple[str, ...] = ("ok", "error", "denied", "cancelled", "unknown")


class Usage(msgspec.Struct, omit_defaults=False):
    """Tokens of one turn (never cumulative)."""

    input_tokens: Tokens = 0
    output_tokens: Tokens = 0
    cache_read_tokens: Tokens = 0
    cache_write_tokens: Tokens = 0
    reasoning_tokens: Tokens = 0

    @property
    def total(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_read_tokens
            + self.cache_write_tokens
        )

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
        )

    def __sub__(self, other: Usage) -> Usage:
        # Used for vendors that report thread totals (codex); never below zero.
        return Usage(
            max(0, self.input_tokens - other.input_tokens),
            max(0, self.output_tokens - other.output_tokens),
            max(0, self.cache_read_tokens - other.cache_read_tokens),
            max(0, self.cache_write_tokens - other.cache_write_tokens),
            max(0, self.reasoning_tokens - other.reasoning_tokens),
        )


class ApiRequest(msgspec.Struct, array_like=True):
    """One API request of a turn (schema version 3), written as a JSON array:
    ``[input, output, cache_read, cache_write, at, cost_usd]``.

    Tokens as in Usage (``input`` uncached). A long-context price tier applies per API
    request, so each request is priced at the tier of its own prompt (clinvk.pricing);
    ``cost_usd`` is its share of the turn's cost, ``at`` when it was made (None: the
    vendor did not say), which decides the day its usage counts on. The requests of a
    turn add up to its usage (what a vendor left unattributed is the last request's).
    """

    input_tokens: Tokens = 0
    output_tokens: Tokens = 0
    cache_read_tokens: Tokens = 0
    cache_write_tokens: Tokens = 0
    at: datetime | None = None
    cost_usd: Dollars | None = None

    @property
    def prompt(self) -> int:
        """The request's input as price sheets count it: uncached, cache read and write."""
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens


class ToolCall(msgspec.Struct, kw_only=True):
    """One tool call of a turn, normalized across vendors (docs/sessions.md#tool-calls).

    Sizes are bounded where the call is recorded (clinvk.toolcalls): ``input`` is kept
    whole up to 8 KB of JSON, ``output_preview`` holds the first 2 KB of the result.
    """

    id: str
    # The vendor's own name (Read, read_file), or codex's item type (command_execution).
    name: str
    kind: ToolKind = "other"
    # One line: the path, the command, the pattern.
    summary: str = ""
    input: Any = None
    started_at: datetime | None = None
    duration_s: Seconds | None = None
    status: ToolStatus = "unknown"
    exit_code: ExitCode | None = None
    output_preview: str | None = None
    # Absolute paths of the files the call read or changed.
    paths: list[str] = msgspec.field(default_factory=list)


class Turn(msgspec.Struct):
    index: Count
    prompt: str
    started_at: datetime
    response: str = ""
    duration_s: Seconds | None = None
    exit_code: ExitCode | None = None
    status: TurnStatus = "running"
    error: str | None = None
    backend_session_id: str | None = None
    model: str | None = None
    usage: Usage | None = None
    # The vendor's own running total where it reports one (codex), kept so the next
    # turn's per-turn usage can be computed as a difference.
    usage_total: Usage | None = None
    # Each model's share where the vendor used several in one turn (gemini's router).
    usage_by_model: dict[str, Usage] | None = None
    # Each API request of the turn, in order (schema version 3); None when the vendor
    # reported only the turn's sums (or the record predates the field): then the turn
    # is priced as one request.
    requests: list[ApiRequest] | None = None
    cost_usd: Dollars | None = None
    cost_source: CostSource = "unpriced"
    # Where a computed price came from, e.g. "builtin 2026-11-01" or "config".
    price_source: str | None = None
    # What clinvk left out of this turn and why, e.g. a usage figure the vendor
    # reported out of range (docs/sessions.md#bounds).
    warning: str | None = None
    # What the agent did before answering, in order (schema version 2).
    tool_calls: list[ToolCall] = msgspec.field(default_factory=list)
    # Absolute paths the turn's edit/write calls changed, each once, in order.
    files_changed: list[str] = msgspec.field(default_factory=list)
    # The assistant's texts that came before a tool call: never part of `response`.
    chatter: list[str] = msgspec.field(default_factory=list)


class Session(msgspec.Struct):
    id: str
    backend: str
    workdir: str
    created_at: datetime
    last_used_at: datetime
    # A record without a version predates the field: version 1. SessionStore.save
    # always writes SCHEMA_VERSION.
    version: Version = 1
    title: str = ""
    backend_session_id: str | None = None
    model: str | None = None
    status: SessionStatus = "active"
    tags: list[str] = msgspec.field(default_factory=list)
    parent_id: str | None = None
    turns: list[Turn] = msgspec.field(default_factory=list)
    # Set while a turn runs: the pid of the clinvk process running it, that
    # process's start time (to tell a reused pid apart), the vendor's process group
    # and its leader's start time (so a clinvk that finds the runner dead can stop the
    # vendor without ever signalling a reused pid).
    pid: Pid | None = None
    pid_start: Annotated[float, msgspec.Meta(ge=0)] | None = None
    pgid: Pid | None = None
    pgid_start: Annotated[float, msgspec.Meta(ge=0)] | None = None
    # Why the last turn did not succeed: error | timeout | cancelled | interrupted.
    reason: str | None = None
    # "native": adopted from a vendor CLI's own transcript by `clinvk sessions sync`.
    origin: Origin = "clinvk"

    def clear_runner(self) -> None:
        """Forget the processes of a turn that is over."""
        self.pid = self.pid_start = self.pgid = self.pgid_start = None

    def usage_total(self) -> Usage:
        total = Usage()
        for turn in self.turns:
            if turn.usage is not None:
                total = total + turn.usage
        return total

    def tokens(self) -> int | None:
        """Total tokens, or None when no turn reported usage."""
        if not any(t.usage is not None for t in self.turns):
            return None
        return self.usage_total().total

    def cost(self) -> float | None:
        costs = [t.cost_usd for t in self.turns if t.cost_usd is not None]
        return sum(costs) if costs else None

    def interrupt(self, note: str) -> None:
        """Settle a record left `running` by a process that is gone: status error
        (interrupted), no runtime fields, its running turn interrupted with ``note``."""
        self.status, self.reason = "error", "interrupted"
        self.clear_runner()
        if self.turns and self.turns[-1].status == "running":
            turn = self.turns[-1]
            turn.status = "interrupted"
            turn.error = turn.error or note


def out_of_bounds(value: Any, kind: Any) -> str | None:
    """Why ``value`` does not fit the record type ``kind`` (e.g. Usage, Dollars), or None."""
    try:
        msgspec.convert(msgspec.to_builtins(value), kind)
    except msgspec.ValidationError as exc:
        return str(exc)
    return None


def title_problem(title: str) -> str | None:
    """What is wrong with a session title, or None: one line, at most TITLE_MAX characters."""
    if len(title) > TITLE_MAX:
        return f"the title is longer than {TITLE_MAX} characters"
    if "\n" in title or "\r" in title:
        return "the title holds a line break"
    return None


def utcnow() -> datetime:
    return datetime.now(UTC)


def make_title(prompt: str) -> str:
    """First non-empty line of the prompt, at most 80 characters."""
    for line in prompt.splitlines():
        line = line.strip()
        if line:
            return line if len(line) <= 80 else line[:79] + "…"
    return ""
