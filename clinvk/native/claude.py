"""Claude Code's own transcripts: ``$CLAUDE_CONFIG_DIR/projects/<escaped cwd>/<id>.jsonl``.

One JSON record per line. What is read (measured on Claude Code 2.1.330):

- ``user`` records whose content is the person's text start a turn; those carrying
  ``tool_result`` blocks report how a tool call ended.
- ``assistant`` records: one per content block, each repeating its API response's
  ``message.id``, ``requestId`` and whole ``usage`` — usage is counted once per
  (message id, request id).
- ``cost-state`` records: the conversation's running cost; its growth over a turn is
  that turn's reported cost. Written once a turn is over, it also ends a turn that has
  an answer (older writers, and a crashed session, leave ``stop_reason`` null).
- a prompt's ``uuid`` is how its turn is known again (adopt follows turns by it).
- The cwd comes from the records, never from the directory name (which turns every
  character but letters and digits into ``-``). Sidechain (subagent) and meta records
  are not turns.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from clinvk import toolcalls
from clinvk.backends.claude import _Usage, _usage
from clinvk.backends.claude_tools import tool_kind
from clinvk.model import ToolCall
from clinvk.native.transcript import Draft, Limits, Transcript, TranscriptError, records, text_parts

NAME = "claude"
_ENDED = {"end_turn", "stop_sequence", "max_tokens", "refusal", "pause_turn"}


class _Message(msgspec.Struct):
    id: str | None = None
    model: str | None = None
    content: Any = None
    usage: _Usage | None = None
    stop_reason: str | None = None


class _Line(msgspec.Struct):
    type: str = ""
    sessionId: str | None = None
    cwd: str | None = None
    timestamp: datetime | None = None
    isSidechain: bool = False
    isMeta: bool = False
    isApiErrorMessage: bool = False
    message: _Message | None = None
    requestId: str | None = None
    uuid: str | None = None
    totalCostUSD: float | None = None


_DECODER = msgspec.json.Decoder(_Line)


def _is_prompt(content: Any) -> str | None:
    if isinstance(content, list) and any(
            isinstance(b, dict) and b.get("type") == "tool_result" for b in content):
        return None
    return text_parts(content)


def parse(path: Path, limits: Limits | None = None) -> Transcript:
    session: str | None = None
    cwd: str | None = None
    drafts: list[Draft] = []
    counted: set[tuple[str | None, str | None]] = set()
    calls: dict[str, ToolCall] = {}
    cost_total = 0.0  # a transcript starts its conversation: nothing spent yet
    since_cost: list[Draft] = []
    for _n, line in records(path, _DECODER, limits):
        if line.sessionId and session is None:
            session = line.sessionId
        if line.type == "cost-state" and line.totalCostUSD is not None:
            if len(since_cost) == 1:
                since_cost[0].cost_usd = round(max(0.0, line.totalCostUSD - cost_total), 9)
            cost_total = line.totalCostUSD
            since_cost = []
            if drafts and drafts[-1].answered:
                drafts[-1].done = True
            continue
        if line.type not in ("user", "assistant") or line.isSidechain or line.isMeta:
            continue
        if line.cwd and cwd is None:
            cwd = line.cwd
        message = line.message
        if message is None or line.timestamp is None:
            continue
        if line.type == "user":
            prompt = _is_prompt(message.content)
            if prompt is not None:
                draft = Draft(prompt, line.timestamp, line.timestamp, key=line.uuid)
                drafts.append(draft)
                since_cost.append(draft)
            elif drafts:
                _tool_results(message.content, calls, drafts[-1], line.timestamp)
            continue
        if not drafts:
            continue
        draft = drafts[-1]
        draft.seen(line.timestamp)
        key = (message.id, line.requestId)
        if message.usage is not None and key not in counted:
            counted.add(key)
            draft.add_request(_usage(message.usage), line.timestamp)
        if message.model and not message.model.startswith("<"):
            draft.model = message.model
        for block in message.content if isinstance(message.content, list) else []:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "text" and isinstance(block.get("text"), str):
                if line.isApiErrorMessage:
                    draft.error = block["text"]
                else:
                    draft.text(block["text"])
            elif block.get("type") == "tool_use" and isinstance(block.get("id"), str):
                call = _call(block, cwd or "", line.timestamp)
                calls[call.id] = call
                draft.tool(call)
        if message.stop_reason in _ENDED:
            draft.done = True
    if session is None or cwd is None:
        raise TranscriptError(f"{path} is not a claude transcript this clinvk knows "
                              "(no session id or cwd in it)")
    return Transcript(NAME, session, cwd, path, drafts,
                      drafts[0].started_at if drafts else None)


def _call(block: dict[str, Any], workdir: str, at: datetime) -> ToolCall:
    name = str(block.get("name") or "")
    kind = tool_kind(name)
    args = block.get("input")
    return ToolCall(id=block["id"], name=name, kind=kind,
                    summary=toolcalls.summary(kind, args, workdir),
                    input=toolcalls.cut_input(args), started_at=at,
                    paths=toolcalls.call_paths(kind, args, workdir))


def _tool_results(content: Any, calls: dict[str, ToolCall], draft: Draft, at: datetime) -> None:
    draft.seen(at)
    for block in content if isinstance(content, list) else []:
        if not isinstance(block, dict) or block.get("type") != "tool_result":
            continue
        call = calls.get(str(block.get("tool_use_id")))
        if call is None:
            continue
        call.status = "error" if block.get("is_error") else "ok"
        text = toolcalls.text_of(block.get("content"))
        call.output_preview = toolcalls.clip(text) if text is not None else None
        if call.started_at is not None:
            call.duration_s = round(max(0.0, (at - call.started_at).total_seconds()), 3)
