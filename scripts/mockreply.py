"""What the mock model API (scripts/mockapi.py) answers, in each API's own shape.

A reply is some text, sent in 2-3 deltas so clients really have to concatenate
them, and/or tool calls (scripted through mockapi's ``/_mock/tool``). Each
builder returns plain data: the stream as ``(event name, data)`` pairs (Gemini:
a list of chunks), or the one JSON body of a non-streamed answer. mockapi.py
frames and sends it.

Usage is fixed for every answered call (input 123, output 45, cache read 67,
cache write 8) so token accounting can be checked exactly.

Standard library only, like mockapi.py.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

INPUT_TOKENS = 123
OUTPUT_TOKENS = 45
CACHE_READ_TOKENS = 67
CACHE_WRITE_TOKENS = 8

Events = list[tuple[str, dict[str, Any]]]


@dataclass
class ToolCall:
    """One tool call the mock asks the client to run."""

    id: str | None  # None for Gemini, whose API leaves call ids to the client
    name: str
    # The call's arguments: an object for a function tool, a string for an OpenAI
    # custom (freeform) tool such as codex's apply_patch.
    input: Any
    custom: bool = False

    def logged(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "input": self.input}


@dataclass
class Reply:
    deltas: list[str] = field(default_factory=list)  # the text, in pieces; [] = no text
    calls: list[ToolCall] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.deltas)


def split_text(text: str) -> list[str]:
    """``text`` in 3 pieces (fewer when it is shorter than 3 characters)."""
    if len(text) < 3:
        return [text] if text else []
    a, b = len(text) // 3, 2 * len(text) // 3
    return [text[:a], text[a:b], text[b:]]


def _json_pieces(value: Any) -> list[str]:
    """A JSON document cut in two, as the APIs stream tool arguments."""
    raw = value if isinstance(value, str) else json.dumps(value)
    half = len(raw) // 2
    return [p for p in (raw[:half], raw[half:]) if p] or [""]


# --------------------------------------------------------------------------
# Anthropic Messages
# --------------------------------------------------------------------------

_ANTHROPIC_USAGE = {
    "input_tokens": INPUT_TOKENS,
    "cache_creation_input_tokens": CACHE_WRITE_TOKENS,
    "cache_read_input_tokens": CACHE_READ_TOKENS,
}


def _anthropic_blocks(reply: Reply) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if reply.deltas:
        blocks.append({"type": "text", "text": reply.text})
    for call in reply.calls:
        blocks.append({"type": "tool_use", "id": call.id, "name": call.name, "input": call.input})
    return blocks


def _anthropic_stop(reply: Reply) -> str:
    return "tool_use" if reply.calls else "end_turn"


def anthropic_message(model: str, msg_id: str, reply: Reply) -> dict[str, Any]:
    return {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": _anthropic_blocks(reply),
        "stop_reason": _anthropic_stop(reply),
        "stop_sequence": None,
        "usage": {**_ANTHROPIC_USAGE, "output_tokens": OUTPUT_TOKENS},
    }


def anthropic_events(model: str, msg_id: str, reply: Reply) -> Events:
    start = {
        **anthropic_message(model, msg_id, reply),
        "content": [],
        "stop_reason": None,
        "usage": {**_ANTHROPIC_USAGE, "output_tokens": 1},
    }
    events: Events = [("message_start", {"type": "message_start", "message": start})]
    index = 0
    if reply.deltas:
        events.append(
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "text", "text": ""},
                },
            )
        )
        events.append(("ping", {"type": "ping"}))
        for delta in reply.deltas:
            events.append(
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "text_delta", "text": delta},
                    },
                )
            )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        index += 1
    for call in reply.calls:
        block = {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}
        events.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": block},
            )
        )
        for piece in _json_pieces(call.input):
            events.append(
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": piece},
                    },
                )
            )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        index += 1
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": _anthropic_stop(reply), "stop_sequence": None},
                "usage": {"output_tokens": OUTPUT_TOKENS},
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return events


# --------------------------------------------------------------------------
# OpenAI Responses
# --------------------------------------------------------------------------


def _openai_items(seq: int, reply: Reply) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if reply.deltas:
        items.append(
            {
                "id": f"msg_mock_{seq:04d}",
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": reply.text, "annotations": []}],
            }
        )
    for i, call in enumerate(reply.calls):
        if call.custom:
            items.append(
                {
                    "id": f"ctc_mock_{seq:04d}_{i}",
                    "type": "custom_tool_call",
                    "status": "completed",
                    "call_id": call.id,
                    "name": call.name,
                    "input": call.input if isinstance(call.input, str) else json.dumps(call.input),
                }
            )
        else:
            items.append(
                {
                    "id": f"fc_mock_{seq:04d}_{i}",
                    "type": "function_call",
                    "status": "completed",
                    "call_id": call.id,
                    "name": call.name,
                    "arguments": json.dumps(call.input),
                }
            )
    return items


def openai_response(model: str, resp_id: str, seq: int, reply: Reply) -> dict[str, Any]:
    return {
        "id": resp_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": "completed",
        "model": model,
        "output": _openai_items(seq, reply),
        "usage": {
            "input_tokens": INPUT_TOKENS,
            # codex 0.169 also reads cache_write_tokens (reported as
            # cache_write_input_tokens); other clients ignore it.
            "input_tokens_details": {
                "cached_tokens": CACHE_READ_TOKENS,
                "cache_write_tokens": CACHE_WRITE_TOKENS,
            },
            "output_tokens": OUTPUT_TOKENS,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": INPUT_TOKENS + OUTPUT_TOKENS,
        },
    }


def openai_events(model: str, resp_id: str, seq: int, reply: Reply) -> Events:
    response = openai_response(model, resp_id, seq, reply)
    events: Events = []

    def add(event: str, data: dict[str, Any]) -> None:
        events.append((event, {"type": event, "sequence_number": len(events), **data}))

    pending = {**response, "status": "in_progress", "output": [], "usage": None}
    add("response.created", {"response": pending})
    add("response.in_progress", {"response": pending})
    for index, item in enumerate(response["output"]):
        where = {"item_id": item["id"], "output_index": index}
        if item["type"] == "message":
            part = item["content"][0]
            add(
                "response.output_item.added",
                {"output_index": index, "item": {**item, "status": "in_progress", "content": []}},
            )
            at = {**where, "content_index": 0}
            add("response.content_part.added", {**at, "part": {**part, "text": ""}})
            for delta in reply.deltas:
                add("response.output_text.delta", {**at, "delta": delta, "logprobs": []})
            add("response.output_text.done", {**at, "text": part["text"], "logprobs": []})
            add("response.content_part.done", {**at, "part": part})
        else:
            field_name = "input" if item["type"] == "custom_tool_call" else "arguments"
            prefix = (
                "response.custom_tool_call_input"
                if item["type"] == "custom_tool_call"
                else "response.function_call_arguments"
            )
            add(
                "response.output_item.added",
                {
                    "output_index": index,
                    "item": {**item, "status": "in_progress", field_name: ""},
                },
            )
            for piece in _json_pieces(item[field_name]):
                add(f"{prefix}.delta", {**where, "delta": piece})
            add(f"{prefix}.done", {**where, field_name: item[field_name]})
        add("response.output_item.done", {"output_index": index, "item": item})
    add("response.completed", {"response": response})
    return events


# --------------------------------------------------------------------------
# Gemini
# --------------------------------------------------------------------------


def gemini_chunks(model: str, response_id: str, reply: Reply) -> list[dict[str, Any]]:
    """The stream's chunks: one per text delta, then one with every function call.

    The last chunk carries ``finishReason`` and the usage. A non-streamed answer is
    the same chunks merged into one (see ``gemini_response``).
    """
    parts_per_chunk: list[list[dict[str, Any]]] = [[{"text": d}] for d in reply.deltas]
    if reply.calls:
        parts_per_chunk.append(
            [{"functionCall": {"name": c.name, "args": c.input}} for c in reply.calls]
        )
    if not parts_per_chunk:
        parts_per_chunk.append([{"text": ""}])
    chunks = []
    for i, parts in enumerate(parts_per_chunk):
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        chunk: dict[str, Any] = {
            "candidates": [candidate],
            "modelVersion": model,
            "responseId": response_id,
        }
        if i == len(parts_per_chunk) - 1:
            candidate["finishReason"] = "STOP"
            chunk["usageMetadata"] = {
                "promptTokenCount": INPUT_TOKENS,
                "candidatesTokenCount": OUTPUT_TOKENS,
                "cachedContentTokenCount": CACHE_READ_TOKENS,
                "thoughtsTokenCount": 0,
                "totalTokenCount": INPUT_TOKENS + OUTPUT_TOKENS,
            }
        chunks.append(chunk)
    return chunks


def gemini_response(model: str, response_id: str, reply: Reply) -> dict[str, Any]:
    """A non-streamed answer: the text in one part, then the function calls."""
    merged = Reply(deltas=[reply.text] if reply.deltas else [], calls=reply.calls)
    chunks = gemini_chunks(model, response_id, merged)
    parts = [p for c in chunks for p in c["candidates"][0]["content"]["parts"]]
    last = chunks[-1]
    last["candidates"][0]["content"]["parts"] = parts
    return last
