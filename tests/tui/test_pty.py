"""`clinvk sessions browse` in a real pseudo-terminal (stdlib pty), as a person runs it:
`/`, a word, Enter, `q`."""

from __future__ import annotations

import re
from pathlib import Path

from tests.tui.conftest import Made
from tests.tui.terminal import Terminal


def test_search_then_quit_in_a_real_terminal(made: Made) -> None:
    term = Terminal("sessions", "browse")
    try:
        term.read_until(b"3 sessions")
        term.read_until(b"explain the parser module")
        term.type("/")
        term.read_until(b"earch titles, prompts")  # the search box is up (its placeholder)
        term.type("release")
        term.read_until(b"1 sessions")
        term.type("\r")
        start = len(term.seen)
        term.quiet()
        assert b"write the release notes" in term.seen
        assert b"explain the parser module" not in term.seen[start:]
        term.type("q")
        code = term.finish()
    finally:
        term.kill()
    assert code == 0
    assert b"Traceback" not in term.seen


GREYS = {0, 7, 8, 15, 16, 59, 102, 145, 188, 231, *range(232, 256)}


def colours_drawn(no_color: bool) -> set[int]:
    """The 256-colour palette entries a first screen used."""
    term = Terminal("sessions", "browse", env={"NO_COLOR": "1"} if no_color else {},
                    drop=() if no_color else ("NO_COLOR",))
    try:
        term.read_until(b"3 sessions")
        term.quiet()
        term.type("q")
        assert term.finish() == 0
    finally:
        term.kill()
    found = set()
    for params in re.findall(rb"\x1b\[([0-9;]*)m", term.seen):
        parts = params.split(b";")
        for i in range(len(parts) - 2):
            if parts[i] in (b"38", b"48") and parts[i + 1] == b"5":
                found.add(int(parts[i + 2]))
    return found


def test_no_color_is_respected(made: Made) -> None:
    """With NO_COLOR every colour drawn is a grey (Textual's monochrome filter);
    without it, the same screen has colours."""
    assert colours_drawn(no_color=False) - GREYS
    grey = colours_drawn(no_color=True)
    assert grey and grey <= GREYS


def test_without_a_terminal_it_says_so(made: Made, tmp_path: Path) -> None:
    from tests.conftest import run_clinvk

    ran = run_clinvk("sessions", "browse")
    assert ran.code == 1
    assert ran.err.splitlines()[0] == "clinvk: error: clinvk sessions browse needs a terminal"
