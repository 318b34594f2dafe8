"""Codex CLI's own transcripts ("rollouts"):
``$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<local time>-<thread id>.jsonl``.

One ``{"timestamp", "type", "payload"}`` record per line; the first is ``session_meta``
(thread id, cwd, CLI version). What is read (measured on codex 0.169.0):

- ``turn_context``: the model of the turns that follow.
- ``event_msg`` ``item_completed``: a ``UserMessage`` starts a turn, ``AgentMessage``
  items are the answer, other items (``CommandExecution``, ``FileChange``, …) are tool
  calls with their outcome.
- ``event_msg`` ``token_count``: the thread's running totals; a turn's usage is the
  growth of the totals over the turn.
- ``event_msg`` ``task_complete`` ends a turn, ``turn_aborted`` stops one.

The date folders and the time in the file name are local time; the records' own
timestamps are UTC and are the ones used.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from clinvk import toolcalls
from clinvk.backends.codex import _Usage, _usage
from clinvk.model import ApiRequest, ToolCall, ToolKind, Usage
from clinvk.native.transcript import Draft, Limits, Transcript, TranscriptError, records, text_parts

NAME = "codex"
_KINDS: dict[str, ToolKind] = {
    "CommandExecution": "shell", "FileChange": "edit", "McpToolCall": "mcp",
    "WebSearch": "web", "CollabToolCall": "agent",
}
_NOT_TOOLS = {"UserMessage", "AgentMessage", "Reasoning", "Plan", "ContextCompaction"}


class _Payload(msgspec.Struct):
    type: str | None = None
    id: Any = None
    cwd: Any = None
    model: Any = None
    item: Any = None
    info: Any = None
    message: Any = None
    reason: Any = None


class _Line(msgspec.Struct):
    timestamp: datetime | None = None
    type: str = ""
    payload: _Payload | None = None


_DECODER = msgspec.json.Decoder(_Line)


def _totals(info: Any) -> Usage | None:
    if not isinstance(info, dict) or not isinstance(info.get("total_token_usage"), dict):
        return None
    try:
        return _usage(msgspec.convert(info["total_token_usage"], _Usage))
    except msgspec.ValidationError:
        return None


def parse(path: Path, limits: Limits | None = None) -> Transcript:
    thread: str | None = None
    cwd: str | None = None
    model: str | None = None
    total = Usage()
    at_start = Usage()
    drafts: list[Draft] = []
    for number, line in records(path, _DECODER, limits):
        p = line.payload
        if number == 1 or thread is None:
            if line.type != "session_meta" or p is None or not isinstance(p.id, str):
                raise TranscriptError(f"{path} is not a codex rollout this clinvk knows "
                                      "(it does not start with its session_meta)")
            thread = p.id
            cwd = p.cwd if isinstance(p.cwd, str) else None
            continue
        if p is None or line.timestamp is None:
            continue
        at = line.timestamp
        if line.type == "turn_context" and isinstance(p.model, str):
            model = p.model
        if line.type != "event_msg":
            continue
        draft = drafts[-1] if drafts else None
        if p.type == "item_completed" and isinstance(p.item, dict):
            kind = p.item.get("type")
            if kind == "UserMessage":
                prompt = text_parts(p.item.get("content")) or ""
                at_start = total
                item_id = p.item.get("id")
                drafts.append(Draft(prompt, at, at, model=model,
                                    key=item_id if isinstance(item_id, str) else None))
            elif draft is None:
                continue
            elif kind == "AgentMessage":
                draft.seen(at)
                draft.text(text_parts(p.item.get("content")) or "")
            elif isinstance(kind, str) and kind not in _NOT_TOOLS and isinstance(
                    p.item.get("id"), str):
                draft.seen(at)
                draft.tool(_call(p.item, cwd or "", at))
        elif draft is None:
            continue
        elif p.type == "token_count":
            now = _totals(p.info)
            if now is not None:
                if (request := now - total).total:  # one API request: the totals' growth
                    draft.requests.append(ApiRequest(
                        request.input_tokens, request.output_tokens,
                        request.cache_read_tokens, request.cache_write_tokens, at))
                total = now
                draft.usage = total - at_start
        elif p.type == "task_complete":
            draft.seen(at)
            draft.done = True
        elif p.type == "turn_aborted":
            draft.seen(at)
            draft.error = f"the turn was stopped ({p.reason or 'aborted'})"
        elif p.type == "error" and isinstance(p.message, str):
            draft.seen(at)
            draft.error = p.message
    if thread is None or cwd is None:
        raise TranscriptError(f"{path} is not a codex rollout this clinvk knows (no thread "
                              "id or cwd in its session_meta)")
    return Transcript(NAME, thread, cwd, path, drafts, drafts[0].started_at if drafts else None)


def _call(item: dict[str, Any], workdir: str, at: datetime) -> ToolCall:
    name = str(item["type"])
    kind: ToolKind = _KINDS.get(name, "other")
    args: Any = None
    paths: list[str] = []
    if name == "CommandExecution":
        args = {"command": toolcalls.shell_command(item.get("command"))}
        cwd = item.get("cwd")
        paths = toolcalls.shell_paths(item.get("command"), workdir,
                                      cwd if isinstance(cwd, str) else "")
    elif name == "FileChange" and isinstance(item.get("changes"), list):
        args = {"changes": item["changes"]}
        paths = toolcalls.paths_in(
            {"paths": [c.get("path") for c in item["changes"] if isinstance(c, dict)]},
            ("paths",), workdir)
    status = item.get("status")
    exit_code = item.get("exit_code")
    output = item.get("aggregated_output")
    return ToolCall(
        id=item["id"], name=name, kind=kind, summary=toolcalls.summary(kind, args, workdir),
        input=toolcalls.cut_input(args), started_at=at,
        status="ok" if status == "completed" else ("error" if status == "failed" else "unknown"),
        exit_code=exit_code if isinstance(exit_code, int) else None,  # bounded by to_turn
        output_preview=toolcalls.clip(output) if isinstance(output, str) else None,
        paths=paths)
