"""A title typed with escape sequences never drives the terminal that lists it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.run.conftest import Fakes, clinvk_env

TITLE = "T\x1b[2J\x1b]0;pwned\x07"


def run_bytes(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "clinvk", *args], env=clinvk_env(),
                          capture_output=True, stdin=subprocess.DEVNULL, timeout=60, check=False)


def test_prompt_title_with_escapes_is_listed_visibly(fake: Fakes, workdir: Path) -> None:
    made = run_bytes("prompt", "-b", "claude", "--title", TITLE, "--", "x")
    assert made.returncode == 0, made.stderr
    assert b"\x1b" not in made.stderr  # the footer line naming the session
    listed = run_bytes("sessions", "list")
    assert listed.returncode == 0, listed.stderr
    for stream in (listed.stdout, listed.stderr):
        assert b"\x1b" not in stream and b"\x07" not in stream
    assert b"T\\x1b[2J\\x1b]0;pwned\\x07" in listed.stdout
    exact = json.loads(run_bytes("sessions", "list", "--json").stdout)
    assert exact["items"][0]["title"] == TITLE
