"""How a turn reaches stdout (and, for people, stderr) while it runs: the answer as
text, one JSON object, or one JSON event per line (docs/json-output.md)."""

from __future__ import annotations

import contextlib
import sys
from typing import TYPE_CHECKING, Any, Literal

import msgspec

if TYPE_CHECKING:
    from clinvk.model import ToolCall, Usage

OutputFormat = Literal["text", "json", "stream-json"]

_encoder = msgspec.json.Encoder()

class Emitter:
    """Writes the turn to stdout in the chosen format, flushing every piece at once.

    The stream-json schema is the same for every backend (docs/json-output.md):
    exactly one ``session`` event first, then ``text`` / ``tool_call`` /
    ``tool_result`` / ``usage`` / ``error`` events as they happen, then one ``result``.
    In text mode each tool call is one dim line on stderr, when stderr is a terminal
    and the turn is not ``--quiet``.
    """

    def __init__(self, fmt: OutputFormat, *, quiet: bool = False, silent: bool = False) -> None:
        self.fmt = fmt
        self.streamed: list[str] = []
        self.session_sent = False
        # silent: write nothing (the command shows the turn itself); closed: the reader
        # went away (`clinvk … | head`).
        self.closed = silent
        self.tool_lines = fmt == "text" and not quiet and not silent and _is_terminal(sys.stderr)

    def _write(self, text: str) -> None:
        if self.closed:
            return
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except OSError:
            # The reader went away (a closed pipe, or EIO from a terminal that hung up):
            # the turn still runs to the end and is saved; there is just no one to tell.
            self.closed = True
            _silence_stdout()

    def _event(self, obj: dict[str, Any]) -> None:
        self._write(_encoder.encode(obj).decode() + "\n")

    def session(self, info: dict[str, Any]) -> None:
        if self.session_sent:
            return
        self.session_sent = True
        if self.fmt == "stream-json":
            self._event({"type": "session", **info})

    def text(self, delta: str) -> None:
        if not delta:
            return
        self.streamed.append(delta)
        if self.fmt == "text":
            self._write(delta)
        elif self.fmt == "stream-json":
            self._event({"type": "text", "text": delta})

    def tool_call(self, call: ToolCall) -> None:
        if self.fmt == "stream-json":
            self._event({"type": "tool_call", "id": call.id, "name": call.name,
                         "kind": call.kind, "summary": call.summary, "input": call.input,
                         "paths": call.paths})

    def tool_result(self, call: ToolCall) -> None:
        if self.fmt == "stream-json":
            self._event({"type": "tool_result", "id": call.id, "status": call.status,
                         "exit_code": call.exit_code, "output_preview": call.output_preview,
                         "duration_s": call.duration_s})
        elif self.tool_lines:
            from clinvk.activity import line
            from clinvk.output import paint, safe, use_color

            # A line of its own even when the answer so far ends mid-line on the same screen.
            start = "\n" if self.streamed and not self.streamed[-1].endswith("\n") \
                and _is_terminal(sys.stdout) else ""
            with contextlib.suppress(OSError):
                sys.stderr.write(start + paint(safe(line(call)), "\033[2m",
                                               use_color(sys.stderr)) + "\n")
                sys.stderr.flush()

    def usage(self, usage: Usage, cost_usd: float | None) -> None:
        if self.fmt == "stream-json":
            self._event({"type": "usage", "usage": msgspec.to_builtins(usage), "cost_usd": cost_usd})

    def error(self, message: str) -> None:
        if self.fmt == "stream-json":
            self._event({"type": "error", "message": message})

    def result(self, obj: dict[str, Any]) -> None:
        final = obj.get("text") or ""
        if self.fmt == "text":
            # A backend that gave no deltas (or a json-only one) still shows its answer.
            if not self.streamed and final:
                self._write(final)
                self.streamed.append(final)
            if self.streamed and not self.streamed[-1].endswith("\n"):
                self._write("\n")
        elif self.fmt == "stream-json":
            if not self.streamed and final:
                self._event({"type": "text", "text": final})
            self._event({"type": "result", **obj})
        else:
            self._write(msgspec.json.format(_encoder.encode(obj), indent=2).decode() + "\n")


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _silence_stdout() -> None:
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
