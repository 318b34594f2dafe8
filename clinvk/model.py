"""The session record: what one conversation with one vendor CLI looks like on disk.

Schema rules: ``version`` is always written; every field added after version 1 has a
default so that older files keep loading; a file with a newer version than this
code knows is refused rather than half-read.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

import msgspec

SCHEMA_VERSION = 1

SessionStatus = Literal["active", "completed", "error", "paused", "running"]
STATUSES: tuple[str, ...] = ("active", "completed", "error", "paused", "running")

TurnStatus = Literal["running", "ok", "error", "timeout", "cancelled", "interrupted"]
CostSource = Literal["reported", "computed", "unpriced"]


class Usage(msgspec.Struct, omit_defaults=False):
    """Tokens of one turn (never cumulative)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0

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


class Turn(msgspec.Struct):
    index: int
    prompt: str
    started_at: datetime
    response: str = ""
    duration_s: float | None = None
    exit_code: int | None = None
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
    cost_usd: float | None = None
    cost_source: CostSource = "unpriced"
    # Where a computed price came from, e.g. "builtin 2026-11-01" or "config".
    price_source: str | None = None


class Session(msgspec.Struct):
    id: str
    backend: str
    workdir: str
    created_at: datetime
    last_used_at: datetime
    version: int = SCHEMA_VERSION
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
    pid: int | None = None
    pid_start: float | None = None
    pgid: int | None = None
    pgid_start: float | None = None
    # Why the last turn did not succeed: error | timeout | cancelled | interrupted.
    reason: str | None = None

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


def utcnow() -> datetime:
    return datetime.now(UTC)


def make_title(prompt: str) -> str:
    """First non-empty line of the prompt, at most 80 characters."""
    for line in prompt.splitlines():
        line = line.strip()
        if line:
            return line if len(line) <= 80 else line[:79] + "…"
    return ""
