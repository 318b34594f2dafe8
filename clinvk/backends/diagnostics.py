"""Turning what a vendor CLI says about a failure into one clean line.

Vendor CLIs report CLI-level failures (bad flag, unknown resume id, missing auth) as
free text on stderr, often buried in start-up noise, Node stack traces or Rust
backtraces, and API failures as raw JSON bodies. clinvk shows the user one line: the
vendor's own words, minus the noise.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import msgspec

# Longest error line clinvk keeps; vendor messages past this are pasted bodies, not prose.
MAX_ERROR_CHARS = 500

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
# Frames of a Node stack trace ("    at foo (file:///…:1:2)").
_NODE_FRAME = re.compile(r"^\s+at\s")
# Everything after one of these is a Rust backtrace or panic dump.
_BACKTRACE_START = re.compile(
    r"^(Stack backtrace:|stack backtrace:|note: run with `RUST_BACKTRACE)"
)
# Lines that carry no message of their own: braces of a dumped object, numbered
# frames, the ``status: 400`` field Node prints after an error's stack.
_STRUCTURAL = re.compile(r"^(\s*[{}\[\],]\s*|\s+\d+: .*|\s+status: \d+\s*)$")
_ERROR_LINE = re.compile(r"^(error|fatal)\b", re.IGNORECASE)
_ERROR_PREFIX = re.compile(r"^(error|fatal)\s*:\s*", re.IGNORECASE)
_RUST_PANIC = re.compile(r"^thread '.*' panicked at ")
_API_ERROR_WRAPPER = re.compile(r"^\[API Error:\s*(.*)\]$", re.DOTALL)


def one_line(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """``text`` with every run of whitespace (newlines included) folded to one space."""
    line = " ".join(_ANSI.sub("", text).split())
    if len(line) > limit:
        line = line[: limit - 1].rstrip() + "…"
    return line


def exit_message(name: str, exit_code: int) -> str:
    """The message for a failure the vendor did not explain."""
    if exit_code < 0:
        # subprocess reports death by signal N as -N.
        return f"{name} was killed by signal {-exit_code}"
    return f"{name} exited with code {exit_code}"


def stderr_message(stderr: str, noise: Iterable[re.Pattern[str]] = ()) -> str | None:
    """The one line of ``stderr`` that says what went wrong, or None if there is none.

    Drops ANSI colour, known noise lines, Node stack frames and anything after a Rust
    backtrace header. Prefers the first line that starts with "error"/"fatal"; else
    the first unindented line (indented ones are usually hints under the message);
    else the first line left. A leading "Error:" is removed, since clinvk adds its own.
    """
    noise = tuple(noise)
    kept: list[str] = []
    for raw in _ANSI.sub("", stderr).splitlines():
        if _BACKTRACE_START.match(raw.strip()):
            break
        if not raw.strip() or _NODE_FRAME.match(raw) or _STRUCTURAL.match(raw):
            continue
        if any(pattern.search(raw) for pattern in noise):
            continue
        kept.append(raw.rstrip())
    if not kept:
        return None
    index = next((i for i, line in enumerate(kept) if _ERROR_LINE.match(line)), None)
    if index is None:
        index = next((i for i, line in enumerate(kept) if not line[:1].isspace()), 0)
    chosen = kept[index].strip()
    if _RUST_PANIC.match(chosen) and index + 1 < len(kept):
        # A Rust panic puts its message on the line after "panicked at <file>:".
        chosen += " " + kept[index + 1].strip()
    return one_line(_ERROR_PREFIX.sub("", chosen, count=1)) or None


def unwrap_api_error(text: str) -> str:
    """A provider's raw JSON error body, as vendors pass it on, made readable.

    ``{"error": {"code": 400, "message": "bad thing", ...}}`` (optionally wrapped in
    gemini's ``[API Error: …]``) becomes ``API Error: 400 bad thing``, the form
    claude already uses. Anything else comes back as one line, unchanged in wording.
    """
    stripped = text.strip()
    wrapped = _API_ERROR_WRAPPER.match(stripped)
    if wrapped:
        stripped = wrapped.group(1).strip()
    if stripped.startswith("{"):
        try:
            body = msgspec.json.decode(stripped)
        except msgspec.DecodeError:
            body = None
        if isinstance(body, dict):
            error = body.get("error", body)
            if isinstance(error, dict) and isinstance(error.get("message"), str):
                code = error.get("code")
                prefix = (
                    f"API Error: {code} "
                    if isinstance(code, int) and code >= 100
                    else "API Error: "
                )
                return one_line(prefix + error["message"])
    return one_line(text)
