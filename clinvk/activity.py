"""What the agent did during a turn besides answering: its tool calls and the text it
wrote before them, recorded into the Turn as the adapter's events arrive.

The events come from the adapters (clinvk.backends: ToolCallEvent, ToolResultEvent,
TextDelta), already cut to size; this module keeps them in order, times each call,
and at the end of the turn settles the calls that never got a result and lists the
files the turn changed (docs/sessions.md#tool-calls).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from clinvk import toolcalls
from clinvk.model import ExitCode, Seconds, ToolCall, out_of_bounds, utcnow

if TYPE_CHECKING:
    from datetime import datetime

    from clinvk.backends import ToolCallEvent, ToolResultEvent
    from clinvk.model import Turn, TurnStatus

# Statuses of a call that changed nothing, whatever its kind.
_NO_CHANGE = ("error", "denied", "cancelled")


class Activity:
    """Records one turn's tool calls and chatter into ``turn`` as they happen."""

    def __init__(self, turn: Turn) -> None:
        self.turn = turn
        # Open calls by id: the call, when clinvk saw it (monotonic), the vendor's time.
        self._open: dict[str, tuple[ToolCall, float, datetime | None]] = {}
        self._ids: dict[str, ToolCall] = {}
        # The text since the last tool call: chatter once a call follows it.
        self._tail: list[str] = []
        self.dropped = 0

    def text(self, delta: str) -> None:
        self._tail.append(delta)

    def answer(self) -> str:
        """The text after the last tool call (the answer, when the vendor names none)."""
        return "".join(self._tail).lstrip("\n")

    def call(self, event: ToolCallEvent) -> ToolCall | None:
        """Record a call; None when it is a repeat or past the per-turn limit."""
        if event.id in self._ids:
            return None
        chatter = self.answer().strip()
        if chatter:
            self.turn.chatter.append(chatter)
        self._tail = []
        if len(self.turn.tool_calls) >= toolcalls.CALLS_MAX:
            self.dropped += 1
            return None
        call = ToolCall(
            id=event.id[: toolcalls.NAME_MAX], name=event.name[: toolcalls.NAME_MAX],
            kind=event.kind, summary=event.summary, input=event.input,
            started_at=event.at or utcnow(), paths=list(event.paths))
        self.turn.tool_calls.append(call)
        self._ids[event.id] = call
        self._open[event.id] = (call, time.monotonic(), event.at)
        return call

    def result(self, event: ToolResultEvent) -> ToolCall | None:
        """Record how a call ended; None for a call this turn never saw start."""
        call = self._ids.get(event.id)
        if call is None:
            return None
        opened = self._open.pop(event.id, None)
        call.status = event.status
        if event.exit_code is not None and not out_of_bounds(event.exit_code, ExitCode):
            call.exit_code = event.exit_code
        if event.output is not None:
            call.output_preview = event.output
        for path in event.paths:
            if path not in call.paths and len(call.paths) < toolcalls.PATHS_MAX:
                call.paths.append(path)
        if opened is not None and event.timed:
            _, seen, vendor_at = opened
            if vendor_at is not None and event.at is not None:
                duration = (event.at - vendor_at).total_seconds()
            else:
                duration = time.monotonic() - seen
            if not out_of_bounds(duration, Seconds):
                call.duration_s = round(duration, 3)
        return call

    def settle(self, status: TurnStatus) -> list[ToolCall]:
        """At the end of the turn: calls still open are cancelled when the turn was
        stopped (else their outcome is unknown); files_changed is filled in. Returns the
        calls that were still open."""
        left = [call for call, _, _ in self._open.values()]
        stopped = status in ("timeout", "cancelled", "interrupted")
        for call in left:
            if stopped and call.status == "unknown":
                call.status = "cancelled"
        self._open.clear()
        changed: dict[str, None] = {}
        for call in self.turn.tool_calls:
            if call.kind in ("edit", "write") and call.status not in _NO_CHANGE:
                changed.update(dict.fromkeys(call.paths))
        self.turn.files_changed = list(changed)
        return left

    def warning(self) -> str | None:
        if not self.dropped:
            return None
        return (f"{self.dropped} tool call(s) past the first {toolcalls.CALLS_MAX} "
                "were not recorded")


def line(call: ToolCall) -> str:
    """One line for a person: ``▸ Read notes.txt``, ``▸ bash: npm test (exit 1)``."""
    if call.kind == "shell":
        head = f"bash: {call.summary}" if call.summary else call.name
    else:
        head = f"{call.name} {call.summary}".rstrip()
    return f"▸ {head}{outcome(call)}"


def outcome(call: ToolCall) -> str:
    """`` (exit 1)``, `` (denied)``…: what a person should notice about how a call ended."""
    if call.exit_code not in (None, 0):
        return f" (exit {call.exit_code})"
    if call.status in ("error", "denied", "cancelled"):
        return f" ({call.status})"
    return ""


def took(seconds: float | None) -> str:
    """A call's duration for a person: ``0.03s``, ``1.2s``, ``-`` when unknown."""
    if seconds is None:
        return "-"
    return f"{seconds:.2f}s" if seconds < 1 else f"{seconds:.1f}s"
