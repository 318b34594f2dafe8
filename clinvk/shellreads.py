"""The files a shell command reads, as far as one can tell without running it.

An agent that reads through its shell (``cat notes.txt``, ``sed -n 1,40p app.py``,
``rg TODO src/main.py``) names files no tool argument holds. This module takes them from
the command, conservatively: only the operands of read-like programs (``cat``, ``head``,
``tail``, ``sed -n``, ``nl``, ``wc``, ``less``, ``grep``/``rg``, ``ls``), and only those
that name an existing file when the call is recorded (relative to the turn's directory,
following a ``cd`` to an existing one). A variable, a glob, a command substitution or a
heredoc is never guessed at. The files of an ``apply_patch`` are taken from its patch
headers (``*** Update File: a.py``), existing or not: the patch says so itself.
"""

from __future__ import annotations

import os
import re

# Commands longer than this are not looked into (the record keeps 8 KB of input anyway).
COMMAND_MAX = 16 * 1024
# Programs whose every operand is a file they read (``ls``: or a directory it lists).
_READERS = frozenset({"cat", "head", "tail", "nl", "wc", "less", "more", "ls"})
# Programs whose first operand is a pattern, unless one is given with -e/-f/--regexp.
_SEARCHERS = frozenset({"grep", "rg"})
_PATTERN_OPTIONS = ("-e", "-f", "--regexp", "--file")
# Options that take the next word as their value, per program (the value is no operand).
_VALUED = {
    "head": {"-n", "-c", "--lines", "--bytes"},
    "tail": {"-n", "-c", "-s", "--lines", "--bytes"},
    "sed": {"-e", "-f", "-l", "--expression", "--file"},
    "nl": {"-b", "-d", "-f", "-h", "-i", "-l", "-n", "-s", "-v", "-w"},
    "grep": {"-e", "-f", "-m", "-A", "-B", "-C", "-d", "-D", "--regexp", "--file"},
    "rg": {"-e", "-f", "-m", "-A", "-B", "-C", "-g", "-t", "-T", "-M", "-j", "-r", "--glob",
           "--type", "--regexp", "--file"},
    "ls": {"-I", "-T", "-w", "--hide", "--ignore"},
}
_SEPARATORS = frozenset({"&&", "||", ";", "|", "&", "\n", ";;", "|&"})
_REDIRECTS = frozenset({">", ">>", "<", ">|", "&>", "<>", ">&", "<&"})
_PATCH = re.compile(r"^\*\*\* (?:(?:Add|Update|Delete) File|Move to): (.+?)\s*$", re.MULTILINE)
_APPLY_PATCH = re.compile(r"^\s*(?:apply_patch|applypatch)\b")
_UNSAFE = re.compile(r"[$`*?\[\]{}~]")


def paths(script: str, workdir: str) -> list[str]:
    """The absolute paths of the files ``script`` (a shell command line) reads, or the
    files it patches; each once, in order."""
    if not script or len(script) > COMMAND_MAX or "\0" in script:
        return []
    if _APPLY_PATCH.match(script):
        return patched(script, workdir)
    found: dict[str, None] = {}
    where = workdir
    for words in _commands(script):
        if words is None:
            break  # a heredoc or a quote left open: what follows is not plain words
        if words and words[0] == "cd":
            target = _existing(words[1], where, directory=True) if len(words) == 2 else None
            if target is None:
                break  # somewhere unknown: later relative paths would be guesses
            where = target
            continue
        found.update(dict.fromkeys(_operands(words, where)))
    return list(found)


def patched(patch: str, workdir: str) -> list[str]:
    """The files an ``apply_patch`` patch adds, updates, deletes or moves to."""
    found: dict[str, None] = {}
    for name in _PATCH.findall(patch):
        if "\0" not in name and not name.startswith("~"):
            found[os.path.normpath(os.path.join(workdir, name))] = None
    return list(found)


def _commands(script: str) -> list[list[str] | None]:
    """The words of each simple command of ``script``, redirections left out; a None
    where the rest cannot be read as plain words."""
    import shlex

    if "<<" in script:
        script = script.split("<<", 1)[0]
        tail: list[list[str] | None] = [None]
    else:
        tail = []
    lexer = shlex.shlex(script, posix=True, punctuation_chars=";&|<>")
    lexer.whitespace_split = True
    lexer.whitespace = " \t\r"  # a newline separates commands
    commands: list[list[str] | None] = []
    words: list[str] = []
    skip = False
    try:
        for token in lexer:
            if token in _SEPARATORS:
                commands.append(words)
                words, skip = [], False
            elif token in _REDIRECTS:
                skip = True  # the redirection's target is no operand
            elif skip:
                skip = False
            else:
                words.append(token)
    except ValueError:  # an unclosed quote
        return [*commands, None]
    return [*commands, words, *tail]


def _operands(words: list[str], where: str) -> list[str]:
    while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):
        words = words[1:]  # VAR=value before the program
    if not words:
        return []
    program = os.path.basename(words[0])
    args = words[1:]
    operands = _plain_operands(args, _VALUED.get(program, set()))
    if program == "sed":
        if "-n" not in args and "--quiet" not in args and "--silent" not in args:
            return []  # only a printing sed is a read (sed -i edits)
        if not any(a in ("-e", "--expression") or a.startswith("--expression=") for a in args):
            operands = operands[1:]  # the script
    elif program in _SEARCHERS:
        if not any(a in _PATTERN_OPTIONS or a.startswith(("--regexp=", "--file="))
                   for a in args):
            operands = operands[1:]  # the pattern
    elif program not in _READERS:
        return []
    found = []
    for arg in operands:
        path = _existing(arg, where, directory=program == "ls")
        if path is not None:
            found.append(path)
    return found


def _plain_operands(args: list[str], valued: set[str]) -> list[str]:
    operands, options, value = [], True, False
    for arg in args:
        if value:
            value = False
        elif options and arg == "--":
            options = False
        elif options and arg.startswith("-") and arg != "-":
            value = arg in valued
        else:
            operands.append(arg)
    return operands


def _existing(arg: str, where: str, *, directory: bool = False) -> str | None:
    """``arg`` as an absolute path when it names an existing file (or, with
    ``directory``, a directory), else None."""
    if not arg or arg == "-" or _UNSAFE.search(arg) or len(arg) > 4096:
        return None
    path = os.path.normpath(os.path.join(where, arg))
    try:
        if os.path.isfile(path) or (directory and os.path.isdir(path)):
            return path
    except (OSError, ValueError):
        return None
    return None
