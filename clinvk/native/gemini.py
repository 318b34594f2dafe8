"""Gemini CLI's own transcripts:
``$GEMINI_CLI_HOME/.gemini/tmp/<slug>/chats/session-<UTC time>-<id8>.jsonl``.

The first line is a header (``sessionId``, ``startTime``); then one message per line
(``id``, ``timestamp``, ``type`` user|gemini|info|error, ``content``, and on gemini
messages ``tokens``, ``model`` and ``toolCalls``), and ``{"$set": …}`` lines. Measured
on gemini 0.61.0:

- a message is written again under the same id when it changes (a tool call's
  outcome): messages are merged by id, the tokens first seen kept;
- each resume appends a new header and ``$set`` lines that rewrite earlier messages
  without their tokens and with new timestamps: ``$set`` lines are not read;
- ``tokens.input`` includes the cached tokens and leaves out the ``auto`` router's
  call, so an adopted turn can show fewer input tokens than the same turn run
  through clinvk.

The cwd is not in the file: it is the ``.project_root`` beside the ``chats`` dir.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from clinvk import toolcalls
from clinvk.backends.gemini import TOOL_KINDS
from clinvk.model import ToolCall, ToolKind, ToolStatus, Usage
from clinvk.native.transcript import Draft, Limits, Transcript, TranscriptError, records, text_parts

NAME = "gemini"
_STATUS: dict[str, ToolStatus] = {"success": "ok", "error": "error", "cancelled": "cancelled"}


class _Tokens(msgspec.Struct):
    input: int = 0
    output: int = 0
    cached: int = 0
    thoughts: int = 0
    tool: int = 0


class _Line(msgspec.Struct):
    id: str | None = None
    sessionId: str | None = None
    startTime: datetime | None = None
    timestamp: datetime | None = None
    type: str | None = None
    content: Any = None
    tokens: _Tokens | None = None
    model: str | None = None
    toolCalls: Any = None


_DECODER = msgspec.json.Decoder(_Line)


def project_root(path: Path) -> str | None:
    """The absolute cwd gemini recorded for the project of a chats file."""
    try:
        text = (path.parent.parent / ".project_root").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    text = text.strip()
    return text if text.startswith("/") and "\0" not in text else None


def _usage(tokens: _Tokens) -> Usage:
    # As clinvk's gemini adapter counts a model's tokens (json_mode_usage).
    return Usage(input_tokens=max(0, tokens.input - tokens.cached) + tokens.tool,
                 output_tokens=tokens.output + tokens.thoughts,
                 cache_read_tokens=tokens.cached, reasoning_tokens=tokens.thoughts)


def parse(path: Path, limits: Limits | None = None) -> Transcript:
    session: str | None = None
    started: datetime | None = None
    messages: dict[str, _Line] = {}
    cwd = project_root(path)
    for number, line in records(path, _DECODER, limits):
        if number == 1 or session is None:
            if not line.sessionId or line.id is not None:
                raise TranscriptError(f"{path} is not a gemini chat this clinvk knows "
                                      "(it does not start with a session header)")
            session, started = line.sessionId, line.startTime
            continue
        if line.id is None or line.type is None or line.timestamp is None:
            continue  # a header of a resume, or a $set line
        # Kept until the end (a message may be written again): only what is read of it,
        # never its raw content and tool results, which can be large.
        first = messages.get(line.id)
        if first is None:
            messages[line.id] = line
            line.content = _compact(line)
            line.toolCalls = _calls(line.toolCalls, cwd or "", line.timestamp)
        else:
            first.content = _compact(line)
            if line.toolCalls is not None:
                at = first.timestamp or line.timestamp
                first.toolCalls = _calls(line.toolCalls, cwd or "", at)
            first.model = line.model or first.model
            first.tokens = first.tokens or line.tokens
    if session is None:
        raise TranscriptError(f"{path} is empty")
    if cwd is None:
        raise TranscriptError(f"{path} has no readable .project_root beside its chats dir")
    drafts: list[Draft] = []
    for m in messages.values():
        assert m.timestamp is not None
        if m.type == "user":
            prompt = _prompt(m.content)
            if prompt is not None:
                drafts.append(Draft(prompt, m.timestamp, m.timestamp, key=m.id))
            elif drafts:
                drafts[-1].seen(m.timestamp)
            continue
        if not drafts:
            continue
        draft = drafts[-1]
        draft.seen(m.timestamp)
        if m.type == "error":
            draft.error = text_parts(m.content) or "gemini reported an error"
        if m.type != "gemini":
            continue
        if m.tokens is not None:
            draft.add_request(_usage(m.tokens), m.timestamp)
        draft.model = m.model or draft.model
        draft.text(text_parts(m.content) or "")
        calls = m.toolCalls if isinstance(m.toolCalls, list) else []
        for call in calls:
            draft.tool(call)
        draft.done = not calls
    return Transcript(NAME, session, cwd, path, drafts,
                      started or (drafts[0].started_at if drafts else None))


def _compact(line: _Line) -> str | None:
    """What is read of a message's content: a prompt's text, an answer's text."""
    return _prompt(line.content) if line.type == "user" else text_parts(line.content)


def _calls(raw: Any, workdir: str, at: datetime) -> list[ToolCall] | None:
    if not isinstance(raw, list):
        return None
    return [_call(c, workdir, at) for c in raw
            if isinstance(c, dict) and isinstance(c.get("id"), str)]


def _prompt(content: Any) -> str | None:
    if isinstance(content, list) and any(
            isinstance(p, dict) and "functionResponse" in p for p in content):
        return None
    return text_parts(content)


def _call(raw: dict[str, Any], workdir: str, at: datetime) -> ToolCall:
    name = str(raw.get("name") or "")
    kind: ToolKind = TOOL_KINDS.get(name, "mcp" if name.startswith("mcp_") else "other")
    args = raw.get("args")
    output: str | None = None
    result = raw.get("result")
    if isinstance(result, list):
        for part in result:
            response = part.get("functionResponse", {}).get("response") if isinstance(
                part, dict) else None
            if isinstance(response, dict):
                value = response.get("output", response.get("error"))
                output = value if isinstance(value, str) else None
                break
    status = raw.get("status")
    return ToolCall(id=raw["id"], name=name, kind=kind,
                    summary=toolcalls.summary(kind, args, workdir),
                    input=toolcalls.cut_input(args), started_at=at,
                    status=_STATUS.get(status, "unknown") if isinstance(status, str) else
                    "unknown",
                    output_preview=toolcalls.clip(output) if output is not None else None,
                    paths=toolcalls.call_paths(kind, args, workdir))
