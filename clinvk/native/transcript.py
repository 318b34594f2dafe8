"""What a vendor transcript reader produces, and the pieces every reader shares.

A reader streams its file line by line (never the whole file at once, never a line
longer than ``LINE_MAX``: such a line is skipped with a warning) and returns a
``Transcript``: the conversation's facts and one ``Draft`` per user prompt. A file that
cannot be read whole (bad JSON, cut off mid-line, a format this code does not know)
raises ``TranscriptError``: it is skipped, never half adopted.

Every number read from a vendor file goes through the record's bounds
(clinvk.model) when its draft becomes a turn: one out of range is dropped and the
turn's ``warning`` says so, as for a turn clinvk ran itself.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import msgspec

from clinvk.errors import ClinvkError
from clinvk.model import (
    ApiRequest,
    Dollars,
    ExitCode,
    Seconds,
    ToolCall,
    Turn,
    TurnStatus,
    Usage,
    out_of_bounds,
)

T = TypeVar("T")

# A line longer than this is skipped (with a warning), read in CHUNK pieces and never
# held whole: no record a reader keeps is anywhere near this size.
LINE_MAX = 16 << 20
CHUNK = 1 << 20
# How often a reader looks at its deadline: every so many lines, or bytes read.
DEADLINE_EVERY = 256
DEADLINE_BYTES = CHUNK

# Calls whose status says nothing was changed (as clinvk.activity counts them).
_NO_CHANGE = ("error", "denied", "cancelled")


class TranscriptError(ClinvkError):
    """A transcript that cannot be adopted as it is now."""


class Deferred(TranscriptError):
    """The deadline came while a transcript was being read: read it next time."""


@dataclass
class Limits:
    """How a transcript is read: until when (a time.monotonic() value), lines up to how
    long, and what was left out of it on the way."""

    deadline: float | None = None
    line_max: int = LINE_MAX
    warnings: list[str] = field(default_factory=list)


@dataclass
class Draft:
    """One user prompt and everything up to the next one."""

    prompt: str
    started_at: datetime
    ended_at: datetime
    # The vendor's own id of the prompt's message: how a turn is known again in a file
    # the vendor rewrote (see ident).
    key: str | None = None
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

    @property
    def answered(self) -> bool:
        return bool(self.pending)

    def ident(self) -> str:
        """The turn's identity in its conversation: the vendor's id of its prompt, else
        its start and prompt (a reader that found no id)."""
        if self.key:
            return self.key
        digest = hashlib.blake2b(self.prompt.encode("utf-8", "surrogatepass"), digest_size=8)
        return f"{self.started_at.isoformat()}/{digest.hexdigest()}"

    def to_turn(self, index: int, backend_session_id: str, backend: str = "the vendor") -> Turn:
        """The turn, every number in it within the record's bounds: one that is not is
        left out and ``warning`` says which and why."""
        from clinvk.pricing import fit_requests

        warnings: list[str] = []
        status: TurnStatus = "error" if self.error else ("ok" if self.done else "interrupted")
        duration: float | None = round((self.ended_at - self.started_at).total_seconds(), 3)
        if problem := out_of_bounds(duration, Seconds):
            warnings.append(f"its duration ({duration}s) was out of range and is not "
                            f"recorded ({problem})")
            duration = None
        usage = self.usage
        if usage is not None and (problem := out_of_bounds(usage, Usage)):
            warnings.append(f"{backend} reported token usage out of range ({problem}); "
                            "usage is unknown")
            usage = None
        cost = self.cost_usd
        if cost is not None and (problem := out_of_bounds(cost, Dollars)):
            warnings.append(f"{backend} reported a cost out of range ({cost!r} USD: "
                            f"{problem}); it is not recorded")
            cost = None
        calls = list(self.tool_calls)
        for call in calls:
            if call.duration_s is not None and out_of_bounds(call.duration_s, Seconds):
                warnings.append(f"the duration of tool call {call.id} ({call.duration_s}s) "
                                "was out of range and is not recorded")
                call.duration_s = None
            if call.exit_code is not None and out_of_bounds(call.exit_code, ExitCode):
                warnings.append(f"the exit code of tool call {call.id} ({call.exit_code}) "
                                "was out of range and is not recorded")
                call.exit_code = None
        turn = Turn(
            index=index,
            prompt=self.prompt,
            started_at=self.started_at,
            response="\n\n".join(self.pending),
            duration_s=duration,
            status=status,
            error=self.error if self.error else (
                None if self.done else "the transcript holds no end of this turn"),
            backend_session_id=backend_session_id,
            model=self.model,
            usage=usage,
            tool_calls=calls,
            requests=fit_requests(usage, self.requests),
            chatter=list(self.chatter),
            warning="; ".join(warnings) or None,
        )
        if cost is not None:
            turn.cost_usd, turn.cost_source = cost, "reported"
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

    def complete(self, settled: bool = False) -> list[Draft]:
        """The turns that are over, their status decided from the evidence (never by
        dropping one): a turn with an answer ended when a later prompt follows it, or,
        for the last one, when the file has stopped growing (``settled``); a last turn
        with no end and no answer yet is still being written."""
        drafts = self.drafts
        for n, draft in enumerate(drafts, 1):
            if not draft.done and not draft.error and draft.answered and (
                    n < len(drafts) or settled):
                draft.done = True
        if drafts and not drafts[-1].done and not drafts[-1].error:
            drafts = drafts[:-1]
        return drafts

    @property
    def model(self) -> str | None:
        for draft in reversed(self.drafts):
            if draft.model:
                return draft.model
        return None


def records(path: Path, decoder: msgspec.json.Decoder[T],
            limits: Limits | None = None) -> Iterator[tuple[int, T]]:
    """Each non-blank line of ``path`` decoded, with its line number, read as a stream.

    A line that does not decode raises TranscriptError: the last one, with no newline
    after it, as cut off (the vendor may still be writing it). A line longer than
    ``limits.line_max`` is skipped, with a warning in ``limits.warnings``; past
    ``limits.deadline`` it raises Deferred.
    """
    limits = limits or Limits()
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below, also on a generator close
    except OSError as exc:
        raise TranscriptError(f"cannot read {path}: {exc.strerror}") from None
    with f:
        number = unchecked = 0
        while True:
            try:
                raw = f.readline(limits.line_max + 1)
            except OSError as exc:
                raise TranscriptError(f"cannot read {path}: {exc.strerror}") from None
            if not raw:
                return
            number += 1
            unchecked += len(raw)
            if number % DEADLINE_EVERY == 0 or unchecked >= DEADLINE_BYTES:
                _check(limits, path)
                unchecked = 0
            if len(raw) > limits.line_max:
                _skip_line(f, raw, limits, path)
                limits.warnings.append(f"{path} line {number} is longer than "
                                       f"{limits.line_max >> 20} MB; it was skipped")
                continue
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


def _check(limits: Limits, path: Path) -> None:
    if limits.deadline is not None and time.monotonic() >= limits.deadline:
        raise Deferred(f"{path} was not read to its end before the deadline")


def _skip_line(f: BinaryIO, head: bytes, limits: Limits, path: Path) -> None:
    """Read past the rest of an over-long line, a CHUNK at a time."""
    piece = head
    while piece and not piece.endswith(b"\n"):
        _check(limits, path)
        try:
            piece = f.readline(CHUNK)
        except OSError as exc:
            raise TranscriptError(f"cannot read {path}: {exc.strerror}") from None


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
