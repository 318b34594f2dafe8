"""`clinvk sessions browse` in a real pseudo-terminal (stdlib pty), as a person runs it:
`/`, a word, Enter, `q`."""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from tests.conftest import REPO
from tests.tui.conftest import Made


class Terminal:
    """A clinvk process on the far side of a pty of ``cols``×``rows``."""

    def __init__(self, *args: str, cols: int = 80, rows: int = 24,
                 env: dict[str, str] | None = None, drop: tuple[str, ...] = ()) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        full = dict(os.environ)
        full.update({"PYTHONPATH": str(REPO), "TERM": "xterm-256color", "COLUMNS": str(cols),
                     "LINES": str(rows)})
        full.update(env or {})
        for name in drop:
            full.pop(name, None)
        self.proc = subprocess.Popen([sys.executable, "-m", "clinvk", *args], stdin=slave,
                                     stdout=slave, stderr=slave, env=full,
                                     start_new_session=True)
        os.close(slave)
        self.seen = b""

    def read_until(self, want: bytes | re.Pattern[bytes], timeout: float = 20) -> float:
        """Read until ``want`` shows up; the moment it did (time.monotonic)."""
        deadline = time.monotonic() + timeout
        while True:
            if (want.search(self.seen) if isinstance(want, re.Pattern) else want in self.seen):
                return time.monotonic()
            left = deadline - time.monotonic()
            assert left > 0, f"never saw {want!r}; got {self.seen[-2000:]!r}"
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"the terminal closed before {want!r}")
                self.seen += chunk

    def quiet(self, gap: float = 0.3, timeout: float = 10) -> float:
        """Read until nothing comes for ``gap`` s; the moment the last byte came."""
        last = time.monotonic()
        deadline = last + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], gap)
            if not ready:
                break
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                break
            if not chunk:
                break
            self.seen += chunk
            last = time.monotonic()
        return last

    def type(self, text: str | bytes) -> float:
        os.write(self.master, text.encode() if isinstance(text, str) else text)
        return time.monotonic()

    def finish(self, timeout: float = 20) -> int:
        """Wait for the process to exit, draining the terminal; its exit code."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self.quiet(0.1, 0.5)
        code = self.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        os.close(self.master)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def test_search_then_quit_in_a_real_terminal(made: Made) -> None:
    term = Terminal("sessions", "browse")
    try:
        term.read_until(b"3 sessions")
        term.read_until(b"explain the parser module")
        term.type("/")
        time.sleep(0.2)
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
