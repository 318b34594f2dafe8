"""What a vendor transcript reader produces, and the pieces every reader shares.

A reader streams its file line by line (never the whole file at once) and returns a
``Transcript``: the conversation's facts and one ``Draft`` per user prompt. A file that
cannot be read whole (bad JSON, cut off mid-line, a format this code does not know)
raises ``TranscriptError``: it is skipped, never half adopted.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from clinvk.errors import ClinvkError
from clinvk.model import ApiRequest, Seconds, ToolCall, Turn, TurnStatus, Usage, out_of_bounds

T = TypeVar("T")

# Calls whose status says nothing was changed (as clinvk.activity counts them).
_NO_CHANGE = ("error", "denied", "cancelled")


class TranscriptError(ClinvkError):
    """A transcript that cannot be adopted as it is now."""


@dataclass
class Draft:
    """One user prompt and everything up to the next one."""

    prompt: str
    started_at: datetime
    ended_at: datetime
    model: str | None = None
    usage: Usage | None = None
    # A cost the vendor itself reported for exactly this turn.
    cost_usd: float | None = None
    error: str | None = None
    # The vendor wrote the turn's end (a final answer, a completion event).
    done: bool = False
    # Texts since the last tool call (the answer so far) and those before it.
    pending: list[str] = field(default_factory=list)
    chatter: list[str] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    # The turn's API requests, where the transcript gives each one's usage.
    requests: list[ApiRequest] = field(default_factory=list)

    def text(self, text: str) -> None:
        if text:
            self.pending.append(text)

    def tool(self, call: ToolCall) -> None:
        self.chatter.extend(self.pending)
        self.pending = []
        self.tool_calls.append(call)

    def add_usage(self, usage: Usage) -> None:
        self.usage = usage if self.usage is None else self.usage + usage

    def add_request(self, usage: Usage, at: datetime | None) -> None:
        """One API request's usage (and its time): added to the turn's."""
        self.add_usage(usage)
        self.requests.append(ApiRequest(usage.input_tokens, usage.output_tokens,
                                        usage.cache_read_tokens, usage.cache_write_tokens, at))

    def seen(self, at: datetime | None) -> None:
        if at is not None and at > self.ended_at:
            self.ended_at = at

    def to_turn(self, index: int, backend_session_id: str) -> Turn:
        from clinvk.pricing import fit_requests

        status: TurnStatus = "error" if self.error else ("ok" if self.done else "interrupted")
        duration = round((self.ended_at - self.started_at).total_seconds(), 3)
        usage = self.usage if self.usage is None or not out_of_bounds(self.usage, Usage) else None
        turn = Turn(
            index=index,
            prompt=self.prompt,
            started_at=self.started_at,
            response="\n\n".join(self.pending),
            duration_s=duration if not out_of_bounds(duration, Seconds) else None,
            status=status,
            error=self.error if self.error else (
                None if self.done else "the transcript holds no end of this turn"),
            backend_session_id=backend_session_id,
            model=self.model,
            usage=usage,
            requests=fit_requests(usage, self.requests),
            tool_calls=list(self.tool_calls),
            chatter=list(self.chatter),
        )
        changed: dict[str, None] = {}
        for call in self.tool_calls:
            if call.kind in ("edit", "write") and call.status not in _NO_CHANGE:
                changed.update(dict.fromkeys(call.paths))
        turn.files_changed = list(changed)
        return turn


@dataclass
class Transcript:
    backend: str
    backend_session_id: str
    workdir: str
    path: Path
    drafts: list[Draft] = field(default_factory=list)
    created_at: datetime | None = None

    def complete(self) -> list[Draft]:
        """The turns that are over: a last turn with no end yet is still being written."""
        drafts = self.drafts
        if drafts and not drafts[-1].done and not drafts[-1].error:
            drafts = drafts[:-1]
        return drafts

    @property
    def model(self) -> str | None:
        for draft in reversed(self.drafts):
            if draft.model:
                return draft.model
        return None


def records(path: Path, decoder: msgspec.json.Decoder[T]) -> Iterator[tuple[int, T]]:
    """Each non-blank line of ``path`` decoded, with its line number, read as a stream.

    A line that does not decode raises TranscriptError: the last one, with no newline
    after it, as cut off (the vendor may still be writing it).
    """
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below, also on a generator close
    except OSError as exc:
        raise TranscriptError(f"cannot read {path}: {exc.strerror}") from None
    with f:
        number = 0
        for raw in f:
            number += 1
            if not raw.strip():
                continue
            try:
                yield number, decoder.decode(raw)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                if not raw.endswith(b"\n"):
                    raise TranscriptError(
                        f"{path} ends in a cut-off line {number} (still being written?)"
                    ) from None
                raise TranscriptError(f"{path} line {number} is not a transcript record: "
                                      f"{exc}") from None


def text_parts(content: Any) -> str | None:
    """A message's text: a string, or the ``text`` of its parts (None when it has none)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return None
    texts = [p["text"] for p in content
             if isinstance(p, dict) and isinstance(p.get("text"), str)
             and p.get("type", "text") in ("text", "input_text", "output_text", "Text")]
    return "\n".join(texts) if texts else None
