"""Tool calls: the vendor-neutral pieces every adapter uses to describe one.

The adapters map their vendor's tool names to a kind and read the paths and the
command out of the arguments; this module holds what they share: the size rules of
the record (input kept whole up to 8 KB, the first 2 KB of the output), one-line
summaries, absolute paths, and a shell command out of its ``bash -lc`` wrapper.
Nothing here raises on odd input: a tool call the vendor describes strangely is still
recorded, as kind ``other`` with its raw name.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from clinvk.model import Turn

# Bounds of what a tool call holds (docs/sessions.md#tool-calls); import checks them.
INPUT_MAX = 8 * 1024  # bytes of the arguments as JSON
PREVIEW_MAX = 2 * 1024  # bytes of the output
SUMMARY_MAX = 200  # characters
NAME_MAX = 200  # characters of a tool's name or id
PATH_MAX = 4096  # characters of one path
PATHS_MAX = 100  # paths per call
CALLS_MAX = 10_000  # calls per turn; more are counted in the turn's warning
# A cut string ends with this, naming how much there was: "…[cut: 123456 bytes]".
MARKER = "…[cut: {} bytes]"
# Room a marker takes on top of a limit (import allows a cut field that much more).
MARKER_ROOM = 32

_encode = msgspec.json.Encoder().encode


def clip(text: str, limit: int = PREVIEW_MAX) -> str:
    """``text`` whole when its UTF-8 fits in ``limit`` bytes, else its first ``limit``
    bytes (never half a character) followed by the marker."""
    if len(text) <= limit // 4:  # the common case: no encoding needed to know it fits
        return text
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", "ignore") + MARKER.format(len(data))


def cut_input(value: Any, limit: int = INPUT_MAX) -> Any:
    """The arguments of a call, whole when their JSON fits in ``limit`` bytes.

    Otherwise their long strings are cut (each keeps its start and the marker) so that
    the whole fits; arguments that still do not fit (thousands of small items) become
    one string: the start of their JSON, with the marker.
    """
    try:
        size = len(_encode(value))
    except (TypeError, ValueError, OverflowError):
        return clip(repr(value), limit)
    if size <= limit:
        return value
    longest = _longest_string(value)
    low, high, best = 0, longest, None
    while low <= high:  # the largest string length at which the whole fits
        mid = (low + high) // 2
        cut = _cut_strings(value, mid)
        if len(_encode(cut)) <= limit:
            best, low = cut, mid + 1
        else:
            high = mid - 1
    if best is not None and longest > 0:
        return best
    return clip(_encode(value).decode("utf-8", "replace"), limit)


def _longest_string(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return max((_longest_string(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return max((_longest_string(v) for v in value), default=0)
    return 0


def _cut_strings(value: Any, keep: int) -> Any:
    if isinstance(value, str):
        return value if len(value) <= keep else value[:keep] + MARKER.format(
            len(value.encode("utf-8", "surrogatepass")))
    if isinstance(value, dict):
        return {k: _cut_strings(v, keep) for k, v in value.items()}
    if isinstance(value, list):
        return [_cut_strings(v, keep) for v in value]
    return value


def one_line(text: Any, limit: int = SUMMARY_MAX) -> str:
    """A summary: ``text`` on one line, whitespace folded, at most ``limit`` characters."""
    if not isinstance(text, str):
        return ""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def text_of(content: Any) -> str | None:
    """The text of a tool result: a string, or the text blocks of a content list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [block.get("text") for block in content if isinstance(block, dict)]
        texts = [p for p in parts if isinstance(p, str)]
        return "\n".join(texts) if texts else None
    return None


def absolute(path: Any, workdir: str) -> str | None:
    """``path`` made absolute against the turn's workdir and normalized; None when it is
    not a usable path (not a string, empty, too long, holding a NUL)."""
    if not isinstance(path, str) or not path or len(path) > PATH_MAX or "\0" in path:
        return None
    if path.startswith("~"):
        return None  # the vendor's home, not ours: not a path clinvk can name
    return os.path.normpath(os.path.join(workdir, path))


def paths_in(args: Any, keys: tuple[str, ...], workdir: str) -> list[str]:
    """The absolute paths named by ``keys`` in a call's arguments, each once."""
    found: list[str] = []
    if not isinstance(args, dict):
        return found
    for key in keys:
        value = args.get(key)
        for item in value if isinstance(value, list) else [value]:
            path = absolute(item, workdir)
            if path is not None and path not in found:
                found.append(path)
    return found[:PATHS_MAX]


_WRAPPER = re.compile(r"^(?:/usr)?/bin/(?:ba|z|da)?sh -l?c (.+)$", re.DOTALL)


def shell_command(command: Any) -> str:
    """The command a person would type: codex reports ``/bin/bash -lc 'cat notes.txt'``,
    this gives ``cat notes.txt``; anything else comes back as it is."""
    if isinstance(command, list):
        parts = [str(part) for part in command]
        if len(parts) == 3 and _WRAPPER.match(f"{parts[0]} {parts[1]} x"):
            return parts[2]  # ["/bin/bash", "-lc", "cat notes.txt"]
        command = " ".join(parts)
    if not isinstance(command, str):
        return ""
    match = _WRAPPER.match(command.strip())
    if match is None:
        return command
    import shlex

    try:
        parts = shlex.split(match.group(1))
    except ValueError:
        return command
    return parts[0] if len(parts) == 1 else command


_EXIT = re.compile(r"(?:^|\n|\[)Exit [Cc]ode:? (-?\d+)")


def exit_code_in(text: Any) -> int | None:
    """An exit code a tool's output reports ("Exit code 1", "Exit Code: 2"), or None."""
    if not isinstance(text, str):
        return None
    match = _EXIT.search(text[:PREVIEW_MAX * 8])
    return int(match.group(1)) if match else None


def first_string(args: Any, *keys: str) -> str:
    """The first of ``keys`` that holds a string in the arguments, or ""."""
    if isinstance(args, dict):
        for key in keys:
            value = args.get(key)
            if isinstance(value, str) and value:
                return value
    return ""


# Argument names that hold the file a call reads or changes, across the vendors.
PATH_KEYS = ("file_path", "absolute_path", "notebook_path", "path", "dir_path", "paths",
             "file_paths")
_TEXT_KEYS = ("command", "cmd", "pattern", "query", "url", "description", "prompt", "name")


def call_paths(kind: str, args: Any, workdir: str) -> list[str]:
    """The files a call names in its arguments (a search's directory is not one); for a
    shell command, the existing files it reads and the files it patches (shellreads)."""
    if kind == "shell":
        command = (args.get("command") or args.get("cmd")) if isinstance(args, dict) else None
        return shell_paths(command, workdir,
                           first_string(args, "dir_path", "directory", "workdir", "cwd"))
    if kind in ("search", "web", "agent"):
        return []
    return paths_in(args, PATH_KEYS, workdir)


def shell_paths(command: Any, workdir: str, where: str = "") -> list[str]:
    """The files a shell command reads or patches, absolute; ``where``: the directory
    the call ran in when it names one (relative to ``workdir``)."""
    from clinvk import shellreads

    script = shell_command(command)
    if where:
        if where.startswith("file://"):
            from urllib.parse import unquote

            where = unquote(where.removeprefix("file://"))
        base = absolute(where, workdir)
        if base is None:
            return []
        workdir = base
    return shellreads.paths(script, workdir)[:PATHS_MAX]


def shown_path(path: str, workdir: str) -> str:
    """``path`` relative to the workdir when it lies inside it, else as it is."""
    full = absolute(path, workdir)
    if full is None:
        return path
    if full == workdir or full.startswith(workdir.rstrip("/") + "/"):
        return os.path.relpath(full, workdir)
    return full


def summary(kind: str, args: Any, workdir: str) -> str:
    """One line saying what a call does: the path, the command, the pattern."""
    if kind == "shell":
        return one_line(shell_command(first_string(args, "command", "cmd")))
    path = first_string(args, *PATH_KEYS)
    if kind in ("read", "edit", "write") and path:
        return one_line(shown_path(path, workdir))
    if kind == "search":
        what = first_string(args, "pattern", "query", "regex", "glob")
        where = f" in {shown_path(path, workdir)}" if path and what else shown_path(path, workdir)
        return one_line(what + where)
    if kind == "web":
        return one_line(first_string(args, "url", "query", "prompt"))
    if kind == "agent":
        return one_line(first_string(args, "description", "prompt", "subagent_type"))
    if path:
        return one_line(shown_path(path, workdir))
    return one_line(first_string(args, *_TEXT_KEYS))


def record_problem(turn: Turn) -> str | None:
    """What in a turn's tool calls breaks the bounds clinvk records them within (a
    hostile or hand-made import), or None."""
    if len(turn.tool_calls) > CALLS_MAX:
        return f"tool calls number {len(turn.tool_calls)}, more than {CALLS_MAX}"
    for n, call in enumerate(turn.tool_calls, 1):
        where = f"tool call {n}"
        if not call.id or len(call.id) > NAME_MAX or not call.name or len(call.name) > NAME_MAX:
            return f"{where} has an id or name that is empty or over {NAME_MAX} characters"
        if len(call.summary) > SUMMARY_MAX or not call.summary.isprintable():
            return f"{where} has a summary over {SUMMARY_MAX} characters or not on one line"
        if len(_encode(call.input)) > INPUT_MAX + MARKER_ROOM:
            return f"{where} has input over {INPUT_MAX} bytes"
        preview = call.output_preview
        if preview is not None and len(preview.encode("utf-8", "surrogatepass")) > \
                PREVIEW_MAX + MARKER_ROOM:
            return f"{where} has an output preview over {PREVIEW_MAX} bytes"
        problem = _paths_problem(call.paths)
        if problem:
            return f"{where} {problem}"
    problem = _paths_problem(turn.files_changed, limit=CALLS_MAX * PATHS_MAX)
    return f"files_changed {problem}" if problem else None


def _paths_problem(paths: list[str], limit: int = PATHS_MAX) -> str | None:
    if len(paths) > limit:
        return f"names {len(paths)} paths, more than {limit}"
    for path in paths:
        if not path.startswith("/") or len(path) > PATH_MAX or "\0" in path:
            return f"names a path that is not absolute or over {PATH_MAX} characters"
    return None
