"""Where each vendor CLI keeps its own transcripts, honouring the environment it honours.

- claude: ``$CLAUDE_CONFIG_DIR`` (default ``~/.claude``) ``/projects/*/*.jsonl``
- codex: ``$CODEX_HOME`` (default ``~/.codex``) ``/sessions/YYYY/MM/DD/rollout-*.jsonl``
- gemini: ``$GEMINI_CLI_HOME`` (default ``$HOME``) ``/.gemini/tmp/*/chats/session-*.jsonl``

``[sync]`` config (``claude``, ``codex``, ``gemini``: lists of homes) replaces a
backend's default home list.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

BACKENDS = ("claude", "codex", "gemini")


def default_homes(backend: str, environ: Mapping[str, str] | None = None) -> list[Path]:
    env = os.environ if environ is None else environ
    home = Path(env.get("HOME") or os.path.expanduser("~"))
    if backend == "claude":
        return [Path(env["CLAUDE_CONFIG_DIR"]) if env.get("CLAUDE_CONFIG_DIR")
                else home / ".claude"]
    if backend == "codex":
        return [Path(env["CODEX_HOME"]) if env.get("CODEX_HOME") else home / ".codex"]
    return [Path(env["GEMINI_CLI_HOME"]) if env.get("GEMINI_CLI_HOME") else home]


def _dirs(path: Path) -> Iterator[Path]:
    try:
        with os.scandir(path) as it:
            entries = sorted(e.name for e in it if e.is_dir(follow_symlinks=False))
    except OSError:
        return
    for name in entries:
        yield path / name


def _files(path: Path, prefix: str = "") -> Iterator[Path]:
    try:
        with os.scandir(path) as it:
            names = sorted(e.name for e in it if e.name.endswith(".jsonl")
                           and e.name.startswith(prefix) and e.is_file(follow_symlinks=False))
    except OSError:
        return
    for name in names:
        yield path / name


def transcripts(backend: str, homes: Sequence[Path]) -> Iterator[Path]:
    """Every transcript file of ``backend`` under its ``homes``, each once."""
    seen: set[Path] = set()
    for home in homes:
        home = home.expanduser()
        if backend == "claude":
            found = (f for d in _dirs(home / "projects") for f in _files(d))
        elif backend == "codex":
            found = (f for y in _dirs(home / "sessions") for m in _dirs(y) for d in _dirs(m)
                     for f in _files(d, "rollout-"))
        else:
            found = (f for d in _dirs(home / ".gemini" / "tmp")
                     for f in _files(d / "chats", "session-"))
        for path in found:
            if path not in seen:
                seen.add(path)
                yield path
