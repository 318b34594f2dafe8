"""Vendor homes holding the committed transcripts (tests/fixtures/native), made real.

The fixtures were captured by scripts/capture_native.py with the temp dir shown as
``<TMP>``; ``native_home`` copies them under a fresh dir and puts that dir back in,
in the files and in claude's escaped project dir names alike.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "native"
CLAUDE_ID = "03e96d28-4966-4f83-91bf-c255d7061d88"
CODEX_ID = "01a22a79-5300-7c52-88ce-5be8f697e341"
GEMINI_ID = "fcea6a7c-06b0-4062-9256-30a96657e8e8"


def install(home: Path, root: Path) -> Path:
    """Copy the fixtures into ``home`` with ``<TMP>`` replaced by ``root``."""
    escaped = re.sub(r"[^A-Za-z0-9]", "-", str(root))
    for src in FIXTURES.rglob("*"):
        if not src.is_file():
            continue
        rel = str(src.relative_to(FIXTURES)).replace("<TMP>", escaped)
        dest = home / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(src.read_text().replace("<TMP>", str(root)))
    return home


@pytest.fixture
def native_home(tmp_path: Path) -> Path:
    return install(tmp_path / "home", tmp_path)


def transcript(home: Path, backend: str) -> Path:
    pattern = {"claude": ".claude/projects/*/*.jsonl",
               "codex": ".codex/sessions/*/*/*/*.jsonl",
               "gemini": ".gemini/tmp/*/chats/*.jsonl"}[backend]
    (found,) = home.glob(pattern)
    return found
