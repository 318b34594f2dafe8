"""Shared helpers for the adapter tests: recorded vendor output and a parser driver.

tests/fixtures/vendor/ holds stdout/stderr captured from the real CLIs (claude
2.1.197 and 2.1.330, codex 0.169.0, gemini 0.61.0) against the loopback mock API:
the top level, extra/ and claude-2.1.330/ as first recorded, live/ captured while
writing these adapters. Temp paths read <TMP>, the npm tree <NODE_MODULES>.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from clinvk.backends import Event, Parser, Request, TurnResult
from clinvk.config import BackendConfig

VENDOR = Path(__file__).resolve().parent.parent / "fixtures" / "vendor"


def fixture_text(name: str) -> str:
    return (VENDOR / name).read_text(encoding="utf-8")


def jsonl(*events: dict[str, Any]) -> str:
    """Hand-made vendor events, one JSON object per line."""
    return "\n".join(json.dumps(event) for event in events)


def run(
    parser: Parser, stdout: str, exit_code: int = 0, stderr: str = ""
) -> tuple[list[Event], TurnResult]:
    """Feed ``stdout`` line by line (as the runner does: no newline) then finish."""
    events: list[Event] = []
    for line in stdout.splitlines():
        events.extend(parser.feed(line))
    return events, parser.finish(exit_code, stderr)


def request(**kwargs: object) -> Request:
    kwargs.setdefault("prompt", "say hi")
    kwargs.setdefault("workdir", "/home/user/project")
    return Request(**kwargs)  # type: ignore[arg-type]


def config(**kwargs: object) -> BackendConfig:
    return BackendConfig(**kwargs)  # type: ignore[arg-type]


# A prompt over Linux's 128 KiB per-argument limit, with lines, non-ASCII text and
# trailing whitespace that must all survive unchanged.
BIG_PROMPT = "-rf first line ünïcödé\n" + ("x" * 99 + "\n") * 2000 + "LAST LINE  \n\n"
DASH_PROMPT = "-rf is a prompt"
