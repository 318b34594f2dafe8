"""A quick answer to `clinvk __complete WORDS…` without loading cyclopts.

Importing cyclopts and finding the argument under the cursor cost about 90 ms of every
TAB press, more than looking the values up. So the first `__complete` (and every
`clinvk completion`/`--install-completion`) writes down, per command, what cyclopts
knows of its arguments: its subcommands, which options take a value, which argument
has which completer at which position (``build``, from the app itself). Later presses
read that table (``answer``): a plain walk over the words finds the command and the
argument, and its completer runs at once.

The table depends on clinvk's code alone, so it is kept in the user cache directory
(``~/.cache/clinvk/completion.json`` on Linux, ``XDG_CACHE_HOME`` honoured), shared by
every store, and trusted only for the exact clinvk files it was made from (their sizes
and mtimes). Anything
the walk is not sure of — `--`, an option it does not know, ``--opt=value`` (or bash's
``--opt = value``), a word that only an option-like positional could take — is left to
cyclopts, which answers every case; so the table only ever makes an answer faster,
never different.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cyclopts import App

    from clinvk.completion import Choices

FILE_NAME = "completion.json"
_PACKAGE = Path(__file__).resolve().parent.parent


def fingerprint() -> str:
    """The clinvk version and the size and mtime of every clinvk source file."""
    import zlib

    from clinvk import __version__

    parts = [__version__]
    for folder, dirs, files in os.walk(_PACKAGE):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                st = os.stat(os.path.join(folder, name))
                parts.append(f"{folder}/{name}:{st.st_size}:{st.st_mtime_ns}")
    text = "\n".join(parts)
    return f"{len(parts)}-{zlib.crc32(text.encode()):08x}-{zlib.adler32(text.encode()):08x}"


# ----------------------------------------------------------------- making it (cyclopts)
def build(app: App) -> dict[str, Any]:
    """Per command path ("" for the root, "sessions show"): its subcommands, the options
    that take a value, the other option names, the completer of each option and of
    each positional slot (``rest``: the one that takes all the remaining words), and
    the options that can also fill a positional slot."""
    from cyclopts import App as CycloptsApp
    from cyclopts.annotations import is_iterable_type

    from clinvk import completion

    def completer_name(fn: Any) -> str | None:
        name = getattr(fn, "__name__", None)
        return name if name is not None and getattr(completion, name, None) is fn else None

    commands: dict[str, Any] = {}

    def walk(node: CycloptsApp, path: tuple[str, ...]) -> None:
        subs = [name for name in node if not name.startswith("-") and node[name] is not node]
        entry: dict[str, Any] = {"commands": subs, "values": [], "flags": [],
                                 "completers": {}, "positional": [], "rest": None,
                                 "dual": []}
        entry["flags"] = [*node.help_flags, *node.version_flags]
        if node.default_command is not None:
            slots = []
            for arg in node.assemble_argument_collection():
                names = [n for n in arg.parameter.name or () if n.startswith("-")]
                kind = completer_name(arg.parameter.completer)
                if arg.parameter.completer is not None and kind is None:
                    entry["opaque"] = True  # a completer not of ours: cyclopts only
                if arg.index is not None:
                    slots.append(arg)
                    entry["dual"] += names
                if arg.is_flag():
                    entry["flags"] += names + [n for n in arg.negatives if n.startswith("-")]
                elif names:
                    entry["values"] += names
                    for name in names:
                        entry["completers"][name] = kind
            slots.sort(key=lambda a: a.index or 0)
            for arg in slots:
                kind = completer_name(arg.parameter.completer)
                if arg.is_var_positional() or is_iterable_type(arg.hint):
                    entry["rest"] = kind or ""
                    # A list that is not *args takes only words next to each other.
                    entry["contiguous"] = not arg.is_var_positional()
                    break
                entry["positional"].append(kind)
        commands[" ".join(path)] = entry
        for name in subs:
            sub = node[name]
            if isinstance(sub, CycloptsApp):
                walk(sub, (*path, name))

    walk(app, ())
    return {"fingerprint": fingerprint(), "commands": commands}


def save(folder: Path, table: dict[str, Any]) -> None:
    """Write the table; where that fails, TAB keeps asking cyclopts, which is only slower."""
    from clinvk.atomic import atomic_write, mkdir_private

    try:
        mkdir_private(folder)
        atomic_write(folder / FILE_NAME, json.dumps(table).encode(), sync_dir=False)
    except OSError:
        pass


# ----------------------------------------------------------------- using it
def load(folder: Path) -> dict[str, Any] | None:
    """The table, if there is one made from this very clinvk."""
    try:
        table = json.loads((folder / FILE_NAME).read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(table, dict) or table.get("fingerprint") != fingerprint():
        return None
    return table


def slot(table: dict[str, Any], words: list[str]) -> tuple[str, list[str]] | None:
    """The completer of the argument under the cursor (the last word) and the words
    already given to that argument, or None when only cyclopts can tell."""
    if "=" in words:
        return None  # bash splits --opt=value at the "=": cyclopts joins it again
    commands = table["commands"]
    path: list[str] = []
    entry = commands.get("")
    positional: list[str] = []
    pending: str | None = None
    options = False  # an option met at the command's own level
    *prior, typed = words or [""]
    for word in prior:
        if entry is None or entry.get("opaque"):
            return None
        if pending is not None:
            pending = None
            continue
        if word == "--" or word in entry["dual"]:
            return None
        if word.startswith("-") and len(word) > 1:
            options = True
            name, eq, _value = word.partition("=")
            if name in entry["values"]:
                pending = None if eq else name
            elif name not in entry["flags"] or eq:
                return None
            continue
        if not positional and word in entry["commands"]:
            path.append(word)
            entry = commands.get(" ".join(path))
            options = False
            continue
        positional.append(word)
    if entry is None or entry.get("opaque"):
        return None
    if pending is not None:
        kind = entry["completers"].get(pending)
        return (kind, []) if kind else None
    if typed.startswith("-"):
        return None  # an option's name, or --opt=value: cyclopts
    fixed = entry["positional"]
    if len(positional) < len(fixed):
        kind = fixed[len(positional)]
        return (kind, []) if kind else None
    if entry["rest"] and not (entry.get("contiguous") and options):
        return entry["rest"], positional[len(fixed):]
    return None


def answer(folder: Path, words: list[str]) -> Choices | None:
    """The completions for ``words`` from the table in ``folder``, or None: ask cyclopts."""
    table = load(folder)
    if table is None:
        return None
    found = slot(table, words)
    if found is None:
        return None
    kind, given = found
    from clinvk import completion

    values = completion.VALUES.get(kind)
    if values is None:
        return None
    return values(words[-1] if words else "", set(given))


# ----------------------------------------------------------------- the entry points
def cache_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("clinvk", appauthor=False))


def respond(words: list[str]) -> bool:
    """Print the completions for ``words`` as cyclopts' protocol has them (a ``\\x1fbegin``
    line, then ``value<TAB>description`` records) if the table knows the answer; False
    if cyclopts must be asked."""
    import sys

    if os.environ.get("CYCLOPTS_COMPLETION_WORDS") is not None:
        return False  # the PowerShell form of the protocol: cyclopts' own
    choices = answer(cache_dir(), words)
    if choices is None:
        return False

    def clean(text: str) -> str:
        return text.replace("\t", " ").replace("\n", " ").replace("\r", " ").lstrip("\x1f")

    lines = ["", "\x1fbegin"]
    lines += [f"{clean(v)}\t{clean(d)}" if d else clean(v) for v, d in choices]
    sys.stdout.write("\n".join(lines) + "\n")
    return True


def remember(app: App) -> None:
    """Write the table for ``app`` unless the one there already fits this clinvk (or
    none can be kept there: making it loads every command, not worth it for nothing)."""
    from clinvk.atomic import mkdir_private

    folder = cache_dir()
    if load(folder) is not None:
        return
    try:
        mkdir_private(folder)
    except OSError:
        return
    if os.access(folder, os.W_OK):
        save(folder, build(app))
